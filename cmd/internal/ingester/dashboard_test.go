package ingester

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/net/websocket"

	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/report/reportgen"
	"github.com/wptfeed/wptfeed/store"
)

var updateScreenshot = flag.Bool("screenshot", false, "write docs/dashboard.png from the browser test")

// The dashboard fixture: four VALID runs ingested from generated reports
// and one INVALID run.
//
//	chromeOld  chrome 125 stable        at dashRev0, 2024-06-01 06:00
//	chrome     chrome 126 stable        at dashRev1, 2024-06-02 06:00
//	firefox    firefox 127 stable       at dashRev1, 2024-06-02 07:00 (other results)
//	chromeDev  chrome 128 canary (experimental) at dashRev1, 2024-06-02 08:00
//	safariBad  safari, INVALID          uploaded 2024-06-02 10:00
//
// Both revisions start with "abcd", so that prefix is ambiguous.
const (
	dashRev0 = "abcd000011112222333344445555666677778888"
	dashRev1 = "abcd9999aaaabbbbccccddddeeeeffff00001111"

	dashChromeOld = "20240601T070000Z-chromeold"
	dashChrome    = "20240602T070000Z-chrome"
	dashFirefox   = "20240602T080000Z-firefox"
	dashChromeDev = "20240602T090000Z-chromedev"
	dashSafariBad = "20240602T100000Z-safaribad"
)

var dashT1 = time.Date(2024, 6, 2, 6, 0, 0, 0, time.UTC)

// dashFixture is an out bucket holding the fixture runs and their metrics.
type dashFixture struct {
	dir string // the bucket's directory
	out *store.Bucket
}

// dashSpec describes a fixture run.
type dashSpec struct {
	id      string
	cfg     reportgen.Config
	labels  []string
	perturb func(i int, res map[string]any) bool // false drops the test
	layout  string                               // of per-test files; "" is LayoutFiles
}

var (
	dashOnce    sync.Once
	dashDir     string
	dashInitErr error
)

// newDashFixture returns the fixture, ingested once per test binary into
// a directory removed when the binary exits (see TestMain is not needed:
// each test opens its own handle on the directory).
func newDashFixture(t testing.TB) *dashFixture {
	t.Helper()
	dashOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wptfeed-dashboard-*")
		if err != nil {
			dashInitErr = err
			return
		}
		dashDir = dir
		dashInitErr = buildDashFixture(dir)
	})
	if dashInitErr != nil {
		t.Fatalf("dashboard fixture: %v", dashInitErr)
	}
	out, err := store.Open(context.Background(), "file://"+dashDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	return &dashFixture{dir: dashDir, out: out}
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if dashDir != "" {
		os.RemoveAll(dashDir)
	}
	os.Exit(code)
}

func buildDashFixture(dir string) error {
	ctx := context.Background()
	out, err := store.Open(ctx, "file://"+dir)
	if err != nil {
		return err
	}
	defer out.Close()
	ms := func(t time.Time) int64 { return t.UnixMilli() }
	specs := []dashSpec{
		{id: dashChromeOld, labels: []string{"buildbot"},
			cfg: reportgen.Config{Seed: 1, Scale: 0.05, Shards: 1, BrowserVersion: "125.0.6422.141", Revision: dashRev0,
				TimeStart: ms(dashT1.Add(-24 * time.Hour))},
			perturb: func(i int, _ map[string]any) bool { return i%5 != 0 }},
		{id: dashChrome, labels: []string{"buildbot"},
			cfg: reportgen.Config{Seed: 1, Scale: 0.05, Shards: 2, BrowserVersion: "126.0.6478.126", Revision: dashRev1,
				TimeStart: ms(dashT1)}},
		{id: dashFirefox, labels: []string{"buildbot"},
			cfg: reportgen.Config{Seed: 1, Scale: 0.05, Shards: 1, Product: "firefox", BrowserVersion: "127.0", Revision: dashRev1,
				TimeStart: ms(dashT1.Add(time.Hour))},
			perturb: dashFlipCSS, layout: LayoutPacked},
		{id: dashChromeDev, labels: []string{"buildbot"},
			cfg: reportgen.Config{Seed: 3, Scale: 0.02, Shards: 1, BrowserVersion: "128.0.6600.0", Channel: "canary", Revision: dashRev1,
				TimeStart: ms(dashT1.Add(2 * time.Hour))}},
	}
	for _, sp := range specs {
		if err := ingestDashRun(ctx, out, sp); err != nil {
			return fmt.Errorf("%s: %w", sp.id, err)
		}
	}
	bad := Status{RunID: dashSafariBad, State: StateInvalid, Code: "not_json", Product: "safari",
		Error: "shard-000.json.gz: line 1, column 1: invalid character 'x'", Ingested: dashT1.Add(5 * time.Hour)}
	data, _ := json.Marshal(bad)
	if err := out.WriteBytes(ctx, store.StatusKey(dashSafariBad), data, store.WriteOptions{}); err != nil {
		return err
	}
	return ensureDashMetrics(ctx, out)
}

// dashFlipCSS makes firefox differ from chrome: every other PASS subtest
// under /css/ fails, and every eleventh test is missing.
func dashFlipCSS(i int, res map[string]any) bool {
	if i%11 == 0 {
		return false
	}
	if test, _ := res["test"].(string); strings.HasPrefix(test, "/css/") {
		subs, _ := res["subtests"].([]any)
		n := 0
		for _, s := range subs {
			if st, ok := s.(map[string]any); ok && st["status"] == "PASS" {
				if n%2 == 0 {
					st["status"] = "FAIL"
					st["message"] = "assert_equals: expected \"a\" but got \"b\""
				}
				n++
			}
		}
		if len(subs) == 0 && res["status"] == "PASS" && i%2 == 0 {
			res["status"] = "FAIL"
		}
	}
	return true
}

// ingestDashRun generates a run's shards, perturbs them and ingests them
// with the ingester's own Processor (per-test files on, in sp.layout).
func ingestDashRun(ctx context.Context, out *store.Bucket, sp dashSpec) error {
	shards := max(sp.cfg.Shards, 1)
	var in []report.Shard
	k := 0
	for i := range shards {
		var buf bytes.Buffer
		if err := reportgen.Write(&buf, sp.cfg, i); err != nil {
			return err
		}
		data := buf.Bytes()
		if sp.perturb != nil {
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.UseNumber()
			var doc map[string]any
			if err := dec.Decode(&doc); err != nil {
				return err
			}
			var kept []any
			for _, r := range doc["results"].([]any) {
				if sp.perturb(k, r.(map[string]any)) {
					kept = append(kept, r)
				}
				k++
			}
			doc["results"] = kept
			var err error
			if data, err = json.Marshal(doc); err != nil {
				return err
			}
		}
		in = append(in, report.Shard{Name: store.ShardName(i), Open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data)), nil
		}})
	}
	uploaded, _ := store.RunTime(sp.id)
	p := &Processor{Out: out, ResultsBase: "https://results.test", PerTest: true, Layout: sp.layout, Limits: report.DefaultLimits(),
		Log: discardLogger(), Now: func() time.Time { return uploaded.Add(time.Minute) }}
	st, err := p.Ingest(ctx, RunInput{RunID: sp.id, Uploaded: uploaded, Shards: in, Labels: sp.labels,
		FeedEntry: "tag:wptfeed.org,2026:run:" + sp.id})
	if err != nil {
		return err
	}
	if st.State != StateValid {
		return fmt.Errorf("state %s (%s): %s", st.State, st.Code, st.Error)
	}
	return nil
}

// ---- The metrics files, per the contract of metricsout.go ----

