package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/store"
)

// apiRun is a run in /api/runs: wpt.fyi's TestRun, fields intact,
// plus what wptfeed knows about it under "wptfeed".
type apiRun struct {
	records.TestRun
	WPTFeed apiRunExtra `json:"wptfeed"`
}

type apiRunExtra struct {
	RunID     string   `json:"run_id"`
	Feed      string   `json:"feed,omitempty"` // the feed the run came from
	State     string   `json:"state"`
	Code      string   `json:"code,omitempty"`
	Error     string   `json:"error,omitempty"`
	ProductID string   `json:"product_id,omitempty"`
	Uploaded  string   `json:"uploaded"`
	Tests     int      `json:"tests"`
	Subtests  int      `json:"subtests"`
	Labels    []string `json:"labels"`
	// Metrics is the root's numbers from metrics/runs/<run id>.json; null
	// until that file is written (and for runs that are not VALID).
	Metrics *counts `json:"metrics"`
}

// runJSON renders a record for the API. A run without a TestRun (INVALID,
// EMPTY, DUPLICATE) gets one made of what its status record knows, with
// id 0.
func (d *Dashboard) runJSON(r *records.Run, root *counts) apiRun {
	out := apiRun{TestRun: *testRunOf(r)}
	if out.Labels == nil {
		out.Labels = []string{}
	}
	st := r.Status
	out.WPTFeed = apiRunExtra{
		RunID: r.ID, Feed: st.Feed, State: r.State, Code: st.Code, Error: st.Error, ProductID: st.ProductID,
		Uploaded: r.Uploaded.Format(time.RFC3339Nano),
		Tests:    st.Tests, Subtests: st.Subtests, Labels: r.Labels, Metrics: root,
	}
	if out.WPTFeed.Labels == nil {
		out.WPTFeed.Labels = []string{}
	}
	return out
}

// The endpoints of wpt.fyi's API that its clients read runs with
// (web-platform-tests/wpt.fyi api/README.md; routes in api/routes.go),
// answered from the status index; docs/api.md is their reference. As on
// wpt.fyi (shared.WrapPermissiveCORS), any origin may read them.
//
//	GET /api/runs        the runs a query selects (apiTestRunsHandler and
//	                     LoadTestRunKeysForFilters, wpt.fyi's api package)
//	GET /api/runs/{id}   one run by its TestRun id (apiTestRunHandler, api/test_run.go)
//	GET /api/run         the latest run of one product spec (the same handler)
//	GET /api/shas        the revisions of the runs a query selects (api/shas.go)
//	GET /api/results     a redirect to a run's summary, or to a test's
//	                     per-test file (apiResultsRedirectHandler)

// permissive lets any origin read h's answers, as wpt.fyi's
// WrapPermissiveCORS does.
func permissive(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		h(w, r)
	}
}

// parseFilter parses the request's query (params.go); the browser names
// it accepts are wpt.fyi's and those of the indexed runs.
func (d *Dashboard) parseFilter(r *http.Request) (runFilter, *indexView, error) {
	v := d.view()
	f, err := parseRunFilter(r.URL.Query(), v.knownBrowser)
	return f, v, err
}

func (d *Dashboard) serveRuns(w http.ResponseWriter, r *http.Request) {
	f, v, err := d.parseFilter(r)
	if err != nil {
		d.apiError(w, r, err)
		return
	}
	var sel []*records.Run
	if len(f.runIDs) > 0 {
		// run_ids: those runs, in that order, whatever the other
		// parameters say (apiTestRunsHandler).
		var missing []string
		for _, id := range f.runIDs {
			if rec := v.byTestRun[id]; rec != nil {
				sel = append(sel, rec)
			} else {
				missing = append(missing, strconv.FormatInt(id, 10))
			}
		}
		if len(missing) > 0 {
			d.apiError(w, r, notFound("no run has TestRun id %s", strings.Join(missing, ", ")))
			return
		}
	} else {
		sel = slices.Concat(selectRuns(candidates(v.order, f.states), f)...)
	}
	if len(sel) == 0 {
		d.serveNoRuns(w, r)
		return
	}
	roots := d.rootsOf(r.Context(), sel)
	out := make([]apiRun, len(sel))
	for i, rec := range sel {
		out[i] = d.runJSON(rec, roots[i])
	}
	d.serveJSON(w, r, out)
}

// serveNoRuns answers an empty selection as wpt.fyi does: 404 with the
// JSON body [].
func (d *Dashboard) serveNoRuns(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", d.cacheControl())
	w.WriteHeader(http.StatusNotFound)
	if r.Method != http.MethodHead {
		w.Write([]byte("[]")) // a failed write is the client's
	}
}

