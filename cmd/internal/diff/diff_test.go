package diff

import (
	"bytes"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/wptfeed/wptfeed/internal/testutil"
	"github.com/wptfeed/wptfeed/report"
)

func TestParseFilter(t *testing.T) {
	tests := []struct {
		in   string
		want Filter
		str  string
		err  bool
	}{
		{"", DefaultFilter, "ADC", false},
		{"A", Filter{Added: true}, "A", false},
		{"UCDA", Filter{true, true, true, true}, "ADCU", false},
		{"CC", Filter{Changed: true}, "C", false},
		{"a", Filter{}, "", true},
		{"AX", Filter{}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseFilter(tt.in)
			if tt.err {
				if !errors.Is(err, ErrFilter) {
					t.Fatalf("got error %v, want ErrFilter", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || got.String() != tt.str {
				t.Errorf("got %+v (%q), want %+v (%q)", got, got.String(), tt.want, tt.str)
			}
		})
	}
}

// TestCompute_RunDiffBehaviours has a case for each behaviour that
// wpt.fyi's shared/run_diff.go documents (NewTestDiff, GetResultsDiff,
// ResultsDiff.Regressions, anyPathMatches; cases after its
// shared/run_diff_test.go), plus ours: summary_v2 entries are compared as
// the summary v1 counts run_diff.go reads, known_intermittent statuses and
// flaky tests. Counts in the cases are summary_v2's (subtests only); the
// want diffs are on v1 counts (status + subtests).
func TestCompute_RunDiffBehaviours(t *testing.T) {
	const p = "/mock/path.html"
	one := func(s string, pass, total int) []entry { return []entry{{p, s, pass, total}} }
	tests := []struct {
		name          string
		before, after []entry
		opts          Options
		want          map[string][3]int
		regressions   []string
		expected      int
	}{
		// NewTestDiff: "changed" is a different passing or total count;
		// an unchanged test is kept only with U.
		{name: "no difference", before: one("O", 0, 1), after: one("O", 0, 1), want: map[string][3]int{}},
		{name: "no difference, 3/4", before: one("O", 3, 4), after: one("O", 3, 4), want: map[string][3]int{}},
		{name: "unchanged with U", before: one("O", 3, 4), after: one("O", 3, 4),
			opts: Options{Filter: Filter{Changed: true, Unchanged: true}}, want: map[string][3]int{p: {0, 0, 0}}},
		// GetResultsDiff visits the before run only for D or C: U alone
		// keeps nothing.
		{name: "U alone keeps nothing", before: one("O", 3, 4), after: one("O", 3, 4),
			opts: Options{Filter: Filter{Unchanged: true}}, want: map[string][3]int{}},
		// TestDiffResults_Difference: improved/regressed are the increases
		// in passing and failing results.
		{name: "one now passing", before: one("O", 0, 1), after: one("O", 1, 1), want: map[string][3]int{p: {1, 0, 0}}},
		{name: "one now failing", before: one("O", 1, 1), after: one("O", 0, 1),
			want: map[string][3]int{p: {0, 1, 0}}, regressions: []string{p}},
		{name: "two, one now failing", before: one("O", 2, 2), after: one("O", 1, 2),
			want: map[string][3]int{p: {0, 1, 0}}, regressions: []string{p}},
		{name: "three, two now passing", before: one("O", 1, 3), after: one("O", 3, 3), want: map[string][3]int{p: {2, 0, 0}}},
		// TestDiffResults_Added (subtests added to a test): "newly
		// introduced tests should still be counted (e.g. 0/2 => 0/5)".
		{name: "new subtest passing", before: one("O", 1, 1), after: one("O", 2, 2), want: map[string][3]int{p: {1, 0, 1}}},
		{name: "new subtest failing", before: one("O", 1, 1), after: one("O", 1, 2),
			want: map[string][3]int{p: {0, 1, 1}}, regressions: []string{p}},
		{name: "0/2 to 0/5", before: one("O", 0, 2), after: one("O", 0, 5),
			want: map[string][3]int{p: {0, 3, 3}}, regressions: []string{p}},
		// TestDiffResults_Removed and ResultsDiff.Regressions: a decrease
		// of the total is a regression, with no newly failing result.
		{name: "subtest removed", before: one("O", 2, 2), after: one("O", 1, 1),
			want: map[string][3]int{p: {0, 0, -1}}, regressions: []string{p}},
		{name: "failing subtest removed", before: one("O", 1, 2), after: one("O", 1, 1),
			want: map[string][3]int{p: {0, 0, -1}}, regressions: []string{p}},
		// NewTestDiff(nil, after): an added test is [passing, failing, total].
		{name: "added test", before: nil, after: one("O", 1, 3),
			want: map[string][3]int{p: {2, 2, 4}}, regressions: []string{p}},
		{name: "added passing reftest", before: nil, after: one("P", 0, 0), want: map[string][3]int{p: {1, 0, 1}}},
		// NewTestDiff(before, nil): "Missing tests are only counted
		// towards changes in the total", and that is a regression.
		{name: "deleted test", before: one("O", 1, 2), after: nil,
			want: map[string][3]int{p: {0, 0, -3}}, regressions: []string{p}},
		{name: "deleted, no D", before: one("O", 1, 2), after: nil,
			opts: Options{Filter: Filter{Added: true, Changed: true}}, want: map[string][3]int{}},
		// The status counts as a result (summary v1), so a reftest's
		// status change is a change.
		{name: "reftest PASS to FAIL", before: one("P", 0, 0), after: one("F", 0, 0),
			want: map[string][3]int{p: {0, 1, 0}}, regressions: []string{p}},
		{name: "harness OK to ERROR", before: one("O", 2, 2), after: one("E", 2, 2),
			want: map[string][3]int{p: {0, 1, 0}}, regressions: []string{p}},
		{name: "FAIL to TIMEOUT is no change", before: one("F", 0, 0), after: one("T", 0, 0), want: map[string][3]int{}},
		// Ours: known_intermittent.
		{name: "into a known intermittent status", before: one("P", 0, 0), after: one("T", 0, 0),
			opts: Options{KnownIntermittent: map[string][]string{p: {"PASS", "TIMEOUT"}}},
			want: map[string][3]int{p: {0, 1, 0}}, expected: 1},
		{name: "abbreviated known intermittent", before: one("O", 0, 0), after: one("E", 0, 0),
			opts: Options{KnownIntermittent: map[string][]string{p: {"E"}}},
			want: map[string][3]int{p: {0, 1, 0}}, expected: 1},
		{name: "same status, subtests regress", before: one("T", 2, 2), after: one("T", 1, 2),
			opts: Options{KnownIntermittent: map[string][]string{p: {"TIMEOUT"}}},
			want: map[string][3]int{p: {0, 1, 0}}, regressions: []string{p}},
		{name: "known intermittent of another test", before: one("P", 0, 0), after: one("T", 0, 0),
			opts: Options{KnownIntermittent: map[string][]string{"/other.html": {"TIMEOUT"}}},
			want: map[string][3]int{p: {0, 1, 0}}, regressions: []string{p}},
		// Ours: a flaky test is listed apart.
		{name: "flaky", before: one("P", 0, 0), after: one("F", 0, 0),
			opts: Options{Flaky: map[string]bool{p: true}}, want: map[string][3]int{p: {0, 1, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustCompute(t, summaryJSON(tt.before...), summaryJSON(tt.after...), tt.opts)
			if got := d.ResultsDiff(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got diff %v, want %v", got, tt.want)
			}
			if got, want := join(d.Regressions), join(tt.regressions); got != want {
				t.Errorf("got regressions %q, want %q", got, want)
			}
			if d.Totals.Expected != tt.expected {
				t.Errorf("got %d expected, want %d", d.Totals.Expected, tt.expected)
			}
			if tt.opts.Flaky[p] && len(d.Tests) > 0 && join(d.Flaky) != p {
				t.Errorf("got flaky %q, want %q", d.Flaky, p)
			}
		})
	}
}

// TestCompute_Filters follows run_diff_test.go's TestDiffResults_Filtered:
// each letter alone, and path prefixes (anyPathMatches: a plain prefix).
func TestCompute_Filters(t *testing.T) {
	const removed, changed, added = "/mock/removed.html", "/mock/changed.html", "/mock/added.html"
	before := summaryJSON(entry{removed, "O", 1, 2}, entry{changed, "O", 2, 5})
	after := summaryJSON(entry{changed, "O", 3, 5}, entry{added, "O", 1, 3})
	tests := []struct {
		name   string
		filter string
		paths  []string
		want   map[string][3]int
	}{
		{"changed", "C", nil, map[string][3]int{changed: {1, 0, 0}}},
		{"added", "A", nil, map[string][3]int{added: {2, 2, 4}}},
		{"deleted", "D", nil, map[string][3]int{removed: {0, 0, -3}}},
		{"default", "", nil, map[string][3]int{changed: {1, 0, 0}, added: {2, 2, 4}, removed: {0, 0, -3}}},
		{"root prefix", "C", []string{"/"}, map[string][3]int{changed: {1, 0, 0}}},
		{"dir prefix", "C", []string{"/mock/"}, map[string][3]int{changed: {1, 0, 0}}},
		{"file prefix", "C", []string{changed}, map[string][3]int{changed: {1, 0, 0}}},
		{"partial name prefix", "ADC", []string{"/mock/a"}, map[string][3]int{added: {2, 2, 4}}},
		{"none match", "ADC", []string{"/different/path/"}, map[string][3]int{}},
		{"one of two", "ADC", []string{"/x/", removed}, map[string][3]int{removed: {0, 0, -3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFilter(tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			d := mustCompute(t, before, after, Options{Filter: f, Paths: tt.paths})
			if got := d.ResultsDiff(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// goldenPair is a hand-built pair of runs with every category: added
// (passing, failing), deleted, changed (improved, regressed, fewer
// subtests, reftest status), unchanged, expected and flaky, under three
// directories and the root.
func goldenPair() (before, after []byte, ki map[string][]string, flaky map[string]bool) {
	before = summaryJSON(
		entry{"/css/b-unchanged.html", "O", 3, 4},
		entry{"/css/a-improved.html", "O", 1, 3},
		entry{"/css/c-regressed.html", "O", 4, 4},
		entry{"/dom/deleted.html", "O", 2, 2},
		entry{"/dom/fewer-subtests.html", "O", 5, 5},
		entry{"/dom/ref-regressed.html", "P", 0, 0},
		entry{"/html/expected.html", "P", 0, 0},
		entry{"/html/flaky.html", "P", 0, 0},
		entry{"/html/flaky-unchanged.html", "P", 0, 0},
		entry{"/root.html", "F", 0, 0},
	)
	after = summaryJSON(
		entry{"/html/added-failing.html", "O", 0, 2},
		entry{"/css/a-improved.html", "O", 3, 3},
		entry{"/css/b-unchanged.html", "O", 3, 4},
		entry{"/css/c-regressed.html", "O", 2, 4},
		entry{"/dom/fewer-subtests.html", "O", 3, 3},
		entry{"/dom/ref-regressed.html", "F", 0, 0},
		entry{"/html/expected.html", "T", 0, 0},
		entry{"/html/flaky.html", "F", 0, 0},
		entry{"/html/flaky-unchanged.html", "P", 0, 0},
		entry{"/root.html", "P", 0, 0},
		entry{"/css/added-passing.html", "P", 0, 0},
	)
	ki = map[string][]string{"/html/expected.html": {"PASS", "TIMEOUT"}}
	flaky = map[string]bool{"/html/flaky.html": true, "/html/flaky-unchanged.html": true}
	return before, after, ki, flaky
}

func TestCompute_Golden(t *testing.T) {
	before, after, ki, flaky := goldenPair()
	tests := []struct {
		name, filter string
		paths        []string
	}{
		{"default", "", nil},
		{"all", "ADCU", nil},
		{"html-added", "A", []string{"/html/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFilter(tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			d := mustCompute(t, before, after, Options{Filter: f, Paths: tt.paths, KnownIntermittent: ki, Flaky: flaky})
			d.Before, d.After = "before-run", "after-run"
			var b bytes.Buffer
			if err := d.WriteJSON(&b); err != nil {
				t.Fatal(err)
			}
			if n := bytes.Count(b.Bytes(), []byte("\n")); n != 1 {
				t.Errorf("got %d lines, want 1", n)
			}
			testutil.Golden(t, filepath.Join("testdata", tt.name+".golden"), indent(t, b.Bytes()))
		})
	}
}

// TestCompute_GoldenCategories checks what the golden files hold, so that
// an -update cannot accept a wrong diff unnoticed.
func TestCompute_GoldenCategories(t *testing.T) {
	before, after, ki, flaky := goldenPair()
	d := mustCompute(t, before, after, Options{Filter: Filter{true, true, true, true}, KnownIntermittent: ki, Flaky: flaky})
	kinds := map[string]Kind{}
	for _, c := range d.Tests {
		kinds[c.Test] = c.Kind
	}
	want := map[string]Kind{
		"/css/a-improved.html": Changed, "/css/added-passing.html": Added, "/css/b-unchanged.html": Unchanged,
		"/css/c-regressed.html": Changed, "/dom/deleted.html": Deleted, "/dom/fewer-subtests.html": Changed,
		"/dom/ref-regressed.html": Changed, "/html/added-failing.html": Added, "/html/expected.html": Changed,
		"/html/flaky.html": Changed, "/html/flaky-unchanged.html": Unchanged, "/root.html": Changed,
	}
	if !reflect.DeepEqual(kinds, want) {
		t.Errorf("got kinds %v, want %v", kinds, want)
	}
	for _, c := range []struct{ got, want string }{
		{join(d.Regressions), "/css/c-regressed.html,/dom/deleted.html,/dom/fewer-subtests.html,/dom/ref-regressed.html,/html/added-failing.html"},
		{join(d.Improvements), "/css/a-improved.html,/css/added-passing.html,/root.html"},
		{join(d.Flaky), "/html/flaky.html"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	var dirs []string
	sum := Totals{}
	for _, dt := range d.Dirs {
		dirs = append(dirs, dt.Dir)
		sum.Added += dt.Added
		sum.Deleted += dt.Deleted
		sum.Changed += dt.Changed
		sum.Unchanged += dt.Unchanged
		sum.NewlyPassing += dt.NewlyPassing
		sum.NewlyFailing += dt.NewlyFailing
		sum.TotalDelta += dt.TotalDelta
		sum.Regressions += dt.Regressions
		sum.Improvements += dt.Improvements
		sum.Expected += dt.Expected
		sum.Flaky += dt.Flaky
	}
	if got := strings.Join(dirs, " "); got != "/ /css/ /dom/ /html/" {
		t.Errorf("got dirs %q, want %q", got, "/ /css/ /dom/ /html/")
	}
	if sum != d.Totals {
		t.Errorf("got directory sums %+v, want the totals %+v", sum, d.Totals)
	}
	wantTotals := Totals{Added: 2, Deleted: 1, Changed: 7, Unchanged: 2, NewlyPassing: 2 + 1 + 1 + 1,
		NewlyFailing: 2 + 1 + 1 + 1 + 2, TotalDelta: -3 - 2 + 3 + 1, Regressions: 5, Improvements: 3, Expected: 1, Flaky: 1}
	if d.Totals != wantTotals {
		t.Errorf("got totals %+v, want %+v", d.Totals, wantTotals)
	}
}

func TestCompute_Errors(t *testing.T) {
	good := summaryJSON(entry{"/a.html", "P", 0, 0})
	tests := []struct {
		name          string
		before, after string
		side          string
	}{
		{"before not JSON", "{", string(good), "before"},
		{"after wrong type", string(good), `{"/a.html": {"s": 1, "c": [0, 0]}}`, "after"},
		{"after empty", string(good), "", "after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compute(strings.NewReader(tt.before), strings.NewReader(tt.after), Options{})
			var re *report.Error
			if !errors.As(err, &re) {
				t.Fatalf("got %v, want a *report.Error", err)
			}
			if !strings.Contains(err.Error(), "read "+tt.side+" summary") {
				t.Errorf("got %q, want it to name the %s summary", err, tt.side)
			}
		})
	}
}

// TestCompute_RealSummary diffs the full-size real summary with itself and
// with a perturbed copy, whose planted changes must all be found.
func TestCompute_RealSummary(t *testing.T) {
	doc := realSummary(t)
	same := mustCompute(t, doc, doc, Options{})
	if len(same.Tests) != 0 || same.Totals != (Totals{}) {
		t.Errorf("a run diffed with itself: got %d tests, totals %+v, want none", len(same.Tests), same.Totals)
	}
	all := mustCompute(t, doc, doc, Options{Filter: Filter{Changed: true, Unchanged: true}})
	if all.Totals.Unchanged != 32720 {
		t.Errorf("got %d unchanged, want 32720", all.Totals.Unchanged)
	}
	pert, p := perturb(t, doc)
	d := mustCompute(t, doc, pert, Options{})
	if d.Totals.Added != p.added || d.Totals.Deleted != p.deleted || d.Totals.Changed != p.regressed+p.improved {
		t.Errorf("got totals %+v, want %+v", d.Totals, p)
	}
	if len(d.Regressions) != p.regressed+p.deleted {
		t.Errorf("got %d regressions, want %d (regressed and deleted)", len(d.Regressions), p.regressed+p.deleted)
	}
	if len(d.Improvements) != p.improved+p.added {
		t.Errorf("got %d improvements, want %d (improved and added passing)", len(d.Improvements), p.improved+p.added)
	}
}

func TestTopDir(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"/css/a/b.html", "/css/"},
		{"/a.html", "/"},
		{"/a.html?x=/y", "/"},
		{"/dom/a.html?x=/y/z", "/dom/"},
		{"a/b.html", "/"},
		{"", "/"},
		{"//x", "//"},
	} {
		if got := topDir(tt.in); got != tt.want {
			t.Errorf("topDir(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}
