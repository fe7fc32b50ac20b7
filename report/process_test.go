package report

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/wptfeed/wptfeed/internal/testutil"
)

// results wraps result objects into a report with complete metadata.
func results(rs ...string) string {
	return `{` + meta + `, "results": [` + strings.Join(rs, ", ") + `]}`
}

func TestProcess_Rejections(t *testing.T) {
	deep := strings.Repeat("[", 70) + strings.Repeat("]", 70)
	veryDeep := strings.Repeat("[", 10010) + strings.Repeat("]", 10010)
	good := results(`{"test": "/a.html", "status": "OK", "subtests": []}`)
	gz := testutil.Gzip(t, []byte(good))
	badCRC := bytes.Clone(gz)
	badCRC[len(badCRC)-6] ^= 0xff // CRC32 is the 8 bytes before the end, minus ISIZE
	corrupt := bytes.Clone(gz)
	for i := 12; i < 20 && i < len(corrupt); i++ {
		corrupt[i] ^= 0x55
	}
	tests := []struct {
		name   string
		shards []Shard
		opts   Options
		code   string
		test   string // want Error.Test
		line   int    // want Error.Line when > 0
		column int
		offset *int64 // want Error.Offset when set
	}{
		{name: "NotJSON", shards: stringShards(`hello`), code: CodeNotJSON, line: 1, column: 1, offset: off(0)},
		{name: "NotJSONEmpty", shards: stringShards(``), code: CodeNotJSON, offset: off(0)},
		{name: "NotJSONTruncated", shards: stringShards(`{"results": [{"test": "/a.html"`), code: CodeNotJSON, offset: off(31)},
		{name: "NotJSONSyntax", shards: stringShards("{\n  \"results\": [\n    {\"test\": \"/a.html\", x}\n  ]\n}"), code: CodeNotJSON, line: 3, column: 25, offset: off(41)},
		{name: "NotJSONBOM", shards: stringShards("\ufeff" + good), code: CodeNotJSON, offset: off(0)},
		{name: "NotJSONControlInString", shards: stringShards("{\"results\": [], \"x\": \"a\tb\"}"), code: CodeNotJSON},
		{name: "NotJSONNaN", shards: stringShards(`{"results": [], "time_start": NaN}`), code: CodeNotJSON},
		{name: "NotJSONLoneSurrogate", shards: stringShards(`{"results": [], "x": "\ud800"}`), code: CodeNotJSON},
		{name: "InvalidUTF8", shards: stringShards("{\"results\": [], \"x\": \"caf\xe9\"}"), code: CodeInvalidUTF8, line: 1, column: 26},
		{name: "InvalidUTF8InResult", shards: stringShards(results("{\"test\": \"/a\xff.html\", \"status\": \"OK\"}")), code: CodeInvalidUTF8},
		{name: "BadGzipTruncated", shards: []Shard{bytesShard("t.gz", gz[:len(gz)/2])}, code: CodeBadGzip},
		{name: "BadGzipHeaderOnly", shards: []Shard{bytesShard("t.gz", []byte{0x1f, 0x8b, 8})}, code: CodeBadGzip},
		{name: "BadGzipChecksum", shards: []Shard{bytesShard("t.gz", badCRC)}, code: CodeBadGzip},
		{name: "BadGzipCorrupt", shards: []Shard{bytesShard("t.gz", corrupt)}, code: CodeBadGzip},
		{name: "BadGzipTrailingGarbage", shards: []Shard{bytesShard("t.gz", append(bytes.Clone(gz), "garbage"...))}, code: CodeBadGzip},
		{name: "TrailingData", shards: stringShards(good + "\n x"), code: CodeTrailingData, line: 2, column: 2},
		{name: "TrailingValue", shards: stringShards(good + " {}"), code: CodeTrailingData},
		{name: "NoShards", shards: nil, code: CodeNoResults},
		{name: "NoResults", shards: stringShards(`{` + meta + `}`), code: CodeNoResults},
		{name: "NoResultsArray", shards: stringShards(`[]`), code: CodeNoResults, offset: off(0)},
		{name: "NoResultsString", shards: stringShards(` "results"`), code: CodeNoResults, offset: off(1)},
		{name: "TextThatLooksLikeTrue", shards: stringShards(`this is not JSON`), code: CodeNotJSON, offset: off(1)},
		{name: "TopLevelTrue", shards: stringShards(`true`), code: CodeNoResults, offset: off(0)},
		{name: "BadResultsObject", shards: stringShards(`{"results": {}}`), code: CodeBadResults, offset: off(12)},
		{name: "BadResultsNull", shards: stringShards(`{"results": null}`), code: CodeBadResults},
		{name: "BadResultsElement", shards: stringShards(`{"results": [{"test": "/a.html", "status": "OK"}, 1]}`), code: CodeBadResults, offset: off(50)},
		{name: "BadResultsTwice", shards: stringShards(`{"results": [], "results": []}`), code: CodeBadResults},
		{name: "BadTestPathMissing", shards: stringShards(results(`{"status": "OK"}`)), code: CodeBadTestPath},
		{name: "BadTestPathRelative", shards: stringShards(results(`{"test": "a.html", "status": "OK"}`)), code: CodeBadTestPath, test: "a.html"},
		{name: "BadTestPathEmpty", shards: stringShards(results(`{"test": "  ", "status": "OK"}`)), code: CodeBadTestPath},
		{name: "BadTestPathNUL", shards: stringShards(results(`{"test": "/a\u0000b.html", "status": "OK"}`)), code: CodeBadTestPath},
		{name: "BadTestPathControl", shards: stringShards(results(`{"test": "/a\u0085b.html", "status": "OK"}`)), code: CodeBadTestPath},
		{name: "BadTestPathDotDot", shards: stringShards(results(`{"test": "/a/../../etc/passwd", "status": "OK"}`)), code: CodeBadTestPath},
		{name: "WrongTypeTest", shards: stringShards(results(`{"test": 5, "status": "OK"}`)), code: CodeWrongType},
		{name: "WrongTypeStatus", shards: stringShards(results(`{"test": "/a.html", "status": 1}`)), code: CodeWrongType, test: "/a.html"},
		{name: "WrongTypeStatusNull", shards: stringShards(results(`{"test": "/a.html", "status": null}`)), code: CodeWrongType},
		{name: "WrongTypeStatusMissing", shards: stringShards(results(`{"test": "/a.html"}`)), code: CodeWrongType, test: "/a.html"},
		{name: "WrongTypeSubtests", shards: stringShards(results(`{"test": "/a.html", "status": "OK", "subtests": {}}`)), code: CodeWrongType},
		{name: "WrongTypeSubtest", shards: stringShards(results(`{"test": "/a.html", "status": "OK", "subtests": ["x"]}`)), code: CodeWrongType},
		{name: "WrongTypeSubtestStatus", shards: stringShards(results(`{"test": "/a.html", "status": "OK", "subtests": [{"name": "x", "status": false}]}`)), code: CodeWrongType},
		{name: "WrongTypeSubtestNoStatus", shards: stringShards(results(`{"test": "/a.html", "status": "OK", "subtests": [{"name": "x"}]}`)), code: CodeWrongType},
		{name: "WrongTypeRunInfo", shards: stringShards(`{"run_info": [], "results": []}`), code: CodeWrongType, offset: off(13)},
		{name: "WrongTypeTimeStart", shards: stringShards(`{` + meta + `, "time_start": "yesterday", "results": []}`), code: CodeWrongType},
		{name: "TimeStartYear0", shards: stringShards(`{` + meta + `, "time_start": -62150000000000, "results": []}`), code: CodeTimeOutOfRange},
		{name: "TimeEndAfter9999", shards: stringShards(`{` + meta + `, "time_end": 253402300800000, "results": []}`), code: CodeTimeOutOfRange},
		{name: "TimeStartHuge", shards: stringShards(`{` + meta + `, "time_start": 1e300, "results": []}`), code: CodeTimeOutOfRange},
		{name: "WrongTypeProduct", shards: stringShards(`{"run_info": {"product": 5, "browser_version": "1", "os": "linux", "revision": "0bdaaf9c1622ca49eb140381af1ece6d8001c934"}, "results": []}`), code: CodeWrongType},
		{name: "ConflictingRunInfo", shards: stringShards(`{`+meta+`, "results": []}`, `{"run_info": {"product": "firefox"}, "results": []}`), code: CodeConflictingRunInfo},
		{name: "ConflictingRunInfoNull", shards: stringShards(`{`+meta+`, "results": []}`, `{"run_info": {"os": null}, "results": []}`), code: CodeConflictingRunInfo},
		{name: "MissingMetadata", shards: stringShards(`{"run_info": {"product": "chrome", "os": "linux"}, "results": []}`), code: CodeMissingMetadata},
		{name: "MissingMetadataNoRunInfo", shards: stringShards(`{"results": []}`), code: CodeMissingMetadata},
		{name: "MissingMetadataEmptyString", shards: stringShards(`{"run_info": {"product": "", "browser_version": "1", "os": "linux", "revision": "0bdaaf9c1622ca49eb140381af1ece6d8001c934"}, "results": []}`), code: CodeMissingMetadata},
		{name: "BadRevisionShort", shards: stringShards(`{"results": []}`), opts: Options{Overrides: Metadata{Product: "chrome", BrowserVersion: "1", OS: "linux", Revision: "0bdaaf9c16"}}, code: CodeBadRevision},
		{name: "BadRevisionNotHex", shards: stringShards(`{"results": []}`), opts: Options{Overrides: Metadata{Product: "chrome", BrowserVersion: "1", OS: "linux", Revision: "0bdaaf9c1622ca49eb140381af1ece6d8001c93g"}}, code: CodeBadRevision},
		{name: "DuplicateTest", shards: stringShards(results(`{"test": "/a.html", "status": "OK"}`, `{"test": "/a.html ", "status": "ERROR"}`)), code: CodeDuplicateTest, test: "/a.html"},
		{name: "DuplicateTestAcrossShards", shards: stringShards(results(`{"test": "/a.html", "status": "OK"}`), results(`{"test": "/a.html", "status": "OK", "duration": 5}`)), code: CodeDuplicateTest, test: "/a.html"},
		{name: "DuplicateTestNoneFinished", shards: stringShards(results(`{"test": "/a.html", "status": ""}`, `{"test": "/a.html", "status": "", "message": "x"}`)), code: CodeDuplicateTest, test: "/a.html"},
		{name: "TooLarge", shards: stringShards(good), opts: Options{Limits: Limits{MaxBytes: 100}}, code: CodeTooLarge},
		{name: "TooLargeGzip", shards: []Shard{bytesShard("t.gz", gz)}, opts: Options{Limits: Limits{MaxBytes: 100}}, code: CodeTooLarge},
		{name: "TooDeep", shards: stringShards(results(`{"test": "/a.html", "status": "OK", "extra": ` + deep + `}`)), code: CodeTooDeep, test: "/a.html"},
		{name: "TooDeepTopLevel", shards: stringShards(`{"results": [], "x": ` + deep + `}`), code: CodeTooDeep},
		{name: "TooDeepSubtests", shards: stringShards(results(`{"test": "/a.html", "status": "OK", "subtests": [{"status": "PASS"}]}`)), opts: Options{Limits: Limits{MaxDepth: 4}}, code: CodeTooDeep},
		{name: "TooDeepJSONText", shards: stringShards(`{"results": [], "x": ` + veryDeep + `}`), opts: Options{Limits: Limits{MaxDepth: 20000}}, code: CodeTooDeep},
		{name: "StringTooLong", shards: stringShards(results(`{"test": "/a.html", "status": "OK", "message": "` + strings.Repeat("x", 100) + `"}`)), opts: Options{Limits: Limits{MaxString: 50}}, code: CodeStringTooLong},
		{name: "StringTooLongName", shards: stringShards(`{"` + strings.Repeat("x", 100) + `": 1, "results": []}`), opts: Options{Limits: Limits{MaxString: 50}}, code: CodeStringTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Process(context.Background(), tt.shards, tt.opts)
			if err == nil {
				t.Fatal("got nil error, want a rejection")
			}
			e := asError(t, err)
			if e.Code != tt.code {
				t.Fatalf("got code %q (%v), want %q", e.Code, err, tt.code)
			}
			if tt.test != "" && e.Test != tt.test {
				t.Errorf("got Test %q, want %q", e.Test, tt.test)
			}
			if tt.line > 0 && (e.Line != tt.line || e.Column != tt.column) {
				t.Errorf("got line %d column %d, want %d %d (%v)", e.Line, e.Column, tt.line, tt.column, err)
			}
			if tt.offset != nil && e.Offset != *tt.offset {
				t.Errorf("got offset %d, want %d (%v)", e.Offset, *tt.offset, err)
			}
			if len(tt.shards) > 0 && e.Code != CodeConflictingRunInfo && e.Code != CodeMissingMetadata && e.Code != CodeBadRevision &&
				e.Code != CodeWrongType && e.Code != CodeDuplicateTest && e.Shard == "" {
				t.Errorf("got no shard in %v", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "report: ") || strings.Contains(msg, "\n") {
				t.Errorf("message %q is not one line starting with \"report: \"", msg)
			}
		})
	}
}

