package poll

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/store"
)

// TestGC: ingester gc removes, once old enough, the leases of finished
// runs and expired claims, the missing counts of finished runs and temp
// files; nothing young, nothing of an unfinished run's state, and never a
// status record or an output. --dry-run removes nothing.
func TestGC(t *testing.T) {
	ctx := context.Background()
	old := time.Now().Add(-8 * 24 * time.Hour)
	setup := func(t *testing.T) (*store.Bucket, string) {
		dir := t.TempDir()
		b, err := store.Open(ctx, "file://"+dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		put := func(key string, age time.Time) {
			if err := b.WriteBytes(ctx, key, []byte("{}"), store.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(filepath.Join(dir, filepath.FromSlash(key)), age, age); err != nil {
				t.Fatal(err)
			}
		}
		const done, open, young, pending = "20261101T000000Z-done", "20261101T000000Z-open", "20261101T000000Z-young", "20261101T000000Z-pending"
		put(store.StatusKey(done), old)
		put(store.TestRunKey(done), old)
		put(store.LeaseKey(done, 1), old)
		put(store.LeaseKey(done, 2), old)
		put(store.MissingStateKey(done), old)
		put(store.LeaseKey(open, 1), old) // no status: an expired claim
		put(store.StatusKey(young), old)
		put(store.LeaseKey(young, 1), old)
		put(store.LeaseKey(young, 2), time.Now()) // one generation is recent: kept whole
		put(store.MissingStateKey(pending), old)  // unfinished: its count is still needed
		for name, age := range map[string]time.Time{"testruns/x.json.123.tmp": old, "testruns/y.json.456.tmp": time.Now()} {
			p := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chtimes(p, age, age)
		}
		return b, dir
	}
	files := func(t *testing.T, dir string) []string {
		var out []string
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(dir, p)
				out = append(out, filepath.ToSlash(rel))
			}
			return nil
		})
		slices.Sort(out)
		return out
	}
	wantGone := []string{
		"state/leases/20261101T000000Z-done/0000000001.json", "state/leases/20261101T000000Z-done/0000000002.json",
		"state/leases/20261101T000000Z-open/0000000001.json", "state/missing/20261101T000000Z-done.json",
		"testruns/x.json.123.tmp",
	}

	t.Run("dry run", func(t *testing.T) {
		b, dir := setup(t)
		before := files(t, dir)
		var w bytes.Buffer
		n, err := GC(ctx, b, GCConfig{OlderThan: DefaultGCAge, DryRun: true}, &w)
		if err != nil || n != len(wantGone) {
			t.Fatalf("GC: got %d, %v; want %d", n, err, len(wantGone))
		}
		if after := files(t, dir); !slices.Equal(after, before) {
			t.Errorf("a dry run removed %v", diff(before, after))
		}
		for _, k := range wantGone {
			if !strings.Contains(w.String(), "would remove "+k) {
				t.Errorf("output does not name %s:\n%s", k, w.String())
			}
		}
	})
	t.Run("removes", func(t *testing.T) {
		b, dir := setup(t)
		before := files(t, dir)
		var w bytes.Buffer
		n, err := GC(ctx, b, GCConfig{OlderThan: DefaultGCAge}, &w)
		if err != nil || n != len(wantGone) {
			t.Fatalf("GC: got %d, %v; want %d\n%s", n, err, len(wantGone), w.String())
		}
		gone := diff(before, files(t, dir))
		if !slices.Equal(gone, wantGone) {
			t.Errorf("removed %v, want %v", gone, wantGone)
		}
		if strings.Count(w.String(), "removed ") != len(wantGone) {
			t.Errorf("output:\n%s", w.String())
		}
	})
	t.Run("too young an age", func(t *testing.T) {
		b, _ := setup(t)
		if _, err := GC(ctx, b, GCConfig{OlderThan: 59 * time.Minute}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "--older-than") {
			t.Errorf("got %v, want an error naming --older-than", err)
		}
	})
}

// diff returns what is in a and not in b, both sorted.
func diff(a, b []string) []string {
	var out []string
	for _, s := range a {
		if _, found := slices.BinarySearch(b, s); !found {
			out = append(out, s)
		}
	}
	return out
}
