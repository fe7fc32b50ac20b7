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

	"github.com/mmcdole/gofeed/atom"
	"golang.org/x/net/html/charset"
)

// atom03NS is the pre-standard Atom 0.3 namespace, which gofeed's Atom parser
// also treats as native.
const atom03NS = "http://purl.org/atom/ns#"

// Parse reads an Atom document with gofeed's Atom parser and returns it, links
// with all their rels (prev-archive, next-archive, current, self; a link
// without rel comes back as "alternate") and their wpt:sha256, categories
// with scheme, fh:archive and the wpt:run extension resolved by namespace
// URI (whatever prefix the document uses).
//
// Parse reads r to the end and does not limit its size: cap r (Client.Fetch
// does). atom:id values come back as written (gofeed would re-serialise them
// through net/url). Text constructs (titles, summary, ids, person fields) come back with
// leading and trailing white space removed (RFC 4287 §3.1.1.1 lets processors
// collapse it; gofeed trims it) and, like every string, with characters XML
// forbids replaced by U+FFFD. Times are returned in UTC; a missing time is
// the zero time. Only the first author of the feed is kept; entry-level
// authors are ignored. An entry's first atom:content of type "html" without
// src comes back in Entry.HTML (its text, which is the markup, read with
// encoding/xml, trimmed like a text construct); other atom:content is
// ignored.
//
// Parse returns an error when the document is not well-formed enough for
// gofeed, is not an atom:feed, or holds a date that is not RFC 3339
// (nor any format gofeed recognises), or a wpt:run time or shard size that
// does not parse.
func Parse(r io.Reader) (*Feed, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("feed: read document: %w", err)
	}
	// gofeed drops the C0 control bytes XML forbids before parsing; do it
	// once here so both passes below see the same bytes.
	data = dropControlBytes(data)

	af, err := (&atom.Parser{}).Parse(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("feed: parse document: %w", err)
	}
	ext, err := readExtensions(data)
	if err != nil {
		return nil, fmt.Errorf("feed: parse extensions: %w", err)
	}
	if len(ext.entries) != len(af.Entries) {
		// Both passes count the same elements; this would be a bug.
		return nil, fmt.Errorf("feed: parse extensions: found %d entries, gofeed found %d", len(ext.entries), len(af.Entries))
	}

	f := &Feed{
		ID:       idText(ext.id, af.ID),
		Title:    text(af.Title),
		Subtitle: text(af.Subtitle),
		Links:    fromAtomLinks(af.Links, ext.links),
		Archive:  ext.archive,
	}
	if f.Updated, err = atomTime(af.Updated, af.UpdatedParsed); err != nil {
		return nil, fmt.Errorf("feed: parse feed updated: %w", err)
	}
	if len(af.Authors) > 0 && af.Authors[0] != nil {
		a := af.Authors[0]
		f.Author = Person{Name: text(a.Name), URI: text(a.URI), Email: text(a.Email)}
	}
	if len(af.Entries) > 0 {
		f.Entries = make([]Entry, 0, len(af.Entries))
	}
	for i, ae := range af.Entries {
		e := Entry{
			ID:      idText(ext.entries[i].id, ae.ID),
			Title:   text(ae.Title),
			Summary: text(ae.Summary),
			HTML:    optText(ext.entries[i].html),
			Links:   fromAtomLinks(ae.Links, ext.entries[i].links),
			Run:     ext.entries[i].run,
		}
		if e.Updated, err = atomTime(ae.Updated, ae.UpdatedParsed); err != nil {
			return nil, fmt.Errorf("feed: parse entry %d updated: %w", i, err)
		}
		if e.Published, err = atomTime(ae.Published, ae.PublishedParsed); err != nil {
			return nil, fmt.Errorf("feed: parse entry %d published: %w", i, err)
		}
		for _, c := range ae.Categories {
			if c == nil {
				continue
			}
			e.Categories = append(e.Categories, Category{
				Term: sanitize(c.Term), Scheme: sanitize(c.Scheme), Label: sanitize(c.Label),
			})
		}
		f.Entries = append(f.Entries, e)
	}
	return f, nil
}

// text normalises a text construct as returned by gofeed.
func text(s string) string { return strings.TrimSpace(sanitize(s)) }

// idText returns the atom:id text read by encoding/xml, which keeps the IRI
// as written: gofeed re-serialises ids through net/url, which percent-encodes
// non-ASCII IRIs and lower-cases schemes, while RFC 4287 §4.2.6.1 compares ids
// character by character. gofeed's value is the fallback.
func idText(raw *string, gofeedID string) string {
	if raw != nil {
		return text(*raw)
	}
	return text(gofeedID)
}

