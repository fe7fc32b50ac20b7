package report

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// Statuses of wptreport results (wptrunner's "test" and "subtest" statuses).
const (
	StatusPass               = "PASS"
	StatusFail               = "FAIL"
	StatusOK                 = "OK"
	StatusError              = "ERROR"
	StatusTimeout            = "TIMEOUT"
	StatusCrash              = "CRASH"
	StatusAssert             = "ASSERT"
	StatusPreconditionFailed = "PRECONDITION_FAILED"
	StatusSkip               = "SKIP"
	StatusNotRun             = "NOTRUN"
)

// TestStatuses returns the known statuses of a test (a result's "status").
func TestStatuses() []string {
	return []string{StatusPass, StatusFail, StatusOK, StatusError, StatusTimeout,
		StatusCrash, StatusAssert, StatusPreconditionFailed, StatusSkip}
}

// SubtestStatuses returns the known statuses of a subtest.
func SubtestStatuses() []string {
	return []string{StatusPass, StatusFail, StatusError, StatusTimeout,
		StatusAssert, StatusPreconditionFailed, StatusNotRun, StatusSkip}
}

// IsTestStatus reports whether s is a known test status.
func IsTestStatus(s string) bool {
	switch s {
	case StatusPass, StatusFail, StatusOK, StatusError, StatusTimeout,
		StatusCrash, StatusAssert, StatusPreconditionFailed, StatusSkip:
		return true
	}
	return false
}

// IsSubtestStatus reports whether s is a known subtest status.
func IsSubtestStatus(s string) bool {
	switch s {
	case StatusPass, StatusFail, StatusError, StatusTimeout,
		StatusAssert, StatusPreconditionFailed, StatusNotRun, StatusSkip:
		return true
	}
	return false
}

// StatusAbbrev returns the summary_v2 abbreviation of a status, as wpt.fyi
// writes it in "s": PASS P, OK O, FAIL F, SKIP S, ERROR E, NOTRUN N,
// CRASH C, TIMEOUT T, PRECONDITION_FAILED PF. Any other status (ASSERT, an
// unknown one, "") is returned verbatim.
func StatusAbbrev(status string) string {
	switch status {
	case StatusPass:
		return "P"
	case StatusOK:
		return "O"
	case StatusFail:
		return "F"
	case StatusSkip:
		return "S"
	case StatusError:
		return "E"
	case StatusNotRun:
		return "N"
	case StatusCrash:
		return "C"
	case StatusTimeout:
		return "T"
	case StatusPreconditionFailed:
		return "PF"
	}
	return status
}

// Counts are a test's subtest counts: [passing subtests, subtests]. Only
// subtests with status PASS count as passing, as in wpt.fyi; the test's own
// status is not counted (that was summary v1).
type Counts struct{ Pass, Total int }

// TestSummary is one test's entry in summary_v2.
type TestSummary struct {
	Status string // abbreviation, e.g. "P", "PF", or the verbatim unknown status
	Counts Counts // subtests only
}

// Summary is summary_v2 in merged-report order: the order in which test
// paths first appear in the shards, taken in order.
type Summary struct {
	paths []string
	tests []TestSummary

	// index maps paths to positions. Process leaves it nil (a run's paths
	// are unique) and Get builds it on first use: it would cost about as
	// much memory as the rest of the summary.
	indexOnce sync.Once
	index     map[string]int
}

// newSummary returns an empty summary with room for n tests.
func newSummary(n int) *Summary {
	return &Summary{
		paths: make([]string, 0, n),
		tests: make([]TestSummary, 0, n),
	}
}

// add appends a test, or replaces it in place if the path is present. It
// keeps the index, and is for building a summary from input that may
// repeat paths.
func (s *Summary) add(path string, ts TestSummary) {
	if s.index == nil {
		s.index = make(map[string]int)
	}
	if i, ok := s.index[path]; ok {
		s.tests[i] = ts
		return
	}
	s.index[path] = len(s.paths)
	s.paths = append(s.paths, path)
	s.tests = append(s.tests, ts)
}

// appendNew appends a test whose path is not in s (not checked).
func (s *Summary) appendNew(path string, ts TestSummary) {
	s.paths = append(s.paths, path)
	s.tests = append(s.tests, ts)
}

// Len returns the number of tests.
func (s *Summary) Len() int {
	if s == nil {
		return 0
	}
	return len(s.paths)
}

// Get returns the entry of a test path.
func (s *Summary) Get(path string) (TestSummary, bool) {
	if s == nil {
		return TestSummary{}, false
	}
	s.indexOnce.Do(func() {
		if s.index == nil {
			s.index = make(map[string]int, len(s.paths))
			for i, p := range s.paths {
				s.index[p] = i
			}
		}
	})
	i, ok := s.index[path]
	if !ok {
		return TestSummary{}, false
	}
	return s.tests[i], true
}

// Paths returns the test paths in merged-report order.
func (s *Summary) Paths() []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s.paths...)
}

