package ingester

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wptfeed/wptfeed/store"
)

// Charts of the dashboard, drawn on the server as SVG from the metrics
// series (see metricsout.go):
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

// dashSeriesFile is metrics/series/<product>.json.
type dashSeriesFile struct {
	Product string `json:"product"`
	Points  []struct {
		RunID    string             `json:"run_id"`
		Revision string             `json:"revision"`
		Time     time.Time          `json:"time"`
		Labels   []string           `json:"labels"`
		Rates    map[string]float64 `json:"rates"`
	} `json:"points"`
}

// dashInteropFile is metrics/interop/<filter>.json.
type dashInteropFile struct {
	Filter string `json:"filter"`
	Points []struct {
		Revision string         `json:"revision"`
		Time     time.Time      `json:"time"`
		Products []string       `json:"products"`
		Runs     []string       `json:"runs"`
		Interop  map[string]int `json:"interop"`
	} `json:"points"`
}

// chartPoint is a point of a chart: a time and a percentage.
type chartPoint struct {
	t     time.Time
	v     float64 // 0..100
	title string  // tooltip
}

// chartSeries is a line of a chart.
type chartSeries struct {
	name, color string
	points      []chartPoint // by time
}

// Product colours of the charts; other series take chartPalette in turn.
var chartColors = map[string]string{
	"chrome":  "#4285f4",
	"edge":    "#0c9d8f",
	"firefox": "#e66000",
	"safari":  "#8e44ad",
	"servo":   "#2e7d32",
	"interop": "#37474f",
}

var chartPalette = []string{"#c62828", "#6d4c41", "#00838f", "#ad1457", "#558b2f", "#283593"}