// optText returns text(*s), or "" for nil.
func optText(s *string) string {
	if s == nil {
		return ""
	}
	return text(*s)
}

// fromAtomLinks converts gofeed's links; shas are the wpt:sha256 attributes
// of the same link elements, in order, read by readExtensions (used only
// when both passes found as many links, as they do).
func fromAtomLinks(ls []*atom.Link, shas []string) []Link {
	if len(shas) != len(ls) {
		shas = nil
	}
	var out []Link
	for i, l := range ls {
		if l == nil {
			continue
		}
		var sha string
		if shas != nil {
			sha = shas[i]
		}
		n, err := strconv.ParseInt(strings.TrimSpace(l.Length), 10, 64)
		if err != nil || n < 0 {
			n = 0 // length is advisory (RFC 4287 §4.2.7.6)
		}
		out = append(out, Link{
			Href:   sanitize(l.Href),
			Rel:    sanitize(relOrAlternate(l.Rel)),
			Type:   sanitize(l.Type),
			Length: n,
			Title:  sanitize(l.Title),
			SHA256: sha,
		})
	}
	return out
}

// atomTime parses an Atom date: RFC 3339 first, then whatever gofeed's
// lenient date parser made of it. An empty date is the zero time.
func atomTime(raw string, parsed *time.Time) (time.Time, error) {
	t, err := parseTime(raw)
	if err == nil {
		return t, nil
	}
	if parsed != nil {
		return parsed.UTC(), nil
	}
	return time.Time{}, err
}

// parseTime parses an RFC 3339 date-time and returns it in UTC. An empty
// string is the zero time.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	// RFC 3339 §5.6 allows "t" and "z"; time.Parse does not.
	t, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("date %q is not RFC 3339: %w", s, err)
	}
	return t.UTC(), nil
}

// dropControlBytes removes the C0 control bytes XML forbids, exactly as
// gofeed's reader filter does (they never occur inside multi-byte UTF-8).
func dropControlBytes(b []byte) []byte {
	i := bytes.IndexFunc(b, func(r rune) bool { return r < 0x20 && r != '\t' && r != '\n' && r != '\r' })
	if i < 0 {
		return b
	}
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			continue
		}
		out = append(out, c)
	}
	return out
}

// extensions holds what gofeed cannot give: fh:archive at feed level, the
// atom:id texts as written, the wpt:sha256 attribute of each atom:link
// ("" when absent), the first wpt:run of each entry (nil when absent) and
// the text of its first atom:content of type "html" (nil when absent),
// for the entries gofeed reports, in document order. Like gofeed, the last
// atom:id wins when there are several.
type extensions struct {
	archive bool
	id      *string
	links   []string
	entries []rawEntry
}

type rawEntry struct {
	id    *string
	links []string
	run   *Run
	html  *string
}

// newDecoder configures encoding/xml as gofeed configures its pull parser, so
// both passes see the same element tree.
func newDecoder(data []byte) *xml.Decoder {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = false
	d.CharsetReader = charset.NewReaderLabel
	return d
}

// isAtomNative mirrors gofeed's notion of a non-extension element.
func isAtomNative(space string) bool {
	switch strings.TrimSpace(space) {
	case "", NS, atom03NS:
		return true
	}
	return false
}

func inNS(n xml.Name, space, local string) bool {
	return strings.TrimSpace(n.Space) == space && n.Local == local
}

// readExtensions walks the children of the root element and of each entry.
func readExtensions(data []byte) (*extensions, error) {
	d := newDecoder(data)
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("find root element: %w", err)
		}
		if _, ok := tok.(xml.StartElement); ok {
			break
		}
	}
	ext := &extensions{}
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return ext, nil
		case xml.StartElement:
			switch {
			case inNS(t.Name, HistoryNS, "archive"):
				ext.archive = true
				err = d.Skip()
			case isAtomNative(t.Name.Space) && strings.EqualFold(t.Name.Local, "id"):
				var id string
				id, err = elementText(d)
				ext.id = &id
			case isAtomNative(t.Name.Space) && strings.EqualFold(t.Name.Local, "entry"):
				var e rawEntry
				e, err = readEntry(d, len(ext.entries))
				ext.entries = append(ext.entries, e)
			case isAtomNative(t.Name.Space) && strings.EqualFold(t.Name.Local, "link"):
				ext.links = append(ext.links, linkSHA256(t))
				err = d.Skip()
			default:
				err = d.Skip()
			}
			if err != nil {
				return nil, err
			}
		}
	}
}

