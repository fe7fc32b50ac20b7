package diff

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/wptfeed/wptfeed/report"
)

// ErrFilter is returned (wrapped) by ParseFilter for a letter outside ADCU.
var ErrFilter = errors.New("diff: invalid filter")

// Filter says which tests a diff keeps, as wpt.fyi's `filter` parameter
// (its DiffFilterParam, letters after Git's --diff-filter): A added (in
// the after run only), D deleted (in the before run only), C changed (in
// both, passing or total count differs), U unchanged (in both, same
// counts).
type Filter struct {
	Added, Deleted, Changed, Unchanged bool
}

// DefaultFilter is wpt.fyi's default, "ADC": every change, no unchanged
// test.
var DefaultFilter = Filter{Added: true, Deleted: true, Changed: true}

// ParseFilter parses filter letters as wpt.fyi's ParseDiffFilterParams
// does: "" is DefaultFilter, otherwise each letter of "ADCU" sets its kind
// and any other character is an error wrapping ErrFilter.
func ParseFilter(s string) (Filter, error) {
	if s == "" {
		return DefaultFilter, nil
	}
	var f Filter
	for _, c := range s {
		switch c {
		case 'A':
			f.Added = true
		case 'D':
			f.Deleted = true
		case 'C':
			f.Changed = true
		case 'U':
			f.Unchanged = true
		default:
			return Filter{}, fmt.Errorf("%w: character %q (want letters of ADCU)", ErrFilter, c)
		}
	}
	return f, nil
}

// String returns the filter's letters in the order ADCU.
func (f Filter) String() string {
	var b strings.Builder
	for _, l := range []struct {
		on bool
		c  byte
	}{{f.Added, 'A'}, {f.Deleted, 'D'}, {f.Changed, 'C'}, {f.Unchanged, 'U'}} {
		if l.on {
			b.WriteByte(l.c)
		}
	}
	return b.String()
}

// Options are a diff's parameters. The zero value is wpt.fyi's default
// request: filter ADC, every path, nothing expected, nothing flaky.
type Options struct {
	// Filter selects the kinds of tests kept; the zero Filter means
	// DefaultFilter (as an empty `filter` parameter does).
	Filter Filter
	// Paths keeps only tests whose path starts with one of these prefixes
	// (wpt.fyi's `path`/`paths`: "/css/" keeps /css/…, "/css" also keeps
	// /css-foo/…); none keeps every test.
	Paths []string
	// KnownIntermittent maps a test path to the statuses its report lists
	// as known_intermittent (wptreport names such as "TIMEOUT", or
	// summary_v2 abbreviations such as "T"). A test whose status changes
	// into one of them is marked expected and is not a regression.
	KnownIntermittent map[string][]string
	// Flaky is the set of tests the series' history marks flaky (see
	// History.Flaky); their changes are listed apart from regressions.
	Flaky map[string]bool
}

// Kind is a test's category in a diff, as the filter letters.
type Kind string

// The kinds of a test in a diff.
const (
	Added     Kind = "A"
	Deleted   Kind = "D"
	Changed   Kind = "C"
	Unchanged Kind = "U"
)

// Entry is a test's summary_v2 entry as stored: its status abbreviation
// and [passing subtests, subtests].
type Entry struct {
	Status string `json:"s"`
	Counts [2]int `json:"c"`
}

// Change is one test of a diff.
type Change struct {
	Test   string `json:"test"`
	Kind   Kind   `json:"kind"`
	Before *Entry `json:"before,omitempty"` // nil when added
	After  *Entry `json:"after,omitempty"`  // nil when deleted
	// Diff is wpt.fyi's TestDiff, [newly passing, newly failing, total
	// delta], computed on the summary v1 counts wpt.fyi's diff reads (the
	// test's own status counted as one more result, passing when PASS or
	// OK; see docs/diffs.md).
	Diff [3]int `json:"diff"`
	// Regressed is wpt.fyi's regression rule: newly failing > 0 or total
	// delta < 0.
	Regressed bool `json:"regressed,omitempty"`
	// Expected: the test's status changed into one of its
	// known_intermittent statuses.
	Expected bool `json:"expected,omitempty"`
	// Flaky: the series' history marks the test flaky (never set on an
	// unchanged test).
	Flaky bool `json:"flaky,omitempty"`
}

// Regression reports whether the change is listed as a regression:
// wpt.fyi's rule, unless expected or flaky.
func (c *Change) Regression() bool { return c.Regressed && !c.Expected && !c.Flaky }

// Improvement reports whether the change is listed as newly passing: some
// result newly passes, it is no regression by wpt.fyi's rule, and it is
// not flaky.
func (c *Change) Improvement() bool { return c.Diff[0] > 0 && !c.Regressed && !c.Flaky }

