package report

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
)

// The byte pipeline of one shard: a producer goroutine opens the shard,
// gunzips it if it starts with the gzip magic bytes, enforces MaxBytes and
// MaxRatio while streaming, feeds the run's SHA-1 and hands the
// decompressed bytes, in chunks, to the shard's JSON consumer through a
// bounded channel. Shards are produced one after another by the same
// goroutine, so the SHA-1 sees them in order; their consumers run
// concurrently with the producer (and with each other).

const (
	chunkSize  = 128 << 10
	chunkQueue = 16 // chunks in flight per shard: 2 MiB
)

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

type chunk struct {
	buf *[]byte
	n   int
	err error // terminal error from the producer (never io.EOF)
}

// sourceError marks an error returned by the shard's own reader (Open or
// Read): a transient I/O failure, not a format problem.
type sourceError struct {
	op  string
	err error
}

func (e *sourceError) Error() string { return e.op + ": " + e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// formatError is a rejection found by the producer (gzip, size, ratio).
type formatError struct {
	code   string
	offset int64 // decompressed bytes produced when it was found
	err    error
}

func (e *formatError) Error() string { return e.err.Error() }
func (e *formatError) Unwrap() error { return e.err }

// countingReader counts the raw (compressed) bytes read and marks read
// errors as sourceErrors.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		err = &sourceError{op: "read", err: err}
	}
	return n, err
}

// produce streams one shard into ch (closing it) and into h. It returns
// the error it also sent, or nil.
func produce(ctx context.Context, sh Shard, lim Limits, h hash.Hash, ch chan<- chunk) (err error) {
	defer func() {
		if err != nil {
			select {
			case ch <- chunk{err: err}:
			case <-ctx.Done():
			}
		}
		close(ch)
	}()
	if sh.Open == nil {
		return &sourceError{op: "open", err: errors.New("shard has no Open function")}
	}
	rc, err := sh.Open()
	if err == nil && rc == nil {
		err = errors.New("shard's Open function returned no reader")
	}
	if err != nil {
		return &sourceError{op: "open", err: err}
	}
	defer rc.Close()
	cr := &countingReader{r: rc}
	br := bufio.NewReaderSize(cr, 64<<10)
	var src io.Reader = br
	magic, _ := br.Peek(2)
	gz := len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b
	if gz {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return gzipError(err, 0)
		}
		src = zr
	} else if _, err := br.Peek(1); err != nil && err != io.EOF {
		return err
	}
	var total int64
	for {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		bp := chunkPool.Get().(*[]byte)
		buf := *bp
		n := 0
		var rerr error
		for n < len(buf) && rerr == nil {
			var m int
			m, rerr = src.Read(buf[n:])
			n += m
		}
		if n > 0 {
			total += int64(n)
			if total > lim.MaxBytes {
				chunkPool.Put(bp)
				return &formatError{code: CodeTooLarge, offset: lim.MaxBytes,
					err: fmt.Errorf("decompressed shard is larger than %d bytes", lim.MaxBytes)}
			}
			// Compressed bytes consumed so far: read, less bufio's read-ahead.
			if in := max(cr.n-int64(br.Buffered()), 1); gz && total > RatioSlack && float64(total) > lim.MaxRatio*float64(in) {
				chunkPool.Put(bp)
				return &formatError{code: CodeGzipRatio, offset: total,
					err: fmt.Errorf("gzip expands more than %g:1 (%d bytes from %d)", lim.MaxRatio, total, in)}
			}
			h.Write(buf[:n])
			select {
			case ch <- chunk{buf: bp, n: n}:
			case <-ctx.Done():
				chunkPool.Put(bp)
				return context.Cause(ctx)
			}
		} else {
			chunkPool.Put(bp)
		}
		switch {
		case rerr == nil:
		case rerr == io.EOF:
			return nil
		case gz:
			return gzipError(rerr, total)
		default:
			return rerr
		}
	}
}

