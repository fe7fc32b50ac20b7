package report

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/go-json-experiment/json/jsontext"
)

// Each shard is decoded by two goroutines: the decoder (decode) validates
// the JSON with jsontext, reading each element of "results" as a raw value,
// and passes the values in batches to the extractor (extract), which walks
// them for the few fields the summary needs, checks them, merges them into
// the run and calls Options.Test. jsontext's validation and the walk cost
// about the same, so the split roughly halves the time on two cores.

const (
	batchBytes = 256 << 10
	batchItems = 1024
	batchQueue = 4
)

// item is one result value in a batch.
type item struct {
	lo, hi int        // the value's bytes in batch.buf
	off    int64      // its offset in the shard
	index  int        // its index in "results"
	cur    lineCursor // lines before off
}

type batch struct {
	buf   []byte
	items []item
}

var errStopped = errors.New("report: decoder stopped")

// consume decodes shard idx from ch.
func (p *processor) consume(idx int, ch <-chan chunk) error {
	batches := make(chan *batch, batchQueue)
	free := make(chan *batch, batchQueue+2)
	for range batchQueue + 2 {
		free <- &batch{}
	}
	var stop atomic.Bool
	extracted := make(chan error, 1)
	go func() { extracted <- p.extract(idx, batches, free, &stop) }()
	derr := p.decode(idx, ch, batches, free, &stop)
	if err := <-extracted; err != nil {
		return err
	}
	if derr == nil && p.opts.Result != nil {
		// The end of the shard.
		if err := p.opts.Result(idx, nil); err != nil {
			return fmt.Errorf("report: shard %q: %w", p.shards[idx].Name, err)
		}
	}
	return derr
}

// extract walks the result values of one shard.
func (p *processor) extract(idx int, in <-chan *batch, free chan<- *batch, stop *atomic.Bool) error {
	name := p.shards[idx].Name
	sc := &scanner{maxDepth: p.lim.MaxDepth, maxString: p.lim.MaxString}
	var info resultInfo
	var err error
	for b := range in {
		for i := 0; err == nil && i < len(b.items); i++ {
			it := &b.items[i]
			if err = p.result(idx, name, b.buf[it.lo:it.hi], it, sc, &info); err != nil {
				stop.Store(true)
			}
		}
		b.buf, b.items = b.buf[:0], b.items[:0]
		free <- b
	}
	return err
}

// result checks one result value and adds it to the run.
func (p *processor) result(idx int, name string, v []byte, it *item, sc *scanner, info *resultInfo) error {
	fail := func(code, msg string, pos int) error {
		e := &Error{Code: code, Shard: name, Offset: it.off + int64(pos), Err: errors.New(msg)}
		if info.hasTest {
			e.Test = pyStrip(info.test)
		}
		e.Line, e.Column, _ = it.cur.position(e.Offset, v, it.off)
		return e
	}
	if !sc.result(v, 3, info) {
		return fail(sc.errCode, sc.errMsg, sc.errPos)
	}
	if !info.hasTest {
		return fail(CodeBadTestPath, fmt.Sprintf(`results[%d] has no "test"`, it.index), 0)
	}
	path := pyStrip(info.test)
	if msg := checkPath(path); msg != "" {
		return fail(CodeBadTestPath, msg, info.testPos)
	}
	if !info.hasStatus {
		return fail(CodeWrongType, `result has no "status"`, 0)
	}
	if err := p.register(idx, it.index, path, info, sc.out); err != nil {
		return err
	}
	if p.opts.Result != nil {
		if err := p.opts.Result(idx, sc.out); err != nil {
			return fmt.Errorf("report: shard %q: %w", name, err)
		}
	}
	return nil
}

// shardDecoder is the state of decode.
type shardDecoder struct {
	p    *processor
	name string
	rd   *chunkReader
	dec  *jsontext.Decoder
	cur  lineCursor
	sc   scanner
}

// tokenStart returns the length of the white space and delimiter before the
// next token in b.
func tokenStart(b []byte) int {
	i := skipWS(b, 0)
	if i < len(b) && (b[i] == ',' || b[i] == ':') {
		i = skipWS(b, i+1)
	}
	return i
}

// peek returns the kind of the next token (0 on error) and its offset, and
// accounts for the lines before it.
func (d *shardDecoder) peek() (jsontext.Kind, int64) {
	k := d.dec.PeekKind()
	ub := d.dec.UnreadBuffer()
	n := tokenStart(ub)
	at := d.dec.InputOffset()
	d.cur.feed(ub[:n], at)
	return k, at + int64(n)
}

