package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// This file computes dashboard metrics from summary_v2 data: per-run pass
// counts and rates for every directory, and, for aligned runs (several
// products at one wpt revision), interop scores, wpt.fyi's old "pass-rates"
// histogram and browser-specific failures. Everything is a pure function of
// the summaries; output is deterministic (sorted by path, sums taken in path
// order) whatever the order of the tests in a summary.
//
// Directories are written with a trailing slash ("/", "/css/",
// "/css/css-flexbox/"). A test belongs to the directory of the part of its
// path before the first '?', so "/a/b.html?x/y" is a test of "/a/", as
// wpt.fyi's results page (webapp/views/wpt-results.js, collapsePathOnto:
// suffix.split('?')[0]) and results-analysis (git-write.js) group them.
//
// Counts outside 0 ≤ pass ≤ total (possible only in a hand-written summary
// read with ReadSummary) are clamped into that range.

// Entry is the per-run metrics of one directory, or of one test when Test
// is set (then Dir is the test's path and Tests is 1). The three views are
// those of wpt.fyi's results page (webapp/views/wpt-results.js,
// aggregateTestTotals), with PASSING_STATUSES = {P, O}:
//
//   - per test ("interop view"): a test with subtests scores passing/total
//     subtests; a test without subtests scores 1 if its status is P or O,
//     else 0. TestScore is the sum over the tests, so TestScore/Tests is
//     the directory's per-test pass rate;
//   - per subtest ("subtest view", wpt.fyi's default): the sums of passing
//     and of all subtests, where a test without subtests counts as one
//     subtest, passing only if its status is P (not O: a harness test that
//     ran no subtest passes nothing), and a test without subtests whose
//     status is empty counts nothing;
//   - test view: a test passes when all of its (subtest-view) subtests pass
//     and its status is P or O.
type Entry struct {
	Dir            string  `json:"dir"`
	Test           bool    `json:"test,omitempty"`
	Status         string  `json:"status,omitempty"` // a test's summary status
	Tests          int     `json:"tests"`
	TestScore      float64 `json:"test_score"`
	TestsPassed    int     `json:"tests_passed"`
	Subtests       int     `json:"subtests"`
	SubtestsPassed int     `json:"subtests_passed"`
}

// TestRate returns TestScore/Tests, or 0 when there are no tests.
func (e Entry) TestRate() float64 { return ratio(e.TestScore, e.Tests) }

// SubtestRate returns SubtestsPassed/Subtests, or 0 when there are none.
func (e Entry) SubtestRate() float64 { return ratio(float64(e.SubtestsPassed), e.Subtests) }

func ratio(a float64, b int) float64 {
	if b == 0 {
		return 0
	}
	return a / float64(b)
}

// round6 rounds to 6 decimal places, for the rates in JSON.
func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// entryJSON is Entry as written by WriteJSON, with its rates.
type entryJSON struct {
	Entry
	TestRate    float64 `json:"test_rate"`
	SubtestRate float64 `json:"subtest_rate"`
}

func (e Entry) wire() entryJSON {
	return entryJSON{Entry: e, TestRate: round6(e.TestRate()), SubtestRate: round6(e.SubtestRate())}
}

// add adds a test's (or directory's) counts to e.
func (e *Entry) add(t *Entry) {
	e.Tests += t.Tests
	e.TestScore += t.TestScore
	e.TestsPassed += t.TestsPassed
	e.Subtests += t.Subtests
	e.SubtestsPassed += t.SubtestsPassed
}

// clampCounts returns c's pass and total with 0 ≤ pass ≤ total.
func clampCounts(c Counts) (pass, total int) {
	total = max(c.Total, 0)
	pass = min(max(c.Pass, 0), total)
	return pass, total
}

func passingStatus(s string) bool { return s == "P" || s == "O" }

// testEntry returns the per-run metrics of one test.
func testEntry(path string, ts TestSummary) Entry {
	p, t := clampCounts(ts.Counts)
	e := Entry{Dir: path, Test: true, Status: ts.Status, Tests: 1}
	passing := passingStatus(ts.Status)
	if t > 0 {
		e.TestScore = float64(p) / float64(t)
		e.Subtests, e.SubtestsPassed = t, p
	} else {
		if passing {
			e.TestScore = 1
		}
		if ts.Status != "" {
			e.Subtests = 1
			if ts.Status == "P" {
				e.SubtestsPassed = 1
			}
		}
	}
	if passing && e.SubtestsPassed == e.Subtests {
		e.TestsPassed = 1
	}
	return e
}