// serveRunByID is /api/runs/{id}: the run whose TestRun id is id (400 if
// id is not a number, 404 if no run has it).
func (d *Dashboard) serveRunByID(w http.ResponseWriter, r *http.Request) {
	s := r.PathValue("id")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		d.apiError(w, r, badParam("invalid id %q", s))
		return
	}
	rec := d.view().byTestRun[id]
	if rec == nil {
		d.apiError(w, r, notFound("no run has TestRun id %d", id))
		return
	}
	d.serveRun1(w, r, rec)
}

func (d *Dashboard) serveRun1(w http.ResponseWriter, r *http.Request, rec *records.Run) {
	d.serveJSON(w, r, d.runJSON(rec, d.rootsOf(r.Context(), []*records.Run{rec})[0]))
}

// latestRun is the run wpt.fyi's /api/run and /api/results pick: the
// newest run of the one product asked for (400 without a product, or
// with several), at the shas, with the labels; from, to, aligned,
// max-count and offset are not used (shared.LoadTestRuns with a limit of
// one). It returns a 404 error when no run matches.
func (d *Dashboard) latestRun(r *http.Request) (*records.Run, error) {
	f, v, err := d.parseFilter(r)
	if err != nil {
		return nil, err
	}
	switch {
	case len(f.products) == 0:
		return nil, badParam("product is required")
	case len(f.products) > 1:
		return nil, badParam("only one product is allowed")
	}
	one := 1
	f.maxCount, f.offset, f.from, f.to, f.aligned = &one, 0, time.Time{}, time.Time{}, nil
	sel := slices.Concat(selectRuns(candidates(v.order, nil), f)...)
	if len(sel) == 0 {
		return nil, notFound("no run matches")
	}
	return sel[0], nil
}

// serveRun is /api/run: the latest run of a product spec, by product
// and sha (and labels).
func (d *Dashboard) serveRun(w http.ResponseWriter, r *http.Request) {
	rec, err := d.latestRun(r)
	if err != nil {
		d.apiError(w, r, err)
		return
	}
	d.serveRun1(w, r, rec)
}

// serveSHAs is /api/shas: the 10-digit revisions of the runs the query
// selects, in their order, without repeats; with aligned, the aligned
// revisions, newest first. sha is not used; max-count defaults to the cap
// (api/shas.go).
func (d *Dashboard) serveSHAs(w http.ResponseWriter, r *http.Request) {
	f, v, err := d.parseFilter(r)
	if err != nil {
		d.apiError(w, r, err)
		return
	}
	limit := maxCount
	if f.maxCount != nil {
		limit = *f.maxCount
	}
	f.shas = nil
	cands := candidates(v.order, nil)
	var shas []string
	if f.aligned != nil && *f.aligned {
		revs, _ := alignedRuns(cands, f, f.productsOrDefault(), limit)
		for _, rev := range revs {
			shas = append(shas, rev[:min(10, len(rev))])
		}
	} else {
		for _, rec := range slices.Concat(loadRuns(cands, f, f.productsOrDefault(), limit)...) {
			if rev := testRunOf(rec).Revision; !slices.Contains(shas, rev) {
				shas = append(shas, rev)
			}
		}
	}
	if len(shas) == 0 {
		d.serveNoRuns(w, r)
		return
	}
	d.serveJSON(w, r, shas)
}

// serveResultsRedirect is wpt.fyi's /api/results: a 302 redirect to the
// summary (results_url) of the latest run of the product spec, or, with
// test=<path>, to that test's per-test file of the run (404 when the run
// has none at a URL of its own: ingested without per-test files, or in
// the packed layout).
func (d *Dashboard) serveResultsRedirect(w http.ResponseWriter, r *http.Request) {
	rec, err := d.latestRun(r)
	if err != nil {
		d.apiError(w, r, err)
		return
	}
	u := rec.TestRun.ResultsURL
	if test := r.URL.Query().Get("test"); test != "" && test != "/" {
		if u, err = perTestURL(rec, test); err != nil {
			d.apiError(w, r, err)
			return
		}
	}
	w.Header().Set("Cache-Control", d.cacheControl())
	http.Redirect(w, r, u, http.StatusFound)
}

