package httpx

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// Timeouts of the slow-socket tests: short, so that the tests are quick,
// and bound, the longest any of them may take to show.
const (
	short = 200 * time.Millisecond
	bound = 3 * time.Second
)

var testTimeouts = Timeouts{Header: short, Idle: short, Read: short, Write: short}

// serveTimeouts serves s with timeouts to on 127.0.0.1 until the test ends
// and returns its address.
func serveTimeouts(t *testing.T, s *Server, to Timeouts) string {
	t.Helper()
	addr, stop := startServe(t, s, to)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return addr
}

// startServe serves s with timeouts to on 127.0.0.1 and returns its
// address, and stop, which ends Serve's context and returns what Serve
// returned.
func startServe(t *testing.T, s *Server, to Timeouts) (addr string, stop func() error) {
	t.Helper()
	s.Timeouts = to
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, ln) }()
	return ln.Addr().String(), func() error { cancel(); return <-errc }
}

// dial opens a raw connection to addr, closed when the test ends.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// waitClosed reads conn until the server closes it and returns how long
// that took; it fails the test if the server holds it past bound.
func waitClosed(t *testing.T, conn net.Conn, r io.Reader) time.Duration {
	t.Helper()
	start := time.Now()
	conn.SetReadDeadline(start.Add(bound))
	_, err := io.Copy(io.Discard, r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server still holds the connection after %v", bound)
	}
	return time.Since(start)
}

// result is what a handler saw.
type result struct {
	n   int64
	err error
}

func receive(t *testing.T, c <-chan result, what string) result {
	t.Helper()
	select {
	case r := <-c:
		return r
	case <-time.After(bound):
		t.Fatalf("%s: nothing after %v", what, bound)
	}
	panic("unreachable")
}

func TestServer_Timeouts_StalledBody(t *testing.T) {
	s := NewServer("test", nil)
	got := make(chan result, 1)
	s.Route("POST /up", func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		got <- result{n, err}
		if err != nil {
			http.Error(w, "cut", http.StatusBadRequest)
		}
	})
	conn := dial(t, serveTimeouts(t, s, testTimeouts))
	fmt.Fprintf(conn, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789")
	start := time.Now()
	res := receive(t, got, "a body that stalls")
	if res.err == nil || res.n != 10 {
		t.Errorf("handler read %d bytes, %v; want 10 and a timeout", res.n, res.err)
	}
	if d := time.Since(start); d < short/2 {
		t.Errorf("cut after %v, before the read timeout %v", d, short)
	}
	waitClosed(t, conn, conn)
}

func TestServer_Timeouts_DribbleNotCut(t *testing.T) {
	s := NewServer("test", nil)
	s.Route("POST /up", func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%d %v", n, err)
	})
	conn := dial(t, serveTimeouts(t, s, testTimeouts))
	const size = 20 // at 50 ms a byte: 1 s, five read timeouts
	fmt.Fprintf(conn, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size)
	for range size {
		time.Sleep(short / 4)
		if _, err := conn.Write([]byte("x")); err != nil {
			t.Fatalf("the server cut a body that made progress: %v", err)
		}
	}
	conn.SetReadDeadline(time.Now().Add(bound))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "20 <nil>" {
		t.Errorf("got %s %q, want 200 \"20 <nil>\"", resp.Status, body)
	}
}

// bigHandler writes up to 1 GiB in 32 KiB writes, and reports how much and
// how it ended.
func bigHandler(got chan<- result) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 32<<10)
		var n int64
		var err error
		for n < 1<<30 && err == nil {
			var m int
			m, err = w.Write(buf)
			n += int64(m)
		}
		got <- result{n, err}
	}
}

func TestServer_Timeouts_StalledReader(t *testing.T) {
	s := NewServer("test", nil)
	got := make(chan result, 1)
	s.Route("GET /big", bigHandler(got))
	conn := dial(t, serveTimeouts(t, s, testTimeouts))
	conn.(*net.TCPConn).SetReadBuffer(8 << 10)
	fmt.Fprintf(conn, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	// Reads nothing: once the socket buffers are full, no write progresses.
	res := receive(t, got, "a reader that stalls")
	if res.err == nil {
		t.Errorf("handler wrote %d bytes without error, want a timeout", res.n)
	}
	t.Logf("cut after %d bytes: %v", res.n, res.err)
}

func TestServer_Timeouts_SlowReaderNotCut(t *testing.T) {
	s := NewServer("test", nil)
	const size = 32 << 20
	s.Route("GET /big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		w.Write(make([]byte, size))
	})
	readSlowly(t, serveTimeouts(t, s, testTimeouts), "/big", size)
}

