// Package storetest is the conformance suite of the store package, in the
// manner of gocloud.dev/blob/drivertest: Run checks that a *store.Bucket
// keeps the contracts the rest of the project relies on (listing order and
// paging, write-once, the manifest as commit point, ErrNotFound, odd keys,
// concurrent and large streaming writes, ranges, gzip objects read back as
// stored with and without Content-Encoding, the publication log), whatever
// driver is underneath. Start functions run the cloud emulators the suite
// is run against on 127.0.0.1 (StartS3, StartGCS, StartAzurite).
//
// storetest is for tests only. It imports store and the emulators, nothing
// of report, feed or cmd.
package storetest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/store"
)

// Caps lists what a backend does of the cloud contract the suite checks
// where emulators are known to fall short. A test whose capability is
// missing still runs: when it fails as expected it is skipped with the
// reason (the limitation is reported, not hidden); when it passes, the
// suite fails so that Caps is corrected.
type Caps struct {
	// WriteOnceMultipart: a write-once write large enough for the driver
	// to upload in parts (S3 multipart uploads; GCS resumable uploads in
	// several chunks; Azure staged blocks) fails with ErrExists when the
	// key exists.
	WriteOnceMultipart bool
	// Metadata: an object keeps the Content-Type and Content-Encoding it
	// was written with, and Attributes reports them.
	Metadata bool
}

// AllCaps is every capability: what the clouds themselves do.
var AllCaps = Caps{WriteOnceMultipart: true, Metadata: true}

// FileCaps are the capabilities of file buckets as the store opens them:
// with metadata=skip, no attribute files, so no Content-Type or
// Content-Encoding.
var FileCaps = Caps{WriteOnceMultipart: true, Metadata: false}

// Option changes how Run runs.
type Option func(*config)

type config struct {
	caps      Caps
	runs      int
	largeSize int64
}

// WithCaps declares the backend's capabilities (default AllCaps).
func WithCaps(c Caps) Option { return func(cfg *config) { cfg.caps = c } }

// WithRuns sets how many runs the listing test writes (default 1000, about
// 2,000 keys: more than one page of every cloud's listing).
func WithRuns(n int) Option { return func(cfg *config) { cfg.runs = n } }

// WithLargeSize sets the size of the large streaming write (default 64 MiB).
func WithLargeSize(n int64) Option { return func(cfg *config) { cfg.largeSize = n } }

// multipartSize is larger than one part of every driver's writer: s3blob's
// 8 MiB parts, Azure's 8 MiB blocks, GCS's 16 MiB chunks.
const multipartSize = 20 << 20

// Run runs the conformance suite. newBucket returns a new, empty bucket for
// each subtest.
func Run(t *testing.T, newBucket func(t *testing.T) *store.Bucket, opts ...Option) {
	cfg := config{caps: AllCaps, runs: 1000, largeSize: 64 << 20}
	for _, o := range opts {
		o(&cfg)
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, b *store.Bucket)
	}{
		{"ListRuns", func(t *testing.T, b *store.Bucket) { testListRuns(t, b, cfg.runs) }},
		{"ManifestLast", testManifestLast},
		{"WriteOnce", testWriteOnce},
		{"WriteOnceRace", testWriteOnceRace},
		{"WriteOnceMultipart", func(t *testing.T, b *store.Bucket) { testWriteOnceMultipart(t, b, cfg.caps) }},
		{"Overwrite", testOverwrite},
		{"NotFound", testNotFound},
		{"OddKeys", testOddKeys},
		{"ConcurrentWriters", testConcurrentWriters},
		{"ReadWhileWriting", testReadWhileWriting},
		{"AbortedWrite", testAbortedWrite},
		{"LargeStream", func(t *testing.T, b *store.Bucket) { testLargeStream(t, b, cfg.largeSize) }},
		{"GzipVerbatim", testGzipVerbatim},
		{"ContentEncoding", func(t *testing.T, b *store.Bucket) { testContentEncoding(t, b, cfg.caps) }},
		{"Delete", testDelete},
		{"Attributes", testAttributes},
		{"Ranges", testRanges},
		{"PublicationLog", testPublicationLog},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newBucket(t))
		})
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func mustWrite(t *testing.T, b *store.Bucket, key string, p []byte) {
	t.Helper()
	if err := b.WriteBytes(ctxFor(t), key, p, store.WriteOptions{}); err != nil {
		t.Fatalf("write %s: %v", key, err)
	}
}

func mustRead(t *testing.T, b *store.Bucket, key string) []byte {
	t.Helper()
	p, err := b.ReadAll(ctxFor(t), key)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return p
}

// listKeys lists every key under prefix, in the order the bucket gives.
func listKeys(t *testing.T, b *store.Bucket, prefix, delim string) []store.Object {
	t.Helper()
	var objs []store.Object
	if err := b.List(ctxFor(t), prefix, delim, func(o store.Object) bool {
		objs = append(objs, o)
		return true
	}); err != nil {
		t.Fatalf("list %q: %v", prefix, err)
	}
	return objs
}

