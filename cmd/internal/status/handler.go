package status

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/httpx"
	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/store"
)

// filter selects records: several values of one key match any of
// them, several keys must all match. The zero filter matches everything.
//
// A record matches a key only when what it records shows that it matches.
// A run rejected before its product was known (no product in its manifest)
// is in no ?product= view, and a run without recorded labels (INVALID and
// EMPTY runs, so far) is in a ?label= view only through its product name,
// which wpt.fyi's labels always include. A runner that filters by its own
// label therefore sees its accepted runs only; it finds its rejected ones
// in the view of its product (or the unfiltered feed). A ?feed= view
// holds the runs whose record names that feed (records written before the
// ingester followed several feeds name none).
type filter struct {
	product, label, feed []string
}

var filterKeys = []string{"product", "label", "feed"}

// parseFilter reads ?product=, ?label= and ?feed= (repeated or
// comma-separated). It returns an error naming any other parameter.
func parseFilter(q url.Values) (filter, error) {
	for k := range q {
		if !slices.Contains(filterKeys, k) {
			return filter{}, fmt.Errorf("unknown query parameter %q (want product, label or feed)", k)
		}
	}
	return filter{product: httpx.List(q["product"]), label: httpx.List(q["label"]), feed: httpx.List(q["feed"])}, nil
}

// query is the filter's canonical query string ("" or "?…"), so that every
// spelling of a filter shares one document, id and self link.
func (f filter) query() string {
	if len(f.product)+len(f.label)+len(f.feed) == 0 {
		return ""
	}
	v := url.Values{}
	for _, p := range f.product {
		v.Add("product", p)
	}
	for _, l := range f.label {
		v.Add("label", l)
	}
	for _, fd := range f.feed {
		v.Add("feed", fd)
	}
	return "?" + v.Encode()
}

func (f filter) match(r *rec) bool {
	anyOf := func(want, have []string) bool {
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
	var feeds []string
	if r.Status != nil && r.Status.Feed != "" {
		feeds = []string{r.Status.Feed}
	}
	return anyOf(f.product, r.Products) && anyOf(f.label, r.Labels) && anyOf(f.feed, feeds)
}

// routes mounts the status server's own routes (the skeleton has /healthz
// and /metrics).
func (s *Server) routes() {
	s.Route("GET /status.atom", s.serveFeed)
	s.Route("GET /api/status/{id}", s.serveRecord)
}

// Handler is the server's HTTP handler: its routes and those added with
// Route.
func (s *Server) Handler() http.Handler { return s.srv }

// Runs returns the index, newest upload first, and its version, which
// changes whenever the index does. The slice and the runs are shared: a
// caller must not modify them.
func (s *Server) Runs() ([]*records.Run, int64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.runs, s.version
}

// CacheControl is the Cache-Control of what the server's index answers:
// public, for a scan interval.
func (s *Server) CacheControl() string {
	return "public, max-age=" + strconv.Itoa(int(s.cfg.ScanInterval.Seconds()))
}

func (s *Server) serveFeed(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.RLock()
	order, version := s.order, s.version
	s.mu.RUnlock()
	q := f.query()
	s.docMu.Lock()
	c := s.docs[q]
	s.docMu.Unlock()
	if c == nil || c.version != version {
		doc, err := s.render(order, f)
		if err != nil {
			s.srv.Error(w, r, err)
			return
		}
		c = &cachedDoc{version: version, doc: doc}
		s.docMu.Lock()
		if len(s.docs) > 1024 {
			clear(s.docs)
		}
		s.docs[q] = c
		s.docMu.Unlock()
	}
	feed.Serve(w, r, c.doc)
}

// render builds the document of a filter: the newest MaxEntries matching
// records. Its updated time (and Last-Modified) is the newest entry's, or
// the Unix epoch for no entries, so the document depends on the records
// alone and replicas serve the same bytes and validators.
func (s *Server) render(order []*rec, f filter) (*feed.Document, error) {
	q := f.query()
	fd := &feed.Feed{
		ID:       FeedID,
		Title:    "wptfeed ingestion status",
		Subtitle: "One entry per processed run, newest upload first: its state (VALID, INVALID, EMPTY, DUPLICATE), the reason and the warnings",
		Updated:  time.Unix(0, 0).UTC(),
		Author:   feed.Person{Name: "wptfeed ingester"},
		Links:    []feed.Link{{Rel: "self", Href: s.cfg.BaseURL + "/status.atom" + q, Type: "application/atom+xml"}},
	}
	if q != "" {
		fd.ID += ":" + strings.TrimPrefix(q, "?")
		fd.Title += " (" + strings.ReplaceAll(strings.TrimPrefix(q, "?"), "&", ", ") + ")"
	}
	for _, r := range order {
		if len(fd.Entries) == s.cfg.MaxEntries {
			break
		}
		if !f.match(r) {
			continue
		}
		if r.entry.Updated.After(fd.Updated) {
			fd.Updated = r.entry.Updated
		}
		fd.Entries = append(fd.Entries, r.entry)
	}
	var buf bytes.Buffer
	if err := feed.Encode(&buf, fd); err != nil {
		return nil, fmt.Errorf("serve: render status feed: %w", err)
	}
	return &feed.Document{Body: buf.Bytes(), LastModified: fd.Updated, CacheControl: s.CacheControl()}, nil
}

// serveRecord answers /api/status/<run id> with the status record as
// stored, straight from the bucket (so it may be ahead of the feed), with a
// strong ETag over its bytes and its ingested_at as Last-Modified.
func (s *Server) serveRecord(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !store.ValidFeedRunID(id) {
		http.Error(w, "not a run id", http.StatusNotFound)
		return
	}
	data, err := s.out.ReadAll(r.Context(), store.StatusKey(id))
	if store.IsNotFound(err) {
		// Not processed yet: a runner polls until it is.
		w.Header().Set("Cache-Control", s.CacheControl())
		http.Error(w, "run "+id+" has no status record (not processed yet)", http.StatusNotFound)
		return
	}
	if err != nil {
		s.srv.Error(w, r, err)
		return
	}
	var st struct {
		Ingested time.Time `json:"ingested_at"`
	}
	_ = json.Unmarshal(data, &st) // served as stored, even if malformed
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("ETag", feed.ETag(data))
	h.Set("Cache-Control", s.CacheControl())
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", st.Ingested, bytes.NewReader(data))
}