// readSlowly GETs path from addr and reads the answer slowly but
// steadily, 512 KiB every 20 ms: for 32 MiB, more than a second in all,
// many write timeouts, and more than the socket buffers hold. It fails the
// test unless all size bytes arrive.
func readSlowly(t *testing.T, addr, path string, size int64) {
	t.Helper()
	conn := dial(t, addr)
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
	conn.SetReadDeadline(time.Now().Add(4 * bound))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var n int64
	buf := make([]byte, 512<<10)
	for {
		time.Sleep(short / 10)
		m, err := io.ReadFull(resp.Body, buf)
		n += int64(m)
		if err != nil {
			if err != io.EOF {
				t.Logf("read: %v", err)
			}
			break
		}
	}
	if d := time.Since(start); n != size || d < 2*short {
		t.Errorf("read %d bytes in %v, want all %d in more than %v: a slow reader was cut", n, d, size, 2*short)
	}
}

// roundTrip sends method path on conn and reads the answer to its end,
// within bound; it returns the answer and conn's reader.
func roundTrip(t *testing.T, conn net.Conn, method, path string) (*http.Response, *bufio.Reader) {
	t.Helper()
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\n\r\n", method, path)
	br := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(bound))
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	return resp, br
}

func TestServer_Timeouts_Idle(t *testing.T) {
	conn := dial(t, serveTimeouts(t, NewServer("test", nil), testTimeouts))
	resp, br := roundTrip(t, conn, "GET", "/healthz")
	if resp.Close {
		t.Fatal("the server closes the connection after one request: nothing to test")
	}
	if d := waitClosed(t, conn, br); d < short/2 {
		t.Errorf("idle connection closed after %v, before the idle timeout %v", d, short)
	}
}

func TestServer_Timeouts_Header(t *testing.T) {
	conn := dial(t, serveTimeouts(t, NewServer("test", nil), testTimeouts))
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost:")
	waitClosed(t, conn, conn)
}

// TestServer_Timeouts_UnreadBody checks that an answer given without
// reading the body (a 401) goes out at once and the connection closes
// soon after, while the client is still sending a large body slowly: the
// server does not read the body to keep the connection.
func TestServer_Timeouts_UnreadBody(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header string
		chunk  string // sent every 20 ms
	}{
		{"Chunked", "Transfer-Encoding: chunked", "1\r\nx\r\n"},
		{"SmallLength", "Content-Length: 100000", "x"},
		{"LargeLength", "Content-Length: 1000000000", "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer("test", nil)
			s.Route("POST /up", func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "valid credentials required", http.StatusUnauthorized)
			})
			// No read timeout: the answer must not depend on it.
			to := testTimeouts
			to.Read = 0
			conn := dial(t, serveTimeouts(t, s, to))
			fmt.Fprintf(conn, "POST /up HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n", tc.header)
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
					if _, err := io.WriteString(conn, tc.chunk); err != nil {
						return
					}
				}
			}()
			start := time.Now()
			br := bufio.NewReader(conn)
			conn.SetReadDeadline(start.Add(bound))
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer while the body is sent (%v)", err)
			}
			io.Copy(io.Discard, resp.Body)
			if d := time.Since(start); resp.StatusCode != 401 || d > time.Second {
				t.Errorf("got %s after %v, want 401 at once", resp.Status, d)
			}
			if !resp.Close {
				t.Error("answer without Connection: close")
			}
			waitClosed(t, conn, br)
		})
	}
}

func TestTimeouts_Flags(t *testing.T) {
	to := DefaultTimeouts()
	if to != (Timeouts{Header: 10 * time.Second, Idle: 2 * time.Minute, Read: time.Minute, Write: time.Minute}) {
		t.Errorf("DefaultTimeouts() = %+v", to)
	}
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	AddTimeoutFlags(fs, &to)
	if err := fs.Parse([]string{"--header-timeout=1s", "--idle-timeout=2s", "--read-timeout=3s", "--write-timeout=0"}); err != nil {
		t.Fatal(err)
	}
	if want := (Timeouts{Header: time.Second, Idle: 2 * time.Second, Read: 3 * time.Second}); to != want {
		t.Errorf("got %+v, want %+v", to, want)
	}
	if err := to.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	to.Idle = -time.Second
	if err := to.Validate(); err == nil || !strings.Contains(err.Error(), "--idle-timeout") {
		t.Errorf("negative idle timeout: got %v, want an error naming --idle-timeout", err)
	}
}

func ExampleAddTimeoutFlags() {
	to := DefaultTimeouts()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	AddTimeoutFlags(fs, &to)
	if err := fs.Parse([]string{"--read-timeout=2m", "--write-timeout=0"}); err != nil {
		panic(err)
	}
	fmt.Println(to.Header, to.Idle, to.Read, to.Write, to.Validate())
	// Output: 10s 2m0s 2m0s 0s <nil>
}