// perTestURL returns the URL of a test's per-test file of a run: its key
// (store.TestKey) under the base URL its results_url has, each segment
// percent-encoded. wpt.fyi's GetResultsURL (shared/util.go) cuts its
// results_url after "/<10-digit revision>"; results_url here has the full
// revision, so the base is results_url less the summary's key.
func perTestURL(rec *records.Run, test string) (string, error) {
	st := rec.Status
	if st.PerTest != records.LayoutFiles {
		return "", notFound("run %s has no per-test file at a URL of its own (per-test layout %q)", rec.ID, st.PerTest)
	}
	base, ok := strings.CutSuffix(rec.TestRun.ResultsURL, store.SummaryKey(st.Revision, st.ProductID))
	if !ok {
		return "", notFound("run %s: results_url %q does not end in its summary's key", rec.ID, rec.TestRun.ResultsURL)
	}
	if !strings.HasPrefix(test, "/") {
		test = "/" + test
	}
	segs := strings.Split(store.TestKey(st.Revision, st.ProductID, test), "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return base + strings.Join(segs, "/"), nil
}

// serveList is /api/list, the page's run list (not wpt.fyi's): every
// processed run, of every product and state (state=… narrows), newest
// first, max-count of them (default 100, at most 500); an empty list is
// 200 [].
func (d *Dashboard) serveList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	n := 100
	if v := q.Get("max-count"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			d.apiError(w, r, badParam("max-count %q is not a number", v))
			return
		}
		n = min(max(n, 1), maxCount)
	}
	states := []string{}
	for _, s := range splitValues(q, "state") {
		if !strings.EqualFold(s, "all") {
			states = append(states, strings.ToUpper(s))
		}
	}
	cands := candidates(d.view().order, states)
	sel := make([]*records.Run, 0, min(n, len(cands)))
	for _, c := range cands[:min(n, len(cands))] {
		sel = append(sel, c.rec)
	}
	roots := d.rootsOf(r.Context(), sel)
	out := make([]apiRun, len(sel))
	for i, rec := range sel {
		out[i] = d.runJSON(rec, roots[i])
	}
	d.serveJSON(w, r, out)
}

// rootsOf returns the root metrics of each VALID run (nil for others and
// for runs whose metrics file is not there yet), reading the files not
// read before, a few at a time.
func (d *Dashboard) rootsOf(ctx context.Context, recs []*records.Run) []*counts {
	out := make([]*counts, len(recs))
	var todo []int
	now := time.Now()
	d.rootMu.Lock()
	for i, r := range recs {
		if r.State != records.StateValid {
			continue
		}
		c, ok := d.roots[r.ID]
		switch {
		case ok && c.node != nil:
			out[i] = c.node
		case ok && now.Sub(c.checked) < d.scanInterval:
		default:
			todo = append(todo, i)
		}
	}
	d.rootMu.Unlock()
	if len(todo) == 0 {
		return out
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(rootReaders, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				id := recs[i].ID
				node, err := d.readRoot(ctx, id)
				if err != nil && !store.IsNotFound(err) {
					if ctx.Err() == nil {
						d.log.Warn("run metrics unreadable", "run_id", id, "err", err)
					}
					continue // tried again by the next request
				}
				out[i] = node
				d.rootMu.Lock()
				d.roots[id] = rootEntry{node: node, checked: now}
				d.rootMu.Unlock()
			}
		}()
	}
	for _, i := range todo {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// readRoot reads the root entry of metrics/runs/<id>.json. WriteJSON puts
// it on the second line (entries are sorted by path, one per line), so
// reading the first few kilobytes is enough; any other layout is decoded
// whole.
func (d *Dashboard) readRoot(ctx context.Context, id string) (*counts, error) {
	key := store.RunMetricsKey(id)
	rc, err := d.out.NewRangeReader(ctx, key, 0, 4096)
	if err != nil {
		return nil, err
	}
	head, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	if lines := bytes.SplitN(head, []byte("\n"), 3); len(lines) == 3 {
		var e entryJSON
		line := bytes.TrimSuffix(bytes.TrimSpace(lines[1]), []byte(","))
		if json.Unmarshal(line, &e) == nil && e.Dir == "/" {
			return &e.counts, nil
		}
	}
	data, err := d.out.ReadAll(ctx, key)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Dirs []entryJSON `json:"dirs"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("dashboard: %s: %w", key, err)
	}
	for _, e := range doc.Dirs {
		if e.Dir == "/" {
			return &e.counts, nil
		}
	}
	return &counts{}, nil
}

// entryJSON is an entry of report.DirMetrics.WriteJSON.
type entryJSON struct {
	Dir string `json:"dir"`
	counts
}
