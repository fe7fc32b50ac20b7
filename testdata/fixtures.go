package testdata

import (
	"embed"
	"io/fs"
)

//go:embed reports wptfyi
var files embed.FS

// FS is every fixture, as reports/… and wptfyi/….
func FS() fs.FS { return files }

// Read returns the fixture at name (for example "reports/chrome.json"); it
// panics when the fixture does not exist, which is a bug in the test.
func Read(name string) []byte {
	p, err := files.ReadFile(name)
	if err != nil {
		panic("testdata: " + err.Error())
	}
	return p
}
