package poll

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/lease"
	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/store"
)

// The tests run a Poller against a fake publisher: an httptest server (on
// 127.0.0.1) that serves feed documents built with package feed through
// feed.Serve (ETag, Last-Modified, 304) and one small wptreport per run,
// and records every request. The out bucket is memblob.

// baseTime is the upload time of run 0; run i was uploaded i minutes later.
var baseTime = time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)

// runID is the run id of run i; ids sort by upload time, as real ones do.
func runID(i int) string { return fmt.Sprintf("20261127T%02d%02d00Z-r%d", i/60, i%60, i) }

// tinyReport is a valid one-test wptreport; each run gets its own revision,
// so that no run is a DUPLICATE of another.
func tinyReport(i int) []byte {
	return fmt.Appendf(nil, `{"results":[{"test":"/a.html","status":"OK","subtests":[{"name":"x","status":"PASS"}]}],`+
		`"run_info":{"product":"chrome","browser_version":"1.0","os":"linux","revision":"%040x"},"time_start":%d,"time_end":%d}`,
		i+1, baseTime.UnixMilli()+int64(i), baseTime.UnixMilli()+int64(i)+1)
}

// request is what the fake publisher saw of one request and answered.
type request struct {
	path            string
	ifNoneMatch     string
	ifModifiedSince string
	at              time.Time // when it arrived
	status          int
	etag            string // of the response
	lastModified    string // of the response
}

// publisher is a fake publisher. Documents and enclosures can be replaced
// while a poller runs.
type publisher struct {
	srv          *httptest.Server
	cacheControl string // of feed documents

	mu   sync.Mutex
	docs map[string]*feed.Document
	encs map[string]http.HandlerFunc
	reqs []request
}

func newPublisher(t *testing.T) *publisher {
	t.Helper()
	p := &publisher{cacheControl: "public, max-age=7", docs: map[string]*feed.Document{}, encs: map[string]http.HandlerFunc{}}
	p.srv = httptest.NewServer(p)
	t.Cleanup(p.srv.Close)
	return p
}

// codeWriter records the status a handler wrote.
type codeWriter struct {
	http.ResponseWriter
	status int
}

func (w *codeWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *codeWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *codeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (p *publisher) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	sw := &codeWriter{ResponseWriter: w}
	p.mu.Lock()
	doc, enc := p.docs[r.URL.Path], p.encs[r.URL.Path]
	p.mu.Unlock()
	switch {
	case doc != nil:
		feed.Serve(sw, r, doc)
	case enc != nil:
		enc(sw, r)
	default:
		http.NotFound(sw, r)
	}
	p.mu.Lock()
	p.reqs = append(p.reqs, request{
		path: r.URL.Path, ifNoneMatch: r.Header.Get("If-None-Match"), ifModifiedSince: r.Header.Get("If-Modified-Since"),
		at: at, status: sw.status, etag: w.Header().Get("ETag"), lastModified: w.Header().Get("Last-Modified"),
	})
	p.mu.Unlock()
}

func (p *publisher) url(path string) string { return p.srv.URL + path }

// requests returns the requests received from the n-th on.
func (p *publisher) requests(from int) []request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.reqs[min(from, len(p.reqs)):])
}

func (p *publisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.reqs)
}

// paths returns the paths of reqs that start with prefix, in order.
func paths(reqs []request, prefix string) []string {
	var out []string
	for _, r := range reqs {
		if strings.HasPrefix(r.path, prefix) {
			out = append(out, r.path)
		}
	}
	return out
}

// enclosurePath is where the publisher serves run i's one shard.
func enclosurePath(i int) string { return "/runs/" + runID(i) + "/shard.json" }

func (p *publisher) setEnclosure(i int, h http.HandlerFunc) {
	p.mu.Lock()
	p.encs[enclosurePath(i)] = h
	p.mu.Unlock()
}

