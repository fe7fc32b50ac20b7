package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/wptfeed/wptfeed/internal/testutil"
)

// resultView is what the result golden files show.
type resultView struct {
	ProductID string         `json:"product_id"`
	Hash      string         `json:"hash"`
	Meta      Metadata       `json:"meta"`
	Labels    []string       `json:"labels"`
	RunInfo   map[string]any `json:"run_info"`
	TimeStart string         `json:"time_start,omitempty"`
	TimeEnd   string         `json:"time_end,omitempty"`
	Tests     int            `json:"tests"`
	Subtests  int            `json:"subtests"`
	Warnings  []Warning      `json:"warnings"`
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

// TestSummary_Golden runs small hand-made reports (../testdata/reports) and
// compares the summary_v2 bytes and the rest of the Result with golden
// files. The summary goldens of the single-shard cases without duplicates
// were checked against Python's json.dumps of wpt.fyi's summarize().
func TestSummary_Golden(t *testing.T) {
	tests := []struct {
		name  string
		files []string
		opts  Options
	}{
		{"basic", []string{"../testdata/reports/chrome-basic.json"}, Options{Labels: []string{"master"}}},
		{"edgechromium", []string{"../testdata/reports/edgechromium-dev.json"}, Options{}},
		{"safari-stp", []string{"../testdata/reports/safari-stp.json"}, Options{}},
		{"two-shards", []string{"../testdata/reports/firefox-nightly-shard-1.json", "../testdata/reports/firefox-nightly-shard-2.json.gz"}, Options{}},
		{"accidental", []string{"../testdata/wptfyi/wpt-accidental-wptreport.json"}, Options{Overrides: Metadata{BrowserVersion: "133.0.6876.0"}}},
		{"deno-empty", []string{"../testdata/wptfyi/deno-empty-wptreport.json"}, Options{}},
		{"chrome", []string{"../testdata/reports/chrome.json"}, Options{}},
		{"firefox", []string{"../testdata/reports/firefox-1.json", "../testdata/reports/firefox-2.json"}, Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var shards []Shard
			for _, f := range tt.files {
				shards = append(shards, fileShard(t, f))
			}
			r := mustProcess(t, shards, tt.opts)
			testutil.Golden(t, filepath.Join("testdata", tt.name+".summary.golden"), []byte(summaryJSON(t, r.Summary)))
			v := resultView{
				ProductID: r.ProductID(), Hash: r.Hash, Meta: r.Meta, Labels: r.Labels, RunInfo: r.RunInfo,
				TimeStart: timeString(r.TimeStart), TimeEnd: timeString(r.TimeEnd),
				Tests: r.Tests, Subtests: r.Subtests, Warnings: r.Warnings,
			}
			b, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			testutil.Golden(t, filepath.Join("testdata", tt.name+".result.golden"), append(b, '\n'))
		})
	}
}

