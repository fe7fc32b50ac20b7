package feed_test

import (
	"encoding/xml"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/feed"
)

// doc wraps entries in a minimal feed; rootAttrs declares namespaces.
func doc(rootAttrs, feedLevel, entries string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" ` + rootAttrs + `>
  <id>tag:example.org,2026:feed</id><title>t</title><updated>2026-01-02T03:04:05Z</updated>
  <author><name>n</name></author><link rel="self" href="https://example.org/feed.atom"/>
  ` + feedLevel + entries + `
</feed>`
}

const minimalEntry = `<entry><id>tag:example.org,2026:e1</id><title>e</title><updated>2026-01-02T03:04:05Z</updated>
  <link href="https://example.org/e1"/>%s</entry>`

func entry(ext string) string { return strings.Replace(minimalEntry, "%s", ext, 1) }

func TestParse_ExtensionsByNamespace(t *testing.T) {
	wantRun := &feed.Run{ID: "r1", Product: "firefox", Labels: []string{"nightly"},
		Shards: []feed.Shard{{Name: "a.json", Size: 3}}}
	tests := []struct {
		name        string
		doc         string
		wantArchive bool
		wantRun     *feed.Run
	}{
		{
			name: "wpt prefix",
			doc: doc(`xmlns:wpt="tag:wptfeed.org,2026:run" xmlns:fh="http://purl.org/syndication/history/1.0"`, `<fh:archive/>`,
				entry(`<wpt:run><wpt:id>r1</wpt:id><wpt:product>firefox</wpt:product><wpt:label>nightly</wpt:label><wpt:shard name="a.json" size="3"/></wpt:run>`)),
			wantArchive: true, wantRun: wantRun,
		},
		{
			name: "other prefixes",
			doc: doc(`xmlns:r="tag:wptfeed.org,2026:run" xmlns:hist="http://purl.org/syndication/history/1.0"`, `<hist:archive></hist:archive>`,
				entry(`<r:run><r:id>r1</r:id><r:product>firefox</r:product><r:label>nightly</r:label><r:shard name="a.json" size="3"/></r:run>`)),
			wantArchive: true, wantRun: wantRun,
		},
		{
			name: "default namespace on the element",
			doc: doc(``, `<archive xmlns="http://purl.org/syndication/history/1.0"/>`,
				entry(`<run xmlns="tag:wptfeed.org,2026:run"><id>r1</id><product>firefox</product><label>nightly</label><shard name="a.json" size="3"/></run>`)),
			wantArchive: true, wantRun: wantRun,
		},
		{
			name: "prefix declared on the element, rebound inside the entry",
			doc: doc(`xmlns:wpt="urn:not-ours"`, ``,
				entry(`<wpt:run xmlns:wpt="tag:wptfeed.org,2026:run"><wpt:id>r1</wpt:id><wpt:product>firefox</wpt:product><wpt:label>nightly</wpt:label><wpt:shard name="a.json" size="3"/></wpt:run>`)),
			wantRun: wantRun,
		},
		{
			name: "wpt prefix bound to another namespace is not ours",
			doc: doc(`xmlns:wpt="urn:not-ours" xmlns:fh="urn:not-history"`, `<fh:archive/>`,
				entry(`<wpt:run><wpt:id>r1</wpt:id></wpt:run>`)),
		},
		{
			name: "unknown and foreign children are ignored",
			doc: doc(`xmlns:wpt="tag:wptfeed.org,2026:run" xmlns:x="urn:x"`, ``,
				entry(`<wpt:run x:attr="1"><x:id>nope</x:id><wpt:id>r1</wpt:id><wpt:future>?</wpt:future><wpt:product>fire<x:b>NOT</x:b>fox</wpt:product><wpt:label>nightly</wpt:label><wpt:shard name="a.json" size="3" x:size="9" extra="1"><x:y/></wpt:shard></wpt:run><wpt:run><wpt:id>second</wpt:id></wpt:run>`)),
			wantRun: wantRun,
		},
		{
			name: "archive inside an entry is not feed-level",
			doc:  doc(`xmlns:fh="http://purl.org/syndication/history/1.0"`, ``, entry(`<fh:archive/>`)),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, []byte(tt.doc))
			if f.Archive != tt.wantArchive {
				t.Errorf("Archive: got %v, want %v", f.Archive, tt.wantArchive)
			}
			if len(f.Entries) != 1 {
				t.Fatalf("got %d entries, want 1", len(f.Entries))
			}
			if d := diff(f.Entries[0].Run, tt.wantRun); len(d) > 0 {
				t.Errorf("Run differs:\n%s", strings.Join(d, "\n"))
			}
		})
	}
}

func TestParse_Fields(t *testing.T) {
	f := mustParse(t, []byte(doc(`xmlns:wpt="tag:wptfeed.org,2026:run"`,
		`<subtitle>  sub  </subtitle><link href="https://example.org/" /><link rel="prev-archive" href="https://example.org/a1.atom" type="application/atom+xml" length="x"/>`,
		`<entry>
		  <id> https://example.org/ü/run?a=1&amp;b=2 </id>
		  <title type="text">  Chrome &lt;b&gt; &amp;amp; </title>
		  <updated>2026-01-02T04:04:05.25+01:00</updated>
		  <published>2026-01-01t00:00:00z</published>
		  <summary>s</summary>
		  <content type="text">ignored</content>
		  <author><name>entry author (ignored)</name></author>
		  <link rel="enclosure" href="https://example.org/r.json.gz" length=" 42 " title="r"/>
		  <link href="https://example.org/e"/>
		  <category term="chrome" scheme="tag:wptfeed.org,2026:product" label="Chrome"/>
		  <wpt:run><wpt:id>r</wpt:id><wpt:time-start> 2026-01-01T00:00:00-05:00 </wpt:time-start><wpt:uploaded></wpt:uploaded></wpt:run>
		</entry>`)))
	want := &feed.Feed{
		ID:       "tag:example.org,2026:feed",
		Title:    "t",
		Subtitle: "sub",
		Updated:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Author:   feed.Person{Name: "n"},
		Links: []feed.Link{
			{Href: "https://example.org/feed.atom", Rel: "self"},
			{Href: "https://example.org/", Rel: "alternate"},
			{Href: "https://example.org/a1.atom", Rel: "prev-archive", Type: "application/atom+xml"},
		},
		Entries: []feed.Entry{{
			ID:        "https://example.org/ü/run?a=1&b=2",
			Title:     "Chrome <b> &amp;",
			Updated:   time.Date(2026, 1, 2, 3, 4, 5, 250e6, time.UTC),
			Published: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			Summary:   "s",
			Links: []feed.Link{
				{Href: "https://example.org/r.json.gz", Rel: "enclosure", Length: 42, Title: "r"},
				{Href: "https://example.org/e", Rel: "alternate"},
			},
			Categories: []feed.Category{{Term: "chrome", Scheme: feed.SchemeProduct, Label: "Chrome"}},
			Run:        &feed.Run{ID: "r", TimeStart: time.Date(2026, 1, 1, 5, 0, 0, 0, time.UTC)},
		}},
	}
	if d := diff(f, want); len(d) > 0 {
		t.Errorf("Parse differs:\n%s", strings.Join(d, "\n"))
	}
	if got := f.Link("prev-archive"); got != "https://example.org/a1.atom" {
		t.Errorf("Link(prev-archive): got %q, want the archive", got)
	}
}

func TestParse_Errors(t *testing.T) {
	// Parse has no sentinel error of its own; where the cause has a type,
	// the test checks that it is wrapped, so that a case fails for the
	// reason it names.
	tests := []struct {
		name string
		doc  string
		as   any // when set, a pointer errors.As must fill
	}{
		{name: "empty", doc: ""},
		{name: "not xml", doc: "hello"},
		{name: "rss", doc: `<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>`},
		{name: "truncated", doc: doc("", "", entry(""))[:300], as: new(*xml.SyntaxError)},
		{name: "bad feed date", doc: strings.Replace(doc("", "", ""), "2026-01-02T03:04:05Z", "yesterday", 1), as: new(*time.ParseError)},
		{name: "bad entry date", doc: doc("", "", strings.Replace(entry(""), "2026-01-02T03:04:05Z", "soon", 1)), as: new(*time.ParseError)},
		{name: "bad run time", doc: doc(`xmlns:wpt="tag:wptfeed.org,2026:run"`, "", entry(`<wpt:run><wpt:id>r</wpt:id><wpt:time-end>2026-13-01T00:00:00Z</wpt:time-end></wpt:run>`)), as: new(*time.ParseError)},
		{name: "bad shard size", doc: doc(`xmlns:wpt="tag:wptfeed.org,2026:run"`, "", entry(`<wpt:run><wpt:id>r</wpt:id><wpt:shard name="a" size="-1"/></wpt:run>`))},
		{name: "unknown charset", doc: strings.Replace(doc("", "", ""), `encoding="UTF-8"`, `encoding="no-such-charset"`, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := feed.Parse(strings.NewReader(tt.doc))
			if err == nil {
				t.Fatalf("got %+v, want an error", f)
			}
			if tt.as != nil && !errors.As(err, tt.as) {
				t.Errorf("got %v, want it to wrap a %v", err, reflect.TypeOf(tt.as).Elem())
			}
		})
	}
}

func TestParse_Lenient(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		check func(*feed.Feed) bool
	}{
		{
			name:  "control bytes are dropped, as gofeed does",
			doc:   strings.Replace(doc("", "", ""), "<title>t</title>", "<title>t\x01\x02itle</title>", 1),
			check: func(f *feed.Feed) bool { return f.Title == "title" },
		},
		{
			name:  "latin-1 document",
			doc:   strings.Replace(strings.Replace(doc("", "", ""), `encoding="UTF-8"`, `encoding="ISO-8859-1"`, 1), "<title>t</title>", "<title>caf\xe9</title>", 1),
			check: func(f *feed.Feed) bool { return f.Title == "café" },
		},
		{
			name:  "no entries",
			doc:   doc("", "", ""),
			check: func(f *feed.Feed) bool { return len(f.Entries) == 0 && f.Link("self") != "" },
		},
		{
			name:  "missing dates are zero",
			doc:   strings.Replace(doc("", "", ""), "<updated>2026-01-02T03:04:05Z</updated>", "", 1),
			check: func(f *feed.Feed) bool { return f.Updated.IsZero() },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := feed.Parse(strings.NewReader(tt.doc))
			if err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			if !tt.check(f) {
				t.Errorf("got %+v, check failed", f)
			}
		})
	}
}

// wpt:sha256 on atom:link is read per link, by namespace URI.
func TestParse_LinkSHA256(t *testing.T) {
	sum := strings.Repeat("0f", 32)
	links := `<link rel="enclosure" href="https://example.org/a.json.gz" %s="` + sum + `"/>` +
		`<link rel="enclosure" href="https://example.org/b.json.gz"/>`
	tests := []struct {
		name, rootAttrs, attr string
		want                  string // the first enclosure's SHA256
	}{
		{"wpt prefix", `xmlns:wpt="tag:wptfeed.org,2026:run"`, "wpt:sha256", sum},
		{"other prefix", `xmlns:r="tag:wptfeed.org,2026:run"`, "r:sha256", sum},
		{"prefix bound to another namespace", `xmlns:wpt="urn:not-ours"`, "wpt:sha256", ""},
		{"no namespace", ``, "sha256", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ls := strings.Replace(links, "%s", tt.attr, 1)
			f := mustParse(t, []byte(doc(tt.rootAttrs, ls, entry(ls))))
			for where, got := range map[string][]feed.Link{"feed": f.Links, "entry": f.Entries[0].Links} {
				encl := 0
				for _, l := range got {
					if l.Rel != "enclosure" {
						if l.SHA256 != "" {
							t.Errorf("%s: %s link has SHA256 %q, want none", where, l.Rel, l.SHA256)
						}
						continue
					}
					want := ""
					if encl == 0 {
						want = tt.want
					}
					if l.SHA256 != want {
						t.Errorf("%s: enclosure %s: got SHA256 %q, want %q", where, l.Href, l.SHA256, want)
					}
					encl++
				}
				if encl != 2 {
					t.Errorf("%s: got %d enclosures, want 2", where, encl)
				}
			}
		})
	}
}
