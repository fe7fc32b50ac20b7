package publisher

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"
	"golang.org/x/net/html"

	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/internal/testutil"
	"github.com/wptfeed/wptfeed/store"
	"github.com/wptfeed/wptfeed/testdata"
)

func TestRunPage_Golden(t *testing.T) {
	runs := goldenRuns()
	full := runs[2]
	page, err := renderRunPage("https://results.example.org", "https://status.example.org", full, full.m.Shards, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, filepath.Join("testdata", "runpage.golden"), page)

	// A hand-written run: what was derived is marked, the warnings are
	// listed, a missing shard has no link; no status link without
	// --status-url.
	t0 := time.Date(2026, 11, 27, 11, 0, 0, 0, time.UTC)
	m := &store.Manifest{RunID: "20261127T110000Z-othertool", Uploaded: t0, Labels: []string{"ci"},
		Shards: []store.Shard{{Name: "report.json.gz", Size: 1479}, {Name: "gone.json.gz"}}}
	given := append([]store.Shard(nil), m.Shards...)
	d := &store.Derived{Version: 1, RunID: m.RunID, Product: "firefox", BrowserVersion: "135.0a1", OS: "linux",
		Revision: "0bdaaf9c1622ca49eb140381af1ece6d8001c934", BrowserChannel: "nightly",
		Shards:   []store.Shard{{Name: "report.json.gz", Size: 1479, SHA256: fmt.Sprintf("%064x", 2)}, {Name: "gone.json.gz"}},
		Warnings: []string{"shard gone.json.gz is missing"}}
	filled := m.Fill(d)
	page, err = renderRunPage("https://results.example.org", "", newRun(2, m), given, []string{"gone.json.gz"}, d, filled)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, filepath.Join("testdata", "runpage-derived.golden"), page)
}