// ensureDashMetrics writes, from report's functions, every metrics file
// of the contract that the ingester did not write: metrics/runs/<run
// id>.json, metrics/series/<product>.json, metrics/aligned/<sha>/<filter>.json
// (and -pass-rates.json) for two or more products, and
// metrics/interop/<filter>.json. The ingester writes them itself since
// metricsout.go landed, so this only fills in what a build without it
// lacks.
func ensureDashMetrics(ctx context.Context, out *store.Bucket) error {
	var runs []*dashTestRun
	err := out.List(ctx, "status/", "", func(o store.Object) bool {
		id := strings.TrimSuffix(strings.TrimPrefix(o.Key, "status/"), ".json")
		runs = append(runs, &dashTestRun{id: id})
		return true
	})
	if err != nil {
		return err
	}
	runs = slices.DeleteFunc(runs, func(r *dashTestRun) bool {
		if r.load(ctx, out) != nil {
			return true
		}
		return r.st.State != StateValid
	})
	missing := func(key string) bool {
		ok, err := out.Exists(ctx, key)
		return err == nil && !ok
	}
	put := func(key string, write func(w io.Writer) error) error {
		if !missing(key) {
			return nil
		}
		var buf bytes.Buffer
		if err := write(&buf); err != nil {
			return err
		}
		return out.WriteBytes(ctx, key, buf.Bytes(), store.WriteOptions{ContentType: "application/json"})
	}
	marshal := func(v any) func(io.Writer) error {
		return func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", " ")
			return enc.Encode(v)
		}
	}
	type point struct {
		RunID    string             `json:"run_id"`
		Revision string             `json:"revision"`
		Time     time.Time          `json:"time"`
		Labels   []string           `json:"labels"`
		Rates    map[string]float64 `json:"rates"`
	}
	series := map[string][]point{}
	for _, r := range runs {
		m := report.RunMetrics(r.sum)
		if err := put(dashMetricsRunKey(r.id), m.WriteJSON); err != nil {
			return err
		}
		series[r.tr.BrowserName] = append(series[r.tr.BrowserName], point{r.id, r.tr.FullRevisionHash, dashTestRunTime(&r.tr), r.tr.Labels, report.SeriesPoint(m)})
	}
	for product, pts := range series {
		slices.SortFunc(pts, func(a, b point) int { return a.Time.Compare(b.Time) })
		if err := put("metrics/series/"+productKey(product)+".json", marshal(map[string]any{"product": product, "points": pts})); err != nil {
			return err
		}
	}
	type ipoint struct {
		Revision string         `json:"revision"`
		Time     time.Time      `json:"time"`
		Products []string       `json:"products"`
		Runs     []string       `json:"runs"`
		Interop  map[string]int `json:"interop"`
	}
	interop := map[string][]ipoint{}
	revs := map[string]bool{}
	for _, r := range runs {
		revs[r.tr.FullRevisionHash] = true
	}
	for sha := range revs {
		for _, filter := range dashAlignedFilters {
			chosen := dashChoose(runs, sha, filter)
			if len(chosen) < 2 {
				continue
			}
			var in []report.AlignedRun
			pt := ipoint{Revision: sha, Interop: map[string]int{}}
			for _, r := range chosen {
				in = append(in, report.AlignedRun{Product: r.tr.BrowserName, RunID: r.id, Summary: r.sum})
				pt.Products, pt.Runs = append(pt.Products, r.tr.BrowserName), append(pt.Runs, r.id)
				if t := dashTestRunTime(&r.tr); t.After(pt.Time) {
					pt.Time = t
				}
			}
			am := report.Aligned(in)
			if err := put(dashAlignedKey(sha, filter), am.WriteJSON); err != nil {
				return err
			}
			pr, err := am.PassRatesJSON(map[string]any{"revision": sha, "filter": filter, "test_runs": pt.Runs, "products": pt.Products})
			if err != nil {
				return err
			}
			if err := put("metrics/aligned/"+sha+"/"+filter+"-pass-rates.json", func(w io.Writer) error { _, err := w.Write(pr); return err }); err != nil {
				return err
			}
			root, _ := am.Dir("/")
			pt.Interop["/"] = root.Interop
			for _, e := range am.Children("/") {
				if !e.Test {
					pt.Interop[e.Dir] = e.Interop
				}
			}
			interop[filter] = append(interop[filter], pt)
		}
	}
	for filter, pts := range interop {
		slices.SortFunc(pts, func(a, b ipoint) int { return a.Time.Compare(b.Time) })
		if err := put("metrics/interop/"+filter+".json", marshal(map[string]any{"filter": filter, "points": pts})); err != nil {
			return err
		}
	}
	return nil
}

// dashTestRunTime is when a run ran, for series: time_start, else its
// upload.
func dashTestRunTime(tr *TestRun) time.Time {
	if !tr.TimeStart.IsZero() && tr.TimeStart.Unix() > 0 {
		return tr.TimeStart.UTC()
	}
	return tr.CreatedAt.UTC()
}

// dashChoose picks the newest VALID run of each product at sha with the
// label (any for "all"), sorted by product.
func dashChoose(runs []*dashTestRun, sha, filter string) []*dashTestRun {
	newest := map[string]*dashTestRun{}
	for _, r := range runs {
		if r.tr.FullRevisionHash != sha || filter != "all" && !slices.Contains(r.tr.Labels, filter) {
			continue
		}
		cur := newest[r.tr.BrowserName]
		if cur == nil || dashTestRunTime(&r.tr).After(dashTestRunTime(&cur.tr)) {
			newest[r.tr.BrowserName] = r
		}
	}
	var out []*dashTestRun
	for _, r := range newest {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *dashTestRun) int { return strings.Compare(a.tr.BrowserName, b.tr.BrowserName) })
	return out
}

// dashTestRun is a fixture run as the bucket has it.
type dashTestRun struct {
	id  string
	st  Status
	tr  TestRun
	sum *report.Summary
}

func (r *dashTestRun) load(ctx context.Context, out *store.Bucket) error {
	data, err := out.ReadAll(ctx, store.StatusKey(r.id))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, &r.st); err != nil {
		return err
	}
	if r.st.State != StateValid {
		return nil
	}
	if data, err = out.ReadAll(ctx, store.TestRunKey(r.id)); err != nil {
		return err
	}
	if err := json.Unmarshal(data, &r.tr); err != nil {
		return err
	}
	rc, err := out.NewReader(ctx, store.SummaryKey(r.st.Revision, r.st.ProductID))
	if err != nil {
		return err
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		return err
	}
	r.sum, err = report.ReadSummary(zr)
	return err
}

func (f *dashFixture) run(t testing.TB, id string) *dashTestRun {
	t.Helper()
	r := &dashTestRun{id: id}
	if err := r.load(context.Background(), f.out); err != nil {
		t.Fatal(err)
	}
	return r
}

// metricsEntry returns the entry of dir in metrics/runs/<id>.json, as
// the bucket has it.
func (f *dashFixture) metricsEntry(t testing.TB, id, dir string) dashEntryJSON {
	t.Helper()
	data, err := f.out.ReadAll(context.Background(), dashMetricsRunKey(id))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Dirs []dashEntryJSON `json:"dirs"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, e := range doc.Dirs {
		if e.Dir == dir {
			return e
		}
	}
	t.Fatalf("metrics/runs/%s.json has no %s", id, dir)
	return dashEntryJSON{}
}

// alignedEntry returns the entry of dir in metrics/aligned/<sha>/<filter>.json.
func (f *dashFixture) alignedEntry(t testing.TB, sha, filter, dir string) (runs []report.RunRef, e report.AlignedEntry) {
	t.Helper()
	data, err := f.out.ReadAll(context.Background(), dashAlignedKey(sha, filter))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Runs []report.RunRef       `json:"runs"`
		Dirs []report.AlignedEntry `json:"dirs"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, e := range doc.Dirs {
		if e.Dir == dir {
			return doc.Runs, e
		}
	}
	t.Fatalf("%s has no %s", dashAlignedKey(sha, filter), dir)
	return nil, e
}

