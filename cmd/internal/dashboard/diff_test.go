package dashboard

import (
	"compress/gzip"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/wptfeed/wptfeed/cmd/internal/changes"
	"github.com/wptfeed/wptfeed/cmd/internal/diff"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
)

// fixtureSummary reads a fixture run's summary_v2.
func fixtureSummary(t *testing.T, fx *fixture, id string) *report.Summary {
	t.Helper()
	r := fx.run(t, id)
	rc, err := fx.out.NewReader(t.Context(), store.SummaryKey(r.st.Revision, r.st.ProductID))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := report.ReadSummary(zr)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDashboard_Diff: /api/diff resolves its runs from run_ids, run ids or
// product specs, answers the stored diff for a run and its previous run,
// and computes any other pair or filter from the summaries.
func TestDashboard_Diff(t *testing.T) {
	env := newTestEnv(t)
	fx := env.fx
	stored, err := changes.ReadDiff(t.Context(), fx.out, runChrome)
	if err != nil {
		t.Fatalf("the ingester stored no diff for %s: %v", runChrome, err)
	}
	if stored.Before != runChromeOld {
		t.Fatalf("stored diff of %s is against %q, want %s (same product and labels, the run before)", runChrome, stored.Before, runChromeOld)
	}
	if len(stored.Tests) == 0 {
		t.Fatal("stored diff lists no test; the fixture's chrome runs differ")
	}
	old, cur := fx.run(t, runChromeOld), fx.run(t, runChrome)
	for _, q := range []string{
		"before=" + runChromeOld + "&after=" + runChrome,
		"before=chrome-125&after=chrome-126",
		fmt.Sprintf("run_ids=%d,%d", old.tr.ID, cur.tr.ID),
		fmt.Sprintf("run_id=%d&run_id=%d&filter=ADC", old.tr.ID, cur.tr.ID),
	} {
		var got diff.Diff
		env.getJSON(t, "/api/diff?"+q, http.StatusOK, &got)
		if !reflect.DeepEqual(&got, stored) {
			t.Errorf("%s: got a diff of %d tests (%s → %s), want the stored one (%d tests)", q, len(got.Tests), got.Before, got.After, len(stored.Tests))
		}
	}

	for _, c := range []struct {
		name, q       string
		before, after string
		opts          diff.Options
	}{
		{"filter and path", "before=" + runChromeOld + "&after=" + runChrome + "&filter=CU&path=/css/", runChromeOld, runChrome,
			diff.Options{Filter: diff.Filter{Changed: true, Unchanged: true}, Paths: []string{"/css/"}}},
		{"paths, comma-separated", "before=" + runChromeOld + "&after=" + runChrome + "&paths=/css/,/dom/", runChromeOld, runChrome,
			diff.Options{Paths: []string{"/css/", "/dom/"}}},
		{"another pair: another product", "before=" + runChrome + "&after=firefox", runChrome, runFirefox, diff.Options{}},
		{"labels in a spec", "before=chrome[stable]&after=chrome[experimental]", runChrome, runChromeDev, diff.Options{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got diff.Diff
			env.getJSON(t, "/api/diff?"+c.q, http.StatusOK, &got)
			want := diff.Summaries(fixtureSummary(t, fx, c.before), fixtureSummary(t, fx, c.after), c.opts)
			want.Before, want.After = c.before, c.after
			if !reflect.DeepEqual(&got, want) {
				t.Errorf("got %d tests, totals %+v; want %d tests, totals %+v", len(got.Tests), got.Totals, len(want.Tests), want.Totals)
			}
			if len(want.Tests) == 0 {
				t.Error("the case compares nothing")
			}
		})
	}

	for _, c := range []struct {
		q    string
		code int
	}{
		{"before=" + runChromeOld, http.StatusBadRequest},
		{"run_ids=1", http.StatusBadRequest},
		{"run_ids=1,x", http.StatusBadRequest},
		{"before=" + runChromeOld + "&after=" + runChrome + "&filter=X", http.StatusBadRequest},
		{"before=nosuchbrowser&after=" + runChrome, http.StatusBadRequest},
		{"run_ids=1,2", http.StatusNotFound},
		{"before=20990101T000000Z-none&after=" + runChrome, http.StatusNotFound},
		{"before=" + runSafariBad + "&after=" + runChrome, http.StatusNotFound},
		{"before=safari&after=" + runChrome, http.StatusNotFound},
	} {
		env.getJSON(t, "/api/diff?"+c.q, c.code, nil)
	}
}

// TestDashboard_DiffPage: the page view of a diff, in headless Chromium:
// regressions first, flaky apart, each test linked to its results in both
// runs.
func TestDashboard_DiffPage(t *testing.T) {
	chromium := findChromium(t)
	env := newTestEnv(t)
	cdp := startCDP(t, chromium)
	var d diff.Diff
	q := "?before=" + runChromeOld + "&after=" + runChrome
	env.getJSON(t, "/api/diff"+q, http.StatusOK, &d)
	if len(d.Regressions) == 0 {
		t.Fatal("the fixture's chrome runs have no regression to show")
	}
	doc := cdp.page(t, env.addr+"/"+q)
	body := findNode(doc, func(n *html.Node) bool { return n.Data == "body" })
	if v := attrOf(body, "data-view"); v != "diff" {
		t.Fatalf("data-view %q, want diff", v)
	}
	var sections []string
	for _, n := range findNodes(doc, func(n *html.Node) bool { return n.Data == "table" && hasAttr(n, "id") }) {
		sections = append(sections, attrOf(n, "id"))
	}
	if len(sections) == 0 || sections[0] != "regressions" {
		t.Fatalf("tables %v: want the regressions first", sections)
	}
	if i := slices.Index(sections, "flaky"); i >= 0 && i != len(sections)-1 {
		t.Errorf("tables %v: want the flaky tests apart, last", sections)
	}
	table := findNode(doc, func(n *html.Node) bool { return n.Data == "table" && attrOf(n, "id") == "regressions" })
	var tests []string
	for _, row := range findNodes(table, func(n *html.Node) bool { return n.Data == "tr" && hasAttr(n, "data-test") }) {
		test := attrOf(row, "data-test")
		tests = append(tests, test)
		for side, run := range map[string]string{"before": runChromeOld, "after": runChrome} {
			a := findNode(row, func(n *html.Node) bool { return n.Data == "a" && attrOf(n, "data-side") == side })
			c := d.Tests[slices.IndexFunc(d.Tests, func(c diff.Change) bool { return c.Test == test })]
			if (side == "before" && c.Before == nil) || (side == "after" && c.After == nil) {
				continue
			}
			if a == nil {
				t.Errorf("%s: no link to its %s result", test, side)
				continue
			}
			u, err := url.Parse(attrOf(a, "href"))
			if err != nil || u.Query().Get("run") != run || u.Query().Get("path") != test {
				t.Errorf("%s: %s link %q, want run=%s&path=%s", test, side, attrOf(a, "href"), run, test)
			}
		}
	}
	if !slices.Equal(tests, d.Regressions) {
		t.Errorf("regressions shown %v, want %v", tests, d.Regressions)
	}
	// Following a test's link shows its results in that run.
	first := d.Regressions[0]
	c := d.Tests[slices.IndexFunc(d.Tests, func(c diff.Change) bool { return c.Test == first })]
	if c.After != nil {
		doc = cdp.page(t, env.addr+"/"+runHref(runChrome, first))
		if title := textOf(findNode(doc, func(n *html.Node) bool { return n.Data == "title" })); !strings.Contains(title, first) {
			t.Errorf("the test's page: title %q, want %s in it", title, first)
		}
	}
}

// runHref is the page's URL of a test's results in a run (app.js runHref).
func runHref(run, test string) string {
	return "?run=" + url.QueryEscape(run) + "&path=" + strings.ReplaceAll(url.QueryEscape(test), "%2F", "/")
}
