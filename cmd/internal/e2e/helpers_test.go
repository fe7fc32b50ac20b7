package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/publisher"
	"github.com/wptfeed/wptfeed/internal/testutil"
	"github.com/wptfeed/wptfeed/store"
)

// tinyReport is a small valid wptreport; i varies its content and hash.
func tinyReport(i int) []byte {
	return fmt.Appendf(nil, `{"run_info": {"product": "%s", "browser_version": "%d.0", "os": "linux", "os_version": "24.04", "revision": "%040x", "browser_channel": "stable"},
 "time_start": %d, "time_end": %d,
 "results": [{"test": "/t/%d.html", "status": "OK", "subtests": [{"name": "a", "status": "PASS"}, {"name": "b", "status": "FAIL", "message": "x"}]},
             {"test": "/t/plain.html", "status": "PASS", "subtests": []}]}`,
		[]string{"chrome", "firefox", "safari"}[i%3], 100+i%5, i%7, 1732700000000+int64(i), 1732700001000+int64(i), i)
}

// commitRun writes a run straight into the raw layout with its metadata.
func commitRun(t testing.TB, b *store.Bucket, id string, report []byte) {
	t.Helper()
	ctx := context.Background()
	s, err := b.PutShard(ctx, id, "shard-000.json.gz", bytes.NewReader(testutil.Gzip(t, report)))
	if err != nil {
		t.Fatal(err)
	}
	up, _ := store.RunTime(id)
	if err := b.PutManifest(ctx, id, &store.Manifest{Version: 1, RunID: id, Uploaded: up, Shards: []store.Shard{s}}); err != nil {
		t.Fatal(err)
	}
}

// counter counts requests by path through a reverse proxy in front of the
// publisher, whose base URL is the proxy's.
type counter struct {
	mu    sync.Mutex
	paths map[string]int
	codes map[int]int
	bytes int64
	// fault, when set, may answer a request instead of the publisher.
	fault func(w http.ResponseWriter, r *http.Request) bool
}

func (c *counter) count(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paths[path]
}

// startPublisher starts a publisher on raw behind a counting proxy and
// returns the feed URL.
func startPublisher(t *testing.T, ctx context.Context, raw string, cfg publisher.ServerConfig) (*publisher.Server, string, *counter) {
	return startPublisherB(t, ctx, raw, cfg)
}

func startPublisherB(t testing.TB, ctx context.Context, raw string, cfg publisher.ServerConfig) (*publisher.Server, string, *counter) {
	t.Helper()
	c := &counter{paths: map[string]int{}, codes: map[int]int{}}
	var target *url.URL
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w, code: 200}
		c.mu.Lock()
		fault := c.fault
		c.mu.Unlock()
		if fault != nil && fault(rec, r) {
			return
		}
		httputil.NewSingleHostReverseProxy(target).ServeHTTP(rec, r)
		c.mu.Lock()
		c.paths[r.URL.Path]++
		c.codes[rec.code]++
		c.bytes += rec.n
		c.mu.Unlock()
	}))
	t.Cleanup(proxy.Close)
	cfg.Bucket, cfg.Addr, cfg.BaseURL = raw, "127.0.0.1:0", proxy.URL
	if cfg.Author == "" {
		cfg.Author = "test"
	}
	s, err := publisher.NewServer(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	target, _ = url.Parse("http://" + addr)
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.Run(sctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; s.Close() })
	return s, proxy.URL + "/feed.atom", c
}

type recorder struct {
	http.ResponseWriter
	code int
	n    int64
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) WriteHeader(code int) { r.code = code; r.ResponseWriter.WriteHeader(code) }
func (r *recorder) Write(p []byte) (int, error) {
	n, err := r.ResponseWriter.Write(p)
	r.n += int64(n)
	return n, err
}

// waitFor polls cond every 50 ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var _ = io.Discard
var _ = strings.Contains

type ioReadCloser = io.ReadCloser

type nopCloser struct{ io.Reader }

func (nopCloser) Close() error { return nil }

// buildIngester builds cmd/ingester into a temp directory and returns the
// binary's path, for tests that kill and pause real processes.
func buildIngester(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ingester")
	if out, err := osexec.Command("go", "build", "-o", bin, "github.com/wptfeed/wptfeed/cmd/ingester").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// buildPublisher builds cmd/publisher into a temp directory and returns the
// binary's path, for tests that run it as a separate process (with its own
// environment).
func buildPublisher(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "publisher")
	if out, err := osexec.Command("go", "build", "-o", bin, "github.com/wptfeed/wptfeed/cmd/publisher").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
