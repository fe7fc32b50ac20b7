package feed_test

import (
	"bytes"
	"html"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/mmcdole/gofeed"

	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/feed/feedtest"
)

// hostileName is a test name made to break out of escaped HTML, of XML
// text and of a CDATA section.
const hostileName = `/a<script>alert("x")</script>&amp;]]><b x='1'>.html`

// hostileHref is the link to hostileName's results: percent-encoded, so
// the attribute needs no character reference but &amp;. Python's
// feedparser (6.0.10) ends an href at a &#34; (the quote html.EscapeString
// writes) instead of keeping the quote in the URL.
var hostileHref = "https://dash.test/?run=r&path=" + url.QueryEscape(hostileName)

// htmlEntry is the fixture's first entry with HTML content that holds
// hostileName, escaped, as text and in a link, plus a character XML
// forbids.
func htmlEntry() (feed.Entry, string) {
	e := fixtureEntries()[0]
	e.HTML = "<ul><li><a href=\"" + html.EscapeString(hostileHref) + "\">" + html.EscapeString(hostileName) + "</a></li></ul>\x00"
	return e, strings.ReplaceAll(e.HTML, "\x00", "\uFFFD")
}

// HTML is written as atom:content type="html", escaped, valid against the
// schema, and read back as written by Parse, by gofeed and by Python's
// feedparser, with no element but those of the markup.
func TestEntry_HTMLContent(t *testing.T) {
	f := subscriptionFeed()
	e, want := htmlEntry()
	f.Entries[0] = e
	doc := mustMarshal(t, f)

	if n := bytes.Count(doc, []byte(`<content type="html">`)); n != 1 {
		t.Errorf("%d <content type=\"html\"> in the document, want 1:\n%s", n, doc)
	}
	for _, raw := range []string{"<script", "<ul>", "<b x=", "]]>"} {
		if bytes.Contains(doc, []byte(raw)) {
			t.Errorf("document holds %q unescaped", raw)
		}
	}
	if ps := checkProse(doc); len(ps) > 0 {
		t.Errorf("prose rules: got %q, want none", ps)
	}
	feedtest.Jing(t, doc)

	got := mustParse(t, doc)
	wantFeed := subscriptionFeed()
	wantFeed.Entries[0].HTML = want
	if d := diff(got, wantFeed); len(d) > 0 {
		t.Errorf("Parse(Marshal(f)) differs:\n%s", strings.Join(d, "\n"))
	}
	if again := mustMarshal(t, got); !bytes.Equal(again, doc) {
		t.Errorf("Marshal(Parse(doc)) != doc:\n%s", again)
	}

	gf, err := gofeed.NewParser().Parse(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if gf.Items[0].Content != want {
		t.Errorf("gofeed's content: got %q, want %q", gf.Items[0].Content, want)
	}
	checkMarkup(t, "gofeed", gf.Items[0].Content)

	checkMarkup(t, "feedparser", feedparserContent(t, doc)[0])
}

// checkMarkup parses s as HTML and checks that its elements are exactly
// the ul, li and a of htmlEntry, and that the link's text and href keep
// hostileName whole.
func checkMarkup(t *testing.T, who, s string) {
	t.Helper()
	tags, texts, hrefs := feedtest.HTMLParts(t, s)
	if want := []string{"ul", "li", "a"}; !slices.Equal(tags, want) {
		t.Errorf("%s: elements %v, want %v (from %q)", who, tags, want, s)
	}
	if !slices.Contains(texts, hostileName) {
		t.Errorf("%s: texts %q, want %q among them", who, texts, hostileName)
	}
	if want := []string{hostileHref}; !slices.Equal(hrefs, want) {
		t.Errorf("%s: hrefs %q, want %q", who, hrefs, want)
	}
}

// feedparserContent returns the value of each entry's first content, as
// Python's feedparser reads doc.
func feedparserContent(t *testing.T, doc []byte) []string {
	t.Helper()
	var got [][2]string
	feedtest.Feedparser(t, doc, `[[e.content[0].type, e.content[0].value] if e.get("content") else ["", ""] for e in d.entries]`, &got)
	var values []string
	for i, g := range got {
		if g[1] != "" && g[0] != "text/html" {
			t.Errorf("feedparser: entry %d: content type %q, want text/html", i, g[0])
		}
		values = append(values, g[1])
	}
	return values
}

// Parse keeps only the first atom:content of type "html" without src.
func TestParse_HTMLContent(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{"html", `<content type="html">  &lt;p&gt;a &amp;amp; b&lt;/p&gt; </content>`, "<p>a &amp; b</p>"},
		{"HTML, CDATA", `<content type=" HTML "><![CDATA[<p>x</p>]]></content>`, "<p>x</p>"},
		{"first of two", `<content type="html">&lt;i&gt;1&lt;/i&gt;</content><content type="html">2</content>`, "<i>1</i>"},
		{"text", `<content type="text">&lt;p&gt;</content>`, ""},
		{"no type", `<content>plain</content>`, ""},
		{"xhtml", `<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>x</p></div></content>`, ""},
		{"src", `<content type="html" src="https://example.org/c.html"/>`, ""},
		{"other namespace", `<content xmlns="urn:x" type="html">&lt;p&gt;</content>`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := mustParse(t, []byte(doc("", "", entry(tc.content))))
			if got := f.Entries[0].HTML; got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
