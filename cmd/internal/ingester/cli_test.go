package ingester

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a command's logger and a test to
// share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServeCmd: `ingester serve` wires the status server and the
// dashboard on one address, and stops when its context ends.
func TestServeCmd(t *testing.T) {
	dir := t.TempDir()
	t.Run("serves until cancelled", func(t *testing.T) {
		var stderr syncBuffer
		cmd := newServeCmd(&stderr)
		cmd.SetArgs([]string{"--out", dir, "--addr", "127.0.0.1:0", "--scan-interval", "10ms", "--max-entries", "3", "--base-url", "https://status.test"})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- cmd.ExecuteContext(ctx) }()
		addr := regexp.MustCompile(`"status server serving" addr=(127\.0\.0\.1:\d+)`)
		var base string
		for base == "" {
			if m := addr.FindStringSubmatch(stderr.String()); m != nil {
				base = "http://" + m[1]
				break
			}
			select {
			case err := <-done:
				t.Fatalf("serve exited: %v\n%s", err, stderr.String())
			case <-ctx.Done():
				t.Fatalf("serve did not start:\n%s", stderr.String())
			case <-time.After(5 * time.Millisecond):
			}
		}
		for path, want := range map[string]string{
			"/status.atom": "application/atom+xml",
			"/":            "text/html; charset=utf-8",
			"/api/runs":    "application/json",
			"/metrics":     "text/plain",
		} {
			resp, err := http.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, want) {
				t.Errorf("GET %s: %s, Content-Type %q, want %q", path, resp.Status, ct, want)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("serve: %v", err)
		}
		if !strings.Contains(stderr.String(), "https://status.test") {
			t.Errorf("log does not name the base URL:\n%s", stderr.String())
		}
	})
	t.Run("invalid flags", func(t *testing.T) {
		for _, args := range [][]string{
			{"--out", dir, "--max-entries", "0"},
			{"--out", ""},
			{"--out", dir, "--scan-interval", "0s"},
		} {
			cmd := newServeCmd(io.Discard)
			cmd.SetArgs(args)
			if err := cmd.ExecuteContext(context.Background()); err == nil {
				t.Errorf("%v: got nil error", args)
			}
		}
	})
}
