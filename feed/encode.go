package feed

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/feeds"
)

// ErrInvalid is wrapped by the errors of Validate, Encode and Marshal when a
// Feed would not make a valid Atom document.
var ErrInvalid = errors.New("feed: invalid document")

// Wire structs. They reuse gorilla/feeds' element types (feeds.AtomAuthor,
// feeds.AtomSummary, feeds.AtomLink) and add what feeds.AtomFeed and
// feeds.AtomEntry lack: several feed-level links, link titles, categories with
// term/scheme/label (RFC 4287 §4.2.2), fh:archive (RFC 5005 §4) and the
// wpt:run extension. Element order follows RFC 4287 §4.1.1: every
// feed-level element comes before the first atom:entry.

// xmlFeed is atom:feed (RFC 4287 §4.1.1).
type xmlFeed struct {
	XMLName  xml.Name          `xml:"feed"`
	Xmlns    string            `xml:"xmlns,attr"`
	XmlnsFH  string            `xml:"xmlns:fh,attr,omitempty"`
	XmlnsWPT string            `xml:"xmlns:wpt,attr,omitempty"`
	ID       string            `xml:"id"`
	Title    string            `xml:"title"`
	Subtitle string            `xml:"subtitle,omitempty"`
	Updated  string            `xml:"updated"`
	Author   *feeds.AtomAuthor `xml:"author"`
	Links    []xmlLink         `xml:"link"`
	Archive  *struct{}         `xml:"fh:archive"`
	Entries  []xmlEntry        `xml:"entry"`
}

// xmlLink is atom:link (RFC 4287 §4.2.7): gorilla's AtomLink plus title,
// and our wpt:sha256 attribute (a foreign attribute, which the schema's
// atomCommonAttributes allow on every Atom element).
type xmlLink struct {
	feeds.AtomLink
	Title  string `xml:"title,attr,omitempty"`
	SHA256 string `xml:"wpt:sha256,attr,omitempty"`
}

// xmlCategory is atom:category (RFC 4287 §4.2.2); gorilla writes categories
// as text without the required term attribute.
type xmlCategory struct {
	XMLName xml.Name `xml:"category"`
	Term    string   `xml:"term,attr"`
	Scheme  string   `xml:"scheme,attr,omitempty"`
	Label   string   `xml:"label,attr,omitempty"`
}

// xmlEntry is atom:entry (RFC 4287 §4.1.2).
type xmlEntry struct {
	ID         string             `xml:"id"`
	Title      string             `xml:"title"`
	Updated    string             `xml:"updated"`
	Published  string             `xml:"published,omitempty"`
	Summary    *feeds.AtomSummary `xml:"summary"`
	Content    *feeds.AtomContent `xml:"content"`
	Links      []xmlLink          `xml:"link"`
	Categories []xmlCategory      `xml:"category"`
	Run        *xmlRun            `xml:"wpt:run"`
}

// xmlRun is wpt:run, our extension element in RunNS (see doc.go).
type xmlRun struct {
	ID             string     `xml:"wpt:id"`
	Product        string     `xml:"wpt:product"`
	BrowserVersion string     `xml:"wpt:browser-version"`
	OS             string     `xml:"wpt:os"`
	OSVersion      string     `xml:"wpt:os-version"`
	Revision       string     `xml:"wpt:revision"`
	Channel        string     `xml:"wpt:channel"`
	Labels         []string   `xml:"wpt:label"`
	TimeStart      string     `xml:"wpt:time-start,omitempty"`
	TimeEnd        string     `xml:"wpt:time-end,omitempty"`
	Uploaded       string     `xml:"wpt:uploaded,omitempty"`
	Shards         []xmlShard `xml:"wpt:shard"`
}

type xmlShard struct {
	Name   string `xml:"name,attr"`
	Size   int64  `xml:"size,attr"`
	SHA256 string `xml:"sha256,attr,omitempty"`
}

// Encode writes f as an Atom 1.0 document (with XML declaration). It returns
// an error wrapping ErrInvalid, and writes nothing, when f would be invalid
// (see Validate). Text is sanitised: characters XML 1.0 forbids (and invalid
// UTF-8) are replaced with U+FFFD so the document stays well-formed whatever
// runners put in metadata; very long strings are kept. A write error is
// returned wrapped.
func Encode(w io.Writer, f *Feed) error {
	b, err := Marshal(f)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("feed: write document: %w", err)
	}
	return nil
}

