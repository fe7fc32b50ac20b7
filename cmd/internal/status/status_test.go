package status

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
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/feed/feedtest"
	"github.com/wptfeed/wptfeed/internal/testutil"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
)

const testBase = "https://status.test"

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
	revChrome  = "24278ab61781de72ed363b866ae6b50b86822b27"
	revFirefox = "0123456789abcdef0123456789abcdef01234567"
)

func ingestedAt(id string) time.Time {
	t, _ := store.RunTime(id)
	return t.Add(5 * time.Minute).UTC()
}

func pageURL(id string) string { return "https://feed.test/runs/" + id + "/" }

func manifestURL(id string) string {
	return "https://feed.test/runs/" + id + "/manifest.json"
}

// putFixtures writes the records an ingester would have written for
// six runs: every state, a record from before status records carried
// product and labels (its TestRun has them), and one that failed before its
// product was normalised.
func putFixtures(t testing.TB, b *store.Bucket) {
	t.Helper()
	var many []report.Warning
	for i := range 12 {
		many = append(many, report.Warning{Code: report.WarnUnknownStatus, Message: fmt.Sprintf("unknown status %d", i)})
	}
	putRecord(t, b, records.Status{
		RunID: sidEdge, State: records.StateInvalid, Code: "missing_metadata",
		Error:     "shard-000.json.gz: run_info lacks browser_version",
		FeedEntry: "tag:wptfeed.org,2026:run:" + sidEdge, Manifest: manifestURL(sidEdge),
		Product: "edgechromium", Ingested: ingestedAt(sidEdge),
	})
	putRecord(t, b, records.Status{
		RunID: sidChrome, State: records.StateValid,
		Warnings:  []report.Warning{{Code: report.WarnDuplicateResolved, Message: "2 copies resolved to one", Test: "/dom/a.html"}},
		FeedEntry: "tag:wptfeed.org,2026:run:" + sidChrome, Manifest: manifestURL(sidChrome), Page: pageURL(sidChrome),
		Product: "chrome", Labels: []string{"buildbot", "chrome", "stable"},
		TestRunID: records.TestRunID(sidChrome), ProductID: "chrome-131.0-linux-abcdef0123", Revision: revChrome,
		ResultsURL: "https://results.test/" + revChrome + "/chrome-131.0-linux-abcdef0123-summary_v2.json.gz",
		Tests:      120, Subtests: 3400, Ingested: ingestedAt(sidChrome),
	})
	putTestRun(t, b, sidChrome, records.TestRun{
		ID: records.TestRunID(sidChrome), BrowserName: "chrome", BrowserVersion: "131.0", OSName: "linux",
		Revision: revChrome[:10], FullRevisionHash: revChrome, Labels: []string{"buildbot", "chrome", "stable"},
	})
	putRecord(t, b, records.Status{
		RunID: sidFirefoxBad, State: records.StateInvalid, Code: "not_json",
		Error:     "shard-000.json.gz: line 1, column 1: invalid character 'x' looking for beginning of value",
		FeedEntry: "tag:wptfeed.org,2026:run:" + sidFirefoxBad, Manifest: manifestURL(sidFirefoxBad),
		Product: "firefox", Ingested: ingestedAt(sidFirefoxBad),
	})
	putRecord(t, b, records.Status{
		RunID: sidEmpty, State: records.StateEmpty, Code: "empty", Error: "the report has no results",
		FeedEntry: "tag:wptfeed.org,2026:run:" + sidEmpty, Ingested: ingestedAt(sidEmpty),
	})
	putRecord(t, b, records.Status{
		RunID: sidDup, State: "DUPLICATE", Code: "duplicate_run", Error: "the same report as run " + sidChrome,
		FeedEntry: "tag:wptfeed.org,2026:run:" + sidDup, Manifest: manifestURL(sidDup),
		Product: "chrome", Labels: []string{"chrome", "dev", "experimental"}, Ingested: ingestedAt(sidDup),
	})
	// Written before status records carried product and labels.
	putRecord(t, b, records.Status{
		RunID: sidFirefox, State: records.StateValid, Warnings: many,
		FeedEntry: "tag:wptfeed.org,2026:run:" + sidFirefox, Manifest: manifestURL(sidFirefox),
		TestRunID: records.TestRunID(sidFirefox), Revision: revFirefox,
		Tests: 7, Subtests: 70, Ingested: ingestedAt(sidFirefox),
	})
	putTestRun(t, b, sidFirefox, records.TestRun{
		ID: records.TestRunID(sidFirefox), BrowserName: "firefox", BrowserVersion: "140.0a1", OSName: "linux",
		Revision: revFirefox[:10], FullRevisionHash: revFirefox, Labels: []string{"experimental", "firefox", "nightly"},
	})
}