// position returns the line and column of an offset at or after the last
// token or value read.
func (d *shardDecoder) position(x int64) (int, int) {
	line, col, _ := d.cur.position(x, d.dec.UnreadBuffer(), d.dec.InputOffset())
	return line, col
}

func (d *shardDecoder) errAt(code string, off int64, msg string) *Error {
	e := &Error{Code: code, Shard: d.name, Offset: off, Err: errors.New(msg)}
	e.Line, e.Column = d.position(off)
	return e
}

// readErr reads the next value to get the error behind a PeekKind of 0.
func (d *shardDecoder) readErr() error {
	_, err := d.dec.ReadValue()
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return d.jsonError(err)
}

// jsonError classifies an error from the JSON decoder (which includes the
// producer's errors, delivered through the reader).
func (d *shardDecoder) jsonError(err error) error {
	var src *sourceError
	var fe *formatError
	var tl *valueTooLargeError
	var se *jsontext.SyntacticError
	switch {
	case errors.As(err, &src):
		return fmt.Errorf("report: %s shard %q: %w", src.op, d.name, src.err)
	case errors.As(err, &fe):
		return &Error{Code: fe.code, Shard: d.name, Offset: fe.offset, Err: fe.err}
	case errors.As(err, &tl):
		e := &Error{Code: CodeTooLarge, Shard: d.name, Offset: d.rd.limitFrom, Err: tl}
		e.Line, e.Column = d.position(e.Offset)
		return e
	case errors.Is(err, errAborted):
		return errAborted
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &se):
		e := &Error{Code: CodeNotJSON, Shard: d.name, Offset: se.ByteOffset, Err: err}
		switch {
		case isInvalidUTF8(se):
			e.Code = CodeInvalidUTF8
		case se.Err != nil && se.Err.Error() == "exceeded max depth":
			e.Code = CodeTooDeep
		}
		msg := "invalid JSON"
		if se.Err != nil {
			msg = se.Err.Error()
		}
		if ptr := string(se.JSONPointer); ptr != "" {
			if len(ptr) > 100 {
				ptr = strings.ToValidUTF8(ptr[:100], "") + "…"
			}
			msg += " (at " + strconv.Quote(ptr) + ")"
		}
		e.msg = msg
		e.Line, e.Column = d.position(e.Offset)
		return e
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		off := d.rd.end()
		msg := "unexpected end of JSON input"
		if off == 0 {
			msg = "empty shard"
		}
		e := &Error{Code: CodeNotJSON, Shard: d.name, Offset: off, Err: io.ErrUnexpectedEOF, msg: msg}
		e.Line, e.Column = d.position(off)
		return e
	}
	return &Error{Code: CodeNotJSON, Shard: d.name, Offset: d.dec.InputOffset(), Err: err}
}

