package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestStore_Window(t *testing.T) {
	ctx := context.Background()
	b, err := Open(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.ReadWindow(ctx, 6); !errors.Is(err, ErrNotFound) {
		t.Errorf("ReadWindow of nothing: got %v, want ErrNotFound", err)
	}
	m := func(id string) *Manifest {
		return &Manifest{Version: 1, RunID: id, Uploaded: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC), Product: "firefox",
			Labels: []string{"a"}, Shards: []Shard{{Name: "s.json.gz", Size: 3}}}
	}
	a, c := "20261127T100000Z-a", "20261127T100001Z-c"
	w := &Window{Version: 1, First: 3, Last: 6, Runs: []WindowEntry{{Seq: 3, Manifest: m(a)}, {Seq: 5, Manifest: m(c)}},
		Doc: &WindowDoc{Key: "k", ETag: `"e"`, LastModified: time.Date(2026, 11, 27, 10, 0, 1, 0, time.UTC), CacheControl: "public", Body: []byte("<feed/>")}}
	if err := b.WriteWindow(ctx, w); err != nil {
		t.Fatal(err)
	}
	got, err := b.ReadWindow(ctx, 6)
	if err != nil || !reflect.DeepEqual(got, w) {
		t.Fatalf("ReadWindow: got %+v, %v; want %+v", got, err, w)
	}
	if k := WindowKey(6); k != "feed/window/000000/0000000006.json.gz" {
		t.Errorf("WindowKey(6) = %q", k)
	}
	// Write-once: a second copy ending at the same entry is refused, and
	// the first one stays.
	again := *w
	again.Doc = nil
	if err := b.WriteWindow(ctx, &again); !IsExists(err) {
		t.Errorf("WriteWindow again: got %v, want ErrExists", err)
	}
	if got, err := b.ReadWindow(ctx, 6); err != nil || got.Doc == nil {
		t.Errorf("ReadWindow after a second write: got %+v, %v; want the first copy", got, err)
	}
	// Another entry's copy is not this one.
	if _, err := b.ReadWindow(ctx, 5); !errors.Is(err, ErrNotFound) {
		t.Errorf("ReadWindow(5): got %v, want ErrNotFound", err)
	}
	if err := b.WriteBytes(ctx, WindowKey(7), gzipped(t, mustJSON(t, w)), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReadWindow(ctx, 7); !errors.Is(err, ErrInvalid) {
		t.Errorf("ReadWindow of a copy ending at 6 stored under 7: got %v, want ErrInvalid", err)
	}
	for _, tc := range []struct {
		name string
		w    Window
	}{
		{"version", Window{Version: 2, First: 1, Last: 1}},
		{"first 0", Window{Version: 1, First: 0, Last: 1}},
		{"last before first", Window{Version: 1, First: 5, Last: 4}},
		{"entry before first", Window{Version: 1, First: 3, Last: 6, Runs: []WindowEntry{{Seq: 2, Manifest: m(a)}}}},
		{"entry after last", Window{Version: 1, First: 3, Last: 6, Runs: []WindowEntry{{Seq: 7, Manifest: m(a)}}}},
		{"out of order", Window{Version: 1, First: 3, Last: 6, Runs: []WindowEntry{{Seq: 5, Manifest: m(a)}, {Seq: 4, Manifest: m(c)}}}},
		{"repeated", Window{Version: 1, First: 3, Last: 6, Runs: []WindowEntry{{Seq: 4, Manifest: m(a)}, {Seq: 4, Manifest: m(c)}}}},
		{"no manifest", Window{Version: 1, First: 3, Last: 6, Runs: []WindowEntry{{Seq: 4}}}},
		{"bad run id", Window{Version: 1, First: 3, Last: 6, Runs: []WindowEntry{{Seq: 4, Manifest: m("../x")}}}},
		{"document without key", Window{Version: 1, First: 3, Last: 6, Doc: &WindowDoc{ETag: `"e"`, Body: []byte("x")}}},
		{"document without body", Window{Version: 1, First: 3, Last: 6, Doc: &WindowDoc{Key: "k", ETag: `"e"`}}},
		{"document without etag", Window{Version: 1, First: 3, Last: 6, Doc: &WindowDoc{Key: "k", Body: []byte("x")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_ = b.Delete(ctx, WindowKey(tc.w.Last)) // the valid copy above, say
			if err := b.WriteWindow(ctx, &tc.w); !errors.Is(err, ErrInvalid) {
				t.Errorf("WriteWindow: got %v, want ErrInvalid", err)
			}
			if _, err := b.ReadWindow(ctx, tc.w.Last); !errors.Is(err, ErrNotFound) {
				t.Errorf("ReadWindow after a refused write: got %v, want ErrNotFound", err)
			}
			// Stored by another tool: refused when read.
			if err := b.WriteBytes(ctx, WindowKey(tc.w.Last), gzipped(t, mustJSON(t, tc.w)), WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := b.ReadWindow(ctx, tc.w.Last); !errors.Is(err, ErrInvalid) {
				t.Errorf("ReadWindow: got %v, want ErrInvalid", err)
			}
			if err := b.Delete(ctx, WindowKey(tc.w.Last)); err != nil {
				t.Fatal(err)
			}
		})
	}
	for name, p := range map[string][]byte{
		"cut-off JSON": gzipped(t, []byte(`{"version": 1, "first": 1, "last": `)),
		"not gzip":     []byte(`{"version": 1, "first": 1, "last": 8}`),
		"cut-off gzip": gzipped(t, mustJSON(t, w))[:20],
	} {
		if err := b.WriteBytes(ctx, WindowKey(8), p, WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.ReadWindow(ctx, 8); !errors.Is(err, ErrInvalid) {
			t.Errorf("ReadWindow of %s: got %v, want ErrInvalid", name, err)
		}
	}
}

func gzipped(t *testing.T, p []byte) []byte {
	t.Helper()
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	if _, err := zw.Write(p); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return z.Bytes()
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	p, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