func TestSummary_WriteJSON(t *testing.T) {
	s := newSummary(0)
	if got := summaryJSON(t, s); got != "{}" {
		t.Errorf("got %q, want {}", got)
	}
	s.add("/a", TestSummary{"O", Counts{1, 2}})
	s.add("/b", TestSummary{"P", Counts{0, 0}})
	// Expected bytes from Python: json.dumps({...}).
	if got, want := summaryJSON(t, s), `{"/a": {"s": "O", "c": [1, 2]}, "/b": {"s": "P", "c": [0, 0]}}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	var nilSummary *Summary
	if got := summaryJSON(t, nilSummary); got != "{}" {
		t.Errorf("nil summary: got %q, want {}", got)
	}
	errDisk := errors.New("disk full")
	if err := s.WriteJSON(errWriter{errDisk}); !errors.Is(err, errDisk) {
		t.Errorf("got %v, want the write error", err)
	}
}

type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }

func TestAppendPyString(t *testing.T) {
	// want is Python's json.dumps(s) (ensure_ascii=True).
	tests := []struct{ s, want string }{
		{"", `""`},
		{"/a/b.html?x=1&y=<2>", `"/a/b.html?x=1&y=<2>"`},
		{"a\"b\\c\n\r\t\b\f\x01\x1f\x7f\u0080 é 🌟 \u2028/<>&\u00ff\uffff",
			`"a\"b\\c\n\r\t\b\f\u0001\u001f\u007f\u0080 \u00e9 \ud83c\udf1f \u2028/<>&\u00ff\uffff"`},
	}
	for _, tt := range tests {
		if got := string(appendPyString(nil, tt.s)); got != tt.want {
			t.Errorf("appendPyString(%q) = %s, want %s", tt.s, got, tt.want)
		}
	}
}

func TestStatusAbbrev(t *testing.T) {
	tests := map[string]string{
		"PASS": "P", "OK": "O", "FAIL": "F", "SKIP": "S", "ERROR": "E", "NOTRUN": "N",
		"CRASH": "C", "TIMEOUT": "T", "PRECONDITION_FAILED": "PF",
		"ASSERT": "ASSERT", "": "", "pass": "pass", "ÉCHEC": "ÉCHEC",
	}
	for in, want := range tests {
		if got := StatusAbbrev(in); got != want {
			t.Errorf("StatusAbbrev(%q) = %q, want %q", in, got, want)
		}
	}
	for _, s := range TestStatuses() {
		if !IsTestStatus(s) {
			t.Errorf("IsTestStatus(%q) = false", s)
		}
	}
	for _, s := range SubtestStatuses() {
		if !IsSubtestStatus(s) {
			t.Errorf("IsSubtestStatus(%q) = false", s)
		}
	}
	if IsTestStatus("NOTRUN") || IsSubtestStatus("OK") || IsSubtestStatus("CRASH") {
		t.Error("NOTRUN is not a test status; OK and CRASH are not subtest statuses")
	}
}

func TestReadSummary(t *testing.T) {
	in := `{"/a": {"c": [1, 2], "s": "O"}, "/b\u00e9": {"s": "\u00c9", "c": [0, 0]}}`
	s, err := ReadSummary(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := summaryJSON(t, s), `{"/a": {"s": "O", "c": [1, 2]}, "/b\u00e9": {"s": "\u00c9", "c": [0, 0]}}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	for _, bad := range []struct{ in, code string }{
		{``, CodeNotJSON},
		{`{"/a": {"s": "O", "c": [1, 2]}`, CodeNotJSON},
		{`[]`, CodeWrongType},
		{`{"/a": [1, 2]}`, CodeWrongType},
		{`{"/a": {"s": "O", "c": [1]}}`, CodeWrongType},
		{`{"/a": {"s": 1, "c": [1, 2]}}`, CodeWrongType},
		{`{} {}`, CodeTrailingData},
		{"{\"/a\xff\": {}}", CodeInvalidUTF8},
	} {
		_, err := ReadSummary(strings.NewReader(bad.in))
		if e := asError(t, err); e.Code != bad.code {
			t.Errorf("ReadSummary(%q): got %v, want %s", bad.in, err, bad.code)
		}
	}
}

// longStatus inverts StatusAbbrev for the round trip.
var longStatus = map[string]string{
	"P": "PASS", "O": "OK", "F": "FAIL", "S": "SKIP", "E": "ERROR", "N": "NOTRUN",
	"C": "CRASH", "T": "TIMEOUT", "PF": "PRECONDITION_FAILED",
}

