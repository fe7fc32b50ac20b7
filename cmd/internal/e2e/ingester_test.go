package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/publisher"
	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/internal/testutil"
	"github.com/wptfeed/wptfeed/store"
)

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	return len(m)
}

func readStatus(t *testing.T, out, runID string) records.Status {
	t.Helper()
	var st records.Status
	readJSON(t, filepath.Join(out, "status", runID+".json"), &st)
	return st
}

// TestIngester_CatchUp: the ingester is stopped while 1,000 runs are
// published; started again, it walks the archives back (RFC 5005 §4.2),
// ingests every run exactly once, fetches each archive once, and never again.
func TestIngester_CatchUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	raw, out := t.TempDir(), t.TempDir()
	b, err := store.Open(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s, feedURL, c := startPublisher(t, ctx, raw, publisher.ServerConfig{ScanInterval: 50 * time.Millisecond, FullScan: time.Hour, PageSize: 100})

	// An ingester that has seen the empty feed.
	if _, stderr, err := exec(t, ctx, ingesterCmd, "run", "--feed", feedURL, "--out", out, "--once"); err != nil {
		t.Fatalf("first pass: %v\n%s", err, stderr)
	}
	now := time.Now()
	var ids []string
	for i := range 1000 {
		id := store.NewRunID(now.Add(time.Duration(i) * time.Microsecond))
		commitRun(t, b, id, tinyReport(i))
		ids = append(ids, id)
	}
	waitFor(t, time.Minute, "1,000 runs published", func() bool { return s.Count() == 1000 })

	if _, stderr, err := exec(t, ctx, ingesterCmd, "run", "--feed", feedURL, "--out", out, "--once", "--per-test=false", "--workers", "2"); err != nil {
		t.Fatalf("catch-up: %v\n%s", err, stderr)
	}
	if n := countFiles(t, filepath.Join(out, "status")); n != 1000 {
		t.Fatalf("%d status records, want 1000", n)
	}
	for _, id := range ids {
		if st := readStatus(t, out, id); st.State != "VALID" {
			t.Fatalf("run %s: %+v", id, st)
		}
		if n := c.count("/runs/" + id + "/shard-000.json.gz"); n != 1 {
			t.Errorf("run %s fetched %d times, want once", id, n)
		}
	}
	for k := 1; k <= 10; k++ {
		if n := c.count(fmt.Sprintf("/archive/%d.atom", k)); n != 1 {
			t.Errorf("archive %d fetched %d times, want once", k, n)
		}
	}
	if n := countFiles(t, filepath.Join(out, "testruns")); n != 1000 {
		t.Errorf("%d TestRun records, want 1000", n)
	}

	// Another pass: an unchanged feed costs a 304, no archive is fetched.
	before := c.count("/feed.atom")
	c.mu.Lock()
	n304 := c.codes[304]
	c.mu.Unlock()
	if _, stderr, err := exec(t, ctx, ingesterCmd, "run", "--feed", feedURL, "--out", out, "--once"); err != nil {
		t.Fatalf("third pass: %v\n%s", err, stderr)
	}
	c.mu.Lock()
	got304 := c.codes[304] - n304
	c.mu.Unlock()
	if c.count("/feed.atom") != before+1 || got304 != 1 {
		t.Errorf("unchanged feed: %d requests, %d of them 304; want 1 and 1", c.count("/feed.atom")-before, got304)
	}
	for k := 1; k <= 10; k++ {
		if n := c.count(fmt.Sprintf("/archive/%d.atom", k)); n != 1 {
			t.Errorf("archive %d fetched %d times after a second pass, want once", k, n)
		}
	}
}

