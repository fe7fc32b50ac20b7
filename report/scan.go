package report

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"
)

// This file walks JSON values that jsontext has already validated (syntax and
// UTF-8), so it checks structure, types and limits but not grammar. The
// walkers copy what they read into a compact form (insignificant whitespace
// removed, nothing else changed), which is what Options.Test receives.

// isWS reports JSON insignificant whitespace.
func isWS(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// stringEnd returns the index just after the closing quote of the string
// starting at b[i] == '"', and whether the string has escapes. The input is
// valid JSON, so an escape is always complete and the byte after a
// backslash is never the closing quote. It looks at 8 bytes at a time for a
// quote or a backslash.
func stringEnd(b []byte, i int) (int, bool) {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	escaped := false
	j := i + 1
	for {
		for j+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[j:])
			q := x ^ (ones * '"')
			bs := x ^ (ones * '\\')
			// A byte of t has its high bit set where q or bs has a zero byte
			// (the lowest such byte is exact).
			t := ((q-ones)&^q | (bs-ones)&^bs) & highs
			if t != 0 {
				j += bits.TrailingZeros64(t) >> 3
				break
			}
			j += 8
		}
		if j >= len(b) {
			return len(b), escaped
		}
		switch b[j] {
		case '"':
			return j + 1, escaped
		case '\\':
			escaped = true
			j += 2
		default:
			j++
		}
	}
}

// literalEnd returns the end of a number or literal starting at b[i].
func literalEnd(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ':', ' ', '\n', '\r', '\t':
			return i
		}
		i++
	}
	return i
}

// skipValue returns the end of the validated value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		j, _ := stringEnd(b, i)
		return j
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i, _ = stringEnd(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default:
		return literalEnd(b, i)
	}
}

