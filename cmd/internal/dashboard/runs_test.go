package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/store"
)

// The wpt.fyi endpoints over an index of synthetic runs: the table tests
// of issue 14. Each behaviour is wpt.fyi's as its code has it
// (web-platform-tests/wpt.fyi shared/params.go, shared/product_spec.go,
// shared/test_run_query.go, the /api/runs handler) and as api/README.md
// documents it; docs/api.md states where and why ours differs.

// fakeIndex is an Index of fixed runs.
type fakeIndex struct{ runs []*records.Run }

var _ Index = (*fakeIndex)(nil)

func (f *fakeIndex) Runs() ([]*records.Run, int64) { return f.runs, 1 }
func (f *fakeIndex) ScanIfOlder(context.Context, time.Duration) (bool, error) {
	return false, nil
}

// Three revisions, newest first: A, B, C.
var (
	revA = strings.Repeat("a1", 20)
	revB = strings.Repeat("b2", 20)
	revC = strings.Repeat("c3", 20)
	t0   = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
)

// synthRun describes a synthetic run.
type synthRun struct {
	name                        string // short name used by the tables
	product, version, os, osVer string
	rev                         string
	at                          time.Duration // time_start after t0
	labels                      []string
	layout                      string // per-test layout; "" is records.LayoutFiles
	state                       string // "" is VALID
}

// name  product   version   os       rev  time_start  labels
// c1    chrome    120.0.1   linux    C    +1h         stable
// f2    firefox   121.0     linux    C    +2h         stable
// s3    safari    17.1      mac 14   C    +3h         stable
// e4    edge      120.0.2   windows  C    +4h         stable
// c5    chrome    121.0.1   linux    B    +25h        stable buildbot
// f6    firefox   122.0     linux    B    +26h        stable
// c7    chrome    122.0.0   linux    A    +49h        experimental
// v8    servo     0.0.1     linux    A    +50h        experimental
// f9    firefox   123.0a1   linux    A    +51h        experimental master user:octocat (packed)
// k10   kindle    1.0       linux    A    +52h        stable (no wpt.fyi browser)
// bad   webkitgtk INVALID, uploaded +53h
var synthRuns = []synthRun{
	{name: "c1", product: "chrome", version: "120.0.1", os: "linux", osVer: "22.04", rev: revC, at: 1 * time.Hour, labels: []string{"stable"}},
	{name: "f2", product: "firefox", version: "121.0", os: "linux", osVer: "22.04", rev: revC, at: 2 * time.Hour, labels: []string{"stable"}},
	{name: "s3", product: "safari", version: "17.1", os: "mac", osVer: "14", rev: revC, at: 3 * time.Hour, labels: []string{"stable"}},
	{name: "e4", product: "edge", version: "120.0.2", os: "windows", osVer: "10", rev: revC, at: 4 * time.Hour, labels: []string{"stable"}},
	{name: "c5", product: "chrome", version: "121.0.1", os: "linux", osVer: "22.04", rev: revB, at: 25 * time.Hour, labels: []string{"stable", "buildbot"}},
	{name: "f6", product: "firefox", version: "122.0", os: "linux", osVer: "22.04", rev: revB, at: 26 * time.Hour, labels: []string{"stable"}},
	{name: "c7", product: "chrome", version: "122.0.0", os: "linux", osVer: "22.04", rev: revA, at: 49 * time.Hour, labels: []string{"experimental"}},
	{name: "v8", product: "servo", version: "0.0.1", os: "linux", osVer: "22.04", rev: revA, at: 50 * time.Hour, labels: []string{"experimental"}},
	{name: "f9", product: "firefox", version: "123.0a1", os: "linux", osVer: "22.04", rev: revA, at: 51 * time.Hour,
		labels: []string{"experimental", "master", "user:octocat"}, layout: records.LayoutPacked},
	{name: "k10", product: "kindle", version: "1.0", os: "linux", rev: revA, at: 52 * time.Hour, labels: []string{"stable"}},
	{name: "bad", product: "webkitgtk", at: 53 * time.Hour, state: records.StateInvalid},
}