// readEntry reads the children of an entry up to its end tag and returns
// its atom:id text, its links' wpt:sha256, its first wpt:run and its first
// atom:content of type "html".
func readEntry(d *xml.Decoder, i int) (rawEntry, error) {
	var e rawEntry
	for {
		tok, err := d.Token()
		if err != nil {
			return e, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return e, nil
		case xml.StartElement:
			switch {
			case e.run == nil && inNS(t.Name, RunNS, "run"):
				if e.run, err = readRun(d); err != nil {
					return e, fmt.Errorf("entry %d: wpt:run: %w", i, err)
				}
			case isAtomNative(t.Name.Space) && strings.EqualFold(t.Name.Local, "id"):
				var id string
				id, err = elementText(d)
				e.id = &id
			case isAtomNative(t.Name.Space) && strings.EqualFold(t.Name.Local, "link"):
				e.links = append(e.links, linkSHA256(t))
				err = d.Skip()
			case e.html == nil && isAtomNative(t.Name.Space) && strings.EqualFold(t.Name.Local, "content") && isHTMLContent(t):
				var h string
				h, err = elementText(d)
				e.html = &h
			default:
				err = d.Skip()
			}
			if err != nil {
				return e, err
			}
		}
	}
}

// readRun reads the children of a wpt:run element. Children outside RunNS
// and unknown children are skipped.
func readRun(d *xml.Decoder) (*Run, error) {
	r := &Run{}
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return r, nil
		case xml.StartElement:
			if strings.TrimSpace(t.Name.Space) != RunNS {
				if err := d.Skip(); err != nil {
					return nil, err
				}
				continue
			}
			if t.Name.Local == "shard" {
				s, err := readShard(t)
				if err != nil {
					return nil, err
				}
				r.Shards = append(r.Shards, s)
				if err := d.Skip(); err != nil {
					return nil, err
				}
				continue
			}
			v, err := elementText(d)
			if err != nil {
				return nil, err
			}
			switch t.Name.Local {
			case "id":
				r.ID = v
			case "product":
				r.Product = v
			case "browser-version":
				r.BrowserVersion = v
			case "os":
				r.OS = v
			case "os-version":
				r.OSVersion = v
			case "revision":
				r.Revision = v
			case "channel":
				r.Channel = v
			case "label":
				r.Labels = append(r.Labels, v)
			case "time-start":
				r.TimeStart, err = parseTime(v)
			case "time-end":
				r.TimeEnd, err = parseTime(v)
			case "uploaded":
				r.Uploaded, err = parseTime(v)
			}
			if err != nil {
				return nil, fmt.Errorf("wpt:%s: %w", t.Name.Local, err)
			}
		}
	}
}

// isHTMLContent reports whether an atom:content start tag has type="html"
// (RFC 4287 §4.1.3.1) and no src: its text is escaped HTML.
func isHTMLContent(t xml.StartElement) bool {
	html := false
	for _, a := range t.Attr {
		if a.Name.Space != "" {
			continue
		}
		switch a.Name.Local {
		case "src":
			return false
		case "type":
			html = strings.EqualFold(strings.TrimSpace(a.Value), "html")
		}
	}
	return html
}

// linkSHA256 returns the wpt:sha256 attribute of an atom:link, found by
// namespace URI, or "".
func linkSHA256(t xml.StartElement) string {
	for _, a := range t.Attr {
		if inNS(a.Name, RunNS, "sha256") {
			return sanitize(a.Value)
		}
	}
	return ""
}

func readShard(t xml.StartElement) (Shard, error) {
	var s Shard
	for _, a := range t.Attr {
		if a.Name.Space != "" {
			continue
		}
		switch a.Name.Local {
		case "name":
			s.Name = sanitize(a.Value)
		case "sha256":
			s.SHA256 = sanitize(a.Value)
		case "size":
			v := strings.TrimSpace(a.Value)
			if v == "" {
				continue
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return s, fmt.Errorf("wpt:shard size %q is not a non-negative integer", a.Value)
			}
			s.Size = n
		}
	}
	return s, nil
}

// elementText returns the character data of the current element (nested
// elements are skipped) and consumes its end tag.
func elementText(d *xml.Decoder) (string, error) {
	var b strings.Builder
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if depth == 0 {
				b.Write(t)
			}
		case xml.StartElement:
			depth++
		case xml.EndElement:
			if depth == 0 {
				return sanitize(b.String()), nil
			}
			depth--
		}
	}
}