// TestDir returns the directory of a test path, with a trailing slash: the
// path up to the last '/' before the first '?'. A path without '/' there
// belongs to the root "/".
func TestDir(path string) string {
	p := path
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "/"
	}
	return path[:i+1]
}

// normDir returns dir with a trailing slash ("" is the root "/").
func normDir(dir string) string {
	if !strings.HasSuffix(dir, "/") {
		dir += "/"
	}
	return dir
}

// tree is the directory structure of a set of tests, sorted by path.
type tree struct {
	dirs    []string       // sorted
	index   map[string]int // dir → position in dirs
	subdirs [][]int        // per dir: positions of its subdirectories, sorted
	tests   [][]int        // per dir: indices of its tests (in sorted test order)
}

// treeBuilder assigns tests, taken in sorted order, to their directory and
// its ancestors, numbering directories in order of appearance.
type treeBuilder struct {
	names     []string
	parent    []int
	index     map[string]int
	testDir   []int // per test: its directory (unless noTests)
	noTests   bool
	lastDir   string
	lastChain []int
}

// newTreeBuilder returns a builder for n tests; with tests false, the tree
// leaves the tests out.
func newTreeBuilder(n int, tests bool) *treeBuilder {
	b := &treeBuilder{index: make(map[string]int, n/8+1), noTests: !tests}
	if tests {
		b.testDir = make([]int, 0, n)
	}
	b.dir("/", -1)
	return b
}

func (b *treeBuilder) dir(name string, parent int) int {
	if i, ok := b.index[name]; ok {
		return i
	}
	i := len(b.names)
	b.names = append(b.names, name)
	b.parent = append(b.parent, parent)
	b.index[name] = i
	return i
}

// add registers the next test and returns the numbers of its directory's
// ancestors, root first, ending with the directory itself. The slice is
// reused by the next call.
func (b *treeBuilder) add(path string) []int {
	d := TestDir(path)
	if d != b.lastDir || b.lastChain == nil {
		chain := append(b.lastChain[:0], 0)
		for j := 1; j < len(d); j++ {
			if d[j] == '/' {
				chain = append(chain, b.dir(d[:j+1], chain[len(chain)-1]))
			}
		}
		b.lastDir, b.lastChain = d, chain
	}
	if !b.noTests {
		b.testDir = append(b.testDir, b.lastChain[len(b.lastChain)-1])
	}
	return b.lastChain
}

// finish returns the tree and, per directory number, its position in the
// sorted tree.
func (b *treeBuilder) finish() (*tree, []int) {
	order := make([]int, len(b.names))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int { return strings.Compare(b.names[x], b.names[y]) })
	pos := make([]int, len(order))
	t := &tree{
		dirs:    make([]string, len(order)),
		index:   make(map[string]int, len(order)),
		subdirs: make([][]int, len(order)),
		tests:   make([][]int, len(order)),
	}
	for p, i := range order {
		pos[i] = p
		t.dirs[p] = b.names[i]
		t.index[b.names[i]] = p
	}
	for p, i := range order { // sorted, so children are appended sorted
		if par := b.parent[i]; par >= 0 {
			t.subdirs[pos[par]] = append(t.subdirs[pos[par]], p)
		}
	}
	for ti, d := range b.testDir {
		t.tests[pos[d]] = append(t.tests[pos[d]], ti)
	}
	return t, pos
}

// children calls visitDir with the position of each subdirectory of dir and
// visitTest with the index of each of its tests, merged in path order
// (testPath gives a test's path). It returns false if dir is unknown.
func (t *tree) children(dir string, testPath func(int) string, visitDir, visitTest func(int)) bool {
	p, ok := t.index[normDir(dir)]
	if !ok {
		return false
	}
	ds, ts := t.subdirs[p], t.tests[p]
	for len(ds) > 0 || len(ts) > 0 {
		if len(ts) == 0 || len(ds) > 0 && t.dirs[ds[0]] < testPath(ts[0]) {
			visitDir(ds[0])
			ds = ds[1:]
		} else {
			visitTest(ts[0])
			ts = ts[1:]
		}
	}
	return true
}

