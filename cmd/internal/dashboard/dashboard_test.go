package dashboard

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

	"github.com/wptfeed/wptfeed/cmd/internal/process"
	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/cmd/internal/status"
	"github.com/wptfeed/wptfeed/internal/testutil"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/report/reportgen"
	"github.com/wptfeed/wptfeed/store"
)

var updateScreenshot = flag.Bool("screenshot", false, "write docs/dashboard.png from the browser test")

// The dashboard fixture: four VALID runs ingested from generated reports
// and one INVALID run.
//
//	chromeOld  chrome 125 stable        at rev0, 2024-06-01 06:00
//	chrome     chrome 126 stable        at rev1, 2024-06-02 06:00
//	firefox    firefox 127 stable       at rev1, 2024-06-02 07:00 (other results)
//	chromeDev  chrome 128 canary (experimental) at rev1, 2024-06-02 08:00
//	safariBad  safari, INVALID          uploaded 2024-06-02 10:00
//
// Both revisions start with "abcd", so that prefix is ambiguous.
const (
	rev0 = "abcd000011112222333344445555666677778888"
	rev1 = "abcd9999aaaabbbbccccddddeeeeffff00001111"

	runChromeOld = "20240601T070000Z-chromeold"
	runChrome    = "20240602T070000Z-chrome"
	runFirefox   = "20240602T080000Z-firefox"
	runChromeDev = "20240602T090000Z-chromedev"
	runSafariBad = "20240602T100000Z-safaribad"
)

var t1 = time.Date(2024, 6, 2, 6, 0, 0, 0, time.UTC)

// fixture is an out bucket holding the fixture runs and their metrics.
type fixture struct {
	dir string // the bucket's directory
	out *store.Bucket
}

// runSpec describes a fixture run.
type runSpec struct {
	id      string
	cfg     reportgen.Config
	labels  []string
	perturb func(i int, res map[string]any) bool // false drops the test
	layout  string                               // of per-test files; "" is records.LayoutFiles
}

var (
	fixtureOnce sync.Once
	fixtureDir  string
	fixtureErr  error
)