func (s synthRun) runID() string {
	return t0.Add(s.at).Format("20060102T150405Z") + "-" + s.name
}

func (s synthRun) record() *records.Run {
	id := s.runID()
	uploaded := t0.Add(s.at + time.Minute)
	labels := append([]string{s.product}, s.labels...)
	sort.Strings(labels)
	r := &records.Run{ID: id, State: s.state, Uploaded: uploaded, Products: []string{s.product}, Labels: labels}
	if r.State == "" {
		r.State = records.StateValid
	}
	st := &records.Status{RunID: id, State: r.State, Product: s.product, Labels: labels}
	r.Status = st
	if r.State != records.StateValid {
		st.Code = "not_json"
		return r
	}
	st.ProductID = fmt.Sprintf("%s-%s-%s-%s-0123456789", s.product, s.version, s.os, s.osVer)
	st.Revision = s.rev
	st.TestRunID = records.TestRunID(id)
	st.PerTest = s.layout
	if st.PerTest == "" {
		st.PerTest = records.LayoutFiles
	}
	st.ResultsURL = "https://results.test/" + store.SummaryKey(s.rev, st.ProductID)
	r.TestRun = &records.TestRun{
		ID: st.TestRunID, BrowserName: s.product, BrowserVersion: s.version, OSName: s.os, OSVersion: s.osVer,
		Revision: s.rev[:10], FullRevisionHash: s.rev, ResultsURL: st.ResultsURL,
		CreatedAt: uploaded, TimeStart: t0.Add(s.at), TimeEnd: t0.Add(s.at + 30*time.Minute), Labels: labels,
	}
	return r
}

// synthEnv serves a dashboard over the synthetic runs and an empty bucket.
type synthEnv struct {
	url    string
	byName map[string]*records.Run
	names  map[string]string // run id → short name
}