func off(n int64) *int64 { return &n }

func TestProcess_RejectionPositions(t *testing.T) {
	// The position of a problem inside a result value: line and column of
	// the offending token.
	doc := "{\n" + meta + ",\n\"results\": [\n  {\"test\": \"/a.html\",\n   \"status\": 7}\n]}\n"
	_, err := Process(context.Background(), stringShards(doc), Options{})
	e := asError(t, err)
	wantOff := int64(strings.Index(doc, "7}"))
	if e.Code != CodeWrongType || e.Line != 5 || e.Column != 14 || e.Offset != wantOff {
		t.Fatalf("got %q line %d column %d offset %d, want %q line 5 column 14 offset %d (%v)", e.Code, e.Line, e.Column, e.Offset, CodeWrongType, wantOff, err)
	}
	want := fmt.Sprintf(`report: shard "s0": line 5, column 14 (offset %d): test "/a.html": "status" is a number, want a string`, wantOff)
	if err.Error() != want {
		t.Errorf("got message\n%s\nwant\n%s", err, want)
	}
}

func TestProcess_GzipBomb(t *testing.T) {
	// 64 MiB of one letter compresses ~1000:1; refused once 1 MiB is out, long
	// before 64 MiB are decompressed.
	var buf bytes.Buffer
	buf.WriteString(`{"results": [], "x": [`)
	as := bytes.Repeat([]byte{'a'}, 1<<20)
	for range 64 {
		buf.WriteString(`"`)
		buf.Write(as)
		buf.WriteString(`", `)
	}
	buf.WriteString(`""]}`)
	bomb := testutil.Gzip(t, buf.Bytes())
	_, err := Process(context.Background(), []Shard{bytesShard("bomb.gz", bomb)}, Options{})
	e := asError(t, err)
	if e.Code != CodeGzipRatio {
		t.Fatalf("got %v, want %s", err, CodeGzipRatio)
	}
	if e.Offset > 2*RatioSlack {
		t.Errorf("refused after %d bytes, want at most %d", e.Offset, 2*RatioSlack)
	}
	// A small highly compressible file is fine.
	small := testutil.Gzip(t, []byte(results(`{"test": "/a.html", "status": "OK", "message": "`+strings.Repeat("a", 500<<10)+`"}`)))
	mustProcess(t, []Shard{bytesShard("small.gz", small)}, Options{})
	// And a larger ratio is allowed when asked for.
	mustProcess(t, []Shard{bytesShard("bomb.gz", bomb)}, Options{Limits: Limits{MaxRatio: 10000}, Overrides: Metadata{
		Product: "chrome", BrowserVersion: "1", OS: "linux", Revision: strings.Repeat("a", 40)}})
}

