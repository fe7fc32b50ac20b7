package httpx

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/feed"
)

// fastDoc is the document the fast path's tests serve: gzip-able, with
// every validator.
func fastDoc(size int) *feed.Document {
	body := bytes.Repeat([]byte("<entry>wpt</entry>\n"), size/19+1)[:size]
	return &feed.Document{Body: body, LastModified: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), CacheControl: "public, max-age=10"}
}

// fastServers serves doc at GET /doc (and GET /other) twice: on the fast
// path, and on net/http alone. It returns both addresses and the count of
// requests the fast one's net/http handlers answered.
func fastServers(t *testing.T, doc *feed.Document, to Timeouts) (fast, plain string, handled *atomic.Int64) {
	t.Helper()
	handled = new(atomic.Int64)
	mk := func(withFast bool) string {
		s := NewServer("test", nil)
		s.Route("GET /doc", func(w http.ResponseWriter, r *http.Request) {
			if withFast {
				handled.Add(1)
			}
			feed.Serve(w, r, doc)
		})
		s.Route("GET /other", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "other") })
		if withFast {
			s.Fast("GET /doc", "/doc", func(context.Context) *feed.Document { return doc })
		}
		return serveTimeouts(t, s, to)
	}
	return mk(true), mk(false), handled
}

// exchange writes req on a new connection to addr and reads n answers
// (to methods, in order), then whether the server closed the connection.
func exchange(t *testing.T, addr, req string, methods ...string) (resps []*http.Response, bodies [][]byte, closed bool) {
	t.Helper()
	conn := dial(t, addr)
	conn.SetDeadline(time.Now().Add(bound))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	for _, m := range methods {
		resp, err := http.ReadResponse(br, &http.Request{Method: m})
		if err != nil {
			t.Fatalf("%q: answer %d: %v", req, len(resps)+1, err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%q: answer %d body: %v", req, len(resps)+1, err)
		}
		resps, bodies = append(resps, resp), append(bodies, b)
	}
	conn.SetReadDeadline(time.Now().Add(short / 2))
	_, err := br.ReadByte()
	var ne net.Error
	closed = !(errors.As(err, &ne) && ne.Timeout())
	return resps, bodies, closed
}

// TestFast answers each request on both servers and checks that the
// answers are the same (status, fields but Date, body, whether the
// connection stays open) and that the fast path took exactly the requests
// it is for.
func TestFast(t *testing.T) {
	doc := fastDoc(20000)
	fast, plain, handled := fastServers(t, doc, testTimeouts)
	etag := feed.ETag(doc.Body)
	gzTag := etag[:len(etag)-1] + `-gz"`
	lastMod := doc.LastModified.Format(http.TimeFormat)
	const host = "Host: example.org:8080\r\n"
	get := func(fields string) string { return "GET /doc HTTP/1.1\r\n" + host + fields + "\r\n" }
	for _, tc := range []struct {
		name    string
		req     string
		methods []string
		viaHTTP int // requests for /doc net/http's handler answers (not the 400s, 405s)
	}{
		{"GET", get(""), []string{"GET"}, 0},
		{"HEAD", "HEAD /doc HTTP/1.1\r\n" + host + "Accept-Encoding: gzip\r\n\r\n", []string{"HEAD"}, 0},
		{"gzip", get("Accept-Encoding: gzip, deflate, br\r\n"), []string{"GET"}, 0},
		{"gzip refused", get("Accept-Encoding: gzip;q=0\r\n"), []string{"GET"}, 0},
		{"304 gzip tag", get("Accept-Encoding: gzip\r\nIf-None-Match: " + gzTag + "\r\n"), []string{"GET"}, 0},
		{"200 plain tag, gzip", get("Accept-Encoding: gzip\r\nIf-None-Match: " + etag + "\r\n"), []string{"GET"}, 0},
		{"304 If-Modified-Since", get("If-Modified-Since: " + lastMod + "\r\n"), []string{"GET"}, 0},
		{"empty If-None-Match beats If-Modified-Since", get("If-None-Match:\r\nIf-Modified-Since: " + lastMod + "\r\n"), []string{"GET"}, 0},
		{"lower-case names, odd spaces", "GET /doc HTTP/1.1\r\nhost:x\r\naccept-encoding:  gzip \t\r\n\r\n", []string{"GET"}, 0},
		{"a browser's fields", get("User-Agent: Mozilla/5.0\r\nAccept: application/atom+xml,*/*;q=0.8\r\nAccept-Language: en\r\n" +
			"Sec-Fetch-Mode: navigate\r\nCookie: a=b\r\nCache-Control: no-cache\r\nConnection: keep-alive\r\n"), []string{"GET"}, 0},
		{"Connection: close", get("Connection: close\r\n"), []string{"GET"}, 0},
		{"pipelined", get("") + get("Accept-Encoding: gzip\r\n") + "HEAD /doc HTTP/1.1\r\n" + host + "\r\n", []string{"GET", "GET", "HEAD"}, 0},
		// Handed over, for good: the fast path answers the first only.
		{"pipelined, then a query", get("") + "GET /doc?x=1 HTTP/1.1\r\n" + host + "\r\n" + get(""), []string{"GET", "GET", "GET"}, 2},
		{"pipelined, then another route", get("") + "GET /other HTTP/1.1\r\n" + host + "\r\n" + get(""), []string{"GET", "GET", "GET"}, 1},

		{"query", "GET /doc?x=1 HTTP/1.1\r\n" + host + "\r\n", []string{"GET"}, 1},
		{"HTTP/1.0", "GET /doc HTTP/1.0\r\n\r\n", []string{"GET"}, 1},
		{"HTTP/1.0 keep-alive", "GET /doc HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", []string{"GET"}, 1},
		{"no Host", "GET /doc HTTP/1.1\r\n\r\n", []string{"GET"}, 0},
		{"two Hosts", get(host), []string{"GET"}, 0},
		{"odd Host", "GET /doc HTTP/1.1\r\nHost: a_b\r\n\r\n", []string{"GET"}, 1},
		{"Range", get("Range: bytes=0-9\r\n"), []string{"GET"}, 1},
		{"If-Match", get("If-Match: " + etag + "\r\n"), []string{"GET"}, 1},
		{"If-Unmodified-Since", get("If-Unmodified-Since: " + lastMod + "\r\n"), []string{"GET"}, 1},
		{"two Accept-Encodings", get("Accept-Encoding: identity\r\nAccept-Encoding: gzip\r\n"), []string{"GET"}, 1},
		{"two If-None-Matches", get("If-None-Match: \"x\"\r\nIf-None-Match: " + etag + "\r\n"), []string{"GET"}, 1},
		{"Content-Length", get("Content-Length: 0\r\n"), []string{"GET"}, 1},
		{"Expect", get("Expect: 100-continue\r\n"), []string{"GET"}, 1},
		{"Connection: upgrade", get("Connection: Upgrade\r\nUpgrade: websocket\r\n"), []string{"GET"}, 1},
		{"bare LF", "GET /doc HTTP/1.1\nHost: x\n\n", []string{"GET"}, 1},
		{"folded field", get("User-Agent: a\r\n b\r\n"), []string{"GET"}, 1},
		{"space before colon", get("Accept-Encoding : gzip\r\n"), []string{"GET"}, 0},
		{"header over 4 KiB", get("Cookie: " + strings.Repeat("c", 5000) + "\r\n"), []string{"GET"}, 1},
		{"POST", "POST /doc HTTP/1.1\r\n" + host + "Content-Length: 2\r\n\r\nhi", []string{"POST"}, 0},
		{"unknown field", get("X-Custom: 1\r\n"), []string{"GET"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := handled.Load()
			got, gotBodies, gotClosed := exchange(t, fast, tc.req, tc.methods...)
			want, wantBodies, wantClosed := exchange(t, plain, tc.req, tc.methods...)
			for i := range want {
				g, w := got[i], want[i]
				g.Header.Del("Date")
				w.Header.Del("Date")
				if g.StatusCode != w.StatusCode || !maps.EqualFunc(g.Header, w.Header, slices.Equal) || !bytes.Equal(gotBodies[i], wantBodies[i]) {
					t.Errorf("answer %d: got %d %v (%d bytes); net/http's %d %v (%d bytes)",
						i+1, g.StatusCode, g.Header, len(gotBodies[i]), w.StatusCode, w.Header, len(wantBodies[i]))
				}
			}
			if gotClosed != wantClosed {
				t.Errorf("connection closed: %v; net/http's: %v", gotClosed, wantClosed)
			}
			if n := handled.Load() - before; n != int64(tc.viaHTTP) {
				t.Errorf("net/http's handler answered %d requests, want %d", n, tc.viaHTTP)
			}
		})
	}
}

// TestFast_NoDocument checks that a route without a document (doc
// returns nil: it failed) is answered by net/http.
func TestFast_NoDocument(t *testing.T) {
	s := NewServer("test", nil)
	s.Route("GET /doc", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	})
	s.Fast("GET /doc", "/doc", func(context.Context) *feed.Document { return nil })
	addr := serveTimeouts(t, s, testTimeouts)
	resps, _, _ := exchange(t, addr, "GET /doc HTTP/1.1\r\nHost: x\r\n\r\nGET /doc HTTP/1.1\r\nHost: x\r\n\r\n", "GET", "GET")
	for i, r := range resps {
		if r.StatusCode != 503 {
			t.Errorf("answer %d: %d, want net/http's 503", i+1, r.StatusCode)
		}
	}
}