// sortedTests returns the indices of s's tests sorted by path.
func sortedTests(s *Summary) []int {
	order := make([]int, s.Len())
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int { return strings.Compare(s.paths[x], s.paths[y]) })
	return order
}

// DirMetrics is the per-run metrics of every directory of a summary, at
// every depth, and of every test. It is immutable.
type DirMetrics struct {
	tree  *tree
	dirs  []Entry // aligned with tree.dirs
	tests []Entry // sorted by path
}

// RunMetrics computes the per-run metrics of every directory of s (see
// [Entry] for the rules). The root "/" is always present. A nil s is an
// empty run.
func RunMetrics(s *Summary) *DirMetrics { return runMetrics(s, true) }

// RunDirMetrics is RunMetrics without the per-test entries: Tests returns
// none and Children only subdirectories. It keeps a few bytes a test
// instead of about a hundred, for writing the directories' metrics.
func RunDirMetrics(s *Summary) *DirMetrics { return runMetrics(s, false) }

func runMetrics(s *Summary, keepTests bool) *DirMetrics {
	order := sortedTests(s)
	b := newTreeBuilder(len(order), keepTests)
	m := &DirMetrics{}
	if keepTests {
		m.tests = make([]Entry, len(order))
	}
	var acc []Entry // per directory number
	for ti, i := range order {
		e := testEntry(s.paths[i], s.tests[i])
		if keepTests {
			m.tests[ti] = e
		}
		for _, d := range b.add(e.Dir) {
			for d >= len(acc) {
				acc = append(acc, Entry{})
			}
			acc[d].add(&e)
		}
	}
	for len(acc) < len(b.names) {
		acc = append(acc, Entry{})
	}
	var pos []int
	m.tree, pos = b.finish()
	m.dirs = make([]Entry, len(acc))
	for i, e := range acc {
		e.Dir = b.names[i]
		m.dirs[pos[i]] = e
	}
	return m
}

// Dir returns the metrics of a directory ("/css/"; the trailing slash may
// be omitted), or false if no test is in it.
func (m *DirMetrics) Dir(dir string) (Entry, bool) {
	p, ok := m.tree.index[normDir(dir)]
	if !ok {
		return Entry{}, false
	}
	return m.dirs[p], true
}

// Dirs returns the metrics of every directory, sorted by path.
func (m *DirMetrics) Dirs() []Entry { return slices.Clone(m.dirs) }

// Tests returns the metrics of every test, sorted by path.
func (m *DirMetrics) Tests() []Entry { return slices.Clone(m.tests) }

// Children returns the immediate children of a directory ("/css/"; the
// trailing slash may be omitted), sorted by path: its subdirectories and,
// as leaves with Test set, its tests. It returns nil for an unknown
// directory. It is what a tree view that loads one level at a time needs.
func (m *DirMetrics) Children(dir string) []Entry {
	var out []Entry
	m.tree.children(dir, func(i int) string { return m.tests[i].Dir },
		func(p int) { out = append(out, m.dirs[p]) },
		func(i int) { out = append(out, m.tests[i]) })
	return out
}

// WriteJSON writes the metrics of every directory, sorted by path, one per
// line:
//
//	{"dirs": [
//	{"dir":"/","tests":3,"test_score":1.75,"tests_passed":1,"subtests":5,"subtests_passed":3,"test_rate":0.583333,"subtest_rate":0.6},
//	…
//	]}
//
// Rates are rounded to 6 decimal places. It returns the first write error.
func (m *DirMetrics) WriteJSON(w io.Writer) error {
	return writeLines(w, `{"dirs": [`, len(m.dirs), func(i int) any { return m.dirs[i].wire() }, "]}\n")
}

// SeriesPoint returns a run's point of a time series, for charts: the
// per-test pass rate (Entry.TestRate, rounded to 6 decimal places) of the
// root "/" and of each top-level directory ("/css/", "/dom/", …), keyed by
// directory. Directories without tests are left out. Encoded with
// encoding/json, the map's keys are sorted.
func SeriesPoint(m *DirMetrics) map[string]float64 {
	out := make(map[string]float64)
	rp := m.tree.index["/"]
	if root := m.dirs[rp]; root.Tests > 0 {
		out["/"] = round6(root.TestRate())
	}
	for _, p := range m.tree.subdirs[rp] {
		if e := m.dirs[p]; e.Tests > 0 {
			out[e.Dir] = round6(e.TestRate())
		}
	}
	return out
}

