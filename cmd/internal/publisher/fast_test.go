package publisher

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/store"
)

// TestServer_FeedFastPath checks /feed.atom as a running publisher serves
// it to the plainest requests (httpx's fast path): the same answers as
// its handler gives, the new document as soon as a scan published a run,
// and each request counted under the route.
func TestServer_FeedFastPath(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, b := tempBucket(t, ctx)
	now := time.Now().UTC()
	for i := range 30 {
		putRun(t, b, store.NewRunID(now.Add(time.Duration(i-100)*time.Millisecond)), i)
	}
	s, addr := startServer(t, ctx, url)
	conn, err := net.Dial("tcp", strings.TrimPrefix(addr, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(conn)
	// ask sends the request on the one connection, and asks the handler
	// too; it checks that both answer the same, and returns the answer.
	ask := func(method, fields string) (*http.Response, []byte) {
		t.Helper()
		fmt.Fprintf(conn, "%s /feed.atom HTTP/1.1\r\nHost: feed.test\r\nUser-Agent: test\r\n%s\r\n", method, fields)
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		req := httptest.NewRequest(method, "/feed.atom", nil)
		for line := range strings.SplitSeq(strings.TrimSpace(fields), "\r\n") {
			if k, v, ok := strings.Cut(line, ": "); ok {
				req.Header.Add(k, v)
			}
		}
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, req)
		want := w.Result()
		resp.Header.Del("Date")
		if resp.StatusCode != want.StatusCode || !maps.EqualFunc(resp.Header, want.Header, slices.Equal) || !bytes.Equal(body, w.Body.Bytes()) {
			t.Errorf("%s %q: got %d %v (%d bytes), the handler's %d %v (%d bytes)", method, fields,
				resp.StatusCode, resp.Header, len(body), want.StatusCode, want.Header, w.Body.Len())
		}
		return resp, body
	}
	metric := func() string {
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
		for line := range strings.SplitSeq(w.Body.String(), "\n") {
			if strings.HasPrefix(line, `publisher_http_request_duration_seconds_count{route="GET /feed.atom"}`) {
				return line[strings.LastIndexByte(line, ' ')+1:]
			}
		}
		return "0"
	}

	first, _ := ask("GET", "Accept-Encoding: gzip\r\n")
	if first.StatusCode != 200 || first.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("got %d, %q; want 200 gzip", first.StatusCode, first.Header.Get("Content-Encoding"))
	}
	etag := first.Header.Get("ETag")
	if r, _ := ask("GET", "Accept-Encoding: gzip\r\nIf-None-Match: "+etag+"\r\n"); r.StatusCode != 304 {
		t.Errorf("If-None-Match: got %d, want 304", r.StatusCode)
	}
	ask("HEAD", "")
	_, plain := ask("GET", "")

	id := store.NewRunID(time.Now())
	putRun(t, b, id, 30)
	if err := s.Scan(ctx, false); err != nil {
		t.Fatal(err)
	}
	r, _ := ask("GET", "Accept-Encoding: gzip\r\nIf-None-Match: "+etag+"\r\n")
	if r.StatusCode != 200 || r.Header.Get("ETag") == etag {
		t.Errorf("after a new run: got %d, ETag %s; want 200 and a new ETag", r.StatusCode, r.Header.Get("ETag"))
	}
	if _, body := ask("GET", ""); !bytes.Contains(body, []byte(id)) || bytes.Contains(plain, []byte(id)) {
		t.Errorf("the new run %s is not in the new document only", id)
	}
	// 6 requests on the connection and the same 6 through the handler.
	if got := metric(); got != "12" {
		t.Errorf("requests timed under GET /feed.atom: %s, want 12", got)
	}
}