// pageLinks returns the href of every element of an HTML page, and its
// text content.
func pageLinks(t *testing.T, body []byte) (hrefs []string, text string) {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			sb.WriteString(n.Data)
		}
		for _, a := range n.Attr {
			if a.Key == "href" {
				hrefs = append(hrefs, a.Val)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return hrefs, sb.String()
}

// elements counts a page's elements by name.
func elements(t *testing.T, body []byte) map[string]int {
	t.Helper()
	z := html.NewTokenizer(bytes.NewReader(body))
	n := map[string]int{}
	for {
		switch z.Next() {
		case html.ErrorToken:
			if z.Err() != io.EOF {
				t.Fatal(z.Err())
			}
			return n
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			n[string(name)]++
		}
	}
}

var commitLink = regexp.MustCompile(`^https://github\.com/web-platform-tests/wpt/commit/[0-9a-f]{40}$`)

func TestServer_RunPage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, b := tempBucket(t, ctx)
	// The ingester's status server, as far as the page links it.
	status := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/status/") || r.URL.Path == "/status.atom" {
			io.WriteString(w, "ok")
			return
		}
		http.NotFound(w, r)
	}))
	defer status.Close()

	full := store.NewRunID(time.Now().Add(-time.Second))
	putRun(t, b, full, 0)
	hand := store.NewRunID(time.Now())
	putHandWritten(t, b, hand, map[string][]byte{"a.json": testdata.Read("reports/chrome.json")}, "a.json", "missing.json.gz")

	s, err := NewServer(ctx, ServerConfig{Bucket: url, Addr: "127.0.0.1:0", BaseURL: testBase, ScanInterval: time.Second,
		FullScan: time.Hour, PageSize: 100, Author: "test", StatusURL: status.URL + "/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	fetch := func(method, u string, header ...string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, strings.Replace(u, testBase, ts.URL, 1), nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}

	// Not published yet: 404, not cached.
	if resp, _ := fetch("GET", RunPageURL(testBase, full)); resp.StatusCode != http.StatusNotFound || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("page of an unpublished run: %s, Cache-Control %q; want 404, no-cache", resp.Status, resp.Header.Get("Cache-Control"))
	}
	if err := s.Scan(ctx, false); err != nil {
		t.Fatal(err)
	}

	for _, id := range []string{full, hand} {
		t.Run(id, func(t *testing.T) {
			page := RunPageURL(testBase, id)
			resp, body := fetch("GET", page)
			h := resp.Header
			if resp.StatusCode != 200 || h.Get("Content-Type") != "text/html; charset=utf-8" || h.Get("Cache-Control") != runPageCacheControl ||
				!strings.HasPrefix(h.Get("Content-Security-Policy"), "default-src 'none'") || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("GET %s: %s %v", page, resp.Status, h)
			}
			// The policy allows the page's one style element, by its hash.
			style := regexp.MustCompile(`(?s)<style>(.*)</style>`).FindSubmatch(body)
			if sum := sha256.Sum256(style[1]); !strings.Contains(h.Get("Content-Security-Policy"), "style-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") {
				t.Errorf("Content-Security-Policy %q does not allow the page's style", h.Get("Content-Security-Policy"))
			}
			etag := h.Get("ETag")
			if resp, _ := fetch("GET", page, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
				t.Errorf("If-None-Match: %s, want 304", resp.Status)
			}
			if resp, body := fetch("HEAD", page); resp.StatusCode != 200 || len(body) != 0 {
				t.Errorf("HEAD: %s with %d bytes", resp.Status, len(body))
			}
			if resp, _ := fetch("GET", testBase+"/runs/"+id); resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/runs/"+id+"/" {
				t.Errorf("/runs/<id>: %s to %q, want 301 to the page", resp.Status, resp.Header.Get("Location"))
			}

			// Every link resolves: the publisher's and the status server's
			// answer 200, the wpt commit is a well-formed commit URL.
			hrefs, text := pageLinks(t, body)
			commits := 0
			for _, href := range hrefs {
				switch {
				case commitLink.MatchString(href):
					commits++
				case strings.HasPrefix(href, testBase+"/"):
					if resp, _ := fetch("GET", href); resp.StatusCode != 200 {
						t.Errorf("link %s: %s", href, resp.Status)
					}
				case strings.HasPrefix(href, status.URL+"/api/status/"+id) || strings.HasPrefix(href, status.URL+"/status.atom"):
					if resp, err := http.Get(href); err != nil || resp.StatusCode != 200 {
						t.Errorf("status link %s: %v %v", href, resp, err)
					} else {
						resp.Body.Close()
					}
				default:
					t.Errorf("unexpected link %q", href)
				}
			}
			if commits != 1 || len(hrefs) < 6 {
				t.Errorf("links %q: want a wpt commit link among them", hrefs)
			}
			for _, want := range []string{"Product", "Revision", "Labels", "Shards", "Status of the run"} {
				if !strings.Contains(text, want) {
					t.Errorf("the page does not say %q", want)
				}
			}
			if id == hand {
				if !strings.Contains(text, "missing.json.gz (missing)") || !strings.Contains(text, "shard missing.json.gz is missing") ||
					!strings.Contains(text, "chrome") || !strings.Contains(text, "(derived from the shards)") {
					t.Errorf("the page of the hand-written run lacks what was derived, or the missing shard:\n%s", text)
				}
			}
		})
	}

	for _, path := range []string{"/runs/nonsense/", "/runs/20200101T000000Z-nothere/", "/runs/..%2Ffeed/"} {
		if resp, _ := fetch("GET", testBase+path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", path, resp.Status)
		}
	}

	// The entry's first alternate is the page (text/html), which feed
	// readers take as the entry's link; the manifest is the second.
	_, body := fetch("GET", testBase+"/feed.atom")
	f, err := feed.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	gf, err := gofeed.NewParser().Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Entries) != 2 || len(gf.Items) != 2 {
		t.Fatalf("%d entries, gofeed %d items, want 2", len(f.Entries), len(gf.Items))
	}
	for i, e := range f.Entries {
		page := RunPageURL(testBase, e.Run.ID)
		if l := e.Links; len(l) < 2 || l[0] != (feed.Link{Rel: "alternate", Href: page, Type: "text/html"}) ||
			l[1] != (feed.Link{Rel: "alternate", Href: page + store.ManifestName, Type: "application/json"}) {
			t.Errorf("entry %s: links %+v, want the page then the manifest as alternates", e.ID, e.Links)
		}
		if gf.Items[i].Link != page {
			t.Errorf("gofeed reads the link of entry %s as %q, want %q", e.ID, gf.Items[i].Link, page)
		}
	}
}