// Totals sum a diff's tests, overall or under one directory.
type Totals struct {
	Added     int `json:"added"`     // tests of kind A
	Deleted   int `json:"deleted"`   // tests of kind D
	Changed   int `json:"changed"`   // tests of kind C
	Unchanged int `json:"unchanged"` // tests of kind U
	// Sums of the tests' Diff, as wpt.fyi sums folders.
	NewlyPassing int `json:"newly_passing"`
	NewlyFailing int `json:"newly_failing"`
	TotalDelta   int `json:"total_delta"`
	// Tests listed as regressions, improvements, expected and flaky.
	Regressions  int `json:"regressions"`
	Improvements int `json:"improvements"`
	Expected     int `json:"expected"`
	Flaky        int `json:"flaky"`
}

func (t *Totals) add(c *Change) {
	switch c.Kind {
	case Added:
		t.Added++
	case Deleted:
		t.Deleted++
	case Changed:
		t.Changed++
	case Unchanged:
		t.Unchanged++
	}
	t.NewlyPassing += c.Diff[0]
	t.NewlyFailing += c.Diff[1]
	t.TotalDelta += c.Diff[2]
	if c.Regression() {
		t.Regressions++
	}
	if c.Improvement() {
		t.Improvements++
	}
	if c.Expected {
		t.Expected++
	}
	if c.Flaky {
		t.Flaky++
	}
}

// DirTotals are the totals of one top-level directory ("/css/"; "/" for
// tests at the root).
type DirTotals struct {
	Dir string `json:"dir"`
	Totals
}

// Diff is what changed between two runs: the document stored as
// metrics/diffs/<run id>.json (docs/diffs.md).
type Diff struct {
	// Before and After are the runs' ids; Compute leaves them empty for
	// the caller to fill.
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
	// Filter and Paths are the options the diff was computed with.
	Filter string   `json:"filter"`
	Paths  []string `json:"paths,omitempty"`
	Totals Totals   `json:"totals"`
	// Dirs are the totals per top-level directory, by directory.
	Dirs []DirTotals `json:"dirs"`
	// Tests are the tests the filter keeps, by path.
	Tests []Change `json:"tests"`
	// Regressions, Improvements and Flaky list test paths (by path):
	// the regressions (Change.Regression), the newly passing tests
	// (Change.Improvement) and the flaky tests that changed.
	Regressions  []string `json:"regressions"`
	Improvements []string `json:"improvements"`
	Flaky        []string `json:"flaky"`
}

// WriteJSON writes d as one line of JSON (the wire form of
// docs/diffs.md). It returns the write error.
func (d *Diff) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return fmt.Errorf("diff: write diff: %w", err)
	}
	return nil
}

// ResultsDiff returns the diff in the shape of wpt.fyi's /api/diff
// answer: test path -> [newly passing, newly failing, total delta].
func (d *Diff) ResultsDiff() map[string][3]int {
	m := make(map[string][3]int, len(d.Tests))
	for _, c := range d.Tests {
		m[c.Test] = c.Diff
	}
	return m
}

// Compute reads two summary_v2 documents (plain JSON: callers gunzip) and
// returns what changed from before to after. Each summary is read once,
// as it streams, into report's compact form (paths and entries, no JSON
// kept). Errors are report.ReadSummary's (*report.Error for a malformed
// summary), wrapped with the side that failed.
func Compute(before, after io.Reader, opts Options) (*Diff, error) {
	b, err := report.ReadSummary(before)
	if err != nil {
		return nil, fmt.Errorf("diff: read before summary: %w", err)
	}
	a, err := report.ReadSummary(after)
	if err != nil {
		return nil, fmt.Errorf("diff: read after summary: %w", err)
	}
	return Summaries(b, a, opts), nil
}

// Summaries returns what changed from before to after, following wpt.fyi's
// GetResultsDiff (shared/run_diff.go): the before run's tests are visited
// only when the filter has D or C (so "U" alone keeps nothing, as in
// wpt.fyi), the after run's new tests only when it has A; a test outside
// opts.Paths is skipped. Renames are not followed (wpt.fyi asks GitHub).
func Summaries(before, after *report.Summary, opts Options) *Diff {
	f := opts.Filter
	if f == (Filter{}) {
		f = DefaultFilter
	}
	d := &Diff{
		Filter:       f.String(),
		Paths:        slices.Clone(opts.Paths),
		Dirs:         []DirTotals{},
		Tests:        []Change{},
		Regressions:  []string{},
		Improvements: []string{},
		Flaky:        []string{},
	}
	keep := func(p string) bool {
		if len(opts.Paths) == 0 {
			return true
		}
		for _, prefix := range opts.Paths {
			if strings.HasPrefix(p, prefix) {
				return true
			}
		}
		return false
	}
	if f.Deleted || f.Changed {
		for _, p := range before.Paths() {
			if !keep(p) {
				continue
			}
			b, _ := before.Get(p)
			a, ok := after.Get(p)
			var ap *report.TestSummary
			if ok {
				ap = &a
			}
			if c, ok := change(p, &b, ap, f, opts); ok {
				d.Tests = append(d.Tests, c)
			}
		}
	}
	if f.Added {
		for _, p := range after.Paths() {
			if _, ok := before.Get(p); ok || !keep(p) {
				continue
			}
			a, _ := after.Get(p)
			if c, ok := change(p, nil, &a, f, opts); ok {
				d.Tests = append(d.Tests, c)
			}
		}
	}
	slices.SortFunc(d.Tests, func(x, y Change) int { return cmp.Compare(x.Test, y.Test) })
	d.total()
	return d
}

