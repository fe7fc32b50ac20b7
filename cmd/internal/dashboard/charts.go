package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/chart"
	"github.com/wptfeed/wptfeed/cmd/internal/httpx"
	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/store"
)

// Charts of the dashboard, drawn on the server as SVG from the metrics
// series (docs/metrics-files.md):
//
//	GET /charts/passrate.svg?product=chrome&label=stable&path=/css/
//	    per-test pass rate over time, one line per product, from
//	    metrics/series/<product>.json; product repeatable (or products=a,b;
//	    default: every product with a VALID run), label repeatable (a point
//	    needs all of them), path "/" or a top-level directory;
//	GET /charts/interop.svg?label=stable&path=/
//	    interop score over time from metrics/interop/<label>.json, label
//	    all (default), stable or experimental.
//
// Both take from and to (RFC 3339 or a date), and answer an SVG that says
// "No data" when nothing matches.

// readMetricsFile reads a small metrics file through the short-lived cache;
// nil, nil when it does not exist.
func (d *Dashboard) readMetricsFile(ctx context.Context, key string) ([]byte, error) {
	data, err := d.files.get(key, func() ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()
		data, err := d.out.ReadAll(ctx, key)
		if store.IsNotFound(err) {
			return []byte{}, nil
		}
		return data, err
	})
	if len(data) == 0 {
		return nil, err
	}
	return data, err
}

// seriesPath checks the path of a chart: the root or a top-level directory,
// the directories the series have.
func seriesPath(v string) (string, error) {
	if v == "" {
		return "/", nil
	}
	if !strings.HasSuffix(v, "/") {
		v += "/"
	}
	if !strings.HasPrefix(v, "/") || strings.Count(v, "/") > 2 {
		return "", badParam("path %q: charts have the root and top-level directories (/css/)", v)
	}
	return v, nil
}

func (d *Dashboard) servePassRate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := seriesPath(q.Get("path"))
	var from, to time.Time
	if err == nil {
		from, err = parseTime("from", q.Get("from"))
	}
	if err == nil {
		to, err = parseTime("to", q.Get("to"))
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	labels := splitValues(q, "label", "labels")
	products := splitValues(q, "product", "products")
	if len(products) == 0 {
		recs, _ := d.snapshot()
		for _, rec := range recs {
			if rec.State == records.StateValid && rec.TestRun != nil && !slices.Contains(products, rec.TestRun.BrowserName) {
				products = append(products, rec.TestRun.BrowserName)
			}
		}
		slices.Sort(products)
	}
	var series []chart.Series
	for i, product := range products {
		data, err := d.readMetricsFile(r.Context(), store.SeriesKey(product))
		if err != nil {
			httpx.Error(w, r, d.log, err)
			return
		}
		s := chart.Series{Name: product, Color: chart.Color(product, i)}
		if data != nil {
			var f records.Series
			if err := json.Unmarshal(data, &f); err != nil {
				httpx.Error(w, r, d.log, fmt.Errorf("dashboard: %s: %w", store.SeriesKey(product), err))
				return
			}
			for _, pt := range f.Points {
				rate, ok := pt.Rates[p]
				if !ok || !inRange(pt.Time, from, to) || slices.ContainsFunc(labels, func(l string) bool { return !slices.Contains(pt.Labels, l) }) {
					continue
				}
				s.Points = append(s.Points, chart.Point{
					T: pt.Time, V: 100 * rate,
					Title: fmt.Sprintf("%s %s: %.1f%% (run %s, revision %.10s)", product, pt.Time.UTC().Format("2006-01-02 15:04"), 100*rate, pt.RunID, pt.Revision),
				})
			}
		}
		series = append(series, s)
	}
	title := "Pass rate of " + p
	if len(labels) > 0 {
		title += " (" + strings.Join(labels, ", ") + ")"
	}
	d.serveSVG(w, r, chart.Render(title, "tests passing (per-test score)", series))
}

func (d *Dashboard) serveInterop(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := seriesPath(q.Get("path"))
	var from, to time.Time
	if err == nil {
		from, err = parseTime("from", q.Get("from"))
	}
	if err == nil {
		to, err = parseTime("to", q.Get("to"))
	}
	filter := q.Get("label")
	if filter == "" {
		filter = "all"
	}
	if err == nil && !slices.Contains(records.AlignedFilters, filter) {
		err = badParam("label %q: interop is computed for all, stable and experimental runs", filter)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	key := store.InteropKey(filter)
	data, err := d.readMetricsFile(r.Context(), key)
	if err != nil {
		httpx.Error(w, r, d.log, err)
		return
	}
	s := chart.Series{Name: "interop", Color: chart.Color("interop", 0)}
	if data != nil {
		var f records.InteropSeries
		if err := json.Unmarshal(data, &f); err != nil {
			httpx.Error(w, r, d.log, fmt.Errorf("dashboard: %s: %w", key, err))
			return
		}
		for _, pt := range f.Points {
			v, ok := pt.Interop[p]
			if !ok || !inRange(pt.Time, from, to) {
				continue
			}
			s.Points = append(s.Points, chart.Point{
				T: pt.Time, V: float64(v) / 10,
				Title: fmt.Sprintf("%s: %.1f%% interop of %s (revision %.10s)", pt.Time.UTC().Format("2006-01-02 15:04"), float64(v)/10, strings.Join(pt.Products, ", "), pt.Revision),
			})
		}
	}
	title := "Interop of " + p + " (" + filter + " runs)"
	d.serveSVG(w, r, chart.Render(title, "tests passing in every product", []chart.Series{s}))
}

func inRange(t, from, to time.Time) bool {
	return (from.IsZero() || !t.Before(from)) && (to.IsZero() || t.Before(to))
}

func (d *Dashboard) serveSVG(w http.ResponseWriter, r *http.Request, svg []byte) {
	d.serve(w, r, "image/svg+xml", svg)
}
