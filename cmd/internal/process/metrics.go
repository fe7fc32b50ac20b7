package process

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
)

// Metrics across runs live under metrics/ in the out bucket, as plain,
// deterministic JSON (docs/metrics-files.md; keys built in store, records
// in records):
//
//	metrics/runs/<run id>.json                     per-run directory pass rates (report.DirMetrics)
//	metrics/points/<product>/<run id>.json         one run's point of its product's series
//	metrics/series/<product>.json                  every point of a product, by time
//	metrics/aligned/<sha>/<filter>.json            aligned runs at one revision (report.AlignedMetrics)
//	metrics/aligned/<sha>/<filter>-pass-rates.json wpt.fyi's pass-rates format
//	metrics/interop-points/<filter>/<sha>.json     one revision's interop point
//	metrics/interop/<filter>.json                  interop over time
//
// <filter> is all, stable or experimental: which runs take part.
//
// A run's own files are written before its status record; the aggregates
// it affects (its product's series, its revision's aligned set, the interop
// series) after, recomputed from their sources and checked again after
// writing, so that several workers or ingesters finishing runs at once
// converge. A marker under state/metrics-pending/ survives a crash between
// the status record and the aggregates, which the next poll then redoes.

func writeJSONTo(ctx context.Context, b *store.Bucket, key string, write func(*bytes.Buffer) error) error {
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		return fmt.Errorf("process: encode %s: %w", key, err)
	}
	return b.WriteBytes(ctx, key, buf.Bytes(), store.WriteOptions{ContentType: "application/json"})
}

func marshalTo(v any) func(*bytes.Buffer) error {
	return func(buf *bytes.Buffer) error {
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", " ")
		return enc.Encode(v)
	}
}

// writeRunMetrics writes a VALID run's own metrics and its pending marker,
// before its status record.
func (p *Processor) writeRunMetrics(ctx context.Context, runID string, res *report.Result, tr *records.TestRun) error {
	m := report.RunDirMetrics(res.Summary)
	if err := writeJSONTo(ctx, p.Out, store.RunMetricsKey(runID), func(buf *bytes.Buffer) error { return m.WriteJSON(buf) }); err != nil {
		return err
	}
	pt := records.SeriesPoint{RunID: runID, Revision: tr.FullRevisionHash, Time: tr.RunTime(), Labels: tr.Labels, Rates: report.SeriesPoint(m)}
	if err := writeJSONTo(ctx, p.Out, store.SeriesPointKey(tr.BrowserName, runID), marshalTo(pt)); err != nil {
		return err
	}
	return p.Out.WriteJSON(ctx, store.PendingMetricsKey(runID), records.PendingMetrics{RunID: runID, Revision: tr.FullRevisionHash, Product: tr.BrowserName})
}

// updateAggregates recomputes what a VALID run affects and clears its
// pending marker.
func (p *Processor) updateAggregates(ctx context.Context, pm records.PendingMetrics) error {
	if err := p.updateSeries(ctx, pm.Product); err != nil {
		return err
	}
	if err := p.updateAligned(ctx, pm.Revision); err != nil {
		return err
	}
	return p.Out.Delete(ctx, store.PendingMetricsKey(pm.RunID))
}

// converge runs compute until the sources it read did not change while it
// wrote (at most 5 rounds): compute returns a fingerprint of its sources.
func converge(ctx context.Context, compute func() (string, error), fingerprint func() (string, error)) error {
	for range 5 {
		used, err := compute()
		if err != nil {
			return err
		}
		now, err := fingerprint()
		if err != nil {
			return err
		}
		if now == used {
			return nil
		}
	}
	return errors.New("process: metrics sources kept changing; the next run will recompute them")
}

func (p *Processor) listKeys(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	err := p.Out.List(ctx, prefix, "", func(o store.Object) bool {
		keys = append(keys, o.Key)
		return true
	})
	return keys, err
}

