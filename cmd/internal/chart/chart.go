package chart

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Point is a point of a chart: a time and a percentage.
type Point struct {
	T     time.Time
	V     float64 // 0..100
	Title string  // tooltip
}

// Series is a line of a chart.
type Series struct {
	Name, Color string
	Points      []Point // by time
}

// Product colours of the charts; other series take palette in turn.
var colors = map[string]string{
	"chrome":  "#4285f4",
	"edge":    "#0c9d8f",
	"firefox": "#e66000",
	"safari":  "#8e44ad",
	"servo":   "#2e7d32",
	"interop": "#37474f",
}

var palette = []string{"#c62828", "#6d4c41", "#00838f", "#ad1457", "#558b2f", "#283593"}

// Color is the colour of series i named name: the product's own, else the
// palette's, in turn.
func Color(name string, i int) string {
	if c, ok := colors[name]; ok {
		return c
	}
	return palette[i%len(palette)]
}

// Chart geometry, in SVG user units.
const (
	width, height       = 760, 300
	left, right         = 56, 150 // the legend is on the right
	top, bottom         = 34, 40
	plotW, plotH        = width - left - right, height - top - bottom
	font                = "font-family=\"DejaVu Sans, Arial, sans-serif\""
	small, normal, bold = "11", "12", "13"
)

// Render draws series of percentages over time: a time axis from the
// first to the last point, 0–100 % on the y axis, a line with a dot (and a
// tooltip) per point, and a legend with each series' last value. Each
// series is a <g class="series" data-series="name" data-points="n">.
func Render(title, yLabel string, series []Series) []byte {
	var b bytes.Buffer
	esc := func(s string) string {
		var e bytes.Buffer
		xml.EscapeText(&e, []byte(s))
		return e.String()
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" %s font-size="%s">`+"\n",
		width, height, width, height, font, normal)
	fmt.Fprintf(&b, "<title>%s</title>\n", esc(title))
	b.WriteString(`<rect width="100%" height="100%" fill="#fff"/>` + "\n")
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="%s" font-weight="bold">%s</text>`+"\n", left, bold, esc(title))

	var tmin, tmax time.Time
	n := 0
	for _, s := range series {
		for _, p := range s.Points {
			if n == 0 || p.T.Before(tmin) {
				tmin = p.T
			}
			if n == 0 || p.T.After(tmax) {
				tmax = p.T
			}
			n++
		}
	}
	// The y axis: 0 to 100 %, a grid line every 20.
	for v := 0; v <= 100; v += 20 {
		y := top + plotH - float64(v)/100*plotH
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`+"\n", left, y, left+plotW, y, map[bool]string{true: "#999", false: "#e0e0e0"}[v == 0])
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" font-size="%s" fill="#555">%d%%</text>`+"\n", left-6, y+4, small, v)
	}
	fmt.Fprintf(&b, `<text transform="translate(14 %d) rotate(-90)" text-anchor="middle" font-size="%s" fill="#555">%s</text>`+"\n",
		top+plotH/2, small, esc(yLabel))
	if n == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#777" class="nodata">No data</text>`+"\n", left+plotW/2, top+plotH/2)
	} else {
		if !tmax.After(tmin) { // one instant: a day around it
			tmin, tmax = tmin.Add(-12*time.Hour), tmax.Add(12*time.Hour)
		}
		x := func(t time.Time) float64 {
			return left + float64(t.Sub(tmin))/float64(tmax.Sub(tmin))*plotW
		}
		for _, t := range ticks(tmin, tmax) {
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#999"/>`+"\n", x(t.T), top+plotH, x(t.T), top+plotH+4)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" font-size="%s" fill="#555">%s</text>`+"\n", x(t.T), top+plotH+17, small, esc(t.Label))
		}
		y := func(v float64) float64 { return top + plotH - math.Max(0, math.Min(100, v))/100*plotH }
		for _, s := range series {
			fmt.Fprintf(&b, `<g class="series" data-series="%s" data-points="%d">`+"\n", esc(s.Name), len(s.Points))
			if len(s.Points) > 1 {
				var pts []string
				for _, p := range s.Points {
					pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.T), y(p.V)))
				}
				fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", s.Color, strings.Join(pts, " "))
			}
			for _, p := range s.Points {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s" data-value="%s"><title>%s</title></circle>`+"\n",
					x(p.T), y(p.V), s.Color, strconv.FormatFloat(p.V, 'f', -1, 64), esc(p.Title))
			}
			b.WriteString("</g>\n")
		}
	}
	// The legend, with each series' last value.
	for i, s := range series {
		ly := top + 8 + i*20
		lx := left + plotW + 16
		last := "no data"
		if len(s.Points) > 0 {
			last = fmt.Sprintf("%.1f%%", s.Points[len(s.Points)-1].V)
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", lx, ly, lx+18, ly, s.Color)
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="legend">%s <tspan fill="#555">%s</tspan></text>`+"\n", lx+24, ly+4, esc(s.Name), last)
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

type tick struct {
	T     time.Time
	Label string
}

// ticks returns at most about 7 ticks between tmin and tmax at a
// round interval: hours, days, weeks, months or years (UTC).
func ticks(tmin, tmax time.Time) []tick {
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
	var out []tick
	for ; !t.After(tmax) && len(out) < 20; t = nextTick(t, st.d, st.months) {
		if !t.Before(tmin) {
			out = append(out, tick{t, t.Format(st.layout)})
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
