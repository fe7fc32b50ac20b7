package poll

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/feed"
)

// withShard gives an entry's wpt:run the size and sha256 of its one shard.
func withShard(e feed.Entry, size int64, sum string) feed.Entry {
	r := *e.Run
	r.Shards = []feed.Shard{{Name: "shard.json", Size: size, SHA256: sum}}
	e.Run = &r
	return e
}

func sha(p []byte) string {
	s := sha256.Sum256(p)
	return hex.EncodeToString(s[:])
}

// TestPoller_Poll_Checksums: the poller checks each shard's bytes against
// the size and sha256 of its feed entry while it streams them; a shard
// replaced after publication (FAIL turned PASS, say) is INVALID
// checksum_mismatch, naming the shard, and not retried.
func TestPoller_Poll_Checksums(t *testing.T) {
	good := tinyReport(0)
	replaced := []byte(strings.Replace(string(good), `"PASS"`, `"FAIL"`, 1))
	for _, tc := range []struct {
		name   string
		size   int64
		sum    string
		served []byte
		state  string
		detail string // in the status record's error
	}{
		{"matching", int64(len(good)), sha(good), good, records.StateValid, ""},
		{"matching, no size", 0, sha(good), good, records.StateValid, ""},
		{"matching, no hash", int64(len(good)), "", good, records.StateValid, ""},
		{"replaced, same size", int64(len(good)), sha(good), replaced, records.StateInvalid, "sha256 " + sha(replaced)},
		{"longer", int64(len(good)) - 1, sha(good), good, records.StateInvalid, "more than the"},
		{"shorter", int64(len(good)) + 5, "", good, records.StateInvalid, "bytes, its feed entry says"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			pub := newPublisher(t)
			pub.setEnclosure(0, func(w http.ResponseWriter, r *http.Request) { w.Write(tc.served) })
			pub.serveDoc(t, "/feed.atom", "", withShard(entry(0, pub.url(enclosurePath(0))), tc.size, tc.sum))
			b := mustOpen(t)
			cfg := testConfig(pub.url("/feed.atom"))
			cfg.Retries = 3
			if _, err := mustNew(t, cfg, b).Poll(ctx); err != nil {
				t.Fatalf("Poll: %v", err)
			}
			st, ok := readStatus(t, b, 0)
			if !ok || st.State != tc.state {
				t.Fatalf("status: got %+v, want %s", st, tc.state)
			}
			if tc.state == records.StateInvalid {
				if st.Code != "checksum_mismatch" || !strings.Contains(st.Error, "shard.json") || !strings.Contains(st.Error, tc.detail) {
					t.Errorf("status: got %s %q, want checksum_mismatch naming the shard and %q", st.Code, st.Error, tc.detail)
				}
				if n := len(paths(pub.requests(0), "/runs/")); n != 1 {
					t.Errorf("enclosure fetched %d times, want once (a mismatch is not retried)", n)
				}
			}
		})
	}
}

// TestPoller_WaitsCapped: a Retry-After or max-age longer than
// --backoff-max is cut to it, for the feed and for enclosures, with or
// without --once.
func TestPoller_WaitsCapped(t *testing.T) {
	t.Run("max-age", func(t *testing.T) {
		ctx := testContext(t)
		pub := newPublisher(t)
		pub.cacheControl = "public, max-age=31536000"
		pub.serveDoc(t, "/feed.atom", "", pub.runs(0, 0)...)
		cfg := testConfig(pub.url("/feed.atom"))
		cfg.BackoffMax = 20 * time.Millisecond
		ing := mustNew(t, cfg, mustOpen(t))
		for i := range 2 { // 200, then 304
			wait, err := ing.Poll(ctx)
			if err != nil || wait != cfg.BackoffMax {
				t.Fatalf("poll %d: got %v, %v; want the wait capped to %v", i, wait, err, cfg.BackoffMax)
			}
		}
	})
	t.Run("Retry-After of an enclosure", func(t *testing.T) {
		ctx := testContext(t)
		pub := newPublisher(t)
		tries := 0
		pub.setEnclosure(0, func(w http.ResponseWriter, r *http.Request) {
			tries++
			if tries == 1 {
				w.Header().Set("Retry-After", "100000")
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			w.Write(tinyReport(0))
		})
		pub.serveDoc(t, "/feed.atom", "", entry(0, pub.url(enclosurePath(0))))
		b := mustOpen(t)
		cfg := testConfig(pub.url("/feed.atom"))
		cfg.Retries, cfg.BackoffMax, cfg.Once = 2, 50*time.Millisecond, true
		start := time.Now()
		if err := mustNew(t, cfg, b).Run(ctx); err != nil {
			t.Fatalf("Run --once: %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Run --once took %v: Retry-After was not capped", d)
		}
		if st, ok := readStatus(t, b, 0); !ok || st.State != records.StateValid {
			t.Errorf("status: got %+v, want VALID after the capped wait", st)
		}
	})
	t.Run("Retry-After of the feed", func(t *testing.T) {
		pub := newPublisher(t)
		pub.mu.Lock()
		pub.encs["/feed.atom"] = func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "100000")
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}
		pub.mu.Unlock()
		cfg := testConfig(pub.url("/feed.atom"))
		cfg.Interval, cfg.BackoffMax = 5*time.Millisecond, 20*time.Millisecond
		ctx, cancel := context.WithTimeout(testContext(t), 500*time.Millisecond)
		defer cancel()
		if err := mustNew(t, cfg, mustOpen(t)).Run(ctx); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if n := len(paths(pub.requests(0), "/feed.atom")); n < 5 {
			t.Errorf("%d polls in 500 ms, want at least 5 (Retry-After capped to 20 ms)", n)
		}
	})
}

// TestPoller_Alternates: of a feed entry's alternates, the web page
// (text/html, which publishers list first) and the manifest (JSON) go to
// the status record, whatever their order.
func TestPoller_Alternates(t *testing.T) {
	ctx := testContext(t)
	pub := newPublisher(t)
	e := pub.run(0)
	page := feed.Link{Rel: "alternate", Href: "/runs/" + runID(0) + "/", Type: "text/html"}
	e.Links = append([]feed.Link{page}, e.Links...)
	pub.serveDoc(t, "/feed.atom", "", e)
	b := mustOpen(t)
	if _, err := mustNew(t, testConfig(pub.url("/feed.atom")), b).Poll(ctx); err != nil {
		t.Fatal(err)
	}
	st, ok := readStatus(t, b, 0)
	if !ok {
		t.Fatal("no status record")
	}
	if want := pub.url("/runs/" + runID(0) + "/"); st.Page != want {
		t.Errorf("page: got %q, want %q (resolved against the feed)", st.Page, want)
	}
	if want := "http://publisher.invalid/runs/" + runID(0) + "/manifest.json"; st.Manifest != want {
		t.Errorf("manifest: got %q, want %q", st.Manifest, want)
	}
}
