package publisher

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// The scan of a shard for its top-level members, for derive.go: it
// streams the shard's JSON once, tracking only strings and nesting, at
// about 1 GB/s (BenchmarkTopScanner), holding no more of it than the
// members it keeps.

// scanJSON feeds the shard's JSON (gunzipped when it starts with the gzip
// magic bytes; concatenated members are one stream) to ts until the
// top-level object ends. It returns why the JSON could not be read to
// that end, if it could not.
func scanJSON(br *bufio.Reader, ts *topScanner) error {
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("not readable gzip: %w", err)
		}
		r = zr
	}
	buf := make([]byte, 64<<10)
	for ts.state != stDone && ts.err == nil {
		n, err := r.Read(buf)
		ts.write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("not readable gzip: %w", err)
		}
	}
	if ts.err != nil {
		return ts.err
	}
	if ts.state != stDone {
		return errors.New("the JSON ends before its top-level object does")
	}
	return nil
}

// topScanner finds chosen members of a JSON object that it is given in
// pieces (write), without parsing or holding the rest: it tracks strings
// and nesting only, so it does not validate what it skips (the ingester
// does). A chosen member's value is kept (got) once it is complete and no
// larger than maxCapture; a later copy of a member wins.
type topScanner struct {
	want     map[string]bool
	got      map[string][]byte
	tooLarge string // a chosen member larger than maxCapture
	err      error

	state    int
	depth    int  // open objects and arrays within the current value
	inStr    bool // within a string of a nested value
	esc      bool // after a backslash within a string
	key      []byte
	keyEsc   bool
	capture  bool
	captured []byte
}

// States of topScanner.
const (
	stBegin  = iota // before the top-level '{'
	stFirst         // after '{': a key or '}'
	stKey           // in a member's name
	stColon         // after the name
	stValue         // after ':'
	stNested        // in an object or array value
	stString        // in a string value
	stScalar        // in a number or literal value
	stAfter         // after a value: ',' or '}'
	stNext          // after ',': a key
	stDone          // after the top-level '}'
)

// maxKey bounds the names of members the scanner compares.
const maxKey = 64