// ---- A server on the fixture ----

// dashEnv is a status server on the fixture bucket.
type dashEnv struct {
	*statusTestEnv
	fx *dashFixture
}

func newDashEnv(t *testing.T) *dashEnv {
	t.Helper()
	fx := newDashFixture(t)
	ctx := context.Background()
	cfg := statusTestConfig()
	cfg.Out, cfg.Addr = "file://"+fx.dir, "127.0.0.1:0"
	env := &statusTestEnv{out: fx.out, logBuf: &statusLogBuffer{}}
	s, err := NewStatusServer(ctx, cfg, slog.New(slog.NewTextHandler(env.logBuf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	env.srv, env.addr = s, "http://"+s.Addr()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		s.Close()
	})
	return &dashEnv{statusTestEnv: env, fx: fx}
}

// getJSON fetches path and decodes it into v, failing unless the status
// is want.
func (env *dashEnv) getJSON(t *testing.T, path string, want int, v any) {
	t.Helper()
	resp, body := env.do(t, "GET", path, nil)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: got %s, want %d: %s", path, resp.Status, want, body)
	}
	if want == http.StatusOK && resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET %s: Content-Type %q", path, resp.Header.Get("Content-Type"))
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v: %.300s", path, err, body)
		}
	}
}

func runIDsOf(runs []dashRunJSON) []string {
	var ids []string
	for _, r := range runs {
		ids = append(ids, r.WPTFeed.RunID)
	}
	return ids
}

func TestDashboard_Runs(t *testing.T) {
	env := newDashEnv(t)
	all := []string{dashChromeDev, dashFirefox, dashChrome, dashChromeOld}
	for _, tc := range []struct {
		name  string
		query string
		want  []string
	}{
		{"default: the latest run of each product (wpt.fyi)", "", []string{dashChromeDev, dashFirefox}},
		{"sha latest is the default", "sha=latest", []string{dashChromeDev, dashFirefox}},
		{"all valid, newest first", "max-count=500", all},
		{"product", "max-count=500&product=chrome", []string{dashChromeDev, dashChrome, dashChromeOld}},
		{"products list", "max-count=500&products=firefox,chrome", all},
		{"repeated product", "max-count=500&product=firefox&product=chrome", all},
		{"product version", "max-count=500&product=chrome-126", []string{dashChrome}},
		{"product version os", "max-count=500&product=chrome-12-linux", nil},
		{"product os", "max-count=500&product=firefox-127.0-linux-22", []string{dashFirefox}},
		{"product labels", "max-count=500&product=chrome[experimental]", []string{dashChromeDev}},
		{"normalised product", "max-count=500&product=edgechromium", nil},
		{"label", "max-count=500&label=stable", []string{dashFirefox, dashChrome, dashChromeOld}},
		{"labels all needed", "max-count=500&label=chrome&label=experimental", []string{dashChromeDev}},
		{"labels list", "max-count=500&labels=chrome,stable", []string{dashChrome, dashChromeOld}},
		{"sha prefix", "max-count=500&sha=" + dashRev1[:7], []string{dashChromeDev, dashFirefox, dashChrome}},
		{"full sha", "max-count=500&sha=" + dashRev0, []string{dashChromeOld}},
		{"sha latest", "max-count=500&sha=latest", all},
		{"from inclusive", "max-count=500&from=" + dashT1.Format(time.RFC3339), []string{dashChromeDev, dashFirefox, dashChrome}},
		{"to exclusive", "max-count=500&to=" + dashT1.Format(time.RFC3339), []string{dashChromeOld}},
		{"from and to", "from=2024-06-02T06:30:00Z&to=2024-06-02T08:00:00Z", []string{dashFirefox}},
		{"from date", "from=2024-06-02", []string{dashChromeDev, dashFirefox, dashChrome}},
		{"max-count per product", "max-count=1", []string{dashChromeDev, dashFirefox}},
		{"max-count of a product", "max-count=2&product=chrome", []string{dashChromeDev, dashChrome}},
		{"aligned", "aligned=true&product=chrome&product=firefox", []string{dashChromeDev, dashFirefox, dashChrome}},
		{"aligned max-count", "aligned=true&max-count=1", []string{dashChromeDev, dashFirefox, dashChrome}},
		{"every state", "max-count=500&state=all", []string{dashSafariBad, dashChromeDev, dashFirefox, dashChrome, dashChromeOld}},
		{"invalid state", "max-count=500&state=invalid", []string{dashSafariBad}},
		{"invalid by product", "max-count=500&state=all&product=safari", []string{dashSafariBad}},
		{"unknown parameters ignored", "max-count=500&view=subtest&product=firefox", []string{dashFirefox}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []dashRunJSON
			env.getJSON(t, "/api/runs?"+tc.query, http.StatusOK, &got)
			if ids := runIDsOf(got); !slices.Equal(ids, tc.want) {
				t.Errorf("got %v, want %v", ids, tc.want)
			}
		})
	}

	t.Run("fields", func(t *testing.T) {
		var got []map[string]any
		env.getJSON(t, "/api/runs?product=chrome&max-count=1&label=stable", http.StatusOK, &got)
		if len(got) != 1 {
			t.Fatalf("got %d runs", len(got))
		}
		raw, err := env.out.ReadAll(context.Background(), store.TestRunKey(dashChrome))
		if err != nil {
			t.Fatal(err)
		}
		var want map[string]any
		json.Unmarshal(raw, &want)
		for k, v := range want { // every wpt.fyi field, as stored
			if fmt.Sprint(got[0][k]) != fmt.Sprint(v) {
				t.Errorf("%s: got %v, want %v", k, got[0][k], v)
			}
		}
		var runs []dashRunJSON
		env.getJSON(t, "/api/runs?product=chrome&max-count=1&label=stable", http.StatusOK, &runs)
		x := runs[0].WPTFeed
		root := env.fx.metricsEntry(t, dashChrome, "/")
		if x.State != StateValid || x.Metrics == nil || *x.Metrics != root.dashCounts {
			t.Errorf("wptfeed: got %+v (metrics %+v), want VALID with metrics %+v", x, x.Metrics, root.dashCounts)
		}
		if x.Tests == 0 || x.ProductID == "" || !slices.Contains(x.Labels, "stable") {
			t.Errorf("wptfeed: %+v", x)
		}
		var bad []dashRunJSON
		env.getJSON(t, "/api/runs?state=invalid", http.StatusOK, &bad)
		if b := bad[0]; b.ID != 0 || b.BrowserName != "safari" || b.WPTFeed.Code != "not_json" || b.WPTFeed.Metrics != nil || b.Labels == nil {
			t.Errorf("invalid run: %+v", b)
		}
	})

	for _, q := range []string{"from=yesterday", "to=2024-13-01", "max-count=0", "max-count=x", "sha=xyz", "sha=ab", "aligned=maybe", "product=chrome[stable"} {
		t.Run("400 "+q, func(t *testing.T) {
			var e map[string]string
			env.getJSON(t, "/api/runs?"+q, http.StatusBadRequest, &e)
			if e["error"] == "" {
				t.Errorf("no error message")
			}
		})
	}
}