// writeLines writes head, then n JSON values separated by ",\n" (each on
// its own line, HTML characters not escaped), then tail.
func writeLines(w io.Writer, head string, n int, item func(int) any, tail string) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	bw.WriteString(head)
	for i := range n {
		buf.Reset()
		if err := enc.Encode(item(i)); err != nil {
			return fmt.Errorf("report: write metrics: %w", err)
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
		bw.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	}
	if n > 0 {
		bw.WriteByte('\n')
	}
	bw.WriteString(tail)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("report: write metrics: %w", err)
	}
	return nil
}

// AlignedRun is one run of a set of aligned runs: runs of several products
// at one wpt revision.
type AlignedRun struct {
	Product string
	RunID   string
	Summary *Summary
}

// AlignedEntry is the metrics of one directory, or of one test when Test
// is set (then Dir is its path), over aligned runs. Slices have one element
// per run, in the order of the runs given to [Aligned], except PassRates.
//
// Tests is the number of tests in the union of the runs. Scores and
// Interop are results-analysis's interop scores (interop-scoring/main.js,
// scoreRuns and aggregateInteropTestScores), in per mille as in wpt.fyi's
// interop-*.csv files: a run scores a test floor(1000 × passing subtests /
// subtests), or, without subtests, 1000 if its status is PASS (only P: an
// OK test without subtests scores 0 there), and 0 if it lacks the test; a
// directory's score is floor(ScoreSums / Tests). The interop score of a
// test is the share of its subtests passing in every run: 0 if a run lacks
// the test or if some runs have subtests and others not, 1000 for a test
// without subtests passing (P) in every run, else floor(1000 × min passing
// / max subtests), an estimate from counts (see [Aligned]).
//
// PassRates and Total are wpt.fyi's old pass-rates metric
// (results-analysis metrics/compute/compute.go, ComputePassRateMetric with
// OkOrPassesAndUnknownOrPasses): the results are each test's harness
// status plus each of its subtests, Total is their number (a test counts 1
// + its largest subtest count among the runs), and PassRates[k] is the
// number of results passing in exactly k runs (len(runs)+1 elements). A
// test's own result passes when its status is P or O; its subtests pass
// only when, in addition, they pass, so a TIMEOUT harness passes nothing.
//
// BSF is each run's browser-specific failure score (results-analysis
// lib/browser-specific.js): each test weighs at most 1; see [Aligned].
type AlignedEntry struct {
	Dir        string    `json:"dir"`
	Test       bool      `json:"test,omitempty"`
	Tests      int       `json:"tests"`
	RunTests   []int     `json:"run_tests"`
	ScoreSums  []int     `json:"score_sums"`
	Scores     []int     `json:"scores"`
	InteropSum int       `json:"interop_sum"`
	Interop    int       `json:"interop"`
	PassRates  []int     `json:"pass_rates"`
	Total      int       `json:"total"`
	BSF        []float64 `json:"bsf"`
}

func newAlignedEntry(dir string, n int, ints []int, floats []float64) AlignedEntry {
	return AlignedEntry{
		Dir:       dir,
		RunTests:  ints[0:n:n],
		ScoreSums: ints[n : 2*n : 2*n],
		Scores:    ints[2*n : 3*n : 3*n],
		PassRates: ints[3*n : 4*n+1 : 4*n+1],
		BSF:       floats[:n:n],
	}
}

// add adds a test's (or directory's) sums to e.
func (e *AlignedEntry) add(t *AlignedEntry) {
	e.Tests += t.Tests
	e.InteropSum += t.InteropSum
	e.Total += t.Total
	for r := range e.RunTests {
		e.RunTests[r] += t.RunTests[r]
		e.ScoreSums[r] += t.ScoreSums[r]
		e.BSF[r] += t.BSF[r]
	}
	for k := range e.PassRates {
		e.PassRates[k] += t.PassRates[k]
	}
}

// finish computes the per-mille averages from the sums.
func (e *AlignedEntry) finish() {
	if e.Tests == 0 {
		return
	}
	for r, s := range e.ScoreSums {
		e.Scores[r] = s / e.Tests
	}
	e.Interop = e.InteropSum / e.Tests
}

