package report

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/wptfeed/wptfeed/internal/testutil"
)

var codes = []string{CodeNotJSON, CodeInvalidUTF8, CodeBadGzip, CodeTrailingData, CodeNoResults, CodeBadResults,
	CodeBadTestPath, CodeWrongType, CodeTimeOutOfRange, CodeConflictingRunInfo, CodeMissingMetadata, CodeBadRevision,
	CodeDuplicateTest, CodeTooLarge, CodeGzipRatio, CodeTooDeep, CodeStringTooLong}

// fuzzSeeds are the reports of ../testdata/reports and ../testdata/wptfyi.
func fuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	for _, pattern := range []string{"../testdata/reports/*.json", "../testdata/reports/*.json.gz", "../testdata/wptfyi/*wptreport.json"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			seeds = append(seeds, mustRead(f, file))
		}
	}
	seeds = append(seeds,
		[]byte(`{"results": []}`),
		[]byte(`{"results": [{"test": "/a", "status": "OK", "subtests": [{"status": "PASS"}]}], "results2": 1}`),
		[]byte(`{"results": [{"test": "/a", "status": ""}, {"test": "/a", "status": "PASS"}]}`),
		[]byte(`{"run_info": {"product": "edgechromium", "browser_channel": "dev"}, "time_start": 1.5, "results": []}`))
	return seeds
}

// fuzzOptions make any report with valid structure pass the metadata checks
// and keep the limits small.
func fuzzOptions() Options {
	return Options{
		Limits:    Limits{MaxBytes: 4 << 20, MaxDepth: 32, MaxString: 1 << 16},
		Overrides: Metadata{Product: "chrome", BrowserVersion: "1", OS: "linux", Revision: strings.Repeat("a", 40)},
	}
}

// checkRejection checks the invariants of an error from Process over
// in-memory shards: always an *Error with a known code and a one-line
// message.
func checkRejection(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v (%T), want *Error", err, err)
	}
	if !slices.Contains(codes, e.Code) {
		t.Fatalf("got unknown code %q", e.Code)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "report: ") || strings.ContainsAny(msg, "\n\r") {
		t.Fatalf("bad message %q", msg)
	}
	if e.Line < 0 || e.Column < 0 || e.Line > 0 && e.Column < 1 {
		t.Fatalf("bad position line %d column %d", e.Line, e.Column)
	}
}

// checkResult checks the invariants of a Result.
func checkResult(t *testing.T, r *Result) {
	t.Helper()
	if r.Tests != r.Summary.Len() || r.Empty() != (r.Tests == 0) {
		t.Fatalf("got %d tests and a summary of %d", r.Tests, r.Summary.Len())
	}
	var buf bytes.Buffer
	if err := r.Summary.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	for _, c := range buf.Bytes() {
		if c < 0x20 || c >= 0x7f {
			t.Fatalf("summary has byte %#x, want printable ASCII", c)
		}
	}
	back, err := ReadSummary(&buf)
	if err != nil {
		t.Fatalf("summary does not read back: %v", err)
	}
	if !reflect.DeepEqual(back.paths, r.Summary.paths) || !reflect.DeepEqual(back.tests, r.Summary.tests) {
		t.Fatal("summary does not round-trip")
	}
	if !slices.IsSorted(r.Labels) || len(slices.Compact(slices.Clone(r.Labels))) != len(r.Labels) {
		t.Fatalf("labels %q not sorted and unique", r.Labels)
	}
	if len(r.Hash) != 40 || !isHex40(r.Hash) {
		t.Fatalf("bad hash %q", r.Hash)
	}
	for _, c := range r.ProductID() {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			t.Fatalf("product ID %q has %q", r.ProductID(), c)
		}
	}
}

func decompressed(data []byte) []byte {
	if len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
		return data
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil
	}
	b, _ := io.ReadAll(zr)
	return b
}

// FuzzDecode feeds one shard to Process, with a Test callback.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var rec recorder
		opts := fuzzOptions()
		opts.Test = rec.test
		r, err := Process(context.Background(), []Shard{bytesShard("fuzz", data)}, opts)
		if err != nil {
			checkRejection(t, err)
			return
		}
		checkResult(t, r)
		sum := sha1.Sum(decompressed(data))
		if r.Hash != hex.EncodeToString(sum[:]) {
			t.Fatalf("got hash %s, want %x", r.Hash, sum)
		}
		if len(rec.last) != r.Tests {
			t.Fatalf("Test saw %d paths, want %d", len(rec.last), r.Tests)
		}
		for path, raw := range rec.last {
			if _, ok := r.Summary.Get(path); !ok {
				t.Fatalf("Test got %q, which is not in the summary", path)
			}
			v := jsontext.Value(bytes.Clone(raw))
			if err := v.Compact(); err != nil || !bytes.Equal(v, raw) {
				t.Fatalf("Test got %q, not compact JSON (%v)", raw, err)
			}
			py, err := appendPythonJSON(nil, raw)
			if err != nil || !jsontext.Value(py).IsValid(jsontext.AllowDuplicateNames(true)) {
				t.Fatalf("appendPythonJSON(%q) = %q, %v", raw, py, err)
			}
			for _, c := range py {
				if c < 0x20 || c >= 0x7f {
					t.Fatalf("appendPythonJSON(%q) has byte %#x", raw, c)
				}
			}
		}
	})
}

// FuzzProcess feeds two shards, the second one optionally gzipped, and
// checks that the outcome does not depend on scheduling.
func FuzzProcess(f *testing.F) {
	seeds := fuzzSeeds(f)
	for i, s := range seeds {
		f.Add(s, seeds[(i+1)%len(seeds)], i%2 == 0)
	}
	f.Fuzz(func(t *testing.T, a, b []byte, gz bool) {
		if gz {
			b = testutil.Gzip(t, b)
		}
		shards := []Shard{bytesShard("a", a), bytesShard("b", b)}
		r1, err1 := Process(context.Background(), shards, fuzzOptions())
		r2, err2 := Process(context.Background(), shards, fuzzOptions())
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("got %v then %v", err1, err2)
		}
		if err1 != nil {
			checkRejection(t, err1)
			return
		}
		checkResult(t, r1)
		if !reflect.DeepEqual(r1, r2) {
			t.Fatalf("two runs differ:\n%+v\n%+v", r1, r2)
		}
		h := sha1.New()
		h.Write(decompressed(a)) // a seed may be gzip too
		h.Write(decompressed(b))
		if want := hex.EncodeToString(h.Sum(nil)); r1.Hash != want {
			t.Fatalf("got hash %s, want %s", r1.Hash, want)
		}
	})
}
