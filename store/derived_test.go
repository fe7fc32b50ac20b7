package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func TestStore_PutDerived(t *testing.T) {
	ctx := context.Background()
	b, err := Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	id := "20261127T100000Z-hand"
	if _, err := b.ReadDerived(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Errorf("ReadDerived of nothing: got %v, want ErrNotFound", err)
	}
	d := &Derived{Version: 1, RunID: id, Product: "firefox", TimeStart: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Shards: []Shard{{Name: "a.json", Size: 3, SHA256: fmt.Sprintf("%064x", 1)}}, Warnings: []string{"w"}}
	if err := b.PutDerived(ctx, d); err != nil {
		t.Fatal(err)
	}
	got, err := b.ReadDerived(ctx, id)
	if err != nil || !reflect.DeepEqual(got, d) {
		t.Errorf("ReadDerived: got %+v, %v; want %+v", got, err, d)
	}
	other := *d
	other.Product = "chrome"
	if err := b.PutDerived(ctx, &other); !errors.Is(err, ErrExists) {
		t.Errorf("second PutDerived: got %v, want ErrExists (write-once)", err)
	}
	if got, _ := b.ReadDerived(ctx, id); got.Product != "firefox" {
		t.Errorf("the first record was replaced: %+v", got)
	}

	for _, bad := range []*Derived{
		{RunID: "../x", Shards: []Shard{{Name: "a"}}},
		{RunID: "20261127T100000Z-bad1", Product: "a\x00b", Shards: []Shard{{Name: "a"}}},
		{RunID: "20261127T100000Z-bad2", Shards: []Shard{{Name: "a", SHA256: "ABC"}}},
		{RunID: "20261127T100000Z-bad3", TimeEnd: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Shards: []Shard{{Name: "a"}}},
	} {
		if err := b.PutDerived(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("PutDerived(%+v): got %v, want ErrInvalid", bad, err)
		}
	}
	// A record another tool broke is not read as values.
	if err := b.WriteBytes(ctx, DerivedKey("20261127T100000Z-broken"), []byte(`{"run_id": "20261127T100000Z-broken", "os": "\u0001"}`), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReadDerived(ctx, "20261127T100000Z-broken"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ReadDerived of a broken record: got %v, want ErrInvalid", err)
	}
	if k := DerivedKey(id); k != "feed/derived/20261127/20261127T100000Z-hand.json" {
		t.Errorf("DerivedKey: %s", k)
	}
}

func TestManifest_Fill(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sum := func(i int) string { return fmt.Sprintf("%064x", i) }
	d := &Derived{Product: "firefox", BrowserVersion: "135", OS: "linux", OSVersion: "22.04", Revision: "r", BrowserChannel: "nightly",
		TimeStart: t0, TimeEnd: t0.Add(time.Hour),
		Shards: []Shard{{Name: "a", Size: 10, SHA256: sum(1)}, {Name: "b", Size: 20, SHA256: sum(2)}, {Name: "c", Size: 30, SHA256: sum(3)}, {Name: "d"}}}
	for _, tc := range []struct {
		name   string
		m, out Manifest
		filled []string
	}{
		{"empty", Manifest{Shards: []Shard{{Name: "a"}}},
			Manifest{Product: "firefox", BrowserVersion: "135", OS: "linux", OSVersion: "22.04", Revision: "r", BrowserChannel: "nightly",
				TimeStart: t0, TimeEnd: t0.Add(time.Hour), Shards: []Shard{{Name: "a", Size: 10, SHA256: sum(1)}}},
			[]string{"product", "browser_version", "os", "os_version", "revision", "browser_channel", "time_start", "time_end", "sha256", "size"}},
		{"the manifest's values win", Manifest{Product: "servo", OS: "mac", TimeEnd: t0, Shards: []Shard{
			{Name: "a", Size: 10}, // same size: hash filled
			{Name: "b", Size: 21}, // another size: not filled
			{Name: "c", SHA256: sum(9)},
			{Name: "d"}, // not read
			{Name: "e"}, // not derived
		}},
			Manifest{Product: "servo", BrowserVersion: "135", OS: "mac", OSVersion: "22.04", Revision: "r", BrowserChannel: "nightly",
				TimeStart: t0, TimeEnd: t0, Shards: []Shard{{Name: "a", Size: 10, SHA256: sum(1)}, {Name: "b", Size: 21}, {Name: "c", SHA256: sum(9)}, {Name: "d"}, {Name: "e"}}},
			[]string{"browser_version", "os_version", "revision", "browser_channel", "time_start", "sha256"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m
			filled := m.Fill(d)
			if !reflect.DeepEqual(m, tc.out) || !reflect.DeepEqual(filled, tc.filled) {
				t.Errorf("got %+v filling %q,\nwant %+v filling %q", m, filled, tc.out, tc.filled)
			}
		})
	}
}