// serveReport makes run i's enclosure its tiny report.
func (p *publisher) serveReport(i int) {
	body := tinyReport(i)
	p.setEnclosure(i, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
}

// entry is run i's feed entry, with one enclosure at href.
func entry(i int, href string) feed.Entry {
	id := runID(i)
	up := baseTime.Add(time.Duration(i) * time.Minute)
	return feed.Entry{
		ID:      "tag:wptfeed.org,2026:run:" + id,
		Title:   "run " + id,
		Updated: up,
		Links: []feed.Link{
			{Rel: "alternate", Href: "http://publisher.invalid/runs/" + id + "/manifest.json", Type: "application/json"},
			{Rel: "enclosure", Href: href, Type: "application/json"},
		},
		Run: &feed.Run{ID: id, Product: "chrome", Revision: fmt.Sprintf("%040x", i+1), Uploaded: up},
	}
}

// run is run i's entry, with its report served by p.
func (p *publisher) run(i int) feed.Entry {
	p.serveReport(i)
	return entry(i, p.url(enclosurePath(i)))
}

// runs returns the entries of runs from, from+1, … to.
func (p *publisher) runs(from, to int) []feed.Entry {
	var es []feed.Entry
	for i := from; i <= to; i++ {
		es = append(es, p.run(i))
	}
	return es
}

// serveDoc serves a feed document at path ("/feed.atom" is the subscription
// document, anything else an archive) linking prev-archive to prev (unless
// "") and listing entries, given oldest first, newest first as publishers
// do.
func (p *publisher) serveDoc(t *testing.T, path, prev string, entries ...feed.Entry) {
	t.Helper()
	f := &feed.Feed{
		ID: "tag:wptfeed.org,2026:feed", Title: "runs " + path, Updated: baseTime,
		Author: feed.Person{Name: "test"},
		Links:  []feed.Link{{Rel: "self", Href: p.url(path), Type: "application/atom+xml"}},
	}
	if path != "/feed.atom" {
		f.Archive = true
		f.Links = append(f.Links, feed.Link{Rel: "current", Href: p.url("/feed.atom"), Type: "application/atom+xml"})
	}
	if prev != "" {
		f.Links = append(f.Links, feed.Link{Rel: "prev-archive", Href: p.url(prev), Type: "application/atom+xml"})
	}
	for i := len(entries) - 1; i >= 0; i-- {
		f.Entries = append(f.Entries, entries[i])
		if entries[i].Updated.After(f.Updated) {
			f.Updated = entries[i].Updated
		}
	}
	doc, err := feed.NewDocument(f, p.cacheControl)
	if err != nil {
		t.Fatalf("feed.NewDocument(%s): %v", path, err)
	}
	p.mu.Lock()
	p.docs[path] = doc
	p.mu.Unlock()
}

// testConfig is DefaultConfig made fast: ms delays, one attempt, one
// worker (so runs are ingested strictly in order), no per-test files.
func testConfig(feedURL string) Config {
	cfg := DefaultConfig()
	cfg.Feed = feedURL
	cfg.Interval = 5 * time.Millisecond
	cfg.BackoffMax = 10 * time.Millisecond
	cfg.RetryDelay = 2 * time.Millisecond
	cfg.Retries = 1
	cfg.Workers = 1
	cfg.Timeout = 5 * time.Second
	cfg.LeaseTTL = time.Second
	cfg.PerTest = false
	cfg.Holder = "test-ingester"
	return cfg
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustOpen(t *testing.T, opts ...store.Option) *store.Bucket {
	t.Helper()
	b, err := store.Open(t.Context(), "mem://", opts...)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func mustNew(t *testing.T, cfg Config, b *store.Bucket) *Poller {
	t.Helper()
	p, err := New(cfg, b, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// readStatus reads run i's status record, and whether there is one.
func readStatus(t *testing.T, b *store.Bucket, i int) (records.Status, bool) {
	t.Helper()
	var st records.Status
	ok, err := b.ReadJSON(t.Context(), store.StatusKey(runID(i)), &st)
	if err != nil {
		t.Fatalf("read status of %s: %v", runID(i), err)
	}
	return st, ok
}

// wantProcessed checks which of runs 0..n-1 have a status record.
func wantProcessed(t *testing.T, b *store.Bucket, n int, want ...int) {
	t.Helper()
	var got []int
	for i := range n {
		if _, ok := readStatus(t, b, i); ok {
			got = append(got, i)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("runs with a status record: got %v, want %v", got, want)
	}
}

func exists(t *testing.T, b *store.Bucket, key string) bool {
	t.Helper()
	ok, err := b.Exists(t.Context(), key)
	if err != nil {
		t.Fatalf("Exists(%s): %v", key, err)
	}
	return ok
}

// TestPoller_Poll_Conditional: the first poll processes every run and saves
// the document's validators; the next poll, by the same Poller or by a new
// one on the same bucket, sends them, gets 304 and processes nothing.
func TestPoller_Poll_Conditional(t *testing.T) {
	ctx := testContext(t)
	pub := newPublisher(t)
	pub.serveDoc(t, "/feed.atom", "", pub.runs(0, 2)...)
	b := mustOpen(t)
	cfg := testConfig(pub.url("/feed.atom"))
	cfg.BackoffMax = time.Minute // above the 7 s max-age, which is honoured
	ing := mustNew(t, cfg, b)

	wait, err := ing.Poll(ctx)
	if err != nil {
		t.Fatalf("first Poll: %v", err)
	}
	if wait != 7*time.Second {
		t.Errorf("first Poll: wait got %v, want %v (max-age)", wait, 7*time.Second)
	}
	first := pub.requests(0)
	if first[0].path != "/feed.atom" || first[0].status != http.StatusOK || first[0].ifNoneMatch != "" || first[0].ifModifiedSince != "" {
		t.Fatalf("first request: got %+v, want an unconditional GET /feed.atom answered 200", first[0])
	}
	if got, want := paths(first, "/runs/"), []string{enclosurePath(0), enclosurePath(1), enclosurePath(2)}; !slices.Equal(got, want) {
		t.Errorf("enclosures fetched: got %v, want %v", got, want)
	}
	for i := range 3 {
		st, ok := readStatus(t, b, i)
		if !ok || st.State != records.StateValid {
			t.Errorf("run %d: status %+v (exists %v), want VALID", i, st, ok)
		}
	}
	var ps pollState
	if ok, err := b.ReadJSON(ctx, store.PollStateKey(cfg.Feed), &ps); err != nil || !ok {
		t.Fatalf("poll state: exists %v, err %v; want saved", ok, err)
	}
	if ps.ETag == "" || ps.ETag != first[0].etag {
		t.Errorf("saved ETag: got %q, want %q", ps.ETag, first[0].etag)
	}
	if ps.LastModified == "" || ps.LastModified != first[0].lastModified {
		t.Errorf("saved Last-Modified: got %q, want %q", ps.LastModified, first[0].lastModified)
	}
	if ps.Feed != cfg.Feed {
		t.Errorf("saved feed: got %q, want %q", ps.Feed, cfg.Feed)
	}

	for _, tc := range []struct {
		name string
		ing  *Poller
	}{
		{"same poller", ing},
		{"new poller on the same bucket", mustNew(t, cfg, b)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := pub.count()
			wait, err := tc.ing.Poll(ctx)
			if err != nil {
				t.Fatalf("Poll: %v", err)
			}
			if wait != 7*time.Second {
				t.Errorf("wait got %v, want %v (max-age of the 304)", wait, 7*time.Second)
			}
			reqs := pub.requests(n)
			if len(reqs) != 1 {
				t.Fatalf("requests: got %d (%v), want 1 (the feed only)", len(reqs), paths(reqs, ""))
			}
			r := reqs[0]
			if r.ifNoneMatch != first[0].etag {
				t.Errorf("If-None-Match: got %q, want %q", r.ifNoneMatch, first[0].etag)
			}
			if r.ifModifiedSince != first[0].lastModified {
				t.Errorf("If-Modified-Since: got %q, want %q", r.ifModifiedSince, first[0].lastModified)
			}
			if r.status != http.StatusNotModified {
				t.Errorf("status: got %d, want 304", r.status)
			}
		})
	}
}

// TestPoller_Poll_CatchUp: the first poll walks prev-archive to the oldest
// archive and ingests every run oldest first, marking each archive
// processed; once the publisher archives more runs, the next poll (of a
// new Poller: the state is in the bucket) reads the new archive and stops
// at the newest processed one.
func TestPoller_Poll_CatchUp(t *testing.T) {
	ctx := testContext(t)
	pub := newPublisher(t)
	pub.serveDoc(t, "/archive/1.atom", "", pub.runs(0, 1)...)
	pub.serveDoc(t, "/archive/2.atom", "/archive/1.atom", pub.runs(2, 3)...)
	pub.serveDoc(t, "/feed.atom", "/archive/2.atom", pub.runs(4, 5)...)
	b := mustOpen(t)
	cfg := testConfig(pub.url("/feed.atom"))

	if _, err := mustNew(t, cfg, b).Poll(ctx); err != nil {
		t.Fatalf("first Poll: %v", err)
	}
	reqs := pub.requests(0)
	if got, want := paths(reqs, "/"), []string{
		"/feed.atom", "/archive/2.atom", "/archive/1.atom",
		enclosurePath(0), enclosurePath(1), enclosurePath(2), enclosurePath(3), enclosurePath(4), enclosurePath(5),
	}; !slices.Equal(got, want) {
		t.Errorf("first poll's requests:\n got %v\nwant %v", got, want)
	}
	wantProcessed(t, b, 6, 0, 1, 2, 3, 4, 5)
	// The status records' times agree with the order of the requests.
	var last time.Time
	for i := range 6 {
		st, _ := readStatus(t, b, i)
		if st.Ingested.Before(last) {
			t.Errorf("run %d ingested at %v, before the previous run (%v)", i, st.Ingested, last)
		}
		last = st.Ingested
	}
	for _, a := range []string{"/archive/1.atom", "/archive/2.atom"} {
		var as archiveState
		if ok, err := b.ReadJSON(ctx, store.ArchiveStateKey(pub.url(a)), &as); err != nil || !ok {
			t.Errorf("%s: archive mark exists %v, err %v; want marked", a, ok, err)
		} else if as.URL != pub.url(a) || as.Entries != 2 {
			t.Errorf("%s: archive mark got %+v, want url %s and 2 entries", a, as, pub.url(a))
		}
	}
	if exists(t, b, store.ArchiveStateKey(cfg.Feed)) {
		t.Errorf("the subscription document got an archive mark")
	}

	// The publisher archives runs 4 and 5 and lists 6 and 7.
	pub.serveDoc(t, "/archive/3.atom", "/archive/2.atom", pub.runs(4, 5)...)
	pub.serveDoc(t, "/feed.atom", "/archive/3.atom", pub.runs(6, 7)...)
	n := pub.count()
	if _, err := mustNew(t, cfg, b).Poll(ctx); err != nil {
		t.Fatalf("second Poll: %v", err)
	}
	if got, want := paths(pub.requests(n), "/"), []string{
		"/feed.atom", "/archive/3.atom", enclosurePath(6), enclosurePath(7),
	}; !slices.Equal(got, want) {
		t.Errorf("second poll's requests:\n got %v\nwant %v", got, want)
	}
	wantProcessed(t, b, 8, 0, 1, 2, 3, 4, 5, 6, 7)
	if !exists(t, b, store.ArchiveStateKey(pub.url("/archive/3.atom"))) {
		t.Errorf("/archive/3.atom: not marked processed")
	}
}

// TestPoller_Poll_MaxArchives: a catch-up walk reads at most MaxArchives
// archive documents; the first one it did not read is recorded as skipped
// history, and its runs are not ingested.
func TestPoller_Poll_MaxArchives(t *testing.T) {
	cases := []struct {
		name        string
		max         int
		wantDocs    []string
		wantRuns    []int
		wantSkipped string // path of the first unread archive; "" = none
	}{
		{"no cap", 0, []string{"/feed.atom", "/archive/2.atom", "/archive/1.atom"}, []int{0, 1, 2}, ""},
		{"cap of 1", 1, []string{"/feed.atom", "/archive/2.atom"}, []int{1, 2}, "/archive/1.atom"},
		{"cap equal to the history", 2, []string{"/feed.atom", "/archive/2.atom", "/archive/1.atom"}, []int{0, 1, 2}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			pub := newPublisher(t)
			pub.serveDoc(t, "/archive/1.atom", "", pub.run(0))
			pub.serveDoc(t, "/archive/2.atom", "/archive/1.atom", pub.run(1))
			pub.serveDoc(t, "/feed.atom", "/archive/2.atom", pub.run(2))
			b := mustOpen(t)
			cfg := testConfig(pub.url("/feed.atom"))
			cfg.MaxArchives = tc.max

			if _, err := mustNew(t, cfg, b).Poll(ctx); err != nil {
				t.Fatalf("Poll: %v", err)
			}
			if got := paths(pub.requests(0), "/feed.atom"); len(got) != 1 {
				t.Errorf("subscription document fetched %d times, want 1", len(got))
			}
			if got := append(paths(pub.requests(0), "/feed.atom"), paths(pub.requests(0), "/archive/")...); !slices.Equal(got, tc.wantDocs) {
				t.Errorf("documents fetched: got %v, want %v", got, tc.wantDocs)
			}
			wantProcessed(t, b, 3, tc.wantRuns...)
			for _, a := range []string{"/archive/1.atom", "/archive/2.atom"} {
				var ss skippedState
				ok, err := b.ReadJSON(ctx, store.SkippedStateKey(pub.url(a)), &ss)
				if err != nil {
					t.Fatal(err)
				}
				if want := a == tc.wantSkipped; ok != want {
					t.Errorf("%s: skipped record exists %v, want %v", a, ok, want)
					continue
				}
				if !ok {
					continue
				}
				if ss.Archive != pub.url(a) || ss.Feed != cfg.Feed || ss.Reason != fmt.Sprintf("--max-archives %d", tc.max) || ss.Recorded.IsZero() {
					t.Errorf("%s: skipped record got %+v, want archive %s, feed %s, reason --max-archives %d", a, ss, pub.url(a), cfg.Feed, tc.max)
				}
			}
		})
	}
}

// TestPoller_Run_OnceTakesOverExpiredLease: with Once, a run whose lease
// another ingester holds is waited for; when that lease expires without a
// status record, the poller takes it over (the next generation) and
// processes the run, then releases the lease.
func TestPoller_Run_OnceTakesOverExpiredLease(t *testing.T) {
	ctx := testContext(t)
	pub := newPublisher(t)
	pub.serveDoc(t, "/feed.atom", "", pub.run(0))

	type write struct {
		key string
		at  time.Time
	}
	var (
		mu     sync.Mutex
		writes []write
	)
	b := mustOpen(t, store.WithFaults(func(op, key string) error {
		if op == "write" && strings.HasPrefix(key, store.LeasePrefix(runID(0))) {
			mu.Lock()
			writes = append(writes, write{key, time.Now()})
			mu.Unlock()
		}
		return nil
	}))
	start := time.Now()
	if _, err := lease.Acquire(ctx, b, runID(0), "other-ingester", time.Second, start); err != nil {
		t.Fatalf("lease.Acquire: %v", err)
	}
	expiry := start.Add(time.Second)

	cfg := testConfig(pub.url("/feed.atom"))
	cfg.Once = true
	if err := mustNew(t, cfg, b).Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Run took %v, want about the lease's 1s", elapsed)
	}
	st, ok := readStatus(t, b, 0)
	if !ok || st.State != records.StateValid {
		t.Fatalf("status: %+v (exists %v), want VALID", st, ok)
	}
	encs := slices.DeleteFunc(pub.requests(0), func(r request) bool { return r.path != enclosurePath(0) })
	if len(encs) != 1 {
		t.Fatalf("enclosure fetched %d times, want 1", len(encs))
	}
	if encs[0].at.Before(expiry) {
		t.Errorf("enclosure fetched at %v, before the other ingester's lease expired (%v)", encs[0].at, expiry)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(writes) < 2 || writes[1].key != store.LeaseKey(runID(0), 2) {
		t.Fatalf("lease writes: got %v, want generation 1 (the other) then 2 (the takeover)", writes)
	}
	if writes[1].at.Before(expiry) {
		t.Errorf("generation 2 written at %v, before generation 1 expired (%v)", writes[1].at, expiry)
	}
	var left []string
	if err := b.List(ctx, store.LeasePrefix(runID(0)), "", func(o store.Object) bool { left = append(left, o.Key); return true }); err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("lease generations left after the run was processed: %v, want none", left)
	}
}

// TestPoller_Poll_LiveLeaseNotProcessed: without Once, a run whose lease
// another ingester holds is left to it: not fetched, not processed, its
// lease untouched; the poll says it is not finished (errRunsHeld, with a
// wait until the lease expires) and saves no validators.
func TestPoller_Poll_LiveLeaseNotProcessed(t *testing.T) {
	ctx := testContext(t)
	pub := newPublisher(t)
	pub.serveDoc(t, "/feed.atom", "", pub.runs(0, 1)...)
	b := mustOpen(t)
	if _, err := lease.Acquire(ctx, b, runID(0), "other-ingester", time.Minute, time.Now()); err != nil {
		t.Fatalf("lease.Acquire: %v", err)
	}
	cfg := testConfig(pub.url("/feed.atom"))
	cfg.BackoffMax = time.Hour
	wait, err := mustNew(t, cfg, b).Poll(ctx)
	if !errors.Is(err, errRunsHeld) || !strings.Contains(err.Error(), runID(0)) {
		t.Fatalf("Poll: got %v, want errRunsHeld naming %s", err, runID(0))
	}
	if wait < 50*time.Second || wait > time.Minute {
		t.Errorf("wait: got %v, want the lease's minute left", wait)
	}
	if ok, _ := b.Exists(ctx, store.PollStateKey(cfg.Feed)); ok {
		t.Error("validators saved while a listed run has no status")
	}
	wantProcessed(t, b, 2, 1)
	if got := paths(pub.requests(0), "/runs/"); !slices.Equal(got, []string{enclosurePath(1)}) {
		t.Errorf("enclosures fetched: got %v, want only run 1's", got)
	}
	var keys []string
	if err := b.List(ctx, store.LeasePrefix(runID(0)), "", func(o store.Object) bool { keys = append(keys, o.Key); return true }); err != nil {
		t.Fatal(err)
	}
	if want := []string{store.LeaseKey(runID(0), 1)}; !slices.Equal(keys, want) {
		t.Errorf("lease generations of the leased run: got %v, want %v (the other's, untouched)", keys, want)
	}
}

// TestPoller_Poll_LeasedRunRetriedAfterHolderDies: a run skipped because
// another ingester held its lease must be tried again once that lease
// expires (the other ingester died), even when it sits in an archive.
func TestPoller_Poll_LeasedRunRetriedAfterHolderDies(t *testing.T) {
	ctx := testContext(t)
	pub := newPublisher(t)
	pub.serveDoc(t, "/archive/1.atom", "", pub.run(0))
	pub.serveDoc(t, "/feed.atom", "/archive/1.atom", pub.run(1))
	b := mustOpen(t)
	start := time.Now()
	if _, err := lease.Acquire(ctx, b, runID(0), "dead-ingester", time.Second, start); err != nil {
		t.Fatalf("lease.Acquire: %v", err)
	}
	cfg := testConfig(pub.url("/feed.atom"))
	ing := mustNew(t, cfg, b)
	if _, err := ing.Poll(ctx); err != nil {
		t.Logf("first Poll: %v", err)
	}
	wantProcessed(t, b, 3, 1)

	// The lease expires; the publisher lists a new run.
	time.Sleep(time.Until(start.Add(time.Second + 50*time.Millisecond)))
	pub.serveDoc(t, "/feed.atom", "/archive/1.atom", pub.runs(1, 2)...)
	if _, err := ing.Poll(ctx); err != nil {
		t.Fatalf("second Poll: %v", err)
	}
	wantProcessed(t, b, 3, 0, 1, 2)
}

// TestPoller_Poll_ValidatorsAfterEveryRun: a run that cannot be finished
// (its enclosure answers 503) fails the poll with its id, keeps the
// subscription document's validators unsaved and its archive unmarked,
// as well as every newer archive; once the enclosure works, the next poll
// is unconditional, finishes it, then marks the archives and saves the
// validators.
func TestPoller_Poll_ValidatorsAfterEveryRun(t *testing.T) {
	ctx := testContext(t)
	pub := newPublisher(t)
	pub.serveDoc(t, "/archive/1.atom", "", pub.run(0))
	pub.serveDoc(t, "/archive/2.atom", "/archive/1.atom", pub.run(1))
	pub.serveDoc(t, "/archive/3.atom", "/archive/2.atom", pub.run(2))
	pub.serveDoc(t, "/feed.atom", "/archive/3.atom", pub.run(3))
	pub.setEnclosure(1, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	})
	b := mustOpen(t)
	cfg := testConfig(pub.url("/feed.atom"))
	cfg.Retries = 2
	ing := mustNew(t, cfg, b)

	_, err := ing.Poll(ctx)
	if err == nil || !strings.Contains(err.Error(), runID(1)) {
		t.Fatalf("first Poll: got error %v, want one naming %s", err, runID(1))
	}
	if got := paths(pub.requests(0), enclosurePath(1)); len(got) != cfg.Retries {
		t.Errorf("failing enclosure fetched %d times, want %d (Retries)", len(got), cfg.Retries)
	}
	wantProcessed(t, b, 4, 0, 2, 3)
	if exists(t, b, store.PollStateKey(cfg.Feed)) {
		t.Errorf("poll state saved although run 1 is not finished")
	}
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"/archive/1.atom", true},  // complete, and nothing older failed
		{"/archive/2.atom", false}, // run 1 failed
		{"/archive/3.atom", false}, // complete, but newer than a failed one
	} {
		if got := exists(t, b, store.ArchiveStateKey(pub.url(tc.path))); got != tc.want {
			t.Errorf("%s: marked processed %v, want %v", tc.path, got, tc.want)
		}
	}

	pub.serveReport(1)
	n := pub.count()
	if _, err := ing.Poll(ctx); err != nil {
		t.Fatalf("second Poll: %v", err)
	}
	reqs := pub.requests(n)
	if reqs[0].path != "/feed.atom" || reqs[0].ifNoneMatch != "" || reqs[0].ifModifiedSince != "" {
		t.Errorf("second poll's first request: got %+v, want an unconditional GET /feed.atom", reqs[0])
	}
	if got, want := paths(reqs, "/"), []string{"/feed.atom", "/archive/3.atom", "/archive/2.atom", enclosurePath(1)}; !slices.Equal(got, want) {
		t.Errorf("second poll's requests:\n got %v\nwant %v", got, want)
	}
	wantProcessed(t, b, 4, 0, 1, 2, 3)
	for _, a := range []string{"/archive/1.atom", "/archive/2.atom", "/archive/3.atom"} {
		if !exists(t, b, store.ArchiveStateKey(pub.url(a))) {
			t.Errorf("%s: not marked processed", a)
		}
	}
	var ps pollState
	if ok, err := b.ReadJSON(ctx, store.PollStateKey(cfg.Feed), &ps); err != nil || !ok {
		t.Fatalf("poll state: exists %v, err %v; want saved", ok, err)
	}
	if ps.ETag != reqs[0].etag {
		t.Errorf("saved ETag: got %q, want %q", ps.ETag, reqs[0].etag)
	}
}

