package publisher

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/feed/feedtest"
	"github.com/wptfeed/wptfeed/store"
)

func TestServer_HTTP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, b := tempBucket(t, ctx)
	id := store.NewRunID(time.Now())
	putRun(t, b, id, 0)
	_, addr := startServer(t, ctx, url)

	resp, body := get(t, addr, testBase+"/feed.atom")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/atom+xml; charset=utf-8" {
		t.Fatalf("feed: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if !strings.HasPrefix(etag, `"`) || lm == "" || !strings.HasPrefix(resp.Header.Get("Cache-Control"), "public, max-age=") {
		t.Errorf("validators: ETag %q Last-Modified %q Cache-Control %q", etag, lm, resp.Header.Get("Cache-Control"))
	}
	if !bytes.Contains(body, []byte(id)) {
		t.Errorf("feed lacks run %s", id)
	}

	for _, tc := range []struct {
		name   string
		method string
		path   string
		header map[string]string
		code   int
		body   bool
	}{
		{"if-none-match", "GET", "/feed.atom", map[string]string{"If-None-Match": etag}, 304, false},
		{"if-modified-since", "GET", "/feed.atom", map[string]string{"If-Modified-Since": lm}, 304, false},
		{"head", "HEAD", "/feed.atom", nil, 200, false},
		{"gzip", "GET", "/feed.atom", map[string]string{"Accept-Encoding": "gzip"}, 200, true},
		{"bad filter", "GET", "/feed.atom?color=red", nil, 400, true},
		{"manifest", "GET", "/runs/" + id + "/manifest.json", nil, 200, true},
		{"shard range", "GET", "/runs/" + id + "/shard-000.json.gz", map[string]string{"Range": "bytes=2-4"}, 206, true},
		{"unknown shard", "GET", "/runs/" + id + "/shard-001.json.gz", nil, 404, true},
		{"traversal", "GET", "/runs/" + id + "/..%2F..%2Ffeed%2Fconfig.json", nil, 404, true},
		{"bad run id", "GET", "/runs/..%2Ffeed/manifest.json", nil, 404, true},
		{"unpublished run", "GET", "/runs/20200101T000000Z-nothere/manifest.json", nil, 404, true},
		{"archive 0", "GET", "/archive/0.atom", nil, 404, true},
		{"archive 1 not yet", "GET", "/archive/1.atom", nil, 302, true},
		{"archive 01", "GET", "/archive/01.atom", nil, 404, true},
		{"healthz", "GET", "/healthz", nil, 200, true},
		{"metrics", "GET", "/metrics", nil, 200, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, addr+tc.path, nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			tr := &http.Transport{DisableCompression: true}
			c.Transport = tr
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var buf bytes.Buffer
			buf.ReadFrom(resp.Body)
			if resp.StatusCode != tc.code {
				t.Fatalf("got %s, want %d", resp.Status, tc.code)
			}
			if got := buf.Len() > 0; got != tc.body {
				t.Errorf("body of %d bytes, want body=%v", buf.Len(), tc.body)
			}
			switch tc.name {
			case "gzip":
				if resp.Header.Get("Content-Encoding") != "gzip" {
					t.Errorf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
				}
			case "shard range":
				if buf.String() != "n 0" {
					t.Errorf("range body %q, want %q", buf.String(), "n 0")
				}
			case "metrics":
				if !strings.Contains(buf.String(), `publisher_http_requests_total{code="200",route="GET /feed.atom"}`) {
					t.Errorf("metrics lack request counts:\n%.2000s", buf.String())
				}
			}
		})
	}
}

func TestServer_HostileManifest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, b := tempBucket(t, ctx)
	id := store.NewRunID(time.Now())
	s, _ := b.PutShard(ctx, id, "x.json.gz", strings.NewReader("x"))
	// Markup in every value: valid, and escaped.
	hostile := "a\tb<script>&amp;]]><![CDATA[\"'\r\n" + strings.Repeat("long", 200)
	m := &store.Manifest{RunID: id, Product: hostile, BrowserVersion: "]]>", OS: "<os/>", OSVersion: "\u00a0",
		Revision: "&", BrowserChannel: "<&>", Labels: []string{hostile, "&lt;"}, Shards: []store.Shard{s}}
	if err := b.PutManifest(ctx, id, m); err != nil {
		t.Fatal(err)
	}
	// Characters XML cannot carry, written by another tool: refused (see
	// TestServer_InvalidManifestsRejected), never breaking the document.
	other := store.NewRunID(time.Now().Add(time.Millisecond))
	b.PutShard(ctx, other, "x.json.gz", strings.NewReader("x"))
	mustWriteKey(t, b, store.ManifestKey(other), []byte(`{"product": "a\u0000b\u0001", "os": "\ufffe", "labels": ["", " "], "shards": [{"name": "x.json.gz"}]}`))
	_, addr := startServer(t, ctx, url)
	resp, body := get(t, addr, testBase+"/feed.atom")
	if resp.StatusCode != 200 {
		t.Fatalf("feed: %s", resp.Status)
	}
	f, err := feed.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("hostile metadata broke the feed: %v", err)
	}
	if len(f.Entries) != 1 || f.Entries[0].Run == nil || f.Entries[0].Run.BrowserVersion != "]]>" || f.Entries[0].Run.OS != "<os/>" ||
		f.Entries[0].Run.Product != hostile || f.Entries[0].Run.Labels[0] != hostile {
		t.Fatalf("entries %+v", f.Entries)
	}
	checkAtom(t, body)
}

// checkAtom validates an Atom document against RFC 4287's RELAX NG schema
// with jing.
func checkAtom(t *testing.T, docs ...[]byte) {
	t.Helper()
	feedtest.Jing(t, docs...)
}