// Hostile metadata cannot inject markup into the page: the values of the
// feed's hostile-metadata tests (those the manifest rules accept) show as
// text, and the page has the elements of a benign page.
func TestServer_RunPageHostile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, b := tempBucket(t, ctx)
	hostile := "a\tb<script>&amp;]]><![CDATA[\"'\r\n" + strings.Repeat("long", 200)
	values := []string{
		hostile,
		"<script>alert('x')</script> & &amp; &#0; ]]> <![CDATA[ x ]]>",
		"tab\there\nnewline\r\ncrlf \"quoted\"",
		"unicode ✓ 𝔘 é \u0085\u00a0x",
		`"><a href="javascript:alert(1)">x</a><img src=x onerror=alert(1)>`,
	}
	put := func(id string, vals []string) {
		s, err := b.PutShard(ctx, id, "x.json.gz", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		m := &store.Manifest{RunID: id, Product: vals[0], BrowserVersion: vals[1], OS: vals[2], OSVersion: vals[3],
			Revision: vals[4], BrowserChannel: vals[1], Labels: vals, Shards: []store.Shard{s}}
		if err := b.PutManifest(ctx, id, m); err != nil {
			t.Fatal(err)
		}
	}
	bad := store.NewRunID(time.Now().Add(-time.Second))
	put(bad, values)
	benign := store.NewRunID(time.Now())
	put(benign, []string{"p", "v", "o", "ov", "r"})
	s := newScanServer(t, ctx, url, 100, nil)
	if err := s.Scan(ctx, false); err != nil {
		t.Fatal(err)
	}
	code, body := serveHTTP(s, "/runs/"+bad+"/")
	if code != 200 {
		t.Fatalf("GET the page: %d", code)
	}
	_, ref := serveHTTP(s, "/runs/"+benign+"/")
	if got, want := elements(t, body), elements(t, ref); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("hostile metadata changed the page's elements:\n got %v\nwant %v", got, want)
	}
	for _, raw := range []string{"<script", "<![CDATA[", "<img", "<a href=\"javascript"} {
		if bytes.Contains(body, []byte(raw)) {
			t.Errorf("the page holds %q unescaped", raw)
		}
	}
	hrefs, text := pageLinks(t, body)
	for _, v := range values {
		if !strings.Contains(text, strings.ReplaceAll(v, "\r\n", "\n")) {
			t.Errorf("the page does not show %q as text", v)
		}
	}
	for _, h := range hrefs {
		if !strings.HasPrefix(h, testBase+"/") {
			t.Errorf("link %q leaves the publisher", h)
		}
	}
}

func TestServerConfig_StatusURL(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"", true}, {"https://status.example.org", true}, {"http://127.0.0.1:8081/", true},
		{"status.example.org", false}, {"ftp://status.example.org", false}, {"javascript:alert(1)", false}, {"https://", false},
	} {
		cfg := DefaultServerConfig()
		cfg.StatusURL = tc.url
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("--status-url %q: got %v, want ok=%v", tc.url, err, tc.ok)
		}
	}
	cmd := NewCommand(io.Discard, io.Discard)
	serve, _, err := cmd.Find([]string{"serve"})
	if err != nil || serve.Flags().Lookup("status-url") == nil {
		t.Errorf("publisher serve has no --status-url flag (%v)", err)
	}
}
