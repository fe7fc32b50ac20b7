package feed

import "time"

// Namespaces, category schemes and the media type of wptfeed documents.
const (
	// NS is the Atom 1.0 namespace (RFC 4287 §2).
	NS = "http://www.w3.org/2005/Atom"
	// HistoryNS is the feed history namespace of RFC 5005 (prefix "fh"),
	// which holds fh:archive.
	HistoryNS = "http://purl.org/syndication/history/1.0"
	// RunNS is the wptfeed extension namespace (prefix "wpt"); it holds the
	// wpt:run element described in the package documentation. It is a
	// tag: URI (RFC 4151) and resolves to nothing.
	RunNS = "tag:wptfeed.org,2026:run"

	// SchemeProduct is the atom:category scheme whose terms are product
	// (browser) names, e.g. "chrome".
	SchemeProduct = "tag:wptfeed.org,2026:product"
	// SchemeChannel is the scheme whose terms are release channels, e.g.
	// "stable", "experimental".
	SchemeChannel = "tag:wptfeed.org,2026:channel"
	// SchemeOS is the scheme whose terms are operating system names.
	SchemeOS = "tag:wptfeed.org,2026:os"
	// SchemeLabel is the scheme whose terms are wpt.fyi-style run labels.
	SchemeLabel = "tag:wptfeed.org,2026:label"

	// ContentType is the Content-Type of served feed documents (RFC 4287 §7).
	ContentType = "application/atom+xml; charset=utf-8"
)

// Person is an Atom Person construct (RFC 4287 §3.2). Name is required
// where a Person is written; Email, when set, must contain an "@" with
// text on both sides.
type Person struct{ Name, URI, Email string }

// Link is an atom:link (RFC 4287 §4.2.7). An empty Rel means "alternate".
// Type, when set, is a media type ("type/subtype").
type Link struct {
	Href, Rel, Type string
	Length          int64 // 0 = omit
	Title           string
	// SHA256 is the sha256 of the linked resource, 64 lower-case hex
	// digits, written as the link's wpt:sha256 attribute (in RunNS), which
	// generic Atom libraries keep per link; empty = omit.
	SHA256 string
}

// Category is an atom:category (RFC 4287 §4.2.2). Term is required.
type Category struct{ Term, Scheme, Label string }

// Shard is one uploaded result file of a run, as a wpt:shard element.
type Shard struct {
	Name   string
	Size   int64
	SHA256 string // lower-case hex; may be empty
}

// Run is the <wpt:run> extension element: machine-readable run metadata.
// See the package documentation for its XML form.
type Run struct {
	ID             string
	Product        string
	BrowserVersion string
	OS             string
	OSVersion      string
	Revision       string // full 40 hex
	Channel        string
	Labels         []string
	TimeStart      time.Time // zero = omitted
	TimeEnd        time.Time // zero = omitted
	Uploaded       time.Time // zero = omitted
	Shards         []Shard
}

// Entry is an atom:entry: one run.
type Entry struct {
	ID        string // permanent IRI
	Title     string
	Updated   time.Time
	Published time.Time // zero = omitted
	Summary   string    // text
	// HTML is the entry's atom:content of type "html" (RFC 4287 §4.1.3):
	// HTML markup, written escaped as the element's text, so a reader
	// unescapes it once to get the markup back. The caller builds it and
	// escapes what it puts in it (html/template); "" = no atom:content.
	HTML       string
	Links      []Link // alternate, enclosure...
	Categories []Category
	Run        *Run // nil = no extension element
}

// Feed is an atom:feed document: the subscription document or one archive
// document (Archive set).
type Feed struct {
	ID       string
	Title    string
	Subtitle string
	Updated  time.Time
	Author   Person
	Links    []Link // self, current, prev-archive, next-archive, alternate ...
	Archive  bool   // emit <fh:archive/>
	Entries  []Entry
}

// Link returns the href of the first feed-level link with that rel ("" and
// "alternate" are the same rel), or "".
func (f *Feed) Link(rel string) string { return findLink(f.Links, rel) }

// Link returns the href of the first link of e with that rel ("" and
// "alternate" are the same rel), or "".
func (e *Entry) Link(rel string) string { return findLink(e.Links, rel) }

// Enclosures returns the links of e with rel="enclosure", in order.
func (e *Entry) Enclosures() []Link {
	var out []Link
	for _, l := range e.Links {
		if l.Rel == "enclosure" {
			out = append(out, l)
		}
	}
	return out
}

func findLink(links []Link, rel string) string {
	rel = relOrAlternate(rel)
	for _, l := range links {
		if relOrAlternate(l.Rel) == rel {
			return l.Href
		}
	}
	return ""
}

// relOrAlternate applies RFC 4287 §4.2.7.2: a link without rel is "alternate".
func relOrAlternate(rel string) string {
	if rel == "" {
		return "alternate"
	}
	return rel
}
