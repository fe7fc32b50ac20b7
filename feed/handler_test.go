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
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/feed"
)

func newDocServer(t *testing.T, doc *feed.Document) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		feed.Serve(w, r, doc)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestServe(t *testing.T) {
	doc, err := feed.NewDocument(subscriptionFeed(), "public, max-age=10")
	if err != nil {
		t.Fatal(err)
	}
	srv := newDocServer(t, doc)
	etag := feed.ETag(doc.Body)
	gzETag := strings.TrimSuffix(etag, `"`) + `-gz"`
	lastMod := doc.LastModified.UTC().Format(http.TimeFormat)
	earlier := doc.LastModified.Add(-time.Hour).UTC().Format(http.TimeFormat)

	tests := []struct {
		name     string
		method   string
		header   map[string]string
		want     int
		wantBody bool
		wantETag string
		wantGzip bool
	}{
		{"GET", "GET", nil, 200, true, etag, false},
		{"HEAD", "HEAD", nil, 200, false, etag, false},
		{"If-None-Match matches", "GET", map[string]string{"If-None-Match": etag}, 304, false, etag, false},
		{"If-None-Match in a list", "GET", map[string]string{"If-None-Match": `"old", ` + etag}, 304, false, etag, false},
		{"If-None-Match star", "GET", map[string]string{"If-None-Match": "*"}, 304, false, etag, false},
		{"If-None-Match differs", "GET", map[string]string{"If-None-Match": `"old"`}, 200, true, etag, false},
		{"If-None-Match HEAD", "HEAD", map[string]string{"If-None-Match": etag}, 304, false, etag, false},
		{"If-Modified-Since equal", "GET", map[string]string{"If-Modified-Since": lastMod}, 304, false, etag, false},
		{"If-Modified-Since earlier", "GET", map[string]string{"If-Modified-Since": earlier}, 200, true, etag, false},
		{"If-None-Match wins over If-Modified-Since", "GET", map[string]string{"If-None-Match": `"old"`, "If-Modified-Since": lastMod}, 200, true, etag, false},
		{"gzip", "GET", map[string]string{"Accept-Encoding": "gzip, deflate, br"}, 200, true, gzETag, true},
		{"gzip HEAD", "HEAD", map[string]string{"Accept-Encoding": "gzip"}, 200, false, gzETag, true},
		{"gzip If-None-Match", "GET", map[string]string{"Accept-Encoding": "gzip", "If-None-Match": gzETag}, 304, false, gzETag, false},
		{"gzip request, identity ETag", "GET", map[string]string{"Accept-Encoding": "gzip", "If-None-Match": etag}, 200, true, gzETag, true},
		{"identity request, gzip ETag", "GET", map[string]string{"If-None-Match": gzETag}, 200, true, etag, false},
		{"gzip refused with q=0", "GET", map[string]string{"Accept-Encoding": "gzip;q=0, identity"}, 200, true, etag, false},
		{"star accepts gzip", "GET", map[string]string{"Accept-Encoding": "*"}, 200, true, gzETag, true},
		{"x-gzip", "GET", map[string]string{"Accept-Encoding": "X-GZIP; q=0.5"}, 200, true, gzETag, true},
		{"POST", "POST", nil, 405, false, "", false},
	}
	// A transport that neither asks for nor decodes gzip by itself.
	hc := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.want {
				t.Fatalf("status: got %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == 405 {
				if got := resp.Header.Get("Allow"); got != "GET, HEAD" {
					t.Errorf("Allow: got %q, want GET, HEAD", got)
				}
				return
			}
			if got := resp.Header.Get("ETag"); got != tt.wantETag {
				t.Errorf("ETag: got %s, want %s", got, tt.wantETag)
			}
			if got := resp.Header.Get("Cache-Control"); got != "public, max-age=10" {
				t.Errorf("Cache-Control: got %q, want public, max-age=10", got)
			}
			if got := resp.Header.Get("Vary"); got != "Accept-Encoding" {
				t.Errorf("Vary: got %q, want Accept-Encoding", got)
			}
			if tt.want == 304 {
				if len(body) != 0 {
					t.Errorf("304 body: got %d bytes, want none", len(body))
				}
				if got := resp.Header.Get("Content-Encoding"); got != "" {
					t.Errorf("304 Content-Encoding: got %q, want none", got)
				}
				return
			}
			if got := resp.Header.Get("Content-Type"); got != feed.ContentType {
				t.Errorf("Content-Type: got %q, want %q", got, feed.ContentType)
			}
			if got := resp.Header.Get("Last-Modified"); got != lastMod {
				t.Errorf("Last-Modified: got %q, want %q", got, lastMod)
			}
			gotGzip := resp.Header.Get("Content-Encoding") == "gzip"
			if gotGzip != tt.wantGzip {
				t.Errorf("Content-Encoding gzip: got %v, want %v", gotGzip, tt.wantGzip)
			}
			if !tt.wantBody {
				if len(body) != 0 {
					t.Errorf("HEAD body: got %d bytes, want none", len(body))
				}
				// net/http omits Content-Length when Content-Encoding is set.
				if n, _ := strconv.Atoi(resp.Header.Get("Content-Length")); !gotGzip && n != len(doc.Body) {
					t.Errorf("HEAD Content-Length: got %q, want the body size", resp.Header.Get("Content-Length"))
				}
				return
			}
			if gotGzip {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(body, doc.Body) {
				t.Errorf("body: got %d bytes, want the document (%d bytes)", len(body), len(doc.Body))
			}
		})
	}
}