// Marshal returns f as an Atom 1.0 document, like Encode.
func Marshal(f *Feed) ([]byte, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	x := toXML(f)
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(x); err != nil {
		return nil, fmt.Errorf("feed: marshal feed: %w", err)
	}
	buf.WriteByte('\n')
	return selfClose(buf.Bytes()), nil
}

// selfClose rewrites the elements we write without content as empty-element
// tags (XML 1.0 §3.1), in one pass: encoding/xml never writes <x/>. It turns
// `"></link>`, `"></category>` and `"></wpt:shard>` (an end tag right after
// the start tag's last attribute) into `"/>`, and
// `<fh:archive></fh:archive>` into `<fh:archive/>`. Text and attribute
// values cannot hold "></": encoding/xml escapes '<' and '>' in them.
func selfClose(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for {
		i := bytes.Index(b, endAfterStart)
		if i < 0 {
			return append(out, b...)
		}
		rest := b[i+len(endAfterStart):]
		n := 0
		if i > 0 && b[i-1] == '"' {
			for _, name := range emptyAfterAttrs {
				if bytes.HasPrefix(rest, name) {
					n = len(name)
					break
				}
			}
		} else if bytes.HasSuffix(b[:i], archiveStart) && bytes.HasPrefix(rest, archiveEnd) {
			n = len(archiveEnd)
		}
		if n == 0 {
			out = append(out, b[:i+len(endAfterStart)]...)
		} else {
			out = append(append(out, b[:i]...), "/>"...)
		}
		b = rest[n:]
	}
}

var (
	endAfterStart   = []byte("></")
	emptyAfterAttrs = [][]byte{[]byte("link>"), []byte("category>"), []byte("wpt:shard>")}
	archiveStart    = []byte("<fh:archive")
	archiveEnd      = []byte("fh:archive>")
)

// Validate reports whether f can be written as a valid Atom document. It
// returns nil, or an error wrapping ErrInvalid that joins every problem:
//   - a feed without id, title, updated, author name or rel="self" link;
//   - an archive document (Archive) without rel="current" link (RFC 5005 §4);
//   - an entry without id, title, updated or rel="alternate" link (RFC
//     4287 §4.1.2 asks for one only without atom:content; we ask for one
//     always, HTML or not), or two entries with one id;
//   - a link without href, with a negative length, with a type that is not
//     a media type or with a sha256 that is not 64 lower-case hex digits; a
//     category without term; an e-mail address without "@";
//   - a time that is zero where required, or outside years 1-9999;
//   - a run without id; a shard without name, with a negative size, or with
//     a sha256 that is not 64 lower-case hex digits.
//
// A nil f is invalid.
func (f *Feed) Validate() error {
	if f == nil {
		return fmt.Errorf("%w: nil feed", ErrInvalid)
	}
	var ps []error
	add := func(format string, args ...any) { ps = append(ps, fmt.Errorf(format, args...)) }

	if blank(f.ID) {
		add("feed id is empty")
	}
	if blank(f.Title) {
		add("feed title is empty")
	}
	if err := checkTime(f.Updated, true); err != nil {
		add("feed updated: %w", err)
	}
	if blank(f.Author.Name) {
		add("feed author name is empty")
	}
	if f.Author.Email != "" && !validEmail(f.Author.Email) {
		add("feed author email %q has no \"@\" with text on both sides", f.Author.Email)
	}
	if f.Link("self") == "" {
		add("feed has no rel=\"self\" link")
	}
	if f.Archive && f.Link("current") == "" {
		add("archive document has no rel=\"current\" link (RFC 5005 §4)")
	}
	for i, l := range f.Links {
		if err := checkLink(l); err != nil {
			add("feed link %d: %w", i, err)
		}
	}
	ids := make(map[string]int, len(f.Entries))
	for i := range f.Entries {
		e := &f.Entries[i]
		where := fmt.Sprintf("entry %d", i)
		if !blank(e.ID) {
			where = fmt.Sprintf("entry %d (%q)", i, e.ID)
			if j, ok := ids[e.ID]; ok {
				add("%s: id already used by entry %d", where, j)
			} else {
				ids[e.ID] = i
			}
		}
		for _, p := range e.problems() {
			add("%s: %w", where, p)
		}
	}
	if len(ps) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(ps...))
}

