package ingester

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/internal/testutil"
)

// TestServeCmd: `ingester serve` wires the status server and the
// dashboard on one address, and stops when its context ends.
func TestServeCmd(t *testing.T) {
	dir := t.TempDir()
	t.Run("serves until cancelled", func(t *testing.T) {
		var stderr testutil.SyncBuffer
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

// startCmd runs cmd with args until the test ends, and returns the address
// its log names in a line matching pattern (with one group, the address).
func startCmd(t *testing.T, cmd interface {
	SetArgs([]string)
	ExecuteContext(context.Context) error
}, stderr *testutil.SyncBuffer, args []string, pattern string) string {
	t.Helper()
	cmd.SetArgs(args)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	re := regexp.MustCompile(pattern)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("%v exited: %v\n%s", args, err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v did not start:\n%s", args, stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// idleClosed sends one keep-alive request to addr and reports whether the
// server closes the connection within wait afterwards.
func idleClosed(t *testing.T, addr, path string, wait time.Duration) bool {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c.SetReadDeadline(time.Now().Add(wait))
	_, err = br.ReadByte()
	return err == io.EOF
}

// TestTimeoutFlags: both ingester servers take the timeout flags: an idle
// keep-alive connection is closed after --idle-timeout.
func TestTimeoutFlags(t *testing.T) {
	dir := t.TempDir()
	t.Run("serve", func(t *testing.T) {
		var stderr testutil.SyncBuffer
		addr := startCmd(t, newServeCmd(&stderr), &stderr,
			[]string{"--out", dir, "--addr", "127.0.0.1:0", "--idle-timeout", "200ms"}, `"status server serving" addr=(127\.0\.0\.1:\d+)`)
		if !idleClosed(t, addr, "/healthz", 3*time.Second) {
			t.Error("idle connection still open after --idle-timeout")
		}
	})
	t.Run("run --listen", func(t *testing.T) {
		tok := filepath.Join(dir, "token")
		os.WriteFile(tok, []byte("secret\n"), 0o600)
		var stderr testutil.SyncBuffer
		addr := startCmd(t, newRunCmd(&stderr), &stderr,
			[]string{"--feed", "http://127.0.0.1:1/feed.atom", "--out", dir, "--listen", "127.0.0.1:0", "--notify-token-file", tok, "--idle-timeout", "200ms"},
			`msg=listening addr=(127\.0\.0\.1:\d+)`)
		if !idleClosed(t, addr, "/healthz", 3*time.Second) {
			t.Error("idle connection still open after --idle-timeout")
		}
	})
	t.Run("negative", func(t *testing.T) {
		cmd := newServeCmd(io.Discard)
		cmd.SetArgs([]string{"--out", dir, "--read-timeout", "-1s"})
		if err := cmd.ExecuteContext(context.Background()); err == nil || !strings.Contains(err.Error(), "--read-timeout") {
			t.Errorf("got %v, want an error naming --read-timeout", err)
		}
	})
}