// WriteJSON writes the summary as wpt.fyi's results processor does before
// gzipping it (Python's json.dump with default settings): the bytes
//
//	{"/a.html": {"s": "O", "c": [1, 2]}, "/b.html": {"s": "P", "c": [0, 0]}}
//
// with ", " and ": " separators, keys in merged-report order, no trailing
// newline, and every character outside printable ASCII escaped as \uXXXX
// (lower-case hex, surrogate pairs above U+FFFF; ensure_ascii). An empty
// summary is {}. It returns the first write error.
func (s *Summary) WriteJSON(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var buf []byte
	buf = append(buf, '{')
	for i := range s.Len() {
		if i > 0 {
			buf = append(buf, ", "...)
		}
		t := s.tests[i]
		buf = appendPyString(buf, s.paths[i])
		buf = append(buf, `: {"s": `...)
		buf = appendPyString(buf, t.Status)
		buf = append(buf, `, "c": [`...)
		buf = strconv.AppendInt(buf, int64(t.Counts.Pass), 10)
		buf = append(buf, ", "...)
		buf = strconv.AppendInt(buf, int64(t.Counts.Total), 10)
		buf = append(buf, "]}"...)
		if len(buf) >= 32<<10 {
			if _, err := bw.Write(buf); err != nil {
				return fmt.Errorf("report: write summary: %w", err)
			}
			buf = buf[:0]
		}
	}
	buf = append(buf, '}')
	if _, err := bw.Write(buf); err != nil {
		return fmt.Errorf("report: write summary: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("report: write summary: %w", err)
	}
	return nil
}

// ReadSummary parses a summary_v2 JSON document (uncompressed), keeping its
// order. It accepts any JSON formatting. Errors are *Error with CodeNotJSON,
// CodeInvalidUTF8 or CodeWrongType, or a wrapped read error.
func ReadSummary(r io.Reader) (*Summary, error) {
	dec := jsontext.NewDecoder(r)
	s := newSummary(0)
	fail := func(err error) (*Summary, error) {
		var se *jsontext.SyntacticError
		if errors.As(err, &se) {
			e := &Error{Code: CodeNotJSON, Offset: se.ByteOffset, Err: err}
			if isInvalidUTF8(se) {
				e.Code = CodeInvalidUTF8
			}
			return nil, e
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &Error{Code: CodeNotJSON, Offset: dec.InputOffset(), Err: err}
		}
		if errors.Is(err, io.EOF) {
			return nil, &Error{Code: CodeNotJSON, Offset: 0, Err: errors.New("empty input")}
		}
		return nil, fmt.Errorf("report: read summary: %w", err)
	}
	wrong := func(msg string) (*Summary, error) {
		return nil, &Error{Code: CodeWrongType, Offset: dec.InputOffset(), Err: errors.New(msg)}
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return fail(err)
	}
	if tok.Kind() != '{' {
		return wrong("summary is not an object")
	}
	for dec.PeekKind() == '"' {
		name, err := dec.ReadToken()
		if err != nil {
			return fail(err)
		}
		path := name.String()
		v, err := dec.ReadValue()
		if err != nil {
			return fail(err)
		}
		ts, ok := parseSummaryEntry(v)
		if !ok {
			return wrong(fmt.Sprintf("entry %q is not {\"s\": string, \"c\": [int, int]}", path))
		}
		s.add(path, ts)
	}
	if _, err := dec.ReadToken(); err != nil {
		return fail(err)
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		if err == nil {
			err = errors.New("trailing data after summary")
		}
		return nil, &Error{Code: CodeTrailingData, Offset: dec.InputOffset(), Err: err}
	}
	return s, nil
}

func parseSummaryEntry(v jsontext.Value) (TestSummary, bool) {
	var ts TestSummary
	var gotS, gotC bool
	ok := true
	walkObject(v, func(key string, val []byte) {
		switch key {
		case "s":
			if len(val) == 0 || val[0] != '"' {
				ok = false
				return
			}
			ts.Status = unquote(val)
			gotS = true
		case "c":
			var n []int
			walkArray(val, func(elem []byte) {
				i, err := strconv.Atoi(string(elem))
				if err != nil {
					ok = false
				}
				n = append(n, i)
			})
			if len(n) != 2 {
				ok = false
				return
			}
			ts.Counts = Counts{Pass: n[0], Total: n[1]}
			gotC = true
		}
	})
	return ts, ok && gotS && gotC
}

// appendPyString appends s as Python's json.dumps(ensure_ascii=True) writes
// a str. s must be valid UTF-8 (invalid bytes are written as \ufffd).
func appendPyString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		if c < utf8.RuneSelf {
			switch c {
			case '"':
				dst = append(dst, `\"`...)
			case '\\':
				dst = append(dst, `\\`...)
			case '\n':
				dst = append(dst, `\n`...)
			case '\r':
				dst = append(dst, `\r`...)
			case '\t':
				dst = append(dst, `\t`...)
			case '\b':
				dst = append(dst, `\b`...)
			case '\f':
				dst = append(dst, `\f`...)
			default: // other C0 controls and DEL
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			dst = appendU(dst, r1)
			dst = appendU(dst, r2)
		} else {
			dst = appendU(dst, r)
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendU(dst []byte, r rune) []byte {
	const hex = "0123456789abcdef"
	return append(dst, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
}