// TestPoller_Poll_PermanentFailures: an enclosure that will never be had
// makes the run INVALID with a code, after MissingRetries polls for a
// missing one and at once otherwise; the poll then succeeds.
func TestPoller_Poll_PermanentFailures(t *testing.T) {
	const maxEnclosure = 512
	// padded is a valid report of more than maxEnclosure bytes.
	padded := append(tinyReport(0)[:len(tinyReport(0))-1], []byte(strings.Repeat(" ", 2*maxEnclosure)+"}")...)
	cases := []struct {
		name  string
		other bool                                // the enclosure is on the other origin
		serve func(other string) http.HandlerFunc // the publisher's enclosure; other is the other origin's URL
		allow bool                                // allow the other origin
		polls int                                 // polls until the run has a status record
		state string
		code  string
		hits  int // requests the other origin must have received
	}{
		{
			name:  "404 for --missing-retries polls",
			serve: func(string) http.HandlerFunc { return http.NotFound },
			polls: 2, state: records.StateInvalid, code: "enclosure_missing",
		},
		{
			name: "410 for --missing-retries polls",
			serve: func(string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { http.Error(w, "gone", http.StatusGone) }
			},
			polls: 2, state: records.StateInvalid, code: "enclosure_missing",
		},
		{
			name: "403",
			serve: func(string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusForbidden) }
			},
			polls: 1, state: records.StateInvalid, code: "enclosure_unavailable",
		},
		{
			name:  "other origin",
			other: true,
			polls: 1, state: records.StateInvalid, code: "enclosure_refused",
		},
		{
			name: "redirect to another origin",
			serve: func(other string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, other+"/report.json", http.StatusFound)
				}
			},
			polls: 1, state: records.StateInvalid, code: "enclosure_refused",
		},
		{
			name:  "other origin, allowed",
			other: true, allow: true,
			polls: 1, state: records.StateValid, hits: 1,
		},
		{
			name: "too large by Content-Length",
			serve: func(string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { w.Write(padded) }
			},
			polls: 1, state: records.StateInvalid, code: "enclosure_too_large",
		},
		{
			name: "too large while streaming",
			serve: func(string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					// Flushed before the end: chunked, with no Content-Length.
					w.Write(padded[:10])
					http.NewResponseController(w).Flush()
					w.Write(padded[10:])
				}
			},
			polls: 1, state: records.StateInvalid, code: "enclosure_too_large",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			var (
				mu    sync.Mutex
				hits  int
				pub   = newPublisher(t)
				body  = tinyReport(0)
				other = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					mu.Lock()
					hits++
					mu.Unlock()
					w.Write(body)
				}))
			)
			defer other.Close()
			href := pub.url(enclosurePath(0))
			if tc.other {
				href = other.URL + "/report.json"
			}
			if tc.serve != nil {
				pub.setEnclosure(0, tc.serve(other.URL))
			}
			pub.serveDoc(t, "/feed.atom", "", entry(0, href))
			b := mustOpen(t)
			cfg := testConfig(pub.url("/feed.atom"))
			cfg.MissingRetries = 2
			cfg.MaxEnclosure = maxEnclosure
			if tc.allow {
				cfg.AllowOrigins = []string{other.URL}
			}
			ing := mustNew(t, cfg, b)

			for poll := 1; poll < tc.polls; poll++ {
				if _, err := ing.Poll(ctx); err == nil || !strings.Contains(err.Error(), runID(0)) {
					t.Errorf("poll %d: got error %v, want one naming the run", poll, err)
				}
				if st, ok := readStatus(t, b, 0); ok {
					t.Fatalf("poll %d: status %+v, want none before poll %d", poll, st, tc.polls)
				}
				var ms missingState
				if ok, err := b.ReadJSON(ctx, store.MissingStateKey(runID(0)), &ms); err != nil || !ok || ms.Polls != poll {
					t.Errorf("poll %d: missing count %+v (exists %v, err %v), want %d polls", poll, ms, ok, err, poll)
				}
			}
			if _, err := ing.Poll(ctx); err != nil {
				t.Fatalf("poll %d: %v", tc.polls, err)
			}
			st, ok := readStatus(t, b, 0)
			if !ok {
				t.Fatalf("no status record after %d polls", tc.polls)
			}
			if st.State != tc.state || st.Code != tc.code {
				t.Errorf("status: got %s %q (%s), want %s %q", st.State, st.Code, st.Error, tc.state, tc.code)
			}
			if tc.code != "" && st.Error == "" {
				t.Errorf("status of an INVALID run has no error message")
			}
			if exists(t, b, store.MissingStateKey(runID(0))) {
				t.Errorf("missing count left after the run got its status record")
			}
			if !exists(t, b, store.PollStateKey(cfg.Feed)) {
				t.Errorf("poll state not saved after the run got its status record")
			}
			mu.Lock()
			defer mu.Unlock()
			if hits != tc.hits {
				t.Errorf("requests to the other origin: got %d, want %d", hits, tc.hits)
			}
		})
	}
}