func newSynthEnv(t *testing.T, runs []synthRun) *synthEnv {
	t.Helper()
	out, err := store.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	env := &synthEnv{byName: map[string]*records.Run{}, names: map[string]string{}}
	idx := &fakeIndex{}
	for _, s := range runs {
		r := s.record()
		idx.runs = append(idx.runs, r)
		env.byName[s.name], env.names[r.ID] = r, s.name
	}
	// The index's order: newest upload first.
	slices.SortFunc(idx.runs, func(a, b *records.Run) int { return b.Uploaded.Compare(a.Uploaded) })
	mux := http.NewServeMux()
	New(Config{Out: out, Index: idx, ScanInterval: time.Minute}).Mount(func(p string, h http.HandlerFunc) { mux.HandleFunc(p, h) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	env.url = srv.URL
	return env
}

// get fetches path, following no redirect.
func (env *synthEnv) get(t *testing.T, path string) (*http.Response, []byte) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	resp, err := c.Get(env.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// runNames decodes a list of runs into their short names.
func (env *synthEnv) runNames(t *testing.T, body []byte) []string {
	t.Helper()
	var runs []apiRun
	if err := json.Unmarshal(body, &runs); err != nil {
		t.Fatalf("%v: %.300s", err, body)
	}
	names := []string{}
	for _, r := range runs {
		names = append(names, env.names[r.WPTFeed.RunID])
	}
	return names
}

func (env *synthEnv) testRunID(name string) string {
	return fmt.Sprint(env.byName[name].TestRun.ID)
}

func TestDashboard_RunsQuery(t *testing.T) {
	env := newSynthEnv(t, synthRuns)
	c7, b7, a10 := revC[:7], revB[:7], revA[:10]
	for _, tc := range []struct {
		name, query string
		want        []string // nil: 404 with []
	}{
		// No product: wpt.fyi's default products only, in their order
		// (shared/browsers.go; api/README.md "product"), the latest run of
		// each ("Default to a single, latest run when from & max-count
		// both empty").
		{"default products, latest of each", "", []string{"c7", "e4", "f9", "s3"}},
		{"sha latest is the default", "sha=latest", []string{"c7", "e4", "f9", "s3"}},
		{"another product only when asked for", "product=servo", []string{"v8"}},
		{"a product the index has, not wpt.fyi", "product=kindle", []string{"k10"}},
		{"unknown parameters ignored", "view=subtest&product=servo", []string{"v8"}},

		// The examples of api/README.md's /api/runs.
		{"README: product=chrome&product=safari", "product=chrome&product=safari", []string{"c7", "s3"}},
		{"README: from and max-count", "product=chrome&from=2024-03-01T00:00:00Z&max-count=10", []string{"c7", "c5", "c1"}},

		// max-count: per product (README "for each browser"), clamped to
		// 1..500 (ParseMaxCountParam).
		{"max-count per product", "max-count=2", []string{"c7", "c5", "e4", "f9", "f6", "s3"}},
		{"max-count 0 is 1", "max-count=0", []string{"c7", "e4", "f9", "s3"}},
		{"max-count negative is 1", "max-count=-3", []string{"c7", "e4", "f9", "s3"}},
		{"max-count over 500 is 500", "max-count=9999", []string{"c7", "c5", "c1", "e4", "f9", "f6", "f2", "s3"}},

		// Grouped by product in the order asked, newest first in each.
		{"grouped by product, as asked", "product=firefox&product=chrome&max-count=2", []string{"f9", "f6", "c7", "c5"}},
		{"repeated product once", "product=chrome&product=chrome", []string{"c7"}},

		// aligned (README "aligned"; GetAlignedRunSHAs): the newest
		// revision every product has a run at, one run per product.
		{"aligned", "aligned=true&product=chrome&product=firefox", []string{"c7", "f9"}},
		{"aligned without a value is true", "aligned&product=chrome&product=safari", []string{"c1", "s3"}},
		{"complete is aligned", "complete=true&product=chrome&product=safari", []string{"c1", "s3"}},
		{"complete without a value", "complete&product=chrome&product=safari", []string{"c1", "s3"}},
		{"aligned false", "aligned=false&product=chrome&product=safari", []string{"c7", "s3"}},
		{"aligned wins over complete", "aligned=false&complete=true&product=chrome&product=safari", []string{"c7", "s3"}},
		{"aligned max-count counts revisions", "aligned&product=chrome&product=firefox&max-count=2", []string{"c7", "c5", "f9", "f6"}},
		{"aligned default products", "aligned", []string{"c1", "e4", "f2", "s3"}},
		{"aligned offset skips revisions", "aligned&product=chrome&product=firefox&offset=1", []string{"c5", "f6"}},
		{"aligned with product labels", "aligned&product=chrome[stable]&product=firefox", []string{"c5", "f6"}},
		{"aligned with labels", "aligned&label=stable&product=chrome&product=firefox", []string{"c5", "f6"}},
		{"aligned ignored with a sha", "aligned&sha=" + c7 + "&product=chrome&product=firefox", []string{"c1", "f2"}},
		{"aligned from", "aligned&product=chrome&product=firefox&from=2024-03-02", []string{"c7", "c5", "f9", "f6"}},

		// sha and shas (ParseSHAParam): every value, 7 to 40 hex digits.
		{"sha prefix", "sha=" + b7, []string{"c5", "f6"}},
		{"full sha", "sha=" + revC, []string{"c1", "e4", "f2", "s3"}},
		{"upper-case sha", "sha=" + strings.ToUpper(revC[:10]), []string{"c1", "e4", "f2", "s3"}},
		{"several sha", "sha=" + b7 + "&sha=" + c7, []string{"c5", "c1", "e4", "f6", "f2", "s3"}},
		{"shas", "shas=" + b7 + "," + c7, []string{"c5", "c1", "e4", "f6", "f2", "s3"}},
		{"sha and shas", "sha=" + b7 + "&shas=" + c7, []string{"c5", "c1", "e4", "f6", "f2", "s3"}},
		{"latest among several shas matches nothing", "sha=latest&sha=" + b7, []string{"c5", "f6"}},

		// Product specs (ParseProductSpec): browser-version-os-os_version,
		// [labels], @sha.
		{"product at a sha", "product=chrome@" + b7, []string{"c5"}},
		{"product at a 10-digit revision", "product=chrome@" + a10, []string{"c7"}},
		{"product at latest", "product=chrome@latest", []string{"c7"}},
		{"product labels", "product=chrome[stable]&max-count=5", []string{"c5", "c1"}},
		{"product labels and sha", "product=chrome[stable]@" + c7, []string{"c1"}},
		{"commas inside brackets", "products=chrome[stable,buildbot],firefox", []string{"c5", "f9"}},
		{"repeated product keeps its commas", "product=chrome[stable,buildbot]", []string{"c5"}},
		{"version", "product=chrome-120", []string{"c1"}},
		{"version with a dot", "product=chrome-120.0", []string{"c1"}},
		{"version with a suffix", "product=firefox-123.0a1", []string{"f9"}},
		{"version ignores the os", "product=chrome-120-windows", []string{"c1"}},
		{"version ignores the os version", "product=safari-17-mac-99", []string{"s3"}},

		// Legacy browser and browsers (ParseProductOrBrowserParams).
		{"browser", "browser=firefox", []string{"f9"}},
		{"browsers", "browsers=firefox,safari", []string{"f9", "s3"}},
		{"product then browser", "product=chrome&browser=safari", []string{"c7", "s3"}},

		// run_id and run_ids (ParseRunIDsParam): those runs, in order,
		// whatever else is asked.
		{"run_id", "run_id=" + env.testRunID("c5"), []string{"c5"}},
		{"run_ids in order", "run_ids=" + env.testRunID("f6") + "," + env.testRunID("c1"), []string{"f6", "c1"}},
		{"run_id ignores filters", "run_id=" + env.testRunID("f6") + "&run_id=" + env.testRunID("c1") + "&product=edge", []string{"f6", "c1"}},

		// Labels (README "labels"): every one is needed; user=x is the
		// label user:x (ParseTestRunFilterParams).
		{"label", "label=stable", []string{"c5", "e4", "f6", "s3"}},
		{"labels all needed", "labels=stable,buildbot", []string{"c5"}},
		{"repeated label", "label=stable&label=buildbot", []string{"c5"}},
		{"label master", "label=master", []string{"f9"}},
		{"user", "user=octocat", []string{"f9"}},

		// from (inclusive) and to (exclusive), by time_start; from lifts
		// the default of one run.
		{"from", "from=2024-03-02", []string{"c7", "c5", "f9", "f6"}},
		{"from inclusive", "from=2024-03-02T01:00:00Z", []string{"c7", "c5", "f9", "f6"}},
		{"to exclusive", "to=2024-03-02T01:00:00Z", []string{"c1", "e4", "f2", "s3"}},
		{"from and to", "from=2024-03-01T02:00:00Z&to=2024-03-02T02:00:00Z", []string{"c5", "e4", "f2", "s3"}},

		// offset: per product, before max-count.
		{"offset", "offset=1", []string{"c5", "f6"}},
		{"offset and max-count", "offset=1&max-count=2", []string{"c5", "c1", "f6", "f2"}},

		// The wptfeed extension state.
		{"state all", "state=all&product=webkitgtk", []string{"bad"}},
		{"state invalid", "state=invalid&product=webkitgtk", []string{"bad"}},

		// Empty: 404 with [] (apiTestRunsHandler).
		{"no run: 404", "product=safari&label=experimental", nil},
		{"version is a prefix at a dot", "product=chrome-12", nil},
		{"no run at a sha", "sha=0123456", nil},
		{"invalid runs not by default", "product=webkitgtk", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := env.get(t, "/api/runs?"+tc.query)
			if tc.want == nil {
				if resp.StatusCode != http.StatusNotFound || string(body) != "[]" {
					t.Fatalf("got %s %q, want 404 []", resp.Status, body)
				}
			} else if resp.StatusCode != http.StatusOK {
				t.Fatalf("got %s: %s", resp.Status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("Access-Control-Allow-Origin %q, want *", got)
			}
			if tc.want == nil {
				return
			}
			if got := env.runNames(t, body); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}

	for _, q := range []string{
		"sha=abc123", "sha=xyz1234", "sha=" + revA + "a", "sha=" + b7 + "x", "shas=" + b7 + ",nope",
		"product=nope", "product=edgechromium", "product=chrome-x", "product=chrome-1-linux-x", "product=chrome-1-2-3-4",
		"product=chrome-1.2.3.4.5", "product=chrome[stable", "product=chrome[", "product=chrome[a]b]", "product=chrome[a][b]",
		"product=chrome@xyz", "product=chrome@" + b7 + "@" + c7, "product=chrome,firefox", "products=chrome,nope",
		"browser=nope", "max-count=x", "offset=x", "run_id=x", "aligned=maybe", "complete=maybe",
		"from=yesterday", "to=2024-13-01", "from=2024-03-02T01:00:00",
	} {
		t.Run("400 "+q, func(t *testing.T) {
			resp, body := env.get(t, "/api/runs?"+q)
			var e map[string]string
			if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(body, &e) != nil || e["error"] == "" {
				t.Errorf("got %s %s, want 400 with an error", resp.Status, body)
			}
		})
	}

	t.Run("unknown run_id", func(t *testing.T) {
		resp, body := env.get(t, "/api/runs?run_ids="+env.testRunID("c5")+",123")
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "123") {
			t.Errorf("got %s %s, want 404 naming 123", resp.Status, body)
		}
	})
}

func TestDashboard_RunByID(t *testing.T) {
	env := newSynthEnv(t, synthRuns)
	for _, tc := range []struct {
		path string
		code int
		want string
	}{
		{"/api/runs/" + env.testRunID("c5"), 200, "c5"},
		{"/api/runs/" + env.testRunID("f9"), 200, "f9"},
		{"/api/runs/123", 404, ""},
		{"/api/runs/abc", 400, ""},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := env.get(t, tc.path)
			if resp.StatusCode != tc.code {
				t.Fatalf("got %s %s, want %d", resp.Status, body, tc.code)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Error("no Access-Control-Allow-Origin: *")
			}
			if tc.code != 200 {
				return
			}
			var run apiRun
			if err := json.Unmarshal(body, &run); err != nil {
				t.Fatal(err)
			}
			rec := env.byName[tc.want]
			if run.WPTFeed.RunID != rec.ID || run.ID != rec.TestRun.ID || run.BrowserName != rec.TestRun.BrowserName {
				t.Errorf("got %+v, want run %s", run, rec.ID)
			}
		})
	}
}

func TestDashboard_Run(t *testing.T) {
	env := newSynthEnv(t, synthRuns)
	for _, tc := range []struct {
		query string
		code  int
		want  string
	}{
		{"product=chrome", 200, "c7"},
		{"sha=latest&product=chrome", 200, "c7"}, // api/README.md's example
		{"product=chrome&sha=" + revC[:7], 200, "c1"},
		{"product=firefox-122", 200, "f6"},
		{"product=chrome[stable]", 200, "c5"},
		{"product=chrome&label=stable", 200, "c5"},
		{"product=chrome&from=2030-01-01", 200, "c7"}, // from is not used
		{"browser=safari", 200, "s3"},
		{"", 400, ""},
		{"product=chrome&product=firefox", 400, ""},
		{"product=nope", 400, ""},
		{"product=chrome&label=nope", 404, ""},
	} {
		t.Run(tc.query, func(t *testing.T) {
			resp, body := env.get(t, "/api/run?"+tc.query)
			if resp.StatusCode != tc.code {
				t.Fatalf("got %s %s, want %d", resp.Status, body, tc.code)
			}
			if tc.code != 200 {
				return
			}
			var run apiRun
			if err := json.Unmarshal(body, &run); err != nil {
				t.Fatal(err)
			}
			if got := env.names[run.WPTFeed.RunID]; got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestDashboard_SHAs(t *testing.T) {
	env := newSynthEnv(t, synthRuns)
	a, b, c := revA[:10], revB[:10], revC[:10]
	for _, tc := range []struct {
		query string
		want  []string // nil: 404 []
	}{
		{"", []string{a, b, c}},
		{"product=chrome", []string{a, b, c}}, // api/README.md's example
		{"product=safari", []string{c}},
		{"product=chrome&max-count=1", []string{a}},
		{"product=firefox&from=2024-03-02", []string{a, b}},
		{"sha=" + revB[:7], []string{a, b, c}}, // sha is not used
		{"aligned&product=chrome&product=firefox", []string{a, b, c}},
		{"aligned&product=chrome&product=firefox&max-count=1", []string{a}},
		{"aligned", []string{c}},
		{"product=safari&label=experimental", nil},
	} {
		t.Run(tc.query, func(t *testing.T) {
			resp, body := env.get(t, "/api/shas?"+tc.query)
			if tc.want == nil {
				if resp.StatusCode != http.StatusNotFound || string(body) != "[]" {
					t.Errorf("got %s %q, want 404 []", resp.Status, body)
				}
				return
			}
			var got []string
			if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &got) != nil {
				t.Fatalf("got %s %s", resp.Status, body)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	if resp, _ := env.get(t, "/api/shas?max-count=x"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("max-count=x: got %s", resp.Status)
	}
}

func TestDashboard_ResultsRedirect(t *testing.T) {
	env := newSynthEnv(t, synthRuns)
	c7, c1 := env.byName["c7"], env.byName["c1"]
	base := "https://results.test/"
	for _, tc := range []struct {
		name, query string
		code        int
		location    string // for 302
	}{
		{"summary of the latest run (api/README.md's example)", "product=chrome", 302, c7.TestRun.ResultsURL},
		{"summary at a sha", "product=chrome&sha=" + revC[:7], 302, c1.TestRun.ResultsURL},
		{"test /", "product=chrome&test=/", 302, c7.TestRun.ResultsURL},
		{"a test's per-test file", "product=chrome&test=/css/a.html", 302, base + revA + "/" + c7.Status.ProductID + "/css/a.html"},
		{"a test without its slash", "product=chrome&test=css/a.html", 302, base + revA + "/" + c7.Status.ProductID + "/css/a.html"},
		{"packed layout has no per-test URL", "product=firefox&test=/css/a.html", 404, ""},
		{"no product", "", 400, ""},
		{"two products", "product=chrome&product=firefox", 400, ""},
		{"no run", "product=chrome&label=nope", 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := env.get(t, "/api/results?"+tc.query)
			if resp.StatusCode != tc.code {
				t.Fatalf("got %s %s, want %d", resp.Status, body, tc.code)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Error("no Access-Control-Allow-Origin: *")
			}
			if got := resp.Header.Get("Location"); tc.code == 302 && got != tc.location {
				t.Errorf("Location %q, want %q", got, tc.location)
			}
		})
	}
	t.Run("a test path with a query", func(t *testing.T) {
		test := "/fetch/a b.any.html?include=x#frag"
		resp, body := env.get(t, "/api/results?product=chrome&test="+url.QueryEscape(test))
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("got %s %s", resp.Status, body)
		}
		u, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		// The object's key, percent-encoded: nothing of the test path is
		// left to be read as the URL's query or fragment.
		if want := "/" + store.TestKey(revA, c7.Status.ProductID, test); u.Host != "results.test" || u.Path != want || u.RawQuery != "" || u.Fragment != "" {
			t.Errorf("Location %s: path %q, want %q", u, u.Path, want)
		}
	})
}

func TestDashboard_List(t *testing.T) {
	env := newSynthEnv(t, synthRuns)
	all := []string{"bad", "k10", "f9", "v8", "c7", "f6", "c5", "e4", "s3", "f2", "c1"}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", all},
		{"max-count=2", all[:2]},
		{"max-count=0", all[:1]},
		{"state=valid", all[1:]},
		{"state=invalid", all[:1]},
		{"state=empty", []string{}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			resp, body := env.get(t, "/api/list?"+tc.query)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("got %s %s", resp.Status, body)
			}
			if got := env.runNames(t, body); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	if resp, _ := env.get(t, "/api/list?max-count=x"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("max-count=x: got %s", resp.Status)
	}
	empty := newSynthEnv(t, nil)
	if resp, body := empty.get(t, "/api/list"); resp.StatusCode != http.StatusOK || string(body) != "[]\n" {
		t.Errorf("empty index: got %s %q, want 200 []", resp.Status, body)
	}
}
