package chart

import (
	"encoding/xml"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/internal/testutil"
)

// TestRender compares charts with golden SVGs (go test -update rewrites
// them; look at them in a browser before committing) and checks that the
// output is well-formed XML with markup in names and titles escaped.
func TestRender(t *testing.T) {
	t0 := time.Date(2024, 1, 30, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		series []Series
	}{
		{"empty", nil},
		{"one-point", []Series{{Name: "a<b>&c", Color: "#000", Points: []Point{{T: t0, V: 50, Title: `"quoted" <tag> & more`}}}}},
		{"hours", []Series{{Name: "x", Color: "#000", Points: []Point{{T: t0, V: 0}, {T: t0.Add(5 * time.Hour), V: 100}}}}},
		{"years", []Series{{Name: "x", Color: "#000", Points: []Point{{T: t0, V: 10}, {T: t0.AddDate(6, 0, 0), V: 120}}}}},
		{"two-series", []Series{
			{Name: "chrome", Color: Color("chrome", 0), Points: []Point{{T: t0, V: 80}, {T: t0.AddDate(0, 0, 1), V: 82.5}, {T: t0.AddDate(0, 0, 3), V: 81}}},
			{Name: "servo", Color: Color("servo", 1), Points: []Point{{T: t0.AddDate(0, 0, 1), V: 40}}},
			{Name: "other", Color: Color("other", 2)},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svg := Render("T <&>", "y", tc.series)
			testutil.Golden(t, filepath.Join("testdata", tc.name+".svg.golden"), svg)
			dec := xml.NewDecoder(strings.NewReader(string(svg)))
			for {
				if _, err := dec.Token(); err != nil {
					if err.Error() != "EOF" {
						t.Fatalf("not well-formed XML: %v", err)
					}
					break
				}
			}
		})
	}
}

func TestTicks(t *testing.T) {
	t0 := time.Date(2024, 1, 30, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		from, to   time.Time
		first      string
		minN, maxN int
	}{
		{"hours", t0, t0.Add(5 * time.Hour), "Jan 30 00:00", 2, 7},
		{"days", t0, t0.AddDate(0, 0, 5), "Jan 30", 2, 7},
		{"months", t0, t0.AddDate(0, 7, 0), "Apr 2024", 2, 8},
		{"years", t0, t0.AddDate(6, 0, 0), "2025", 2, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ticks(tc.from, tc.to)
			if len(got) < tc.minN || len(got) > tc.maxN || got[0].Label != tc.first {
				t.Fatalf("got %v, want %d..%d ticks from %q", got, tc.minN, tc.maxN, tc.first)
			}
			for i := 1; i < len(got); i++ {
				if !got[i].T.After(got[i-1].T) || got[i].T.Before(tc.from) || got[i].T.After(tc.to) {
					t.Fatalf("ticks not increasing within the range: %v", got)
				}
			}
		})
	}
}

func TestColor(t *testing.T) {
	if got := Color("firefox", 3); got != "#e66000" {
		t.Errorf("firefox: got %s", got)
	}
	if a, b := Color("x", 0), Color("y", 1); a == b || a != Color("z", len(palette)) {
		t.Errorf("palette: %s, %s", a, b)
	}
}