func TestProcess_IOErrors(t *testing.T) {
	errNet := errors.New("connection reset")
	good := []byte(results(`{"test": "/a.html", "status": "OK"}`))
	gz := testutil.Gzip(t, good) // here: open runs on Process's goroutines
	tests := []struct {
		name string
		open func() (io.ReadCloser, error)
		verb string
	}{
		{"Open", func() (io.ReadCloser, error) { return nil, errNet }, "open"},
		{"ReadPlain", func() (io.ReadCloser, error) { return &failingReader{data: good[:20], err: errNet}, nil }, "read"},
		{"ReadGzip", func() (io.ReadCloser, error) { return &failingReader{data: gz[:len(gz)/2], err: errNet}, nil }, "read"},
		{"ReadGzipHeader", func() (io.ReadCloser, error) { return &failingReader{data: []byte{0x1f, 0x8b}, err: errNet}, nil }, "read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Process(context.Background(), []Shard{{Name: "net.json", Open: tt.open}}, Options{})
			if !errors.Is(err, errNet) {
				t.Fatalf("got %v, want it to wrap %v", err, errNet)
			}
			var e *Error
			if errors.As(err, &e) {
				t.Fatalf("got *Error %v, want a plain error", err)
			}
			want := fmt.Sprintf(`report: %s shard "net.json": connection reset`, tt.verb)
			if err.Error() != want {
				t.Errorf("got %q, want %q", err, want)
			}
		})
	}
}