func TestDashboard_Results(t *testing.T) {
	env := newDashEnv(t)
	run := env.fx.run(t, dashChrome)
	m := report.RunMetrics(run.sum)
	get := func(t *testing.T, q string) dashResults {
		t.Helper()
		var res dashResults
		env.getJSON(t, "/api/results?"+q, http.StatusOK, &res)
		return res
	}
	for _, dir := range []string{"/", "/css/", "/css/css-flexbox/"} {
		t.Run("level "+dir, func(t *testing.T) {
			if _, ok := m.Dir(dir); !ok {
				t.Skipf("the fixture has no %s", dir)
			}
			res := get(t, "run="+dashChrome+"&path="+url.QueryEscape(dir))
			if res.Path != dir || res.Test || res.Run.WPTFeed.RunID != dashChrome {
				t.Errorf("got path %q test %v run %s", res.Path, res.Test, res.Run.WPTFeed.RunID)
			}
			if want := env.fx.metricsEntry(t, dashChrome, dir); res.Entry.dashCounts != want.dashCounts {
				t.Errorf("entry: got %+v, want %+v (metrics file)", res.Entry.dashCounts, want.dashCounts)
			}
			want := m.Children(dir)
			if len(res.Children) != len(want) {
				t.Fatalf("children: got %d, want %d", len(res.Children), len(want))
			}
			sum := dashCounts{}
			for i, c := range res.Children {
				w := want[i]
				if c.Path != w.Dir || c.Test != w.Test || c.dashCounts != countsOf(w) {
					t.Errorf("child %d: got %+v, want %+v", i, c, w)
				}
				if !strings.HasPrefix(c.Path, dir) || dir+c.Name != c.Path {
					t.Errorf("child %d: name %q of %q", i, c.Name, c.Path)
				}
				sum.Subtests += c.Subtests
				sum.SubtestsPassed += c.SubtestsPassed
				sum.Tests += c.Tests
			}
			if sum.Tests != res.Entry.Tests || sum.Subtests != res.Entry.Subtests || sum.SubtestsPassed != res.Entry.SubtestsPassed {
				t.Errorf("children sum to %+v, entry has %+v", sum, res.Entry.dashCounts)
			}
		})
	}
	t.Run("directory without slash", func(t *testing.T) {
		if res := get(t, "run="+dashChrome+"&path=/css"); res.Path != "/css/" || len(res.Children) == 0 {
			t.Errorf("got path %q with %d children", res.Path, len(res.Children))
		}
	})
	t.Run("no path is the root", func(t *testing.T) {
		if res := get(t, "run="+dashChrome); res.Path != "/" {
			t.Errorf("got path %q", res.Path)
		}
	})

	// Tests: with subtests, without, and with '?' in the path.
	var withSub, without, query string
	for _, p := range run.sum.Paths() {
		ts, _ := run.sum.Get(p)
		switch {
		case withSub == "" && ts.Counts.Total > 2 && ts.Counts.Pass > 0 && ts.Counts.Pass < ts.Counts.Total:
			withSub = p
		case without == "" && ts.Counts.Total == 0:
			without = p
		case query == "" && strings.ContainsAny(p, "?#&"):
			query = p
		}
	}
	for _, p := range []string{withSub, without, query} {
		if p == "" {
			continue
		}
		t.Run("test "+p, func(t *testing.T) {
			res := get(t, "run="+dashChrome+"&path="+url.QueryEscape(p))
			ts, _ := run.sum.Get(p)
			if !res.Test || res.Path != p || !res.Details || res.Entry.Status != ts.Status {
				t.Fatalf("got test %v path %q details %v status %q", res.Test, res.Path, res.Details, res.Entry.Status)
			}
			pass := 0
			for _, s := range res.Subtests {
				if s.Status == "PASS" {
					pass++
				}
			}
			if len(res.Subtests) != ts.Counts.Total || pass != ts.Counts.Pass {
				t.Errorf("subtests: got %d (%d PASS), want %v", len(res.Subtests), pass, ts.Counts)
			}
			if report.StatusAbbrev(res.HarnessStatus) != ts.Status {
				t.Errorf("harness status %q, summary %q", res.HarnessStatus, ts.Status)
			}
		})
	}

	t.Run("conditional", func(t *testing.T) {
		path := "/api/results?run=" + dashChrome + "&path=/css/"
		resp, _ := env.do(t, "GET", path, nil)
		etag := resp.Header.Get("ETag")
		resp, body := env.do(t, "GET", path, map[string]string{"If-None-Match": etag})
		if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Errorf("If-None-Match: got %s with %d bytes", resp.Status, len(body))
		}
		resp, body = env.do(t, "GET", path, map[string]string{"Accept-Encoding": "gzip"})
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var res dashResults
		if err := json.NewDecoder(zr).Decode(&res); err != nil || res.Path != "/css/" {
			t.Errorf("gzip body: %v %q", err, res.Path)
		}
	})

	for _, tc := range []struct {
		name, query string
		code        int
	}{
		{"no run", "path=/", 400},
		{"bad run id", "run=nope", 400},
		{"unknown run", "run=20240602T120000Z-unknown", 404},
		{"invalid run", "run=" + dashSafariBad, 404},
		{"unknown directory", "run=" + dashChrome + "&path=/no-such-dir/", 404},
		{"unknown test", "run=" + dashChrome + "&path=/css/no-such-test.html", 404},
		{"relative path", "run=" + dashChrome + "&path=css/", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e map[string]string
			env.getJSON(t, "/api/results?"+tc.query, tc.code, &e)
			if e["error"] == "" {
				t.Error("no error message")
			}
		})
	}
}