func (p *Processor) updateSeries(ctx context.Context, product string) error {
	return rebuildSeries(ctx, p, store.SeriesPointPrefix(product), store.SeriesKey(product),
		func(a, b records.SeriesPoint) bool {
			if !a.Time.Equal(b.Time) {
				return a.Time.Before(b.Time)
			}
			return a.RunID < b.RunID
		},
		func(pts []records.SeriesPoint) any { return records.Series{Product: product, Points: pts} })
}

// rebuildSeries rewrites the series at key from the point files under
// prefix, in less order, until the points did not change while it wrote.
func rebuildSeries[T any](ctx context.Context, p *Processor, prefix, key string, less func(a, b T) bool, doc func([]T) any) error {
	fp := func() (string, error) {
		keys, err := p.listKeys(ctx, prefix)
		return strings.Join(keys, "\n"), err
	}
	return converge(ctx, func() (string, error) {
		keys, err := p.listKeys(ctx, prefix)
		if err != nil {
			return "", err
		}
		pts := []T{}
		for _, k := range keys {
			var pt T
			if ok, err := p.Out.ReadJSON(ctx, k, &pt); err != nil {
				return "", err
			} else if ok {
				pts = append(pts, pt)
			}
		}
		sort.Slice(pts, func(i, j int) bool { return less(pts[i], pts[j]) })
		return strings.Join(keys, "\n"), writeJSONTo(ctx, p.Out, key, marshalTo(doc(pts)))
	}, fp)
}

// alignedRun is one VALID run at a revision.
type alignedRun struct {
	runID, pid string
	tr         records.TestRun
}

// validRunsAt lists the VALID runs at a revision: the owners of its
// product ids whose status record says VALID.
func (p *Processor) validRunsAt(ctx context.Context, sha string) ([]alignedRun, error) {
	prefix := store.ProductClaimPrefix(sha)
	keys, err := p.listKeys(ctx, prefix)
	if err != nil {
		return nil, err
	}
	var runs []alignedRun
	for _, k := range keys {
		var claim struct {
			RunID string `json:"run_id"`
		}
		if ok, err := p.Out.ReadJSON(ctx, k, &claim); err != nil || !ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		var st records.Status
		if ok, err := p.Out.ReadJSON(ctx, store.StatusKey(claim.RunID), &st); err != nil {
			return nil, err
		} else if !ok || st.State != records.StateValid {
			continue
		}
		var tr records.TestRun
		if ok, err := p.Out.ReadJSON(ctx, store.TestRunKey(claim.RunID), &tr); err != nil {
			return nil, err
		} else if !ok {
			continue
		}
		pid := store.ProductClaimID(sha, k)
		runs = append(runs, alignedRun{runID: claim.RunID, pid: pid, tr: tr})
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].runID < runs[j].runID })
	return runs, nil
}

// pick chooses, for a filter, the newest run of each product.
func pick(runs []alignedRun, filter string) []alignedRun {
	newest := map[string]alignedRun{}
	for _, r := range runs {
		if filter != "all" && !slices.Contains(r.tr.Labels, filter) {
			continue
		}
		cur, ok := newest[r.tr.BrowserName]
		if !ok || r.tr.RunTime().After(cur.tr.RunTime()) || (r.tr.RunTime().Equal(cur.tr.RunTime()) && r.runID > cur.runID) {
			newest[r.tr.BrowserName] = r
		}
	}
	out := make([]alignedRun, 0, len(newest))
	for _, r := range newest {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].tr.BrowserName < out[j].tr.BrowserName })
	return out
}

