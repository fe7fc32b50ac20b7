package pack

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wptfeed/wptfeed/internal/testutil"
	"github.com/wptfeed/wptfeed/store"
)

const testSHA, testPID = "24278ab61781de72ed363b866ae6b50b86822b27", "chrome-1.0-linux-0123456789"

// files is a Source of per-test files held in memory.
type files struct {
	paths []string
	data  [][]byte
}

func (f *files) Len() int          { return len(f.paths) }
func (f *files) Path(i int) string { return f.paths[i] }
func (f *files) Read(i int, buf []byte) ([]byte, error) {
	return append(buf[:0], f.data[i]...), nil
}

// writeTestPack writes n per-test files (paths with queries, fragments
// and non-ASCII bytes) to b in the packed layout and returns each test's
// per-test file bytes.
func writeTestPack(t testing.TB, b *store.Bucket, n int) map[string][]byte {
	t.Helper()
	src := &files{}
	want := map[string][]byte{}
	for i := range n {
		path := fmt.Sprintf("/dir%d/test-%03d.html?q=%d#ü", i%3, i, i)
		src.paths = append(src.paths, path)
	}
	slices.Sort(src.paths)
	for _, path := range src.paths {
		data := testutil.Gzip(t, fmt.Appendf(nil, `{"test":%q,"status":"OK"}`, path))
		src.data = append(src.data, data)
		want[path] = data
	}
	if err := Write(context.Background(), b, testSHA, testPID, src); err != nil {
		t.Fatal(err)
	}
	return want
}

