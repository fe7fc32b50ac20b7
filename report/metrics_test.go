package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/wptfeed/wptfeed/internal/testutil"
	"github.com/wptfeed/wptfeed/report/reportgen"
)

// mt is one test of a hand-made summary.
type mt struct {
	path        string
	status      string
	pass, total int
}

func mtSummary(tests ...mt) *Summary {
	s := newSummary(len(tests))
	for _, x := range tests {
		s.add(x.path, TestSummary{Status: x.status, Counts: Counts{Pass: x.pass, Total: x.total}})
	}
	return s
}

func TestRunMetrics_TestRules(t *testing.T) {
	tests := []struct {
		name string
		test mt
		want Entry // Dir, Test, Status and Tests are filled in
	}{
		{"pass without subtests", mt{"/a.html", "P", 0, 0}, Entry{TestScore: 1, TestsPassed: 1, Subtests: 1, SubtestsPassed: 1}},
		{"OK without subtests", mt{"/a.html", "O", 0, 0}, Entry{TestScore: 1, Subtests: 1}},
		{"fail without subtests", mt{"/a.html", "F", 0, 0}, Entry{Subtests: 1}},
		{"timeout without subtests", mt{"/a.html", "T", 0, 0}, Entry{Subtests: 1}},
		{"precondition failed", mt{"/a.html", "PF", 0, 0}, Entry{Subtests: 1}},
		{"unknown status", mt{"/a.html", "ASSERT", 0, 0}, Entry{Subtests: 1}},
		{"empty status", mt{"/a.html", "", 0, 0}, Entry{}},
		{"some subtests pass", mt{"/a.html", "O", 3, 4}, Entry{TestScore: 0.75, Subtests: 4, SubtestsPassed: 3}},
		{"all subtests pass", mt{"/a.html", "O", 4, 4}, Entry{TestScore: 1, TestsPassed: 1, Subtests: 4, SubtestsPassed: 4}},
		{"all pass but harness timeout", mt{"/a.html", "T", 4, 4}, Entry{TestScore: 1, Subtests: 4, SubtestsPassed: 4}},
		{"no subtest passes", mt{"/a.html", "E", 0, 7}, Entry{Subtests: 7}},
		{"pass above total is clamped", mt{"/a.html", "O", 5, 4}, Entry{TestScore: 1, TestsPassed: 1, Subtests: 4, SubtestsPassed: 4}},
		{"negative counts are clamped", mt{"/a.html", "F", -1, -2}, Entry{Subtests: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := RunMetrics(mtSummary(tt.test))
			want := tt.want
			want.Dir, want.Test, want.Status, want.Tests = tt.test.path, true, tt.test.status, 1
			if got := m.Tests(); len(got) != 1 || got[0] != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
			want.Dir, want.Test, want.Status = "/", false, ""
			if got, _ := m.Dir("/"); got != want {
				t.Errorf("root: got %+v, want %+v", got, want)
			}
		})
	}
}

func TestRunMetrics_Dirs(t *testing.T) {
	s := mtSummary(
		mt{"/css/css-flexbox/deep/er/x.html", "P", 0, 0},
		mt{"/css/css-flexbox/a.html", "O", 1, 2},
		mt{"/css/b.html", "F", 0, 0},
		mt{"/css-typed-om/c.html", "O", 3, 3},
		mt{"/fetch/api/d.any.html?include=x/y", "O", 0, 4},
		mt{"/fetch/api/d.any.html?exclude=x", "O", 4, 4},
		mt{"/top.html", "P", 0, 0},
		mt{"noslash", "F", 0, 0},
	)
	m := RunMetrics(s)
	var dirs []string
	for _, e := range m.Dirs() {
		dirs = append(dirs, fmt.Sprintf("%s %d %g %d/%d", e.Dir, e.Tests, e.TestScore, e.SubtestsPassed, e.Subtests))
	}
	want := []string{
		"/ 8 4.5 10/17",
		"/css-typed-om/ 1 1 3/3",
		"/css/ 3 1.5 2/4",
		"/css/css-flexbox/ 2 1.5 2/3",
		"/css/css-flexbox/deep/ 1 1 1/1",
		"/css/css-flexbox/deep/er/ 1 1 1/1",
		"/fetch/ 2 1 4/8",
		"/fetch/api/ 2 1 4/8",
	}
	if !reflect.DeepEqual(dirs, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(dirs, "\n"), strings.Join(want, "\n"))
	}
	for _, tt := range []struct {
		dir  string
		want []string
	}{
		{"/", []string{"/css-typed-om/", "/css/", "/fetch/", "/top.html", "noslash"}},
		{"", []string{"/css-typed-om/", "/css/", "/fetch/", "/top.html", "noslash"}},
		{"/css", []string{"/css/b.html", "/css/css-flexbox/"}},
		{"/css/css-flexbox/", []string{"/css/css-flexbox/a.html", "/css/css-flexbox/deep/"}},
		{"/fetch/api/", []string{"/fetch/api/d.any.html?exclude=x", "/fetch/api/d.any.html?include=x/y"}},
		{"/fetch/api/d.any.html?include=x/", nil},
		{"/nope/", nil},
	} {
		var got []string
		for _, e := range m.Children(tt.dir) {
			got = append(got, e.Dir)
			if e.Test != strings.Contains(e.Dir, ".html") && e.Dir != "noslash" {
				t.Errorf("%s: Test = %v", e.Dir, e.Test)
			}
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Children(%q): got %q, want %q", tt.dir, got, tt.want)
		}
	}
	if e, ok := m.Dir("/css"); !ok || e.Dir != "/css/" || e.Tests != 3 {
		t.Errorf("Dir(/css): got %+v, %v", e, ok)
	}
	if _, ok := m.Dir("/fetch/api/d.any.html?include=x/"); ok {
		t.Errorf("a '/' after '?' made a directory")
	}
	wantSeries := map[string]float64{"/": 0.5625, "/css-typed-om/": 1, "/css/": 0.5, "/fetch/": 0.5}
	if got := SeriesPoint(m); !reflect.DeepEqual(got, wantSeries) {
		t.Errorf("SeriesPoint: got %v, want %v", got, wantSeries)
	}
}

