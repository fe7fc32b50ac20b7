package store

import (
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
	if _, err := b.ReadWindow(ctx); !errors.Is(err, ErrNotFound) {
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
	got, err := b.ReadWindow(ctx)
	if err != nil || !reflect.DeepEqual(got, w) {
		t.Fatalf("ReadWindow: got %+v, %v; want %+v", got, err, w)
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
			if err := b.WriteWindow(ctx, &tc.w); !errors.Is(err, ErrInvalid) {
				t.Errorf("WriteWindow: got %v, want ErrInvalid", err)
			}
			// Stored by another tool: refused when read.
			if err := b.WriteBytes(ctx, windowKey, mustJSON(t, tc.w), WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := b.ReadWindow(ctx); !errors.Is(err, ErrInvalid) {
				t.Errorf("ReadWindow: got %v, want ErrInvalid", err)
			}
		})
	}
	if err := b.WriteBytes(ctx, windowKey, []byte(`{"version": 1, "first": 1, "last": `), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReadWindow(ctx); !errors.Is(err, ErrInvalid) {
		t.Errorf("ReadWindow of cut-off JSON: got %v, want ErrInvalid", err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	p, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
