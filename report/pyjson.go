package report

import (
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// AppendPythonJSON appends the JSON value raw re-encoded exactly as wpt.fyi
// writes a per-test result file (write_result_directory: Python's
// json.dump of what json.load returned): ", " and ": " separators; strings
// with every character outside printable ASCII escaped (ensure_ascii);
// integers as their digits ("-0" becomes "0"); other numbers in Python's
// repr form ("1.0", "1e-05", "1e+16", "Infinity" for overflow); an object
// name that repeats keeps its first position and its last value. raw is
// typically what Options.Test receives. It returns an error if raw is not
// valid JSON.
func AppendPythonJSON(dst, raw []byte) ([]byte, error) {
	v := jsontext.Value(raw)
	if !v.IsValid(jsontext.AllowDuplicateNames(true)) {
		return dst, errors.New("report: encode per-test JSON: invalid JSON value")
	}
	out, _ := appendPyValue(dst, raw, skipWS(raw, 0))
	return out, nil
}

// appendPyValue encodes the validated value at b[i] and returns the index
// after it.
func appendPyValue(dst, b []byte, i int) ([]byte, int) {
	switch b[i] {
	case '"':
		j, _ := stringEnd(b, i)
		return appendPyString(dst, unquote(b[i:j])), j
	case '{':
		type member struct {
			key string
			val []byte
		}
		var members []member
		var index map[string]int
		i = skipWS(b, i+1)
		for b[i] == '"' {
			j, _ := stringEnd(b, i)
			key := unquote(b[i:j])
			i = skipWS(b, skipWS(b, j)+1)
			e := skipValue(b, i)
			val := b[i:e]
			k := -1
			if index != nil {
				if x, ok := index[key]; ok {
					k = x
				}
			} else {
				for x := range members {
					if members[x].key == key {
						k = x
						break
					}
				}
			}
			if k >= 0 {
				members[k].val = val
			} else {
				members = append(members, member{key, val})
				if index != nil {
					index[key] = len(members) - 1
				} else if len(members) > 16 {
					index = make(map[string]int, 2*len(members))
					for x, m := range members {
						index[m.key] = x
					}
				}
			}
			i = skipWS(b, e)
			if b[i] == ',' {
				i = skipWS(b, i+1)
			}
		}
		dst = append(dst, '{')
		for x, m := range members {
			if x > 0 {
				dst = append(dst, ", "...)
			}
			dst = appendPyString(dst, m.key)
			dst = append(dst, ": "...)
			dst, _ = appendPyValue(dst, m.val, 0)
		}
		return append(dst, '}'), i + 1
	case '[':
		dst = append(dst, '[')
		i = skipWS(b, i+1)
		for n := 0; b[i] != ']'; n++ {
			if n > 0 {
				dst = append(dst, ", "...)
			}
			dst, i = appendPyValue(dst, b, i)
			i = skipWS(b, i)
			if b[i] == ',' {
				i = skipWS(b, i+1)
			}
		}
		return append(dst, ']'), i + 1
	case 't', 'f', 'n':
		j := literalEnd(b, i)
		return append(dst, b[i:j]...), j
	default:
		j := literalEnd(b, i)
		return appendPyNumber(dst, string(b[i:j])), j
	}
}

// appendPyNumber writes a JSON number as Python prints int(s) or float(s).
func appendPyNumber(dst []byte, s string) []byte {
	if !strings.ContainsAny(s, ".eE") {
		if strings.Trim(s, "-0") == "" {
			return append(dst, '0')
		}
		return append(dst, s...)
	}
	f, _ := strconv.ParseFloat(s, 64)
	return appendPyFloat(dst, f)
}

// appendPyFloat writes f as Python's repr(float) does: the shortest digits
// that round-trip, in fixed notation with at least one decimal when the
// decimal exponent is in [-4, 16), otherwise as d.ddde±XX.
func appendPyFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	}
	if math.Signbit(f) {
		dst = append(dst, '-')
		f = -f
	}
	if f == 0 {
		return append(dst, "0.0"...)
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	decpt := x + 1 // digits are 0.d1d2… × 10^decpt
	if decpt <= -4 || decpt > 16 {
		dst = append(dst, digits[0])
		if len(digits) > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'e')
		if x < 0 {
			dst = append(dst, '-')
			x = -x
		} else {
			dst = append(dst, '+')
		}
		if x < 10 {
			dst = append(dst, '0')
		}
		return strconv.AppendInt(dst, int64(x), 10)
	}
	switch {
	case decpt <= 0:
		dst = append(dst, "0."...)
		dst = append(dst, strings.Repeat("0", -decpt)...)
		return append(dst, digits...)
	case decpt < len(digits):
		dst = append(dst, digits[:decpt]...)
		dst = append(dst, '.')
		return append(dst, digits[decpt:]...)
	default:
		dst = append(dst, digits...)
		dst = append(dst, strings.Repeat("0", decpt-len(digits))...)
		return append(dst, ".0"...)
	}
}
