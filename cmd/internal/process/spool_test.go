package process

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"
)

// TestSpool_LastCopyWins: a path added again (report.Options.Test's
// replacement of an unfinished copy) keeps its first position and its last
// bytes.
func TestSpool_LastCopyWins(t *testing.T) {
	sp, err := newSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	for _, add := range []struct{ path, raw string }{
		{"/b.html", `{"status":""}`},
		{"/a.html", `{"status":"OK"}`},
		{"/b.html", `{"status":"PASS"}`},
		{"/c.html", `{"status":"FAIL"}`},
	} {
		if err := sp.Add(add.path, []byte(add.raw)); err != nil {
			t.Fatal(err)
		}
	}
	recs := sp.files(3)
	var got []string
	for _, r := range recs {
		data, err := sp.read(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(zr)
		got = append(got, r.path+" "+string(raw))
	}
	want := []string{`/b.html {"status":"PASS"}`, `/a.html {"status":"OK"}`, `/c.html {"status":"FAIL"}`}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("file %d: got %s, want %s", i, got[i], want[i])
		}
	}
	byPath(recs)
	if recs[0].path != "/a.html" || recs[2].path != "/c.html" {
		t.Errorf("byPath: got %s, %s, %s", recs[0].path, recs[1].path, recs[2].path)
	}
}

// TestFileLayoutProblem: a run whose per-test keys a directory cannot
// hold (a file and a directory of one name, or a key that is no file path)
// is named, with the first such test; the keys are the test paths as they
// are, so a query can clash too.
func TestFileLayoutProblem(t *testing.T) {
	for _, tc := range []struct {
		name  string
		paths []string
		test  string // "" for none
		why   string // in the reason
	}{
		{"none", []string{"/a/b.html", "/a/c.html", "/b.html", "/c.html?x=1&y=2#z"}, "", ""},
		{"test and directory", []string{"/z.html", "/a/b.html", "/a"}, "/a/b.html", `where test "/a" has`},
		{"deeper", []string{"/d/e/f.html", "/d"}, "/d/e/f.html", `where test "/d" has`},
		{"spaces", []string{"/a b", "/a b/c.html"}, "/a b/c.html", `where test "/a b" has`},
		{"query variants", []string{"/c.html?x", "/c.html?x/y"}, "/c.html?x/y", `where test "/c.html?x" has`},
		{"trailing slash", []string{"/x/", "/y.html"}, "/x/", "cannot be a file's path"},
		{"empty segment", []string{"/a.html?u=http://h/p"}, "/a.html?u=http://h/p", "cannot be a file's path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var recs []fileRec
			for _, p := range tc.paths {
				recs = append(recs, fileRec{path: p, n: 1})
			}
			test, why := fileLayoutProblem(recs, "sha", "pid")
			if test != tc.test || !strings.Contains(why, tc.why) {
				t.Errorf("got %q, %q; want %q with %q", test, why, tc.test, tc.why)
			}
		})
	}
}