// decode validates shard idx and sends its result values to out, which it
// closes.
func (p *processor) decode(idx int, ch <-chan chunk, out chan<- *batch, free chan *batch, stop *atomic.Bool) error {
	d := &shardDecoder{p: p, name: p.shards[idx].Name}
	d.rd = newChunkReader(ch, p.lim.maxValue())
	d.dec = jsontext.NewDecoder(d.rd, jsontext.AllowDuplicateNames(true))
	d.cur.lastNL = -1
	d.sc = scanner{maxDepth: p.lim.MaxDepth, maxString: p.lim.MaxString}
	b := <-free
	defer func() {
		if len(b.items) > 0 {
			out <- b
		} else {
			free <- b
		}
		close(out)
		d.rd.release()
	}()
	sr := &p.res[idx]

	switch k, off := d.peek(); k {
	case '{':
		d.dec.ReadToken()
	case 0:
		return d.readErr()
	default:
		// "this is not JSON" peeks like true: only reading it tells a
		// valid non-object from text that is not JSON at all.
		if _, err := d.dec.ReadValue(); err != nil {
			return d.jsonError(err)
		}
		return d.errAt(CodeNoResults, off, fmt.Sprintf(`top-level value is %s, want an object with "results"`, kindName(byte(k))))
	}
	sawResults := false
	for {
		d.rd.limitFrom = d.dec.InputOffset()
		k, off := d.peek()
		switch k {
		case '}':
			d.dec.ReadToken()
		case 0:
			return d.readErr()
		}
		if k == '}' {
			break
		}
		tok, err := d.dec.ReadToken()
		if err != nil {
			return d.jsonError(err)
		}
		key := tok.String()
		if len(key) > p.lim.MaxString {
			return d.errAt(CodeStringTooLong, off, fmt.Sprintf("object name of %d bytes is longer than %d", len(key), p.lim.MaxString))
		}
		d.rd.limitFrom = d.dec.InputOffset()
		if key == "results" {
			if sawResults {
				return d.errAt(CodeBadResults, off, `"results" appears twice`)
			}
			sawResults = true
			if err := d.results(idx, out, free, &b, stop); err != nil {
				return err
			}
			continue
		}
		k, off = d.peek()
		if k == 0 {
			return d.readErr()
		}
		v, err := d.dec.ReadValue()
		if err != nil {
			return d.jsonError(err)
		}
		if !d.sc.check(v, 1) {
			e := &Error{Code: d.sc.errCode, Shard: d.name, Offset: off + int64(d.sc.errPos), Err: errors.New(d.sc.errMsg)}
			e.Line, e.Column, _ = d.cur.position(e.Offset, v, off)
			return e
		}
		wrong := func(want string) error {
			e := &Error{Code: CodeWrongType, Shard: d.name, Offset: off, Err: fmt.Errorf("%q is %s, want %s", key, kindName(v[0]), want)}
			e.Line, e.Column, _ = d.cur.position(off, v, off)
			return e
		}
		switch key {
		case "run_info":
			if v[0] != '{' {
				return wrong("an object")
			}
			sr.runInfo = parseAny(v).(map[string]any)
		case "time_start", "time_end":
			switch v[0] {
			case 'n':
				d.cur.feed(v, off)
				continue
			case '"', '{', '[', 't', 'f':
				return wrong("a number (milliseconds since the epoch)")
			}
			t, _ := strconv.ParseFloat(string(v), 64)
			if math.IsNaN(t) || t < minMillis || t > maxMillis {
				e := &Error{Code: CodeTimeOutOfRange, Shard: d.name, Offset: off,
					Err: fmt.Errorf("%q is %s ms, want a time from year 1 to 9999 (%d to %d ms since the epoch)", key, v, int64(minMillis), int64(maxMillis))}
				e.Line, e.Column, _ = d.cur.position(off, v, off)
				return e
			}
			if key == "time_start" {
				sr.start, sr.hasStart = t, true
			} else {
				sr.end, sr.hasEnd = t, true
			}
		}
		d.cur.feed(v, off)
	}
	// Only white space may follow; reading to the end also surfaces a late
	// producer error (e.g. a gzip checksum mismatch).
	d.rd.limitFrom = d.dec.InputOffset()
	_, off := d.peek()
	if _, err := d.dec.ReadToken(); err != io.EOF {
		var se *jsontext.SyntacticError
		if err != nil && !errors.As(err, &se) {
			return d.jsonError(err)
		}
		return d.errAt(CodeTrailingData, off, "data after the top-level JSON object")
	}
	if !sawResults {
		return &Error{Code: CodeNoResults, Shard: d.name, Offset: -1, Err: errors.New(`no "results" member`)}
	}
	return nil
}

// results reads the "results" array, batching its elements for extract.
func (d *shardDecoder) results(idx int, out chan<- *batch, free chan *batch, bp **batch, stop *atomic.Bool) error {
	p := d.p
	switch k, off := d.peek(); k {
	case '[':
		d.dec.ReadToken()
	case 0:
		return d.readErr()
	default:
		return d.errAt(CodeBadResults, off, fmt.Sprintf(`"results" is %s, want an array`, kindName(byte(k))))
	}
	if p.lim.MaxDepth < 2 {
		return d.errAt(CodeTooDeep, d.dec.InputOffset()-1, fmt.Sprintf("JSON nesting deeper than %d", p.lim.MaxDepth))
	}
	for n := 0; ; n++ {
		if stop.Load() {
			return errStopped
		}
		if int64(idx) > p.failed.Load() {
			return errAborted
		}
		d.rd.limitFrom = d.dec.InputOffset()
		k, off := d.peek()
		switch k {
		case ']':
			d.dec.ReadToken()
			return nil
		case '{':
		case 0:
			return d.readErr()
		default:
			return d.errAt(CodeBadResults, off, fmt.Sprintf("results[%d] is %s, want an object", n, kindName(byte(k))))
		}
		v, err := d.dec.ReadValue()
		if err != nil {
			return d.jsonError(err)
		}
		b := *bp
		b.items = append(b.items, item{lo: len(b.buf), hi: len(b.buf) + len(v), off: off, index: n, cur: d.cur})
		b.buf = append(b.buf, v...)
		d.cur.feed(v, off)
		if len(b.buf) >= batchBytes || len(b.items) >= batchItems {
			out <- b
			*bp = <-free
		}
	}
}

// minMillis and maxMillis bound time_start and time_end: the first and last
// milliseconds of years 1 and 9999 (UTC), the dates RFC 3339 and
// encoding/json can write.
const (
	minMillis = -62135596800000
	maxMillis = 253402300799999
)
