package process

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
)

// copyShards are the bytes of a two-shard run: one gzip, one plain JSON.
func copyShards(t *testing.T) [][]byte {
	t.Helper()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	io.WriteString(zw, strings.Replace(testReport, "/a.html", "/b.html", 1))
	zw.Close()
	return [][]byte{gz.Bytes(), []byte(testReport)}
}

// copyInput is a run of the shards in data, with CopyRaw; opens counts
// the sources' opens.
func copyInput(id string, data [][]byte, opens *atomic.Int32) Input {
	in := Input{RunID: id, Uploaded: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), CopyRaw: true}
	for i, d := range data {
		name := []string{"wpt-1.json.gz", "wpt-2.json"}[i%2]
		in.Raw = append(in.Raw, records.RawShard{Name: name, URL: "https://runner.test/" + name, Size: int64(len(d))})
		in.Shards = append(in.Shards, report.Shard{Name: name, Open: func() (io.ReadCloser, error) {
			if opens != nil {
				opens.Add(1)
			}
			return io.NopCloser(bytes.NewReader(d)), nil
		}})
	}
	return in
}

func sha(p []byte) string {
	h := sha256.Sum256(p)
	return hex.EncodeToString(h[:])
}

func readShardList(t *testing.T, b *store.Bucket, st *records.Status) records.ShardList {
	t.Helper()
	raw, err := b.ReadAll(context.Background(), store.ShardListKey(st.Revision, st.ProductID))
	if err != nil {
		t.Fatal(err)
	}
	var l records.ShardList
	if err := json.Unmarshal(raw, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestRawCopy_OnePass: with CopyRaw, each shard is copied byte for byte
// into the archive (the out bucket under raw/ by default, a file bucket
// here) while it is processed, each source read once, and the shard
// listing names the copies with their sizes and sha256.
func TestRawCopy_OnePass(t *testing.T) {
	ctx := context.Background()
	out, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	p := &Processor{Out: out, ResultsBase: "https://results.test", Limits: report.DefaultLimits(), Log: slog.New(slog.DiscardHandler)}
	data := copyShards(t)
	var opens atomic.Int32
	in := copyInput("20261130T000000Z-copy", data, &opens)
	st, err := p.Ingest(ctx, in)
	if err != nil || st.State != records.StateValid {
		t.Fatalf("Ingest: %+v, %v; want VALID", st, err)
	}
	if n := opens.Load(); n != int32(len(data)) {
		t.Errorf("sources opened %d times, want %d (one read serves processing and copy)", n, len(data))
	}
	l := readShardList(t, out, st)
	if len(l.Shards) != len(data) {
		t.Fatalf("shard listing: %d shards, want %d", len(l.Shards), len(data))
	}
	for i, s := range l.Shards {
		key := store.RawCopyPrefix + store.RawCopyKey(in.RunID, i, in.Shards[i].Name)
		if want := "https://results.test/" + key; s.URL != want {
			t.Errorf("shard %d: URL %q, want the copy %q", i, s.URL, want)
		}
		if s.Name != in.Raw[i].Name || s.Size != int64(len(data[i])) || s.SHA256 != sha(data[i]) {
			t.Errorf("shard %d: %+v, want name %s, size %d, sha256 %s", i, s, in.Raw[i].Name, len(data[i]), sha(data[i]))
		}
		got, err := out.ReadAll(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data[i]) {
			t.Errorf("copy of shard %d differs from its source (%d bytes, want %d)", i, len(got), len(data[i]))
		}
	}
}

// TestRawCopy_OwnBucket: with RawArchive, the copies go there, at the raw
// layout's keys, under RawArchiveBase; the out bucket holds none.
func TestRawCopy_OwnBucket(t *testing.T) {
	ctx := context.Background()
	p := newProcessor(t)
	arch, err := store.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer arch.Close()
	p.RawArchive, p.RawArchiveBase = arch, "https://archive.test"
	data := copyShards(t)
	in := copyInput("20261130T000001Z-copy", data, nil)
	st, err := p.Ingest(ctx, in)
	if err != nil || st.State != records.StateValid {
		t.Fatalf("Ingest: %+v, %v; want VALID", st, err)
	}
	for i, s := range readShardList(t, p.Out, st).Shards {
		key := store.RawCopyKey(in.RunID, i, in.Shards[i].Name)
		if want := "https://archive.test/" + key; s.URL != want {
			t.Errorf("shard %d: URL %q, want %q", i, s.URL, want)
		}
		if got, err := arch.ReadAll(ctx, key); err != nil || !bytes.Equal(got, data[i]) {
			t.Errorf("copy of shard %d: %d bytes, %v; want the source's %d bytes", i, len(got), err, len(data[i]))
		}
	}
	if ok, _ := p.Out.Exists(ctx, store.RawCopyPrefix+store.RawCopyKey(in.RunID, 0, in.Shards[0].Name)); ok {
		t.Error("a copy is in the out bucket too")
	}
}

// failingReader returns n bytes of r, then err.
type failingReader struct {
	r   io.Reader
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	p = p[:min(len(p), f.n)]
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

// TestRawCopy_SourceFails: a source that fails half-way fails the ingest
// (to be tried again): no status record, and no partial copy of it in the
// archive.
func TestRawCopy_SourceFails(t *testing.T) {
	ctx := context.Background()
	p := newProcessor(t)
	data := copyShards(t)
	in := copyInput("20261130T000002Z-copy", data, nil)
	errReset := errors.New("connection reset")
	in.Shards[1].Open = func() (io.ReadCloser, error) {
		return io.NopCloser(&failingReader{r: bytes.NewReader(data[1]), n: len(data[1]) / 2, err: errReset}), nil
	}
	if st, err := p.Ingest(ctx, in); !errors.Is(err, errReset) {
		t.Fatalf("Ingest: %+v, %v; want the source's error", st, err)
	}
	if ok, _ := p.Out.Exists(ctx, store.StatusKey(in.RunID)); ok {
		t.Error("status record written")
	}
	if ok, _ := p.Out.Exists(ctx, store.RawCopyPrefix+store.RawCopyKey(in.RunID, 1, in.Shards[1].Name)); ok {
		t.Error("a partial copy of the failing shard is in the archive")
	}
}

// TestRawCopy_Retry: a copy left by an attempt that did not finish (it
// stopped before the status record) is kept when the next attempt reads
// the same bytes; other bytes under the same key are refused
// (ErrRawCopyDiffers), and the archive's copy is not replaced.
func TestRawCopy_Retry(t *testing.T) {
	ctx := context.Background()
	p := newProcessor(t)
	data := copyShards(t)
	in := copyInput("20261130T000003Z-copy", data, nil)
	stop := errors.New("stopped")
	in.BeforeStatus = func(context.Context) error { return stop }
	if _, err := p.Ingest(ctx, in); !errors.Is(err, stop) {
		t.Fatalf("first attempt: %v, want it stopped", err)
	}
	key := store.RawCopyPrefix + store.RawCopyKey(in.RunID, 1, in.Shards[1].Name)
	if got, err := p.Out.ReadAll(ctx, key); err != nil || !bytes.Equal(got, data[1]) {
		t.Fatalf("copy after the first attempt: %d bytes, %v", len(got), err)
	}

	other := copyInput(in.RunID, [][]byte{data[0], []byte(strings.Replace(testReport, "PASS", "FAIL", 1))}, nil)
	if _, err := p.Ingest(ctx, other); !errors.Is(err, ErrRawCopyDiffers) {
		t.Fatalf("attempt with other bytes: %v, want ErrRawCopyDiffers", err)
	}
	if got, _ := p.Out.ReadAll(ctx, key); !bytes.Equal(got, data[1]) {
		t.Error("the archive's copy was replaced")
	}

	in.BeforeStatus = nil
	st, err := p.Ingest(ctx, in)
	if err != nil || st.State != records.StateValid {
		t.Fatalf("retry with the same bytes: %+v, %v; want VALID", st, err)
	}
	if s := readShardList(t, p.Out, st).Shards[1]; s.SHA256 != sha(data[1]) {
		t.Errorf("listing after the retry: %+v", s)
	}
}

// TestRawCopy_ArchiveFails: an archive that refuses writes fails the
// ingest (tried again later): the run is not VALID without its copies.
func TestRawCopy_ArchiveFails(t *testing.T) {
	ctx := context.Background()
	p := newProcessor(t)
	var down atomic.Bool
	down.Store(true)
	arch, err := store.Open(ctx, "mem://", store.WithFaults(func(op, key string) error {
		if op == "write" && down.Load() {
			return errors.New("archive unavailable")
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer arch.Close()
	p.RawArchive = arch
	in := copyInput("20261130T000004Z-copy", copyShards(t), nil)
	ctx2, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if st, err := p.Ingest(ctx2, in); err == nil {
		t.Fatalf("Ingest with the archive down: %+v, want an error", st)
	}
	if ok, _ := p.Out.Exists(ctx, store.StatusKey(in.RunID)); ok {
		t.Error("status record written though the copies failed")
	}
	down.Store(false)
	if st, err := p.Ingest(ctx, in); err != nil || st.State != records.StateValid {
		t.Fatalf("Ingest with the archive back: %+v, %v; want VALID", st, err)
	}
}

// TestRawCopy_Finish: a copy the processing did not read whole is made by
// a second read of its source before the listing is written.
func TestRawCopy_Finish(t *testing.T) {
	ctx := context.Background()
	p := newProcessor(t)
	data := copyShards(t)
	var opens atomic.Int32
	in := copyInput("20261130T000005Z-copy", data, &opens)
	rc, shards := p.newRawCopies(ctx, in)
	// The processing reads shard 0 part-way only.
	r, err := shards[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	io.CopyN(io.Discard, r, 5)
	r.Close()
	if ok, _ := p.Out.Exists(ctx, store.RawCopyPrefix+store.RawCopyKey(in.RunID, 0, in.Shards[0].Name)); ok {
		t.Fatal("a copy read part-way was written")
	}
	list, err := rc.finish(ctx, in.Raw)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range list {
		got, err := p.Out.ReadAll(ctx, store.RawCopyPrefix+store.RawCopyKey(in.RunID, i, in.Shards[i].Name))
		if err != nil || !bytes.Equal(got, data[i]) || s.SHA256 != sha(data[i]) || s.Size != int64(len(data[i])) {
			t.Errorf("shard %d: listing %+v, copy %d bytes, %v", i, s, len(got), err)
		}
	}
	if n := opens.Load(); n != 3 {
		t.Errorf("sources opened %d times, want 3 (shard 0 twice, shard 1 once)", n)
	}
}