// Validate reports whether e can be written as a valid entry of an Atom
// document, by the rules of Feed.Validate (all but the uniqueness of its
// id among a document's entries). It returns nil, or an error wrapping
// ErrInvalid that joins every problem. A caller building a document can
// leave out an entry that fails, instead of failing the whole document.
func (e *Entry) Validate() error {
	ps := e.problems()
	if len(ps) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(ps...))
}

// problems lists what is wrong with e.
func (e *Entry) problems() []error {
	var ps []error
	add := func(format string, args ...any) { ps = append(ps, fmt.Errorf(format, args...)) }
	if blank(e.ID) {
		add("id is empty")
	}
	if blank(e.Title) {
		add("title is empty")
	}
	if err := checkTime(e.Updated, true); err != nil {
		add("updated: %w", err)
	}
	if err := checkTime(e.Published, false); err != nil {
		add("published: %w", err)
	}
	if e.Link("alternate") == "" {
		add("no rel=\"alternate\" link (and no content)")
	}
	for j, l := range e.Links {
		if err := checkLink(l); err != nil {
			add("link %d: %w", j, err)
		}
	}
	for j, c := range e.Categories {
		if c.Term == "" {
			add("category %d: term is empty", j)
		}
	}
	if r := e.Run; r != nil {
		if blank(r.ID) {
			add("run id is empty")
		}
		for _, t := range []struct {
			name string
			t    time.Time
		}{{"time-start", r.TimeStart}, {"time-end", r.TimeEnd}, {"uploaded", r.Uploaded}} {
			if err := checkTime(t.t, false); err != nil {
				add("run %s: %w", t.name, err)
			}
		}
		for j, s := range r.Shards {
			if blank(s.Name) {
				add("shard %d: name is empty", j)
			}
			if s.Size < 0 {
				add("shard %d: negative size %d", j, s.Size)
			}
			if s.SHA256 != "" && !isLowerHex(s.SHA256, 64) {
				add("shard %d: sha256 %q is not 64 lower-case hex digits", j, s.SHA256)
			}
		}
	}
	return ps
}

func checkLink(l Link) error {
	switch {
	case blank(l.Href):
		return errors.New("href is empty")
	case l.Length < 0:
		return fmt.Errorf("negative length %d", l.Length)
	case l.Type != "" && !validMediaType(l.Type):
		return fmt.Errorf("type %q is not a media type", l.Type)
	case l.SHA256 != "" && !isLowerHex(l.SHA256, 64):
		return fmt.Errorf("sha256 %q is not 64 lower-case hex digits", l.SHA256)
	}
	return nil
}

// checkTime checks that t can be written as an RFC 3339 date-time that
// xsd:dateTime (the schema's type) accepts.
func checkTime(t time.Time, required bool) error {
	if t.IsZero() {
		if required {
			return errors.New("time is zero")
		}
		return nil
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return fmt.Errorf("year %d outside 1-9999", y)
	}
	return nil
}

// formatTime formats t as RFC 3339 in UTC ("Z"), with fractional seconds
// only when they are not zero.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func blank(s string) bool { return strings.TrimSpace(s) == "" }

// validMediaType matches the schema's atomMediaType, the XSD pattern ".+/.+"
// ("." is any character but CR and LF).
func validMediaType(s string) bool { return patternAroundByte(s, '/') }

// validEmail matches the schema's atomEmailAddress, the XSD pattern ".+@.+".
func validEmail(s string) bool { return patternAroundByte(s, '@') }

