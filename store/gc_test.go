package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestBucket_TempFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := mustOpen(t, "file://"+dir)
	if err := b.WriteBytes(ctx, "runs/d/r/shard", []byte("x"), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"runs/d/r/shard.1.tmp", "feed/log.2.tmp"} {
		mustMkdir(t, filepath.Dir(filepath.Join(dir, p)))
		if err := os.WriteFile(filepath.Join(dir, p), []byte("tmp"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	list := func(prefix string) []string {
		var keys []string
		if err := b.TempFiles(ctx, prefix, func(o Object) bool {
			if o.Size != 3 || o.ModTime.IsZero() {
				t.Errorf("%s: size %d, mod time %v", o.Key, o.Size, o.ModTime)
			}
			keys = append(keys, o.Key)
			return true
		}); err != nil {
			t.Fatal(err)
		}
		slices.Sort(keys)
		return keys
	}
	if got, want := list(""), []string{"feed/log.2.tmp", "runs/d/r/shard.1.tmp"}; !slices.Equal(got, want) {
		t.Errorf("TempFiles: got %q, want %q", got, want)
	}
	if got, want := list("runs/"), []string{"runs/d/r/shard.1.tmp"}; !slices.Equal(got, want) {
		t.Errorf("TempFiles(runs/): got %q, want %q", got, want)
	}
	if err := b.RemoveTemp(ctx, "runs/d/r/shard"); !errors.Is(err, ErrInvalid) {
		t.Errorf("RemoveTemp of an object: got %v, want ErrInvalid", err)
	}
	if err := b.RemoveTemp(ctx, "feed/log.2.tmp"); err != nil {
		t.Fatal(err)
	}
	if err := b.RemoveTemp(ctx, "feed/log.2.tmp"); err != nil {
		t.Errorf("RemoveTemp of a missing file: %v", err)
	}
	if got, want := list(""), []string{"runs/d/r/shard.1.tmp"}; !slices.Equal(got, want) {
		t.Errorf("after RemoveTemp: got %q, want %q", got, want)
	}
	if n, err := b.RemoveStaleTemp(ctx, -time.Hour); n != 1 || err != nil {
		t.Errorf("RemoveStaleTemp: %d, %v; want 1", n, err)
	}

	mem := mustOpen(t, "mem://")
	if err := mem.TempFiles(ctx, "", func(Object) bool { t.Error("a temp file in mem://"); return true }); err != nil {
		t.Error(err)
	}
}

func TestBucket_EmptyDirs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := mustOpen(t, "file://"+dir)
	for _, d := range []string{"runs/a/r1", "runs/a/r2/sub", "runs/b"} {
		mustMkdir(t, filepath.Join(dir, filepath.FromSlash(d)))
	}
	if err := b.WriteBytes(ctx, "runs/a/r3/shard", []byte("x"), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	var seen []string
	err := b.EmptyDirs(ctx, "runs/", func(o Object) bool {
		if !o.IsDir || o.ModTime.IsZero() {
			t.Errorf("%+v: want a directory with its mod time", o)
		}
		seen = append(seen, o.Key)
		ok, err := b.RemoveDir(ctx, o.Key)
		if !ok || err != nil {
			t.Errorf("RemoveDir(%s): %v, %v", o.Key, ok, err)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	// Children first; r2 once its child is gone; runs/a and runs/ hold r3.
	if want := []string{"runs/b/", "runs/a/r2/sub/", "runs/a/r2/", "runs/a/r1/"}; !slices.Equal(seen, want) {
		t.Errorf("got %q, want %q", seen, want)
	}
	for _, key := range []string{"runs/a/r3/", "runs/nowhere/"} {
		if ok, err := b.RemoveDir(ctx, key); ok || err != nil {
			t.Errorf("RemoveDir(%s): %v, %v; want false, nil", key, ok, err)
		}
	}
	if _, err := b.RemoveDir(ctx, "runs/a/r3"); !errors.Is(err, ErrInvalid) {
		t.Errorf("RemoveDir without a trailing slash: got %v, want ErrInvalid", err)
	}
	// A write into a removed directory makes it again, even one this
	// bucket wrote into before.
	if err := b.Delete(ctx, "runs/a/r3/shard"); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.RemoveDir(ctx, "runs/a/r3/"); !ok || err != nil {
		t.Fatalf("RemoveDir(runs/a/r3/): %v, %v", ok, err)
	}
	for _, key := range []string{"runs/a/r1/shard", "runs/a/r3/shard"} {
		if err := b.WriteBytes(ctx, key, []byte("x"), WriteOptions{}); err != nil {
			t.Errorf("write %s after RemoveDir: %v", key, err)
		}
	}

	mem := mustOpen(t, "mem://")
	if ok, err := mem.RemoveDir(ctx, "runs/"); ok || err != nil {
		t.Errorf("mem:// RemoveDir: %v, %v", ok, err)
	}
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}