// TestPoller_Poll_MissingRetriesCountsPolls: --missing-retries counts
// polls, as documented, not attempts within one poll.
func TestPoller_Poll_MissingRetriesCountsPolls(t *testing.T) {
	ctx := testContext(t)
	pub := newPublisher(t)
	pub.serveDoc(t, "/feed.atom", "", entry(0, pub.url(enclosurePath(0))))
	b := mustOpen(t)
	cfg := testConfig(pub.url("/feed.atom"))
	cfg.Retries = 3
	cfg.MissingRetries = 3
	if _, err := mustNew(t, cfg, b).Poll(ctx); err == nil {
		t.Errorf("Poll: got no error, want one naming the run")
	}
	if st, ok := readStatus(t, b, 0); ok {
		t.Errorf("after 1 poll of 3: status %s %q, want none", st.State, st.Code)
	}
	var ms missingState
	if _, err := b.ReadJSON(ctx, store.MissingStateKey(runID(0)), &ms); err != nil || ms.Polls != 1 {
		t.Errorf("missing count: got %d (err %v), want 1", ms.Polls, err)
	}
}

// TestPoller_Run_UntilCancelled: without Once, Run polls every Interval
// (the document has no max-age; conditionally once the feed is processed)
// until its context ends, and then returns nil.
func TestPoller_Run_UntilCancelled(t *testing.T) {
	pub := newPublisher(t)
	pub.cacheControl = "no-cache"
	pub.serveDoc(t, "/feed.atom", "", pub.run(0))
	b := mustOpen(t)
	cfg := testConfig(pub.url("/feed.atom"))
	ing := mustNew(t, cfg, b)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	deadline := time.After(5 * time.Second)
	for len(slices.DeleteFunc(pub.requests(0), func(r request) bool { return r.status != http.StatusNotModified })) < 2 {
		select {
		case <-deadline:
			cancel()
			t.Fatalf("no two 304 polls within 5s; requests %v", paths(pub.requests(0), ""))
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: got %v, want nil after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancel")
	}
	wantProcessed(t, b, 1, 0)
	if got := paths(pub.requests(0), "/runs/"); len(got) != 1 {
		t.Errorf("enclosure fetched %d times, want 1", len(got))
	}
}

// TestPoller_Poll_FeedErrors: a feed that cannot be read fails the poll
// and processes nothing; a temporary failure returns Retry-After as the
// wait, and its error is a *feed.TemporaryError.
func TestPoller_Poll_FeedErrors(t *testing.T) {
	cases := []struct {
		name      string
		serve     http.HandlerFunc
		wantWait  time.Duration
		temporary bool
	}{
		{"503 with Retry-After", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "30")
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}, 30 * time.Second, true},
		{"404", http.NotFound, 0, false},
		{"not a feed", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html></html>") }, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			srv := httptest.NewServer(tc.serve)
			defer srv.Close()
			b := mustOpen(t)
			cfg := testConfig(srv.URL + "/feed.atom")
			wait, err := mustNew(t, cfg, b).Poll(ctx)
			if err == nil {
				t.Fatal("Poll: got no error")
			}
			var te *feed.TemporaryError
			if got := errors.As(err, &te); got != tc.temporary {
				t.Errorf("errors.As(%v, *feed.TemporaryError): got %v, want %v", err, got, tc.temporary)
			}
			if wait != tc.wantWait {
				t.Errorf("wait: got %v, want %v", wait, tc.wantWait)
			}
			if exists(t, b, store.PollStateKey(cfg.Feed)) {
				t.Errorf("poll state saved after a failed poll")
			}
		})
	}
}

