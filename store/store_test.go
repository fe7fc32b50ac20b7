package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func mustOpen(t *testing.T, url string) *Bucket {
	t.Helper()
	b, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// buckets returns one bucket of each local driver.
func buckets(t *testing.T) map[string]*Bucket {
	return map[string]*Bucket{
		"mem":  mustOpen(t, "mem://"),
		"file": mustOpen(t, "file://"+t.TempDir()),
		"dir":  mustOpen(t, filepath.Join(t.TempDir(), "plain", "path")),
	}
}

func TestBucket_WriteOnce(t *testing.T) {
	ctx := context.Background()
	for name, b := range buckets(t) {
		t.Run(name, func(t *testing.T) {
			// Many racing writers: exactly one wins, the others get ErrExists.
			const n = 16
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = b.WriteBytes(ctx, "a/once.json", []byte(fmt.Sprint(i)), WriteOptions{IfNotExist: true})
				}()
			}
			wg.Wait()
			won := -1
			for i, err := range errs {
				switch {
				case err == nil:
					if won >= 0 {
						t.Fatalf("writers %d and %d both won", won, i)
					}
					won = i
				case !errors.Is(err, ErrExists):
					t.Fatalf("writer %d: got %v, want ErrExists", i, err)
				}
			}
			got, err := b.ReadAll(ctx, "a/once.json")
			if err != nil || string(got) != fmt.Sprint(won) {
				t.Fatalf("got %q, %v; want the winner's %d", got, err, won)
			}
			// A plain write may replace it.
			if err := b.WriteBytes(ctx, "a/once.json", []byte("x"), WriteOptions{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestBucket_WriteOnceAcrossProcessesFile(t *testing.T) {
	// Two Bucket values on one directory stand for two processes: fileblob's
	// own lock is per process, link(2) is not.
	dir := t.TempDir()
	a, b := mustOpen(t, dir), mustOpen(t, "file://"+dir)
	ctx := context.Background()
	if err := a.WriteBytes(ctx, "k", []byte("a"), WriteOptions{IfNotExist: true}); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteBytes(ctx, "k", []byte("b"), WriteOptions{IfNotExist: true}); !errors.Is(err, ErrExists) {
		t.Fatalf("got %v, want ErrExists", err)
	}
	// No temp files are left behind.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want 1", len(entries))
	}
}

func TestBucket_NotFound(t *testing.T) {
	ctx := context.Background()
	for name, b := range buckets(t) {
		t.Run(name, func(t *testing.T) {
			if _, err := b.ReadAll(ctx, "missing"); !errors.Is(err, ErrNotFound) {
				t.Errorf("ReadAll: got %v, want ErrNotFound", err)
			}
			if _, err := b.Attributes(ctx, "missing"); !IsNotFound(err) {
				t.Errorf("Attributes: got %v, want ErrNotFound", err)
			}
			if ok, err := b.Exists(ctx, "missing"); ok || err != nil {
				t.Errorf("Exists: got %v, %v", ok, err)
			}
			if err := b.Delete(ctx, "missing"); err != nil {
				t.Errorf("Delete: got %v, want nil", err)
			}
			// Under an object, as if it were a directory: on a file
			// bucket the file system answers ENOTDIR.
			if err := b.WriteBytes(ctx, "obj", []byte("x"), WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := b.ReadAll(ctx, "obj/under"); !IsNotFound(err) {
				t.Errorf("ReadAll under an object: got %v, want ErrNotFound", err)
			}
			if _, err := b.NewRangeReader(ctx, "obj/under", 0, 1); !IsNotFound(err) {
				t.Errorf("NewRangeReader under an object: got %v, want ErrNotFound", err)
			}
			if _, err := b.Attributes(ctx, "obj/under"); !IsNotFound(err) {
				t.Errorf("Attributes under an object: got %v, want ErrNotFound", err)
			}
			if ok, err := b.Exists(ctx, "obj/under"); ok || err != nil {
				t.Errorf("Exists under an object: got %v, %v", ok, err)
			}
			if err := b.Delete(ctx, "obj/under"); err != nil {
				t.Errorf("Delete under an object: got %v, want nil", err)
			}
		})
	}
}

func TestBucket_AbortedWriteLeavesNothing(t *testing.T) {
	for name, b := range buckets(t) {
		t.Run(name, func(t *testing.T) {
			errReset := errors.New("connection reset")
			for _, once := range []bool{false, true} {
				ctx, cancel := context.WithCancel(context.Background())
				r := io.MultiReader(strings.NewReader("partial"), readerFunc(func([]byte) (int, error) {
					cancel()
					return 0, errReset
				}))
				if err := b.Write(ctx, "aborted", r, WriteOptions{IfNotExist: once}); !errors.Is(err, errReset) {
					t.Fatalf("IfNotExist=%v: got %v, want the reader's error", once, err)
				}
				if ok, _ := b.Exists(context.Background(), "aborted"); ok {
					t.Errorf("IfNotExist=%v: an aborted write is visible", once)
				}
			}
		})
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestBucket_ReadSeeker(t *testing.T) {
	ctx := context.Background()
	for name, b := range buckets(t) {
		t.Run(name, func(t *testing.T) {
			data := bytes.Repeat([]byte("0123456789"), 1000)
			b.WriteBytes(ctx, "r", data, WriteOptions{})
			rs := b.ReadSeeker(ctx, "r", int64(len(data)))
			defer rs.Close()
			if _, err := rs.Seek(5000, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			p := make([]byte, 10)
			if _, err := io.ReadFull(rs, p); err != nil || string(p) != "0123456789" {
				t.Fatalf("got %q, %v", p, err)
			}
			if n, _ := rs.Seek(-3, io.SeekEnd); n != int64(len(data))-3 {
				t.Fatalf("seek end: %d", n)
			}
			rest, _ := io.ReadAll(rs)
			if string(rest) != "789" {
				t.Errorf("tail %q, want 789", rest)
			}
		})
	}
}

func TestRunID(t *testing.T) {
	at := time.Date(2026, 11, 27, 21, 12, 22, 123456000, time.UTC)
	id := NewRunID(at)
	if !ValidRunID(id) || !strings.HasPrefix(id, "20261127T211222.123456Z-") {
		t.Fatalf("NewRunID = %q", id)
	}
	if got, _ := RunTime(id); !got.Equal(at) {
		t.Errorf("RunTime = %v, want %v", got, at)
	}
	if a, b := NewRunID(at), NewRunID(at); a == b {
		t.Errorf("two ids at one instant are equal: %s", a)
	}
	if later := NewRunID(at.Add(time.Microsecond)); later <= id {
		t.Errorf("%s does not sort after %s", later, id)
	}
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"20200101T000000Z-othertool", true},
		{"20200101T000000.5Z-x", true},
		{"20201301T000000Z-x", false}, // month 13
		{"20200101T000000Z-", false},
		{"20200101T000000Z-a/b", false},
		{"../20200101T000000Z-x", false},
		{"20200101T000000-x", false},
	} {
		if got := ValidRunID(tc.id); got != tc.want {
			t.Errorf("ValidRunID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

// TestTestKey: a per-test file's key is wpt.fyi's object name, the test
// path as is; a file bucket holds it as a file of that path when
// ValidFileKey says so, and refuses it (ErrInvalid) otherwise.
func TestTestKey(t *testing.T) {
	if got, want := TestKey("sha", "pid", "/a/b.html?x=1&y=/z#f"), "sha/pid/a/b.html?x=1&y=/z#f"; got != want {
		t.Errorf("TestKey = %q, want %q", got, want)
	}
	b := mustOpen(t, t.TempDir())
	ctx := context.Background()
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"/a?b#c", true},
		{"/hkdf.https.any.html?1-1000", true},
		{"/a b/é/中文.html", true},
		{"/100%.html", true},
		{"/a.html?x/y", true},
		{"/a/..b/...", true},
		{"//x", false},
		{"/dir/", false},
		{"/a.html?u=../b", false},
		{"/q\x01", false},
		{"/x__0x2f__y", false},
	} {
		key := TestKey("sha", "pid", tc.path)
		if got := ValidFileKey(key); got != tc.ok {
			t.Errorf("ValidFileKey(%q) = %v, want %v", key, got, tc.ok)
		}
		err := b.WriteBytes(ctx, key, []byte(tc.path), WriteOptions{IfNotExist: true})
		if !tc.ok {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%q on a file bucket: got %v, want ErrInvalid", key, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", key, err)
			continue
		}
		if got, err := b.ReadAll(ctx, key); err != nil || string(got) != tc.path {
			t.Errorf("%q: read back %q, %v", key, got, err)
		}
	}
}

func TestBucket_Runs(t *testing.T) {
	ctx := context.Background()
	for name, b := range buckets(t) {
		t.Run(name, func(t *testing.T) {
			id := NewRunID(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
			s, err := b.PutShard(ctx, id, ShardName(0), strings.NewReader("gzip bytes"))
			if err != nil {
				t.Fatal(err)
			}
			if s.Size != 10 || len(s.SHA256) != 64 {
				t.Errorf("shard = %+v", s)
			}
			// Not committed yet: invisible.
			if ids, _ := b.CommittedRuns(ctx, "20260102"); len(ids) != 0 {
				t.Errorf("uncommitted run listed: %v", ids)
			}
			if _, err := b.PutShard(ctx, id, ShardName(0), strings.NewReader("again")); !errors.Is(err, ErrExists) {
				t.Errorf("second PutShard: got %v, want ErrExists", err)
			}
			m := &Manifest{Version: 1, RunID: id, Product: "chrome", Shards: []Shard{s}}
			if err := b.PutManifest(ctx, id, m); err != nil {
				t.Fatal(err)
			}
			if err := b.PutManifest(ctx, id, m); !errors.Is(err, ErrExists) {
				t.Errorf("second PutManifest: got %v, want ErrExists", err)
			}
			days, _ := b.RunDays(ctx)
			ids, _ := b.CommittedRuns(ctx, "20260102")
			if len(days) != 1 || days[0] != "20260102" || len(ids) != 1 || ids[0] != id {
				t.Fatalf("days %v, runs %v", days, ids)
			}
			got, err := b.ReadManifest(ctx, id)
			if err != nil || got.Product != "chrome" || got.Shards[0] != s {
				t.Fatalf("ReadManifest = %+v, %v", got, err)
			}
		})
	}
}

func TestBucket_ReadManifestFromOtherTools(t *testing.T) {
	ctx := context.Background()
	b := mustOpen(t, t.TempDir())
	id := "20200101T000000Z-othertool"
	b.WriteBytes(ctx, ShardKey(id, "a.json"), []byte("12345"), WriteOptions{})
	for _, tc := range []struct {
		name, manifest string
		wantErr        error
	}{
		{"minimal", `{"shards": [{"name": "a.json"}]}`, nil},
		{"not json", `{"shards": [`, ErrInvalid},
		{"no shards", `{"shards": []}`, ErrInvalid},
		{"traversal", `{"shards": [{"name": "../x"}]}`, ErrInvalid},
		{"other run", `{"run_id": "20200101T000000Z-else", "shards": [{"name": "a.json"}]}`, ErrInvalid},
		{"missing shard", `{"shards": [{"name": "b.json"}]}`, ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.WriteBytes(ctx, ManifestKey(id), []byte(tc.manifest), WriteOptions{})
			m, err := b.ReadManifest(ctx, id)
			if !errors.Is(err, tc.wantErr) && !(err == nil && tc.wantErr == nil) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
			if err == nil && (m.Shards[0].Size != 5 || m.Uploaded.IsZero() || m.RunID != id) {
				t.Errorf("got %+v, want size, upload time and run id filled in", m)
			}
		})
	}
}