// AlignedMetrics is the metrics of aligned runs for every directory, at
// every depth, and for every test. It is immutable.
type AlignedMetrics struct {
	runs  []RunRef
	tree  *tree
	dirs  []AlignedEntry // aligned with tree.dirs
	tests []AlignedEntry // sorted by path
}

// RunRef names one of the runs of [AlignedMetrics].
type RunRef struct {
	Product string `json:"product"`
	RunID   string `json:"run_id"`
}

// bsfClass classifies a test status for browser-specific failures
// (results-analysis lib/browser-specific.js): PASS (and OK) pass; FAIL,
// ERROR, TIMEOUT, CRASH and NOTRUN fail; PRECONDITION_FAILED, SKIP, the
// empty status and any unknown status (ASSERT, …) are neutral.
func bsfClass(s string) (fail, neutral bool) {
	switch s {
	case "P", "O":
		return false, false
	case "F", "E", "T", "C", "N":
		return true, false
	}
	return false, true
}

// Aligned computes the metrics of aligned runs (see [AlignedEntry]). A run
// with a nil Summary has no tests. The root "/" is always present.
//
// summary_v2 keeps only a test's status and its counts of passing and of
// all subtests, not which subtests pass, so the subtest-level rules of
// results-analysis are estimated from counts by assuming that subtests
// have the same names in every run and that failures are nested (the runs
// failing fewer subtests of a test fail a subset of the subtests the others
// fail) — exact when at most one run fails subtests of the test or when
// every run has all-or-nothing results, and a close estimate otherwise:
//
//   - interop: a test's subtests passing in every run are min(passing) out
//     of max(subtests) (an upper bound, equal to the lowest run's score
//     when all runs have the same subtest count);
//   - pass-rates: with each run's passing subtest counts sorted,
//     q1 ≥ q2 ≥ … ≥ qN, q(N+1) = 0, PassRates[k] gets qk − q(k+1)
//     subtests and PassRates[0] the rest of the largest subtest count;
//   - browser-specific failures, on tests present in every run (missing
//     tests are skipped, as results-analysis walks the intersection): a test
//     without subtests in every run charges 1 to the one run whose status
//     fails if every other run passes (any neutral status charges nobody);
//     a test with subtests in every run charges the run with the most
//     non-passing subtests F (counting subtests it lacks against the
//     largest subtest count T as failing) by (F − the next largest F) / T;
//     a test with subtests in some runs only charges nobody. Non-passing
//     subtests are all taken as failing: a PRECONDITION_FAILED or SKIP
//     subtest (neutral in results-analysis) cannot be told apart from a
//     FAIL in summary_v2, and the harness status of a test with subtests is
//     ignored, as results-analysis does.
//
// results-analysis rejects unknown statuses and (for interop) unexpected
// non-OK harness statuses; Aligned scores them instead.
func Aligned(runs []AlignedRun) *AlignedMetrics {
	n := len(runs)
	m := &AlignedMetrics{runs: make([]RunRef, n)}
	// Union of the tests, with each run's index of each (-1: missing).
	union := make(map[string]int)
	var paths []string
	for r, run := range runs {
		m.runs[r] = RunRef{Product: run.Product, RunID: run.RunID}
		if run.Summary == nil {
			continue
		}
		for _, p := range run.Summary.paths {
			if _, ok := union[p]; !ok {
				union[p] = len(paths)
				paths = append(paths, p)
			}
		}
	}
	where := make([]int32, len(paths)*n)
	for i := range where {
		where[i] = -1
	}
	for r, run := range runs {
		if run.Summary == nil {
			continue
		}
		for i, p := range run.Summary.paths {
			where[union[p]*n+r] = int32(i)
		}
	}
	order := make([]int, len(paths))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int { return strings.Compare(paths[x], paths[y]) })

	ints := 4*n + 1
	testInts := make([]int, len(paths)*ints)
	testFloats := make([]float64, len(paths)*n)
	m.tests = make([]AlignedEntry, len(paths))
	b := newTreeBuilder(len(paths), true)
	var acc []AlignedEntry
	sc := alignedScratch{
		ts:      make([]TestSummary, n),
		present: make([]bool, n),
		q:       make([]int, n),
		f:       make([]int, n),
	}
	for ti, u := range order {
		e := newAlignedEntry(paths[u], n, testInts[ti*ints:(ti+1)*ints], testFloats[ti*n:(ti+1)*n])
		e.Test = true
		for r := range runs {
			i := where[u*n+r]
			sc.present[r] = i >= 0
			if i >= 0 {
				sc.ts[r] = runs[r].Summary.tests[i]
			} else {
				sc.ts[r] = TestSummary{}
			}
		}
		sc.score(&e)
		m.tests[ti] = e
		for _, d := range b.add(e.Dir) {
			for d >= len(acc) {
				acc = append(acc, AlignedEntry{})
			}
			if acc[d].RunTests == nil {
				acc[d] = newAlignedEntry("", n, make([]int, ints), make([]float64, n))
			}
			acc[d].add(&e)
		}
	}
	for len(acc) < len(b.names) {
		acc = append(acc, newAlignedEntry("", n, make([]int, ints), make([]float64, n)))
	}
	var pos []int
	m.tree, pos = b.finish()
	m.dirs = make([]AlignedEntry, len(acc))
	for i, e := range acc {
		e.Dir = b.names[i]
		e.finish()
		m.dirs[pos[i]] = e
	}
	return m
}