func TestDashboard_Aligned(t *testing.T) {
	env := newDashEnv(t)
	chrome, firefox, dev := env.fx.run(t, dashChrome), env.fx.run(t, dashFirefox), env.fx.run(t, dashChromeDev)
	get := func(t *testing.T, q string) dashAlignedResults {
		t.Helper()
		var res dashAlignedResults
		env.getJSON(t, "/api/aligned?"+q, http.StatusOK, &res)
		return res
	}
	for _, tc := range []struct {
		label  string
		runs   []*dashTestRun
		source string
	}{
		{"stable", []*dashTestRun{chrome, firefox}, dashAlignedKey(dashRev1, "stable")},
		{"all", []*dashTestRun{dev, firefox}, dashAlignedKey(dashRev1, "all")},
		{"experimental", []*dashTestRun{dev}, "index"}, // one product: no metrics file
		{"buildbot", []*dashTestRun{dev, firefox}, "index"},
	} {
		t.Run(tc.label, func(t *testing.T) {
			var in []report.AlignedRun
			var ids []string
			for _, r := range tc.runs {
				in = append(in, report.AlignedRun{Product: r.tr.BrowserName, RunID: r.id, Summary: r.sum})
				ids = append(ids, r.id)
			}
			am := report.Aligned(in)
			for _, dir := range []string{"/", "/css/"} {
				res := get(t, "sha="+dashRev1[:10]+"&label="+tc.label+"&path="+dir)
				if res.SHA != dashRev1 || res.Label != tc.label || res.Source != tc.source || res.Path != dir {
					t.Errorf("got sha %s label %s source %s path %s", res.SHA, res.Label, res.Source, res.Path)
				}
				if got := runIDsOf(res.Runs); !slices.Equal(got, ids) {
					t.Fatalf("runs: got %v, want %v", got, ids)
				}
				want, _ := am.Dir(dir)
				if res.Entry.Interop != want.Interop || res.Entry.Tests != want.Tests || !slices.Equal(res.Entry.Scores, want.Scores) {
					t.Errorf("%s: got %+v, want %+v", dir, res.Entry, want)
				}
				if tc.source != "index" {
					_, fileEntry := env.fx.alignedEntry(t, dashRev1, tc.label, dir)
					if res.Entry.Interop != fileEntry.Interop {
						t.Errorf("%s: interop %d, metrics file %d", dir, res.Entry.Interop, fileEntry.Interop)
					}
				}
				kids := am.Children(dir)
				if len(res.Children) != len(kids) {
					t.Fatalf("%s: %d children, want %d", dir, len(res.Children), len(kids))
				}
				for i, c := range res.Children {
					if c.Path != kids[i].Dir || c.Interop != kids[i].Interop || len(c.Results) != len(ids) {
						t.Errorf("%s child %d: got %+v, want %+v", dir, i, c, kids[i])
					}
					for r, run := range tc.runs {
						var want *dashCounts
						if e, ok := report.RunMetrics(run.sum).Dir(c.Path); ok && !c.Test {
							w := countsOf(e)
							want = &w
						} else if ts, ok := run.sum.Get(c.Path); ok && c.Test {
							want = &dashCounts{Status: ts.Status}
						}
						switch got := c.Results[r]; {
						case (got == nil) != (want == nil):
							t.Errorf("%s run %d: got %v, want %v", c.Path, r, got, want)
						case got != nil && !c.Test && *got != *want, got != nil && c.Test && got.Status != want.Status:
							t.Errorf("%s run %d: got %+v, want %+v", c.Path, r, *got, *want)
						}
					}
				}
			}
		})
	}

	t.Run("test", func(t *testing.T) {
		// A /css/ test both runs have, with subtests that differ.
		var p string
		for _, path := range chrome.sum.Paths() {
			a, _ := chrome.sum.Get(path)
			b, ok := firefox.sum.Get(path)
			if ok && strings.HasPrefix(path, "/css/") && a.Counts.Total > 1 && a.Counts.Pass != b.Counts.Pass {
				p = path
				break
			}
		}
		if p == "" {
			t.Fatal("no /css/ test differs")
		}
		res := get(t, "sha="+dashRev1+"&label=stable&path="+url.QueryEscape(p))
		a, _ := chrome.sum.Get(p)
		b, _ := firefox.sum.Get(p)
		if !res.Test || !res.Details || len(res.Harness) != 2 || res.Harness[0] == nil || res.Harness[1] == nil {
			t.Fatalf("got test %v details %v, harness %v", res.Test, res.Details, res.Harness)
		}
		// The subtests are the union of the runs' (names may differ).
		passes, totals := []int{0, 0}, []int{0, 0}
		for _, s := range res.Subtests {
			for r, x := range s.Results {
				if x != nil {
					totals[r]++
					if x.Status == "PASS" {
						passes[r]++
					}
				}
			}
		}
		if want := []int{a.Counts.Pass, b.Counts.Pass}; !slices.Equal(passes, want) {
			t.Errorf("PASS subtests: got %v, want %v", passes, want)
		}
		if want := []int{a.Counts.Total, b.Counts.Total}; !slices.Equal(totals, want) {
			t.Errorf("subtests: got %v, want %v", totals, want)
		}
		if res.Entry.Results[0] == nil || res.Entry.Results[0].SubtestsPassed != a.Counts.Pass || res.Entry.Results[1].SubtestsPassed != b.Counts.Pass {
			t.Errorf("entry results: %+v", res.Entry.Results)
		}
	})

	for _, tc := range []struct {
		name, query string
		code        int
	}{
		{"no sha", "label=stable", 400},
		{"bad sha", "sha=xyz", 400},
		{"ambiguous sha", "sha=abcd", 400},
		{"unknown sha", "sha=0123456789", 404},
		{"no such label", "sha=" + dashRev1 + "&label=nightly", 404},
		{"unknown path", "sha=" + dashRev1 + "&path=/no-such-dir/", 404},
		{"relative path", "sha=" + dashRev1 + "&path=css", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e map[string]string
			env.getJSON(t, "/api/aligned?"+tc.query, tc.code, &e)
			if e["error"] == "" {
				t.Error("no error message")
			}
		})
	}
}

// svgSeries parses an SVG chart, failing unless it is well-formed XML, and
// returns the values of each series' points.
func svgSeries(t *testing.T, body []byte) map[string][]float64 {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(body))
	out := map[string][]float64{}
	var cur string
	root := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, body)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if root == "" {
			root = se.Name.Space + " " + se.Name.Local
		}
		attr := func(name string) string {
			for _, a := range se.Attr {
				if a.Name.Local == name {
					return a.Value
				}
			}
			return ""
		}
		switch se.Name.Local {
		case "g":
			if cur = attr("data-series"); cur != "" {
				out[cur] = []float64{}
			}
		case "circle":
			v, err := strconv.ParseFloat(attr("data-value"), 64)
			if err != nil {
				t.Fatalf("circle value %q", attr("data-value"))
			}
			out[cur] = append(out[cur], v)
		}
	}
	if root != "http://www.w3.org/2000/svg svg" {
		t.Errorf("root element %q", root)
	}
	return out
}

func TestDashboard_Charts(t *testing.T) {
	env := newDashEnv(t)
	ctx := context.Background()
	readJSON := func(key string, v any) {
		data, err := env.out.ReadAll(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatal(err)
		}
	}
	var chromeSeries, firefoxSeries dashSeriesFile
	readJSON("metrics/series/chrome.json", &chromeSeries)
	readJSON("metrics/series/firefox.json", &firefoxSeries)
	rates := func(f dashSeriesFile, dir, label string) []float64 {
		out := []float64{}
		for _, p := range f.Points {
			if r, ok := p.Rates[dir]; ok && (label == "" || slices.Contains(p.Labels, label)) {
				out = append(out, 100*r)
			}
		}
		return out
	}
	var interopStable dashInteropFile
	readJSON("metrics/interop/stable.json", &interopStable)

	for _, tc := range []struct {
		name, path string
		want       map[string][]float64
	}{
		{"product and label", "/charts/passrate.svg?product=chrome&label=stable",
			map[string][]float64{"chrome": rates(chromeSeries, "/", "stable")}},
		{"every product", "/charts/passrate.svg",
			map[string][]float64{"chrome": rates(chromeSeries, "/", ""), "firefox": rates(firefoxSeries, "/", "")}},
		{"directory", "/charts/passrate.svg?products=firefox,chrome&path=/css/",
			map[string][]float64{"chrome": rates(chromeSeries, "/css/", ""), "firefox": rates(firefoxSeries, "/css/", "")}},
		{"time range", "/charts/passrate.svg?product=chrome&from=2024-06-02&to=2024-06-02T07:00:00Z",
			map[string][]float64{"chrome": rates(chromeSeries, "/", "")[1:2]}},
		{"no such product", "/charts/passrate.svg?product=nosuch", map[string][]float64{"nosuch": {}}},
		{"interop", "/charts/interop.svg?label=stable",
			map[string][]float64{"interop": {float64(interopStable.Points[0].Interop["/"]) / 10}}},
		{"interop of a directory", "/charts/interop.svg?label=stable&path=/css",
			map[string][]float64{"interop": {float64(interopStable.Points[0].Interop["/css/"]) / 10}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := env.do(t, "GET", tc.path, nil)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" {
				t.Fatalf("got %s %q", resp.Status, resp.Header.Get("Content-Type"))
			}
			got := svgSeries(t, body)
			for name, want := range tc.want {
				if len(want) == 0 {
					if !bytes.Contains(body, []byte("No data")) {
						t.Errorf("no points, and no 'No data'")
					}
					continue
				}
				if !slices.Equal(got[name], want) {
					t.Errorf("series %s: got %v, want %v", name, got[name], want)
				}
			}
			if len(got) != len(tc.want) && !bytes.Contains(body, []byte("No data")) {
				t.Errorf("series: got %v, want %v", got, tc.want)
			}
		})
	}
	if n := len(rates(chromeSeries, "/", "stable")); n != 2 {
		t.Errorf("chrome stable series has %d points, want 2", n)
	}
	for _, q := range []string{"/charts/interop.svg?label=nightly", "/charts/passrate.svg?path=/css/css-flexbox/", "/charts/passrate.svg?from=x"} {
		if resp, _ := env.do(t, "GET", q, nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: got %s, want 400", q, resp.Status)
		}
	}
}

