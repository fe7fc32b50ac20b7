package ingester

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/feed/feedtest"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
)

const statusTestBase = "https://status.test"

// Run ids of the fixture records, oldest upload first.
const (
	sidEdge       = "20261127T090000Z-edge06"
	sidChrome     = "20261127T100000.000000Z-chrome01"
	sidFirefoxBad = "20261127T110000Z-firefox02"
	sidEmpty      = "20261127T120000Z-empty03"
	sidDup        = "20261127T130000Z-dup04"
	sidFirefox    = "20261127T140000Z-firefox05"
)

const (
	statusTestRevChrome  = "24278ab61781de72ed363b866ae6b50b86822b27"
	statusTestRevFirefox = "0123456789abcdef0123456789abcdef01234567"
)

func statusTestIngested(id string) time.Time {
	t, _ := store.RunTime(id)
	return t.Add(5 * time.Minute).UTC()
}

func statusTestManifest(id string) string {
	return "https://feed.test/runs/" + id + "/manifest.json"
}

// putStatusFixtures writes the records an ingester would have written for
// six runs: every state, a record from before status records carried
// product and labels (its TestRun has them), and one that failed before its
// product was normalised.
func putStatusFixtures(t testing.TB, b *store.Bucket) {
	t.Helper()
	var many []report.Warning
	for i := range 12 {
		many = append(many, report.Warning{Code: report.WarnUnknownStatus, Message: fmt.Sprintf("unknown status %d", i)})
	}
	putStatusRecord(t, b, Status{
		RunID: sidEdge, State: StateInvalid, Code: "missing_metadata",
		Error:     "shard-000.json.gz: run_info lacks browser_version",
		FeedEntry: "tag:wptfeed.org,2026:run:" + sidEdge, Manifest: statusTestManifest(sidEdge),
		Product: "edgechromium", Ingested: statusTestIngested(sidEdge),
	})
	putStatusRecord(t, b, Status{
		RunID: sidChrome, State: StateValid,
		Warnings:  []report.Warning{{Code: report.WarnDuplicateResolved, Message: "2 copies resolved to one", Test: "/dom/a.html"}},
		FeedEntry: "tag:wptfeed.org,2026:run:" + sidChrome, Manifest: statusTestManifest(sidChrome),
		Product: "chrome", Labels: []string{"buildbot", "chrome", "stable"},
		TestRunID: testRunID(sidChrome), ProductID: "chrome-131.0-linux-abcdef0123", Revision: statusTestRevChrome,
		ResultsURL: "https://results.test/" + statusTestRevChrome + "/chrome-131.0-linux-abcdef0123-summary_v2.json.gz",
		Tests:      120, Subtests: 3400, Ingested: statusTestIngested(sidChrome),
	})
	putTestRunRecord(t, b, sidChrome, TestRun{
		ID: testRunID(sidChrome), BrowserName: "chrome", BrowserVersion: "131.0", OSName: "linux",
		Revision: statusTestRevChrome[:10], FullRevisionHash: statusTestRevChrome, Labels: []string{"buildbot", "chrome", "stable"},
	})
	putStatusRecord(t, b, Status{
		RunID: sidFirefoxBad, State: StateInvalid, Code: "not_json",
		Error:     "shard-000.json.gz: line 1, column 1: invalid character 'x' looking for beginning of value",
		FeedEntry: "tag:wptfeed.org,2026:run:" + sidFirefoxBad, Manifest: statusTestManifest(sidFirefoxBad),
		Product: "firefox", Ingested: statusTestIngested(sidFirefoxBad),
	})
	putStatusRecord(t, b, Status{
		RunID: sidEmpty, State: StateEmpty, Code: "empty", Error: "the report has no results",
		FeedEntry: "tag:wptfeed.org,2026:run:" + sidEmpty, Ingested: statusTestIngested(sidEmpty),
	})
	putStatusRecord(t, b, Status{
		RunID: sidDup, State: "DUPLICATE", Code: "duplicate_run", Error: "the same report as run " + sidChrome,
		FeedEntry: "tag:wptfeed.org,2026:run:" + sidDup, Manifest: statusTestManifest(sidDup),
		Product: "chrome", Labels: []string{"chrome", "dev", "experimental"}, Ingested: statusTestIngested(sidDup),
	})
	// Written before status records carried product and labels.
	putStatusRecord(t, b, Status{
		RunID: sidFirefox, State: StateValid, Warnings: many,
		FeedEntry: "tag:wptfeed.org,2026:run:" + sidFirefox, Manifest: statusTestManifest(sidFirefox),
		TestRunID: testRunID(sidFirefox), Revision: statusTestRevFirefox,
		Tests: 7, Subtests: 70, Ingested: statusTestIngested(sidFirefox),
	})
	putTestRunRecord(t, b, sidFirefox, TestRun{
		ID: testRunID(sidFirefox), BrowserName: "firefox", BrowserVersion: "140.0a1", OSName: "linux",
		Revision: statusTestRevFirefox[:10], FullRevisionHash: statusTestRevFirefox, Labels: []string{"experimental", "firefox", "nightly"},
	})
}