func patternAroundByte(s string, b byte) bool {
	if strings.ContainsAny(s, "\r\n") {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if s[i] == b {
			return true
		}
	}
	return false
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// sanitize replaces every character XML 1.0 forbids (§2.2 Char) and every
// invalid UTF-8 byte with U+FFFD.
func sanitize(s string) string {
	ok := true
	for i, r := range s {
		if !isXMLChar(r) || r == utf8.RuneError && isBadByte(s, i) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range s {
		if !isXMLChar(r) || r == utf8.RuneError && isBadByte(s, i) {
			r = '\uFFFD'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isBadByte(s string, i int) bool {
	_, size := utf8.DecodeRuneInString(s[i:])
	return size == 1
}

func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

func toXMLLinks(ls []Link) []xmlLink {
	out := make([]xmlLink, 0, len(ls))
	for _, l := range ls {
		x := xmlLink{
			AtomLink: feeds.AtomLink{
				Href: sanitize(l.Href),
				Rel:  sanitize(relOrAlternate(l.Rel)),
				Type: sanitize(l.Type),
			},
			Title:  sanitize(l.Title),
			SHA256: l.SHA256, // validated: lower-case hex
		}
		if l.Length > 0 {
			x.Length = strconv.FormatInt(l.Length, 10)
		}
		out = append(out, x)
	}
	return out
}

// hasSHA256 reports whether a link carries wpt:sha256, so that the
// document must declare the wpt prefix.
func hasSHA256(ls []Link) bool {
	for _, l := range ls {
		if l.SHA256 != "" {
			return true
		}
	}
	return false
}

// toXML converts a validated Feed to its wire form.
func toXML(f *Feed) *xmlFeed {
	x := &xmlFeed{
		Xmlns:    NS,
		ID:       sanitize(f.ID),
		Title:    sanitize(f.Title),
		Subtitle: sanitize(f.Subtitle),
		Updated:  formatTime(f.Updated),
		Author: &feeds.AtomAuthor{AtomPerson: feeds.AtomPerson{
			Name:  sanitize(f.Author.Name),
			Uri:   sanitize(f.Author.URI),
			Email: sanitize(f.Author.Email),
		}},
		Links: toXMLLinks(f.Links),
	}
	if hasSHA256(f.Links) {
		x.XmlnsWPT = RunNS
	}
	if f.Archive {
		x.XmlnsFH = HistoryNS
		x.Archive = &struct{}{}
	}
	for i := range f.Entries {
		e := &f.Entries[i]
		xe := xmlEntry{
			ID:        sanitize(e.ID),
			Title:     sanitize(e.Title),
			Updated:   formatTime(e.Updated),
			Published: formatTime(e.Published),
			Links:     toXMLLinks(e.Links),
		}
		if hasSHA256(e.Links) {
			x.XmlnsWPT = RunNS
		}
		if e.Summary != "" {
			xe.Summary = &feeds.AtomSummary{Content: sanitize(e.Summary), Type: "text"}
		}
		if e.HTML != "" {
			// encoding/xml escapes the markup ('<', '>', '&', quotes) as
			// text, as RFC 4287 §3.1.1.2 wants for type="html".
			xe.Content = &feeds.AtomContent{Content: sanitize(e.HTML), Type: "html"}
		}
		for _, c := range e.Categories {
			xe.Categories = append(xe.Categories, xmlCategory{
				Term:   sanitize(c.Term),
				Scheme: sanitize(c.Scheme),
				Label:  sanitize(c.Label),
			})
		}
		if r := e.Run; r != nil {
			x.XmlnsWPT = RunNS
			xr := &xmlRun{
				ID:             sanitize(r.ID),
				Product:        sanitize(r.Product),
				BrowserVersion: sanitize(r.BrowserVersion),
				OS:             sanitize(r.OS),
				OSVersion:      sanitize(r.OSVersion),
				Revision:       sanitize(r.Revision),
				Channel:        sanitize(r.Channel),
				TimeStart:      formatTime(r.TimeStart),
				TimeEnd:        formatTime(r.TimeEnd),
				Uploaded:       formatTime(r.Uploaded),
			}
			for _, l := range r.Labels {
				xr.Labels = append(xr.Labels, sanitize(l))
			}
			for _, s := range r.Shards {
				xr.Shards = append(xr.Shards, xmlShard{Name: sanitize(s.Name), Size: s.Size, SHA256: s.SHA256})
			}
			xe.Run = xr
		}
		x.Entries = append(x.Entries, xe)
	}
	return x
}
