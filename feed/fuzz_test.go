package feed_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wptfeed/wptfeed/feed"
)

// FuzzParse checks that Parse never panics and that whatever it returns and
// Marshal accepts is a fixed point: Parse(Marshal(f)) == f, and marshalling
// that again gives the same bytes. The seeds are the golden documents, which
// are large for a fuzzer: run it with a short minimisation time, e.g.
//
//	go test ./feed -run '^$' -fuzz FuzzParse -fuzztime 30s -fuzzminimizetime 1s
func FuzzParse(f *testing.F) {
	goldens, err := filepath.Glob(filepath.Join("testdata", "*.golden"))
	if err != nil || len(goldens) == 0 {
		f.Fatalf("no golden seeds: %v", err)
	}
	for _, p := range goldens {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(doc(`xmlns:r="tag:wptfeed.org,2026:run" xmlns:h="http://purl.org/syndication/history/1.0"`, `<h:archive/>`,
		entry(`<r:run><r:id>x</r:id><r:time-start>2026-01-01T00:00:00Z</r:time-start><r:shard name="a" size="1"/></r:run>`))))
	f.Add([]byte(`<feed><entry><id>&#x1;</id></entry></feed>`))

	f.Fuzz(func(t *testing.T, data []byte) {
		first, err := feed.Parse(bytes.NewReader(data))
		if err != nil {
			return
		}
		doc1, err := feed.Marshal(first)
		if err != nil {
			return // not every parsed feed is valid to write
		}
		second, err := feed.Parse(bytes.NewReader(doc1))
		if err != nil {
			t.Fatalf("Parse(Marshal(Parse(data))): %v\n%s", err, doc1)
		}
		if d := diff(second, first); len(d) > 0 {
			t.Fatalf("Parse(Marshal(f)) != f:\n%s\n%s", strings.Join(d, "\n"), doc1)
		}
		doc2, err := feed.Marshal(second)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(doc1, doc2) {
			t.Fatalf("Marshal is not stable:\n%s\n%s", doc1, doc2)
		}
	})
}