// newFixture returns the fixture, ingested once per test binary into
// a directory removed when the binary exits (see TestMain is not needed:
// each test opens its own handle on the directory).
func newFixture(t testing.TB) *fixture {
	t.Helper()
	fixtureOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wptfeed-dashboard-*")
		if err != nil {
			fixtureErr = err
			return
		}
		fixtureDir = dir
		fixtureErr = buildFixture(dir)
	})
	if fixtureErr != nil {
		t.Fatalf("dashboard fixture: %v", fixtureErr)
	}
	out, err := store.Open(context.Background(), "file://"+fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	return &fixture{dir: fixtureDir, out: out}
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

func buildFixture(dir string) error {
	ctx := context.Background()
	out, err := store.Open(ctx, "file://"+dir)
	if err != nil {
		return err
	}
	defer out.Close()
	ms := func(t time.Time) int64 { return t.UnixMilli() }
	specs := []runSpec{
		{id: runChromeOld, labels: []string{"buildbot"},
			cfg: reportgen.Config{Seed: 1, Scale: 0.05, Shards: 1, BrowserVersion: "125.0.6422.141", Revision: rev0,
				TimeStart: ms(t1.Add(-24 * time.Hour))},
			perturb: func(i int, _ map[string]any) bool { return i%5 != 0 }},
		{id: runChrome, labels: []string{"buildbot"},
			cfg: reportgen.Config{Seed: 1, Scale: 0.05, Shards: 2, BrowserVersion: "126.0.6478.126", Revision: rev1,
				TimeStart: ms(t1)}},
		{id: runFirefox, labels: []string{"buildbot"},
			cfg: reportgen.Config{Seed: 1, Scale: 0.05, Shards: 1, Product: "firefox", BrowserVersion: "127.0", Revision: rev1,
				TimeStart: ms(t1.Add(time.Hour))},
			perturb: flipCSS, layout: records.LayoutPacked},
		{id: runChromeDev, labels: []string{"buildbot"},
			cfg: reportgen.Config{Seed: 3, Scale: 0.02, Shards: 1, BrowserVersion: "128.0.6600.0", Channel: "canary", Revision: rev1,
				TimeStart: ms(t1.Add(2 * time.Hour))}},
	}
	for _, sp := range specs {
		if err := ingestRun(ctx, out, sp); err != nil {
			return fmt.Errorf("%s: %w", sp.id, err)
		}
	}
	bad := records.Status{RunID: runSafariBad, State: records.StateInvalid, Code: "not_json", Product: "safari",
		Error: "shard-000.json.gz: line 1, column 1: invalid character 'x'", Ingested: t1.Add(5 * time.Hour)}
	data, _ := json.Marshal(bad)
	if err := out.WriteBytes(ctx, store.StatusKey(runSafariBad), data, store.WriteOptions{}); err != nil {
		return err
	}
	return ensureMetrics(ctx, out)
}

// flipCSS makes firefox differ from chrome: every other PASS subtest
// under /css/ fails, and every eleventh test is missing.
func flipCSS(i int, res map[string]any) bool {
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

// ingestRun generates a run's shards, perturbs them and ingests them
// with the ingester's own Processor (per-test files on, in sp.layout).
func ingestRun(ctx context.Context, out *store.Bucket, sp runSpec) error {
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
	p := &process.Processor{Out: out, ResultsBase: "https://results.test", PerTest: true, Layout: sp.layout, Limits: report.DefaultLimits(),
		Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return uploaded.Add(time.Minute) }}
	st, err := p.Ingest(ctx, process.Input{RunID: sp.id, Uploaded: uploaded, Shards: in, Labels: sp.labels,
		FeedEntry: "tag:wptfeed.org,2026:run:" + sp.id})
	if err != nil {
		return err
	}
	if st.State != records.StateValid {
		return fmt.Errorf("state %s (%s): %s", st.State, st.Code, st.Error)
	}
	return nil
}

// ---- The metrics files, per the contract of docs/metrics-files.md ----

// ensureMetrics writes, from report's functions, every metrics file
// of the contract that the ingester did not write: metrics/runs/<run
// id>.json, metrics/series/<product>.json, metrics/aligned/<sha>/<filter>.json
// (and -pass-rates.json) for two or more products, and
// metrics/interop/<filter>.json. Package process writes them itself, so
// this only fills in what a build without them lacks.
func ensureMetrics(ctx context.Context, out *store.Bucket) error {
	var runs []*fixtureRun
	err := out.List(ctx, "status/", "", func(o store.Object) bool {
		id := strings.TrimSuffix(strings.TrimPrefix(o.Key, "status/"), ".json")
		runs = append(runs, &fixtureRun{id: id})
		return true
	})
	if err != nil {
		return err
	}
	runs = slices.DeleteFunc(runs, func(r *fixtureRun) bool {
		if r.load(ctx, out) != nil {
			return true
		}
		return r.st.State != records.StateValid
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
		if err := put(store.RunMetricsKey(r.id), m.WriteJSON); err != nil {
			return err
		}
		series[r.tr.BrowserName] = append(series[r.tr.BrowserName], point{r.id, r.tr.FullRevisionHash, oracleRunTime(&r.tr), r.tr.Labels, report.SeriesPoint(m)})
	}
	for product, pts := range series {
		slices.SortFunc(pts, func(a, b point) int { return a.Time.Compare(b.Time) })
		if err := put(store.SeriesKey(product), marshal(map[string]any{"product": product, "points": pts})); err != nil {
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
		for _, filter := range records.AlignedFilters {
			chosen := choose(runs, sha, filter)
			if len(chosen) < 2 {
				continue
			}
			var in []report.AlignedRun
			pt := ipoint{Revision: sha, Interop: map[string]int{}}
			for _, r := range chosen {
				in = append(in, report.AlignedRun{Product: r.tr.BrowserName, RunID: r.id, Summary: r.sum})
				pt.Products, pt.Runs = append(pt.Products, r.tr.BrowserName), append(pt.Runs, r.id)
				if t := oracleRunTime(&r.tr); t.After(pt.Time) {
					pt.Time = t
				}
			}
			am := report.Aligned(in)
			if err := put(store.AlignedKey(sha, filter), am.WriteJSON); err != nil {
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

// oracleRunTime is when a run ran, for series: time_start, else its
// upload.
func oracleRunTime(tr *records.TestRun) time.Time {
	if !tr.TimeStart.IsZero() && tr.TimeStart.Unix() > 0 {
		return tr.TimeStart.UTC()
	}
	return tr.CreatedAt.UTC()
}

// choose picks the newest VALID run of each product at sha with the
// label (any for "all"), sorted by product.
func choose(runs []*fixtureRun, sha, filter string) []*fixtureRun {
	newest := map[string]*fixtureRun{}
	for _, r := range runs {
		if r.tr.FullRevisionHash != sha || filter != "all" && !slices.Contains(r.tr.Labels, filter) {
			continue
		}
		cur := newest[r.tr.BrowserName]
		if cur == nil || oracleRunTime(&r.tr).After(oracleRunTime(&cur.tr)) {
			newest[r.tr.BrowserName] = r
		}
	}
	var out []*fixtureRun
	for _, r := range newest {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *fixtureRun) int { return strings.Compare(a.tr.BrowserName, b.tr.BrowserName) })
	return out
}

// fixtureRun is a fixture run as the bucket has it.
type fixtureRun struct {
	id  string
	st  records.Status
	tr  records.TestRun
	sum *report.Summary
}

func (r *fixtureRun) load(ctx context.Context, out *store.Bucket) error {
	data, err := out.ReadAll(ctx, store.StatusKey(r.id))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, &r.st); err != nil {
		return err
	}
	if r.st.State != records.StateValid {
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

func (f *fixture) run(t testing.TB, id string) *fixtureRun {
	t.Helper()
	r := &fixtureRun{id: id}
	if err := r.load(context.Background(), f.out); err != nil {
		t.Fatal(err)
	}
	return r
}

// metricsEntry returns the entry of dir in metrics/runs/<id>.json, as
// the bucket has it.
func (f *fixture) metricsEntry(t testing.TB, id, dir string) entryJSON {
	t.Helper()
	data, err := f.out.ReadAll(context.Background(), store.RunMetricsKey(id))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Dirs []entryJSON `json:"dirs"`
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
	return entryJSON{}
}

// alignedEntry returns the entry of dir in metrics/aligned/<sha>/<filter>.json.
func (f *fixture) alignedEntry(t testing.TB, sha, filter, dir string) (runs []report.RunRef, e report.AlignedEntry) {
	t.Helper()
	data, err := f.out.ReadAll(context.Background(), store.AlignedKey(sha, filter))
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
	t.Fatalf("%s has no %s", store.AlignedKey(sha, filter), dir)
	return nil, e
}

// ---- A server on the fixture ----

// testEnv is a status server with the dashboard mounted, as `ingester
// serve` wires them, on the fixture bucket.
type testEnv struct {
	out    *store.Bucket
	addr   string // http://<bound address>
	logBuf *testutil.SyncBuffer
	fx     *fixture
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	fx := newFixture(t)
	ctx := context.Background()
	cfg := status.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.BaseURL = "https://status.test"
	cfg.ScanInterval = time.Hour // scans only where a test asks for them
	env := &testEnv{out: fx.out, logBuf: &testutil.SyncBuffer{}, fx: fx}
	log := slog.New(slog.NewTextHandler(env.logBuf, nil))
	s, err := status.New(ctx, cfg, fx.out, log)
	if err != nil {
		t.Fatal(err)
	}
	New(Config{Out: fx.out, Index: s, ScanInterval: cfg.ScanInterval, Log: log}).Mount(s.Route)
	env.addr = "http://" + s.Addr()
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
	return env
}

// do sends a request for path and returns the response with its body
// read, the identity representation unless the request asks for gzip,
// following no redirects.
func (env *testEnv) do(t *testing.T, method, path string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	return testutil.Do(t, method, env.addr+path, header)
}

// getJSON fetches path and decodes it into v, failing unless the status
// is want.
func (env *testEnv) getJSON(t *testing.T, path string, want int, v any) {
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

func runIDsOf(runs []apiRun) []string {
	var ids []string
	for _, r := range runs {
		ids = append(ids, r.WPTFeed.RunID)
	}
	return ids
}

// TestDashboard_Runs checks /api/runs over the ingested fixture runs
// (runs_test.go has the table of wpt.fyi's parameters, over synthetic
// runs).
func TestDashboard_Runs(t *testing.T) {
	env := newTestEnv(t)
	for _, tc := range []struct {
		name  string
		query string
		want  []string // nil: 404 with []
	}{
		{"default: the latest run of each default product (wpt.fyi)", "", []string{runChromeDev, runFirefox}},
		{"sha latest is the default", "sha=latest", []string{runChromeDev, runFirefox}},
		{"all valid, by product, newest first", "max-count=500", []string{runChromeDev, runChrome, runChromeOld, runFirefox}},
		{"product", "max-count=500&product=chrome", []string{runChromeDev, runChrome, runChromeOld}},
		{"products list, in its order", "max-count=500&products=firefox,chrome", []string{runFirefox, runChromeDev, runChrome, runChromeOld}},
		{"product version", "max-count=500&product=chrome-126", []string{runChrome}},
		{"product version is a prefix at a dot", "product=chrome-12-linux", nil},
		{"product os ignored", "product=firefox-127.0-windows-10", []string{runFirefox}},
		{"product labels", "max-count=500&product=chrome[experimental]", []string{runChromeDev}},
		{"label", "max-count=500&label=stable", []string{runChrome, runChromeOld, runFirefox}},
		{"sha prefix", "max-count=500&sha=" + rev1[:7], []string{runChromeDev, runChrome, runFirefox}},
		{"full sha", "sha=" + rev0, []string{runChromeOld}},
		{"from date", "from=2024-06-02", []string{runChromeDev, runChrome, runFirefox}},
		{"aligned", "aligned&product=chrome&product=firefox", []string{runChromeDev, runFirefox}},
		{"aligned stable", "aligned&product=chrome[stable]&product=firefox", []string{runChrome, runFirefox}},
		{"invalid run with state", "state=invalid", []string{runSafariBad}},
		{"no run", "product=edge", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := http.StatusOK
			if tc.want == nil {
				want = http.StatusNotFound
			}
			var got []apiRun
			env.getJSON(t, "/api/runs?"+tc.query, want, &got)
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
		raw, err := env.out.ReadAll(context.Background(), store.TestRunKey(runChrome))
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
		var runs []apiRun
		env.getJSON(t, "/api/runs?product=chrome&max-count=1&label=stable", http.StatusOK, &runs)
		x := runs[0].WPTFeed
		root := env.fx.metricsEntry(t, runChrome, "/")
		if x.State != records.StateValid || x.Metrics == nil || *x.Metrics != root.counts {
			t.Errorf("wptfeed: got %+v (metrics %+v), want VALID with metrics %+v", x, x.Metrics, root.counts)
		}
		if x.Tests == 0 || x.ProductID == "" || !slices.Contains(x.Labels, "stable") {
			t.Errorf("wptfeed: %+v", x)
		}
		var bad []apiRun
		env.getJSON(t, "/api/runs?state=invalid", http.StatusOK, &bad)
		if b := bad[0]; b.ID != 0 || b.BrowserName != "safari" || b.WPTFeed.Code != "not_json" || b.WPTFeed.Metrics != nil || b.Labels == nil {
			t.Errorf("invalid run: %+v", b)
		}
	})

	for _, q := range []string{"from=yesterday", "to=2024-13-01", "max-count=x", "sha=xyz", "sha=abcd", "aligned=maybe", "product=chrome[stable", "product=nope"} {
		t.Run("400 "+q, func(t *testing.T) {
			var e map[string]string
			env.getJSON(t, "/api/runs?"+q, http.StatusBadRequest, &e)
			if e["error"] == "" {
				t.Errorf("no error message")
			}
		})
	}
}

func TestDashboard_Tree(t *testing.T) {
	env := newTestEnv(t)
	run := env.fx.run(t, runChrome)
	m := report.RunMetrics(run.sum)
	get := func(t *testing.T, q string) results {
		t.Helper()
		var res results
		env.getJSON(t, "/api/tree?"+q, http.StatusOK, &res)
		return res
	}
	for _, dir := range []string{"/", "/css/", "/css/css-flexbox/"} {
		t.Run("level "+dir, func(t *testing.T) {
			if _, ok := m.Dir(dir); !ok {
				t.Skipf("the fixture has no %s", dir)
			}
			res := get(t, "run="+runChrome+"&path="+url.QueryEscape(dir))
			if res.Path != dir || res.Test || res.Run.WPTFeed.RunID != runChrome {
				t.Errorf("got path %q test %v run %s", res.Path, res.Test, res.Run.WPTFeed.RunID)
			}
			if want := env.fx.metricsEntry(t, runChrome, dir); res.Entry.counts != want.counts {
				t.Errorf("entry: got %+v, want %+v (metrics file)", res.Entry.counts, want.counts)
			}
			want := m.Children(dir)
			if len(res.Children) != len(want) {
				t.Fatalf("children: got %d, want %d", len(res.Children), len(want))
			}
			sum := counts{}
			for i, c := range res.Children {
				w := want[i]
				if c.Path != w.Dir || c.Test != w.Test || c.counts != countsOf(w) {
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
				t.Errorf("children sum to %+v, entry has %+v", sum, res.Entry.counts)
			}
		})
	}
	t.Run("directory without slash", func(t *testing.T) {
		if res := get(t, "run="+runChrome+"&path=/css"); res.Path != "/css/" || len(res.Children) == 0 {
			t.Errorf("got path %q with %d children", res.Path, len(res.Children))
		}
	})
	t.Run("no path is the root", func(t *testing.T) {
		if res := get(t, "run="+runChrome); res.Path != "/" {
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
			res := get(t, "run="+runChrome+"&path="+url.QueryEscape(p))
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
		path := "/api/tree?run=" + runChrome + "&path=/css/"
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
		var res results
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
		{"invalid run", "run=" + runSafariBad, 404},
		{"unknown directory", "run=" + runChrome + "&path=/no-such-dir/", 404},
		{"unknown test", "run=" + runChrome + "&path=/css/no-such-test.html", 404},
		{"relative path", "run=" + runChrome + "&path=css/", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e map[string]string
			env.getJSON(t, "/api/tree?"+tc.query, tc.code, &e)
			if e["error"] == "" {
				t.Error("no error message")
			}
		})
	}
}

func TestDashboard_Aligned(t *testing.T) {
	env := newTestEnv(t)
	chrome, firefox, dev := env.fx.run(t, runChrome), env.fx.run(t, runFirefox), env.fx.run(t, runChromeDev)
	get := func(t *testing.T, q string) alignedResults {
		t.Helper()
		var res alignedResults
		env.getJSON(t, "/api/aligned?"+q, http.StatusOK, &res)
		return res
	}
	for _, tc := range []struct {
		label  string
		runs   []*fixtureRun
		source string
	}{
		{"stable", []*fixtureRun{chrome, firefox}, store.AlignedKey(rev1, "stable")},
		{"all", []*fixtureRun{dev, firefox}, store.AlignedKey(rev1, "all")},
		{"experimental", []*fixtureRun{dev}, "index"}, // one product: no metrics file
		{"buildbot", []*fixtureRun{dev, firefox}, "index"},
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
				res := get(t, "sha="+rev1[:10]+"&label="+tc.label+"&path="+dir)
				if res.SHA != rev1 || res.Label != tc.label || res.Source != tc.source || res.Path != dir {
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
					_, fileEntry := env.fx.alignedEntry(t, rev1, tc.label, dir)
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
						var want *counts
						if e, ok := report.RunMetrics(run.sum).Dir(c.Path); ok && !c.Test {
							w := countsOf(e)
							want = &w
						} else if ts, ok := run.sum.Get(c.Path); ok && c.Test {
							want = &counts{Status: ts.Status}
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
		res := get(t, "sha="+rev1+"&label=stable&path="+url.QueryEscape(p))
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
		{"no such label", "sha=" + rev1 + "&label=nightly", 404},
		{"unknown path", "sha=" + rev1 + "&path=/no-such-dir/", 404},
		{"relative path", "sha=" + rev1 + "&path=css", 400},
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
	env := newTestEnv(t)
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
	var chromeSeries, firefoxSeries records.Series
	readJSON(store.SeriesKey("chrome"), &chromeSeries)
	readJSON(store.SeriesKey("firefox"), &firefoxSeries)
	rates := func(f records.Series, dir, label string) []float64 {
		out := []float64{}
		for _, p := range f.Points {
			if r, ok := p.Rates[dir]; ok && (label == "" || slices.Contains(p.Labels, label)) {
				out = append(out, 100*r)
			}
		}
		return out
	}
	var interopStable records.InteropSeries
	readJSON(store.InteropKey("stable"), &interopStable)

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
			testutil.Golden(t, filepath.Join("testdata", "chart-"+strings.ReplaceAll(tc.name, " ", "-")+".svg.golden"), body)
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

func TestCache(t *testing.T) {
	c := newCache[int](2, 0)
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
	ttl := newCache[int](2, time.Millisecond)
	ttl.get("k", func() (int, error) { return 1, nil })
	time.Sleep(5 * time.Millisecond)
	if v, _ := ttl.get("k", func() (int, error) { return 2, nil }); v != 2 {
		t.Errorf("expired entry: got %d, want a new load", v)
	}
}

func TestDashboard_Page(t *testing.T) {
	env := newTestEnv(t)
	for _, tc := range []struct {
		path, ctype, contains string
		code                  int
	}{
		{"/", "text/html; charset=utf-8", `src="assets/app.js"`, 200},
		{"/?run=" + runChrome + "&path=/css/", "text/html; charset=utf-8", "<main", 200},
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

func TestDashboard_Browser(t *testing.T) {
	chromium := findChromium(t)
	env := newTestEnv(t)
	fx, base := env.fx, env.addr
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
		if want := []string{runSafariBad, runChromeDev, runFirefox, runChrome, runChromeOld}; !slices.Equal(ids, want) {
			t.Fatalf("rows: got %v, want %v", ids, want)
		}
		for _, r := range rows {
			id := attrOf(r, "data-run-id")
			if id == runSafariBad {
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
		if want := []string{runChrome, runChromeOld}; !slices.Equal(ids, want) {
			t.Errorf("rows: got %v, want %v", ids, want)
		}
		imgs := findNodes(doc, func(n *html.Node) bool { return n.Data == "img" })
		if len(imgs) != 2 || attrOf(imgs[0], "src") != "charts/passrate.svg?product=chrome&label=stable" || attrOf(imgs[1], "src") != "charts/interop.svg?label=stable" {
			t.Errorf("charts: %v %v", attrOf(imgs[0], "src"), attrOf(imgs[1], "src"))
		}
	})

	var cssLink string
	t.Run("results tree", func(t *testing.T) {
		doc := cdp.page(t, base+"/?run="+runChrome+"&path=/")
		root := fx.metricsEntry(t, runChrome, "/")
		passes, total, class := cellCounts(t, rowOf(doc, "/", true), 0)
		if passes != root.SubtestsPassed || total != root.Subtests || !strings.Contains(class, "top") {
			t.Errorf("root totals: %d / %d (%s), want %d / %d (top, as wpt.fyi's home)", passes, total, class, root.SubtestsPassed, root.Subtests)
		}
		row := rowOf(doc, "/css/", false)
		if row == nil {
			t.Fatal("no /css/ row")
		}
		css := fx.metricsEntry(t, runChrome, "/css/")
		if passes, total, _ := cellCounts(t, row, 0); passes != css.SubtestsPassed || total != css.Subtests {
			t.Errorf("/css/ row: %d / %d, want %d / %d", passes, total, css.SubtestsPassed, css.Subtests)
		}
		link := findNode(row, func(n *html.Node) bool { return n.Data == "a" })
		cssLink = attrOf(link, "href")
		if want := "?run=" + runChrome + "&path=/css/"; cssLink != want || attrOf(row, "data-href") != want || !hasAttr(link, "data-nav") {
			t.Errorf("/css/ row links to %q (row %q), want %q", cssLink, attrOf(row, "data-href"), want)
		}
	})

	t.Run("into a directory", func(t *testing.T) {
		if cssLink == "" {
			t.Skip("no link")
		}
		doc := dumpDOM(t, chromium, base+"/"+cssLink)
		css := fx.metricsEntry(t, runChrome, "/css/")
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
			e := fx.metricsEntry(t, runChrome, p)
			passes, total, class := cellCounts(t, row, 0)
			if passes != e.SubtestsPassed || total != e.Subtests || !strings.Contains(class, wptColor(passes, total)) {
				t.Errorf("%s: %d / %d (%s), want %d / %d", p, passes, total, class, e.SubtestsPassed, e.Subtests)
			}
		}
	})

	t.Run("click", func(t *testing.T) {
		// A real click on the /css/ row's link in the page: the URL becomes
		// the row's deep link and the level it shows is /css/.
		cdp.navigate(t, base+"/?run="+runChrome+"&path=/")
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
		css := fx.metricsEntry(t, runChrome, "/css/")
		if res.URL != "?run="+runChrome+"&path=/css/" || res.Pushed != 1 ||
			res.Passes != strconv.Itoa(css.SubtestsPassed) || res.Total != strconv.Itoa(css.Subtests) {
			t.Errorf("after the click: %+v, want URL ?run=%s&path=/css/, one history entry, %d / %d", res, runChrome, css.SubtestsPassed, css.Subtests)
		}
	})

	t.Run("aligned", func(t *testing.T) {
		doc := cdp.page(t, base+"/?sha="+rev1[:10]+"&label=stable&path=/css/")
		runs, e := fx.alignedEntry(t, rev1, "stable", "/css/")
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
		run := fx.run(t, runChrome)
		var p string
		for _, path := range run.sum.Paths() {
			if ts, _ := run.sum.Get(path); strings.HasPrefix(path, "/css/") && ts.Counts.Total > 1 {
				p = path
				break
			}
		}
		doc := cdp.page(t, base+"/?run="+runChrome+"&path="+strings.ReplaceAll(url.QueryEscape(p), "%2F", "/"))
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
			base+"/?sha="+rev1[:10]+"&label=stable&path=/css/")
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
