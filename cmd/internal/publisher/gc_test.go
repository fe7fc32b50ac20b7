package publisher

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/store"
)

// gcFixture fills b with what gc must remove and what it must keep. Its
// clock is 8 days ahead, so that with the default age (7 days) whatever
// was written by the test is old, except what it dates later (file
// buckets, os.Chtimes). It returns the clock, the keys gc must remove (objects and, in
// file buckets, temp files and folders, ending in "/") and those it must
// keep (objects).
func gcFixture(t *testing.T, b *store.Bucket) (now time.Time, gone, kept []string) {
	t.Helper()
	ctx := context.Background()
	real := time.Now()
	now = real.Add(8 * 24 * time.Hour)
	recent := real.Add(2 * 24 * time.Hour) // after the cutoff, real + 1 day

	put := func(id, name string) string {
		t.Helper()
		if _, err := b.PutShard(ctx, id, name, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
		return store.ShardKey(id, name)
	}
	committed := store.NewRunID(real.Add(-2 * 24 * time.Hour))
	sh, err := b.PutShard(ctx, committed, "shard-000.json.gz", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.PutManifest(ctx, committed, &store.Manifest{Shards: []store.Shard{sh}}); err != nil {
		t.Fatal(err)
	}
	kept = append(kept, store.ShardKey(committed, sh.Name), store.ManifestKey(committed))

	// Left behind: two shards of a run of the committed run's day, one of
	// a run alone in its day.
	left := store.NewRunID(real.Add(-2 * 24 * time.Hour))
	alone := store.NewRunID(real.Add(-3 * 24 * time.Hour))
	gone = append(gone, put(left, "shard-000.json.gz"), put(left, "shard-001.json.gz"), put(alone, "shard-000.json.gz"))
	// A run id younger than the age: an upload that began recently.
	young := store.NewRunID(real.Add(24*time.Hour + time.Hour))
	kept = append(kept, put(young, "shard-000.json.gz"))
	// Not in a run folder, or not a run id: not gc's to judge.
	for _, k := range []string{store.RunsPrefix + committed[:8] + "/notes.txt", store.RunsPrefix + committed[:8] + "/not-a-run/x"} {
		if err := b.WriteBytes(ctx, k, []byte("x"), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		kept = append(kept, k)
	}
	dir := b.Dir()
	if dir == "" {
		return now, gone, kept
	}
	gone = append(gone, store.RunPrefix(left), store.RunPrefix(alone), store.RunsPrefix+alone[:8]+"/")
	chtime := func(key string, t0 time.Time) {
		t.Helper()
		if err := os.Chtimes(filepath.Join(dir, filepath.FromSlash(strings.TrimSuffix(key, "/"))), t0, t0); err != nil {
			t.Fatal(err)
		}
	}
	// An old run id, but a shard written lately: an upload in progress.
	slow := store.NewRunID(real.Add(-2 * 24 * time.Hour))
	kept = append(kept, put(slow, "shard-000.json.gz"), put(slow, "shard-001.json.gz"))
	chtime(store.ShardKey(slow, "shard-001.json.gz"), recent)
	// Empty folders: an old one, and a young one.
	emptyOld, emptyYoung := store.RunPrefix(store.NewRunID(real.Add(-4*24*time.Hour))), store.RunPrefix(store.NewRunID(real.Add(-4*24*time.Hour)))
	mustMkdir(t, filepath.Join(dir, filepath.FromSlash(emptyOld)))
	mustMkdir(t, filepath.Join(dir, filepath.FromSlash(emptyYoung)))
	chtime(emptyYoung, recent)
	gone = append(gone, emptyOld)
	// Temp files of interrupted writes: an old one, and one being written.
	for i, tmp := range []string{store.ShardKey(committed, "shard-001.json.gz.0123.tmp"), "feed/log/000000/0000000001.json.4567.tmp"} {
		p := filepath.Join(dir, filepath.FromSlash(tmp))
		mustMkdir(t, filepath.Dir(p))
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			gone = append(gone, tmp)
		} else {
			chtime(tmp, recent)
		}
	}
	return now, gone, kept
}

// bucketState lists every object of b and, for a file bucket, every temp
// file and folder under runs/ (ending in "/").
func bucketState(t *testing.T, b *store.Bucket) []string {
	t.Helper()
	ctx := context.Background()
	var keys []string
	if err := b.List(ctx, "", "", func(o store.Object) bool { keys = append(keys, o.Key); return true }); err != nil {
		t.Fatal(err)
	}
	if err := b.TempFiles(ctx, "", func(o store.Object) bool { keys = append(keys, o.Key); return true }); err != nil {
		t.Fatal(err)
	}
	if dir := b.Dir(); dir != "" {
		filepath.WalkDir(filepath.Join(dir, "runs"), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				rel, _ := filepath.Rel(dir, p)
				keys = append(keys, filepath.ToSlash(rel)+"/")
			}
			return nil
		})
	}
	slices.Sort(keys)
	return keys
}