// alignedScratch holds one test's results in every run.
type alignedScratch struct {
	ts      []TestSummary
	present []bool
	q, f    []int
}

// score fills in e's metrics for one test (see Aligned).
func (sc *alignedScratch) score(e *AlignedEntry) {
	n := len(sc.ts)
	e.Tests = 1
	all, withSub, without := true, 0, 0
	maxT, minP := 0, math.MaxInt
	harnessPasses := 0
	for r, ts := range sc.ts {
		if !sc.present[r] {
			all = false
			sc.q[r] = 0
			continue
		}
		e.RunTests[r] = 1
		p, t := clampCounts(ts.Counts)
		maxT = max(maxT, t)
		minP = min(minP, p)
		if t > 0 {
			withSub++
			e.ScoreSums[r] = 1000 * p / t
		} else {
			without++
			if ts.Status == "P" {
				e.ScoreSums[r] = 1000
			}
		}
		sc.q[r] = 0
		if passingStatus(ts.Status) {
			harnessPasses++
			sc.q[r] = p
		}
	}
	for r := range sc.ts {
		e.Scores[r] = e.ScoreSums[r]
	}

	// Interop: 0 unless every run has the test, all with or all without
	// subtests.
	switch {
	case !all || n == 0:
	case without == n:
		e.InteropSum = 1000
		for _, ts := range sc.ts {
			if ts.Status != "P" {
				e.InteropSum = 0
			}
		}
	case withSub == n:
		e.InteropSum = 1000 * minP / maxT
	}
	e.Interop = e.InteropSum

	// Pass-rates: the harness result, then the subtests (nested).
	e.PassRates[harnessPasses]++
	slices.SortFunc(sc.q, func(a, b int) int { return b - a })
	prev := maxT
	for k := 0; k <= n; k++ {
		next := 0
		if k < n {
			next = sc.q[k]
		}
		e.PassRates[k] += prev - next
		prev = next
	}
	e.Total = 1 + maxT

	// Browser-specific failures, on tests every run has.
	if !all || n == 0 {
		return
	}
	switch {
	case without == n:
		failed := -1
		for r, ts := range sc.ts {
			fail, neutral := bsfClass(ts.Status)
			if neutral {
				return
			}
			if fail {
				if failed >= 0 {
					return
				}
				failed = r
			}
		}
		if failed >= 0 {
			e.BSF[failed] = 1
		}
	case withSub == n:
		worst, first, second := -1, -1, -1 // the largest F, and the next
		for r, ts := range sc.ts {
			p, _ := clampCounts(ts.Counts)
			f := maxT - p
			sc.f[r] = f
			switch {
			case f > first:
				second, first, worst = first, f, r
			case f > second:
				second = f
			}
		}
		if second < 0 {
			second = 0 // a single run
		}
		if only := first - second; only > 0 {
			e.BSF[worst] = float64(only) / float64(maxT)
		}
	}
}

