package dashboard

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"

	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
)

// counts is one run's numbers for a directory or a test (see
// report.Entry): tests and per-test score, tests passing, subtests and
// subtests passing (wpt.fyi's default, subtest, view), and the rates.
type counts struct {
	Status         string  `json:"status,omitempty"` // a test's summary status (P, F, O, …)
	Tests          int     `json:"tests"`
	TestScore      float64 `json:"test_score"`
	TestsPassed    int     `json:"tests_passed"`
	Subtests       int     `json:"subtests"`
	SubtestsPassed int     `json:"subtests_passed"`
	TestRate       float64 `json:"test_rate"`
	SubtestRate    float64 `json:"subtest_rate"`
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

func countsOf(e report.Entry) counts {
	return counts{
		Status: e.Status, Tests: e.Tests, TestScore: e.TestScore, TestsPassed: e.TestsPassed,
		Subtests: e.Subtests, SubtestsPassed: e.SubtestsPassed,
		TestRate: round6(e.TestRate()), SubtestRate: round6(e.SubtestRate()),
	}
}

// node is a row of a run's tree: a directory (path ending in "/") or a
// test, with its name relative to its parent directory.
type node struct {
	Path string `json:"path"`
	Name string `json:"name"`
	Test bool   `json:"test,omitempty"`
	counts
}

// nodeName is a child's name under its directory: "css-flexbox/" for
// "/css/css-flexbox/", "a.html?b/c" for "/css/a.html?b/c".
func nodeName(p string, test bool) string {
	if test {
		return strings.TrimPrefix(p, report.TestDir(p))
	}
	t := strings.TrimSuffix(p, "/")
	return p[strings.LastIndexByte(t, '/')+1:]
}

// loadedRun is a VALID run loaded for browsing: its summary and the metrics
// of its whole tree. Immutable.
type loadedRun struct {
	rec *records.Run
	sum *report.Summary
	m   *report.DirMetrics
}

// loadRun returns a run's tree, from the cache or from its summary_v2.
func (d *Dashboard) loadRun(ctx context.Context, rec *records.Run) (*loadedRun, error) {
	return d.runs.get(rec.ID, func() (*loadedRun, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()
		key := store.SummaryKey(rec.Status.Revision, rec.Status.ProductID)
		rc, err := d.out.NewReader(ctx, key)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		zr, err := gzip.NewReader(rc)
		if err != nil {
			return nil, fmt.Errorf("dashboard: %s: %w", key, err)
		}
		sum, err := report.ReadSummary(zr)
		if err != nil {
			return nil, fmt.Errorf("dashboard: %s: %w", key, err)
		}
		return &loadedRun{rec: rec, sum: sum, m: report.RunMetrics(sum)}, nil
	})
}

// parsePath checks a path parameter: "" is the root; it must start with
// "/".
func parsePath(v string) (string, error) {
	if v == "" {
		return "/", nil
	}
	if !strings.HasPrefix(v, "/") {
		return "", badParam("path %q does not start with /", v)
	}
	return v, nil
}

// resolve tells whether p is a test of run (then its summary entry) or a
// directory (then its path with a trailing slash); a path naming neither
// is not found.
func (run *loadedRun) resolve(p string) (dir string, test bool, ok bool) {
	if !strings.HasSuffix(p, "/") {
		if _, ok := run.sum.Get(p); ok {
			return p, true, true
		}
		p += "/"
	}
	if _, ok := run.m.Dir(p); ok {
		return p, false, true
	}
	return "", false, false
}

// test returns the metrics of a test of the run.
func (run *loadedRun) test(p string) (report.Entry, bool) {
	for _, c := range run.m.Children(report.TestDir(p)) {
		if c.Test && c.Dir == p {
			return c, true
		}
	}
	return report.Entry{}, false
}

// results is /api/tree: a directory's children, or a test's subtests.
type results struct {
	Run      apiRun `json:"run"`
	Path     string `json:"path"`
	Test     bool   `json:"test,omitempty"`
	Entry    node   `json:"entry"`    // the path's own numbers: the totals
	Children []node `json:"children"` // a directory's subdirectories and tests, sorted by path
	// A test's results from its per-test file: the harness status and
	// message and each subtest; Details is false when the run has no
	// per-test files.
	Details       bool      `json:"details,omitempty"`
	HarnessStatus string    `json:"harness_status,omitempty"`
	Message       *string   `json:"message,omitempty"`
	Subtests      []subtest `json:"subtests,omitempty"`
}

// subtest is a subtest as the per-test file (the wptreport result
// object) has it.
type subtest struct {
	Name    string  `json:"name"`
	Status  string  `json:"status"`
	Message *string `json:"message,omitempty"`
}

// testFile is what the dashboard reads of a per-test file.
type testFile struct {
	Status   string    `json:"status"`
	Message  *string   `json:"message"`
	Subtests []subtest `json:"subtests"`
}

// readTestFile reads a run's per-test file of a test; nil, nil when the
// run has none (ingested without per-test files).
func (d *Dashboard) readTestFile(ctx context.Context, rec *records.Run, test string) (*testFile, error) {
	key := store.TestKey(rec.Status.Revision, rec.Status.ProductID, test)
	var rc io.ReadCloser
	var err error
	if rec.Status.PerTest == records.LayoutPacked {
		key = store.TestPackKey(rec.Status.Revision, rec.Status.ProductID) + " (" + test + ")"
		rc, err = d.packs.Open(ctx, rec.Status.Revision, rec.Status.ProductID, test)
	} else {
		rc, err = d.out.NewReader(ctx, key)
	}
	if store.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %s: %w", key, err)
	}
	var tf testFile
	if err := json.NewDecoder(io.LimitReader(zr, maxTestFile)).Decode(&tf); err != nil {
		return nil, fmt.Errorf("dashboard: %s: %w", key, err)
	}
	if tf.Subtests == nil {
		tf.Subtests = []subtest{}
	}
	return &tf, nil
}