func putRecord(t testing.TB, b *store.Bucket, st records.Status) {
	t.Helper()
	putJSON(t, b, store.StatusKey(st.RunID), st)
}

func putTestRun(t testing.TB, b *store.Bucket, id string, tr records.TestRun) {
	t.Helper()
	putJSON(t, b, store.TestRunKey(id), tr)
}

func putJSON(t testing.TB, b *store.Bucket, key string, v any) {
	t.Helper()
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WriteBytes(context.Background(), key, append(data, '\n'), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
}

// testEnv is an out bucket in a temp directory, open for writing
// records, and a status server on it.
type testEnv struct {
	out    *store.Bucket
	srv    *Server
	addr   string // http://<bound address>
	logBuf *testutil.SyncBuffer
}

// newTestEnv writes the fixtures (and whatever setup writes) and
// starts a server with cfg (Out and Addr filled in) running until the test
// ends.
func newTestEnv(t *testing.T, cfg Config, setup func(b *store.Bucket)) *testEnv {
	t.Helper()
	ctx := context.Background()
	cfg.Addr = "127.0.0.1:0"
	out, err := store.Open(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	putFixtures(t, out)
	if setup != nil {
		setup(out)
	}
	env := &testEnv{out: out, logBuf: &testutil.SyncBuffer{}}
	log := slog.New(slog.NewTextHandler(env.logBuf, nil))
	s, err := New(ctx, cfg, out, log)
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

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.BaseURL = testBase
	cfg.ScanInterval = time.Hour // scans only where a test asks for them
	return cfg
}

// do sends a request for path (or an absolute URL under the base URL) and
// returns the response with its body read, the identity representation
// unless the request asks for gzip, following no redirects.
func (env *testEnv) do(t *testing.T, method, path string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	path = strings.TrimPrefix(path, testBase)
	return testutil.Do(t, method, env.addr+path, header)
}

// feed fetches and parses a status document, failing unless it is 200.
func (env *testEnv) feed(t *testing.T, path string) (*feed.Feed, []byte) {
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
func runIDs(f *feed.Feed) []string {
	var ids []string
	for _, e := range f.Entries {
		ids = append(ids, strings.TrimPrefix(e.ID, FeedID+":"))
	}
	return ids
}

func categories(e *feed.Entry, scheme string) []string {
	var out []string
	for _, c := range e.Categories {
		if c.Scheme == scheme {
			out = append(out, c.Term)
		}
	}
	return out
}

func TestStatusServer_Feed(t *testing.T) {
	env := newTestEnv(t, testConfig(), nil)
	f, body := env.feed(t, "/status.atom")
	feedtest.Jing(t, body)

	if got, want := runIDs(f), []string{sidFirefox, sidDup, sidEmpty, sidFirefoxBad, sidChrome, sidEdge}; !slices.Equal(got, want) {
		t.Fatalf("entries: got %v, want %v (newest upload first)", got, want)
	}
	if f.ID != FeedID || f.Link("self") != testBase+"/status.atom" || f.Author.Name == "" {
		t.Errorf("feed: id %q, self %q, author %q", f.ID, f.Link("self"), f.Author.Name)
	}
	if want := ingestedAt(sidFirefox); !f.Updated.Equal(want) {
		t.Errorf("feed updated: got %v, want %v (the newest entry's)", f.Updated, want)
	}
	if env.srv.URL() != testBase {
		t.Errorf("URL: got %q, want %q", env.srv.URL(), testBase)
	}

	entries := map[string]*feed.Entry{}
	for i := range f.Entries {
		entries[runIDs(f)[i]] = &f.Entries[i]
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
		{sidChrome, "VALID: chrome 131.0 linux @ 24278ab617", records.StateValid,
			[]string{"is VALID: 120 tests, 3400 subtests", "Warnings (1):", "- duplicate_resolved: 2 copies resolved to one (test /dom/a.html)", "Feed entry: tag:wptfeed.org,2026:run:" + sidChrome},
			[]string{"chrome"}, []string{"buildbot", "chrome", "stable"}, true},
		{sidFirefoxBad, "INVALID (not_json): firefox run " + sidFirefoxBad, records.StateInvalid,
			[]string{"is INVALID (not_json): shard-000.json.gz: line 1, column 1: invalid character 'x'"},
			[]string{"firefox"}, nil, true},
		{sidEmpty, "EMPTY (empty): run " + sidEmpty, records.StateEmpty,
			[]string{"is EMPTY (empty): the report has no results"}, nil, nil, false},
		{sidDup, "DUPLICATE (duplicate_run): chrome run " + sidDup, "DUPLICATE",
			[]string{"is DUPLICATE (duplicate_run): the same report as run " + sidChrome}, []string{"chrome"}, []string{"chrome", "dev", "experimental"}, true},
		{sidFirefox, "VALID: firefox 140.0a1 linux @ 0123456789", records.StateValid,
			[]string{"Warnings (12):", "- unknown_status: unknown status 9", "- … and 2 more: " + testBase + "/api/status/" + sidFirefox},
			[]string{"firefox"}, []string{"experimental", "firefox", "nightly"}, true},
		{sidEdge, "INVALID (missing_metadata): edgechromium run " + sidEdge, records.StateInvalid,
			[]string{"run_info lacks browser_version"}, []string{"edgechromium"}, nil, true},
	} {
		t.Run(tc.id, func(t *testing.T) {
			e := entries[tc.id]
			if e.ID != EntryID(tc.id) {
				t.Errorf("id: got %q, want %q", e.ID, EntryID(tc.id))
			}
			if e.Title != tc.title {
				t.Errorf("title: got %q, want %q", e.Title, tc.title)
			}
			if !e.Updated.Equal(ingestedAt(tc.id)) {
				t.Errorf("updated: got %v, want %v", e.Updated, ingestedAt(tc.id))
			}
			for _, s := range tc.summary {
				if !strings.Contains(e.Summary, s) {
					t.Errorf("summary lacks %q:\n%s", s, e.Summary)
				}
			}
			if strings.Contains(e.Summary, "unknown status 10") {
				t.Errorf("summary lists more than %d warnings:\n%s", summaryWarnings, e.Summary)
			}
			if got := categories(e, SchemeState); !slices.Equal(got, []string{tc.state}) {
				t.Errorf("state categories: got %v, want [%s]", got, tc.state)
			}
			if got := categories(e, feed.SchemeProduct); !slices.Equal(got, tc.product) {
				t.Errorf("product categories: got %v, want %v", got, tc.product)
			}
			if got := categories(e, feed.SchemeLabel); !slices.Equal(got, tc.labels) {
				t.Errorf("label categories: got %v, want %v", got, tc.labels)
			}
			// The run's page first, when the record knows it, then the
			// status record; published is when the status was recorded.
			var alts []string
			for _, l := range e.Links {
				if l.Rel == "alternate" {
					alts = append(alts, l.Type+" "+l.Href)
				}
			}
			wantAlts := []string{"application/json " + testBase + "/api/status/" + tc.id}
			if tc.id == sidChrome {
				wantAlts = append([]string{"text/html " + pageURL(tc.id)}, wantAlts...)
			}
			if !slices.Equal(alts, wantAlts) {
				t.Errorf("alternates: got %v, want %v", alts, wantAlts)
			}
			if !e.Published.Equal(ingestedAt(tc.id)) {
				t.Errorf("published: got %v, want %v", e.Published, ingestedAt(tc.id))
			}
			want := ""
			if tc.manifest {
				want = manifestURL(tc.id)
			}
			if got := e.Link("related"); got != want {
				t.Errorf("related: got %q, want %q", got, want)
			}
		})
	}
}

func TestStatusServer_DefaultBaseURL(t *testing.T) {
	cfg := testConfig()
	cfg.BaseURL = ""
	env := newTestEnv(t, cfg, nil)
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
	env := newTestEnv(t, testConfig(), nil)
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
			if got := runIDs(f); !slices.Equal(got, tc.want) {
				t.Errorf("entries: got %v, want %v", got, tc.want)
			}
			q := ""
			if tc.canon != "" {
				q = "?" + tc.canon
			}
			if got, want := f.Link("self"), testBase+"/status.atom"+q; got != want {
				t.Errorf("self: got %q, want %q", got, want)
			}
			wantID := FeedID
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
	cfg := testConfig()
	cfg.MaxEntries = 2
	env := newTestEnv(t, cfg, nil)
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
		if got := runIDs(f); !slices.Equal(got, tc.want) {
			t.Errorf("%q: got %v, want %v", tc.query, got, tc.want)
		}
	}
}

func TestStatusServer_HTTP(t *testing.T) {
	cfg := testConfig()
	cfg.ScanInterval = 7 * time.Second // only the max-age: no scan runs during the test
	env := newTestEnv(t, cfg, nil)
	resp, body := env.do(t, "GET", "/status.atom", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != feed.ContentType {
		t.Fatalf("feed: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if etag != feed.ETag(body) {
		t.Errorf("ETag: got %q, want %q (strong, over the body)", etag, feed.ETag(body))
	}
	if want := ingestedAt(sidFirefox).Format(http.TimeFormat); lm != want {
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
		if got, want := resp.Header.Get("Last-Modified"), ingestedAt(sidChrome).Format(http.TimeFormat); got != want {
			t.Errorf("Last-Modified: got %q, want %q", got, want)
		}
		var st records.Status
		if err := json.Unmarshal(body, &st); err != nil || st.RunID != sidChrome || st.State != records.StateValid {
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
	cfg := testConfig()
	cfg.ScanInterval = 20 * time.Millisecond
	cfg.FullScan = 20 * time.Millisecond // the records' ids are of a fixed day: full scans only
	const bad = "20261127T160000Z-broken"
	env := newTestEnv(t, cfg, func(b *store.Bucket) {
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
	putRecord(t, env.out, records.Status{
		RunID: newID, State: records.StateInvalid, Code: "bad_gzip", Error: "shard-000.json.gz: unexpected EOF",
		Product: "safari", Ingested: ingestedAt(newID),
	})
	putRecord(t, env.out, records.Status{RunID: sidEmpty, State: records.StateValid, Ingested: ingestedAt(sidEmpty)})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body := env.do(t, "GET", "/status.atom", map[string]string{"If-None-Match": etag})
		if resp.StatusCode == http.StatusOK {
			f, err := feed.Parse(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := runIDs(f), []string{newID, sidFirefox, sidDup, sidEmpty, sidFirefoxBad, sidChrome, sidEdge}; !slices.Equal(got, want) {
				t.Fatalf("entries after a scan: got %v, want %v", got, want)
			}
			if got, want := f.Entries[0].Title, "INVALID (bad_gzip): safari run "+newID; got != want {
				t.Errorf("new entry: got %q, want %q", got, want)
			}
			if got := categories(&f.Entries[3], SchemeState); !slices.Equal(got, []string{records.StateEmpty}) {
				t.Errorf("a record was read again: state %v, want [EMPTY]", got)
			}
			if !f.Updated.Equal(ingestedAt(newID)) {
				t.Errorf("updated: got %v, want %v", f.Updated, ingestedAt(newID))
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
	if got := runIDs(f); !slices.Equal(got, []string{newID}) {
		t.Errorf("filtered after a scan: got %v, want [%s]", got, newID)
	}
	feedtest.Jing(t, body)
}

// TestStatusServer_ScanRecent: a quick scan reads the records of today's
// and yesterday's runs only; a full scan finds the rest.
func TestStatusServer_ScanRecent(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig()
	cfg.Addr = "127.0.0.1:0"
	s, err := New(ctx, cfg, openBucket(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 3, 1, 0, 30, 0, 0, time.UTC) // yesterday is Feb 28
	for _, id := range []string{"20260301T002000Z-today", "20260228T235900Z-yesterday", "20260227T120000Z-older", "20250301T002000Z-lastyear"} {
		putRecord(t, s.out, records.Status{RunID: id, State: records.StateEmpty, Ingested: now})
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
	putRecord(t, s.out, records.Status{RunID: "20240101T000000Z-late", State: records.StateEmpty, Ingested: now})
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
	cfg := testConfig()
	cfg.Addr = "127.0.0.1:0"
	s, err := New(ctx, cfg, openBucket(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := &http.Server{Handler: s.Handler()}
	go srv.Serve(s.ln)
	defer srv.Close()
	env := &testEnv{srv: s, addr: "http://" + s.Addr()}
	f, body := env.feed(t, "/status.atom")
	if len(f.Entries) != 0 || !f.Updated.Equal(time.Unix(0, 0)) {
		t.Errorf("empty feed: %d entries, updated %v", len(f.Entries), f.Updated)
	}
	feedtest.Jing(t, body)
}

func TestServeConfig_Validate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"defaults", func(*Config) {}, true},
		{"base url", func(c *Config) { c.BaseURL = "https://status.example.org/x/" }, true},
		{"no addr", func(c *Config) { c.Addr = "" }, false},
		{"zero scan interval", func(c *Config) { c.ScanInterval = 0 }, false},
		{"zero full scan interval", func(c *Config) { c.FullScan = 0 }, false},
		{"zero max entries", func(c *Config) { c.MaxEntries = 0 }, false},
		{"huge max entries", func(c *Config) { c.MaxEntries = maxEntries + 1 }, false},
		{"base url not http", func(c *Config) { c.BaseURL = "ftp://x" }, false},
		{"base url without host", func(c *Config) { c.BaseURL = "http://" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			if err := c.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate: got %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// openBucket opens a file bucket in a temp directory, closed when the
// test ends.
func openBucket(t *testing.T) *store.Bucket {
	t.Helper()
	b, err := store.Open(context.Background(), "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