func TestRenderChart(t *testing.T) {
	t0 := time.Date(2024, 1, 30, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		series []chartSeries
	}{
		{"empty", nil},
		{"one point", []chartSeries{{name: "a<b>&c", color: "#000", points: []chartPoint{{t: t0, v: 50, title: `"quoted" <tag> & more`}}}}},
		{"hours", []chartSeries{{name: "x", color: "#000", points: []chartPoint{{t: t0, v: 0}, {t: t0.Add(5 * time.Hour), v: 100}}}}},
		{"years", []chartSeries{{name: "x", color: "#000", points: []chartPoint{{t: t0, v: 10}, {t: t0.AddDate(6, 0, 0), v: 120}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svg := renderChart("T <&>", "y", tc.series)
			got := svgSeries(t, svg)
			for _, s := range tc.series {
				if len(got[s.name]) != len(s.points) {
					t.Errorf("%s: %d points drawn, want %d", s.name, len(got[s.name]), len(s.points))
				}
			}
		})
	}
	ticks := chartTicks(t0, t0.AddDate(0, 7, 0))
	if len(ticks) < 2 || len(ticks) > 8 || ticks[0].label != "Apr 2024" {
		t.Errorf("ticks over 7 months: %v", ticks)
	}
}

func TestDashCache(t *testing.T) {
	c := newDashCache[int](2, 0)
	var loads sync.Map
	load := func(key string, v int) func() (int, error) {
		return func() (int, error) {
			n, _ := loads.LoadOrStore(key, new(int))
			*n.(*int)++
			time.Sleep(10 * time.Millisecond)
			return v, nil
		}
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := c.get("a", load("a", 1)); v != 1 || err != nil {
				t.Errorf("get a: %v %v", v, err)
			}
		}()
	}
	wg.Wait()
	if n, _ := loads.Load("a"); *n.(*int) != 1 {
		t.Errorf("a loaded %d times, want once", *n.(*int))
	}
	c.get("b", load("b", 2))
	c.get("a", load("a", 1)) // a is now the most recently used
	c.get("c", load("c", 3)) // evicts b
	c.get("a", load("a", 1))
	c.get("b", load("b", 2))
	if n, _ := loads.Load("a"); *n.(*int) != 1 {
		t.Errorf("a loaded %d times, want once (LRU)", *n.(*int))
	}
	if n, _ := loads.Load("b"); *n.(*int) != 2 {
		t.Errorf("b loaded %d times, want twice (evicted)", *n.(*int))
	}
	fail := errors.New("boom")
	if _, err := c.get("x", func() (int, error) { return 0, fail }); err != fail {
		t.Errorf("got %v, want the load's error", err)
	}
	if v, err := c.get("x", func() (int, error) { return 9, nil }); v != 9 || err != nil {
		t.Errorf("after a failed load: got %v %v, want a new load", v, err)
	}
	ttl := newDashCache[int](2, time.Millisecond)
	ttl.get("k", func() (int, error) { return 1, nil })
	time.Sleep(5 * time.Millisecond)
	if v, _ := ttl.get("k", func() (int, error) { return 2, nil }); v != 2 {
		t.Errorf("expired entry: got %d, want a new load", v)
	}
}

func TestDashboard_Page(t *testing.T) {
	env := newDashEnv(t)
	for _, tc := range []struct {
		path, ctype, contains string
		code                  int
	}{
		{"/", "text/html; charset=utf-8", `src="assets/app.js"`, 200},
		{"/?run=" + dashChrome + "&path=/css/", "text/html; charset=utf-8", "<main", 200},
		{"/assets/app.js", "text/javascript; charset=utf-8", "passRateClass", 200},
		{"/assets/style.css", "text/css; charset=utf-8", ".passes-all", 200},
		{"/assets/index.html", "", "", 404},
		{"/assets/nope.js", "", "", 404},
		{"/index.html", "", "", 404},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := env.do(t, "GET", tc.path, nil)
			if resp.StatusCode != tc.code {
				t.Fatalf("got %s, want %d", resp.Status, tc.code)
			}
			if tc.code != 200 {
				return
			}
			if resp.Header.Get("Content-Type") != tc.ctype || !bytes.Contains(body, []byte(tc.contains)) {
				t.Errorf("got %q, %d bytes", resp.Header.Get("Content-Type"), len(body))
			}
			resp, _ = env.do(t, "GET", tc.path, map[string]string{"If-None-Match": resp.Header.Get("ETag")})
			if resp.StatusCode != http.StatusNotModified {
				t.Errorf("If-None-Match: got %s", resp.Status)
			}
		})
	}
	// The page's colour rule is wpt.fyi's, in both the style sheet and the
	// script.
	_, css := env.do(t, "GET", "/assets/style.css", nil)
	for _, rgb := range []string{"229, 115, 115", "255, 183, 77", "255, 213, 79", "255, 241, 118", "220, 231, 117", "174, 213, 129", "129, 199, 132"} {
		if !bytes.Contains(css, []byte("rgb("+rgb+")")) {
			t.Errorf("style.css lacks wpt.fyi's rgb(%s)", rgb)
		}
	}
}

// ---- In a real browser ----

// findChromium returns the path of a Chromium, or skips the test (fails
// it under CI=true).
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not installed: apt-get install -y chromium")
	}
	t.Skip("chromium not installed: apt-get install -y chromium")
	return ""
}

// chromiumFlags are the flags of every headless run: no network but the
// page's, no first-run work, a profile of the test's own.
func chromiumFlags(t *testing.T) []string {
	return []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--user-data-dir=" + profileDir(t),
	}
}

// profileDir is a fresh Chromium profile directory. Not t.TempDir: helper
// processes of an exited Chromium may still write into it for a moment,
// which makes TempDir's cleanup fail the test; this one is removed with a
// few retries.
func profileDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wptfeed-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 40 {
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
		t.Logf("could not remove Chromium profile %s", dir)
	})
	return dir
}

// dumpDOM loads u in headless Chromium, lets its scripts run and returns
// the document, failing unless the page finished rendering without error.
func dumpDOM(t *testing.T, chromium, u string) *html.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append(chromiumFlags(t), "--virtual-time-budget=5000", "--dump-dom", u)
	cmd := exec.CommandContext(ctx, chromium, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom %s: %v\n%s", u, err, stderr.String())
	}
	doc, err := html.Parse(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	body := findNode(doc, func(n *html.Node) bool { return n.Data == "body" })
	if body == nil || attrOf(body, "data-ready") != "true" {
		t.Fatalf("%s: the page did not finish rendering:\n%s", u, out)
	}
	if e := attrOf(body, "data-error"); e != "" {
		t.Fatalf("%s: the page shows an error: %s", u, e)
	}
	return doc
}

func attrOf(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) bool {
	return slices.ContainsFunc(n.Attr, func(a html.Attribute) bool { return a.Key == key })
}

func findNode(n *html.Node, match func(*html.Node) bool) *html.Node {
	if all := findNodes(n, match); len(all) > 0 {
		return all[0]
	}
	return nil
}