// TestIngester_Notify: with --listen, a publisher's notification makes the
// ingester poll at once instead of at its (one hour) interval.
func TestIngester_Notify(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	raw, out, dir := t.TempDir(), t.TempDir(), t.TempDir()
	b, _ := store.Open(ctx, raw)
	defer b.Close()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600)

	ln := freeAddr(t)
	_, feedURL, _ := startPublisher(t, ctx, raw, publisher.ServerConfig{
		ScanInterval: 200 * time.Millisecond, FullScan: time.Hour, PageSize: 100,
		Notify: []string{"http://" + ln + "/api/notify"}, NotifyToken: "s3cret",
	})
	ictx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, _, err := exec(t, ictx, ingesterCmd, "run", "--feed", feedURL, "--out", out, "--interval", "1h", "--backoff-max", "1h",
			"--listen", ln, "--notify-token-file", tokenFile)
		done <- err
	}()
	defer func() { stop(); <-done }()
	waitFor(t, 10*time.Second, "the ingester to listen", func() bool {
		resp, err := http.Get("http://" + ln + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	// Unauthenticated notifications are refused.
	resp, err := http.Post("http://"+ln+"/api/notify", "", nil)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("notify without token: %v %v, want 401", err, resp.Status)
	}
	id := store.NewRunID(time.Now())
	commitRun(t, b, id, tinyReport(1))
	waitFor(t, 20*time.Second, "the run to be ingested after a notification", func() bool {
		_, err := os.Stat(filepath.Join(out, "status", id+".json"))
		return err == nil
	})
	if st := readStatus(t, out, id); st.State != "VALID" {
		t.Errorf("status %+v", st)
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := strings.TrimPrefix(srv.URL, "http://")
	srv.Close()
	return addr
}

// TestIngester_HostileFeed: enclosures on other origins, redirects
// elsewhere, endless and huge bodies, gzip bombs and 404s are each refused
// with a clear reason in the run's status; the valid run is unaffected.
func TestIngester_HostileFeed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // slow under -race on two cores
	defer cancel()
	out := t.TempDir()

	// The "internal" server a hostile feed points at: it must never be hit.
	var internalHits int
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { internalHits++ }))
	defer internal.Close()

	bomb := func() []byte {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write([]byte(`{"results": [`))
		zw.Write(bytes.Repeat([]byte(" "), 50<<20))
		zw.Close()
		return buf.Bytes()
	}()
	good := testutil.Gzip(t, tinyReport(7))
	var feedDoc []byte
	mux := http.NewServeMux()
	mux.HandleFunc("/feed.atom", func(w http.ResponseWriter, r *http.Request) { w.Write(feedDoc) })
	mux.HandleFunc("/good.json.gz", func(w http.ResponseWriter, r *http.Request) { w.Write(good) })
	mux.HandleFunc("/bomb.json.gz", func(w http.ResponseWriter, r *http.Request) { w.Write(bomb) })
	mux.HandleFunc("/redirect.json.gz", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, internal.URL+"/secret", http.StatusFound)
	})
	mux.HandleFunc("/endless.json.gz", func(w http.ResponseWriter, r *http.Request) {
		// Plain JSON that never ends: only the size cap stops it.
		w.Write([]byte(`{"results": [`))
		for i := 0; r.Context().Err() == nil; i++ {
			if _, err := fmt.Fprintf(w, `{"test": "/endless/%d.html", "status": "PASS", "subtests": []}, `, i); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/huge.json.gz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(int64(10)<<30))
		w.Write([]byte("x"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	cases := []struct{ suffix, href, code string }{
		{"good", srv.URL + "/good.json.gz", ""},
		{"other-origin", internal.URL + "/secret", "enclosure_refused"},
		{"redirect", srv.URL + "/redirect.json.gz", "enclosure_refused"},
		{"endless", srv.URL + "/endless.json.gz", "enclosure_too_large"},
		{"huge", srv.URL + "/huge.json.gz", "enclosure_too_large"},
		{"bomb", srv.URL + "/bomb.json.gz", "gzip_ratio"},
		{"missing", srv.URL + "/missing.json.gz", "enclosure_missing"},
	}
	f := &feed.Feed{ID: "tag:test,2026:hostile", Title: "hostile", Updated: time.Now().UTC(), Author: feed.Person{Name: "x"},
		Links: []feed.Link{{Rel: "self", Href: srv.URL + "/feed.atom"}}}
	for i, tc := range cases {
		id := fmt.Sprintf("20261127T0000%02dZ-%s", i, tc.suffix)
		f.Entries = append(f.Entries, feed.Entry{
			ID: "tag:test,2026:" + id, Title: id, Updated: time.Now().UTC(),
			Links: []feed.Link{{Rel: "alternate", Href: srv.URL + "/x"}, {Rel: "enclosure", Href: tc.href, Type: "application/gzip", Length: 1}},
			Run:   &feed.Run{ID: id},
		})
	}
	feedDoc, _ = feed.Marshal(f)

	args := []string{"run", "--feed", srv.URL + "/feed.atom", "--out", out, "--once", "--missing-retries", "2",
		"--max-enclosure-bytes", fmt.Sprint(4 << 20), "--retries", "1"}
	// The first pass leaves the missing enclosure pending (1 of 2 polls).
	exec(t, ctx, ingesterCmd, args...)
	if _, stderr, err := exec(t, ctx, ingesterCmd, args...); err != nil {
		t.Fatalf("second pass: %v\n%s", err, stderr)
	}
	for i, tc := range cases {
		id := fmt.Sprintf("20261127T0000%02dZ-%s", i, tc.suffix)
		st := readStatus(t, out, id)
		switch {
		case tc.code == "" && st.State != "VALID":
			t.Errorf("%s: %+v, want VALID", tc.suffix, st)
		case tc.code != "" && (st.State != "INVALID" || st.Code != tc.code || st.Error == ""):
			t.Errorf("%s: state %s code %q (%s), want INVALID %s", tc.suffix, st.State, st.Code, st.Error, tc.code)
		}
	}
	if internalHits != 0 {
		t.Errorf("the ingester sent %d requests to an origin it was not allowed", internalHits)
	}
}
