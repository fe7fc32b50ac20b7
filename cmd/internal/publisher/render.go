package publisher

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/httpx"
	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/store"
)

const feedID = "tag:wptfeed.org,2026:feed"

// EntryID is the permanent id of a run's entry: a tag: IRI that depends on
// the run id only, never on the serving host.
func EntryID(runID string) string { return "tag:wptfeed.org,2026:run:" + runID }

// filter selects runs: several values of one key match any of them, several
// keys must all match. The zero filter matches everything.
type filter struct {
	product, label, os []string
}

var filterKeys = []string{"product", "label", "os"}

func parseFilter(q url.Values) (filter, error) {
	for k := range q {
		if !slices.Contains(filterKeys, k) {
			return filter{}, fmt.Errorf("unknown query parameter %q (want product, label or os)", k)
		}
	}
	return filter{product: httpx.List(q["product"]), label: httpx.List(q["label"]), os: httpx.List(q["os"])}, nil
}

func (f filter) empty() bool { return len(f.product)+len(f.label)+len(f.os) == 0 }

// query is the filter's canonical query string ("" or "?…"), so that every
// spelling of a filter links to the same URLs.
func (f filter) query() string {
	if f.empty() {
		return ""
	}
	v := url.Values{}
	for _, p := range f.product {
		v.Add("product", p)
	}
	for _, l := range f.label {
		v.Add("label", l)
	}
	for _, o := range f.os {
		v.Add("os", o)
	}
	return "?" + v.Encode()
}

func (f filter) match(r *run) bool {
	anyOf := func(want []string, have ...string) bool {
		if len(want) == 0 {
			return true
		}
		for _, h := range have {
			if slices.Contains(want, h) {
				return true
			}
		}
		return false
	}
	return anyOf(f.product, r.m.Product) && anyOf(f.os, r.m.OS) && anyOf(f.label, r.labels...)
}

// renderer turns runs into feed documents. Its output depends only on its
// configuration and the runs, so archives are byte-identical across
// restarts and replicas with the same base URL.
type renderer struct {
	baseURL  string
	author   string
	maxAge   time.Duration
	pageSize int64
	log      *slog.Logger // of entries left out; nil discards

	skipped sync.Map // run ids of entries left out and logged
}

func (rd *renderer) subscription(runs []*run, archivedPages int64, f filter) (*feed.Document, error) {
	q := f.query()
	fd := rd.newFeed("Web-platform-tests runs", q)
	fd.Links = append(fd.Links, feed.Link{Rel: "self", Href: rd.baseURL + "/feed.atom" + q, Type: "application/atom+xml"})
	if archivedPages > 0 {
		fd.Links = append(fd.Links, feed.Link{Rel: "prev-archive", Href: rd.archiveURL(archivedPages, q), Type: "application/atom+xml"})
	}
	body, updated, err := rd.encode(fd, runs, f)
	if err != nil {
		return nil, err
	}
	return &feed.Document{Body: body, LastModified: updated, CacheControl: fmt.Sprintf("public, max-age=%d", int(rd.maxAge.Seconds()))}, nil
}

func (rd *renderer) archive(k int64, runs []*run, f filter) (*feed.Document, error) {
	q := f.query()
	fd := rd.newFeed(fmt.Sprintf("Web-platform-tests runs, archive page %d", k), q)
	fd.Archive = true
	fd.Links = append(fd.Links,
		feed.Link{Rel: "self", Href: rd.archiveURL(k, q), Type: "application/atom+xml"},
		feed.Link{Rel: "current", Href: rd.baseURL + "/feed.atom" + q, Type: "application/atom+xml"},
	)
	if k > 1 {
		fd.Links = append(fd.Links, feed.Link{Rel: "prev-archive", Href: rd.archiveURL(k-1, q), Type: "application/atom+xml"})
	}
	fd.Links = append(fd.Links, feed.Link{Rel: "next-archive", Href: rd.archiveURL(k+1, q), Type: "application/atom+xml"})
	body, updated, err := rd.encode(fd, runs, f)
	if err != nil {
		return nil, err
	}
	return &feed.Document{Body: body, LastModified: updated, CacheControl: "public, max-age=31536000, immutable"}, nil
}

func (rd *renderer) archiveURL(k int64, q string) string {
	return rd.baseURL + "/archive/" + strconv.FormatInt(k, 10) + ".atom" + q
}

func (rd *renderer) newFeed(title, q string) *feed.Feed {
	id := feedID
	if q != "" {
		id += ":" + strings.TrimPrefix(q, "?")
	}
	return &feed.Feed{
		ID:       id,
		Title:    title,
		Subtitle: "Raw wptreport results, one entry per run, in publication order",
		Author:   feed.Person{Name: rd.author},
	}
}