// TestConfig_Validate: each rule of Validate, and DefaultConfig passes.
func TestConfig_Validate(t *testing.T) {
	cases := []struct {
		name    string
		change  func(*Config)
		wantErr string // a flag the error names; "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"feed not http", func(c *Config) { c.Feed = "ftp://x/feed.atom" }, "--feed"},
		{"feed without host", func(c *Config) { c.Feed = "http:///feed.atom" }, "--feed"},
		{"unknown layout", func(c *Config) { c.Layout = "zip" }, "--per-test-layout"},
		{"bad allowed origin", func(c *Config) { c.AllowOrigins = []string{"file:///x"} }, "--allow-origin"},
		{"zero interval", func(c *Config) { c.Interval = 0 }, "--interval"},
		{"zero retries", func(c *Config) { c.Retries = 0 }, "--retries"},
		{"zero workers", func(c *Config) { c.Workers = 0 }, "--workers"},
		{"zero missing retries", func(c *Config) { c.MissingRetries = 0 }, "--missing-retries"},
		{"negative max archives", func(c *Config) { c.MaxArchives = -1 }, "--max-archives"},
		{"short lease", func(c *Config) { c.LeaseTTL = 999 * time.Millisecond }, "--lease-ttl"},
		{"backoff below interval", func(c *Config) { c.BackoffMax = c.Interval - 1 }, "--backoff-max"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.change(&cfg)
			err := cfg.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate: got %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Validate: got %v, want an error naming %s", err, tc.wantErr)
			}
			if _, nerr := New(cfg, mustOpen(t), slog.New(slog.DiscardHandler)); (nerr == nil) != (err == nil) {
				t.Errorf("New: got %v, want Validate's error %v", nerr, err)
			}
		})
	}
}