// TestRunDirMetrics checks that the directories-only metrics are the same
// as the full ones, without tests.
func TestRunDirMetrics(t *testing.T) {
	s := mtSummary(
		mt{"/css/css-flexbox/a.html", "O", 1, 2},
		mt{"/css/b.html", "F", 0, 0},
		mt{"/fetch/api/d.any.html?include=x/y", "O", 0, 4},
		mt{"/top.html", "P", 0, 0},
	)
	full, dirs := RunMetrics(s), RunDirMetrics(s)
	if !reflect.DeepEqual(full.Dirs(), dirs.Dirs()) {
		t.Errorf("Dirs: got %+v, want %+v", dirs.Dirs(), full.Dirs())
	}
	if got := dirs.Tests(); len(got) != 0 {
		t.Errorf("Tests: got %d, want none", len(got))
	}
	var got []string
	for _, e := range dirs.Children("/css/") {
		got = append(got, e.Dir)
	}
	if want := []string{"/css/css-flexbox/"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Children(/css/): got %q, want %q", got, want)
	}
	if !reflect.DeepEqual(SeriesPoint(full), SeriesPoint(dirs)) {
		t.Errorf("SeriesPoint differs")
	}
	var a, b bytes.Buffer
	if err := full.WriteJSON(&a); err != nil {
		t.Fatal(err)
	}
	if err := dirs.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Errorf("WriteJSON differs:\n%s\n%s", a.String(), b.String())
	}
}