// TestPack_RoundTrip: every test written to a pack reads back, through the
// index and a range read, as the bytes of its per-test file; the index is
// read once for many lookups; the whole pack is one valid gzip stream.
func TestPack_RoundTrip(t *testing.T) {
	ctx := context.Background()
	var indexReads atomic.Int32
	b, err := store.Open(ctx, "mem://", store.WithFaults(func(op, key string) error {
		if op == "read" && key == store.TestPackIndexKey(testSHA, testPID) {
			indexReads.Add(1)
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	want := writeTestPack(t, b, 50)
	pr := NewReader(b, 1<<20)
	for path, data := range want {
		rc, err := pr.Open(ctx, testSHA, testPID, path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: got %d bytes (%v), want the %d bytes of its per-test file", path, len(got), err, len(data))
		}
	}
	if n := indexReads.Load(); n != 1 {
		t.Errorf("the index was read %d times, want once", n)
	}
	if _, err := pr.Open(ctx, testSHA, testPID, "/missing.html"); !store.IsNotFound(err) {
		t.Errorf("missing test: got %v, want not found", err)
	}
	if _, err := pr.Open(ctx, testSHA, "other-pid", "/missing.html"); !store.IsNotFound(err) {
		t.Errorf("run without a pack: got %v, want not found", err)
	}
	packed, err := b.ReadAll(ctx, store.TestPackKey(testSHA, testPID))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(packed))
	if err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("the pack is not one gzip stream: %v", err)
	}
	if n := strings.Count(string(all), `"status":"OK"`); n != len(want) {
		t.Errorf("the pack decompresses to %d results, want %d", n, len(want))
	}
}

func TestWrite_Unsorted(t *testing.T) {
	b, err := store.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	src := &files{paths: []string{"/b.html", "/a.html"}, data: [][]byte{testutil.Gzip(t, []byte("{}")), testutil.Gzip(t, []byte("{}"))}}
	err = Write(context.Background(), b, testSHA, testPID, src)
	if err == nil || !strings.Contains(err.Error(), `"/b.html" before "/a.html"`) {
		t.Fatalf("got %v, want an error naming the unsorted paths", err)
	}
	if ok, _ := b.Exists(context.Background(), store.TestPackKey(testSHA, testPID)); ok {
		t.Error("an unsorted source wrote a pack")
	}
}

func TestWrite_SourceError(t *testing.T) {
	b, err := store.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	errRead := errors.New("spool gone")
	src := &failing{files: files{paths: []string{"/a.html", "/b.html"}, data: [][]byte{testutil.Gzip(t, []byte("{}")), testutil.Gzip(t, []byte("{}"))}}, err: errRead}
	if err := Write(context.Background(), b, testSHA, testPID, src); !errors.Is(err, errRead) {
		t.Fatalf("got %v, want the source's error", err)
	}
	if ok, _ := b.Exists(context.Background(), store.TestPackIndexKey(testSHA, testPID)); ok {
		t.Error("a failed pack got an index")
	}
}

type failing struct {
	files
	err error
}

func (f *failing) Read(i int, buf []byte) ([]byte, error) {
	if i == 1 {
		return nil, f.err
	}
	return f.files.Read(i, buf)
}

func TestDecodeIndex(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		ok         bool
	}{
		{"valid", `{"version": 1, "pack": "p.gz", "tests": [["/a", 0, 10], ["/b", 10, 5]]}`, true},
		{"empty", `{"version": 1, "pack": "p.gz", "tests": []}`, true},
		{"other version", `{"version": 2, "pack": "p.gz", "tests": []}`, false},
		{"no version", `{"pack": "p.gz", "tests": []}`, false},
		{"unsorted", `{"version": 1, "tests": [["/b", 0, 10], ["/a", 10, 5]]}`, false},
		{"repeated", `{"version": 1, "tests": [["/a", 0, 10], ["/a", 10, 5]]}`, false},
		{"two fields", `{"version": 1, "tests": [["/a", 0]]}`, false},
		{"negative offset", `{"version": 1, "tests": [["/a", -1, 3]]}`, false},
		{"zero length", `{"version": 1, "tests": [["/a", 0, 0]]}`, false},
		{"path not a string", `{"version": 1, "tests": [[1, 0, 3]]}`, false},
		{"not JSON", `{"version": 1, "tests": [`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idx, err := DecodeIndex(bytes.NewReader(testutil.Gzip(t, []byte(tc.json))), 1<<20)
			if (err == nil) != tc.ok {
				t.Fatalf("got %v, want ok %v", err, tc.ok)
			}
			if tc.name == "valid" && (len(idx.Tests) != 2 || idx.Tests[1] != (Entry{"/b", 10, 5}) || idx.Pack != "p.gz") {
				t.Errorf("got %+v", idx)
			}
		})
	}
	if _, err := DecodeIndex(strings.NewReader("not gzip, but longer than a header"), 1<<20); !errors.Is(err, gzip.ErrHeader) {
		t.Errorf("not gzip: got %v, want gzip.ErrHeader", err)
	}
	big := testutil.Gzip(t, []byte(`{"version": 1, "tests": [["/a", 0, 10]], "pad": "`+strings.Repeat("x", 2000)+`"}`))
	if _, err := DecodeIndex(bytes.NewReader(big), 1000); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("an index over maxSize: got %v, want it cut short", err)
	}
}

// FuzzDecodeIndex: the index decoder never panics, and what it accepts is
// an index a binary search can use.
func FuzzDecodeIndex(f *testing.F) {
	b, err := store.Open(context.Background(), "mem://")
	if err != nil {
		f.Fatal(err)
	}
	defer b.Close()
	writeTestPack(f, b, 5)
	written, err := b.ReadAll(context.Background(), store.TestPackIndexKey(testSHA, testPID))
	if err != nil {
		f.Fatal(err)
	}
	zr, _ := gzip.NewReader(bytes.NewReader(written))
	plain, _ := io.ReadAll(zr)
	f.Add(plain)
	f.Add([]byte(`{"version": 1, "tests": [["/a", 0, 10], ["/b", 10, 5]]}`))
	f.Add([]byte(`{"version": 1, "tests": [["/a", 0]]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, err := DecodeIndex(bytes.NewReader(testutil.Gzip(t, data)), 1<<20)
		if err != nil {
			return
		}
		if idx.Version != IndexVersion {
			t.Fatalf("accepted version %d", idx.Version)
		}
		for i, e := range idx.Tests {
			if e.Off < 0 || e.Len <= 0 || i > 0 && idx.Tests[i-1].Path >= e.Path {
				t.Fatalf("accepted entry %d: %+v", i, e)
			}
		}
	})
}
