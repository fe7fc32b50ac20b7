package poll

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/store"
)

// multiConfig is testConfig following feeds, given as name, URL pairs.
func multiConfig(nameURL ...string) Config {
	cfg := testConfig("")
	cfg.Feed = ""
	for i := 0; i < len(nameURL); i += 2 {
		cfg.Feeds = append(cfg.Feeds, Feed{Name: nameURL[i], URL: nameURL[i+1]})
	}
	return cfg
}

// readFeedStatus reads the status record of run i of feed key ("" for the
// primary feed).
func readFeedStatus(t *testing.T, b *store.Bucket, key string, i int) (records.Status, bool) {
	t.Helper()
	var st records.Status
	ok, err := b.ReadJSON(t.Context(), store.StatusKey(store.FeedRunID(key, runID(i))), &st)
	if err != nil {
		t.Fatalf("read status of %s of %q: %v", runID(i), key, err)
	}
	return st, ok
}

func readTestRun(t *testing.T, b *store.Bucket, id string) records.TestRun {
	t.Helper()
	var tr records.TestRun
	if ok, err := b.ReadJSON(t.Context(), store.TestRunKey(id), &tr); err != nil || !ok {
		t.Fatalf("TestRun of %s: %v, found %v", id, err, ok)
	}
	return tr
}