// readMetricsFile reads a small metrics file through the short-lived cache;
// nil, nil when it does not exist.
func (d *dashboard) readMetricsFile(ctx context.Context, key string) ([]byte, error) {
	data, err := d.files.get(key, func() ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dashLoadTimeout)
		defer cancel()
		data, err := d.s.out.ReadAll(ctx, key)
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

// chartPath checks the path of a chart: the root or a top-level directory,
// the directories the series have.
func chartPath(v string) (string, error) {
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

func (d *dashboard) servePassRateChart(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := chartPath(q.Get("path"))
	var from, to time.Time
	if err == nil {
		from, err = parseDashTime("from", q.Get("from"))
	}
	if err == nil {
		to, err = parseDashTime("to", q.Get("to"))
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	labels := splitValues(q, "label", "labels")
	products := splitValues(q, "product", "products")
	if len(products) == 0 {
		recs, _ := d.records()
		for _, rec := range recs {
			if rec.state == StateValid && rec.testRun != nil && !slices.Contains(products, rec.testRun.BrowserName) {
				products = append(products, rec.testRun.BrowserName)
			}
		}
		slices.Sort(products)
	}
	var series []chartSeries
	for i, product := range products {
		data, err := d.readMetricsFile(r.Context(), "metrics/series/"+productKey(product)+".json")
		if err != nil {
			d.chartError(w, r, err)
			return
		}
		s := chartSeries{name: product, color: chartColor(product, i)}
		if data != nil {
			var f dashSeriesFile
			if err := json.Unmarshal(data, &f); err != nil {
				d.chartError(w, r, fmt.Errorf("dashboard: metrics/series/%s.json: %w", productKey(product), err))
				return
			}
			for _, pt := range f.Points {
				rate, ok := pt.Rates[p]
				if !ok || !chartInRange(pt.Time, from, to) || slices.ContainsFunc(labels, func(l string) bool { return !slices.Contains(pt.Labels, l) }) {
					continue
				}
				s.points = append(s.points, chartPoint{
					t: pt.Time, v: 100 * rate,
					title: fmt.Sprintf("%s %s: %.1f%% (run %s, revision %.10s)", product, pt.Time.UTC().Format("2006-01-02 15:04"), 100*rate, pt.RunID, pt.Revision),
				})
			}
		}
		series = append(series, s)
	}
	title := "Pass rate of " + p
	if len(labels) > 0 {
		title += " (" + strings.Join(labels, ", ") + ")"
	}
	d.serveChart(w, r, renderChart(title, "tests passing (per-test score)", series))
}

func (d *dashboard) serveInteropChart(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := chartPath(q.Get("path"))
	var from, to time.Time
	if err == nil {
		from, err = parseDashTime("from", q.Get("from"))
	}
	if err == nil {
		to, err = parseDashTime("to", q.Get("to"))
	}
	filter := q.Get("label")
	if filter == "" {
		filter = "all"
	}
	if err == nil && !slices.Contains(dashAlignedFilters, filter) {
		err = badParam("label %q: interop is computed for all, stable and experimental runs", filter)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	key := "metrics/interop/" + filter + ".json"
	data, err := d.readMetricsFile(r.Context(), key)
	if err != nil {
		d.chartError(w, r, err)
		return
	}
	s := chartSeries{name: "interop", color: chartColors["interop"]}
	if data != nil {
		var f dashInteropFile
		if err := json.Unmarshal(data, &f); err != nil {
			d.chartError(w, r, fmt.Errorf("dashboard: %s: %w", key, err))
			return
		}
		for _, pt := range f.Points {
			v, ok := pt.Interop[p]
			if !ok || !chartInRange(pt.Time, from, to) {
				continue
			}
			s.points = append(s.points, chartPoint{
				t: pt.Time, v: float64(v) / 10,
				title: fmt.Sprintf("%s: %.1f%% interop of %s (revision %.10s)", pt.Time.UTC().Format("2006-01-02 15:04"), float64(v)/10, strings.Join(pt.Products, ", "), pt.Revision),
			})
		}
	}
	title := "Interop of " + p + " (" + filter + " runs)"
	d.serveChart(w, r, renderChart(title, "tests passing in every product", []chartSeries{s}))
}

func chartInRange(t, from, to time.Time) bool {
	return (from.IsZero() || !t.Before(from)) && (to.IsZero() || t.Before(to))
}

func chartColor(name string, i int) string {
	if c, ok := chartColors[name]; ok {
		return c
	}
	return chartPalette[i%len(chartPalette)]
}

func (d *dashboard) serveChart(w http.ResponseWriter, r *http.Request, svg []byte) {
	dashServe(w, r, "image/svg+xml", svg, "", d.s.cacheControl())
}

func (d *dashboard) chartError(w http.ResponseWriter, r *http.Request, err error) {
	code := serveHTTPStatus(err)
	if code >= 500 {
		d.s.log.Error("request failed", "path", r.URL.Path, "err", err)
	}
	http.Error(w, http.StatusText(code), code)
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH                     = 760, 300
	chartLeft, chartRight              = 56, 150 // the legend is on the right
	chartTop, chartBottom              = 34, 40
	chartPlotW, chartPlotH             = chartW - chartLeft - chartRight, chartH - chartTop - chartBottom
	chartFont                          = "font-family=\"DejaVu Sans, Arial, sans-serif\""
	chartSmall, chartNormal, chartBold = "11", "12", "13"
)

// renderChart draws series of percentages over time: a time axis from the
// first to the last point, 0–100 % on the y axis, a line with a dot (and a
// tooltip) per point, and a legend with each series' last value. Each
// series is a <g class="series" data-series="name" data-points="n">.
func renderChart(title, yLabel string, series []chartSeries) []byte {
	var b bytes.Buffer
	esc := func(s string) string {
		var e bytes.Buffer
		xml.EscapeText(&e, []byte(s))
		return e.String()
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" %s font-size="%s">`+"\n",
		chartW, chartH, chartW, chartH, chartFont, chartNormal)
	fmt.Fprintf(&b, "<title>%s</title>\n", esc(title))
	b.WriteString(`<rect width="100%" height="100%" fill="#fff"/>` + "\n")
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="%s" font-weight="bold">%s</text>`+"\n", chartLeft, chartBold, esc(title))

	var tmin, tmax time.Time
	n := 0
	for _, s := range series {
		for _, p := range s.points {
			if n == 0 || p.t.Before(tmin) {
				tmin = p.t
			}
			if n == 0 || p.t.After(tmax) {
				tmax = p.t
			}
			n++
		}
	}
	// The y axis: 0 to 100 %, a grid line every 20.
	for v := 0; v <= 100; v += 20 {
		y := chartTop + chartPlotH - float64(v)/100*chartPlotH
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`+"\n", chartLeft, y, chartLeft+chartPlotW, y, map[bool]string{true: "#999", false: "#e0e0e0"}[v == 0])
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" font-size="%s" fill="#555">%d%%</text>`+"\n", chartLeft-6, y+4, chartSmall, v)
	}
	fmt.Fprintf(&b, `<text transform="translate(14 %d) rotate(-90)" text-anchor="middle" font-size="%s" fill="#555">%s</text>`+"\n",
		chartTop+chartPlotH/2, chartSmall, esc(yLabel))
	if n == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#777" class="nodata">No data</text>`+"\n", chartLeft+chartPlotW/2, chartTop+chartPlotH/2)
	} else {
		if !tmax.After(tmin) { // one instant: a day around it
			tmin, tmax = tmin.Add(-12*time.Hour), tmax.Add(12*time.Hour)
		}
		x := func(t time.Time) float64 {
			return chartLeft + float64(t.Sub(tmin))/float64(tmax.Sub(tmin))*chartPlotW
		}
		for _, t := range chartTicks(tmin, tmax) {
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#999"/>`+"\n", x(t.t), chartTop+chartPlotH, x(t.t), chartTop+chartPlotH+4)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" font-size="%s" fill="#555">%s</text>`+"\n", x(t.t), chartTop+chartPlotH+17, chartSmall, esc(t.label))
		}
		y := func(v float64) float64 { return chartTop + chartPlotH - math.Max(0, math.Min(100, v))/100*chartPlotH }
		for _, s := range series {
			fmt.Fprintf(&b, `<g class="series" data-series="%s" data-points="%d">`+"\n", esc(s.name), len(s.points))
			if len(s.points) > 1 {
				var pts []string
				for _, p := range s.points {
					pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.t), y(p.v)))
				}
				fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", s.color, strings.Join(pts, " "))
			}
			for _, p := range s.points {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s" data-value="%s"><title>%s</title></circle>`+"\n",
					x(p.t), y(p.v), s.color, strconv.FormatFloat(p.v, 'f', -1, 64), esc(p.title))
			}
			b.WriteString("</g>\n")
		}
	}
	// The legend, with each series' last value.
	for i, s := range series {
		ly := chartTop + 8 + i*20
		lx := chartLeft + chartPlotW + 16
		last := "no data"
		if len(s.points) > 0 {
			last = fmt.Sprintf("%.1f%%", s.points[len(s.points)-1].v)
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", lx, ly, lx+18, ly, s.color)
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="legend">%s <tspan fill="#555">%s</tspan></text>`+"\n", lx+24, ly+4, esc(s.name), last)
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

type chartTick struct {
	t     time.Time
	label string
}

// chartTicks returns at most about 7 ticks between tmin and tmax at a
// round interval: hours, days, weeks, months or years (UTC).
func chartTicks(tmin, tmax time.Time) []chartTick {
	tmin, tmax = tmin.UTC(), tmax.UTC()
	span := tmax.Sub(tmin)
	const day = 24 * time.Hour
	type step struct {
		d      time.Duration
		months int
		layout string
	}
	steps := []step{
		{time.Hour, 0, "Jan 2 15:04"}, {3 * time.Hour, 0, "Jan 2 15:04"}, {6 * time.Hour, 0, "Jan 2 15:04"},
		{12 * time.Hour, 0, "Jan 2 15:04"}, {day, 0, "Jan 2"}, {2 * day, 0, "Jan 2"}, {7 * day, 0, "Jan 2"},
		{14 * day, 0, "Jan 2"}, {0, 1, "Jan 2006"}, {0, 3, "Jan 2006"}, {0, 6, "Jan 2006"}, {0, 12, "2006"},
	}
	st := steps[len(steps)-1]
	for _, s := range steps {
		d := s.d
		if s.months > 0 {
			d = time.Duration(s.months) * 30 * day
		}
		if span/d <= 6 {
			st = s
			break
		}
	}
	var t time.Time
	if st.months > 0 {
		t = time.Date(tmin.Year(), tmin.Month(), 1, 0, 0, 0, 0, time.UTC)
		for (int(t.Month())-1)%st.months != 0 {
			t = t.AddDate(0, 1, 0)
		}
	} else {
		t = tmin.Truncate(st.d)
	}
	var out []chartTick
	for ; !t.After(tmax) && len(out) < 20; t = nextTick(t, st.d, st.months) {
		if !t.Before(tmin) {
			out = append(out, chartTick{t, t.Format(st.layout)})
		}
	}
	return out
}

func nextTick(t time.Time, d time.Duration, months int) time.Time {
	if months > 0 {
		return t.AddDate(0, months, 0)
	}
	return t.Add(d)
}