func findNodes(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// rowOf returns the results row of a path (the totals row when totals).
func rowOf(doc *html.Node, path string, totals bool) *html.Node {
	return findNode(doc, func(n *html.Node) bool {
		return n.Data == "tr" && attrOf(n, "data-path") == path && (attrOf(n, "class") == "totals") == totals
	})
}

// cellCounts returns the data-passes and data-total of a row's cell of run
// i, and its class.
func cellCounts(t *testing.T, row *html.Node, i int) (passes, total int, class string) {
	t.Helper()
	td := findNode(row, func(n *html.Node) bool { return n.Data == "td" && attrOf(n, "data-run") == strconv.Itoa(i) })
	if td == nil {
		t.Fatalf("row %s has no cell of run %d", attrOf(row, "data-path"), i)
	}
	passes, _ = strconv.Atoi(attrOf(td, "data-passes"))
	total, _ = strconv.Atoi(attrOf(td, "data-total"))
	if want := fmt.Sprintf("%d / %d", passes, total); !strings.HasPrefix(textOf(td), want) {
		t.Errorf("cell text %q, want %q", textOf(td), want)
	}
	return passes, total, attrOf(td, "class")
}

// wptColor is wpt.fyi's wpt.getColor class for passes of total.
func wptColor(passes, total int) string {
	classes := []string{"passes-none", "passes-hardly", "passes-a-few", "passes-half", "passes-lots", "passes-most", "passes-all"}
	switch {
	case passes == 0 || total == 0:
		return classes[0]
	case passes >= total:
		return classes[6]
	}
	return classes[5*passes/total+1]
}

// startServeCmd runs `ingester serve` on the fixture at 127.0.0.1:0 and
// returns its base URL.
func startServeCmd(t *testing.T, dir string) string {
	t.Helper()
	var stderr statusLogBuffer
	cmd := newServeCmd(&stderr)
	cmd.SetArgs([]string{"--out", dir, "--addr", "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	addr := regexp.MustCompile(`"status server serving" addr=(127\.0\.0\.1:\d+)`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := addr.FindStringSubmatch(stderr.String()); m != nil {
			return "http://" + m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDashboard_Browser(t *testing.T) {
	chromium := findChromium(t)
	fx := newDashFixture(t)
	base := startServeCmd(t, fx.dir)
	// --dump-dom starts a browser per page (seconds each), so most pages
	// are loaded in one browser driven over the DevTools protocol.
	cdp := startCDP(t, chromium)

	t.Run("run list", func(t *testing.T) {
		doc := dumpDOM(t, chromium, base+"/")
		rows := findNodes(doc, func(n *html.Node) bool { return n.Data == "tr" && hasAttr(n, "data-run-id") })
		var ids []string
		for _, r := range rows {
			ids = append(ids, attrOf(r, "data-run-id"))
		}
		if want := []string{dashSafariBad, dashChromeDev, dashFirefox, dashChrome, dashChromeOld}; !slices.Equal(ids, want) {
			t.Fatalf("rows: got %v, want %v", ids, want)
		}
		for _, r := range rows {
			id := attrOf(r, "data-run-id")
			if id == dashSafariBad {
				if !strings.Contains(textOf(r), "INVALID") {
					t.Errorf("invalid run row: %q", textOf(r))
				}
				continue
			}
			root := fx.metricsEntry(t, id, "/")
			cell := findNode(r, func(n *html.Node) bool { return hasAttr(n, "data-passes") })
			if cell == nil || attrOf(cell, "data-passes") != strconv.Itoa(root.SubtestsPassed) || attrOf(cell, "data-total") != strconv.Itoa(root.Subtests) {
				t.Errorf("%s: pass rate cell %v, want %d / %d", id, cell, root.SubtestsPassed, root.Subtests)
			}
			if want := fmt.Sprintf("(%d / %d)", root.SubtestsPassed, root.Subtests); !strings.Contains(textOf(cell), want) {
				t.Errorf("%s: cell text %q, want %q", id, textOf(cell), want)
			}
			link := findNode(r, func(n *html.Node) bool { return n.Data == "a" && hasAttr(n, "data-nav") })
			if got, want := attrOf(link, "href"), "?run="+id+"&path=/"; got != want {
				t.Errorf("%s: link %q, want %q", id, got, want)
			}
		}
		imgs := findNodes(doc, func(n *html.Node) bool { return n.Data == "img" })
		if len(imgs) != 2 || attrOf(imgs[0], "src") != "charts/passrate.svg" || attrOf(imgs[1], "src") != "charts/interop.svg" {
			t.Errorf("charts: %v", imgs)
		}
	})

	t.Run("filters", func(t *testing.T) {
		doc := cdp.page(t, base+"/?product=chrome&label=stable")
		rows := findNodes(doc, func(n *html.Node) bool { return n.Data == "tr" && hasAttr(n, "data-run-id") })
		var ids []string
		for _, r := range rows {
			ids = append(ids, attrOf(r, "data-run-id"))
		}
		if want := []string{dashChrome, dashChromeOld}; !slices.Equal(ids, want) {
			t.Errorf("rows: got %v, want %v", ids, want)
		}
		imgs := findNodes(doc, func(n *html.Node) bool { return n.Data == "img" })
		if len(imgs) != 2 || attrOf(imgs[0], "src") != "charts/passrate.svg?product=chrome&label=stable" || attrOf(imgs[1], "src") != "charts/interop.svg?label=stable" {
			t.Errorf("charts: %v %v", attrOf(imgs[0], "src"), attrOf(imgs[1], "src"))
		}
	})

	var cssLink string
	t.Run("results tree", func(t *testing.T) {
		doc := cdp.page(t, base+"/?run="+dashChrome+"&path=/")
		root := fx.metricsEntry(t, dashChrome, "/")
		passes, total, class := cellCounts(t, rowOf(doc, "/", true), 0)
		if passes != root.SubtestsPassed || total != root.Subtests || !strings.Contains(class, "top") {
			t.Errorf("root totals: %d / %d (%s), want %d / %d (top, as wpt.fyi's home)", passes, total, class, root.SubtestsPassed, root.Subtests)
		}
		row := rowOf(doc, "/css/", false)
		if row == nil {
			t.Fatal("no /css/ row")
		}
		css := fx.metricsEntry(t, dashChrome, "/css/")
		if passes, total, _ := cellCounts(t, row, 0); passes != css.SubtestsPassed || total != css.Subtests {
			t.Errorf("/css/ row: %d / %d, want %d / %d", passes, total, css.SubtestsPassed, css.Subtests)
		}
		link := findNode(row, func(n *html.Node) bool { return n.Data == "a" })
		cssLink = attrOf(link, "href")
		if want := "?run=" + dashChrome + "&path=/css/"; cssLink != want || attrOf(row, "data-href") != want || !hasAttr(link, "data-nav") {
			t.Errorf("/css/ row links to %q (row %q), want %q", cssLink, attrOf(row, "data-href"), want)
		}
	})

	t.Run("into a directory", func(t *testing.T) {
		if cssLink == "" {
			t.Skip("no link")
		}
		doc := dumpDOM(t, chromium, base+"/"+cssLink)
		css := fx.metricsEntry(t, dashChrome, "/css/")
		passes, total, class := cellCounts(t, rowOf(doc, "/css/", true), 0)
		if passes != css.SubtestsPassed || total != css.Subtests || !strings.Contains(class, wptColor(passes, total)) {
			t.Errorf("/css/ totals: %d / %d (%s), want %d / %d (%s)", passes, total, class, css.SubtestsPassed, css.Subtests, wptColor(css.SubtestsPassed, css.Subtests))
		}
		rows := findNodes(doc, func(n *html.Node) bool {
			return n.Data == "tr" && hasAttr(n, "data-path") && attrOf(n, "class") != "totals"
		})
		if len(rows) == 0 {
			t.Fatal("no rows under /css/")
		}
		for _, row := range rows {
			p := attrOf(row, "data-path")
			if !strings.HasSuffix(p, "/") {
				continue
			}
			e := fx.metricsEntry(t, dashChrome, p)
			passes, total, class := cellCounts(t, row, 0)
			if passes != e.SubtestsPassed || total != e.Subtests || !strings.Contains(class, wptColor(passes, total)) {
				t.Errorf("%s: %d / %d (%s), want %d / %d", p, passes, total, class, e.SubtestsPassed, e.Subtests)
			}
		}
	})

	t.Run("click", func(t *testing.T) {
		// A real click on the /css/ row's link in the page: the URL becomes
		// the row's deep link and the level it shows is /css/.
		cdp.navigate(t, base+"/?run="+dashChrome+"&path=/")
		got := cdp.eval(t, `(async () => {
			const link = document.querySelector('tr[data-path="/css/"] a');
			const before = history.length;
			link.click();
			for (let i = 0; i < 200 && !(document.body.dataset.ready && document.querySelector('tr.totals[data-path="/css/"]')); i++) {
				await new Promise(r => setTimeout(r, 25));
			}
			const totals = document.querySelector('tr.totals[data-path="/css/"] td[data-run="0"]');
			return JSON.stringify({url: location.search, pushed: history.length - before,
				passes: totals && totals.dataset.passes, total: totals && totals.dataset.total});
		})()`)
		var res struct {
			URL           string
			Pushed        int
			Passes, Total string
		}
		if err := json.Unmarshal([]byte(got), &res); err != nil {
			t.Fatalf("%v: %s", err, got)
		}
		css := fx.metricsEntry(t, dashChrome, "/css/")
		if res.URL != "?run="+dashChrome+"&path=/css/" || res.Pushed != 1 ||
			res.Passes != strconv.Itoa(css.SubtestsPassed) || res.Total != strconv.Itoa(css.Subtests) {
			t.Errorf("after the click: %+v, want URL ?run=%s&path=/css/, one history entry, %d / %d", res, dashChrome, css.SubtestsPassed, css.Subtests)
		}
	})

	t.Run("aligned", func(t *testing.T) {
		doc := cdp.page(t, base+"/?sha="+dashRev1[:10]+"&label=stable&path=/css/")
		runs, e := fx.alignedEntry(t, dashRev1, "stable", "/css/")
		totals := rowOf(doc, "/css/", true)
		for i, r := range runs {
			m := fx.metricsEntry(t, r.RunID, "/css/")
			if passes, total, _ := cellCounts(t, totals, i); passes != m.SubtestsPassed || total != m.Subtests {
				t.Errorf("%s /css/: %d / %d, want %d / %d", r.Product, passes, total, m.SubtestsPassed, m.Subtests)
			}
		}
		cell := findNode(totals, func(n *html.Node) bool { return hasAttr(n, "data-interop") })
		if cell == nil || attrOf(cell, "data-interop") != strconv.Itoa(e.Interop) || !strings.Contains(attrOf(cell, "class"), wptColor(e.Interop, 1000)) {
			t.Errorf("interop cell %v, want %d", cell, e.Interop)
		}
	})

	t.Run("test", func(t *testing.T) {
		run := fx.run(t, dashChrome)
		var p string
		for _, path := range run.sum.Paths() {
			if ts, _ := run.sum.Get(path); strings.HasPrefix(path, "/css/") && ts.Counts.Total > 1 {
				p = path
				break
			}
		}
		doc := cdp.page(t, base+"/?run="+dashChrome+"&path="+strings.ReplaceAll(url.QueryEscape(p), "%2F", "/"))
		ts, _ := run.sum.Get(p)
		subs := findNodes(doc, func(n *html.Node) bool { return n.Data == "tr" && hasAttr(n, "data-subtest") })
		pass := 0
		for _, s := range subs {
			if findNode(s, func(n *html.Node) bool { return attrOf(n, "data-status") == "PASS" }) != nil {
				pass++
			}
		}
		if len(subs) != ts.Counts.Total || pass != ts.Counts.Pass {
			t.Errorf("%s: %d subtest rows (%d PASS), want %v", p, len(subs), pass, ts.Counts)
		}
	})

	if *updateScreenshot {
		out, err := filepath.Abs("../../../docs/dashboard.png")
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(out), 0o755)
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		args := append(chromiumFlags(t), "--virtual-time-budget=5000", "--screenshot="+out, "--window-size=1280,900",
			base+"/?sha="+dashRev1[:10]+"&label=stable&path=/css/")
		if msg, err := exec.CommandContext(ctx, chromium, args...).CombinedOutput(); err != nil {
			t.Fatalf("screenshot: %v\n%s", err, msg)
		}
		t.Logf("wrote %s", out)
	}
}

// ---- A minimal Chrome DevTools Protocol client ----

// cdpSession is one page of a headless Chromium driven over the DevTools
// protocol (a WebSocket), for what --dump-dom cannot do: clicking.
type cdpSession struct {
	ws *websocket.Conn
	id int
}

func startCDP(t *testing.T, chromium string) *cdpSession {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	args := append(chromiumFlags(t), "--remote-debugging-port=0", "--remote-allow-origins=*", "about:blank")
	cmd := exec.CommandContext(ctx, chromium, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	// "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/…"
	found := make(chan string, 1)
	go func() {
		var seen bytes.Buffer
		buf := make([]byte, 4096)
		re := regexp.MustCompile(`DevTools listening on ws://(127\.0\.0\.1:\d+)/`)
		for {
			n, err := stderr.Read(buf)
			seen.Write(buf[:n])
			if m := re.FindSubmatch(seen.Bytes()); m != nil {
				found <- string(m[1])
				io.Copy(io.Discard, stderr)
				return
			}
			if err != nil {
				close(found)
				return
			}
		}
	}()
	var hostPort string
	select {
	case hostPort = <-found:
	case <-time.After(60 * time.Second):
	}
	if hostPort == "" {
		t.Fatal("chromium did not start its DevTools server")
	}
	resp, err := http.Get("http://" + hostPort + "/json/list")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var targets []struct {
		Type string `json:"type"`
		WS   string `json:"webSocketDebuggerUrl"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&targets); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(targets, func(x struct {
		Type string `json:"type"`
		WS   string `json:"webSocketDebuggerUrl"`
	}) bool {
		return x.Type == "page"
	})
	if i < 0 {
		t.Fatalf("no page target: %+v", targets)
	}
	ws, err := websocket.Dial(targets[i].WS, "", "http://127.0.0.1/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	ws.SetDeadline(time.Now().Add(90 * time.Second))
	return &cdpSession{ws: ws}
}

// call sends a command and returns its result, skipping events.
func (c *cdpSession) call(t *testing.T, method string, params any) json.RawMessage {
	t.Helper()
	c.id++
	if err := websocket.JSON.Send(c.ws, map[string]any{"id": c.id, "method": method, "params": params}); err != nil {
		t.Fatal(err)
	}
	for {
		var msg struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := websocket.JSON.Receive(c.ws, &msg); err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if msg.ID != c.id {
			continue
		}
		if msg.Error != nil {
			t.Fatalf("%s: %s", method, msg.Error.Message)
		}
		return msg.Result
	}
}

// eval evaluates an expression (awaiting a promise) and returns its string
// value.
func (c *cdpSession) eval(t *testing.T, expr string) string {
	t.Helper()
	raw := c.call(t, "Runtime.evaluate", map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true})
	var res struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	if res.Exception != nil {
		t.Fatalf("evaluate: %s", res.Exception.Text)
	}
	s, _ := res.Result.Value.(string)
	return s
}

// page loads u and returns its document once rendered, failing if the
// page shows an error.
func (c *cdpSession) page(t *testing.T, u string) *html.Node {
	t.Helper()
	c.navigate(t, u)
	doc, err := html.Parse(strings.NewReader(c.eval(t, "document.documentElement.outerHTML")))
	if err != nil {
		t.Fatal(err)
	}
	body := findNode(doc, func(n *html.Node) bool { return n.Data == "body" })
	if e := attrOf(body, "data-error"); e != "" {
		t.Fatalf("%s: the page shows an error: %s", u, e)
	}
	return doc
}

// navigate loads u and waits until the page has rendered.
func (c *cdpSession) navigate(t *testing.T, u string) {
	t.Helper()
	c.call(t, "Page.navigate", map[string]any{"url": u})
	deadline := time.Now().Add(30 * time.Second)
	for {
		state := c.eval(t, `String(document.readyState === "complete" && document.body && document.body.dataset.ready === "true" && location.href)`)
		if state == u {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not render (%s)", u, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
