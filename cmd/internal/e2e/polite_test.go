package e2e

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/poll"
	"github.com/wptfeed/wptfeed/cmd/internal/publisher"
	"github.com/wptfeed/wptfeed/store"
)

// TestIngester_Polite: an unchanged feed polled at a 1 s interval costs
// only 304s without bodies (for a minute; 5 s with -short).
func TestIngester_Polite(t *testing.T) {
	d := time.Minute
	if testing.Short() {
		d = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
	defer cancel()
	raw, out := t.TempDir(), t.TempDir()
	b, _ := store.Open(ctx, raw)
	defer b.Close()
	commitRun(t, b, store.NewRunID(time.Now()), tinyReport(3))
	s, feedURL, c := startPublisher(t, ctx, raw, publisher.ServerConfig{ScanInterval: time.Second, FullScan: time.Hour})
	waitFor(t, 10*time.Second, "the run published", func() bool { return s.Count() == 1 })

	ictx, stop := context.WithTimeout(ctx, d)
	defer stop()
	exec(t, ictx, ingesterCmd, "run", "--feed", feedURL, "--out", out, "--interval", "1s")
	c.mu.Lock()
	defer c.mu.Unlock()
	polls := c.paths["/feed.atom"]
	if min := int(d/time.Second) - 3; polls < min || polls > int(d/time.Second)+1 {
		t.Errorf("%d polls in %v at a 1 s interval", polls, d)
	}
	// The first poll reads the document; every later one is a 304.
	if c.codes[304] != polls-1 {
		t.Errorf("%d of %d polls were 304, want %d", c.codes[304], polls, polls-1)
	}
}

// TestIngester_RetryAfter: a 503 with Retry-After holds the next poll back
// (up to --backoff-max, which cuts a longer one: see package poll's tests).
func TestIngester_RetryAfter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var mu sync.Mutex
	var times []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		w.Header().Set("Retry-After", "3")
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	ictx, stop := context.WithTimeout(ctx, 5*time.Second)
	defer stop()
	exec(t, ictx, ingesterCmd, "run", "--feed", srv.URL+"/feed.atom", "--out", t.TempDir(), "--interval", "200ms", "--backoff-max", "10s")
	mu.Lock()
	defer mu.Unlock()
	if len(times) < 2 {
		t.Fatalf("%d polls in 5 s, want 2", len(times))
	}
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < 3*time.Second-100*time.Millisecond {
			t.Errorf("poll %d came %v after a Retry-After: 3", i, gap)
		}
	}
}

// TestIngester_Faults: a proxy that fails 20% of requests at random (503
// with Retry-After, reset connections, slow answers): every valid run still
// ends VALID, every invalid one INVALID, each once.
func TestIngester_Faults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	raw, out := t.TempDir(), t.TempDir()
	b, _ := store.Open(ctx, raw)
	defer b.Close()
	want := map[string]string{}
	now := time.Now()
	for i := range 40 {
		id := store.NewRunID(now.Add(time.Duration(i) * time.Millisecond))
		if i%8 == 7 {
			commitRun(t, b, id, []byte(`{"results": "not an array"}`))
			want[id] = "INVALID"
		} else {
			commitRun(t, b, id, tinyReport(i))
			want[id] = "VALID"
		}
	}
	s, feedURL, c := startPublisher(t, ctx, raw, publisher.ServerConfig{ScanInterval: 100 * time.Millisecond, FullScan: time.Hour, PageSize: 10})
	waitFor(t, 20*time.Second, "40 runs published", func() bool { return s.Count() == 40 })

	// Faults on every request to the publisher: feed, archives, enclosures.
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(7, 7))
	faults := 0
	c.mu.Lock()
	c.fault = func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		n := rng.IntN(100)
		if n < 20 {
			faults++
		}
		mu.Unlock()
		switch {
		case n < 7:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return true
		case n < 14:
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
			return true
		case n < 20:
			time.Sleep(time.Second)
		}
		return false
	}
	c.mu.Unlock()

	// And faults on every operation on the out bucket.
	cfg := poll.DefaultConfig()
	cfg.Feed, cfg.Interval, cfg.BackoffMax, cfg.Retries, cfg.Workers = feedURL, 200*time.Millisecond, 2*time.Second, 2, 2
	storeFaults := 0
	ob, err := store.Open(ctx, out, store.WithFaults(func(op, key string) error {
		mu.Lock()
		defer mu.Unlock()
		if rng.IntN(100) < 20 {
			storeFaults++
			return errors.New("injected storage fault")
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	ing, err := poll.New(cfg, ob, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ictx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		ing.Run(ictx)
		close(done)
	}()
	waitFor(t, 2*time.Minute, "every run processed", func() bool {
		m, _ := filepath.Glob(filepath.Join(out, "status", "*.json"))
		return len(m) == 40
	})
	stop()
	<-done
	for id, state := range want {
		if st := readStatus(t, out, id); st.State != state {
			t.Errorf("run %s: %s (%s %s), want %s", id, st.State, st.Code, st.Error, state)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d HTTP and %d storage faults injected", faults, storeFaults)
	if faults == 0 || storeFaults == 0 {
		t.Error("the proxy injected no fault")
	}
	if _, err := os.Stat(filepath.Join(out, "status")); err != nil {
		t.Fatal(err)
	}
}
