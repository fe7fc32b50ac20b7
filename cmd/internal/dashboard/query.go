package dashboard

import (
	"slices"
	"strings"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/records"
)

// The selection of runs for a parsed query, as wpt.fyi's datastore query
// selects TestRuns: web-platform-tests/wpt.fyi api/runs.go
// (LoadTestRunKeysForFilters) and shared/test_run_query.go
// (LoadTestRunKeys, GetAlignedRunSHAs), over the status index instead of
// the datastore.

// candidate is a run a query may select: its record, its TestRun (for a
// run without one, what its status record knows) and when it ran.
type candidate struct {
	rec *records.Run
	tr  *records.TestRun
	t   time.Time
}

// testRunOf returns the run's TestRun, or for a run without one (INVALID,
// EMPTY, DUPLICATE) one made of what its status record knows, with id 0.
func testRunOf(r *records.Run) *records.TestRun {
	if r.TestRun != nil {
		return r.TestRun
	}
	return &records.TestRun{
		BrowserName:      r.Product(),
		FullRevisionHash: r.Status.Revision,
		Revision:         r.Status.Revision[:min(10, len(r.Status.Revision))],
		CreatedAt:        r.Uploaded,
		Labels:           r.Labels,
	}
}

// candidates returns the runs of the states asked for (nil: VALID runs
// with a TestRun; empty: every run), newest first: by time_start, as
// wpt.fyi orders runs, then by run id.
func candidates(recs []*records.Run, states []string) []candidate {
	var out []candidate
	for _, r := range recs {
		switch {
		case states == nil:
			if r.State != records.StateValid || r.TestRun == nil {
				continue
			}
		case len(states) > 0:
			if !slices.Contains(states, r.State) {
				continue
			}
		}
		out = append(out, candidate{rec: r, tr: testRunOf(r), t: r.Time()})
	}
	slices.SortStableFunc(out, func(a, b candidate) int {
		if c := b.t.Compare(a.t); c != 0 {
			return c
		}
		return strings.Compare(b.rec.ID, a.rec.ID)
	})
	return out
}

// hasLabels reports whether the run has every label.
func (c candidate) hasLabels(labels []string) bool {
	for _, l := range labels {
		if !slices.Contains(c.rec.Labels, l) {
			return false
		}
	}
	return true
}

// match is wpt.fyi's ProductSpec.Matches: the browser name; the revision,
// when the spec has one (the run's 10-digit revision, or a prefix of its
// full hash); the spec's labels, all of them; and the browser version as a
// prefix ending at a dot ("12" matches "12.0.1", not "120.0"). The OS and
// OS version of the spec are not compared: wpt.fyi ignores them.
func (p productSpec) match(c candidate) bool {
	tr := c.tr
	if tr.BrowserName != p.name {
		return false
	}
	if p.revision != "" && p.revision != tr.Revision && !strings.HasPrefix(tr.FullRevisionHash, p.revision) {
		return false
	}
	if p.version != "" && !strings.HasPrefix(tr.BrowserVersion+".", p.version+".") {
		return false
	}
	return c.hasLabels(p.labels)
}

// revisionOK applies the sha parameters (wpt.fyi's loadKeysForRevision):
// with several, or one other than latest, the run's full hash must start
// with one of them ("latest" among several matches nothing).
func (f runFilter) revisionOK(c candidate) bool {
	if shasLatest(f.shas) {
		return true
	}
	return slices.ContainsFunc(f.shas, func(sha string) bool {
		return !isLatest(sha) && strings.HasPrefix(c.tr.FullRevisionHash, sha)
	})
}

// timeOK applies from (inclusive) and to (exclusive) to when the run ran.
func (f runFilter) timeOK(c candidate) bool {
	return (f.from.IsZero() || !c.t.Before(f.from)) && (f.to.IsZero() || c.t.Before(f.to))
}

// productsOrDefault is wpt.fyi's GetProductsOrDefault: the products asked
// for, or wpt.fyi's default browsers.
func (f runFilter) productsOrDefault() []productSpec {
	if len(f.products) > 0 {
		return f.products
	}
	out := make([]productSpec, len(defaultBrowsers))
	for i, b := range defaultBrowsers {
		out[i] = productSpec{name: b}
	}
	return out
}

// limit is the number of runs per product (of aligned revisions, when
// aligned) a query selects: max-count; else one when neither from nor
// several shas are given ("Default to a single, latest run", api/runs.go);
// else the cap.
func (f runFilter) limit() int {
	switch {
	case f.maxCount != nil:
		return *f.maxCount
	case f.from.IsZero() && len(f.shas) < 2:
		return 1
	}
	return maxCount
}

// isAligned reports whether the query asks for aligned runs: aligned (or
// complete) true, and no sha but latest (api/runs.go ignores aligned
// otherwise).
func (f runFilter) isAligned() bool {
	return f.aligned != nil && *f.aligned && shasLatest(f.shas)
}

// selectRuns returns the runs a query selects, one group per product in
// the products' order, each newest first (wpt.fyi's TestRunsByProduct).
func selectRuns(cands []candidate, f runFilter) [][]*records.Run {
	products := f.productsOrDefault()
	if f.isAligned() {
		_, groups := alignedRuns(cands, f, products, f.limit())
		return groups
	}
	return loadRuns(cands, f, products, f.limit())
}

// loadRuns is wpt.fyi's LoadTestRunKeys: for each product, the runs with
// every label that match the product, the revisions and the time range,
// newest first; offset of them skipped, then limit kept.
func loadRuns(cands []candidate, f runFilter, products []productSpec, limit int) [][]*records.Run {
	groups := make([][]*records.Run, len(products))
	for i, p := range products {
		skip := f.offset
		for _, c := range cands {
			if !p.match(c) || !c.hasLabels(f.labels) || !f.revisionOK(c) || !f.timeOK(c) {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			groups[i] = append(groups[i], c.rec)
			if len(groups[i]) == limit {
				break
			}
		}
	}
	return groups
}

// alignedRuns is wpt.fyi's GetAlignedRunSHAs with the grouping of
// LoadTestRunKeysForFilters: going through the runs with every label in
// the time range, newest first, each run counts for the first product it
// matches; a revision is aligned once every product has a run at it, and
// its runs are the newest of each product at it. The first offset aligned
// revisions are skipped, then limit kept (newest first). It returns them
// and, per product, its run at each.
func alignedRuns(cands []candidate, f runFilter, products []productSpec, limit int) ([]string, [][]*records.Run) {
	type rev struct {
		runs []*records.Run // per product; nil until it has one
		n    int
	}
	seen := map[string]*rev{}
	var revs []string
	var found [][]*records.Run // per aligned revision kept, per product
	done := 0
	for _, c := range cands {
		if len(revs) >= limit {
			break
		}
		if !c.hasLabels(f.labels) || !f.timeOK(c) {
			continue
		}
		i := slices.IndexFunc(products, func(p productSpec) bool { return p.match(c) })
		if i < 0 {
			continue
		}
		sha := c.tr.FullRevisionHash
		r := seen[sha]
		if r == nil {
			r = &rev{runs: make([]*records.Run, len(products))}
			seen[sha] = r
		}
		if r.runs[i] != nil {
			continue
		}
		r.runs[i] = c.rec
		if r.n++; r.n == len(products) {
			if done >= f.offset {
				revs = append(revs, sha)
				found = append(found, r.runs)
			}
			done++
		}
	}
	groups := make([][]*records.Run, len(products))
	for _, runs := range found {
		for i, r := range runs {
			groups[i] = append(groups[i], r)
		}
	}
	return revs, groups
}