// TestFast_Metrics checks that the fast path's answers are counted and
// timed under their route, as net/http's.
func TestFast_Metrics(t *testing.T) {
	doc := fastDoc(5000)
	s := NewServer("test", nil)
	s.Route("GET /doc", func(w http.ResponseWriter, r *http.Request) { feed.Serve(w, r, doc) })
	s.Fast("GET /doc", "/doc", func(context.Context) *feed.Document { return doc })
	addr := serveTimeouts(t, s, testTimeouts)
	get := "GET /doc HTTP/1.1\r\nHost: x\r\n\r\n"
	cond := "GET /doc HTTP/1.1\r\nHost: x\r\nIf-None-Match: " + feed.ETag(doc.Body) + "\r\n\r\n"
	exchange(t, addr, get+get+cond+"GET /doc?q HTTP/1.1\r\nHost: x\r\n\r\n", "GET", "GET", "GET", "GET")
	_, bodies, _ := exchange(t, addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
	for _, want := range []string{
		`test_http_requests_total{code="200",route="GET /doc"} 3`,
		`test_http_requests_total{code="304",route="GET /doc"} 1`,
		`test_http_request_duration_seconds_count{route="GET /doc"} 4`,
	} {
		if !bytes.Contains(bodies[0], []byte(want)) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestFast_Timeouts checks the Timeouts on the fast path: an idle
// connection and a stalled header are cut, a reader that stops reading is
// cut, and a slow but steady one is not.
func TestFast_Timeouts(t *testing.T) {
	const size = 32 << 20
	doc := &feed.Document{Body: make([]byte, size)} // zeros: sent plain here
	fast, _, _ := fastServers(t, doc, testTimeouts)
	get := "GET /doc HTTP/1.1\r\nHost: x\r\n\r\n"

	t.Run("idle", func(t *testing.T) {
		conn := dial(t, fast)
		_, br := roundTrip(t, conn, "HEAD", "/doc")
		if d := waitClosed(t, conn, br); d < short/2 {
			t.Errorf("idle connection closed after %v, before the idle timeout %v", d, short)
		}
	})
	t.Run("header", func(t *testing.T) {
		conn := dial(t, fast)
		fmt.Fprint(conn, "GET /doc HTTP/1.1\r\nHost:")
		waitClosed(t, conn, conn)
	})
	t.Run("stalled reader", func(t *testing.T) {
		conn := dial(t, fast)
		conn.(*net.TCPConn).SetReadBuffer(8 << 10)
		fmt.Fprint(conn, get)
		time.Sleep(4 * short) // reads nothing: the server's writes stall
		conn.SetReadDeadline(time.Now().Add(bound))
		n, err := io.Copy(io.Discard, conn)
		if n >= size {
			t.Errorf("read all %d bytes after a stall of %v; want the answer cut", n, 4*short)
		}
		t.Logf("cut after %d bytes: %v", n, err)
	})
	t.Run("slow reader", func(t *testing.T) { readSlowly(t, fast, "/doc", size) })
}

// TestFast_SilentConnection checks that a connection that sends nothing
// is cut after the header timeout, as net/http cuts it, not after the
// (longer) idle timeout of kept-alive connections.
func TestFast_SilentConnection(t *testing.T) {
	fast, _, _ := fastServers(t, fastDoc(100), Timeouts{Header: short, Idle: time.Hour})
	conn := dial(t, fast)
	if d := waitClosed(t, conn, conn); d < short/2 {
		t.Errorf("closed after %v, before the header timeout %v", d, short)
	}
}

// TestFast_Shutdown checks that connections idle on the fast path do not
// hold up Serve's return, and are closed by it.
func TestFast_Shutdown(t *testing.T) {
	doc := fastDoc(5000)
	s := NewServer("test", nil)
	s.Route("GET /doc", func(w http.ResponseWriter, r *http.Request) { feed.Serve(w, r, doc) })
	s.Fast("GET /doc", "/doc", func(context.Context) *feed.Document { return doc })
	// No idle timeout: only the shutdown closes.
	addr, stop := startServe(t, s, Timeouts{})
	var conns []net.Conn
	for range 3 {
		conn := dial(t, addr)
		roundTrip(t, conn, "GET", "/doc")
		conns = append(conns, conn)
	}
	start := time.Now()
	if err := stop(); err != nil {
		t.Errorf("Serve: %v", err)
	}
	if d := time.Since(start); d > shutdownTimeout/2 {
		t.Errorf("Serve returned %v after its context ended: idle connections held it up", d)
	}
	for _, c := range conns {
		waitClosed(t, c, c)
	}
}

// TestFast_Allocs checks that an answer on the fast path costs (nearly)
// no allocation: the client's side allocates nothing here, so the count
// is the server's.
func TestFast_Allocs(t *testing.T) {
	doc := fastDoc(20000)
	fast, _, _ := fastServers(t, doc, testTimeouts)
	conn := dial(t, fast)
	req := []byte("GET /doc HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nIf-None-Match: \"old\"\r\nUser-Agent: test\r\n\r\n")
	conn.Write(req)
	conn.SetReadDeadline(time.Now().Add(bound))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The answer's length: the header (with Date, of fixed length) and body.
	var head bytes.Buffer
	resp.Header.Write(&head)
	io.Copy(io.Discard, resp.Body)
	if resp.ContentLength <= 0 || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("answer: %d bytes, %q", resp.ContentLength, resp.Header.Get("Content-Encoding"))
	}
	n := len("HTTP/1.1 200 OK\r\n") + head.Len() + len("\r\n") + int(resp.ContentLength)
	buf := make([]byte, n)
	allocs := testing.AllocsPerRun(200, func() {
		conn.Write(req)
		if _, err := io.ReadFull(conn, buf); err != nil {
			t.Fatal(err)
		}
	})
	if !bytes.HasPrefix(buf, []byte("HTTP/1.1 200 OK\r\n")) {
		t.Fatalf("answers not read in step: %q", buf[:40])
	}
	if allocs > 1 {
		t.Errorf("%v allocations per request, want at most 1", allocs)
	}
	t.Logf("%v allocations per request", allocs)
}

// FuzzParseFast checks that a header the fast path takes is one net/http
// reads the same way: the same method, path, Host and values of the
// fields the answer depends on, and the same wish to close.
func FuzzParseFast(f *testing.F) {
	for _, s := range []string{
		"GET /doc HTTP/1.1\r\nHost: x\r\n\r\n",
		"HEAD /doc HTTP/1.1\r\nhost: x:80\r\nAccept-Encoding: gzip\r\nIf-None-Match: \"a\", W/\"b\"\r\n\r\n",
		"GET /doc HTTP/1.1\r\nHost: [::1]:8080\r\nIf-Modified-Since: Mon, 30 Nov 2026 00:00:00 GMT\r\nConnection: close\r\n\r\n",
		"GET /doc HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\nSec-Fetch-Mode: cors\r\n\r\n",
		"GET /doc HTTP/1.1\r\nHost: x\r\nIf-None-Match:\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	routes := map[string]*fastRoute{"/doc": {}}
	f.Fuzz(func(t *testing.T, hdr []byte) {
		n := headerEnd(hdr)
		if n == 0 {
			return
		}
		hdr = hdr[:n]
		req, route, closeConn, ok := parseFast(string(hdr), routes)
		if !ok {
			return
		}
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(hdr)))
		if err != nil {
			t.Fatalf("the fast path takes %q, which net/http refuses: %v", hdr, err)
		}
		wantMethod := "GET"
		if req.Head {
			wantMethod = "HEAD"
		}
		field := func(k string) (string, bool) {
			v, ok := r.Header[k]
			if len(v) > 1 {
				t.Fatalf("%q: %s %d times, and the fast path took it", hdr, k, len(v))
			}
			if !ok {
				return "", false
			}
			return v[0], true
		}
		ae, _ := field("Accept-Encoding")
		inm, hasINM := field("If-None-Match")
		ims, hasIMS := field("If-Modified-Since")
		switch {
		case route != routes["/doc"], r.Method != wantMethod, r.URL.Path != "/doc", r.URL.RawQuery != "", r.RequestURI != "/doc":
			t.Fatalf("%q: net/http reads %s %s", hdr, r.Method, r.RequestURI)
		case r.ProtoMajor != 1 || r.ProtoMinor != 1 || r.Host == "":
			t.Fatalf("%q: net/http reads %s, Host %q", hdr, r.Proto, r.Host)
		case ae != req.AcceptEncoding, inm != req.IfNoneMatch, hasINM != req.HasIfNoneMatch, ims != req.IfModifiedSince, hasIMS != req.HasIfModifiedSince:
			t.Fatalf("%q: net/http reads %q %q %q, the fast path %+v", hdr, ae, inm, ims, req)
		case r.Close != closeConn:
			t.Fatalf("%q: net/http's Close %v, the fast path's %v", hdr, r.Close, closeConn)
		case r.ContentLength != 0 || len(r.TransferEncoding) > 0:
			t.Fatalf("%q: net/http reads a body", hdr)
		}
		for _, k := range []string{"Range", "If-Range", "If-Match", "If-Unmodified-Since", "Expect", "Upgrade"} {
			if _, ok := r.Header[k]; ok {
				t.Fatalf("%q: the fast path took a request with %s", hdr, k)
			}
		}
	})
}