// TestPoller_Run_FailingFeedsDelayNoOther: the primary feed answers 503
// with a Retry-After of an hour and a second feed never answers, while a
// third publishes 100 runs: all 100 are ingested while the stalled feed's
// request is still open and the failing feed has been asked once, that is
// without waiting for either. An ingester that polled its feeds one after
// another, or paused every feed for one feed's backoff, would never get
// there (the test fails at its deadline).
func TestPoller_Run_FailingFeedsDelayNoOther(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var downHits atomic.Int32
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		downHits.Add(1)
		w.Header().Set("Retry-After", "3600")
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	release := make(chan struct{})
	var slowOpen, slowDone atomic.Bool
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slowOpen.Store(true)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		slowDone.Store(true)
		http.Error(w, "too late", http.StatusServiceUnavailable)
	}))
	defer slow.Close()
	defer close(release)
	good := newPublisher(t)
	good.serveDoc(t, "/feed.atom", "", good.runs(0, 99)...)

	b := mustOpen(t)
	cfg := multiConfig("down", down.URL+"/feed.atom", "slow", slow.URL+"/feed.atom", "good", good.url("/feed.atom"))
	cfg.Interval, cfg.BackoffMax, cfg.Timeout, cfg.Workers = time.Hour, 2*time.Hour, time.Minute, 2
	ing := mustNew(t, cfg, b)
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- ing.Run(runCtx) }()

	done := 0
	for done < 100 {
		done = 0
		for i := range 100 {
			if st, ok := readFeedStatus(t, b, "good", i); ok {
				if st.State != records.StateValid || st.Feed != "good" {
					t.Fatalf("run %d: got %s of feed %q, want VALID of feed good", i, st.State, st.Feed)
				}
				done++
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("only %d of the 100 runs of the healthy feed ingested: it waited for another feed", done)
		}
		if done < 100 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if slowDone.Load() || !slowOpen.Load() {
		t.Errorf("stalled feed: open %v, answered %v; want its request open while the other feed's runs were ingested", slowOpen.Load(), slowDone.Load())
	}
	if n := downHits.Load(); n != 1 {
		t.Errorf("failing feed asked %d times, want once (its Retry-After is an hour)", n)
	}
	stop()
	if err := <-ran; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestPoller_HostileFeedCopiesIDs: a second feed that copies the first
// feed's entry ids and run ids, with reports of its own, and is ingested
// first, neither shadows nor overwrites the first feed's runs: they are
// ingested when the first feed lists them, under their own keys, with
// their own TestRun ids and outputs.
func TestPoller_HostileFeedCopiesIDs(t *testing.T) {
	ctx := testContext(t)
	main, hostile := newPublisher(t), newPublisher(t)
	main.serveDoc(t, "/feed.atom", "") // nothing yet
	var copies []feed.Entry
	for i := range 3 {
		e := entry(i, hostile.url(enclosurePath(i))) // the same entry id and run id as main's run i
		body := tinyReport(i + 50)                   // another report
		hostile.setEnclosure(i, func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
		copies = append(copies, e)
	}
	hostile.serveDoc(t, "/feed.atom", "", copies...)
	b := mustOpen(t)
	cfg := multiConfig("main", main.url("/feed.atom"), "hostile", hostile.url("/feed.atom"))
	if _, err := mustNew(t, cfg, b).Poll(ctx); err != nil {
		t.Fatalf("first Poll: %v", err)
	}
	wantProcessed(t, b, 3) // none of main's: it listed none
	main.serveDoc(t, "/feed.atom", "", main.runs(0, 2)...)
	if _, err := mustNew(t, cfg, b).Poll(ctx); err != nil {
		t.Fatalf("second Poll: %v", err)
	}
	for i := range 3 {
		mst, ok := readFeedStatus(t, b, "", i)
		if !ok || mst.State != records.StateValid || mst.Feed != "main" || mst.RunID != runID(i) {
			t.Fatalf("main's run %d: got %+v (found %v), want VALID of feed main under its run id", i, mst, ok)
		}
		hst, ok := readFeedStatus(t, b, "hostile", i)
		if !ok || hst.State != records.StateValid || hst.Feed != "hostile" || hst.RunID != runID(i)+"~hostile" {
			t.Fatalf("hostile's run %d: got %+v (found %v), want VALID of feed hostile", i, hst, ok)
		}
		mtr, htr := readTestRun(t, b, mst.RunID), readTestRun(t, b, hst.RunID)
		if mtr.ID != records.TestRunID(runID(i)) || mtr.ID == htr.ID {
			t.Errorf("run %d: TestRun ids main %d, hostile %d; want main's %d, and distinct", i, mtr.ID, htr.ID, records.TestRunID(runID(i)))
		}
		if want := fmt.Sprintf("%040x", i+1); mtr.FullRevisionHash != want {
			t.Errorf("main's run %d: revision %s, want its own report's %s", i, mtr.FullRevisionHash, want)
		}
		if htr.ResultsURL == mtr.ResultsURL {
			t.Errorf("run %d: both feeds' runs have results_url %s; want the hostile report's own", i, htr.ResultsURL)
		}
		if !exists(t, b, store.RunMetricsKey(hst.RunID)) || !exists(t, b, store.RunMetricsKey(mst.RunID)) {
			t.Errorf("run %d: metrics files of both feeds' runs expected under their own keys", i)
		}
	}
}

// TestPoller_Mirror: the same reports in two feeds are processed once when
// the primary's arrive first, the mirror's copies DUPLICATE pointing at
// them; when the mirror's arrive first, the primary's are still VALID:
// arrival order never makes a run of an earlier feed DUPLICATE.
func TestPoller_Mirror(t *testing.T) {
	for _, tc := range []struct {
		name        string
		mirrorFirst bool
	}{{"primary first", false}, {"mirror first", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			main, mirror := newPublisher(t), newPublisher(t)
			b := mustOpen(t)
			cfg := multiConfig("main", main.url("/feed.atom"), "mirror", mirror.url("/feed.atom"))
			first, second := main, mirror
			if tc.mirrorFirst {
				first, second = mirror, main
			}
			first.serveDoc(t, "/feed.atom", "", first.runs(0, 1)...)
			second.serveDoc(t, "/feed.atom", "")
			if _, err := mustNew(t, cfg, b).Poll(ctx); err != nil {
				t.Fatalf("first Poll: %v", err)
			}
			second.serveDoc(t, "/feed.atom", "", second.runs(0, 1)...)
			if _, err := mustNew(t, cfg, b).Poll(ctx); err != nil {
				t.Fatalf("second Poll: %v", err)
			}
			for i := range 2 {
				mst, _ := readFeedStatus(t, b, "", i)
				if mst.State != records.StateValid {
					t.Errorf("main's run %d: got %s, want VALID whatever came first", i, mst.State)
				}
				rst, _ := readFeedStatus(t, b, "mirror", i)
				want, dupOf := records.StateDuplicate, runID(i)
				if tc.mirrorFirst {
					want, dupOf = records.StateValid, ""
				}
				if rst.State != want || rst.DuplicateOf != dupOf {
					t.Errorf("mirror's run %d: got %s duplicate of %q, want %s duplicate of %q", i, rst.State, rst.DuplicateOf, want, dupOf)
				}
			}
		})
	}
}

// TestPoller_UpgradeToSeveralFeeds: state a single-feed ingester wrote
// keeps working when it is given a second feed: the first feed's document
// is asked for with its saved validators (304), none of its runs is
// fetched or processed again, and the new feed's runs are ingested under
// its name, with its labels.
func TestPoller_UpgradeToSeveralFeeds(t *testing.T) {
	ctx := testContext(t)
	old, added := newPublisher(t), newPublisher(t)
	old.serveDoc(t, "/feed.atom", "", old.runs(0, 2)...)
	added.serveDoc(t, "/feed.atom", "", added.runs(10, 11)...)
	b := mustOpen(t)
	if _, err := mustNew(t, testConfig(old.url("/feed.atom")), b).Poll(ctx); err != nil {
		t.Fatalf("single-feed Poll: %v", err)
	}
	before := map[int]records.Status{}
	for i := range 3 {
		st, ok := readStatus(t, b, i)
		if !ok || st.State != records.StateValid {
			t.Fatalf("run %d after the single-feed poll: %+v", i, st)
		}
		before[i] = st
	}
	etag := old.requests(0)[0].etag
	from := old.count()

	cfg := multiConfig("old", old.url("/feed.atom"), "added", added.url("/feed.atom"))
	cfg.Feeds[1].Labels = []string{"partner"}
	if _, err := mustNew(t, cfg, b).Poll(ctx); err != nil {
		t.Fatalf("two-feed Poll: %v", err)
	}
	reqs := old.requests(from)
	if len(reqs) != 1 || reqs[0].path != "/feed.atom" || reqs[0].ifNoneMatch != etag || reqs[0].status != http.StatusNotModified {
		t.Errorf("first feed after the upgrade: got %+v, want one GET /feed.atom with If-None-Match %s answered 304", reqs, etag)
	}
	for i := range 3 {
		if st, _ := readStatus(t, b, i); !st.Ingested.Equal(before[i].Ingested) || st.TestRunID != records.TestRunID(runID(i)) {
			t.Errorf("run %d: status record rewritten or TestRun id changed: %+v", i, st)
		}
	}
	for _, i := range []int{10, 11} {
		st, ok := readFeedStatus(t, b, "added", i)
		if !ok || st.State != records.StateValid || st.Feed != "added" || !slices.Contains(st.Labels, "partner") {
			t.Errorf("added feed's run %d: got %+v (found %v), want VALID of feed added with label partner", i, st, ok)
		}
		if exists(t, b, store.StatusKey(runID(i))) {
			t.Errorf("added feed's run %d is keyed as a run of the primary feed", i)
		}
	}
}

// TestPoller_PerFeedOrigins: an enclosure on an origin another feed allows
// is refused to a feed that does not.
func TestPoller_PerFeedOrigins(t *testing.T) {
	ctx := testContext(t)
	a, bpub, cdn := newPublisher(t), newPublisher(t), newPublisher(t)
	cdn.serveReport(0)
	cdn.serveReport(1)
	a.serveDoc(t, "/feed.atom", "", entry(0, cdn.url(enclosurePath(0))))
	bpub.serveDoc(t, "/feed.atom", "", entry(1, cdn.url(enclosurePath(1))))
	out := mustOpen(t)
	cfg := multiConfig("a", a.url("/feed.atom"), "b", bpub.url("/feed.atom"))
	cfg.Feeds[0].AllowOrigins = []string{cdn.url("")}
	if _, err := mustNew(t, cfg, out).Poll(ctx); err != nil {
		t.Fatalf("Poll: %v", err)
	}
	if st, _ := readFeedStatus(t, out, "", 0); st.State != records.StateValid {
		t.Errorf("a's run: got %s %s, want VALID (its origin is allowed)", st.State, st.Code)
	}
	if st, _ := readFeedStatus(t, out, "b", 1); st.State != records.StateInvalid || st.Code != "enclosure_refused" {
		t.Errorf("b's run: got %s %s, want INVALID enclosure_refused", st.State, st.Code)
	}
}
