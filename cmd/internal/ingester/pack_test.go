package ingester

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wptfeed/wptfeed/store"
)

const packSHA, packPID = "24278ab61781de72ed363b866ae6b50b86822b27", "chrome-1.0-linux-0123456789"

// writeTestPack spools n results (one of them replaced, as report does for
// a copy with an empty status) and writes them to b in the packed layout.
// It returns each test's per-test file bytes.
func writeTestPack(t testing.TB, b *store.Bucket, n int) map[string][]byte {
	t.Helper()
	sp, err := newSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	for i := n - 1; i >= 0; i-- { // added out of path order
		path := fmt.Sprintf("/dir%d/test-%03d.html?q=%d#ü", i%3, i, i)
		status := "OK"
		if i == n/2 {
			status = "" // replaced below
		}
		if err := sp.Add(path, fmt.Appendf(nil, `{"test":%q,"status":%q}`, path, status)); err != nil {
			t.Fatal(err)
		}
	}
	replaced := fmt.Sprintf("/dir%d/test-%03d.html?q=%d#ü", (n/2)%3, n/2, n/2)
	if err := sp.Add(replaced, fmt.Appendf(nil, `{"test":%q,"status":"PASS"}`, replaced)); err != nil {
		t.Fatal(err)
	}
	recs := sp.files(n)
	want := map[string][]byte{}
	for _, r := range recs {
		data, err := sp.read(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		want[r.path] = data
	}
	p := &Processor{Out: b, Log: discardLogger()}
	if err := p.writePack(context.Background(), sp, recs, packSHA, packPID); err != nil {
		t.Fatal(err)
	}
	return want
}

// TestPack_RoundTrip: every test written to a pack reads back, through the
// index and a range read, as the bytes of its per-test file; the index is
// read once for many lookups.
func TestPack_RoundTrip(t *testing.T) {
	ctx := context.Background()
	b, err := store.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	want := writeTestPack(t, b, 50)
	var indexReads atomic.Int32
	b.InjectFaults(func(op, key string) error {
		if op == "read" && key == store.TestPackIndexKey(packSHA, packPID) {
			indexReads.Add(1)
		}
		return nil
	})
	pr := &packReader{b: b, maxSize: 1 << 20}
	for path, data := range want {
		rc, err := pr.open(ctx, packSHA, packPID, path)
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
	replaced := fmt.Sprintf("/dir%d/test-%03d.html?q=%d#ü", 25%3, 25, 25)
	rc, err := pr.open(ctx, packSHA, packPID, replaced)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(rc)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(zr)
	rc.Close()
	if !strings.Contains(string(raw), `"status":"PASS"`) {
		t.Errorf("replaced test holds %s, want the last copy", raw)
	}
	if _, err := pr.open(ctx, packSHA, packPID, "/missing.html"); !store.IsNotFound(err) {
		t.Errorf("missing test: got %v, want not found", err)
	}
	if _, err := pr.open(ctx, packSHA, "other-pid", "/missing.html"); !store.IsNotFound(err) {
		t.Errorf("run without a pack: got %v, want not found", err)
	}
}

func gzipBytes(p []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(p)
	zw.Close()
	return buf.Bytes()
}

func TestDecodePackIndex(t *testing.T) {
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
			_, err := decodePackIndex(bytes.NewReader(gzipBytes([]byte(tc.json))), 1<<20)
			if (err == nil) != tc.ok {
				t.Errorf("got %v, want ok %v", err, tc.ok)
			}
		})
	}
	if _, err := decodePackIndex(strings.NewReader("not gzip"), 1<<20); err == nil {
		t.Error("not gzip: got no error")
	}
	big := gzipBytes([]byte(`{"version": 1, "tests": [["/a", 0, 10]], "pad": "` + strings.Repeat("x", 2000) + `"}`))
	if _, err := decodePackIndex(bytes.NewReader(big), 1000); err == nil {
		t.Error("an index over maxSize: got no error")
	}
}

// FuzzDecodePackIndex: the index decoder never panics, and what it accepts
// is an index a binary search can use.
func FuzzDecodePackIndex(f *testing.F) {
	b, err := store.Open(context.Background(), "mem://")
	if err != nil {
		f.Fatal(err)
	}
	defer b.Close()
	writeTestPack(f, b, 5)
	written, err := b.ReadAll(context.Background(), store.TestPackIndexKey(packSHA, packPID))
	if err != nil {
		f.Fatal(err)
	}
	zr, _ := gzip.NewReader(bytes.NewReader(written))
	plain, _ := io.ReadAll(zr)
	f.Add(plain)
	f.Add([]byte(`{"version": 1, "tests": [["/a", 0, 10], ["/b", 10, 5]]}`))
	f.Add([]byte(`{"version": 1, "tests": [["/a", 0]]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, err := decodePackIndex(bytes.NewReader(gzipBytes(data)), 1<<20)
		if err != nil {
			return
		}
		if idx.Version != packIndexVersion {
			t.Fatalf("accepted version %d", idx.Version)
		}
		for i, e := range idx.Tests {
			if e.Off < 0 || e.Len <= 0 || i > 0 && idx.Tests[i-1].Path >= e.Path {
				t.Fatalf("accepted entry %d: %+v", i, e)
			}
		}
	})
}