func TestProcess_BadShard(t *testing.T) {
	// A Shard without Open, or whose Open returns neither a reader nor an
	// error, is the caller's bug: a plain error, not a rejection.
	tests := []struct {
		name  string
		shard Shard
		want  string
	}{
		{"NoOpen", Shard{Name: "a.json"}, `report: open shard "a.json": shard has no Open function`},
		{"NilReader", Shard{Name: "a.json", Open: func() (io.ReadCloser, error) { return nil, nil }},
			`report: open shard "a.json": shard's Open function returned no reader`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Process(context.Background(), []Shard{tt.shard}, Options{})
			var e *Error
			if err == nil || errors.As(err, &e) {
				t.Fatalf("got %v, want a plain error", err)
			}
			if err.Error() != tt.want {
				t.Errorf("got %q, want %q", err, tt.want)
			}
		})
	}
}

func TestProcess_TestError(t *testing.T) {
	errStore := errors.New("bucket full")
	doc := results(`{"test": "/a.html", "status": "OK"}`, `{"test": "/b.html", "status": "OK"}`)
	_, err := Process(context.Background(), stringShards(doc), Options{Test: func(path string, raw []byte) error {
		if path == "/b.html" {
			return errStore
		}
		return nil
	}})
	if !errors.Is(err, errStore) || err.Error() != `report: test "/b.html": bucket full` {
		t.Fatalf("got %v, want the Test error wrapped", err)
	}
}