func newTopScanner(keys ...string) *topScanner {
	ts := &topScanner{want: map[string]bool{}, got: map[string][]byte{}}
	for _, k := range keys {
		ts.want[k] = true
	}
	return ts
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// write scans p, the next bytes of the JSON text.
func (ts *topScanner) write(p []byte) {
	for i := 0; i < len(p) && ts.err == nil && ts.state != stDone; {
		c := p[i]
		switch ts.state {
		case stBegin, stFirst, stColon, stAfter, stNext, stValue:
			if isSpace(c) {
				i++
				continue
			}
			i = ts.structural(p, i)
		case stKey:
			j := i
			for j < len(p) && (ts.esc || p[j] != '"') {
				ts.esc = !ts.esc && p[j] == '\\'
				ts.keyEsc = ts.keyEsc || ts.esc
				j++
			}
			if len(ts.key) <= maxKey {
				ts.key = append(ts.key, p[i:min(j, i+maxKey+1)]...)
			}
			if j < len(p) {
				ts.state = stColon
				j++
			}
			i = j
		case stString:
			j := i
			for j < len(p) {
				if ts.esc {
					ts.esc = false
					j++
					continue
				}
				k := stringStop(p[j:])
				if k < 0 {
					j = len(p)
					break
				}
				j += k
				if p[j] == '\\' {
					ts.esc = true
					j++
					continue
				}
				j++
				ts.state = stAfter
				break
			}
			ts.keep(p[i:j])
			if ts.state == stAfter {
				ts.end()
			}
			i = j
		case stNested:
			j := ts.nested(p, i)
			ts.keep(p[i:j])
			if ts.state == stAfter {
				ts.end()
			}
			i = j
		case stScalar:
			j := i
			for j < len(p) && !isSpace(p[j]) && p[j] != ',' && p[j] != '}' {
				j++
			}
			ts.keep(p[i:j])
			if j < len(p) {
				ts.state = stAfter
				ts.end()
			}
			i = j
		}
	}
}

// structural handles the byte at p[i], which is not white space, in the
// states between values; it returns the index after what it consumed.
func (ts *topScanner) structural(p []byte, i int) int {
	c := p[i]
	fail := func(msg string) int {
		ts.err = errors.New(msg)
		return len(p)
	}
	switch ts.state {
	case stBegin:
		if c != '{' {
			return fail("not a JSON object")
		}
		ts.state = stFirst
	case stFirst, stNext:
		switch {
		case c == '"':
			ts.state, ts.key, ts.keyEsc, ts.esc = stKey, ts.key[:0], false, false
		case c == '}' && ts.state == stFirst:
			ts.state = stDone
		default:
			return fail("not JSON: a member name is expected at top level")
		}
	case stColon:
		if c != ':' {
			return fail("not JSON: ':' is expected after a member name")
		}
		ts.state = stValue
	case stAfter:
		switch c {
		case ',':
			ts.state = stNext
		case '}':
			ts.state = stDone
		default:
			return fail("not JSON: ',' or '}' is expected after a member")
		}
	case stValue:
		ts.begin()
		switch c {
		case '{', '[':
			ts.state, ts.depth, ts.inStr, ts.esc = stNested, 1, false, false
		case '"':
			ts.state, ts.esc = stString, false
		default:
			ts.state = stScalar
			return i // the scalar state reads it
		}
		ts.keep(p[i : i+1])
	}
	return i + 1
}

// nested scans an object or array value from p[i]; it returns where it
// stopped: the end of p, or just after the value's closing bracket (the
// state is then stAfter).
func (ts *topScanner) nested(p []byte, i int) int {
	for i < len(p) {
		if ts.inStr {
			if ts.esc {
				ts.esc = false
				i++
				continue
			}
			k := stringStop(p[i:])
			if k < 0 {
				return len(p)
			}
			i += k
			if p[i] == '\\' {
				ts.esc = true
			} else {
				ts.inStr = false
			}
			i++
			continue
		}
		for i < len(p) && !structuralByte[p[i]] {
			i++
		}
		if i == len(p) {
			return i
		}
		switch p[i] {
		case '"':
			ts.inStr = true
		case '{', '[':
			ts.depth++
		default:
			ts.depth--
			if ts.depth == 0 {
				ts.state = stAfter
				return i + 1
			}
		}
		i++
	}
	return i
}

// structuralByte marks the bytes that matter outside strings in a nested
// value.
var structuralByte = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true}

// stringStop returns the index of the first quote or backslash of p, or
// -1: where a string may end.
func stringStop(p []byte) int {
	q := bytes.IndexByte(p, '"')
	if q < 0 {
		q = len(p)
	}
	if bs := bytes.IndexByte(p[:q], '\\'); bs >= 0 {
		return bs
	}
	if q == len(p) {
		return -1
	}
	return q
}

// begin starts a member's value: kept if the member is chosen.
func (ts *topScanner) begin() {
	key := string(ts.key)
	if ts.keyEsc {
		var s string
		if json.Unmarshal([]byte(`"`+key+`"`), &s) == nil {
			key = s
		}
	}
	ts.capture = len(ts.key) <= maxKey && ts.want[key]
	ts.captured = ts.captured[:0]
	if ts.capture {
		ts.key = append(ts.key[:0], key...)
	}
}

// keep adds bytes of the current value to what is kept of it.
func (ts *topScanner) keep(b []byte) {
	if !ts.capture {
		return
	}
	if len(ts.captured)+len(b) > maxCapture {
		ts.capture, ts.captured, ts.tooLarge = false, nil, string(ts.key)
		return
	}
	ts.captured = append(ts.captured, b...)
}

// end completes the current value.
func (ts *topScanner) end() {
	if ts.capture {
		ts.got[string(ts.key)] = bytes.Clone(ts.captured)
		ts.capture = false
	}
}