// total fills the totals, the directories and the lists from d.Tests.
func (d *Diff) total() {
	dirs := map[string]*Totals{}
	for i := range d.Tests {
		c := &d.Tests[i]
		d.Totals.add(c)
		dir := topDir(c.Test)
		t := dirs[dir]
		if t == nil {
			t = &Totals{}
			dirs[dir] = t
		}
		t.add(c)
		switch {
		case c.Regression():
			d.Regressions = append(d.Regressions, c.Test)
		case c.Improvement():
			d.Improvements = append(d.Improvements, c.Test)
		}
		if c.Flaky {
			d.Flaky = append(d.Flaky, c.Test)
		}
	}
	for dir, t := range dirs {
		d.Dirs = append(d.Dirs, DirTotals{Dir: dir, Totals: *t})
	}
	slices.SortFunc(d.Dirs, func(x, y DirTotals) int { return cmp.Compare(x.Dir, y.Dir) })
}

// topDir returns a test path's top-level directory, as the metrics files
// count directories (docs/metrics-files.md: the part of the path before
// the first "?"): "/css/" for "/css/a/b.html", "/" for "/a.html",
// "/a.html?x=/y" and a path without a leading slash.
func topDir(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if !strings.HasPrefix(p, "/") {
		return "/"
	}
	if i := strings.IndexByte(p[1:], '/'); i >= 0 {
		return p[:i+2]
	}
	return "/"
}

// legacy returns a summary_v2 entry's summary v1 counts, the [passing,
// total] pairs wpt.fyi's diff compares: the test's own status is one more
// result, passing when PASS or OK (wpt.fyi's results processor,
// WPTReport.summarize).
func legacy(ts *report.TestSummary) [2]int {
	pass := ts.Counts.Pass
	if isPassOrOK(ts.Status) {
		pass++
	}
	return [2]int{pass, ts.Counts.Total + 1}
}

func isPassOrOK(s string) bool {
	switch s {
	case "P", "O", report.StatusPass, report.StatusOK:
		return true
	}
	return false
}

// change returns the test's Change, following wpt.fyi's NewTestDiff, and
// whether the filter keeps it. before or after is nil when the test is
// absent from that run (not both).
func change(p string, before, after *report.TestSummary, f Filter, opts Options) (Change, bool) {
	c := Change{Test: p}
	switch {
	case before == nil:
		if !f.Added {
			return c, false
		}
		a := legacy(after)
		c.Kind = Added
		c.Diff = [3]int{a[0], a[1] - a[0], a[1]}
	case after == nil:
		if !f.Deleted {
			return c, false
		}
		c.Kind = Deleted
		c.Diff = [3]int{0, 0, -legacy(before)[1]}
	default:
		b, a := legacy(before), legacy(after)
		changed := b != a
		if changed && !f.Changed || !changed && !f.Unchanged {
			return c, false
		}
		c.Kind = Unchanged
		if changed {
			c.Kind = Changed
		}
		c.Diff = [3]int{
			max(a[0]-b[0], 0),
			max((a[1]-a[0])-(b[1]-b[0]), 0),
			a[1] - b[1],
		}
	}
	c.Regressed = c.Diff[1] > 0 || c.Diff[2] < 0
	c.Flaky = opts.Flaky[p] && c.Kind != Unchanged
	if before != nil {
		c.Before = &Entry{Status: before.Status, Counts: [2]int{before.Counts.Pass, before.Counts.Total}}
	}
	if after != nil {
		c.After = &Entry{Status: after.Status, Counts: [2]int{after.Counts.Pass, after.Counts.Total}}
		if before == nil || before.Status != after.Status {
			c.Expected = knownIntermittent(opts.KnownIntermittent[p], after.Status)
		}
	}
	return c, true
}

// knownIntermittent reports whether status (a summary_v2 abbreviation) is
// one of statuses (wptreport names or abbreviations).
func knownIntermittent(statuses []string, status string) bool {
	for _, s := range statuses {
		if s == status || report.StatusAbbrev(s) == status {
			return true
		}
	}
	return false
}