// unquote decodes a validated JSON string token (with its quotes).
func unquote(raw []byte) string {
	if len(raw) < 2 {
		return ""
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	b, err := jsontext.AppendUnquote(nil, raw)
	if err != nil { // cannot happen on validated input
		return string(raw[1 : len(raw)-1])
	}
	return string(b)
}

// walkObject calls fn for each member of a validated object (keys decoded,
// values raw). It does nothing for a non-object.
func walkObject(v []byte, fn func(key string, val []byte)) {
	i := skipWS(v, 0)
	if i >= len(v) || v[i] != '{' {
		return
	}
	i = skipWS(v, i+1)
	for i < len(v) && v[i] == '"' {
		j, _ := stringEnd(v, i)
		key := unquote(v[i:j])
		i = skipWS(v, j) + 1 // ':'
		i = skipWS(v, i)
		e := skipValue(v, i)
		fn(key, v[i:e])
		i = skipWS(v, e)
		if i < len(v) && v[i] == ',' {
			i = skipWS(v, i+1)
		}
	}
}

// walkArray calls fn for each element of a validated array.
func walkArray(v []byte, fn func(elem []byte)) {
	i := skipWS(v, 0)
	if i >= len(v) || v[i] != '[' {
		return
	}
	i = skipWS(v, i+1)
	for i < len(v) && v[i] != ']' {
		e := skipValue(v, i)
		fn(v[i:e])
		i = skipWS(v, e)
		if i < len(v) && v[i] == ',' {
			i = skipWS(v, i+1)
		}
	}
}

// kindName names the JSON type of the value starting with c.
func kindName(c byte) string {
	switch c {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// scanner walks one validated JSON value, copying it compactly into out and
// enforcing MaxDepth and MaxString. On failure it records the position (in
// the input value) and the rejection.
type scanner struct {
	maxDepth  int
	maxString int
	out       []byte

	errPos  int
	errCode string
	errMsg  string
}

func (s *scanner) fail(pos int, code, msg string) bool {
	s.errPos, s.errCode, s.errMsg = pos, code, msg
	return false
}

func (s *scanner) tooDeep(pos int) bool {
	return s.fail(pos, CodeTooDeep, fmt.Sprintf("JSON nesting deeper than %d", s.maxDepth))
}

// str copies the string at b[i].
func (s *scanner) str(b []byte, i int) (int, bool) {
	j, _, ok := s.strEsc(b, i)
	return j, ok
}

// strEsc copies the string at b[i] and reports whether it has escapes.
func (s *scanner) strEsc(b []byte, i int) (int, bool, bool) {
	j, escaped := stringEnd(b, i)
	if j-i-2 > s.maxString {
		return j, escaped, s.fail(i, CodeStringTooLong, fmt.Sprintf("string of %d bytes is longer than %d", j-i-2, s.maxString))
	}
	s.out = append(s.out, b[i:j]...)
	return j, escaped, true
}

// value copies the value at b[i] (no leading whitespace); depth is the depth
// of the container holding it.
func (s *scanner) value(b []byte, i, depth int) (int, bool) {
	switch b[i] {
	case '"':
		return s.str(b, i)
	case '{':
		return s.object(b, i, depth+1)
	case '[':
		return s.array(b, i, depth+1)
	default:
		j := literalEnd(b, i)
		s.out = append(s.out, b[i:j]...)
		return j, true
	}
}

func (s *scanner) object(b []byte, i, depth int) (int, bool) {
	if depth > s.maxDepth {
		return i, s.tooDeep(i)
	}
	s.out = append(s.out, '{')
	i = skipWS(b, i+1)
	if b[i] == '}' {
		s.out = append(s.out, '}')
		return i + 1, true
	}
	var ok bool
	for {
		if i, ok = s.str(b, i); !ok {
			return i, false
		}
		i = skipWS(b, skipWS(b, i)+1)
		s.out = append(s.out, ':')
		if i, ok = s.value(b, i, depth); !ok {
			return i, false
		}
		i = skipWS(b, i)
		if b[i] != ',' {
			s.out = append(s.out, '}')
			return i + 1, true
		}
		s.out = append(s.out, ',')
		i = skipWS(b, i+1)
	}
}

func (s *scanner) array(b []byte, i, depth int) (int, bool) {
	if depth > s.maxDepth {
		return i, s.tooDeep(i)
	}
	s.out = append(s.out, '[')
	i = skipWS(b, i+1)
	if b[i] == ']' {
		s.out = append(s.out, ']')
		return i + 1, true
	}
	var ok bool
	for {
		if i, ok = s.value(b, i, depth); !ok {
			return i, false
		}
		i = skipWS(b, i)
		if b[i] != ',' {
			s.out = append(s.out, ']')
			return i + 1, true
		}
		s.out = append(s.out, ',')
		i = skipWS(b, i+1)
	}
}

// check walks a whole value at depth (the depth of its container) for the
// limits only.
func (s *scanner) check(b []byte, depth int) bool {
	s.out = s.out[:0]
	i := skipWS(b, 0)
	_, ok := s.value(b, i, depth)
	return ok
}

// resultInfo is what Process needs from one result object.
type resultInfo struct {
	test      string // raw "test" value, untrimmed
	hasTest   bool
	testPos   int
	status    string
	hasStatus bool
	statusPos int
	subtests  int
	pass      int
	unknown   map[string]int // unknown subtest statuses and their counts
}

// keyIs compares a raw object key token with name, decoding escapes.
func keyIs(raw []byte, escaped bool, name string) bool {
	if !escaped {
		return string(raw[1:len(raw)-1]) == name
	}
	return unquote(raw) == name
}

// result walks a result object (b starts with '{' after optional
// whitespace) at the given depth, filling info and the compact copy.
func (s *scanner) result(b []byte, depth int, info *resultInfo) bool {
	s.out = s.out[:0]
	*info = resultInfo{}
	i := skipWS(b, 0)
	if depth > s.maxDepth {
		return s.tooDeep(i)
	}
	s.out = append(s.out, '{')
	i = skipWS(b, i+1)
	if b[i] == '}' {
		s.out = append(s.out, '}')
		return true
	}
	var ok bool
	for {
		k := i
		var escaped bool
		if i, escaped, ok = s.strEsc(b, k); !ok {
			return false
		}
		key := b[k:i]
		i = skipWS(b, skipWS(b, i)+1)
		s.out = append(s.out, ':')
		switch {
		case keyIs(key, escaped, "test"):
			if b[i] != '"' {
				return s.fail(i, CodeWrongType, fmt.Sprintf(`"test" is %s, want a string`, kindName(b[i])))
			}
			j := i
			if i, ok = s.str(b, i); !ok {
				return false
			}
			info.test, info.hasTest, info.testPos = unquote(b[j:i]), true, j
		case keyIs(key, escaped, "status"):
			if b[i] != '"' {
				return s.fail(i, CodeWrongType, fmt.Sprintf(`"status" is %s, want a string`, kindName(b[i])))
			}
			j := i
			if i, ok = s.str(b, i); !ok {
				return false
			}
			info.status, info.hasStatus, info.statusPos = internStatus(b[j:i]), true, j
		case keyIs(key, escaped, "subtests"):
			if b[i] != '[' {
				return s.fail(i, CodeWrongType, fmt.Sprintf(`"subtests" is %s, want an array`, kindName(b[i])))
			}
			if i, ok = s.subtests(b, i, depth+1, info); !ok {
				return false
			}
		default:
			if i, ok = s.value(b, i, depth); !ok {
				return false
			}
		}
		i = skipWS(b, i)
		if b[i] != ',' {
			s.out = append(s.out, '}')
			return true
		}
		s.out = append(s.out, ',')
		i = skipWS(b, i+1)
	}
}

func (s *scanner) subtests(b []byte, i, depth int, info *resultInfo) (int, bool) {
	// A repeated "subtests" member replaces the earlier one, as in Python.
	info.subtests, info.pass, info.unknown = 0, 0, nil
	if depth > s.maxDepth {
		return i, s.tooDeep(i)
	}
	s.out = append(s.out, '[')
	i = skipWS(b, i+1)
	if b[i] == ']' {
		s.out = append(s.out, ']')
		return i + 1, true
	}
	var ok bool
	for n := 0; ; n++ {
		if b[i] != '{' {
			return i, s.fail(i, CodeWrongType, fmt.Sprintf("subtest %d is %s, want an object", n, kindName(b[i])))
		}
		if i, ok = s.subtest(b, i, depth+1, info, n); !ok {
			return i, false
		}
		i = skipWS(b, i)
		if b[i] != ',' {
			s.out = append(s.out, ']')
			return i + 1, true
		}
		s.out = append(s.out, ',')
		i = skipWS(b, i+1)
	}
}

func (s *scanner) subtest(b []byte, i, depth int, info *resultInfo, n int) (int, bool) {
	start := i
	if depth > s.maxDepth {
		return i, s.tooDeep(i)
	}
	s.out = append(s.out, '{')
	i = skipWS(b, i+1)
	var status []byte
	var statusEscaped bool
	if b[i] != '}' {
		var ok bool
		for {
			k := i
			var escaped bool
			if i, escaped, ok = s.strEsc(b, k); !ok {
				return i, false
			}
			key := b[k:i]
			i = skipWS(b, skipWS(b, i)+1)
			s.out = append(s.out, ':')
			if keyIs(key, escaped, "status") {
				if b[i] != '"' {
					return i, s.fail(i, CodeWrongType, fmt.Sprintf(`subtest %d: "status" is %s, want a string`, n, kindName(b[i])))
				}
				j := i
				if i, statusEscaped, ok = s.strEsc(b, i); !ok {
					return i, false
				}
				status = b[j:i]
			} else if i, ok = s.value(b, i, depth); !ok {
				return i, false
			}
			i = skipWS(b, i)
			if b[i] != ',' {
				break
			}
			s.out = append(s.out, ',')
			i = skipWS(b, i+1)
		}
	}
	s.out = append(s.out, '}')
	if status == nil {
		return i, s.fail(start, CodeWrongType, fmt.Sprintf(`subtest %d has no "status"`, n))
	}
	info.subtests++
	raw := status[1 : len(status)-1]
	if statusEscaped {
		raw = []byte(unquote(status))
	}
	switch string(raw) {
	case StatusPass:
		info.pass++
	case StatusFail, StatusError, StatusTimeout, StatusAssert, StatusPreconditionFailed, StatusNotRun, StatusSkip:
	default:
		if info.unknown == nil {
			info.unknown = make(map[string]int)
		}
		info.unknown[string(raw)]++
	}
	return i + 1, true
}

// internStatus decodes a status token, avoiding an allocation for the known
// statuses.
func internStatus(tok []byte) string {
	raw := tok[1 : len(tok)-1]
	switch string(raw) {
	case StatusPass:
		return StatusPass
	case StatusFail:
		return StatusFail
	case StatusOK:
		return StatusOK
	case StatusError:
		return StatusError
	case StatusTimeout:
		return StatusTimeout
	case StatusCrash:
		return StatusCrash
	case StatusAssert:
		return StatusAssert
	case StatusPreconditionFailed:
		return StatusPreconditionFailed
	case StatusSkip:
		return StatusSkip
	case StatusNotRun:
		return StatusNotRun
	case "":
		return ""
	}
	return unquote(tok)
}

// parseAny decodes a validated JSON value into Go values: map[string]any,
// []any, string, float64, bool and nil. Repeated object keys: the last wins.
func parseAny(b []byte) any {
	v, _ := parseAnyAt(b, skipWS(b, 0))
	return v
}

func parseAnyAt(b []byte, i int) (any, int) {
	switch b[i] {
	case '"':
		j, _ := stringEnd(b, i)
		return unquote(b[i:j]), j
	case '{':
		m := make(map[string]any)
		i = skipWS(b, i+1)
		for b[i] == '"' {
			j, _ := stringEnd(b, i)
			key := unquote(b[i:j])
			i = skipWS(b, skipWS(b, j)+1)
			var v any
			v, i = parseAnyAt(b, i)
			m[key] = v
			i = skipWS(b, i)
			if b[i] == ',' {
				i = skipWS(b, i+1)
			}
		}
		return m, i + 1
	case '[':
		a := []any{}
		i = skipWS(b, i+1)
		for b[i] != ']' {
			var v any
			v, i = parseAnyAt(b, i)
			a = append(a, v)
			i = skipWS(b, i)
			if b[i] == ',' {
				i = skipWS(b, i+1)
			}
		}
		return a, i + 1
	case 't':
		return true, i + 4
	case 'f':
		return false, i + 5
	case 'n':
		return nil, i + 4
	default:
		j := literalEnd(b, i)
		f, _ := strconv.ParseFloat(string(b[i:j]), 64) // ±Inf for huge numbers, as Python's float()
		return f, j
	}
}