// Runs returns the products and run IDs of the runs, in order.
func (m *AlignedMetrics) Runs() []RunRef { return slices.Clone(m.runs) }

// Dir returns the metrics of a directory ("/css/"; the trailing slash may
// be omitted), or false if no run has a test in it.
func (m *AlignedMetrics) Dir(dir string) (AlignedEntry, bool) {
	p, ok := m.tree.index[normDir(dir)]
	if !ok {
		return AlignedEntry{}, false
	}
	return m.dirs[p], true
}

// Dirs returns the metrics of every directory, sorted by path. The
// entries share their slices with m: do not modify them.
func (m *AlignedMetrics) Dirs() []AlignedEntry { return slices.Clone(m.dirs) }

// Children returns the immediate children of a directory, sorted by path:
// its subdirectories and, with Test set, its tests; nil for an unknown
// directory. The entries share their slices with m: do not modify them.
func (m *AlignedMetrics) Children(dir string) []AlignedEntry {
	var out []AlignedEntry
	m.tree.children(dir, func(i int) string { return m.tests[i].Dir },
		func(p int) { out = append(out, m.dirs[p]) },
		func(i int) { out = append(out, m.tests[i]) })
	return out
}

// WriteJSON writes the runs and the metrics of every directory (not of the
// tests), sorted by path, one per line:
//
//	{"runs": [{"product":"chrome","run_id":"…"},…],
//	"dirs": [
//	{"dir":"/","tests":…,"run_tests":[…],"score_sums":[…],"scores":[…],"interop_sum":…,"interop":…,"pass_rates":[…],"total":…,"bsf":[…]},
//	…
//	]}
//
// It returns the first write error.
func (m *AlignedMetrics) WriteJSON(w io.Writer) error {
	runs, err := json.Marshal(m.runs)
	if err != nil {
		return fmt.Errorf("report: write metrics: %w", err)
	}
	head := `{"runs": ` + string(runs) + ",\n" + `"dirs": [`
	return writeLines(w, head, len(m.dirs), func(i int) any { return m.dirs[i] }, "]}\n")
}

// passRateRow is a row of wpt.fyi's pass-rates "data".
type passRateRow struct {
	Dir       string `json:"dir"`
	PassRates []int  `json:"pass_rates"`
	Total     int    `json:"total"`
}

// PassRatesJSON returns wpt.fyi's (2018) pass-rates document,
// {"metadata": metadata, "data": [{"dir", "pass_rates", "total"}, …]},
// as results-analysis's collect_metrics.go wrote it and wpt.fyi's
// webapp/components/test/fixtures/passrates.json shows it: one row per
// directory at every depth and per test, keyed as there by the path
// without trailing slash (the root is ""), sorted by that key. Unlike
// there, a '/' after a test's '?' does not make a directory level; a test
// and a directory with the same key (a test "/a/b" next to tests in
// "/a/b/") share one row, summed, as there. metadata is encoded with
// encoding/json; its error is returned.
func (m *AlignedMetrics) PassRatesJSON(metadata any) ([]byte, error) {
	meta, err := json.Marshal(metadata)
	if err != nil {
		return nil, fmt.Errorf("report: pass rates metadata: %w", err)
	}
	rows := make([]passRateRow, 0, len(m.dirs)+len(m.tests))
	for _, e := range m.dirs {
		if e.Total > 0 {
			rows = append(rows, passRateRow{strings.TrimSuffix(e.Dir, "/"), e.PassRates, e.Total})
		}
	}
	for _, e := range m.tests {
		rows = append(rows, passRateRow{e.Dir, e.PassRates, e.Total})
	}
	slices.SortStableFunc(rows, func(a, b passRateRow) int { return strings.Compare(a.Dir, b.Dir) })
	merged := rows[:0]
	for _, r := range rows {
		if k := len(merged) - 1; k >= 0 && merged[k].Dir == r.Dir {
			sum := slices.Clone(merged[k].PassRates)
			for i, v := range r.PassRates {
				sum[i] += v
			}
			merged[k].PassRates = sum
			merged[k].Total += r.Total
			continue
		}
		merged = append(merged, r)
	}
	var buf bytes.Buffer
	head := `{"metadata": ` + string(meta) + ",\n" + `"data": [`
	if err := writeLines(&buf, head, len(merged), func(i int) any { return merged[i] }, "]}\n"); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
