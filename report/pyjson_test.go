package report

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

// appendPythonJSON appends the JSON value raw re-encoded exactly as wpt.fyi
// writes a per-test result file (write_result_directory: Python's
// json.dump of what json.load returned): ", " and ": " separators; strings
// with every character outside printable ASCII escaped (ensure_ascii);
// integers as their digits ("-0" becomes "0"); other numbers in Python's
// repr form ("1.0", "1e-05", "1e+16", "Infinity" for overflow); an object
// name that repeats keeps its first position and its last value. raw is
// typically what Options.Test receives. It returns an error if raw is not
// valid JSON.
//
// The package does not write per-test files (its callers do, see
// Options.Test); the tests use this to check that what Test receives can be
// written as wpt.fyi writes it.
func appendPythonJSON(dst, raw []byte) ([]byte, error) {
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

func TestAppendPythonJSON(t *testing.T) {
	// want is Python's json.dumps(json.loads(in)).
	tests := []struct{ in, want string }{
		{"0", "0"}, {"-0", "0"}, {"1", "1"}, {"-1", "-1"},
		{"12345678901234567890123", "12345678901234567890123"},
		{"0.0", "0.0"}, {"-0.0", "-0.0"}, {"1.0", "1.0"}, {"1.5", "1.5"},
		{"1e16", "1e+16"}, {"1e15", "1000000000000000.0"}, {"1E5", "100000.0"},
		{"1e-4", "0.0001"}, {"1e-5", "1e-05"}, {"0.1", "0.1"}, {"123.456", "123.456"},
		{"1e400", "Infinity"}, {"-1e400", "-Infinity"}, {"5e-324", "5e-324"},
		{"1.7976931348623157e308", "1.7976931348623157e+308"}, {"2.5e-7", "2.5e-07"},
		{"100.0", "100.0"}, {"1234567890123456789.0", "1.2345678901234568e+18"},
		{"0.30000000000000004", "0.30000000000000004"}, {"12e-1", "1.2"},
		{"9007199254740993", "9007199254740993"}, {"-0.0001", "-0.0001"},
		{`{"b": 1, "a": [true, false, null, {}], "b": 2, "c": {"x": "\u00e9\ud83c\udf1f"}, "e": []}`,
			`{"b": 2, "a": [true, false, null, {}], "c": {"x": "\u00e9\ud83c\udf1f"}, "e": []}`},
		{` { "test" :"/a.html","subtests":[ {"name":"é","status":"PASS","message":null} ] } `,
			`{"test": "/a.html", "subtests": [{"name": "\u00e9", "status": "PASS", "message": null}]}`},
	}
	for _, tt := range tests {
		got, err := appendPythonJSON(nil, []byte(tt.in))
		if err != nil {
			t.Errorf("appendPythonJSON(%s): %v", tt.in, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("appendPythonJSON(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if _, err := appendPythonJSON(nil, []byte(`{"a": }`)); err == nil {
		t.Error("got nil error for invalid JSON")
	}
}

func TestAppendPythonJSON_ManyKeys(t *testing.T) {
	in := `{"k0": 0, "k1": 1, "k2": 2, "k3": 3, "k4": 4, "k5": 5, "k6": 6, "k7": 7, "k8": 8, "k9": 9, "k10": 10, "k11": 11, "k12": 12, "k13": 13, "k14": 14, "k15": 15, "k16": 16, "k17": 17, "k3": 33, "k17": 77}`
	want := `{"k0": 0, "k1": 1, "k2": 2, "k3": 33, "k4": 4, "k5": 5, "k6": 6, "k7": 7, "k8": 8, "k9": 9, "k10": 10, "k11": 11, "k12": 12, "k13": 13, "k14": 14, "k15": 15, "k16": 16, "k17": 77}`
	got, err := appendPythonJSON(nil, []byte(in))
	if err != nil || string(got) != want {
		t.Errorf("got %s, %v; want %s", got, err, want)
	}
}

func TestAppendPythonJSON_Test(t *testing.T) {
	// What wpt.fyi writes for the first test of chrome-basic.json.
	var rec recorder
	mustProcess(t, []Shard{fileShard(t, "../testdata/reports/chrome-basic.json")}, Options{Test: rec.test})
	got, err := appendPythonJSON(nil, rec.last["/css/🌟-star.html"])
	if err != nil {
		t.Fatal(err)
	}
	want := `{"test": "/css/\ud83c\udf1f-star.html", "subtests": [{"name": "1", "status": "PASS"}, {"name": "2", "status": "PASS"}], "status": "OK"}`
	if string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