func TestServe_ETag(t *testing.T) {
	tests := []struct {
		name, etag, want string
	}{
		{"computed", "", feed.ETag([]byte("body"))},
		{"bare is quoted", "v1", `"v1"`},
		{"quoted is kept", `"v2"`, `"v2"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			feed.Serve(rec, httptest.NewRequest("GET", "/feed.atom", nil), &feed.Document{Body: []byte("body"), ETag: tt.etag})
			if got := rec.Header().Get("ETag"); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	if got := feed.ETag([]byte("body")); len(got) != 34 || got[0] != '"' || got[33] != '"' {
		t.Errorf("ETag: got %s, want 32 quoted hex digits", got)
	}
}

// TestServe_RangeAndPreconditions: Range, If-Range, If-Match and
// If-Unmodified-Since (answered through http.ServeContent), If-None-Match
// over several field lines, and Content-Length on both representations.
func TestServe_RangeAndPreconditions(t *testing.T) {
	doc, err := feed.NewDocument(subscriptionFeed(), "public, max-age=10")
	if err != nil {
		t.Fatal(err)
	}
	etag := feed.ETag(doc.Body)
	gzETag := strings.TrimSuffix(etag, `"`) + `-gz"`
	lastMod := doc.LastModified.UTC().Format(http.TimeFormat)
	later := doc.LastModified.Add(time.Hour).UTC().Format(http.TimeFormat)
	earlier := doc.LastModified.Add(-time.Hour).UTC().Format(http.TimeFormat)

	tests := []struct {
		name      string
		method    string
		header    http.Header
		want      int
		wantBody  string // the plain body's bytes [a:b] as "a-b"; "" = the whole representation
		wantGzip  bool
		wantRange string // Content-Range
	}{
		{"range", "GET", http.Header{"Range": {"bytes=0-99"}}, 206, "0-100", false, fmt.Sprintf("bytes 0-99/%d", len(doc.Body))},
		{"range, suffix", "GET", http.Header{"Range": {"bytes=-10"}}, 206, fmt.Sprintf("%d-%d", len(doc.Body)-10, len(doc.Body)), false, fmt.Sprintf("bytes %d-%d/%d", len(doc.Body)-10, len(doc.Body)-1, len(doc.Body))},
		{"range not satisfiable", "GET", http.Header{"Range": {fmt.Sprintf("bytes=%d-", len(doc.Body)+5)}}, 416, "-", false, fmt.Sprintf("bytes */%d", len(doc.Body))},
		{"if-range matches", "GET", http.Header{"Range": {"bytes=0-9"}, "If-Range": {etag}}, 206, "0-10", false, fmt.Sprintf("bytes 0-9/%d", len(doc.Body))},
		{"if-range differs: whole body", "GET", http.Header{"Range": {"bytes=0-9"}, "If-Range": {`"old"`}}, 200, "", false, ""},
		{"range of the gzip representation", "GET", http.Header{"Range": {"bytes=0-1"}, "Accept-Encoding": {"gzip"}}, 206, "gz:0-2", true, ""},
		{"if-match", "GET", http.Header{"If-Match": {etag}}, 200, "", false, ""},
		{"if-match fails", "GET", http.Header{"If-Match": {`"old"`}}, 412, "-", false, ""},
		{"if-unmodified-since", "GET", http.Header{"If-Unmodified-Since": {lastMod}}, 200, "", false, ""},
		{"if-unmodified-since fails", "GET", http.Header{"If-Unmodified-Since": {earlier}}, 412, "-", false, ""},
		{"if-none-match on two lines", "GET", http.Header{"If-None-Match": {`"a"`, `W/"b", ` + etag}}, 304, "-", false, ""},
		{"if-none-match malformed", "GET", http.Header{"If-None-Match": {`nonsense, ` + etag}}, 200, "", false, ""},
		{"if-none-match with a comma inside a tag", "GET", http.Header{"If-None-Match": {`"a,b", ` + etag}}, 304, "-", false, ""},
		{"if-modified-since later", "GET", http.Header{"If-Modified-Since": {later}}, 304, "-", false, ""},
		{"if-modified-since unparsable", "GET", http.Header{"If-Modified-Since": {"yesterday"}}, 200, "", false, ""},
		{"gzip has a Content-Length", "GET", http.Header{"Accept-Encoding": {"gzip"}}, 200, "", true, ""},
		{"gzip HEAD has a Content-Length", "HEAD", http.Header{"Accept-Encoding": {"gzip"}}, 200, "-", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "/feed.atom", nil)
			req.Header = tt.header
			rec := httptest.NewRecorder()
			feed.Serve(rec, req, doc)
			resp := rec.Result()
			body := rec.Body.Bytes()
			if resp.StatusCode != tt.want {
				t.Fatalf("status: got %d, want %d", resp.StatusCode, tt.want)
			}
			if got := resp.Header.Get("Content-Range"); tt.wantRange != "" && got != tt.wantRange {
				t.Errorf("Content-Range: got %q, want %q", got, tt.wantRange)
			}
			if got := resp.Header.Get("Content-Encoding") == "gzip"; got != tt.wantGzip {
				t.Errorf("gzip: got %v, want %v", got, tt.wantGzip)
			}
			if tt.want == 304 {
				if len(body) != 0 || resp.Header.Get("Content-Type") != "" || resp.Header.Get("Content-Length") != "" {
					t.Errorf("304: got %d bytes, Content-Type %q, Content-Length %q; want none", len(body), resp.Header.Get("Content-Type"), resp.Header.Get("Content-Length"))
				}
				return
			}
			full := doc.Body
			if tt.wantGzip {
				zr := httptest.NewRecorder()
				zreq := httptest.NewRequest("GET", "/feed.atom", nil)
				zreq.Header.Set("Accept-Encoding", "gzip")
				feed.Serve(zr, zreq, doc)
				full = zr.Body.Bytes()
				if got := resp.Header.Get("ETag"); got != gzETag {
					t.Errorf("ETag: got %s, want %s", got, gzETag)
				}
			}
			switch {
			case tt.wantBody == "-":
				if tt.method == "HEAD" && len(body) != 0 {
					t.Errorf("HEAD body: got %d bytes", len(body))
				}
			case tt.wantBody == "":
				if !bytes.Equal(body, full) {
					t.Errorf("body: got %d bytes, want the %d of the representation", len(body), len(full))
				}
			default:
				var a, b int
				fmt.Sscanf(strings.TrimPrefix(tt.wantBody, "gz:"), "%d-%d", &a, &b)
				if !bytes.Equal(body, full[a:b]) {
					t.Errorf("body: got %q, want bytes %d-%d of the representation", body, a, b)
				}
			}
			if tt.want == 200 {
				if n, err := strconv.Atoi(resp.Header.Get("Content-Length")); err != nil || n != len(full) {
					t.Errorf("Content-Length: got %q, want %d", resp.Header.Get("Content-Length"), len(full))
				}
			}
		})
	}
}
