package feed_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/wptfeed/wptfeed/feed"
)

// jsonBody returns a JSON document of about n bytes.
func jsonBody(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"runs":[`)
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":%d,"product":"chrome","pass":%d}`, i, i*7%100)
	}
	b.WriteString("]}\n")
	return b.Bytes()
}

// TestServe_ContentType serves a Document that is not an Atom feed: the
// conditional GET, ETag and gzip rules are the same, under its own
// Content-Type, and a Document without LastModified sends none.
func TestServe_ContentType(t *testing.T) {
	const ctype = "application/json"
	doc := &feed.Document{Body: jsonBody(4000), ContentType: ctype, CacheControl: "no-cache"}
	small := &feed.Document{Body: []byte(`{"runs":[]}`), ContentType: ctype, CacheControl: "no-cache"}
	etag := feed.ETag(doc.Body)
	gzETag := strings.TrimSuffix(etag, `"`) + `-gz"`
	smallETag := feed.ETag(small.Body)

	tests := []struct {
		name     string
		doc      *feed.Document
		method   string
		header   map[string]string
		want     int
		wantETag string
		wantGzip bool
	}{
		{"GET", doc, "GET", nil, 200, etag, false},
		{"HEAD", doc, "HEAD", nil, 200, etag, false},
		{"If-None-Match", doc, "GET", map[string]string{"If-None-Match": etag}, 304, etag, false},
		{"If-None-Match weak", doc, "GET", map[string]string{"If-None-Match": "W/" + etag}, 304, etag, false},
		{"If-None-Match in a list", doc, "GET", map[string]string{"If-None-Match": `"a", "b",` + etag}, 304, etag, false},
		{"If-None-Match star", doc, "GET", map[string]string{"If-None-Match": "*"}, 304, etag, false},
		{"If-None-Match HEAD", doc, "HEAD", map[string]string{"If-None-Match": etag}, 304, etag, false},
		{"If-None-Match differs", doc, "GET", map[string]string{"If-None-Match": `"old"`}, 200, etag, false},
		{"If-Modified-Since without Last-Modified", doc, "GET", map[string]string{"If-Modified-Since": "Mon, 02 Jan 2006 15:04:05 GMT"}, 200, etag, false},
		{"gzip", doc, "GET", map[string]string{"Accept-Encoding": "gzip, br"}, 200, gzETag, true},
		{"gzip HEAD", doc, "HEAD", map[string]string{"Accept-Encoding": "gzip"}, 200, gzETag, true},
		{"gzip If-None-Match", doc, "GET", map[string]string{"Accept-Encoding": "gzip", "If-None-Match": gzETag}, 304, gzETag, false},
		{"gzip request, identity ETag", doc, "GET", map[string]string{"Accept-Encoding": "gzip", "If-None-Match": etag}, 200, gzETag, true},
		{"gzip q=0", doc, "GET", map[string]string{"Accept-Encoding": "gzip;q=0"}, 200, etag, false},
		{"gzip q=0.0 with star", doc, "GET", map[string]string{"Accept-Encoding": "*, gzip; q=0.0"}, 200, etag, false},
		{"star q=0", doc, "GET", map[string]string{"Accept-Encoding": "*;q=0"}, 200, etag, false},
		{"star", doc, "GET", map[string]string{"Accept-Encoding": "identity, *"}, 200, gzETag, true},
		{"gzip in capitals, with q", doc, "GET", map[string]string{"Accept-Encoding": "br;q=1.0, GZIP ; q=0.5"}, 200, gzETag, true},
		{"x-gzip", doc, "GET", map[string]string{"Accept-Encoding": "x-gzip"}, 200, gzETag, true},
		{"gzip q=0 beats star", doc, "GET", map[string]string{"Accept-Encoding": "gzip;q=0, *"}, 200, etag, false},
		{"bad q", doc, "GET", map[string]string{"Accept-Encoding": "gzip;q=x"}, 200, etag, false},
		{"gzip-like coding", doc, "GET", map[string]string{"Accept-Encoding": "gzipx, xgzip"}, 200, etag, false},
		{"small body not compressed", small, "GET", map[string]string{"Accept-Encoding": "gzip"}, 200, smallETag, false},
		{"small body If-None-Match", small, "GET", map[string]string{"Accept-Encoding": "gzip", "If-None-Match": smallETag}, 304, smallETag, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "/api/runs", nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			feed.Serve(rec, req, tt.doc)
			resp := rec.Result()
			body := rec.Body.Bytes()
			if resp.StatusCode != tt.want {
				t.Fatalf("status: got %d, want %d", resp.StatusCode, tt.want)
			}
			if got := resp.Header.Get("ETag"); got != tt.wantETag {
				t.Errorf("ETag: got %s, want %s", got, tt.wantETag)
			}
			if got := resp.Header.Get("Vary"); got != "Accept-Encoding" {
				t.Errorf("Vary: got %q, want Accept-Encoding", got)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control: got %q, want no-cache", got)
			}
			if got := resp.Header.Get("Last-Modified"); got != "" {
				t.Errorf("Last-Modified: got %q, want none", got)
			}
			if tt.want == 304 {
				if len(body) != 0 || resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Content-Type") != "" {
					t.Errorf("304: got %d bytes, Content-Encoding %q, Content-Type %q; want none",
						len(body), resp.Header.Get("Content-Encoding"), resp.Header.Get("Content-Type"))
				}
				return
			}
			if got := resp.Header.Get("Content-Type"); got != ctype {
				t.Errorf("Content-Type: got %q, want %q", got, ctype)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options: got %q, want nosniff", got)
			}
			gotGzip := resp.Header.Get("Content-Encoding") == "gzip"
			if gotGzip != tt.wantGzip {
				t.Fatalf("Content-Encoding gzip: got %v, want %v", gotGzip, tt.wantGzip)
			}
			n, _ := strconv.Atoi(resp.Header.Get("Content-Length"))
			if tt.method == "HEAD" {
				if len(body) != 0 {
					t.Errorf("HEAD body: got %d bytes, want none", len(body))
				}
				if !gotGzip && n != len(tt.doc.Body) {
					t.Errorf("HEAD Content-Length: got %d, want %d", n, len(tt.doc.Body))
				}
				return
			}
			// net/http omits Content-Length when Content-Encoding is set.
			if !gotGzip && n != len(body) {
				t.Errorf("Content-Length: got %d, want the %d bytes sent", n, len(body))
			}
			if gotGzip {
				body = gunzip(t, body)
			}
			if !bytes.Equal(body, tt.doc.Body) {
				t.Errorf("body: got %d bytes, want the document (%d bytes)", len(body), len(tt.doc.Body))
			}
		})
	}
}

