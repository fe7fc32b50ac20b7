package publisher

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/httpx"
	"github.com/wptfeed/wptfeed/store"
)

// shortTimeouts are the timeouts of the slow-client tests.
var shortTimeouts = httpx.Timeouts{Header: 200 * time.Millisecond, Idle: 200 * time.Millisecond, Read: 200 * time.Millisecond, Write: 200 * time.Millisecond}

// dialRaw opens a connection to the server at addr (http://host:port).
func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(addr, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// readClosed reads r until the server closes conn; it fails the test if
// that takes longer than d.
func readClosed(t *testing.T, conn net.Conn, r io.Reader, d time.Duration) []byte {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server still holds the connection after %v (read %d bytes)", d, len(b))
	}
	return b
}

// TestUpload_StalledBody: an authenticated upload that stops sending is
// cut after the read timeout, and leaves nothing behind.
func TestUpload_StalledBody(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, addr, b := startUploadServer(t, ctx, func(c *ServerConfig) { c.Timeouts = shortTimeouts })
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if err := writeForm(mw, []formPart{resultFile("a.json", testShard(t, 0)), resultFile("b.json", testShard(t, 1))}); err != nil {
		t.Fatal(err)
	}
	conn := dialRaw(t, addr)
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		UploadPath, basicAuth("runner", "s3cret"), mw.FormDataContentType(), body.Len())
	conn.Write(body.Bytes()[:body.Len()*3/4]) // the first shard and part of the second
	start := time.Now()
	answer := readClosed(t, conn, conn, 5*time.Second)
	status, _, _ := bytes.Cut(answer, []byte("\r\n"))
	t.Logf("cut after %v: %q", time.Since(start), status)
	if !bytes.HasPrefix(status, []byte("HTTP/1.1 408 ")) {
		t.Errorf("answer %q, want 408 Request Timeout", status)
	}
	waitFor(t, 5*time.Second, "the stalled upload's shards to be deleted", func() bool { return len(runObjects(t, b)) == 0 })
	if n := s.Count(); n != 0 {
		t.Errorf("%d runs published, want 0", n)
	}
}

// TestUpload_UnauthorizedSlowBody: a request without credentials is
// answered 401 at once, without reading its body, while the client is
// still sending a large body slowly, and the connection is closed.
func TestUpload_UnauthorizedSlowBody(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, addr, _ := startUploadServer(t, ctx, nil) // the default timeouts: 60 s
	for _, tc := range []struct {
		name, header, chunk string
	}{
		{"Chunked", "Transfer-Encoding: chunked", "1\r\nx\r\n"},
		{"Length", "Content-Length: 200000", "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := dialRaw(t, addr)
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n%s\r\n\r\n", UploadPath, tc.header)
			stop := make(chan struct{})
			defer close(stop)
			go func() { // one byte every 50 ms
				for {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
					if _, err := io.WriteString(conn, tc.chunk); err != nil {
						return
					}
				}
			}()
			start := time.Now()
			br := bufio.NewReader(conn)
			conn.SetReadDeadline(start.Add(5 * time.Second))
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer while the body is sent: %v", err)
			}
			resp.Body.Close()
			if d := time.Since(start); resp.StatusCode != http.StatusUnauthorized || d > time.Second {
				t.Errorf("got %s after %v, want 401 at once", resp.Status, d)
			}
			if !resp.Close {
				t.Error("401 without Connection: close")
			}
			readClosed(t, conn, br, 3*time.Second)
		})
	}
}

// TestServer_StalledDownload: a shard download whose reader stops reading
// is cut after the write timeout.
func TestServer_StalledDownload(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, addr, b := startUploadServer(t, ctx, func(c *ServerConfig) { c.Timeouts = shortTimeouts })
	id := store.NewRunID(time.Now())
	const size = 48 << 20
	sh, err := b.PutShard(ctx, id, "shard-000.json.gz", bytes.NewReader(make([]byte, size)))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.PutManifest(ctx, id, &store.Manifest{Shards: []store.Shard{sh}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the run to be published", func() bool { return s.Count() == 1 })
	conn := dialRaw(t, addr)
	fmt.Fprintf(conn, "GET /runs/%s/shard-000.json.gz HTTP/1.1\r\nHost: x\r\n\r\n", id)
	time.Sleep(time.Second) // five write timeouts without reading
	got := readClosed(t, conn, conn, 10*time.Second)
	if len(got) >= size {
		t.Errorf("read %d bytes: the whole shard, want a cut response", len(got))
	}
	t.Logf("read %d of %d bytes before the cut", len(got), size)
}

// TestServer_IdleConnectionsClosed: connections that send nothing, or
// nothing more, are closed after the header and idle timeouts.
func TestServer_IdleConnectionsClosed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, addr, _ := startUploadServer(t, ctx, func(c *ServerConfig) { c.Timeouts = shortTimeouts })
	// Idle unauthenticated connections: one that never sends a header, one
	// kept alive after a 401.
	silent := dialRaw(t, addr)
	kept := dialRaw(t, addr)
	fmt.Fprintf(kept, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", UploadPath)
	br := bufio.NewReader(kept)
	kept.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("got %s, want 401", resp.Status)
	}
	readClosed(t, silent, silent, 3*time.Second)
	readClosed(t, kept, br, 3*time.Second)
}

func TestServeCommand_TimeoutFlags(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := NewCommand(io.Discard, io.Discard)
	cmd.SetArgs([]string{"serve", "--bucket", "file://" + filepath.Join(t.TempDir(), "b"), "--addr", "127.0.0.1:0", "--read-timeout=-1s"})
	if err := cmd.ExecuteContext(ctx); err == nil || !strings.Contains(err.Error(), "--read-timeout -1s is negative") {
		t.Errorf("got %v, want an error naming --read-timeout", err)
	}
	var help bytes.Buffer
	cmd = NewCommand(&help, &help)
	cmd.SetArgs([]string{"serve", "--help"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--header-timeout duration", "(default 10s)", "--idle-timeout duration", "(default 2m0s)", "--read-timeout duration", "--write-timeout duration", "(default 1m0s)"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
}