// parallel runs fn(i) for i in [0, n) on workers goroutines and returns the
// first error.
func parallel(n, workers int, fn func(i int) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// runID is the id of listing-test run i: three days, ids sorting by i
// within a day.
func runID(i int) string {
	day := 1 + i%3
	s := i / 3
	return fmt.Sprintf("202601%02dT%02d%02d%02d.%06dZ-run%05d", day, s/3600%24, s/60%60, s%60, i%1000000, i)
}

func testListRuns(t *testing.T, b *store.Bucket, n int) {
	ctx := ctxFor(t)
	// Every tenth run is not committed (no manifest): it must not be listed
	// as a run, though its shard is listed as a key.
	committed := func(i int) bool { return i%10 != 9 }
	want := map[string][]string{}
	var keys []string
	for i := range n {
		id := runID(i)
		keys = append(keys, store.ShardKey(id, store.ShardName(0)))
		if committed(i) {
			want[id[:8]] = append(want[id[:8]], id)
			keys = append(keys, store.ManifestKey(id))
		}
	}
	start := time.Now()
	err := parallel(n, 16, func(i int) error {
		id := runID(i)
		s, err := b.PutShard(ctx, id, store.ShardName(0), strings.NewReader(id))
		if err != nil || !committed(i) {
			return err
		}
		return b.PutManifest(ctx, id, &store.Manifest{Version: 1, RunID: id, Shards: []store.Shard{s}})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d keys written in %v", len(keys), time.Since(start).Round(time.Millisecond))

	days, err := b.RunDays(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if wantDays := []string{"20260101", "20260102", "20260103"}; !slices.Equal(days, wantDays[:min(n, 3)]) {
		t.Errorf("RunDays = %v, want %v", days, wantDays[:min(n, 3)])
	}
	for day, ids := range want {
		got, err := b.CommittedRuns(ctx, day)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(ids)
		if !slices.Equal(got, ids) {
			t.Errorf("CommittedRuns(%s): got %d runs, want %d (first difference at %d)", day, len(got), len(ids), firstDiff(got, ids))
		}
	}

	// The whole listing: every key once, in lexicographical order, over
	// several pages.
	objs := listKeys(t, b, store.RunsPrefix, "")
	var got []string
	for i, o := range objs {
		if o.IsDir {
			t.Fatalf("listing without delimiter returned a directory %q", o.Key)
		}
		if i > 0 && o.Key <= objs[i-1].Key {
			t.Fatalf("listing out of order: %q after %q", o.Key, objs[i-1].Key)
		}
		got = append(got, o.Key)
	}
	slices.Sort(keys)
	if !slices.Equal(got, keys) {
		t.Fatalf("listed %d keys, want %d (first difference at %d)", len(got), len(keys), firstDiff(got, keys))
	}

	// With a delimiter: one directory per run of the day, in order.
	day := "20260101"
	dirs := listKeys(t, b, store.RunsPrefix+day+"/", "/")
	var ids []string
	for _, o := range dirs {
		if !o.IsDir {
			t.Fatalf("listing with delimiter returned a file %q", o.Key)
		}
		ids = append(ids, strings.TrimSuffix(strings.TrimPrefix(o.Key, store.RunsPrefix+day+"/"), "/"))
	}
	var wantIDs []string
	for i := 0; i < n; i += 3 {
		wantIDs = append(wantIDs, runID(i))
	}
	if !slices.Equal(ids, wantIDs) {
		t.Errorf("runs of %s listed with a delimiter: got %d, want %d (first difference at %d)", day, len(ids), len(wantIDs), firstDiff(ids, wantIDs))
	}

	// Stopping early.
	var seen int
	if err := b.List(ctx, store.RunsPrefix, "", func(store.Object) bool { seen++; return seen < 5 }); err != nil {
		t.Fatal(err)
	}
	if seen != 5 {
		t.Errorf("stopping after 5: fn called %d times", seen)
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func testManifestLast(t *testing.T, b *store.Bucket) {
	ctx := ctxFor(t)
	id := "20260314T150926.535897Z-manifestlast"
	var shards []store.Shard
	for i := range 2 {
		s, err := b.PutShard(ctx, id, store.ShardName(i), strings.NewReader(fmt.Sprint("shard ", i)))
		if err != nil {
			t.Fatal(err)
		}
		shards = append(shards, s)
	}
	if ids, err := b.CommittedRuns(ctx, id[:8]); err != nil || len(ids) != 0 {
		t.Fatalf("CommittedRuns before the manifest: got %v, %v; want none", ids, err)
	}
	if _, err := b.ReadManifest(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ReadManifest before the manifest: got %v, want ErrNotFound", err)
	}
	up := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	if err := b.PutManifest(ctx, id, &store.Manifest{Version: 1, RunID: id, Uploaded: up, Product: "chrome", Shards: shards}); err != nil {
		t.Fatal(err)
	}
	if ids, err := b.CommittedRuns(ctx, id[:8]); err != nil || !slices.Equal(ids, []string{id}) {
		t.Fatalf("CommittedRuns after the manifest: got %v, %v; want [%s]", ids, err, id)
	}
	m, err := b.ReadManifest(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if m.Product != "chrome" || !m.Uploaded.Equal(up) || !slices.Equal(m.Shards, shards) {
		t.Errorf("ReadManifest = %+v, want what was written", m)
	}
	for i, s := range shards {
		r, err := b.OpenShard(ctx, id, s.Name)
		if err != nil {
			t.Fatal(err)
		}
		p, err := io.ReadAll(r)
		r.Close()
		if err != nil || string(p) != fmt.Sprint("shard ", i) {
			t.Errorf("shard %d: got %q, %v", i, p, err)
		}
	}
	// A manifest written by another tool, with the shards' sizes missing:
	// they are filled in from the objects.
	other := "20260314T160000Z-othertool"
	mustWrite(t, b, store.ShardKey(other, "a.json"), []byte("12345"))
	mustWrite(t, b, store.ManifestKey(other), []byte(`{"shards": [{"name": "a.json"}]}`))
	m, err = b.ReadManifest(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	if m.Shards[0].Size != 5 || m.Uploaded.IsZero() || m.RunID != other {
		t.Errorf("manifest of another tool = %+v, want size, upload time and run id filled in", m)
	}
}

func testWriteOnce(t *testing.T, b *store.Bucket) {
	ctx := ctxFor(t)
	once := store.WriteOptions{IfNotExist: true}
	if err := b.WriteBytes(ctx, "once/a.json", []byte("first"), once); err != nil {
		t.Fatal(err)
	}
	err := b.WriteBytes(ctx, "once/a.json", []byte("second"), once)
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("second write-once write: got %v, want ErrExists", err)
	}
	if got := mustRead(t, b, "once/a.json"); string(got) != "first" {
		t.Errorf("got %q, want the first write's", got)
	}
	// Streaming writes too.
	err = b.Write(ctx, "once/a.json", strings.NewReader("third"), once)
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("write-once Write: got %v, want ErrExists", err)
	}
	// PutShard and PutManifest are write-once.
	id := "20260101T000000Z-writeonce"
	s, err := b.PutShard(ctx, id, "s.json", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.PutShard(ctx, id, "s.json", strings.NewReader("y")); !errors.Is(err, store.ErrExists) {
		t.Errorf("second PutShard: got %v, want ErrExists", err)
	}
	m := &store.Manifest{Shards: []store.Shard{s}}
	if err := b.PutManifest(ctx, id, m); err != nil {
		t.Fatal(err)
	}
	if err := b.PutManifest(ctx, id, m); !errors.Is(err, store.ErrExists) {
		t.Errorf("second PutManifest: got %v, want ErrExists", err)
	}
	// A key deleted may be written once again.
	if err := b.Delete(ctx, "once/a.json"); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteBytes(ctx, "once/a.json", []byte("again"), once); err != nil {
		t.Errorf("write-once write after Delete: %v", err)
	}
}

func testWriteOnceRace(t *testing.T, b *store.Bucket) {
	ctx := ctxFor(t)
	for round := range 3 {
		key := fmt.Sprintf("race/%d.json", round)
		const n = 16
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = b.WriteBytes(ctx, key, []byte(fmt.Sprint("writer ", i)), store.WriteOptions{IfNotExist: true})
			}()
		}
		close(start)
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if won >= 0 {
					t.Fatalf("%s: writers %d and %d both won", key, won, i)
				}
				won = i
			case !errors.Is(err, store.ErrExists):
				t.Fatalf("%s: writer %d: got %v, want ErrExists", key, i, err)
			}
		}
		if won < 0 {
			t.Fatalf("%s: no writer won", key)
		}
		if got := mustRead(t, b, key); string(got) != fmt.Sprint("writer ", won) {
			t.Errorf("%s holds %q, want the winner's (writer %d)", key, got, won)
		}
	}
}

func testWriteOnceMultipart(t *testing.T, b *store.Bucket, caps Caps) {
	ctx := ctxFor(t)
	key := "once/large.bin"
	once := store.WriteOptions{IfNotExist: true}
	if err := b.Write(ctx, key, genReader(1, multipartSize), once); err != nil {
		t.Fatal(err)
	}
	err := b.Write(ctx, key, genReader(2, multipartSize), once)
	_, sum := hashOf(genReader(1, multipartSize))
	a, aerr := b.Attributes(ctx, key)
	r, rerr := b.NewReader(ctx, key)
	if aerr != nil || rerr != nil {
		t.Fatal(aerr, rerr)
	}
	n, got := hashOf(r)
	r.Close()
	held := errors.Is(err, store.ErrExists) && got == sum && n == multipartSize && a.Size == multipartSize
	switch {
	case held && !caps.WriteOnceMultipart:
		t.Fatalf("Caps.WriteOnceMultipart is false, but write-once held for a %d MiB write: correct the backend's Caps", multipartSize>>20)
	case !held && !caps.WriteOnceMultipart:
		t.Skipf("LIMITATION (Caps.WriteOnceMultipart=false): a second write-once write of %d MiB got %v and the object is %s", multipartSize>>20, err, map[bool]string{true: "the first write's", false: "the second write's"}[got == sum])
	case !held:
		t.Fatalf("second write-once write of %d MiB: got %v (object is the first write's: %v), want ErrExists", multipartSize>>20, err, got == sum)
	}
}

func testOverwrite(t *testing.T, b *store.Bucket) {
	ctx := ctxFor(t)
	mustWrite(t, b, "k.json", []byte("one"))
	mustWrite(t, b, "k.json", []byte("two, longer"))
	if got := mustRead(t, b, "k.json"); string(got) != "two, longer" {
		t.Errorf("got %q, want the second write's", got)
	}
	if a, err := b.Attributes(ctx, "k.json"); err != nil || a.Size != int64(len("two, longer")) {
		t.Errorf("Attributes = %+v, %v", a, err)
	}
}

func testNotFound(t *testing.T, b *store.Bucket) {
	ctx := ctxFor(t)
	mustWrite(t, b, "dir/present", []byte("x"))
	// Not here: "dir/present/below" (under a key), which file buckets
	// answer with ENOTDIR, not ErrNotFound.
	for _, key := range []string{"missing", "dir/missing", "dir"} {
		if _, err := b.ReadAll(ctx, key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ReadAll(%q): got %v, want ErrNotFound", key, err)
		}
		if r, err := b.NewReader(ctx, key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("NewReader(%q): got %v, want ErrNotFound", key, err)
			if r != nil {
				r.Close()
			}
		}
		if r, err := b.NewRangeReader(ctx, key, 1, 2); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("NewRangeReader(%q): got %v, want ErrNotFound", key, err)
			if r != nil {
				r.Close()
			}
		}
		if _, err := b.Attributes(ctx, key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Attributes(%q): got %v, want ErrNotFound", key, err)
		}
		if ok, err := b.Exists(ctx, key); ok || err != nil {
			t.Errorf("Exists(%q) = %v, %v; want false, nil", key, ok, err)
		}
		if key == "dir" {
			continue // a directory on file buckets: Delete fails, not empty
		}
		if err := b.Delete(ctx, key); err != nil {
			t.Errorf("Delete(%q): got %v, want nil", key, err)
		}
	}
	id := "20260101T000000Z-missing"
	if _, err := b.ReadManifest(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReadManifest: got %v, want ErrNotFound", err)
	}
	if _, err := b.OpenShard(ctx, id, "s.json"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("OpenShard: got %v, want ErrNotFound", err)
	}
	if _, err := b.ReadLog(ctx, 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReadLog: got %v, want ErrNotFound", err)
	}
	// A manifest naming a shard that is not there.
	mustWrite(t, b, store.ManifestKey(id), []byte(`{"shards": [{"name": "s.json"}]}`))
	if _, err := b.ReadManifest(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReadManifest with a missing shard: got %v, want ErrNotFound", err)
	}
	// Listing an empty prefix is empty, not an error.
	if objs := listKeys(t, b, "nothing/", ""); len(objs) != 0 {
		t.Errorf("listing an empty prefix: %v", objs)
	}
}

// OddTestPaths are wpt test paths with characters that some stores or file
// systems treat specially; their per-test keys are the paths as they are.
// report refuses control characters and "." or ".." segments in test paths,
// so none of these has them (a query may hold ".." text).
var OddTestPaths = []string{
	"/fetch/api/request/request-init.any.html?include=a#frag",
	"/a b/c d.html",
	"/ü/中文/😀.html",
	"/WebCryptoAPI/derive_bits_keys/hkdf.https.any.html?1-1000",
	"/a.html?u=http://x/y&v=../z", // not a file bucket's: "//" and "../"
	"/100%.html",
	"/q\"'<>|*:.html",
	"/b\\c.html", // not a file bucket's: a backslash
	"/a/..b/...",
	"/x?a=1&b=2;c#d?e",
	"/+plus+/~tilde~",
}

func testOddKeys(t *testing.T, b *store.Bucket) {
	ctx := ctxFor(t)
	prefix := "0123456789abcdef0123456789abcdef01234567/chrome-1-linux-0123456789/"
	want := map[string]string{}
	for _, p := range OddTestPaths {
		key := strings.TrimSuffix(prefix, "/") + p // as store.TestKey makes it
		if b.Dir() != "" && !store.ValidFileKey(key) {
			// A file bucket refuses what it cannot hold as a path.
			if err := b.WriteBytes(ctx, key, []byte(p), store.WriteOptions{}); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("write %q to a file bucket: got %v, want ErrInvalid", key, err)
			}
			continue
		}
		want[key] = p
		if err := b.WriteBytes(ctx, key, []byte(p), store.WriteOptions{IfNotExist: true}); err != nil {
			t.Errorf("write %q as %q: %v", p, key, err)
			continue
		}
		if got, err := b.ReadAll(ctx, key); err != nil || string(got) != p {
			t.Errorf("%q: read back %q, %v", p, got, err)
		}
		if a, err := b.Attributes(ctx, key); err != nil || a.Size != int64(len(p)) {
			t.Errorf("%q: Attributes = %+v, %v", p, a, err)
		}
	}
	// Listed under their exact keys, which are the test paths.
	got := map[string]string{}
	for _, o := range listKeys(t, b, prefix, "") {
		got[o.Key] = "/" + strings.TrimPrefix(o.Key, prefix)
	}
	for k, p := range want {
		if got[k] != p {
			t.Errorf("key %q: listed as test %q, want %q", k, got[k], p)
		}
	}
	if len(got) != len(want) {
		t.Errorf("listed %d keys, want %d", len(got), len(want))
	}
}

func testConcurrentWriters(t *testing.T, b *store.Bucket) {
	ctx := ctxFor(t)
	const n = 64
	err := parallel(n, 16, func(i int) error {
		key := fmt.Sprintf("c/%02d/%03d.json", i%4, i)
		p := bytes.Repeat([]byte{byte('a' + i%26)}, 1000+i)
		if err := b.WriteBytes(ctx, key, p, store.WriteOptions{}); err != nil {
			return err
		}
		got, err := b.ReadAll(ctx, key)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, p) {
			return fmt.Errorf("%s: read back %d bytes, want %d", key, len(got), len(p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if objs := listKeys(t, b, "c/", ""); len(objs) != n {
		t.Errorf("listed %d keys, want %d", len(objs), n)
	}
	dirs := listKeys(t, b, "c/", "/")
	if len(dirs) != 4 {
		t.Errorf("listed %d directories, want 4: %v", len(dirs), dirs)
	}
}

func testReadWhileWriting(t *testing.T, b *store.Bucket) {
	ctx := ctxFor(t)
	mustWrite(t, b, "rw/old.json", []byte("old"))
	for _, key := range []string{"rw/new.json", "rw/old.json"} {
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() { done <- b.Write(ctx, key, pr, store.WriteOptions{}) }()
		if _, err := pw.Write(bytes.Repeat([]byte("x"), 1<<20)); err != nil {
			t.Fatal(err)
		}
		// Half written: a new key is not there, an old one reads whole.
		p, err := b.ReadAll(ctx, key)
		switch key {
		case "rw/new.json":
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s while being written: got %d bytes, %v; want ErrNotFound", key, len(p), err)
			}
		default:
			if err != nil || string(p) != "old" {
				t.Errorf("%s while being rewritten: got %d bytes, %v; want the old content", key, len(p), err)
			}
		}
		pw.Write([]byte("end"))
		pw.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if p := mustRead(t, b, key); len(p) != 1<<20+3 || string(p[len(p)-3:]) != "end" {
			t.Errorf("%s after the write: %d bytes", key, len(p))
		}
	}
}

func testAbortedWrite(t *testing.T, b *store.Bucket) {
	for _, size := range []int64{10, multipartSize} {
		for _, once := range []bool{false, true} {
			ctx, cancel := context.WithCancel(context.Background())
			key := fmt.Sprintf("aborted-%d-%v", size, once)
			errReset := errors.New("connection reset")
			r := io.MultiReader(genReader(3, size), readerFunc(func([]byte) (int, error) {
				cancel()
				return 0, errReset
			}))
			// Drivers that upload on a goroutine of their own may see the
			// cancellation before the reader's error.
			if err := b.Write(ctx, key, r, store.WriteOptions{IfNotExist: once}); !errors.Is(err, errReset) && !errors.Is(err, context.Canceled) {
				t.Errorf("%s: a write whose reader failed: got %v, want the reader's error or context.Canceled", key, err)
			}
			cancel()
			if ok, err := b.Exists(ctxFor(t), key); ok || err != nil {
				t.Errorf("%s: an aborted write is visible (%v, %v)", key, ok, err)
			}
		}
	}
	if objs := listKeys(t, b, "", ""); len(objs) != 0 {
		t.Errorf("aborted writes left %d objects: %v", len(objs), objs)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// genReader returns size deterministic pseudo-random bytes from seed,
// generated as they are read.
func genReader(seed uint64, size int64) io.Reader {
	var key [32]byte
	key[0] = byte(seed)
	return io.LimitReader(rand.NewChaCha8(key), size)
}

// hashOf reads r to the end and returns how many bytes it read and their
// SHA-256.
func hashOf(r io.Reader) (int64, [32]byte) {
	h := sha256.New()
	n, _ := io.Copy(h, r)
	var sum [32]byte
	h.Sum(sum[:0])
	return n, sum
}

func testLargeStream(t *testing.T, b *store.Bucket, size int64) {
	ctx := ctxFor(t)
	key := "large/stream.bin"
	start := time.Now()
	// The body is generated while it is written and hashed while it is
	// read: the test holds no copy of it.
	if err := b.Write(ctx, key, genReader(4, size), store.WriteOptions{IfNotExist: true}); err != nil {
		t.Fatal(err)
	}
	wrote := time.Since(start)
	a, err := b.Attributes(ctx, key)
	if err != nil || a.Size != size {
		t.Fatalf("Attributes = %+v, %v; want size %d", a, err, size)
	}
	_, want := hashOf(genReader(4, size))
	r, err := b.NewReader(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	n, got := hashOf(r)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if n != size || got != want {
		t.Fatalf("read back %d bytes, hash match %v; want %d bytes, same hash", n, got == want, size)
	}
	// A range in the middle, across any part boundary.
	off := size/2 - 1000
	rr, err := b.NewRangeReader(ctx, key, off, 5000)
	if err != nil {
		t.Fatal(err)
	}
	p, err := io.ReadAll(rr)
	rr.Close()
	wantP := make([]byte, 5000)
	g := genReader(4, size)
	io.CopyN(io.Discard, g, off)
	io.ReadFull(g, wantP)
	if err != nil || !bytes.Equal(p, wantP) {
		t.Errorf("range %d+5000: got %d bytes, %v, equal %v", off, len(p), err, bytes.Equal(p, wantP))
	}
	t.Logf("%d MiB: written in %v, read in %v", size>>20, wrote.Round(time.Millisecond), (time.Since(start) - wrote).Round(time.Millisecond))
}

// testGzipVerbatim: gzip objects written without a Content-Encoding are
// stored and served byte for byte (Content-Type application/gzip, so no
// server or client decompresses them).
func testGzipVerbatim(t *testing.T, b *store.Bucket) {
	ctx := ctxFor(t)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(bytes.Repeat([]byte(`{"results": []}`), 1000))
	zw.Close()
	id := "20260101T000000Z-gzip"
	s, err := b.PutShard(ctx, id, store.ShardName(0), bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if s.Size != int64(buf.Len()) {
		t.Errorf("shard size %d, want %d", s.Size, buf.Len())
	}
	summary := store.SummaryKey("0123456789abcdef0123456789abcdef01234567", "chrome-1-linux-0123456789")
	if err := b.WriteBytes(ctx, summary, buf.Bytes(), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{store.ShardKey(id, store.ShardName(0)), summary} {
		if got := mustRead(t, b, key); !bytes.Equal(got, buf.Bytes()) {
			t.Errorf("%s: read back %d bytes, want the %d gzip bytes written", key, len(got), buf.Len())
		}
		if a, err := b.Attributes(ctx, key); err != nil || a.Size != int64(buf.Len()) {
			t.Errorf("%s: Attributes = %+v, %v; want size %d", key, a, err, buf.Len())
		}
		rs := b.ReadSeeker(ctx, key, int64(buf.Len()))
		rs.Seek(10, io.SeekStart)
		p, err := io.ReadAll(rs)
		rs.Close()
		if err != nil || !bytes.Equal(p, buf.Bytes()[10:]) {
			t.Errorf("%s: range from 10: %d bytes, %v", key, len(p), err)
		}
	}
}

// GzipJSON returns the gzip of a JSON document of about n bytes, which
// compresses to about n/2: its strings are hex of random bytes.
func GzipJSON(seed uint64, n int) []byte {
	var key [32]byte
	key[0] = byte(seed)
	rnd := rand.NewChaCha8(key)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(`{"results": [`))
	p := make([]byte, 32)
	for i := 0; i*(len(p)*2+20) < n; i++ {
		if i > 0 {
			zw.Write([]byte(", "))
		}
		rnd.Read(p)
		fmt.Fprintf(zw, `{"test": "/%x"}`, p)
	}
	zw.Write([]byte("]}\n"))
	zw.Close()
	return buf.Bytes()
}

// testContentEncoding: gzip JSON written with Content-Encoding gzip, as
// the dashboard's outputs are, reads back as the stored (compressed) bytes
// through every reader of the store, whole and in ranges; Attributes
// report the stored size and, where the backend keeps metadata, the
// content type and encoding.
func testContentEncoding(t *testing.T, b *store.Bucket, caps Caps) {
	ctx := ctxFor(t)
	opts := store.WriteOptions{ContentType: "application/json", ContentEncoding: "gzip"}
	small := GzipJSON(5, 4000)
	large := GzipJSON(6, 3<<20) // over 1 MiB: a streaming write, several reads
	if err := b.WriteBytes(ctx, "enc/small.json.gz", small, opts); err != nil {
		t.Fatal(err)
	}
	// A streaming write (not a *bytes.Reader), as the pack's.
	if err := b.Write(ctx, "enc/large.json.gz", io.MultiReader(bytes.NewReader(large)), opts); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  string
		data []byte
	}{{"enc/small.json.gz", small}, {"enc/large.json.gz", large}} {
		data, size := tc.data, int64(len(tc.data))
		if got := mustRead(t, b, tc.key); !bytes.Equal(got, data) {
			t.Errorf("%s: ReadAll returned %d bytes, want the %d stored (gzip: %v)", tc.key, len(got), size, isGzip(got))
		}
		r, err := b.NewReader(ctx, tc.key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: NewReader returned %d bytes (%v), want the %d stored (gzip: %v)", tc.key, len(got), err, size, isGzip(got))
		}
		for _, rg := range []struct{ off, n int64 }{
			{0, 10}, {10, 100}, {size / 2, 1000}, {size - 7, -1}, {1, -1}, {0, -1}, {size - 3, 100},
		} {
			want := data[rg.off:]
			if rg.n >= 0 && rg.n < int64(len(want)) {
				want = want[:rg.n]
			}
			rr, err := b.NewRangeReader(ctx, tc.key, rg.off, rg.n)
			if err != nil {
				t.Fatalf("%s: range %d+%d: %v", tc.key, rg.off, rg.n, err)
			}
			got, err := io.ReadAll(rr)
			rr.Close()
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: range %d+%d: got %d bytes (%v), want the %d stored bytes there", tc.key, rg.off, rg.n, len(got), err, len(want))
			}
		}
		a, err := b.Attributes(ctx, tc.key)
		if err != nil {
			t.Fatal(err)
		}
		if a.Size != size {
			t.Errorf("%s: Attributes.Size = %d, want the stored size %d", tc.key, a.Size, size)
		}
		rs := b.ReadSeeker(ctx, tc.key, a.Size)
		rs.Seek(-20, io.SeekEnd)
		got, err = io.ReadAll(rs)
		rs.Close()
		if err != nil || !bytes.Equal(got, data[size-20:]) {
			t.Errorf("%s: ReadSeeker at the end - 20: got %d bytes (%v), want the last 20 stored", tc.key, len(got), err)
		}
		// The stored bytes are one gzip stream of the JSON.
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err == nil {
			_, err = io.Copy(io.Discard, zr)
		}
		if err != nil {
			t.Fatalf("%s: test data is not gzip: %v", tc.key, err)
		}
	}
	a, err := b.Attributes(ctx, "enc/small.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	kept := a.ContentType == "application/json" && a.ContentEncoding == "gzip"
	switch {
	case kept && !caps.Metadata:
		t.Fatalf("Caps.Metadata is false, but Attributes report Content-Type %q, Content-Encoding %q: correct the backend's Caps", a.ContentType, a.ContentEncoding)
	case !caps.Metadata && (a.ContentType != "" || a.ContentEncoding != ""):
		t.Errorf("no metadata kept, but Attributes report Content-Type %q, Content-Encoding %q; want both empty", a.ContentType, a.ContentEncoding)
	case !caps.Metadata:
		t.Skipf("LIMITATION (Caps.Metadata=false): objects keep no Content-Type or Content-Encoding; the stored bytes read back exactly")
	case !kept:
		t.Errorf("Attributes report Content-Type %q, Content-Encoding %q; want application/json, gzip", a.ContentType, a.ContentEncoding)
	}
}

func isGzip(p []byte) bool { return len(p) >= 2 && p[0] == 0x1f && p[1] == 0x8b }

func testDelete(t *testing.T, b *store.Bucket) {
	ctx := ctxFor(t)
	mustWrite(t, b, "del/a", []byte("a"))
	mustWrite(t, b, "del/b", []byte("b"))
	if err := b.Delete(ctx, "del/a"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReadAll(ctx, "del/a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("read after Delete: got %v, want ErrNotFound", err)
	}
	if err := b.Delete(ctx, "del/a"); err != nil {
		t.Errorf("second Delete: got %v, want nil", err)
	}
	objs := listKeys(t, b, "del/", "")
	if len(objs) != 1 || objs[0].Key != "del/b" {
		t.Errorf("listing after Delete: %v, want del/b alone", objs)
	}
}

func testAttributes(t *testing.T, b *store.Bucket) {
	ctx := ctxFor(t)
	before := time.Now()
	mustWrite(t, b, "attrs/a.json", []byte(`{"a": 1}`))
	a, err := b.Attributes(ctx, "attrs/a.json")
	if err != nil {
		t.Fatal(err)
	}
	if a.Size != 8 {
		t.Errorf("Size = %d, want 8", a.Size)
	}
	// Clocks of a local server agree with ours to a second or two (some
	// services keep whole seconds).
	if a.ModTime.Before(before.Add(-2*time.Second)) || a.ModTime.After(time.Now().Add(2*time.Second)) {
		t.Errorf("ModTime = %v, want about %v", a.ModTime, before)
	}
	if a.ETag == "" {
		t.Errorf("ETag is empty")
	}
	// fileblob's ETag is the modification time and size, and file times
	// advance by clock ticks: an overwrite of another size always changes it.
	mustWrite(t, b, "attrs/a.json", []byte(`{"a": 22}`))
	if a2, err := b.Attributes(ctx, "attrs/a.json"); err != nil || a2.ETag == a.ETag {
		t.Errorf("ETag after an overwrite: %q, %v; want it changed from %q", a2.ETag, err, a.ETag)
	}
	// Listed objects carry sizes and times too.
	objs := listKeys(t, b, "attrs/", "")
	if len(objs) != 1 || objs[0].Size != 9 || objs[0].ModTime.IsZero() {
		t.Errorf("listing = %+v, want attrs/a.json with size and time", objs)
	}
}

func testRanges(t *testing.T, b *store.Bucket) {
	ctx := ctxFor(t)
	data := bytes.Repeat([]byte("0123456789"), 10000)
	size := int64(len(data))
	mustWrite(t, b, "r.bin", data)
	for _, tc := range []struct {
		name        string
		off, length int64
		want        []byte
	}{
		{"head", 0, 10, data[:10]},
		{"middle", 5003, 7, data[5003:5010]},
		{"to end", size - 5, -1, data[size-5:]},
		{"past end", size - 5, 100, data[size-5:]},
		{"zero length", 10, 0, nil},
		{"all", 0, -1, data},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := b.NewRangeReader(ctx, "r.bin", tc.off, tc.length)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			p, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(p, tc.want) {
				t.Errorf("got %d bytes, %v; want %d bytes", len(p), err, len(tc.want))
			}
		})
	}
	rs := b.ReadSeeker(ctx, "r.bin", size)
	defer rs.Close()
	p := make([]byte, 10)
	for _, tc := range []struct {
		offset int64
		whence int
		pos    int64
	}{
		{5000, io.SeekStart, 5000},
		{-10, io.SeekCurrent, 5000}, // after reading 10
		{-10, io.SeekEnd, size - 10},
		{123, io.SeekStart, 123},
	} {
		pos, err := rs.Seek(tc.offset, tc.whence)
		if err != nil || pos != tc.pos {
			t.Fatalf("Seek(%d, %d) = %d, %v; want %d", tc.offset, tc.whence, pos, err, tc.pos)
		}
		if _, err := io.ReadFull(rs, p); err != nil || !bytes.Equal(p, data[pos:pos+10]) {
			t.Fatalf("read at %d: %q, %v; want %q", pos, p, err, data[pos:pos+10])
		}
	}
	rs.Seek(size, io.SeekStart)
	if n, err := rs.Read(p); n != 0 || err != io.EOF {
		t.Errorf("read at the end: %d, %v; want 0, EOF", n, err)
	}
}

func testPublicationLog(t *testing.T, b *store.Bucket) {
	ctx := ctxFor(t)
	cfg, err := b.EnsureFeedConfig(ctx, store.FeedConfig{PageSize: 100})
	if err != nil || cfg.PageSize != 100 {
		t.Fatalf("EnsureFeedConfig = %+v, %v", cfg, err)
	}
	if cfg, err := b.EnsureFeedConfig(ctx, store.FeedConfig{PageSize: 7}); err != nil || cfg.PageSize != 100 {
		t.Errorf("second EnsureFeedConfig = %+v, %v; want the first's page size", cfg, err)
	}
	if last, err := b.LastLogSeq(ctx); err != nil || last != 0 {
		t.Fatalf("LastLogSeq of an empty log = %d, %v", last, err)
	}
	// Entries around a group boundary (LogGroupSize per group).
	g := int64(store.LogGroupSize)
	seqs := []int64{1, 2, 3, g - 1, g, g + 1, 2*g + 5}
	for i, seq := range seqs {
		id := fmt.Sprintf("20260102T0000%02dZ-log%d", i, seq)
		if err := b.AppendLog(ctx, store.LogEntry{Seq: seq, RunID: id}); err != nil {
			t.Fatalf("AppendLog(%d): %v", seq, err)
		}
		if err := b.MarkPublished(ctx, id, seq); err != nil {
			t.Fatal(err)
		}
	}
	// Racing publishers: one entry per number.
	if err := b.AppendLog(ctx, store.LogEntry{Seq: 2, RunID: "20260102T000000Z-other"}); !errors.Is(err, store.ErrExists) {
		t.Errorf("AppendLog of a taken number: got %v, want ErrExists", err)
	}
	if e, err := b.ReadLog(ctx, 2); err != nil || e.RunID != "20260102T000001Z-log2" {
		t.Errorf("ReadLog(2) = %+v, %v", e, err)
	}
	if err := b.AppendLog(ctx, store.LogEntry{Seq: 0, RunID: "20260102T000000Z-x"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("AppendLog(0): got %v, want ErrInvalid", err)
	}
	if last, err := b.LastLogSeq(ctx); err != nil || last != 2*g+5 {
		t.Errorf("LastLogSeq = %d, %v; want %d", last, err, 2*g+5)
	}
	for _, tc := range []struct {
		after int64
		want  []int64
	}{
		// after's group and the next one.
		{0, []int64{1, 2, 3, g - 1, g, g + 1}},
		{3, []int64{g - 1, g, g + 1}},
		{g - 2, []int64{g - 1, g, g + 1}},
		{g - 1, []int64{g, g + 1, 2*g + 5}},
		{g + 1, []int64{2*g + 5}},
		{2*g + 5, nil},
	} {
		got, err := b.LogSeqsAfter(ctx, tc.after)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("LogSeqsAfter(%d) = %v, %v; want %v", tc.after, got, err, tc.want)
		}
	}
	// Markers: written once, a second mark is fine, listed by day.
	if err := b.MarkPublished(ctx, "20260102T000000Z-log1", 1); err != nil {
		t.Errorf("second MarkPublished: %v", err)
	}
	pub, err := b.PublishedRuns(ctx, "20260102")
	if err != nil || len(pub) != len(seqs) || !pub["20260102T000003Z-log999"] {
		t.Errorf("PublishedRuns = %v, %v; want %d runs", pub, err, len(seqs))
	}
	if pub, err := b.PublishedRuns(ctx, "20260103"); err != nil || len(pub) != 0 {
		t.Errorf("PublishedRuns of an empty day = %v, %v", pub, err)
	}
}