// TestServe_Concurrent serves one Document to many clients at once, both
// representations: run with -race.
func TestServe_Concurrent(t *testing.T) {
	doc := &feed.Document{Body: jsonBody(50_000), ContentType: "application/json"}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			req := httptest.NewRequest("GET", "/", nil)
			if i%2 == 0 {
				req.Header.Set("Accept-Encoding", "gzip")
			}
			rec := httptest.NewRecorder()
			feed.Serve(rec, req, doc)
			body := rec.Body.Bytes()
			if rec.Header().Get("Content-Encoding") == "gzip" {
				body = gunzip(t, body)
			}
			if rec.Code != 200 || !bytes.Equal(body, doc.Body) {
				t.Errorf("request %d: got %d with %d bytes, want 200 with the document", i, rec.Code, len(body))
			}
		})
	}
	wg.Wait()
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Error(err)
		return nil
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Error(err)
	}
	return out
}

// ExampleServe serves bytes other than a feed: the same validators and
// compression, under their own content type.
func ExampleServe() {
	doc := &feed.Document{Body: []byte(`{"ok":true}`), ContentType: "application/json", CacheControl: "no-cache"}
	req := httptest.NewRequest("GET", "/api/ok", nil)
	req.Header.Set("If-None-Match", feed.ETag(doc.Body))
	rec := httptest.NewRecorder()
	feed.Serve(rec, req, doc)
	fmt.Println(rec.Code, rec.Header().Get("ETag") == feed.ETag(doc.Body))
	// Output: 304 true
}

// headerWriter is an http.ResponseWriter that keeps the header and drops
// the rest.
type headerWriter struct {
	h    http.Header
	code int
}

func (w *headerWriter) Header() http.Header         { return w.h }
func (w *headerWriter) WriteHeader(code int)        { w.code = code }
func (w *headerWriter) Write(p []byte) (int, error) { return len(p), nil }

// TestServe_NoAllocs checks that serving a Document costs no allocation
// once it was first served: 200 and 304, plain and gzip.
func TestServe_NoAllocs(t *testing.T) {
	doc := &feed.Document{Body: jsonBody(4000), CacheControl: "public, max-age=1"}
	etag := feed.ETag(doc.Body)
	for _, tc := range []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"200", nil, 200},
		{"200 gzip", map[string]string{"Accept-Encoding": "gzip, deflate, br, zstd"}, 200},
		{"304", map[string]string{"If-None-Match": etag}, 304},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/feed.atom", nil)
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			w := &headerWriter{h: http.Header{}}
			feed.Serve(w, r, doc)
			if w.code != tc.want {
				t.Fatalf("got %d, want %d", w.code, tc.want)
			}
			if n := testing.AllocsPerRun(100, func() {
				clear(w.h)
				feed.Serve(w, r, doc)
			}); n != 0 {
				t.Errorf("got %v allocations per request, want 0", n)
			}
		})
	}
}