func TestTestDir(t *testing.T) {
	for _, tt := range []struct{ path, want string }{
		{"/a/b.html", "/a/"},
		{"/a.html", "/"},
		{"/a/b.any.html?x=1/2", "/a/"},
		{"/a/b.html?x#y/z", "/a/"},
		{"/a/b.html#x/y", "/a/b.html#x/"}, // only '?' stops the path, as in wpt.fyi
		{"a.html", "/"},
		{"", "/"},
	} {
		if got := TestDir(tt.path); got != tt.want {
			t.Errorf("TestDir(%q): got %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestRunMetrics_Empty(t *testing.T) {
	for _, s := range []*Summary{nil, newSummary(0)} {
		m := RunMetrics(s)
		var buf bytes.Buffer
		if err := m.WriteJSON(&buf); err != nil {
			t.Fatal(err)
		}
		want := `{"dirs": [` + "\n" + `{"dir":"/","tests":0,"test_score":0,"tests_passed":0,"subtests":0,"subtests_passed":0,"test_rate":0,"subtest_rate":0}` + "\n]}\n"
		if buf.String() != want {
			t.Errorf("got %s, want %s", buf.String(), want)
		}
		if got := m.Children("/"); got != nil {
			t.Errorf("Children: got %v, want nil", got)
		}
		if got := SeriesPoint(m); len(got) != 0 {
			t.Errorf("SeriesPoint: got %v, want empty", got)
		}
	}
}

func TestRunMetrics_WriteJSON(t *testing.T) {
	m := RunMetrics(mtSummary(mt{"/a/<b>&.html", "O", 1, 3}))
	var buf bytes.Buffer
	if err := m.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	want := `{"dirs": [
{"dir":"/","tests":1,"test_score":0.3333333333333333,"tests_passed":0,"subtests":3,"subtests_passed":1,"test_rate":0.333333,"subtest_rate":0.333333},
{"dir":"/a/","tests":1,"test_score":0.3333333333333333,"tests_passed":0,"subtests":3,"subtests_passed":1,"test_rate":0.333333,"subtest_rate":0.333333}
]}
`
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
	errDisk := errors.New("disk full")
	if err := m.WriteJSON(errWriter{errDisk}); !errors.Is(err, errDisk) {
		t.Errorf("got %v, want the write error", err)
	}
}

// reversed returns s with its tests in reverse order.
func reversed(s *Summary) *Summary {
	out := newSummary(s.Len())
	for i := s.Len() - 1; i >= 0; i-- {
		out.add(s.paths[i], s.tests[i])
	}
	return out
}

// mtAligned returns the leaf entry of test path in the aligned metrics of
// summaries.
func mtAligned(t *testing.T, path string, ss ...*Summary) AlignedEntry {
	t.Helper()
	runs := make([]AlignedRun, len(ss))
	for i, s := range ss {
		runs[i] = AlignedRun{Product: fmt.Sprint("p", i), RunID: fmt.Sprint(i), Summary: s}
	}
	m := Aligned(runs)
	for _, e := range m.Children(TestDir(path)) {
		if e.Test && e.Dir == path {
			return e
		}
	}
	t.Fatalf("test %s not found", path)
	return AlignedEntry{}
}

func one(status string, pass, total int) *Summary {
	return mtSummary(mt{"/t.html", status, pass, total})
}

var missing = mtSummary(mt{"/other.html", "P", 0, 0})

func TestAligned_Interop(t *testing.T) {
	tests := []struct {
		name        string
		runs        []*Summary
		wantScores  []int
		wantInterop int
	}{
		{"floor per mille", []*Summary{one("O", 2, 3), one("O", 1, 3)}, []int{666, 333}, 333},
		{"all pass", []*Summary{one("O", 5, 5), one("O", 5, 5), one("O", 5, 5)}, []int{1000, 1000, 1000}, 1000},
		{"different subtest counts", []*Summary{one("O", 5, 5), one("O", 3, 3)}, []int{1000, 1000}, 600},
		{"missing in one run", []*Summary{one("O", 5, 5), missing}, []int{1000, 0}, 0},
		{"reftest pass", []*Summary{one("P", 0, 0), one("P", 0, 0)}, []int{1000, 1000}, 1000},
		{"reftest fail in one", []*Summary{one("P", 0, 0), one("F", 0, 0)}, []int{1000, 0}, 0},
		{"OK without subtests is not PASS", []*Summary{one("O", 0, 0), one("P", 0, 0)}, []int{0, 1000}, 0},
		{"subtests in one run only", []*Summary{one("P", 0, 0), one("O", 1, 1)}, []int{1000, 1000}, 0},
		{"harness status ignored with subtests", []*Summary{one("T", 2, 2), one("E", 2, 4)}, []int{1000, 500}, 500},
		{"unknown status", []*Summary{one("ASSERT", 0, 0), one("P", 0, 0)}, []int{0, 1000}, 0},
		{"single run", []*Summary{one("O", 1, 4)}, []int{250}, 250},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mtAligned(t, "/t.html", tt.runs...)
			if !reflect.DeepEqual(e.Scores, tt.wantScores) || !reflect.DeepEqual(e.ScoreSums, tt.wantScores) {
				t.Errorf("scores: got %v (sums %v), want %v", e.Scores, e.ScoreSums, tt.wantScores)
			}
			if e.Interop != tt.wantInterop || e.InteropSum != tt.wantInterop {
				t.Errorf("interop: got %d (sum %d), want %d", e.Interop, e.InteropSum, tt.wantInterop)
			}
		})
	}
}

func TestAligned_BSF(t *testing.T) {
	tests := []struct {
		name string
		runs []*Summary
		want []float64
	}{
		{"only chrome fails", []*Summary{one("F", 0, 0), one("P", 0, 0), one("P", 0, 0)}, []float64{1, 0, 0}},
		{"two fail", []*Summary{one("F", 0, 0), one("F", 0, 0), one("P", 0, 0)}, []float64{0, 0, 0}},
		{"crash", []*Summary{one("P", 0, 0), one("C", 0, 0), one("P", 0, 0)}, []float64{0, 1, 0}},
		{"timeout", []*Summary{one("P", 0, 0), one("P", 0, 0), one("T", 0, 0)}, []float64{0, 0, 1}},
		{"error", []*Summary{one("E", 0, 0), one("O", 0, 0), one("P", 0, 0)}, []float64{1, 0, 0}},
		{"notrun", []*Summary{one("N", 0, 0), one("P", 0, 0), one("P", 0, 0)}, []float64{1, 0, 0}},
		{"precondition failed is neutral", []*Summary{one("F", 0, 0), one("PF", 0, 0), one("P", 0, 0)}, []float64{0, 0, 0}},
		{"skip is neutral", []*Summary{one("F", 0, 0), one("P", 0, 0), one("S", 0, 0)}, []float64{0, 0, 0}},
		{"empty status is neutral", []*Summary{one("F", 0, 0), one("", 0, 0), one("P", 0, 0)}, []float64{0, 0, 0}},
		{"unknown status is neutral", []*Summary{one("F", 0, 0), one("ASSERT", 0, 0), one("P", 0, 0)}, []float64{0, 0, 0}},
		{"missing in one run", []*Summary{one("F", 0, 0), one("P", 0, 0), missing}, []float64{0, 0, 0}},
		{"subtests: one run fails some", []*Summary{one("O", 7, 10), one("O", 10, 10), one("O", 10, 10)}, []float64{0.3, 0, 0}},
		{"subtests: nested failures", []*Summary{one("O", 7, 10), one("O", 9, 10), one("O", 10, 10)}, []float64{0.2, 0, 0}},
		{"subtests: tie", []*Summary{one("O", 8, 10), one("O", 8, 10), one("O", 10, 10)}, []float64{0, 0, 0}},
		{"subtests: missing subtests fail", []*Summary{one("O", 3, 3), one("O", 5, 5)}, []float64{0.4, 0}},
		{"subtests: harness ignored", []*Summary{one("T", 4, 4), one("O", 1, 4)}, []float64{0, 0.75}},
		{"subtests in some runs only", []*Summary{one("F", 0, 0), one("O", 1, 1), one("O", 1, 1)}, []float64{0, 0, 0}},
		{"single run", []*Summary{one("O", 1, 4)}, []float64{0.75}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mtAligned(t, "/t.html", tt.runs...).BSF; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAligned_PassRates(t *testing.T) {
	tests := []struct {
		name      string
		runs      []*Summary
		want      []int
		wantTotal int
	}{
		{"reftest", []*Summary{one("P", 0, 0), one("F", 0, 0), one("P", 0, 0)}, []int{0, 0, 1, 0}, 1},
		{"OK harness counts as passing", []*Summary{one("O", 0, 0), one("O", 0, 0)}, []int{0, 0, 1}, 1},
		// harness: 3 pass; subtests nested: 10 passes in 3, 7 in 3 (7 common), …
		{"nested", []*Summary{one("O", 7, 10), one("O", 9, 10), one("O", 10, 10)}, []int{0, 1, 2, 8}, 11},
		{"timeout harness passes nothing", []*Summary{one("T", 4, 4), one("O", 4, 4)}, []int{0, 5, 0}, 5},
		{"missing in one run", []*Summary{one("O", 2, 4), missing}, []int{2, 3, 0}, 5},
		{"different subtest counts", []*Summary{one("O", 3, 3), one("O", 5, 5)}, []int{0, 2, 4}, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mtAligned(t, "/t.html", tt.runs...)
			if !reflect.DeepEqual(e.PassRates, tt.want) || e.Total != tt.wantTotal {
				t.Errorf("got %v total %d, want %v total %d", e.PassRates, e.Total, tt.want, tt.wantTotal)
			}
		})
	}
}

func TestAligned_Dirs(t *testing.T) {
	chrome := mtSummary(
		mt{"/a/x.html", "O", 2, 3},
		mt{"/a/b/y.html", "P", 0, 0},
		mt{"/a/b/z.html?v=1/2", "O", 1, 1},
		mt{"/c/only-chrome.html", "F", 0, 0},
	)
	firefox := mtSummary(
		mt{"/a/x.html", "O", 3, 3},
		mt{"/a/b/y.html", "F", 0, 0},
		mt{"/a/b/z.html?v=1/2", "O", 1, 1},
	)
	m := Aligned([]AlignedRun{{"chrome", "1", chrome}, {"firefox", "2", firefox}, {"safari", "3", nil}})
	root, ok := m.Dir("/")
	if !ok {
		t.Fatal("no root")
	}
	want := AlignedEntry{
		Dir: "/", Tests: 4, RunTests: []int{4, 3, 0},
		ScoreSums: []int{666 + 1000 + 1000, 1000 + 1000, 0}, Scores: []int{666, 500, 0},
		InteropSum: 0, Interop: 0, // safari has nothing
		// x.html: harness 2 runs, subtests [0 1 2 0]; y.html: harness 1;
		// z.html: harness 2, subtest 2; only-chrome.html: harness 0.
		PassRates: []int{1, 2, 5, 0}, Total: 8,
		BSF: []float64{0, 0, 0},
	}
	if !reflect.DeepEqual(root, want) {
		t.Errorf("root:\ngot  %+v\nwant %+v", root, want)
	}
	// Without the empty safari run, interop and BSF appear.
	m = Aligned([]AlignedRun{{"chrome", "1", chrome}, {"firefox", "2", firefox}})
	b, _ := m.Dir("/a/b")
	want = AlignedEntry{
		Dir: "/a/b/", Tests: 2, RunTests: []int{2, 2},
		ScoreSums: []int{2000, 1000}, Scores: []int{1000, 500},
		InteropSum: 1000, Interop: 500,
		PassRates: []int{0, 1, 2}, Total: 3,
		BSF: []float64{0, 1},
	}
	if !reflect.DeepEqual(b, want) {
		t.Errorf("/a/b/:\ngot  %+v\nwant %+v", b, want)
	}
	var names []string
	for _, e := range m.Children("/a/") {
		names = append(names, e.Dir)
	}
	if want := []string{"/a/b/", "/a/x.html"}; !reflect.DeepEqual(names, want) {
		t.Errorf("Children: got %q, want %q", names, want)
	}
	if got := m.Runs(); len(got) != 2 || got[1].Product != "firefox" || got[1].RunID != "2" {
		t.Errorf("Runs: got %+v", got)
	}
}

func TestAligned_Empty(t *testing.T) {
	for _, runs := range [][]AlignedRun{nil, {{Product: "chrome"}}} {
		m := Aligned(runs)
		if _, ok := m.Dir("/"); !ok {
			t.Errorf("%d runs: no root", len(runs))
		}
		b, err := m.PassRatesJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := "{\"metadata\": null,\n\"data\": []}\n"; string(b) != want {
			t.Errorf("got %q, want %q", b, want)
		}
		var buf bytes.Buffer
		if err := m.WriteJSON(&buf); err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
			t.Errorf("WriteJSON: %v\n%s", err, buf.Bytes())
		}
	}
}

func TestAligned_PassRatesJSON(t *testing.T) {
	chrome := mtSummary(
		mt{"/a/b", "P", 0, 0}, // a test named like a directory
		mt{"/a/b/c.html", "O", 1, 2},
		mt{"/d.html?x/y", "F", 0, 0},
	)
	m := Aligned([]AlignedRun{{"chrome", "1", chrome}})
	b, err := m.PassRatesJSON(map[string]any{"url": "https://example.org/<pass-rates>.json"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"metadata": {"url":"https://example.org/\u003cpass-rates\u003e.json"},
"data": [
{"dir":"","pass_rates":[2,3],"total":5},
{"dir":"/a","pass_rates":[1,3],"total":4},
{"dir":"/a/b","pass_rates":[1,3],"total":4},
{"dir":"/a/b/c.html","pass_rates":[1,2],"total":3},
{"dir":"/d.html?x/y","pass_rates":[1,0],"total":1}
]}
`
	if string(b) != want {
		t.Errorf("got\n%s\nwant\n%s", b, want)
	}
	var unsupported *json.UnsupportedTypeError
	if _, err := m.PassRatesJSON(func() {}); !errors.As(err, &unsupported) {
		t.Errorf("unencodable metadata: got %v, want a *json.UnsupportedTypeError", err)
	}
}

// TestAligned_PassRatesFixture checks that wpt.fyi's pass-rates fixture
// decodes into exactly the fields PassRatesJSON writes, and that our rows
// keep its invariants (sorted keys, root "", sum of pass_rates = total).
func TestAligned_PassRatesFixture(t *testing.T) {
	data, err := os.ReadFile("../../shared/testdata-wptfyi/wptfyi-passrates-fixture.json")
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("wpt.fyi fixture not present")
	}
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, data []byte, runs int) {
		var doc struct {
			Metadata json.RawMessage `json:"metadata"`
			Data     []passRateRow   `json:"data"`
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(doc.Data) == 0 || doc.Data[0].Dir != "" {
			t.Fatalf("%s: first row is not the root", name)
		}
		for i, r := range doc.Data {
			if i > 0 && doc.Data[i-1].Dir >= r.Dir {
				t.Errorf("%s: %q not sorted after %q", name, r.Dir, doc.Data[i-1].Dir)
			}
			sum := 0
			for _, v := range r.PassRates {
				sum += v
			}
			if len(r.PassRates) != runs+1 || sum != r.Total {
				t.Errorf("%s: %q: pass_rates %v, total %d", name, r.Dir, r.PassRates, r.Total)
			}
			if r.Dir != "" && (!strings.HasPrefix(r.Dir, "/") || strings.HasSuffix(r.Dir, "/")) {
				t.Errorf("%s: bad key %q", name, r.Dir)
			}
		}
	}
	check("fixture", data, 4)
	runs := metricsGoldenRuns(t)
	ours, err := Aligned(runs).PassRatesJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	check("ours", ours, len(runs))
}

func TestMetrics_Deterministic(t *testing.T) {
	runs := metricsGoldenRuns(t)
	rev := make([]AlignedRun, len(runs))
	for i, r := range runs {
		rev[i] = r
		rev[i].Summary = reversed(r.Summary)
	}
	for i := range runs {
		a, b := mustMetricsJSON(t, RunMetrics(runs[i].Summary)), mustMetricsJSON(t, RunMetrics(rev[i].Summary))
		if !bytes.Equal(a, b) {
			t.Errorf("%s: per-run metrics depend on test order", runs[i].Product)
		}
	}
	a, b := mustMetricsJSON(t, Aligned(runs)), mustMetricsJSON(t, Aligned(rev))
	if !bytes.Equal(a, b) {
		t.Error("aligned metrics depend on test order")
	}
}

// TestMetrics_Invariants checks, on the realistic runs, that every
// directory is the sum of its children and that the aligned metrics agree
// with the per-run ones.
func TestMetrics_Invariants(t *testing.T) {
	runs := metricsGoldenRuns(t)
	per := make([]*DirMetrics, len(runs))
	for i, r := range runs {
		per[i] = RunMetrics(r.Summary)
		for _, d := range per[i].Dirs() {
			var sum Entry
			for _, c := range per[i].Children(d.Dir) {
				sum.add(&c)
			}
			if sum.Tests != d.Tests || sum.Subtests != d.Subtests || sum.SubtestsPassed != d.SubtestsPassed ||
				sum.TestsPassed != d.TestsPassed || math.Abs(sum.TestScore-d.TestScore) > 1e-9 {
				t.Errorf("%s %s: children sum to %+v, want %+v", runs[i].Product, d.Dir, sum, d)
			}
		}
	}
	m := Aligned(runs)
	for _, d := range m.Dirs() {
		n := len(runs)
		sum := newAlignedEntry(d.Dir, n, make([]int, 4*n+1), make([]float64, n))
		for _, c := range m.Children(d.Dir) {
			sum.add(&c)
		}
		sum.finish()
		if !reflect.DeepEqual(roundBSF(sum), roundBSF(d)) {
			t.Errorf("%s: children sum to %+v, want %+v", d.Dir, sum, d)
		}
		// Each run's passing results (harness + subtests of passing
		// harnesses) are counted once per run in the histogram.
		weighted := 0
		for k, v := range d.PassRates {
			weighted += k * v
		}
		passing := 0
		for i, r := range runs {
			if _, ok := per[i].Dir(d.Dir); !ok {
				continue
			}
			for _, p := range r.Summary.paths {
				if !strings.HasPrefix(TestDir(p), d.Dir) {
					continue
				}
				ts, _ := r.Summary.Get(p)
				if passingStatus(ts.Status) {
					passing += 1 + ts.Counts.Pass
				}
			}
		}
		if weighted != passing {
			t.Errorf("%s: pass rates weigh %d passing results, want %d", d.Dir, weighted, passing)
		}
		for i := range runs {
			if e, ok := per[i].Dir(d.Dir); ok && e.Tests != d.RunTests[i] {
				t.Errorf("%s: run %d has %d tests, per-run metrics say %d", d.Dir, i, d.RunTests[i], e.Tests)
			}
		}
	}
}

func roundBSF(e AlignedEntry) AlignedEntry {
	e.BSF = slicesMap(e.BSF, func(f float64) float64 { return math.Round(f*1e9) / 1e9 })
	return e
}

func slicesMap(in []float64, f func(float64) float64) []float64 {
	out := make([]float64, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

// TestMetrics_Golden computes the metrics of generated, realistic runs
// (report/reportgen at Scale 0.02, processed by Process) and compares them
// with testdata/metrics/*.golden (rewritten with -update). To keep the
// files small, they hold the directories (and pass-rates rows) of the top
// three levels only; TestMetrics_Invariants covers the deeper ones.
func TestMetrics_Golden(t *testing.T) {
	runs := metricsGoldenRuns(t)
	for _, r := range runs {
		checkMetricsGolden(t, r.Product+".golden", goldenTop(mustMetricsJSON(t, RunMetrics(r.Summary)), 3))
	}
	m := Aligned(runs)
	checkMetricsGolden(t, "aligned.golden", goldenTop(mustMetricsJSON(t, m), 3))
	pr, err := m.PassRatesJSON(map[string]any{"test_runs": m.Runs()})
	if err != nil {
		t.Fatal(err)
	}
	checkMetricsGolden(t, "pass-rates.golden", goldenTop(pr, 3))
	series := make(map[string]map[string]float64)
	for _, r := range runs {
		series[r.Product] = SeriesPoint(RunMetrics(r.Summary))
	}
	b, err := json.MarshalIndent(series, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	checkMetricsGolden(t, "series.golden", append(b, '\n'))
	var children bytes.Buffer
	for _, e := range RunMetrics(runs[0].Summary).Children("/") {
		fmt.Fprintf(&children, "%s\n", mustJSONLine(t, e.wire()))
	}
	for _, e := range m.Children("/") {
		fmt.Fprintf(&children, "%s\n", mustJSONLine(t, e))
	}
	checkMetricsGolden(t, "children.golden", children.Bytes())
}

// goldenTop keeps the lines of a metrics document (one entry per line)
// whose "dir" has at most levels slashes, not counting a trailing one, and
// keeps it valid JSON.
func goldenTop(doc []byte, levels int) []byte {
	var out []string
	for _, l := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(l, `{"dir":`) {
			if n := len(out) - 1; n >= 0 && strings.HasPrefix(l, "]") {
				out[n] = strings.TrimSuffix(out[n], ",")
			}
			out = append(out, l)
			continue
		}
		var e struct{ Dir string }
		if err := json.Unmarshal([]byte(strings.TrimSuffix(l, ",")), &e); err != nil {
			panic(err)
		}
		if strings.Count(strings.TrimSuffix(e.Dir, "/"), "/") <= levels {
			out = append(out, strings.TrimSuffix(l, ",")+",")
		}
	}
	return []byte(strings.Join(out, "\n"))
}

func mustJSONLine(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustMetricsJSON(tb testing.TB, m interface{ WriteJSON(io.Writer) error }) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := m.WriteJSON(&buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// checkMetricsGolden compares got with testdata/metrics/name, or rewrites
// it with -update.
func checkMetricsGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	testutil.Golden(t, filepath.Join("testdata", "metrics", name), got)
}

// genSummary runs a reportgen report through Process, streaming its shards.
func genSummary(cfg reportgen.Config) (*Summary, error) {
	if cfg.Shards == 0 {
		cfg.Shards = 2
	}
	shards := make([]Shard, cfg.Shards)
	for i := range shards {
		shards[i] = Shard{Name: fmt.Sprintf("%s-%d.json", cfg.Product, i), Open: func() (io.ReadCloser, error) {
			pr, pw := io.Pipe()
			go func() { pw.CloseWithError(reportgen.Write(pw, cfg, i)) }()
			return pr, nil
		}}
	}
	r, err := Process(context.Background(), shards, Options{})
	if err != nil {
		return nil, err
	}
	return r.Summary, nil
}

// perturb returns s changed deterministically per test, so that runs of
// other products differ from it: reportgen reproduces the same statuses
// and counts for every seed and product. About one test in 16 each is
// missing, fully passing, half failing, timed out or PRECONDITION_FAILED,
// and the product gets a directory of its own.
func perturb(s *Summary, product string) *Summary {
	out := newSummary(s.Len() + 2)
	for i, p := range s.paths {
		ts := s.tests[i]
		h := fnv.New32a()
		h.Write([]byte(product))
		h.Write([]byte(p))
		switch h.Sum32() % 16 {
		case 0:
			continue
		case 1:
			ts.Counts.Pass = ts.Counts.Total
			if ts.Counts.Total == 0 {
				ts.Status = "P"
			}
		case 2:
			ts.Counts.Pass /= 2
			if ts.Counts.Total == 0 {
				ts.Status = "F"
			}
		case 3:
			ts.Status = "T"
		case 4:
			ts.Status = "PF"
		}
		out.add(p, ts)
	}
	out.add("/"+product+"-only/a.html", TestSummary{Status: "O", Counts: Counts{Pass: 1, Total: 2}})
	out.add("/"+product+"-only/b.html", TestSummary{Status: "P"})
	return out
}

// metricsRuns are the realistic aligned runs of the golden files: chrome,
// and firefox and safari perturbed.
var metricsRuns = sync.OnceValues(func() ([]AlignedRun, error) {
	return genAlignedRuns(0.02)
})

// genAlignedRuns returns three aligned runs of reportgen reports of a
// scale: chrome as generated, firefox and safari perturbed.
func genAlignedRuns(scale float64) ([]AlignedRun, error) {
	runs := []AlignedRun{
		{Product: "chrome", RunID: "20240601T060000Z-chrome"},
		{Product: "firefox", RunID: "20240602T060000Z-firefox"},
		{Product: "safari", RunID: "20240603T060000Z-safari"},
	}
	for i := range runs {
		s, err := genSummary(reportgen.Config{Seed: int64(i + 1), Scale: scale, Product: runs[i].Product})
		if err != nil {
			return nil, err
		}
		if i > 0 {
			s = perturb(s, runs[i].Product)
		}
		runs[i].Summary = s
	}
	return runs, nil
}

func metricsGoldenRuns(t *testing.T) []AlignedRun {
	t.Helper()
	runs, err := metricsRuns()
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

// BenchmarkMetrics measures the metrics of full-size runs (reportgen at
// Scale 1: 32,720 tests, 1.6M subtests, processed once beforehand): the
// per-run metrics of one run, and the aligned metrics of three.
func BenchmarkMetrics(b *testing.B) {
	runs, err := fullRuns()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("RunMetrics", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			RunMetrics(runs[0].Summary)
		}
	})
	b.Run("RunMetrics+WriteJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := RunMetrics(runs[0].Summary).WriteJSON(io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Aligned3", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Aligned(runs)
		}
	})
	b.Run("Aligned3+JSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := Aligned(runs)
			if err := m.WriteJSON(io.Discard); err != nil {
				b.Fatal(err)
			}
			if _, err := m.PassRatesJSON(nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

var fullRuns = sync.OnceValues(func() ([]AlignedRun, error) { return genAlignedRuns(1) })

func ExampleRunMetrics() {
	s, err := ReadSummary(strings.NewReader(`{
		"/css/a.html": {"s": "O", "c": [3, 4]},
		"/css/b.html": {"s": "P", "c": [0, 0]},
		"/css/sub/c.html": {"s": "F", "c": [0, 0]},
		"/dom/d.any.html?x/y": {"s": "O", "c": [2, 2]}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	m := RunMetrics(s)
	for _, e := range m.Children("/css/") {
		fmt.Printf("%s test=%v %.2f of %d tests, %d/%d subtests\n",
			e.Dir, e.Test, e.TestScore, e.Tests, e.SubtestsPassed, e.Subtests)
	}
	fmt.Println(SeriesPoint(m))
	// Output:
	// /css/a.html test=true 0.75 of 1 tests, 3/4 subtests
	// /css/b.html test=true 1.00 of 1 tests, 1/1 subtests
	// /css/sub/ test=false 0.00 of 1 tests, 0/1 subtests
	// map[/:0.6875 /css/:0.583333 /dom/:1]
}

func ExampleAligned() {
	read := func(doc string) *Summary {
		s, err := ReadSummary(strings.NewReader(doc))
		if err != nil {
			panic(err)
		}
		return s
	}
	m := Aligned([]AlignedRun{
		{Product: "chrome", RunID: "1", Summary: read(`{"/a/x.html": {"s": "O", "c": [2, 3]}, "/a/y.html": {"s": "P", "c": [0, 0]}}`)},
		{Product: "firefox", RunID: "2", Summary: read(`{"/a/x.html": {"s": "O", "c": [3, 3]}, "/a/y.html": {"s": "F", "c": [0, 0]}}`)},
	})
	a, _ := m.Dir("/a/")
	fmt.Println("scores", a.Scores, "interop", a.Interop, "bsf", a.BSF)
	b, err := m.PassRatesJSON(map[string]string{"note": "example"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(b))
	// Output:
	// scores [833 500] interop 333 bsf [0.3333333333333333 1]
	// {"metadata": {"note":"example"},
	// "data": [
	// {"dir":"","pass_rates":[0,2,3],"total":5},
	// {"dir":"/a","pass_rates":[0,2,3],"total":5},
	// {"dir":"/a/x.html","pass_rates":[0,1,3],"total":4},
	// {"dir":"/a/y.html","pass_rates":[0,1,0],"total":1}
	// ]}
}