// TestSummary_RoundTripChrome synthesises a wptreport whose tests, statuses
// and subtest counts reproduce a real wpt.fyi summary_v2 (Chrome stable,
// 32,720 tests, 1.6M subtests), processes it, and checks that the summary
// written is the real file, byte for byte.
func TestSummary_RoundTripChrome(t *testing.T) {
	if testing.Short() {
		t.Skip("1.6M subtests")
	}
	real := testutil.Gunzip(t, mustRead(t, "../testdata/wptfyi/wptfyi-chrome-stable-summary_v2.json.gz"))
	want, err := ReadSummary(bytes.NewReader(real))
	if err != nil {
		t.Fatal(err)
	}
	if want.Len() != 32720 {
		t.Fatalf("got %d tests in the fixture, want 32720", want.Len())
	}
	shard := Shard{Name: "chrome.json", Open: func() (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeReportFor(pw, want)) }()
		return pr, nil
	}}
	r := mustProcess(t, []Shard{shard}, Options{})
	if r.Tests != want.Len() {
		t.Errorf("got %d tests, want %d", r.Tests, want.Len())
	}
	for _, p := range want.Paths() {
		w, _ := want.Get(p)
		if g, ok := r.Summary.Get(p); !ok || g != w {
			t.Fatalf("%s: got %+v, want %+v", p, g, w)
		}
	}
	var buf bytes.Buffer
	if err := r.Summary.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), real) {
		t.Errorf("summary differs from the real file (%d bytes, want %d)", buf.Len(), len(real))
	}
}

// writeReportFor writes a report with the tests, statuses and counts of s.
func writeReportFor(w io.Writer, s *Summary) error {
	var b []byte
	b = append(b, `{"run_info": {"product": "chrome", "browser_version": "127.0.6533.88", "os": "linux", "os_version": "22.04", "revision": "24278ab61781de72ed363b866ae6b50b86822b27"}, "results": [`...)
	for i, p := range s.Paths() {
		ts, _ := s.Get(p)
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, `{"test": `...)
		b, _ = jsontext.AppendQuote(b, p)
		status, ok := longStatus[ts.Status]
		if !ok {
			status = ts.Status
		}
		b = append(b, `, "status": `...)
		b, _ = jsontext.AppendQuote(b, status)
		b = append(b, `, "subtests": [`...)
		for j := range ts.Counts.Total {
			if j > 0 {
				b = append(b, ", "...)
			}
			st := "FAIL"
			if j < ts.Counts.Pass {
				st = "PASS"
			}
			b = fmt.Appendf(b, `{"name": "%d", "status": "%s", "message": null}`, j, st)
		}
		b = append(b, "]}"...)
		if len(b) > 1<<20 {
			if _, err := w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	b = append(b, "]}"...)
	_, err := w.Write(b)
	return err
}

func TestProcess_Concurrent(t *testing.T) {
	// Several Process calls at once share nothing: each gives what the same
	// call gives alone. The shards are read, and every failure reported, on
	// the test goroutine.
	docs := []string{"../testdata/reports/chrome-basic.json", "../testdata/reports/edgechromium-dev.json", "../testdata/reports/safari-stp.json"}
	shards := make([]Shard, len(docs))
	want := make([]*Result, len(docs))
	for i, d := range docs {
		shards[i] = fileShard(t, d)
		want[i] = mustProcess(t, []Shard{shards[i]}, Options{})
	}
	type outcome struct {
		doc int
		r   *Result
		err error
	}
	const rounds = 3
	outcomes := make(chan outcome, rounds*len(docs))
	for range rounds {
		for i := range docs {
			go func() {
				r, err := Process(context.Background(), []Shard{shards[i]}, Options{})
				outcomes <- outcome{i, r, err}
			}()
		}
	}
	for range rounds * len(docs) {
		o := <-outcomes
		switch {
		case o.err != nil:
			t.Errorf("%s: %v", docs[o.doc], o.err)
		case !reflect.DeepEqual(o.r, want[o.doc]):
			t.Errorf("%s: got hash %s, %d tests, %d subtests, want %s, %d, %d and the rest of the Result as processed alone",
				docs[o.doc], o.r.Hash, o.r.Tests, o.r.Subtests, want[o.doc].Hash, want[o.doc].Tests, want[o.doc].Subtests)
		}
	}
}
