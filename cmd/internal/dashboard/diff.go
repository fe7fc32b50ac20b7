package dashboard

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/wptfeed/wptfeed/cmd/internal/changes"
	"github.com/wptfeed/wptfeed/cmd/internal/diff"
	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/store"
)

// GET /api/diff: what changed between two VALID runs, with wpt.fyi's
// parameters (web-platform-tests/wpt.fyi api/diff.go, GET; its
// shared/params.go ParseDiffFilterParams and ParseBeforeAndAfterParams):
//
//	run_ids=<id>,<id>   the two runs by TestRun id, before then after
//	before=, after=     each a product spec (its newest VALID run) or a run
//	                    id as `publisher upload` prints it
//	filter=ADCU         the kinds of tests kept (default ADC)
//	path=, paths=       test path prefixes kept (repeatable, or comma-separated)
//
// The answer is the diff document of docs/diffs.md. When after's previous
// run is before and the filter and paths are the defaults, it is the
// stored metrics/diffs/<after>.json; otherwise it is computed from the two
// summaries, with after's known_intermittent statuses and, when before is
// after's previous run, the flaky marks of the stored diff.

// diffRuns resolves the two runs of a /api/diff query.
func (d *Dashboard) diffRuns(q url.Values) (before, after *records.Run, err error) {
	v := d.view()
	if ids := repeatedParam(q, "run_id", "run_ids"); len(ids) > 0 {
		if len(ids) != 2 {
			return nil, nil, badParam("diffing requires exactly 2 runs, but found %d", len(ids))
		}
		var nums [2]int64
		for i, s := range ids {
			if nums[i], err = strconv.ParseInt(s, 10, 64); err != nil {
				return nil, nil, badParam("run id %q is not a number", s)
			}
		}
		var runs [2]*records.Run
		for i, id := range nums {
			if runs[i] = v.byTestRun[id]; runs[i] == nil {
				return nil, nil, notFound("no VALID run has TestRun id %d", id)
			}
		}
		return runs[0], runs[1], nil
	}
	b, a := q.Get("before"), q.Get("after")
	if b == "" || a == "" {
		return nil, nil, badParam("diffing requires exactly 2 runs: give run_ids, or before and after")
	}
	if before, err = d.diffRun(v, b); err != nil {
		return nil, nil, err
	}
	if after, err = d.diffRun(v, a); err != nil {
		return nil, nil, err
	}
	return before, after, nil
}

// diffRun resolves before or after: a run id, or the newest VALID run of
// a product spec.
func (d *Dashboard) diffRun(v *indexView, s string) (*records.Run, error) {
	if store.ValidFeedRunID(s) {
		return d.validRun(s)
	}
	p, err := parseProductSpec(s, v.knownBrowser)
	if err != nil {
		return nil, err
	}
	for _, c := range candidates(v.order, nil) {
		if p.match(c) {
			return c.rec, nil
		}
	}
	return nil, notFound("no VALID run matches %q", s)
}

func (d *Dashboard) serveDiff(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	filter, err := diff.ParseFilter(q.Get("filter"))
	if err != nil {
		d.apiError(w, r, badParam("%v", err))
		return
	}
	paths := repeatedParam(q, "path", "paths")
	before, after, err := d.diffRuns(q)
	if err != nil {
		d.apiError(w, r, err)
		return
	}
	dd, err := d.computeDiff(r.Context(), before, after, filter, paths)
	if err != nil {
		d.apiError(w, r, err)
		return
	}
	d.serveJSON(w, r, dd)
}

// computeDiff returns the stored diff of after when it is against before
// with the default options, else the diff computed from the summaries.
func (d *Dashboard) computeDiff(ctx context.Context, before, after *records.Run, filter diff.Filter, paths []string) (*diff.Diff, error) {
	stored, err := changes.ReadDiff(ctx, d.out, after.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if stored != nil && stored.Before != before.ID {
		stored = nil
	}
	if stored != nil && filter == diff.DefaultFilter && len(paths) == 0 {
		return stored, nil
	}
	opts := diff.Options{Filter: filter, Paths: paths}
	if opts.KnownIntermittent, err = changes.ReadIntermittent(ctx, d.out, after.ID); err != nil {
		return nil, err
	}
	if stored != nil {
		opts.Flaky = map[string]bool{}
		for _, t := range stored.Flaky {
			opts.Flaky[t] = true
		}
	}
	b, err := d.loadRun(ctx, before)
	if err != nil {
		return nil, err
	}
	a, err := d.loadRun(ctx, after)
	if err != nil {
		return nil, err
	}
	dd := diff.Summaries(b.sum, a.sum, opts)
	dd.Before, dd.After = before.ID, after.ID
	return dd, nil
}