func putStatusRecord(t testing.TB, b *store.Bucket, st Status) {
	t.Helper()
	putStatusJSON(t, b, store.StatusKey(st.RunID), st)
}

func putTestRunRecord(t testing.TB, b *store.Bucket, id string, tr TestRun) {
	t.Helper()
	putStatusJSON(t, b, store.TestRunKey(id), tr)
}

func putStatusJSON(t testing.TB, b *store.Bucket, key string, v any) {
	t.Helper()
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WriteBytes(context.Background(), key, append(data, '\n'), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
}

// statusTestEnv is an out bucket in a temp directory, open for writing
// records, and a status server on it.
type statusTestEnv struct {
	out    *store.Bucket
	srv    *StatusServer
	addr   string // http://<bound address>
	logBuf *statusLogBuffer
}

type statusLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *statusLogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *statusLogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newStatusTestEnv writes the fixtures (and whatever setup writes) and
// starts a server with cfg (Out and Addr filled in) running until the test
// ends.
func newStatusTestEnv(t *testing.T, cfg ServeConfig, setup func(b *store.Bucket)) *statusTestEnv {
	t.Helper()
	ctx := context.Background()
	cfg.Out = "file://" + t.TempDir()
	cfg.Addr = "127.0.0.1:0"
	out, err := store.Open(ctx, cfg.Out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	putStatusFixtures(t, out)
	if setup != nil {
		setup(out)
	}
	env := &statusTestEnv{out: out, logBuf: &statusLogBuffer{}}
	log := slog.New(slog.NewTextHandler(env.logBuf, nil))
	s, err := NewStatusServer(ctx, cfg, log)
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
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return env
}

func statusTestConfig() ServeConfig {
	cfg := DefaultServeConfig()
	cfg.BaseURL = statusTestBase
	cfg.ScanInterval = time.Hour // scans only where a test asks for them
	return cfg
}

// do sends a request for path (or an absolute URL under the base URL) and
// returns the response with its body read, the identity representation
// unless the request asks for gzip, following no redirects.
func (env *statusTestEnv) do(t *testing.T, method, path string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	path = strings.TrimPrefix(path, statusTestBase)
	req, err := http.NewRequest(method, env.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	c := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{DisableCompression: true},
		Timeout:       10 * time.Second,
	}
	resp, err := c.Do(req)
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

// feed fetches and parses a status document, failing unless it is 200.
func (env *statusTestEnv) feed(t *testing.T, path string) (*feed.Feed, []byte) {
	t.Helper()
	resp, body := env.do(t, "GET", path, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	f, err := feed.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return f, body
}

// runIDs returns the run ids of f's entries, in order.
func statusRunIDs(f *feed.Feed) []string {
	var ids []string
	for _, e := range f.Entries {
		ids = append(ids, strings.TrimPrefix(e.ID, StatusFeedID+":"))
	}
	return ids
}

func statusCategories(e *feed.Entry, scheme string) []string {
	var out []string
	for _, c := range e.Categories {
		if c.Scheme == scheme {
			out = append(out, c.Term)
		}
	}
	return out
}

func TestStatusServer_Feed(t *testing.T) {
	env := newStatusTestEnv(t, statusTestConfig(), nil)
	f, body := env.feed(t, "/status.atom")
	feedtest.Jing(t, body)

	if got, want := statusRunIDs(f), []string{sidFirefox, sidDup, sidEmpty, sidFirefoxBad, sidChrome, sidEdge}; !slices.Equal(got, want) {
		t.Fatalf("entries: got %v, want %v (newest upload first)", got, want)
	}
	if f.ID != StatusFeedID || f.Link("self") != statusTestBase+"/status.atom" || f.Author.Name == "" {
		t.Errorf("feed: id %q, self %q, author %q", f.ID, f.Link("self"), f.Author.Name)
	}
	if want := statusTestIngested(sidFirefox); !f.Updated.Equal(want) {
		t.Errorf("feed updated: got %v, want %v (the newest entry's)", f.Updated, want)
	}
	if env.srv.URL() != statusTestBase {
		t.Errorf("URL: got %q, want %q", env.srv.URL(), statusTestBase)
	}

	entries := map[string]*feed.Entry{}
	for i := range f.Entries {
		entries[statusRunIDs(f)[i]] = &f.Entries[i]
	}
	for _, tc := range []struct {
		id       string
		title    string
		state    string
		summary  []string // substrings
		product  []string
		labels   []string
		manifest bool
	}{
		{sidChrome, "VALID: chrome 131.0 linux @ 24278ab617", StateValid,
			[]string{"is VALID: 120 tests, 3400 subtests", "Warnings (1):", "- duplicate_resolved: 2 copies resolved to one (test /dom/a.html)", "Feed entry: tag:wptfeed.org,2026:run:" + sidChrome},
			[]string{"chrome"}, []string{"buildbot", "chrome", "stable"}, true},
		{sidFirefoxBad, "INVALID (not_json): firefox run " + sidFirefoxBad, StateInvalid,
			[]string{"is INVALID (not_json): shard-000.json.gz: line 1, column 1: invalid character 'x'"},
			[]string{"firefox"}, nil, true},
		{sidEmpty, "EMPTY (empty): run " + sidEmpty, StateEmpty,
			[]string{"is EMPTY (empty): the report has no results"}, nil, nil, false},
		{sidDup, "DUPLICATE (duplicate_run): chrome run " + sidDup, "DUPLICATE",
			[]string{"is DUPLICATE (duplicate_run): the same report as run " + sidChrome}, []string{"chrome"}, []string{"chrome", "dev", "experimental"}, true},
		{sidFirefox, "VALID: firefox 140.0a1 linux @ 0123456789", StateValid,
			[]string{"Warnings (12):", "- unknown_status: unknown status 9", "- … and 2 more: " + statusTestBase + "/api/status/" + sidFirefox},
			[]string{"firefox"}, []string{"experimental", "firefox", "nightly"}, true},
		{sidEdge, "INVALID (missing_metadata): edgechromium run " + sidEdge, StateInvalid,
			[]string{"run_info lacks browser_version"}, []string{"edgechromium"}, nil, true},
	} {
		t.Run(tc.id, func(t *testing.T) {
			e := entries[tc.id]
			if e.ID != StatusEntryID(tc.id) {
				t.Errorf("id: got %q, want %q", e.ID, StatusEntryID(tc.id))
			}
			if e.Title != tc.title {
				t.Errorf("title: got %q, want %q", e.Title, tc.title)
			}
			if !e.Updated.Equal(statusTestIngested(tc.id)) {
				t.Errorf("updated: got %v, want %v", e.Updated, statusTestIngested(tc.id))
			}
			for _, s := range tc.summary {
				if !strings.Contains(e.Summary, s) {
					t.Errorf("summary lacks %q:\n%s", s, e.Summary)
				}
			}
			if strings.Contains(e.Summary, "unknown status 10") {
				t.Errorf("summary lists more than %d warnings:\n%s", summaryWarnings, e.Summary)
			}
			if got := statusCategories(e, StatusSchemeState); !slices.Equal(got, []string{tc.state}) {
				t.Errorf("state categories: got %v, want [%s]", got, tc.state)
			}
			if got := statusCategories(e, feed.SchemeProduct); !slices.Equal(got, tc.product) {
				t.Errorf("product categories: got %v, want %v", got, tc.product)
			}
			if got := statusCategories(e, feed.SchemeLabel); !slices.Equal(got, tc.labels) {
				t.Errorf("label categories: got %v, want %v", got, tc.labels)
			}
			if got, want := e.Link("alternate"), statusTestBase+"/api/status/"+tc.id; got != want {
				t.Errorf("alternate: got %q, want %q", got, want)
			}
			want := ""
			if tc.manifest {
				want = statusTestManifest(tc.id)
			}
			if got := e.Link("related"); got != want {
				t.Errorf("related: got %q, want %q", got, want)
			}
		})
	}
}

func TestStatusServer_DefaultBaseURL(t *testing.T) {
	cfg := statusTestConfig()
	cfg.BaseURL = ""
	env := newStatusTestEnv(t, cfg, nil)
	if env.srv.URL() != env.addr {
		t.Fatalf("URL: got %q, want %q", env.srv.URL(), env.addr)
	}
	f, _ := env.feed(t, "/status.atom")
	if got, want := f.Entries[0].Link("alternate"), env.addr+"/api/status/"+sidFirefox; got != want {
		t.Errorf("alternate: got %q, want %q", got, want)
	}
	resp, _ := env.do(t, "GET", strings.TrimPrefix(f.Entries[0].Link("alternate"), env.addr), nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("alternate link: %s", resp.Status)
	}
}

func TestStatusServer_Filters(t *testing.T) {
	env := newStatusTestEnv(t, statusTestConfig(), nil)
	var docs [][]byte
	for _, tc := range []struct {
		name  string
		query string
		canon string // the canonical query of self links and ids
		want  []string
	}{
		{"product", "product=chrome", "product=chrome", []string{sidDup, sidChrome}},
		{"product of invalid runs", "product=firefox", "product=firefox", []string{sidFirefox, sidFirefoxBad}},
		{"normalised product", "product=edge", "product=edge", []string{sidEdge}},
		{"declared product", "product=edgechromium", "product=edgechromium", []string{sidEdge}},
		{"two products", "product=firefox&product=chrome", "product=chrome&product=firefox", []string{sidFirefox, sidDup, sidFirefoxBad, sidChrome}},
		{"comma-separated", "product=+firefox,chrome,", "product=chrome&product=firefox", []string{sidFirefox, sidDup, sidFirefoxBad, sidChrome}},
		{"label", "label=experimental", "label=experimental", []string{sidFirefox, sidDup}},
		{"two labels", "label=stable&label=nightly", "label=nightly&label=stable", []string{sidFirefox, sidChrome}},
		{"label from product name", "label=firefox", "label=firefox", []string{sidFirefox, sidFirefoxBad}},
		{"product and label", "product=chrome&label=experimental", "label=experimental&product=chrome", []string{sidDup}},
		{"nothing matches", "product=safari", "product=safari", nil},
		{"empty value", "product=", "", []string{sidFirefox, sidDup, sidEmpty, sidFirefoxBad, sidChrome, sidEdge}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, body := env.feed(t, "/status.atom?"+tc.query)
			docs = append(docs, body)
			if got := statusRunIDs(f); !slices.Equal(got, tc.want) {
				t.Errorf("entries: got %v, want %v", got, tc.want)
			}
			q := ""
			if tc.canon != "" {
				q = "?" + tc.canon
			}
			if got, want := f.Link("self"), statusTestBase+"/status.atom"+q; got != want {
				t.Errorf("self: got %q, want %q", got, want)
			}
			wantID := StatusFeedID
			if tc.canon != "" {
				wantID += ":" + tc.canon
			}
			if f.ID != wantID {
				t.Errorf("id: got %q, want %q", f.ID, wantID)
			}
		})
	}
	feedtest.Jing(t, docs...)

	resp, _ := env.do(t, "GET", "/status.atom?os=linux", nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown parameter: got %s, want 400", resp.Status)
	}
}

func TestStatusServer_MaxEntries(t *testing.T) {
	cfg := statusTestConfig()
	cfg.MaxEntries = 2
	env := newStatusTestEnv(t, cfg, nil)
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{sidFirefox, sidDup}},
		// A filtered view holds the newest matching records, however old.
		{"?product=edge,firefox", []string{sidFirefox, sidFirefoxBad}},
		{"?label=stable", []string{sidChrome}},
	} {
		f, _ := env.feed(t, "/status.atom"+tc.query)
		if got := statusRunIDs(f); !slices.Equal(got, tc.want) {
			t.Errorf("%q: got %v, want %v", tc.query, got, tc.want)
		}
	}
}

func TestStatusServer_HTTP(t *testing.T) {
	cfg := statusTestConfig()
	cfg.ScanInterval = 7 * time.Second // only the max-age: no scan runs during the test
	env := newStatusTestEnv(t, cfg, nil)
	resp, body := env.do(t, "GET", "/status.atom", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != feed.ContentType {
		t.Fatalf("feed: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if etag != feed.ETag(body) {
		t.Errorf("ETag: got %q, want %q (strong, over the body)", etag, feed.ETag(body))
	}
	if want := statusTestIngested(sidFirefox).Format(http.TimeFormat); lm != want {
		t.Errorf("Last-Modified: got %q, want %q", lm, want)
	}
	if got := resp.Header.Get("Cache-Control"); got != "public, max-age=7" {
		t.Errorf("Cache-Control: got %q, want %q", got, "public, max-age=7")
	}

	recordBody, err := env.out.ReadAll(context.Background(), store.StatusKey(sidChrome))
	if err != nil {
		t.Fatal(err)
	}
	recordETag := feed.ETag(recordBody)
	api := "/api/status/" + sidChrome

	for _, tc := range []struct {
		name   string
		method string
		path   string
		header map[string]string
		code   int
		body   bool
	}{
		{"if-none-match", "GET", "/status.atom", map[string]string{"If-None-Match": etag}, 304, false},
		{"if-none-match, other etag", "GET", "/status.atom", map[string]string{"If-None-Match": `"other"`}, 200, true},
		{"if-modified-since", "GET", "/status.atom", map[string]string{"If-Modified-Since": lm}, 304, false},
		{"head", "HEAD", "/status.atom", nil, 200, false},
		{"filtered if-none-match", "GET", "/status.atom?product=chrome", map[string]string{"If-None-Match": etag}, 200, true},
		{"post", "POST", "/status.atom", nil, 405, true},
		{"record", "GET", api, nil, 200, true},
		{"record if-none-match", "GET", api, map[string]string{"If-None-Match": recordETag}, 304, false},
		{"record head", "HEAD", api, nil, 200, false},
		{"record not processed", "GET", "/api/status/20261127T150000Z-notyet", nil, 404, true},
		{"record bad id", "GET", "/api/status/nope", nil, 404, true},
		{"record with .json", "GET", api + ".json", nil, 404, true},
		{"record traversal", "GET", "/api/status/..%2Ftestruns%2F" + sidChrome, nil, 404, true},
		{"record deeper", "GET", api + "/x", nil, 404, true},
		{"healthz", "GET", "/healthz", nil, 200, true},
		{"unknown path", "GET", "/feed.atom", nil, 404, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := env.do(t, tc.method, tc.path, tc.header)
			if resp.StatusCode != tc.code {
				t.Fatalf("got %s, want %d: %s", resp.Status, tc.code, body)
			}
			if got := len(body) > 0; got != tc.body {
				t.Errorf("body: got %d bytes, want body %v", len(body), tc.body)
			}
			if resp.StatusCode == 304 || tc.method == "HEAD" {
				if resp.Header.Get("ETag") == "" {
					t.Errorf("no ETag on %s", resp.Status)
				}
			}
		})
	}

	t.Run("record body", func(t *testing.T) {
		resp, body := env.do(t, "GET", api, nil)
		if !bytes.Equal(body, recordBody) {
			t.Errorf("body: got %s, want the stored record %s", body, recordBody)
		}
		if got := resp.Header.Get("Content-Type"); got != "application/json" {
			t.Errorf("Content-Type: got %q, want application/json", got)
		}
		if got := resp.Header.Get("ETag"); got != recordETag {
			t.Errorf("ETag: got %q, want %q", got, recordETag)
		}
		if got, want := resp.Header.Get("Last-Modified"), statusTestIngested(sidChrome).Format(http.TimeFormat); got != want {
			t.Errorf("Last-Modified: got %q, want %q", got, want)
		}
		var st Status
		if err := json.Unmarshal(body, &st); err != nil || st.RunID != sidChrome || st.State != StateValid {
			t.Errorf("record: %+v, %v", st, err)
		}
	})

	t.Run("gzip", func(t *testing.T) {
		resp, zbody := env.do(t, "GET", "/status.atom", map[string]string{"Accept-Encoding": "gzip"})
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("Content-Encoding: got %q, want gzip", resp.Header.Get("Content-Encoding"))
		}
		zetag := resp.Header.Get("ETag")
		if zetag == etag || !strings.HasSuffix(zetag, `-gz"`) {
			t.Errorf("gzip ETag: got %q, want a strong tag of its own", zetag)
		}
		zr, err := gzip.NewReader(bytes.NewReader(zbody))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(plain, body) {
			t.Error("gzip body differs from the identity body")
		}
		resp, zbody = env.do(t, "GET", "/status.atom", map[string]string{"Accept-Encoding": "gzip", "If-None-Match": zetag})
		if resp.StatusCode != 304 || len(zbody) != 0 {
			t.Errorf("gzip if-none-match: got %s with %d bytes, want 304 without body", resp.Status, len(zbody))
		}
	})

	t.Run("metrics", func(t *testing.T) {
		_, body := env.do(t, "GET", "/metrics", nil)
		for _, want := range []string{
			`ingester_serve_status_records{state="VALID"} 2`,
			`ingester_serve_status_records{state="INVALID"} 2`,
			`ingester_serve_http_requests_total{code="304",route="GET /status.atom"}`,
		} {
			if !bytes.Contains(body, []byte(want)) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}

func TestStatusServer_Scan(t *testing.T) {
	cfg := statusTestConfig()
	cfg.ScanInterval = 20 * time.Millisecond
	cfg.FullScan = 20 * time.Millisecond // the records' ids are of a fixed day: full scans only
	const bad = "20261127T160000Z-broken"
	env := newStatusTestEnv(t, cfg, func(b *store.Bucket) {
		ctx := context.Background()
		// Skipped, and logged: a record that does not decode, and keys that
		// are not records.
		if err := b.WriteBytes(ctx, store.StatusKey(bad), []byte("{"), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := b.WriteBytes(ctx, "status/README.txt", []byte("hi"), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	if !strings.Contains(env.logBuf.String(), bad) {
		t.Errorf("log does not name the unreadable record %s:\n%s", bad, env.logBuf.String())
	}
	resp, _ := env.do(t, "GET", "/status.atom", nil)
	etag := resp.Header.Get("ETag")

	// A new run appears within a scan, newest first; the record of a run
	// already indexed is not read again (records are write-once).
	const newID = "20261127T150000Z-new07"
	putStatusRecord(t, env.out, Status{
		RunID: newID, State: StateInvalid, Code: "bad_gzip", Error: "shard-000.json.gz: unexpected EOF",
		Product: "safari", Ingested: statusTestIngested(newID),
	})
	putStatusRecord(t, env.out, Status{RunID: sidEmpty, State: StateValid, Ingested: statusTestIngested(sidEmpty)})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body := env.do(t, "GET", "/status.atom", map[string]string{"If-None-Match": etag})
		if resp.StatusCode == http.StatusOK {
			f, err := feed.Parse(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := statusRunIDs(f), []string{newID, sidFirefox, sidDup, sidEmpty, sidFirefoxBad, sidChrome, sidEdge}; !slices.Equal(got, want) {
				t.Fatalf("entries after a scan: got %v, want %v", got, want)
			}
			if got, want := f.Entries[0].Title, "INVALID (bad_gzip): safari run "+newID; got != want {
				t.Errorf("new entry: got %q, want %q", got, want)
			}
			if got := statusCategories(&f.Entries[3], StatusSchemeState); !slices.Equal(got, []string{StateEmpty}) {
				t.Errorf("a record was read again: state %v, want [EMPTY]", got)
			}
			if !f.Updated.Equal(statusTestIngested(newID)) {
				t.Errorf("updated: got %v, want %v", f.Updated, statusTestIngested(newID))
			}
			break
		}
		if resp.StatusCode != http.StatusNotModified {
			t.Fatalf("got %s", resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatal("the new record did not appear")
		}
		time.Sleep(10 * time.Millisecond)
	}
	f, body := env.feed(t, "/status.atom?product=safari")
	if got := statusRunIDs(f); !slices.Equal(got, []string{newID}) {
		t.Errorf("filtered after a scan: got %v, want [%s]", got, newID)
	}
	feedtest.Jing(t, body)
}

// TestStatusServer_ScanRecent: a quick scan reads the records of today's
// and yesterday's runs only; a full scan finds the rest.
func TestStatusServer_ScanRecent(t *testing.T) {
	ctx := context.Background()
	cfg := statusTestConfig()
	cfg.Out, cfg.Addr = t.TempDir(), "127.0.0.1:0"
	s, err := NewStatusServer(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 3, 1, 0, 30, 0, 0, time.UTC) // yesterday is Feb 28
	for _, id := range []string{"20260301T002000Z-today", "20260228T235900Z-yesterday", "20260227T120000Z-older", "20250301T002000Z-lastyear"} {
		putStatusRecord(t, s.out, Status{RunID: id, State: StateEmpty, Ingested: now})
	}
	if err := s.ScanRecent(ctx, now); err != nil {
		t.Fatal(err)
	}
	if got := s.count(); got != 2 {
		t.Errorf("after a quick scan: %d records, want 2 (today's and yesterday's)", got)
	}
	if err := s.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.count(); got != 4 {
		t.Errorf("after a full scan: %d records, want 4", got)
	}
	// A full scan at most once per age, however often asked.
	putStatusRecord(t, s.out, Status{RunID: "20240101T000000Z-late", State: StateEmpty, Ingested: now})
	if full, err := s.ScanIfOlder(ctx, time.Hour); full || err != nil {
		t.Errorf("ScanIfOlder(1h) right after a scan: got full %v, %v; want no listing", full, err)
	}
	if got := s.count(); got != 4 {
		t.Errorf("after a skipped scan: %d records, want 4", got)
	}
	if full, err := s.ScanIfOlder(ctx, 0); !full || err != nil {
		t.Fatalf("ScanIfOlder(0): got full %v, %v; want a listing", full, err)
	}
	if got := s.count(); got != 5 {
		t.Errorf("after ScanIfOlder(0): %d records, want 5", got)
	}
}

func TestStatusServer_EmptyBucket(t *testing.T) {
	ctx := context.Background()
	cfg := statusTestConfig()
	cfg.Out, cfg.Addr = t.TempDir(), "127.0.0.1:0"
	s, err := NewStatusServer(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := &http.Server{Handler: s.Handler()}
	go srv.Serve(s.ln)
	defer srv.Close()
	env := &statusTestEnv{srv: s, addr: "http://" + s.Addr()}
	f, body := env.feed(t, "/status.atom")
	if len(f.Entries) != 0 || !f.Updated.Equal(time.Unix(0, 0)) {
		t.Errorf("empty feed: %d entries, updated %v", len(f.Entries), f.Updated)
	}
	feedtest.Jing(t, body)
}

func TestServeConfig_Validate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*ServeConfig)
		ok   bool
	}{
		{"defaults", func(*ServeConfig) {}, true},
		{"base url", func(c *ServeConfig) { c.BaseURL = "https://status.example.org/x/" }, true},
		{"no out", func(c *ServeConfig) { c.Out = "" }, false},
		{"no addr", func(c *ServeConfig) { c.Addr = "" }, false},
		{"zero scan interval", func(c *ServeConfig) { c.ScanInterval = 0 }, false},
		{"zero full scan interval", func(c *ServeConfig) { c.FullScan = 0 }, false},
		{"zero max entries", func(c *ServeConfig) { c.MaxEntries = 0 }, false},
		{"huge max entries", func(c *ServeConfig) { c.MaxEntries = maxServeEntries + 1 }, false},
		{"base url not http", func(c *ServeConfig) { c.BaseURL = "ftp://x" }, false},
		{"base url without host", func(c *ServeConfig) { c.BaseURL = "http://" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultServeConfig()
			tc.edit(&c)
			if err := c.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate: got %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestServeCmd(t *testing.T) {
	dir := t.TempDir()
	t.Run("serves until cancelled", func(t *testing.T) {
		var stderr statusLogBuffer
		cmd := newServeCmd(&stderr)
		cmd.SetArgs([]string{"--out", dir, "--addr", "127.0.0.1:0", "--scan-interval", "10ms", "--max-entries", "3", "--base-url", statusTestBase})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		go func() { // stop once it serves
			for ctx.Err() == nil && !strings.Contains(stderr.String(), "status server serving") {
				time.Sleep(5 * time.Millisecond)
			}
			time.Sleep(30 * time.Millisecond) // a few scans
			cancel()
		}()
		if err := cmd.ExecuteContext(ctx); err != nil {
			t.Fatalf("serve: %v", err)
		}
		if !strings.Contains(stderr.String(), "status server serving") || !strings.Contains(stderr.String(), statusTestBase) {
			t.Errorf("log:\n%s", stderr.String())
		}
	})
	t.Run("invalid flags", func(t *testing.T) {
		cmd := newServeCmd(io.Discard)
		cmd.SetArgs([]string{"--out", dir, "--max-entries", "0"})
		if err := cmd.ExecuteContext(context.Background()); err == nil {
			t.Error("--max-entries 0: got nil error")
		}
	})
}
