package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
)

// alignedSet is aligned runs loaded for browsing. Immutable.
type alignedSet struct {
	runs []*loadedRun
	am   *report.AlignedMetrics
}

// alignedNode is a row of the aligned tree.
type alignedNode struct {
	Path    string    `json:"path"`
	Name    string    `json:"name"`
	Test    bool      `json:"test,omitempty"`
	Tests   int       `json:"tests"`   // tests in the union of the runs
	Results []*counts `json:"results"` // per run; null where the run lacks the path
	Scores  []int     `json:"scores"`  // per run, per mille (report.AlignedEntry)
	Interop int       `json:"interop"` // per mille (report.AlignedEntry)
}

// subResult is one run's result of a subtest (or of the harness).
type subResult struct {
	Status  string  `json:"status"`
	Message *string `json:"message,omitempty"`
}

// alignedSubtest is a subtest of a test over aligned runs; Results has
// one element per run, null where the run lacks the subtest.
type alignedSubtest struct {
	Name    string       `json:"name"`
	Results []*subResult `json:"results"`
}

// alignedResults is /api/aligned.
type alignedResults struct {
	SHA      string        `json:"sha"`
	Label    string        `json:"label"`
	Source   string        `json:"source"` // the metrics file the runs come from, or "index"
	Runs     []apiRun      `json:"runs"`
	Path     string        `json:"path"`
	Test     bool          `json:"test,omitempty"`
	Entry    alignedNode   `json:"entry"`
	Children []alignedNode `json:"children"`
	// For a test: each run's harness result and the subtests, from the
	// per-test files (Details is false when a run has none).
	Details  bool             `json:"details,omitempty"`
	Harness  []*subResult     `json:"harness,omitempty"`
	Subtests []alignedSubtest `json:"subtests,omitempty"`
}

// resolveSHA finds the one revision of the VALID runs that starts with
// prefix.
func (d *Dashboard) resolveSHA(prefix string) (string, error) {
	recs, _ := d.snapshot()
	var found []string
	for _, r := range recs {
		if r.State == records.StateValid && r.TestRun != nil && strings.HasPrefix(r.Status.Revision, prefix) && !slices.Contains(found, r.Status.Revision) {
			found = append(found, r.Status.Revision)
		}
	}
	switch len(found) {
	case 0:
		return "", notFound("no VALID run at revision %s", prefix)
	case 1:
		return found[0], nil
	}
	return "", badParam("sha %s is ambiguous: %d revisions start with it", prefix, len(found))
}

// alignedRunIDs returns the runs aligned at sha for label and where the
// choice comes from: metrics/aligned/<sha>/<label>.json when it exists
// (label all, stable or experimental), else the index: the newest VALID
// run (by time_start, then run id) of each product at sha that has the
// label (any run for "all"), sorted by product, as the metrics writer
// chooses them.
func (d *Dashboard) alignedRunIDs(ctx context.Context, sha, label string) ([]string, string, error) {
	if slices.Contains(records.AlignedFilters, label) {
		key := store.AlignedKey(sha, label)
		head, err := d.files.get("runs of "+key, func() ([]byte, error) {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
			defer cancel()
			ids, err := d.readAlignedRuns(ctx, key)
			if store.IsNotFound(err) {
				return []byte{}, nil
			}
			if err != nil {
				return nil, err
			}
			return json.Marshal(ids)
		})
		if err != nil {
			return nil, "", err
		}
		if len(head) > 0 {
			var ids []string
			if err := json.Unmarshal(head, &ids); err != nil {
				return nil, "", err
			}
			return ids, key, nil
		}
	}
	recs, _ := d.snapshot()
	newest := map[string]*records.Run{}
	for _, r := range recs {
		if r.State != records.StateValid || r.TestRun == nil || r.Status.Revision != sha {
			continue
		}
		if label != "all" && !slices.Contains(r.Labels, label) {
			continue
		}
		p := r.TestRun.BrowserName
		cur := newest[p]
		if cur == nil || r.Time().After(cur.Time()) || r.Time().Equal(cur.Time()) && r.ID > cur.ID {
			newest[p] = r
		}
	}
	products := make([]string, 0, len(newest))
	for p := range newest {
		products = append(products, p)
	}
	slices.Sort(products)
	ids := make([]string, len(products))
	for i, p := range products {
		ids[i] = newest[p].ID
	}
	return ids, "index", nil
}

// readAlignedRuns reads the run ids of an aligned metrics file, decoding
// only its "runs" (the first member).
func (d *Dashboard) readAlignedRuns(ctx context.Context, key string) ([]string, error) {
	rc, err := d.out.NewReader(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	bad := func(err error) error { return fmt.Errorf("dashboard: %s: %w", key, err) }
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, bad(fmt.Errorf("not a JSON object (%v)", err))
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, bad(err)
		}
		if t != "runs" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, bad(err)
			}
			continue
		}
		var runs []report.RunRef
		if err := dec.Decode(&runs); err != nil {
			return nil, bad(err)
		}
		ids := make([]string, len(runs))
		for i, r := range runs {
			ids[i] = r.RunID
		}
		return ids, nil
	}
	return nil, bad(errors.New("no runs"))
}

