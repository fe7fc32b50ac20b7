package process

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
)

// The raw archive: with Input.CopyRaw, each shard of a run is copied byte
// for byte into the raw-archive bucket while it is processed (one read of
// the source serves both), and the run is recorded VALID only once every
// copy is whole and checked. A copy is write-once (If-None-Match: *): a
// copy left by an earlier attempt at the run is kept if its bytes are the
// same.

// rawCopies copies the shards of one run.
type rawCopies struct {
	b      *store.Bucket
	base   string // URL prefix of b's objects, no trailing "/"
	shards []*shardCopy
}

// shardCopy is the copy of one shard.
type shardCopy struct {
	key string // in the bucket, prefix included
	src report.Shard

	mu   sync.Mutex
	done bool // written whole and checked
	n    int64
	sum  string // sha256 of the bytes, hex
}

// rawArchive returns the bucket, key prefix and URL prefix of the raw
// archive: RawArchive, else the out bucket under store.RawCopyPrefix.
func (p *Processor) rawArchive() (*store.Bucket, string, string) {
	if p.RawArchive != nil {
		base := p.RawArchiveBase
		if base == "" {
			base = ResultsBase(p.RawArchive.URL())
		}
		return p.RawArchive, "", base
	}
	return p.Out, store.RawCopyPrefix, p.ResultsBase
}

// newRawCopies makes the copies of in's shards and returns the shards to
// process in their place: they read the sources and write the copies.
func (p *Processor) newRawCopies(ctx context.Context, in Input) (*rawCopies, []report.Shard) {
	b, prefix, base := p.rawArchive()
	rc := &rawCopies{b: b, base: base}
	shards := make([]report.Shard, len(in.Shards))
	for i, sh := range in.Shards {
		c := &shardCopy{key: prefix + store.RawCopyKey(in.RunID, i, sh.Name), src: sh}
		rc.shards = append(rc.shards, c)
		shards[i] = report.Shard{Name: sh.Name, Open: func() (io.ReadCloser, error) { return c.open(ctx, b) }}
	}
	return rc, shards
}

// open opens the source and starts the copy, which the returned reader
// feeds; the copy is done when the reader reaches the end of the source
// and is closed.
func (c *shardCopy) open(ctx context.Context, b *store.Bucket) (io.ReadCloser, error) {
	if c.isDone() {
		return c.src.Open() // copied already: read the source only
	}
	rc, err := c.src.Open()
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	t := &teeCopy{c: c, b: b, ctx: ctx, rc: rc, pw: pw, h: sha256.New(), written: make(chan error, 1)}
	go func() {
		err := b.Write(ctx, c.key, pr, store.WriteOptions{ContentType: "application/octet-stream", IfNotExist: true})
		// A write that stopped early (no permission, a full disk) fails
		// the reads that feed it.
		pr.CloseWithError(cmpErr(err, errCopyStopped))
		t.written <- err
	}()
	return t, nil
}

var errCopyStopped = errors.New("the copy stopped")

// cmpErr returns err, or alt when err is nil.
func cmpErr(err, alt error) error {
	if err != nil {
		return err
	}
	return alt
}

func (c *shardCopy) isDone() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

// teeCopy passes a source's bytes to the processing and to the copy.
type teeCopy struct {
	c       *shardCopy
	b       *store.Bucket
	ctx     context.Context
	rc      io.ReadCloser
	pw      *io.PipeWriter
	h       hash.Hash
	n       int64
	eof     bool
	failed  bool
	closed  bool
	written chan error
}

func (t *teeCopy) Read(p []byte) (int, error) {
	if t.failed {
		return 0, errCopyStopped
	}
	n, err := t.rc.Read(p)
	if n > 0 {
		t.h.Write(p[:n])
		t.n += int64(n)
		if _, werr := t.pw.Write(p[:n]); werr != nil {
			t.failed = true
			return 0, fmt.Errorf("raw copy %s: %w", t.c.key, werr)
		}
	}
	switch {
	case err == io.EOF:
		t.eof = true
	case err != nil:
		// The source failed (or its bytes are not its feed entry's):
		// the copy must not appear.
		t.failed = true
		t.pw.CloseWithError(err)
	}
	return n, err
}

// Close ends the copy: whole if the source was read to its end, else
// abandoned (nothing is written). It waits for the write.
func (t *teeCopy) Close() error {
	if t.closed {
		return nil
	}
	t.closed = true
	cerr := t.rc.Close()
	if !t.eof || t.failed {
		t.pw.CloseWithError(errCopyStopped)
		<-t.written
		return cerr
	}
	t.pw.Close()
	err := <-t.written
	sum := hex.EncodeToString(t.h.Sum(nil))
	if store.IsExists(err) {
		// An earlier attempt at the run copied the shard: keep it if it
		// is the same bytes.
		err = sameBytes(t.ctx, t.b, t.c.key, t.n, sum)
	}
	if err == nil {
		t.c.mu.Lock()
		t.c.done, t.c.n, t.c.sum = true, t.n, sum
		t.c.mu.Unlock()
	}
	return errors.Join(cerr, err)
}

// ErrRawCopyDiffers marks a copy already in the raw archive whose bytes
// are not the source's (an earlier attempt at the run read other bytes).
var ErrRawCopyDiffers = errors.New("raw copy differs from its source")

// sameBytes checks that the object at key has n bytes with sha256 sum.
func sameBytes(ctx context.Context, b *store.Bucket, key string, n int64, sum string) error {
	r, err := b.NewReader(ctx, key)
	if err != nil {
		return err
	}
	defer r.Close()
	h := sha256.New()
	got, err := io.Copy(h, r)
	if err != nil {
		return fmt.Errorf("raw copy %s: %w", key, err)
	}
	if gotSum := hex.EncodeToString(h.Sum(nil)); got != n || gotSum != sum {
		return fmt.Errorf("raw copy %s: %d bytes with sha256 %s in the archive, %d bytes with sha256 %s read from the source: %w",
			key, got, gotSum, n, sum, ErrRawCopyDiffers)
	}
	return nil
}

// finish completes the copies the processing did not read whole (a second
// read of their sources), checks the size of each copy in the archive, and
// returns the shard listing's entries: the copies, with the names of raw.
func (rc *rawCopies) finish(ctx context.Context, raw []records.RawShard) ([]records.RawShard, error) {
	out := make([]records.RawShard, len(rc.shards))
	for i, c := range rc.shards {
		if !c.isDone() {
			r, err := c.open(ctx, rc.b)
			if err != nil {
				return nil, fmt.Errorf("raw copy of shard %s: %w", c.src.Name, err)
			}
			_, err = io.Copy(io.Discard, r)
			if err = errors.Join(err, r.Close()); err != nil {
				return nil, fmt.Errorf("raw copy of shard %s: %w", c.src.Name, err)
			}
		}
		a, err := rc.b.Attributes(ctx, c.key)
		if err != nil {
			return nil, fmt.Errorf("raw copy of shard %s: %w", c.src.Name, err)
		}
		if a.Size != c.n {
			return nil, fmt.Errorf("raw copy %s: %d bytes in the archive, %d read from the source: %w", c.key, a.Size, c.n, ErrRawCopyDiffers)
		}
		name := c.src.Name
		if i < len(raw) {
			name = raw[i].Name
		}
		out[i] = records.RawShard{Name: name, URL: rc.base + "/" + c.key, Size: c.n, SHA256: c.sum}
	}
	return out, nil
}