func (p *Processor) updateAligned(ctx context.Context, sha string) error {
	fp := func() (string, error) {
		runs, err := p.validRunsAt(ctx, sha)
		var ids []string
		for _, r := range runs {
			ids = append(ids, r.runID)
		}
		return strings.Join(ids, ","), err
	}
	err := converge(ctx, func() (string, error) {
		runs, err := p.validRunsAt(ctx, sha)
		if err != nil {
			return "", err
		}
		var ids []string
		for _, r := range runs {
			ids = append(ids, r.runID)
		}
		summaries := map[string]*report.Summary{}
		for _, filter := range records.AlignedFilters {
			chosen := pick(runs, filter)
			if len(chosen) < 2 {
				// Fewer than two products: nothing to align; drop stale files.
				for _, key := range []string{store.AlignedKey(sha, filter), store.PassRatesKey(sha, filter), store.InteropPointKey(filter, sha)} {
					if err := p.Out.Delete(ctx, key); err != nil {
						return "", err
					}
				}
				continue
			}
			var in []report.AlignedRun
			var when time.Time
			point := records.InteropPoint{Revision: sha, Interop: map[string]int{}}
			for _, r := range chosen {
				s, ok := summaries[r.runID]
				if !ok {
					if s, err = p.readSummary(ctx, sha, r.pid); err != nil {
						return "", err
					}
					summaries[r.runID] = s
				}
				in = append(in, report.AlignedRun{Product: r.tr.BrowserName, RunID: r.runID, Summary: s})
				point.Products = append(point.Products, r.tr.BrowserName)
				point.Runs = append(point.Runs, r.runID)
				if t := r.tr.RunTime(); t.After(when) {
					when = t
				}
			}
			point.Time = when
			am := report.Aligned(in)
			if err := writeJSONTo(ctx, p.Out, store.AlignedKey(sha, filter), func(buf *bytes.Buffer) error { return am.WriteJSON(buf) }); err != nil {
				return "", err
			}
			meta := map[string]any{"revision": sha, "filter": filter, "test_runs": point.Runs, "products": point.Products}
			pr, err := am.PassRatesJSON(meta)
			if err != nil {
				return "", err
			}
			if err := p.Out.WriteBytes(ctx, store.PassRatesKey(sha, filter), pr, store.WriteOptions{ContentType: "application/json"}); err != nil {
				return "", err
			}
			if root, ok := am.Dir("/"); ok {
				point.Interop["/"] = root.Interop
			}
			for _, e := range am.Children("/") {
				if !e.Test {
					point.Interop[e.Dir] = e.Interop
				}
			}
			if err := writeJSONTo(ctx, p.Out, store.InteropPointKey(filter, sha), marshalTo(point)); err != nil {
				return "", err
			}
		}
		return strings.Join(ids, ","), nil
	}, fp)
	if err != nil {
		return err
	}
	for _, filter := range records.AlignedFilters {
		if err := p.updateInteropSeries(ctx, filter); err != nil {
			return err
		}
	}
	return nil
}

func (p *Processor) readSummary(ctx context.Context, sha, pid string) (*report.Summary, error) {
	rc, err := p.Out.NewReader(ctx, store.SummaryKey(sha, pid))
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		return nil, fmt.Errorf("process: summary %s/%s: %w", sha, pid, err)
	}
	return report.ReadSummary(zr)
}

func (p *Processor) updateInteropSeries(ctx context.Context, filter string) error {
	return rebuildSeries(ctx, p, store.InteropPointPrefix(filter), store.InteropKey(filter),
		func(a, b records.InteropPoint) bool {
			if !a.Time.Equal(b.Time) {
				return a.Time.Before(b.Time)
			}
			return a.Revision < b.Revision
		},
		func(pts []records.InteropPoint) any { return records.InteropSeries{Filter: filter, Points: pts} })
}

// FinishPending redoes the metrics across runs of runs whose ingester
// stopped between their status record and those metrics (a poll calls it
// first). It returns every error, joined.
func (p *Processor) FinishPending(ctx context.Context) error {
	keys, err := p.listKeys(ctx, store.PendingMetricsPrefix)
	if err != nil {
		return err
	}
	var errs []error
	for _, k := range keys {
		var pm records.PendingMetrics
		if ok, err := p.Out.ReadJSON(ctx, k, &pm); err != nil || !ok {
			errs = append(errs, err)
			continue
		}
		// Only once the run is visible: before that its own ingest will.
		if ok, err := p.Out.Exists(ctx, store.StatusKey(pm.RunID)); err != nil || !ok {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, p.updateAggregates(ctx, pm))
	}
	return errors.Join(errs...)
}
