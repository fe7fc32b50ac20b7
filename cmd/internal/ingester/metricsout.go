package ingester

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

	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
)

// Metrics across runs live under metrics/ in the out bucket, as plain,
// deterministic JSON (see README.md, "Metrics"):
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
var alignedFilters = []string{"all", "stable", "experimental"}

type seriesPoint struct {
	RunID    string             `json:"run_id"`
	Revision string             `json:"revision"`
	Time     time.Time          `json:"time"`
	Labels   []string           `json:"labels"`
	Rates    map[string]float64 `json:"rates"`
}

type series struct {
	Product string        `json:"product"`
	Points  []seriesPoint `json:"points"`
}

type interopPoint struct {
	Revision string         `json:"revision"`
	Time     time.Time      `json:"time"`
	Products []string       `json:"products"`
	Runs     []string       `json:"runs"`
	Interop  map[string]int `json:"interop"`
}

type interopSeries struct {
	Filter string         `json:"filter"`
	Points []interopPoint `json:"points"`
}

type pendingMetrics struct {
	RunID    string `json:"run_id"`
	Revision string `json:"revision"`
	Product  string `json:"product"`
}

func pendingKey(runID string) string { return statePrefix + "metrics-pending/" + runID + ".json" }

// productKey makes a product name safe as a key segment.
func productKey(p string) string {
	var b strings.Builder
	for _, c := range p {
		if c < 128 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// runTime is when a run ran, for series: its start, else its upload.
func runTime(tr *TestRun) time.Time {
	if !tr.TimeStart.IsZero() && tr.TimeStart.Unix() > 0 {
		return tr.TimeStart.UTC()
	}
	return tr.CreatedAt.UTC()
}

func writeJSONTo(ctx context.Context, b *store.Bucket, key string, write func(*bytes.Buffer) error) error {
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		return fmt.Errorf("ingest: encode %s: %w", key, err)
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
func (p *Processor) writeRunMetrics(ctx context.Context, runID string, res *report.Result, tr *TestRun) error {
	m := report.RunDirMetrics(res.Summary)
	if err := writeJSONTo(ctx, p.Out, "metrics/runs/"+runID+".json", func(buf *bytes.Buffer) error { return m.WriteJSON(buf) }); err != nil {
		return err
	}
	pt := seriesPoint{RunID: runID, Revision: tr.FullRevisionHash, Time: runTime(tr), Labels: tr.Labels, Rates: report.SeriesPoint(m)}
	if err := writeJSONTo(ctx, p.Out, "metrics/points/"+productKey(tr.BrowserName)+"/"+runID+".json", marshalTo(pt)); err != nil {
		return err
	}
	return putState(ctx, p.Out, pendingKey(runID), pendingMetrics{RunID: runID, Revision: tr.FullRevisionHash, Product: tr.BrowserName})
}

// updateAggregates recomputes what a VALID run affects and clears its
// pending marker.
func (p *Processor) updateAggregates(ctx context.Context, pm pendingMetrics) error {
	if err := p.updateSeries(ctx, pm.Product); err != nil {
		return err
	}
	if err := p.updateAligned(ctx, pm.Revision); err != nil {
		return err
	}
	return p.Out.Delete(ctx, pendingKey(pm.RunID))
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
	return errors.New("ingest: metrics sources kept changing; the next run will recompute them")
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
	return rebuildSeries(ctx, p, "metrics/points/"+productKey(product)+"/", "metrics/series/"+productKey(product)+".json",
		func(a, b seriesPoint) bool {
			if !a.Time.Equal(b.Time) {
				return a.Time.Before(b.Time)
			}
			return a.RunID < b.RunID
		},
		func(pts []seriesPoint) any { return series{Product: product, Points: pts} })
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
			if ok, err := getState(ctx, p.Out, k, &pt); err != nil {
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
	tr         TestRun
}

// validRunsAt lists the VALID runs at a revision: the owners of its
// product ids whose status record says VALID.
func (p *Processor) validRunsAt(ctx context.Context, sha string) ([]alignedRun, error) {
	prefix := statePrefix + "products/" + sha + "/"
	keys, err := p.listKeys(ctx, prefix)
	if err != nil {
		return nil, err
	}
	var runs []alignedRun
	for _, k := range keys {
		var claim struct {
			RunID string `json:"run_id"`
		}
		if ok, err := getState(ctx, p.Out, k, &claim); err != nil || !ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		var st Status
		if ok, err := getState(ctx, p.Out, store.StatusKey(claim.RunID), &st); err != nil {
			return nil, err
		} else if !ok || st.State != StateValid {
			continue
		}
		var tr TestRun
		if ok, err := getState(ctx, p.Out, store.TestRunKey(claim.RunID), &tr); err != nil {
			return nil, err
		} else if !ok {
			continue
		}
		pid := strings.TrimSuffix(strings.TrimPrefix(k, prefix), ".json")
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
		if !ok || runTime(&r.tr).After(runTime(&cur.tr)) || (runTime(&r.tr).Equal(runTime(&cur.tr)) && r.runID > cur.runID) {
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
		for _, filter := range alignedFilters {
			chosen := pick(runs, filter)
			if len(chosen) < 2 {
				// Fewer than two products: nothing to align; drop stale files.
				for _, suffix := range []string{".json", "-pass-rates.json"} {
					if err := p.Out.Delete(ctx, "metrics/aligned/"+sha+"/"+filter+suffix); err != nil {
						return "", err
					}
				}
				if err := p.Out.Delete(ctx, "metrics/interop-points/"+filter+"/"+sha+".json"); err != nil {
					return "", err
				}
				continue
			}
			var in []report.AlignedRun
			var when time.Time
			point := interopPoint{Revision: sha, Interop: map[string]int{}}
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
				if t := runTime(&r.tr); t.After(when) {
					when = t
				}
			}
			point.Time = when
			am := report.Aligned(in)
			base := "metrics/aligned/" + sha + "/" + filter
			if err := writeJSONTo(ctx, p.Out, base+".json", func(buf *bytes.Buffer) error { return am.WriteJSON(buf) }); err != nil {
				return "", err
			}
			meta := map[string]any{"revision": sha, "filter": filter, "test_runs": point.Runs, "products": point.Products}
			pr, err := am.PassRatesJSON(meta)
			if err != nil {
				return "", err
			}
			if err := p.Out.WriteBytes(ctx, base+"-pass-rates.json", pr, store.WriteOptions{ContentType: "application/json"}); err != nil {
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
			if err := writeJSONTo(ctx, p.Out, "metrics/interop-points/"+filter+"/"+sha+".json", marshalTo(point)); err != nil {
				return "", err
			}
		}
		return strings.Join(ids, ","), nil
	}, fp)
	if err != nil {
		return err
	}
	for _, filter := range alignedFilters {
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
		return nil, fmt.Errorf("ingest: summary %s/%s: %w", sha, pid, err)
	}
	return report.ReadSummary(zr)
}

func (p *Processor) updateInteropSeries(ctx context.Context, filter string) error {
	return rebuildSeries(ctx, p, "metrics/interop-points/"+filter+"/", "metrics/interop/"+filter+".json",
		func(a, b interopPoint) bool {
			if !a.Time.Equal(b.Time) {
				return a.Time.Before(b.Time)
			}
			return a.Revision < b.Revision
		},
		func(pts []interopPoint) any { return interopSeries{Filter: filter, Points: pts} })
}

// finishPendingMetrics redoes the aggregates of runs whose ingester
// stopped between their status record and their aggregates.
func (p *Processor) finishPendingMetrics(ctx context.Context) error {
	keys, err := p.listKeys(ctx, statePrefix+"metrics-pending/")
	if err != nil {
		return err
	}
	var errs []error
	for _, k := range keys {
		var pm pendingMetrics
		if ok, err := getState(ctx, p.Out, k, &pm); err != nil || !ok {
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