// encode adds the matching runs as entries and encodes the document. Its
// updated time is the newest entry's, or the Unix epoch for no entries, so
// that it depends on the runs alone. An entry that cannot be encoded (a
// run published before the publisher validated manifests, or by an older
// replica) is left out and logged once, so that it never fails the whole
// document; so is a second entry of one run.
func (rd *renderer) encode(fd *feed.Feed, runs []*run, f filter) ([]byte, time.Time, error) {
	fd.Updated = time.Unix(0, 0).UTC()
	ids := make(map[string]bool, len(runs))
	for _, r := range runs {
		if !f.match(r) {
			continue
		}
		e := rd.entry(r)
		err := e.Validate()
		if err == nil && ids[e.ID] {
			err = fmt.Errorf("entry %s already in the document", e.ID)
		}
		if err != nil {
			rd.skip(r, err)
			continue
		}
		ids[e.ID] = true
		if e.Updated.After(fd.Updated) {
			fd.Updated = e.Updated
		}
		fd.Entries = append(fd.Entries, e)
	}
	var buf bytes.Buffer
	if err := feed.Encode(&buf, fd); err != nil {
		return nil, time.Time{}, fmt.Errorf("serve: render feed: %w", err)
	}
	return buf.Bytes(), fd.Updated, nil
}

// skip logs, once per run, that r's entry is left out of documents.
func (rd *renderer) skip(r *run, err error) {
	if _, logged := rd.skipped.LoadOrStore(r.m.RunID, true); logged || rd.log == nil {
		return
	}
	rd.log.Error("run left out of the feed: its entry cannot be encoded", "run_id", r.m.RunID, "seq", r.seq, "err", err)
}

func (rd *renderer) entry(r *run) feed.Entry {
	m := r.m
	base := rd.baseURL + "/runs/" + m.RunID + "/"
	e := feed.Entry{
		ID:        EntryID(m.RunID),
		Title:     entryTitle(m),
		Updated:   m.Uploaded.UTC(),
		Published: m.Uploaded.UTC(),
		Summary:   fmt.Sprintf("wptreport run %s (publication %d) in %d shard(s)", m.RunID, r.seq, len(m.Shards)),
		// The run's page first: readers (gofeed, feedparser, Miniflux) take
		// the first (HTML) alternate as the entry's link.
		Links: []feed.Link{
			{Rel: "alternate", Href: base, Type: "text/html"},
			{Rel: "alternate", Href: base + store.ManifestName, Type: "application/json"},
		},
		Run: &feed.Run{
			ID:             m.RunID,
			Product:        m.Product,
			BrowserVersion: m.BrowserVersion,
			OS:             m.OS,
			OSVersion:      m.OSVersion,
			Revision:       m.Revision,
			Channel:        m.BrowserChannel,
			Labels:         m.Labels,
			TimeStart:      m.TimeStart.UTC(),
			TimeEnd:        m.TimeEnd.UTC(),
			Uploaded:       m.Uploaded.UTC(),
		},
	}
	if m.TimeStart.IsZero() {
		e.Run.TimeStart = time.Time{}
	}
	if m.TimeEnd.IsZero() {
		e.Run.TimeEnd = time.Time{}
	}
	for _, sh := range m.Shards {
		e.Links = append(e.Links, feed.Link{Rel: "enclosure", Href: base + sh.Name, Type: "application/gzip", Length: sh.Size, SHA256: sh.SHA256})
		e.Run.Shards = append(e.Run.Shards, feed.Shard{Name: sh.Name, Size: sh.Size, SHA256: sh.SHA256})
	}
	if m.Product != "" {
		e.Categories = append(e.Categories, feed.Category{Term: m.Product, Scheme: feed.SchemeProduct})
	}
	if m.BrowserChannel != "" {
		e.Categories = append(e.Categories, feed.Category{Term: m.BrowserChannel, Scheme: feed.SchemeChannel})
	}
	if m.OS != "" {
		e.Categories = append(e.Categories, feed.Category{Term: m.OS, Scheme: feed.SchemeOS})
	}
	for _, l := range r.labels {
		e.Categories = append(e.Categories, feed.Category{Term: l, Scheme: feed.SchemeLabel})
	}
	return e
}

func entryTitle(m *store.Manifest) string {
	if m.Product == "" {
		return "run " + m.RunID
	}
	rev := m.Revision
	if len(rev) > 10 {
		rev = rev[:10]
	}
	t := m.Product + " " + m.BrowserVersion + " on " + m.OS
	if m.OSVersion != "" {
		t += " " + m.OSVersion
	}
	return t + " @ " + rev
}
