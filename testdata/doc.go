// Package testdata holds fixtures shared by the tests of several packages:
// real files from wpt.fyi and wpt (see wptfyi/README.md for their origin and
// licence) and small reports written for this project (reports/).
//
// It only embeds files and offers accessors; `go test ./...` skips it, so it
// must hold no logic worth testing.
package testdata