func TestGC(t *testing.T) {
	for _, kind := range []string{"file", "mem"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			url := "mem://"
			if kind == "file" {
				url = "file://" + t.TempDir()
			}
			b, err := store.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			now, gone, kept := gcFixture(t, b)
			before := bucketState(t, b)
			cfg := GCConfig{OlderThan: DefaultGCAge, Now: func() time.Time { return now }}

			// A dry run prints what it would remove, and removes nothing.
			var out bytes.Buffer
			cfg.DryRun = true
			res, err := GC(ctx, b, cfg, &out)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("dry run:\n%s", out.String())
			for _, k := range gone {
				if !strings.Contains(out.String(), "would remove "+k+" (") && !strings.HasSuffix(k, "/") {
					t.Errorf("dry run does not print %s", k)
				}
			}
			if got := bucketState(t, b); !slices.Equal(got, before) {
				t.Errorf("dry run changed the bucket:\n got %q\nwant %q", got, before)
			}
			if res.Runs != 2 || res.Objects != 3 {
				t.Errorf("dry run: %+v, want 2 runs of 3 objects", res)
			}

			out.Reset()
			cfg.DryRun = false
			if _, err := GC(ctx, b, cfg, &out); err != nil {
				t.Fatal(err)
			}
			t.Logf("gc:\n%s", out.String())
			after := bucketState(t, b)
			for _, k := range gone {
				if slices.Contains(after, k) {
					t.Errorf("%s not removed", k)
				}
				if !strings.HasSuffix(k, "/") && !strings.Contains(out.String(), "remove "+k+" (") {
					t.Errorf("removal of %s not printed", k)
				}
			}
			for _, k := range kept {
				if !slices.Contains(after, k) {
					t.Errorf("%s removed, want it kept", k)
				}
			}
			for _, k := range before {
				if !slices.Contains(after, k) && !slices.Contains(gone, k) {
					t.Errorf("%s removed, not among what gc may remove", k)
				}
			}

			// Nothing left to do.
			out.Reset()
			if res, err := GC(ctx, b, cfg, &out); err != nil || res != (GCResult{}) {
				t.Errorf("second gc: %+v, %v; want nothing:\n%s", res, err, out.String())
			}
		})
	}
}

func TestGC_TooYoung(t *testing.T) {
	b, err := store.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, age := range []time.Duration{0, 30 * time.Minute, MinGCAge - time.Nanosecond} {
		if _, err := GC(context.Background(), b, GCConfig{OlderThan: age}, io.Discard); err == nil || !strings.Contains(err.Error(), "--older-than") {
			t.Errorf("age %v: got %v, want an error naming --older-than", age, err)
		}
	}
	if _, err := GC(context.Background(), b, GCConfig{OlderThan: MinGCAge}, io.Discard); err != nil {
		t.Errorf("age %v: %v", MinGCAge, err)
	}
}

func TestGCCommand(t *testing.T) {
	dir := t.TempDir()
	b, err := store.Open(context.Background(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	old := time.Now().Add(-10 * 24 * time.Hour)
	id := store.NewRunID(old)
	if _, err := b.PutShard(context.Background(), id, "shard-000.json.gz", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	key := store.ShardKey(id, "shard-000.json.gz")
	if err := os.Chtimes(filepath.Join(dir, filepath.FromSlash(key)), old, old); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		cmd := NewCommand(&out, io.Discard)
		cmd.SetArgs(append([]string{"gc", "--bucket", "file://" + dir}, args...))
		err := cmd.ExecuteContext(context.Background())
		return out.String(), err
	}
	if _, err := run("--older-than", "30m"); err == nil || !strings.Contains(err.Error(), "--older-than 30m0s is under 1h0m0s") {
		t.Errorf("--older-than 30m: got %v, want refused", err)
	}
	out, err := run("--dry-run")
	if err != nil || !strings.Contains(out, "would remove "+key) {
		t.Errorf("--dry-run: %v, %q", err, out)
	}
	if ok, _ := b.Exists(context.Background(), key); !ok {
		t.Fatal("--dry-run removed the shard")
	}
	out, err = run()
	if err != nil || !strings.Contains(out, "remove "+key) || !strings.Contains(out, "gc: removed 1 run folders") {
		t.Errorf("gc: %v, %q", err, out)
	}
	if ok, _ := b.Exists(context.Background(), key); ok {
		t.Error("gc left the shard")
	}
}
