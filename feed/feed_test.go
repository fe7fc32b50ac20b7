package feed_test

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/feed"
)

// Fixed clock for fixtures: nothing here depends on time.Now.
var (
	t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

const base = "https://wptfeed.example"

func run(id, product, version, os, osVersion, rev, channel string, labels []string, start time.Time) *feed.Run {
	return &feed.Run{
		ID:             id,
		Product:        product,
		BrowserVersion: version,
		OS:             os,
		OSVersion:      osVersion,
		Revision:       rev,
		Channel:        channel,
		Labels:         labels,
		TimeStart:      start,
		TimeEnd:        start.Add(47*time.Minute + 500*time.Millisecond),
		Uploaded:       start.Add(time.Hour),
		Shards: []feed.Shard{
			{Name: "wptreport-1.json.gz", Size: 1048576, SHA256: strings.Repeat("ab", 32)},
			{Name: "wptreport-2.json.gz", Size: 524288},
		},
	}
}

// runEntry builds the entry the publisher would write for r.
func runEntry(r *feed.Run) feed.Entry {
	e := feed.Entry{
		ID:        "tag:wptfeed.org,2026:run/" + r.ID,
		Title:     fmt.Sprintf("%s %s on %s %s at %.10s", r.Product, r.BrowserVersion, r.OS, r.OSVersion, r.Revision),
		Updated:   r.Uploaded,
		Published: r.Uploaded,
		Summary:   fmt.Sprintf("%d result shards, labels %s.", len(r.Shards), strings.Join(r.Labels, ", ")),
		Links: []feed.Link{
			{Href: base + "/runs/" + r.ID, Rel: "alternate", Type: "text/html"},
		},
		Categories: []feed.Category{
			{Term: r.Product, Scheme: feed.SchemeProduct},
			{Term: r.Channel, Scheme: feed.SchemeChannel},
			{Term: r.OS, Scheme: feed.SchemeOS},
		},
		Run: r,
	}
	for _, l := range r.Labels {
		e.Categories = append(e.Categories, feed.Category{Term: l, Scheme: feed.SchemeLabel})
	}
	for _, s := range r.Shards {
		e.Links = append(e.Links, feed.Link{
			Href: base + "/results/" + r.ID + "/" + s.Name, Rel: "enclosure",
			Type: "application/gzip", Length: s.Size, Title: s.Name, SHA256: s.SHA256,
		})
	}
	return e
}

func fixtureEntries() []feed.Entry {
	return []feed.Entry{
		runEntry(run("5697095575011328", "chrome", "69.0.3497.92", "linux", "16.04",
			"93e2953e49307f07db029f43e05f605e7070a65a", "stable", []string{"buildbot", "chrome", "stable"},
			t0.Add(-2*time.Hour))),
		runEntry(run("5722337332690944", "edge", "17", "windows", "10",
			"880ceceec4d092bcee036a8d9dfa0181ffe468a7", "stable", []string{"buildbot", "edge", "stable"},
			t0.Add(-26*time.Hour))),
	}
}

// subscriptionFeed is the current document: newest entries, self and
// prev-archive links, no fh:archive.
func subscriptionFeed() *feed.Feed {
	return &feed.Feed{
		ID:       "tag:wptfeed.org,2026:feed",
		Title:    "wptfeed runs",
		Subtitle: "web-platform-tests runs uploaded to wptfeed.example",
		Updated:  t0.Add(-time.Hour),
		Author:   feed.Person{Name: "wptfeed publisher", URI: base + "/", Email: "feeds@wptfeed.example"},
		Links: []feed.Link{
			{Href: base + "/feed.atom", Rel: "self", Type: "application/atom+xml"},
			{Href: base + "/", Rel: "alternate", Type: "text/html"},
			{Href: base + "/archive/2026-02.atom", Rel: "prev-archive", Type: "application/atom+xml"},
		},
		Entries: fixtureEntries(),
	}
}

// archiveFeed is a complete archive document (RFC 5005 §4).
func archiveFeed() *feed.Feed {
	f := subscriptionFeed()
	f.Archive = true
	f.Title = "wptfeed runs, February 2026"
	f.Updated = t0.Add(-24 * time.Hour)
	f.Links = []feed.Link{
		{Href: base + "/archive/2026-02.atom", Rel: "self", Type: "application/atom+xml"},
		{Href: base + "/feed.atom", Rel: "current", Type: "application/atom+xml"},
		{Href: base + "/archive/2026-01.atom", Rel: "prev-archive", Type: "application/atom+xml"},
		{Href: base + "/archive/2026-03.atom", Rel: "next-archive", Type: "application/atom+xml"},
	}
	f.Entries = f.Entries[1:]
	return f
}

// hostile is text runners could put in metadata, with what Parse must give
// back: forbidden characters become U+FFFD, markup stays text, leading and
// trailing white space of text constructs is trimmed.
type hostile struct{ in, want string }

var hostiles = []hostile{
	{"nul\x00 and \x01\x08\x0b\x0c\x1f controls", "nul\uFFFD and \uFFFD\uFFFD\uFFFD\uFFFD\uFFFD controls"},
	{"<script>alert('x')</script> & &amp; &#0; ]]> <![CDATA[ x ]]>", "<script>alert('x')</script> & &amp; &#0; ]]> <![CDATA[ x ]]>"},
	{"tab\there\nnewline\r\ncrlf \"quoted\"", "tab\there\nnewline\r\ncrlf \"quoted\""},
	{"bad utf-8 \xff\xfe and noncharacters \uFFFE\uFFFF, surrogate-ish \xed\xa0\x80", "bad utf-8 \uFFFD\uFFFD and noncharacters \uFFFD\uFFFD, surrogate-ish \uFFFD\uFFFD\uFFFD"},
	{"unicode ✓ 𝔘 é \u0085\u00a0x", "unicode ✓ 𝔘 é \u0085\u00a0x"},
}

// megabyte is a 1 MiB string of markup-looking text.
var megabyte = strings.Repeat("<a&b>]]>\x00", 1<<20/9)

var megabyteWant = strings.ReplaceAll(megabyte, "\x00", "\uFFFD")

// hostileFeed puts hostile text in every string field.
func hostileFeed() *feed.Feed {
	f := subscriptionFeed()
	f.Title = hostiles[0].in
	f.Subtitle = hostiles[1].in
	f.Author.Name = hostiles[4].in
	e := &f.Entries[0]
	e.Title = hostiles[2].in
	e.Summary = megabyte
	e.Links[0].Title = hostiles[3].in
	e.Categories[0].Label = hostiles[1].in
	e.Run.Product = hostiles[3].in
	e.Run.BrowserVersion = megabyte
	e.Run.Labels = append(e.Run.Labels, hostiles[0].in, hostiles[1].in, "")
	e.Run.Shards[1].Name = hostiles[2].in
	return f
}

func mustMarshal(tb testing.TB, f *feed.Feed) []byte {
	tb.Helper()
	b, err := feed.Marshal(f)
	if err != nil {
		tb.Fatalf("Marshal: %v", err)
	}
	return b
}

func mustParse(tb testing.TB, b []byte) *feed.Feed {
	tb.Helper()
	f, err := feed.Parse(bytes.NewReader(b))
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	return f
}

// goldens lists the golden documents and how to build them.
var goldens = []struct {
	file string
	feed func() *feed.Feed
}{
	{"subscription.golden", subscriptionFeed},
	{"archive.golden", archiveFeed},
}

var rfc3339Z = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z$`)

// checkProse checks the RFC 4287 / RFC 5005 rules the RELAX NG schema does
// not (see ../../shared/atom/README.md), plus our own: feed-level elements
// before entries, a feed author, a self link, unique entry ids, an alternate
// link on every entry (we write no content), dates RFC 3339 in UTC with Z and
// no zero fraction, archive documents with fh:archive and a current link.
func checkProse(doc []byte) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	d := xml.NewDecoder(bytes.NewReader(doc))
	var (
		stack      []xml.Name
		seenEntry  bool
		feedAuthor bool
		links      = map[string]int{}
		archive    bool
		ids        = map[string]bool{}
		entryAlt   bool
		text       strings.Builder
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return append(problems, "not well-formed: "+err.Error())
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth := len(stack)
			stack = append(stack, t.Name)
			text.Reset()
			if depth == 0 {
				if t.Name != (xml.Name{Space: feed.NS, Local: "feed"}) {
					bad("root is %v, want atom:feed", t.Name)
				}
				continue
			}
			if depth == 1 {
				if t.Name == (xml.Name{Space: feed.NS, Local: "entry"}) {
					seenEntry = true
					entryAlt = false
					continue
				}
				if seenEntry {
					bad("feed-level element %v after an entry", t.Name)
				}
				switch t.Name {
				case xml.Name{Space: feed.NS, Local: "author"}:
					feedAuthor = true
				case xml.Name{Space: feed.NS, Local: "link"}:
					links[attr(t, "rel")]++
				case xml.Name{Space: feed.HistoryNS, Local: "archive"}:
					archive = true
				}
			}
			if depth == 2 && stack[1].Local == "entry" && t.Name == (xml.Name{Space: feed.NS, Local: "link"}) {
				if r := attr(t, "rel"); r == "alternate" || r == "" {
					entryAlt = true
				}
			}
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			isDate := n.Space == feed.NS && (n.Local == "updated" || n.Local == "published") ||
				n.Space == feed.RunNS && (n.Local == "time-start" || n.Local == "time-end" || n.Local == "uploaded")
			if isDate {
				s := text.String()
				if _, err := time.Parse(time.RFC3339Nano, s); err != nil || !rfc3339Z.MatchString(s) {
					bad("date %v %q is not RFC 3339 UTC with Z", n, s)
				}
			}
			if n == (xml.Name{Space: feed.NS, Local: "id"}) && len(stack) == 2 {
				if ids[text.String()] {
					bad("duplicate entry id %q", text.String())
				}
				ids[text.String()] = true
			}
			if n == (xml.Name{Space: feed.NS, Local: "entry"}) && !entryAlt {
				bad("entry without alternate link")
			}
		}
	}
	if !feedAuthor {
		bad("feed has no author")
	}
	if links["self"] != 1 {
		bad("feed has %d self links, want 1", links["self"])
	}
	if archive && links["current"] != 1 {
		bad("archive document has %d current links, want 1", links["current"])
	}
	return problems
}

func attr(t xml.StartElement, local string) string {
	for _, a := range t.Attr {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}