func TestProcess_Cancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Process(ctx, stringShards(results()), Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	// Cancelled while running: the Test callback cancels.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	gz, _ := benchReportSmall(t)
	_, err = Process(ctx, []Shard{bytesShard("big.gz", gz)}, Options{Test: func(string, []byte) error {
		cancel()
		return nil
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

// benchReportSmall is a generated report of 300 tests.
func benchReportSmall(tb testing.TB) ([]byte, []byte) {
	var buf bytes.Buffer
	if err := genReport(&buf, 0, 300, 15000, 1); err != nil {
		tb.Fatal(err)
	}
	return testutil.Gzip(tb, buf.Bytes()), buf.Bytes()
}

func TestProcess_Merge(t *testing.T) {
	r := mustProcess(t, []Shard{fileShard(t, "../testdata/reports/firefox-nightly-shard-1.json"), fileShard(t, "../testdata/reports/firefox-nightly-shard-2.json.gz")}, Options{})
	wantInfo := map[string]any{
		"product": "firefox", "browser_version": "135.0a1", "browser_channel": "nightly", "os": "linux",
		"os_version": "22.04", "revision": "0bdaaf9c1622ca49eb140381af1ece6d8001c934",
		"browser_build_id": nil, "version": nil, "processor": "x86_64", "debug": false,
	}
	if !reflect.DeepEqual(r.RunInfo, wantInfo) {
		t.Errorf("got run_info %v, want %v", r.RunInfo, wantInfo)
	}
	if want := time.UnixMilli(1000).UTC(); !r.TimeStart.Equal(want) {
		t.Errorf("got time_start %v, want %v (min)", r.TimeStart, want)
	}
	if want := time.UnixMilli(9000).UTC(); !r.TimeEnd.Equal(want) {
		t.Errorf("got time_end %v, want %v (max)", r.TimeEnd, want)
	}
	if got, want := r.Summary.Paths(), []string{"/a/1.html", "/a/2.html", "/a/3.html", "/b/1.html"}; !slices.Equal(got, want) {
		t.Errorf("got paths %v, want %v", got, want)
	}
	if ts, _ := r.Summary.Get("/a/2.html"); ts != (TestSummary{"O", Counts{1, 1}}) {
		t.Errorf("got /a/2.html %+v, want the finished copy from shard 2", ts)
	}
	if r.Tests != 4 || r.Subtests != 3 {
		t.Errorf("got %d tests %d subtests, want 4 and 3", r.Tests, r.Subtests)
	}
	// The hash covers the decompressed shards, in order.
	h := sha1.New()
	h.Write(mustRead(t, "../testdata/reports/firefox-nightly-shard-1.json"))
	h.Write(decompressed(mustRead(t, "../testdata/reports/firefox-nightly-shard-2.json.gz")))
	if want := hex.EncodeToString(h.Sum(nil)); r.Hash != want {
		t.Errorf("got hash %s, want %s", r.Hash, want)
	}
	var codes []string
	for _, w := range r.Warnings {
		codes = append(codes, w.Code)
	}
	want := []string{WarnRunInfoConflict, WarnRunInfoConflict, WarnDuplicateResolved, WarnDuplicateResolved}
	if !slices.Equal(codes, want) {
		t.Errorf("got warnings %v, want codes %v", r.Warnings, want)
	}
	// The other order gives another hash but the same tests.
	r2 := mustProcess(t, []Shard{fileShard(t, "../testdata/reports/firefox-nightly-shard-2.json.gz"), fileShard(t, "../testdata/reports/firefox-nightly-shard-1.json")}, Options{})
	if r2.Hash == r.Hash {
		t.Error("hash does not depend on shard order")
	}
	if got, want := r2.Summary.Paths(), []string{"/b/1.html", "/a/2.html", "/a/3.html", "/a/1.html"}; !slices.Equal(got, want) {
		t.Errorf("got paths %v, want %v", got, want)
	}
}

func TestProcess_ManyShards(t *testing.T) {
	// Many shards: order, hash and merge hold with concurrent decoding.
	var shards []Shard
	h := sha1.New()
	var want []string
	for i := range 40 {
		var rs []string
		for j := range 50 {
			p := fmt.Sprintf("/s%02d/t%03d.html", i, j)
			want = append(want, p)
			rs = append(rs, fmt.Sprintf(`{"test": %q, "status": "OK", "subtests": [{"name": "x", "status": "PASS"}]}`, p))
		}
		doc := []byte(results(rs...))
		h.Write(doc)
		if i%2 == 0 {
			doc = testutil.Gzip(t, doc)
		}
		shards = append(shards, bytesShard(fmt.Sprint(i), doc))
	}
	var rec recorder
	r := mustProcess(t, shards, Options{Test: rec.test})
	if got := r.Summary.Paths(); !slices.Equal(got, want) {
		t.Fatalf("got %d paths in another order, want %d in shard order", len(got), len(want))
	}
	if got := hex.EncodeToString(h.Sum(nil)); r.Hash != got {
		t.Errorf("got hash %s, want %s", r.Hash, got)
	}
	if len(rec.calls) != 2000 {
		t.Errorf("got %d Test calls, want 2000", len(rec.calls))
	}
}

func TestProcess_Duplicates(t *testing.T) {
	t.Run("AccidentalFixture", func(t *testing.T) {
		// The real report that wpt.fyi rejects: the second copy has status "".
		var rec recorder
		r := mustProcess(t, []Shard{fileShard(t, "../testdata/wptfyi/wpt-accidental-wptreport.json")},
			Options{Overrides: Metadata{BrowserVersion: "133.0.6876.0"}, Test: rec.test})
		if r.Tests != 1 || r.Subtests != 6 {
			t.Fatalf("got %d tests %d subtests, want 1 and 6", r.Tests, r.Subtests)
		}
		path := "/infrastructure/testdriver/bidi/set_permission.https.html"
		if ts, ok := r.Summary.Get(path); !ok || ts != (TestSummary{"O", Counts{6, 6}}) {
			t.Errorf("got %+v, want the finished copy {O [6 6]}", ts)
		}
		if len(r.Warnings) != 1 || r.Warnings[0].Code != WarnDuplicateResolved || r.Warnings[0].Test != path {
			t.Errorf("got warnings %+v, want one %s", r.Warnings, WarnDuplicateResolved)
		}
		if len(rec.calls) != 1 || !strings.Contains(rec.calls[0].raw, `"status":"OK"`) {
			t.Errorf("got Test calls %v, want only the finished copy", rec.calls)
		}
	})
	t.Run("EmptyCopyFirst", func(t *testing.T) {
		var rec recorder
		r := mustProcess(t, stringShards(results(
			`{"test": "/a.html", "status": "", "subtests": []}`,
			`{"test": "/b.html", "status": "OK", "subtests": []}`,
			`{"test": "/a.html", "status": "OK", "subtests": [{"name": "x", "status": "PASS"}]}`)),
			Options{Test: rec.test})
		if got := r.Summary.Paths(); !slices.Equal(got, []string{"/a.html", "/b.html"}) {
			t.Errorf("got paths %v, want the first position kept", got)
		}
		if ts, _ := r.Summary.Get("/a.html"); ts != (TestSummary{"O", Counts{1, 1}}) {
			t.Errorf("got %+v, want the finished copy", ts)
		}
		if len(rec.calls) != 3 || !strings.Contains(string(rec.last["/a.html"]), `"status":"OK"`) {
			t.Errorf("got calls %v, want the last call for /a.html to be the finished copy", rec.calls)
		}
		for _, w := range r.Warnings {
			if w.Code == WarnUnknownStatus {
				t.Errorf("got %+v: the losing empty copy must not count", w)
			}
		}
	})
	t.Run("IdenticalAcrossShards", func(t *testing.T) {
		doc := results(`{"test": "/a.html", "status": "OK", "subtests": []}`)
		var rec recorder
		r := mustProcess(t, stringShards(doc, strings.ReplaceAll(doc, ", ", ",\n ")), Options{Test: rec.test})
		if r.Tests != 1 || len(r.Warnings) != 1 || r.Warnings[0].Code != WarnDuplicateResolved {
			t.Errorf("got %d tests, warnings %+v; want 1 test, one %s", r.Tests, r.Warnings, WarnDuplicateResolved)
		}
		if len(rec.calls) != 1 {
			t.Errorf("got %d calls, want 1", len(rec.calls))
		}
	})
	t.Run("ThreeCopies", func(t *testing.T) {
		// Two unfinished copies that differ, then a finished one.
		r := mustProcess(t, stringShards(results(
			`{"test": "/a.html", "status": ""}`,
			`{"test": "/a.html", "status": "", "message": "x"}`,
			`{"test": "/a.html", "status": "PASS"}`)), Options{})
		if ts, _ := r.Summary.Get("/a.html"); ts.Status != "P" {
			t.Errorf("got %+v, want P", ts)
		}
	})
}

func TestProcess_Empty(t *testing.T) {
	r := mustProcess(t, []Shard{fileShard(t, "../testdata/wptfyi/deno-empty-wptreport.json")}, Options{})
	if !r.Empty() || r.Tests != 0 || r.Summary.Len() != 0 {
		t.Fatalf("got %d tests, want an empty run", r.Tests)
	}
	if got := summaryJSON(t, r.Summary); got != "{}" {
		t.Errorf("got summary %q, want {}", got)
	}
	if got, want := r.ProductID(), "deno-1.25.4-linux-unknown-1457a8b306"; got != want {
		t.Errorf("got product ID %q, want %q", got, want)
	}
	if !slices.Equal(r.Labels, []string{"deno", "stable"}) {
		t.Errorf("got labels %v", r.Labels)
	}
	if r.Meta.Revision != "5d424eb8c75dee2c8c11f4d5db17ee4e31fe1a71" || r.TimeStart.UnixMilli() != 1664044251358 || r.TimeEnd.UnixMilli() != 1664044257143 {
		t.Errorf("got %+v %v %v", r.Meta, r.TimeStart, r.TimeEnd)
	}
}

func TestProcess_Overrides(t *testing.T) {
	doc := `{"run_info": {"product": "chrome", "browser_version": "1", "os": "linux", "os_version": "20.04", "revision": "0bdaaf9c1622ca49eb140381af1ece6d8001c934"}, "results": []}`
	r := mustProcess(t, stringShards(doc), Options{
		Overrides: Metadata{Product: "edgechromium", BrowserVersion: "2", OSVersion: "22.04", Revision: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", BrowserChannel: "beta"},
		Labels:    []string{"master, pr_head", " ", "azure"},
	})
	want := Metadata{Product: "edge", BrowserVersion: "2", OS: "linux", OSVersion: "22.04", Revision: strings.Repeat("a", 40), BrowserChannel: "beta"}
	if r.Meta != want {
		t.Errorf("got %+v, want %+v", r.Meta, want)
	}
	if got := []string{"azure", "beta", "edge", "edgechromium", "master", "pr_head"}; !slices.Equal(r.Labels, got) {
		t.Errorf("got labels %v, want %v", r.Labels, got)
	}
	if r.RunInfo["product"] != "edgechromium" || r.RunInfo["revision"] != strings.Repeat("a", 40) || r.RunInfo["browser_channel"] != "beta" {
		t.Errorf("got run_info %v, want overrides applied", r.RunInfo)
	}
	if !strings.HasPrefix(r.ProductID(), "edgechromium-2-linux-22.04-") {
		t.Errorf("got product ID %q", r.ProductID())
	}
}

func TestProcess_TestRaw(t *testing.T) {
	// Test gets each result compact, verbatim otherwise, and owns the bytes.
	var rec recorder
	r := mustProcess(t, []Shard{fileShard(t, "../testdata/reports/chrome-basic.json")}, Options{Test: rec.test})
	if len(rec.calls) != r.Tests {
		t.Fatalf("got %d calls, want %d", len(rec.calls), r.Tests)
	}
	for _, c := range rec.calls {
		v := jsontext.Value(c.raw)
		want := v.Clone()
		if err := want.Compact(); err != nil {
			t.Fatalf("%s: invalid JSON %q: %v", c.path, c.raw, err)
		}
		if string(want) != c.raw {
			t.Errorf("%s: got %s, want compact %s", c.path, c.raw, want)
		}
	}
	raw := string(rec.last["/padded/path.html"])
	if want := `{"test":"  /padded/path.html\n","subtests":[],"status":"PASS"}`; raw != want {
		t.Errorf("got %s, want %s", raw, want)
	}
	if _, ok := rec.last["/encoding/unicode-café.html?q=\"x\"&r=\\"]; !ok {
		t.Errorf("no call for the escaped path; got %v", slices.Collect(func(yield func(string) bool) {
			for _, c := range rec.calls {
				yield(c.path)
			}
		}))
	}
}

func TestResult_ProductID(t *testing.T) {
	hash := "afa59408e1797c7091d7e89de5561612f7da440d"
	tests := []struct {
		name string
		r    Result
		want string
	}{
		{"Basic", Result{Meta: Metadata{Product: "firefox", BrowserVersion: "59.0", OS: "linux"}, Hash: hash}, "firefox-59.0-linux-afa59408e1"},
		{"OSVersion", Result{Meta: Metadata{Product: "firefox", BrowserVersion: "59.0", OS: "linux", OSVersion: "4.4"}, Hash: hash}, "firefox-59.0-linux-4.4-afa59408e1"},
		{"Sanitize", Result{Meta: Metadata{Product: "chrome!", BrowserVersion: "1.2.3 dev-1", OS: "linux"}, Hash: hash}, "chrome_-1.2.3_dev-1-linux-afa59408e1"},
		{"SanitizeUnicode", Result{Meta: Metadata{Product: "chrome", BrowserVersion: "1é🌟", OS: "mac/os"}, Hash: hash}, "chrome-1__-mac_os-afa59408e1"},
		{"STP", Result{Meta: Metadata{Product: "safari", BrowserVersion: "180 preview", OS: "mac", OSVersion: "14.5"}, Hash: hash}, "safari-180_preview-mac-14.5-afa59408e1"},
		{"RawProduct", Result{Meta: Metadata{Product: "edge", BrowserVersion: "100.0.1169.0", OS: "win", OSVersion: "10.0"}, Hash: hash, product: "edgechromium"}, "edgechromium-100.0.1169.0-win-10.0-afa59408e1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.ProductID(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestProcess_ProductID(t *testing.T) {
	// wpt.fyi's own example: an edgechromium run is stored under
	// edgechromium-100.0.1169.0-win-10.0-<hash>.
	r := mustProcess(t, []Shard{fileShard(t, "../testdata/reports/edgechromium-dev.json")}, Options{})
	sum := sha1.Sum(mustRead(t, "../testdata/reports/edgechromium-dev.json"))
	want := "edgechromium-100.0.1169.0-win-10.0-" + hex.EncodeToString(sum[:])[:10]
	if got := r.ProductID(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if r.Meta.Product != "edge" || !slices.Equal(r.Labels, []string{"dev", "edge", "edgechromium", "experimental"}) {
		t.Errorf("got product %q labels %v", r.Meta.Product, r.Labels)
	}
}

func TestError_Error(t *testing.T) {
	tests := []struct {
		e    *Error
		want string
	}{
		{&Error{Code: CodeNotJSON, Shard: "a.json", Line: 3, Column: 7, Offset: 51, Err: errors.New("invalid character 'x'")},
			`report: shard "a.json": line 3, column 7 (offset 51): invalid character 'x'`},
		{&Error{Code: CodeBadGzip, Shard: "a.gz", Offset: 10, Err: errors.New("truncated gzip stream")},
			`report: shard "a.gz": offset 10: truncated gzip stream`},
		{&Error{Code: CodeDuplicateTest, Shard: "b", Offset: -1, Test: "/a.html", Err: errors.New("x")},
			`report: shard "b": test "/a.html": x`},
		{&Error{Code: CodeMissingMetadata, Offset: -1}, `report: missing_metadata`},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
	inner := errors.New("inner")
	if !errors.Is(&Error{Err: inner}, inner) {
		t.Error("Unwrap does not reach Err")
	}
}

func TestLimits_Defaults(t *testing.T) {
	got := Limits{}.withDefaults()
	if got != DefaultLimits() {
		t.Errorf("got %+v, want %+v", got, DefaultLimits())
	}
	if d := DefaultLimits(); d.MaxBytes != 4<<30 || d.MaxRatio != 100 || d.MaxDepth != 64 || d.MaxString != 16<<20 {
		t.Errorf("got defaults %+v", d)
	}
	if got := (Limits{MaxString: 1 << 30}).withDefaults().maxValue(); got != 2<<30 {
		t.Errorf("got value limit %d, want twice MaxString", got)
	}
}

func TestProcess_FirstShardError(t *testing.T) {
	// Shard 0 is long and bad at its end, shard 1 is bad at once, shard 2
	// is fine: the error is always shard 0's.
	_, big := benchReportSmall(t)
	bad0 := append(bytes.Clone(big[:len(big)-2]), "]x"...)
	for range 20 {
		_, err := Process(context.Background(), []Shard{bytesShard("s0", bad0), bytesShard("s1", []byte("{]")), bytesShard("s2", []byte(results()))}, Options{})
		if e := asError(t, err); e.Shard != "s0" || e.Code != CodeNotJSON {
			t.Fatalf("got %v, want shard s0's not_json", err)
		}
	}
}

func TestProcess_Result(t *testing.T) {
	// Result gets every result of every shard, copies included, in the
	// order of its shard; a shard's results compact, as Test gets them.
	shards := []Shard{fileShard(t, "../testdata/reports/firefox-nightly-shard-1.json"), fileShard(t, "../testdata/reports/firefox-nightly-shard-2.json.gz")}
	docs := [][]byte{mustRead(t, "../testdata/reports/firefox-nightly-shard-1.json"), decompressed(mustRead(t, "../testdata/reports/firefox-nightly-shard-2.json.gz"))}
	var mu sync.Mutex
	got := make([][]string, len(shards))
	ended := make([]bool, len(shards))
	r := mustProcess(t, shards, Options{Result: func(shard int, raw []byte) error {
		mu.Lock()
		defer mu.Unlock()
		if ended[shard] {
			t.Errorf("shard %d: a call after the end of the shard", shard)
		}
		if raw == nil {
			ended[shard] = true
			return nil
		}
		got[shard] = append(got[shard], string(raw))
		return nil
	}})
	if slices.Contains(ended, false) {
		t.Errorf("ends of shards: %v, want every shard's end", ended)
	}
	n := 0
	for i, doc := range docs {
		var v struct{ Results []json.RawMessage }
		if err := json.Unmarshal(doc, &v); err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, raw := range v.Results {
			res := jsontext.Value(raw)
			if err := res.Compact(); err != nil {
				t.Fatal(err)
			}
			want = append(want, string(res))
		}
		if !slices.Equal(got[i], want) {
			t.Errorf("shard %d: got %q, want %q", i, got[i], want)
		}
		n += len(want)
	}
	if n <= r.Tests {
		t.Errorf("got %d results for %d tests; the fixture has copies of a test, all passed", n, r.Tests)
	}

	errFull := errors.New("disk full")
	_, err := Process(context.Background(), shards, Options{Result: func(int, []byte) error { return errFull }})
	if !errors.Is(err, errFull) || !strings.HasPrefix(err.Error(), `report: shard "firefox-nightly-shard-1.json": `) {
		t.Errorf("got %v, want the Result error wrapped with the first shard's name", err)
	}
}