// gzipError classifies an error from the gzip reader.
func gzipError(err error, offset int64) error {
	var se *sourceError
	if errors.As(err, &se) {
		return se
	}
	var ce flate.CorruptInputError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &formatError{code: CodeBadGzip, offset: offset, err: errors.New("truncated gzip stream")}
	case errors.Is(err, gzip.ErrHeader):
		return &formatError{code: CodeBadGzip, offset: offset, err: errors.New("invalid gzip header (or garbage after the last gzip member)")}
	case errors.Is(err, gzip.ErrChecksum):
		return &formatError{code: CodeBadGzip, offset: offset, err: errors.New("gzip checksum or length mismatch")}
	case errors.As(err, &ce):
		return &formatError{code: CodeBadGzip, offset: offset, err: fmt.Errorf("corrupt deflate data: %w", err)}
	}
	return &formatError{code: CodeBadGzip, offset: offset, err: fmt.Errorf("gzip: %w", err)}
}

// errValueTooLarge is returned by chunkReader when one JSON value would
// need more than the value limit to be buffered.
type valueTooLargeError struct{ limit int64 }

func (e *valueTooLargeError) Error() string {
	return fmt.Sprintf("a single JSON value (or the whitespace before it) is larger than %d bytes", e.limit)
}

// chunkReader is the io.Reader the JSON decoder reads: it yields the chunks
// of one shard and refuses to deliver more than limit bytes past limitFrom
// (the start of the value being decoded).
type chunkReader struct {
	ch  <-chan chunk
	cur []byte
	buf *[]byte // pool buffer behind cur
	off int64   // bytes delivered
	err error

	limitFrom, limit int64
}

func newChunkReader(ch <-chan chunk, limit int64) *chunkReader {
	return &chunkReader{ch: ch, limit: limit}
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.off-r.limitFrom >= r.limit {
		return 0, &valueTooLargeError{limit: r.limit}
	}
	for len(r.cur) == 0 {
		if r.buf != nil {
			chunkPool.Put(r.buf)
			r.buf = nil
		}
		if r.err != nil {
			return 0, r.err
		}
		c, ok := <-r.ch
		switch {
		case !ok:
			r.err = io.EOF
		case c.err != nil:
			r.err = c.err
		default:
			r.buf, r.cur = c.buf, (*c.buf)[:c.n]
		}
	}
	n := copy(p, r.cur)
	if rest := r.limitFrom + r.limit - r.off; int64(n) > rest {
		n = int(rest)
	}
	r.cur = r.cur[n:]
	r.off += int64(n)
	return n, nil
}

// release returns the current chunk to the pool.
func (r *chunkReader) release() {
	if r.buf != nil {
		chunkPool.Put(r.buf)
		r.buf, r.cur = nil, nil
	}
}

// end is the offset just past the data received so far.
func (r *chunkReader) end() int64 { return r.off + int64(len(r.cur)) }

// lineCursor counts lines up to an offset of the decompressed stream. It is
// fed the bytes the decoder consumes, in order; the bytes it skips must hold
// no newline. That holds because a JSON newline can only be white space
// (strings cannot contain a raw newline): the decoder's white space and the
// values read whole are fed, while tokens read one by one (object names,
// brackets, literals) are skipped.
type lineCursor struct {
	off    int64 // bytes accounted for
	lines  int   // newlines before off
	lastNL int64 // offset of the last newline before off, -1 if none
}

// feed accounts for data, which starts at offset at (>= the part already
// accounted for is used; a gap before at is newline-free by contract).
func (c *lineCursor) feed(data []byte, at int64) {
	if skip := c.off - at; skip > 0 {
		if skip >= int64(len(data)) {
			return
		}
		data, at = data[skip:], c.off
	}
	if n := bytes.Count(data, nl); n > 0 {
		c.lines += n
		c.lastNL = at + int64(bytes.LastIndexByte(data, '\n'))
	}
	c.off = at + int64(len(data))
}

var nl = []byte{'\n'}

// position returns the 1-based line and column (in bytes) of offset x,
// given data that starts at offset at and covers [c.off, x). ok is false
// when data does not reach back to c.off or forward to x.
func (c lineCursor) position(x int64, data []byte, at int64) (line, col int, ok bool) {
	if x < c.off {
		return 0, 0, false
	}
	if x > c.off && at > c.off {
		c.off = at // the gap is newline-free
	}
	lo, hi := c.off-at, x-at
	if lo < 0 || hi < lo || hi > int64(len(data)) {
		if x == c.off {
			return c.lines + 1, int(x - c.lastNL), true
		}
		return 0, 0, false
	}
	c.feed(data[lo:hi], c.off)
	return c.lines + 1, int(x - c.lastNL), true
}