// serveTree is /api/tree?run=<run id>&path=<dir or test>: one level of a
// run's results tree (wptfeed's own; wpt.fyi's /api/results is a redirect,
// runs.go).
func (d *Dashboard) serveTree(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rec, err := d.validRun(q.Get("run"))
	if err != nil {
		d.apiError(w, r, err)
		return
	}
	p, err := parsePath(q.Get("path"))
	if err != nil {
		d.apiError(w, r, err)
		return
	}
	run, err := d.loadRun(r.Context(), rec)
	if err != nil {
		d.apiError(w, r, err)
		return
	}
	p, test, ok := run.resolve(p)
	if !ok {
		d.apiError(w, r, notFound("run %s has no test or directory %s", rec.ID, q.Get("path")))
		return
	}
	root, _ := run.m.Dir("/")
	rootCounts := countsOf(root)
	res := results{Run: d.runJSON(rec, &rootCounts), Path: p, Test: test}
	if test {
		e, _ := run.test(p)
		res.Entry = node{Path: p, Name: nodeName(p, true), Test: true, counts: countsOf(e)}
		tf, err := d.readTestFile(r.Context(), rec, p)
		if err != nil {
			d.apiError(w, r, err)
			return
		}
		if tf != nil {
			res.Details, res.HarnessStatus, res.Message, res.Subtests = true, tf.Status, tf.Message, tf.Subtests
		}
		d.serveJSON(w, r, res)
		return
	}
	e, _ := run.m.Dir(p)
	res.Entry = node{Path: p, Name: nodeName(p, false), counts: countsOf(e)}
	res.Children = []node{}
	for _, c := range run.m.Children(p) {
		res.Children = append(res.Children, node{Path: c.Dir, Name: nodeName(c.Dir, c.Test), Test: c.Test, counts: countsOf(c)})
	}
	d.serveJSON(w, r, res)
}
