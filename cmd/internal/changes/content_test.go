package changes_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/mmcdole/gofeed"

	"github.com/wptfeed/wptfeed/cmd/internal/changes"
	"github.com/wptfeed/wptfeed/feed/feedtest"
)

// hostileTests are test names made to add markup to an entry's content,
// to end its XML text or a CDATA section, or to break out of an href.
var hostileTests = []string{
	`/x/<script>alert(1)</script>.html`,
	`/x/a&amp;b.html?q="1"&r='2'`,
	`/x/]]><img src=x onerror=alert(2)>.html`,
}

// TestFeed_HostileTestNames: regressed tests whose names hold markup come
// out of /changes.atom as text, read by gofeed and by Python's feedparser:
// the content's only elements are the entry's own paragraphs, lists and
// links, and each name comes back whole, as a text and in its links.
func TestFeed_HostileTestNames(t *testing.T) {
	p := newProcessor(t, &changes.Recorder{})
	idx := &bucketIndex{b: p.Out}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	changes.NewFeed(changes.FeedConfig{Out: p.Out, Index: idx, BaseURL: "https://dash.test"}).
		Mount(func(pattern string, h http.HandlerFunc) { mux.HandleFunc(pattern, h) })
	before, after := map[string]result{}, map[string]result{}
	for _, name := range hostileTests {
		before[name] = result{status: "PASS"}
		after[name] = result{status: "FAIL"}
	}
	mustIngest(t, p, 0, before)
	mustIngest(t, p, 1, after)
	idx.refresh(t)

	fd, body := getFeed(t, srv, "")
	feedtest.Jing(t, body)
	for _, raw := range []string{"<script", "<img", "<ul>", "]]>"} {
		if bytes.Contains(body, []byte(raw)) {
			t.Errorf("document holds %q unescaped", raw)
		}
	}
	if len(fd.Entries) != 1 {
		t.Fatalf("%d entries, want 1", len(fd.Entries))
	}
	checkContent(t, "feed.Parse", fd.Entries[0].HTML)

	gf, err := gofeed.NewParser().Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(gf.Items) != 1 {
		t.Fatalf("gofeed: %d items, want 1", len(gf.Items))
	}
	checkContent(t, "gofeed", gf.Items[0].Content)

	checkContent(t, "feedparser", feedparserContent(t, body))
}

// checkContent checks the HTML of the entry of run 1 against run 0, where
// every hostile test regressed.
func checkContent(t *testing.T, who, s string) {
	t.Helper()
	tags, texts, hrefs := feedtest.HTMLParts(t, s)
	// The counts with a link to each run, then the regressions, each with
	// a link to its results in both runs.
	want := []string{"p", "a", "a", "p", "ul"}
	for range hostileTests {
		want = append(want, "li", "a", "a")
	}
	if !slices.Equal(tags, want) {
		t.Errorf("%s: elements %v, want %v; content %q", who, tags, want, s)
	}
	var paths []string
	for _, h := range hrefs {
		u, err := url.Parse(h)
		if err != nil || u.Scheme != "https" || u.Host != "dash.test" {
			t.Errorf("%s: href %q is not on the dashboard (%v)", who, h, err)
			continue
		}
		q := u.Query()
		if r := q.Get("run"); r != runID(0) && r != runID(1) || len(q) > 2 {
			t.Errorf("%s: href %q: want run=<run 0 or 1> and a path only", who, h)
		}
		if p := q.Get("path"); p != "" {
			paths = append(paths, p)
		}
	}
	for _, name := range hostileTests {
		if !slices.Contains(texts, name) {
			t.Errorf("%s: no text %q among %q", who, name, texts)
		}
		if n := strings.Count(strings.Join(paths, "\n")+"\n", name+"\n"); n != 2 {
			t.Errorf("%s: %d links to %q's results, want 2 (both runs); paths %q", who, n, name, paths)
		}
	}
}

// feedparserContent returns the HTML content of the only entry of doc, as
// Python's feedparser reads it.
func feedparserContent(t *testing.T, doc []byte) string {
	t.Helper()
	var got [2]string
	feedtest.Feedparser(t, doc, "[d.entries[0].content[0].type, d.entries[0].content[0].value]", &got)
	if got[0] != "text/html" {
		t.Errorf("feedparser: content type %q, want text/html", got[0])
	}
	return got[1]
}