// loadAligned returns the aligned set of runs (in order), computing its
// metrics with report.Aligned over their summaries.
func (d *Dashboard) loadAligned(ctx context.Context, ids []string) (*alignedSet, error) {
	_, byID := d.snapshot()
	if slices.ContainsFunc(ids, func(id string) bool { return byID[id] == nil }) {
		// The metrics file may be ahead of the index by a scan (at most
		// one full listing per scan interval, however many requests ask).
		if _, err := d.index.ScanIfOlder(ctx, d.scanInterval); err != nil {
			return nil, err
		}
		_, byID = d.snapshot()
	}
	return d.aligned.get(strings.Join(ids, ","), func() (*alignedSet, error) {
		set := &alignedSet{}
		var in []report.AlignedRun
		for _, id := range ids {
			rec, err := d.validRun(id)
			if err != nil {
				return nil, err
			}
			run, err := d.loadRun(ctx, rec)
			if err != nil {
				return nil, err
			}
			set.runs = append(set.runs, run)
			in = append(in, report.AlignedRun{Product: rec.TestRun.BrowserName, RunID: id, Summary: run.sum})
		}
		set.am = report.Aligned(in)
		return set, nil
	})
}

func newAlignedNode(e report.AlignedEntry, results []*counts) alignedNode {
	return alignedNode{
		Path: e.Dir, Name: nodeName(e.Dir, e.Test), Test: e.Test, Tests: e.Tests,
		Results: results, Scores: e.Scores, Interop: e.Interop,
	}
}

// parseRevPrefix checks the sha of /api/aligned: 4 to 40 hex digits, the
// prefix of one revision (lower-cased).
func parseRevPrefix(v string) (string, error) {
	v = strings.ToLower(strings.TrimSpace(v))
	switch {
	case v == "":
		return "", badParam("sha is required")
	case len(v) < 4 || len(v) > 40 || strings.Trim(v, "0123456789abcdef") != "":
		return "", badParam("sha %q is not 4 to 40 hex digits", v)
	}
	return v, nil
}

func (d *Dashboard) serveAligned(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	prefix, err := parseRevPrefix(q.Get("sha"))
	if err != nil {
		d.apiError(w, r, err)
		return
	}
	label := strings.TrimSpace(q.Get("label"))
	if label == "" {
		label = "all"
	}
	p, err := parsePath(q.Get("path"))
	if err != nil {
		d.apiError(w, r, err)
		return
	}
	sha, err := d.resolveSHA(prefix)
	if err != nil {
		d.apiError(w, r, err)
		return
	}
	ids, source, err := d.alignedRunIDs(r.Context(), sha, label)
	if err != nil {
		d.apiError(w, r, err)
		return
	}
	if len(ids) == 0 {
		d.apiError(w, r, notFound("no VALID run labelled %s at revision %s", label, sha))
		return
	}
	set, err := d.loadAligned(r.Context(), ids)
	if err != nil {
		d.apiError(w, r, err)
		return
	}
	res := alignedResults{SHA: sha, Label: label, Source: source}
	for _, run := range set.runs {
		root, _ := run.m.Dir("/")
		rootCounts := countsOf(root)
		res.Runs = append(res.Runs, d.runJSON(run.rec, &rootCounts))
	}
	n := len(set.runs)

	// A test of any run, or a directory.
	test := !strings.HasSuffix(p, "/") && slices.ContainsFunc(set.runs, func(run *loadedRun) bool {
		_, ok := run.sum.Get(p)
		return ok
	})
	if !test && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	res.Path, res.Test = p, test
	if test {
		var entry report.AlignedEntry
		for _, e := range set.am.Children(report.TestDir(p)) {
			if e.Test && e.Dir == p {
				entry = e
			}
		}
		results := make([]*counts, n)
		res.Harness = make([]*subResult, n)
		index := map[string]int{}
		res.Details = true
		for i, run := range set.runs {
			e, ok := run.test(p)
			if !ok {
				continue
			}
			c := countsOf(e)
			results[i] = &c
			tf, err := d.readTestFile(r.Context(), run.rec, p)
			if err != nil {
				d.apiError(w, r, err)
				return
			}
			if tf == nil {
				res.Details = false
				continue
			}
			res.Harness[i] = &subResult{Status: tf.Status, Message: tf.Message}
			for _, st := range tf.Subtests {
				k, ok := index[st.Name]
				if !ok {
					k = len(res.Subtests)
					index[st.Name] = k
					res.Subtests = append(res.Subtests, alignedSubtest{Name: st.Name, Results: make([]*subResult, n)})
				}
				res.Subtests[k].Results[i] = &subResult{Status: st.Status, Message: st.Message}
			}
		}
		res.Entry = newAlignedNode(entry, results)
		d.serveJSON(w, r, res)
		return
	}

	entry, ok := set.am.Dir(p)
	if !ok {
		d.apiError(w, r, notFound("no aligned run has a test or directory %s", q.Get("path")))
		return
	}
	results := make([]*counts, n)
	levels := make([]map[string]report.Entry, n)
	for i, run := range set.runs {
		if e, ok := run.m.Dir(p); ok {
			c := countsOf(e)
			results[i] = &c
		}
		levels[i] = map[string]report.Entry{}
		for _, c := range run.m.Children(p) {
			levels[i][c.Dir] = c
		}
	}
	res.Entry = newAlignedNode(entry, results)
	res.Children = []alignedNode{}
	for _, c := range set.am.Children(p) {
		results := make([]*counts, n)
		for i := range set.runs {
			if e, ok := levels[i][c.Dir]; ok && e.Test == c.Test {
				c := countsOf(e)
				results[i] = &c
			}
		}
		res.Children = append(res.Children, newAlignedNode(c, results))
	}
	d.serveJSON(w, r, res)
}
