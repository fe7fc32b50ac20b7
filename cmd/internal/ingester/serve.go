package ingester

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wptfeed/wptfeed/cmd/internal/httpx"
	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
)

// Ids and category schemes of the status feed. Like the publisher's, they
// are tag: IRIs (RFC 4151): permanent, and independent of the serving host.
const (
	// StatusFeedID is the id of the unfiltered status feed; a filtered view
	// appends ":" and its canonical query.
	StatusFeedID = "tag:wptfeed.org,2026:status"
	// StatusSchemeState is the atom:category scheme whose terms are the
	// states of status records (VALID, INVALID, EMPTY, DUPLICATE, …).
	StatusSchemeState = "tag:wptfeed.org,2026:state"
	// StatusSchemeCode is the scheme whose terms are the machine-readable
	// reasons (Status.Code) of runs that were not accepted as they are.
	StatusSchemeCode = "tag:wptfeed.org,2026:code"
)

// StatusEntryID is the id of a run's entry in the status feed.
func StatusEntryID(runID string) string { return StatusFeedID + ":" + runID }

// ServeConfig configures `ingester serve`.
type ServeConfig struct {
	Out          string
	Addr         string        // HOST:PORT; port 0 picks one
	BaseURL      string        // public URL of the server, for links; default http://Addr
	ScanInterval time.Duration // how often today's and yesterday's records are listed; also the feed's max-age
	FullScan     time.Duration // how often all of status/ is listed (records of runs with older ids)
	MaxEntries   int           // entries of a feed document (each filtered view too)
}

// DefaultServeConfig returns the defaults of `ingester serve`.
func DefaultServeConfig() ServeConfig {
	return ServeConfig{
		Out:          DefaultOut,
		Addr:         "127.0.0.1:8081",
		ScanInterval: 2 * time.Second,
		FullScan:     time.Minute,
		MaxEntries:   500,
	}
}

// maxServeEntries bounds --max-entries: a document must stay small enough
// to render on every change.
const maxServeEntries = 10000

// Validate checks the configuration.
func (c *ServeConfig) Validate() error {
	if c.Out == "" {
		return errors.New("serve: --out is empty")
	}
	if c.Addr == "" {
		return errors.New("serve: --addr is empty")
	}
	if c.ScanInterval <= 0 {
		return errors.New("serve: --scan-interval must be positive")
	}
	if c.FullScan <= 0 {
		return errors.New("serve: --full-scan-interval must be positive")
	}
	if c.MaxEntries < 1 || c.MaxEntries > maxServeEntries {
		return fmt.Errorf("serve: --max-entries %d is not within 1..%d", c.MaxEntries, maxServeEntries)
	}
	if c.BaseURL != "" {
		if err := httpx.CheckBaseURL(c.BaseURL); err != nil {
			return fmt.Errorf("serve: --base-url %w", err)
		}
	}
	return nil
}

// StatusServer serves the status records of the out bucket: an Atom feed of
// the processed runs (/status.atom), each record as JSON
// (/api/status/<run id>), /metrics and /healthz.
//
// It keeps an index of every status record in memory, reading each record
// once: records are write-once, so a scan lists status/ and reads only the
// keys it has not read before (and, for a run with a TestRun, its
// testruns/<run id>.json). An index entry is a few hundred bytes: the
// rendered feed entry (warnings cut to a few) and the facts filters use.
type StatusServer struct {
	cfg ServeConfig
	log *slog.Logger
	out *store.Bucket
	ln  net.Listener
	m   *serveMetrics

	scanMu   sync.Mutex      // one scan at a time
	seen     map[string]bool // run ids read (indexed or unreadable); guarded by scanMu
	lastFull time.Time       // start of the last full scan that listed everything; guarded by scanMu

	mu      sync.RWMutex
	order   []*statusRec // newest first; replaced, never modified in place
	version int64        // incremented when order changes

	docMu sync.Mutex
	docs  map[string]*statusDoc // rendered documents by canonical filter query

	dash *dashboard // the web dashboard and its API (dashboard.go)

	closeOnce sync.Once
	closeErr  error
}

type statusDoc struct {
	version int64
	doc     *feed.Document
}

// statusRec is one indexed status record.
type statusRec struct {
	id       string
	state    string
	uploaded time.Time  // from the run id
	entry    feed.Entry // rendered once: the base URL does not change
	products []string   // product names the record is known to have
	labels   []string   // labels the record is known to have
	status   *Status    // the record, without its warnings (for the dashboard)
	testRun  *TestRun   // the run's TestRun, if it has one
}

// NewStatusServer opens the out bucket, binds the listener (so Addr may use
// port 0) and reads every status record once. It returns the error of
// Validate, of opening the bucket, of binding, or of the first scan.
func NewStatusServer(ctx context.Context, cfg ServeConfig, log *slog.Logger) (*StatusServer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = discardLogger()
	}
	out, err := store.Open(ctx, cfg.Out)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		out.Close()
		return nil, fmt.Errorf("serve: %w", err)
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "http://" + ln.Addr().String()
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	s := &StatusServer{
		cfg: cfg, log: log, out: out, ln: ln,
		m:    newServeMetrics(),
		seen: map[string]bool{},
		docs: map[string]*statusDoc{},
	}
	start := time.Now()
	if err := s.Scan(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.log.Info("status records loaded", "records", s.count(), "duration", time.Since(start).Round(time.Millisecond))
	s.dash = newDashboard(s)
	return s, nil
}

// URL is the server's base URL (ServeConfig.BaseURL, or http://<bound address>).
func (s *StatusServer) URL() string { return s.cfg.BaseURL }

// Addr is the address the server listens on.
func (s *StatusServer) Addr() string { return s.ln.Addr().String() }

// Close releases the listener and the out bucket. It may be called more
// than once.
func (s *StatusServer) Close() error {
	s.closeOnce.Do(func() {
		s.ln.Close()
		s.closeErr = s.out.Close()
	})
	return s.closeErr
}

// Run serves HTTP and scans the bucket every ScanInterval until ctx ends;
// then it shuts the HTTP server down and returns nil. It returns an error
// when the server fails.
func (s *StatusServer) Run(ctx context.Context) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(s.ln) }()
	s.log.Info("status server serving", "addr", s.Addr(), "base_url", s.cfg.BaseURL, "out", s.out.URL(), "records", s.count())
	t := time.NewTicker(s.cfg.ScanInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
			return nil
		case err := <-errc:
			return fmt.Errorf("serve: %w", err)
		case <-t.C:
			full, err := s.ScanIfOlder(ctx, s.cfg.FullScan)
			if !full {
				err = s.ScanRecent(ctx, time.Now())
			}
			if err != nil && ctx.Err() == nil {
				s.log.Warn("scan incomplete; retrying next interval", "err", err)
			}
		}
	}
}

// scanReaders is how many records a scan reads at once (a first scan of a
// remote bucket reads every record).
const scanReaders = 16

// errBadRecord marks a record that will never be readable: it is skipped
// for good (records are write-once).
var errBadRecord = errors.New("serve: unreadable status record")

// Scan lists all of status/ and indexes the records it has not read yet. A
// record that cannot be decoded is logged and skipped for good; a record
// that cannot be read now (a temporary storage error) is tried again by the
// next scan, and Scan returns the error after indexing the others.
func (s *StatusServer) Scan(ctx context.Context) error {
	_, err := s.ScanIfOlder(ctx, 0)
	return err
}

// ScanIfOlder is Scan unless a full scan started less than age ago; full
// says whether it listed. Callers that want everything indexed (Run's
// ticker, and the dashboard when a metrics file names a run it does not
// know) list all of status/ at most once per age.
func (s *StatusServer) ScanIfOlder(ctx context.Context, age time.Duration) (full bool, err error) {
	s.scanMu.Lock()
	defer s.scanMu.Unlock()
	start := time.Now()
	if age > 0 && start.Sub(s.lastFull) < age {
		return false, nil
	}
	return true, s.scan(ctx, []string{"status/"}, func() { s.lastFull = start })
}

// ScanRecent is Scan of the records whose run ids are of the day of now or
// the day before (UTC): the records a running ingester writes, found with
// a listing as long as two days' runs, not as all of history. Records of
// runs with older ids wait for the next Scan (ServeConfig.FullScan).
func (s *StatusServer) ScanRecent(ctx context.Context, now time.Time) error {
	s.scanMu.Lock()
	defer s.scanMu.Unlock()
	now = now.UTC()
	return s.scan(ctx, []string{
		"status/" + now.AddDate(0, 0, -1).Format("20060102"),
		"status/" + now.Format("20060102"),
	}, nil)
}

// scan lists prefixes, calls listed (if not nil) once every listing
// succeeded, and indexes the new records. The caller holds scanMu.
func (s *StatusServer) scan(ctx context.Context, prefixes []string, listed func()) error {
	start := time.Now()
	var ids []string
	for _, prefix := range prefixes {
		err := s.out.List(ctx, prefix, "", func(o store.Object) bool {
			id, ok := strings.CutSuffix(strings.TrimPrefix(o.Key, "status/"), ".json")
			if ok && store.ValidRunID(id) && !s.seen[id] {
				ids = append(ids, id)
			}
			return true
		})
		if err != nil {
			s.m.scanErrors.Inc()
			return fmt.Errorf("serve: list status records: %w", err)
		}
	}
	if listed != nil {
		listed()
	}

	recs := make([]*statusRec, len(ids))
	errs := make([]error, len(ids))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(scanReaders, len(ids)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				recs[i], errs[i] = s.readRecord(ctx, ids[i])
			}
		}()
	}
	for i := range ids {
		next <- i
	}
	close(next)
	wg.Wait()

	var added []*statusRec
	var failed []error
	for i, id := range ids {
		switch err := errs[i]; {
		case err == nil:
			s.seen[id] = true
			added = append(added, recs[i])
		case errors.Is(err, errBadRecord):
			s.seen[id] = true
			s.log.Warn("status record skipped", "run_id", id, "err", err)
		case store.IsNotFound(err):
			// Listed, then deleted: nothing to show.
		default:
			failed = append(failed, err)
		}
	}
	if len(added) > 0 {
		s.mu.Lock()
		order := make([]*statusRec, 0, len(s.order)+len(added))
		order = append(append(order, s.order...), added...)
		slices.SortFunc(order, func(a, b *statusRec) int {
			if c := b.uploaded.Compare(a.uploaded); c != 0 {
				return c
			}
			return strings.Compare(b.id, a.id)
		})
		s.order = order
		s.version++
		s.mu.Unlock()
		for _, r := range added {
			s.m.records.WithLabelValues(r.state).Inc()
		}
		s.log.Info("status records indexed", "new", len(added), "total", len(order))
	}
	s.m.scanDuration.Observe(time.Since(start).Seconds())
	if len(failed) > 0 {
		s.m.scanErrors.Inc()
		return fmt.Errorf("serve: %d status record(s) not read: %w", len(failed), errors.Join(failed...))
	}
	s.m.lastScan.SetToCurrentTime()
	return nil
}

// readRecord reads the status record of id and, for a run that has one,
// its TestRun. It returns an error wrapping errBadRecord for a record that
// does not decode, or the store's error.
func (s *StatusServer) readRecord(ctx context.Context, id string) (*statusRec, error) {
	data, err := s.out.ReadAll(ctx, store.StatusKey(id))
	if err != nil {
		return nil, err
	}
	var st Status
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%w %s: %v", errBadRecord, store.StatusKey(id), err)
	}
	if st.RunID != id || st.State == "" {
		return nil, fmt.Errorf("%w %s: run_id %q, state %q", errBadRecord, store.StatusKey(id), st.RunID, st.State)
	}
	var tr *TestRun
	if st.State == StateValid || st.TestRunID != 0 {
		data, err := s.out.ReadAll(ctx, store.TestRunKey(id))
		switch {
		case err == nil:
			tr = new(TestRun)
			if err := json.Unmarshal(data, tr); err != nil {
				s.log.Warn("TestRun record ignored", "run_id", id, "err", err)
				tr = nil
			}
		case store.IsNotFound(err):
		default:
			return nil, err
		}
	}
	return newStatusRec(&st, tr, s.cfg.BaseURL), nil
}

// newStatusRec derives the index entry of a record. Product and labels come
// from the status record, or from the TestRun for records written before
// the status record carried them.
func newStatusRec(st *Status, tr *TestRun, base string) *statusRec {
	r := &statusRec{id: st.RunID, state: st.State, testRun: tr}
	brief := *st
	brief.Warnings = nil
	r.status = &brief
	r.uploaded, _ = store.RunTime(st.RunID) // the run id is valid
	product, labels := st.Product, st.Labels
	if tr != nil {
		if product == "" {
			product = tr.BrowserName
		}
		if len(labels) == 0 {
			labels = tr.Labels
		}
	}
	// The filters' facts: the product, as recorded and as wpt.fyi
	// normalises it (a run rejected before normalisation records the
	// uploader's name), and the labels, of which wpt.fyi's always include
	// the product names. What is not recorded is not known: see
	// statusFilter.match.
	addUnique := func(list []string, vs ...string) []string {
		for _, v := range vs {
			if v != "" && !slices.Contains(list, v) {
				list = append(list, v)
			}
		}
		return list
	}
	for _, p := range []string{product, st.Product} {
		if p != "" {
			norm, _ := report.NormalizeMetadata(report.Metadata{Product: p}, nil)
			r.products = addUnique(r.products, p, norm.Product)
		}
	}
	r.labels = addUnique(slices.Clone(labels), r.products...)

	api := base + "/api/status/" + st.RunID
	e := feed.Entry{
		ID:      StatusEntryID(st.RunID),
		Title:   statusTitle(st, tr, product),
		Updated: st.Ingested.UTC(),
		Summary: statusSummary(st, api),
		Links:   []feed.Link{{Rel: "alternate", Href: api, Type: "application/json", Title: "status record"}},
	}
	if st.Ingested.IsZero() {
		e.Updated = r.uploaded.UTC()
	}
	if st.Manifest != "" {
		e.Links = append(e.Links, feed.Link{Rel: "related", Href: st.Manifest, Type: "application/json", Title: "run manifest"})
	}
	e.Categories = append(e.Categories, feed.Category{Term: st.State, Scheme: StatusSchemeState})
	if st.Code != "" {
		e.Categories = append(e.Categories, feed.Category{Term: st.Code, Scheme: StatusSchemeCode})
	}
	if product != "" {
		e.Categories = append(e.Categories, feed.Category{Term: product, Scheme: feed.SchemeProduct})
	}
	for _, l := range labels {
		if l != "" {
			e.Categories = append(e.Categories, feed.Category{Term: l, Scheme: feed.SchemeLabel})
		}
	}
	r.entry = e
	return r
}

// statusTitle is "<STATE>[ (<code>)]: <what>", where what is
// "<product> <version> <os> @ <revision, 10 hex>" for a run with a TestRun,
// else "[<product> ]run <run id>".
func statusTitle(st *Status, tr *TestRun, product string) string {
	head := st.State
	if st.Code != "" {
		head += " (" + st.Code + ")"
	}
	if tr == nil {
		return head + ": " + strings.TrimSpace(product+" run "+st.RunID)
	}
	var parts []string
	for _, p := range []string{product, tr.BrowserVersion, tr.OSName} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	what := strings.Join(parts, " ")
	rev := tr.FullRevisionHash
	if rev == "" {
		rev = st.Revision
	}
	if rev != "" {
		what += " @ " + rev[:min(10, len(rev))]
	}
	if what == "" {
		what = "run " + st.RunID
	}
	return head + ": " + strings.TrimSpace(what)
}

// summaryWarnings is how many warnings an entry's summary lists; the
// status record at the API has them all.
const summaryWarnings = 10

// statusSummary is the entry's text: the state and reason, then the
// warnings, then where the run came from.
func statusSummary(st *Status, api string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run %s is %s", st.RunID, st.State)
	if st.Code != "" {
		fmt.Fprintf(&b, " (%s)", st.Code)
	}
	switch {
	case st.Error != "":
		fmt.Fprintf(&b, ": %s", st.Error)
	case st.State == StateValid:
		fmt.Fprintf(&b, ": %d tests, %d subtests", st.Tests, st.Subtests)
	}
	b.WriteString("\n")
	if n := len(st.Warnings); n > 0 {
		fmt.Fprintf(&b, "Warnings (%d):\n", n)
		for _, w := range st.Warnings[:min(n, summaryWarnings)] {
			fmt.Fprintf(&b, "- %s: %s", w.Code, w.Message)
			if w.Test != "" {
				fmt.Fprintf(&b, " (test %s)", w.Test)
			}
			b.WriteString("\n")
		}
		if n > summaryWarnings {
			fmt.Fprintf(&b, "- … and %d more: %s\n", n-summaryWarnings, api)
		}
	}
	if st.FeedEntry != "" {
		fmt.Fprintf(&b, "Feed entry: %s\n", st.FeedEntry)
	}
	if st.ResultsURL != "" {
		fmt.Fprintf(&b, "Results: %s\n", st.ResultsURL)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func (s *StatusServer) count() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.order)
}

// statusFilter selects records: several values of one key match any of
// them, several keys must all match. The zero filter matches everything.
//
// A record matches a key only when what it records shows that it matches.
// A run rejected before its product was known (no product in its manifest)
// is in no ?product= view, and a run without recorded labels (INVALID and
// EMPTY runs, so far) is in a ?label= view only through its product name,
// which wpt.fyi's labels always include. A runner that filters by its own
// label therefore sees its accepted runs only; it finds its rejected ones
// in the view of its product (or the unfiltered feed).
type statusFilter struct {
	product, label []string
}

var statusFilterKeys = []string{"product", "label"}

// parseStatusFilter reads ?product= and ?label= (repeated or
// comma-separated). It returns an error naming any other parameter.
func parseStatusFilter(q url.Values) (statusFilter, error) {
	for k := range q {
		if !slices.Contains(statusFilterKeys, k) {
			return statusFilter{}, fmt.Errorf("unknown query parameter %q (want product or label)", k)
		}
	}
	return statusFilter{product: httpx.List(q["product"]), label: httpx.List(q["label"])}, nil
}

// query is the filter's canonical query string ("" or "?…"), so that every
// spelling of a filter shares one document, id and self link.
func (f statusFilter) query() string {
	if len(f.product)+len(f.label) == 0 {
		return ""
	}
	v := url.Values{}
	for _, p := range f.product {
		v.Add("product", p)
	}
	for _, l := range f.label {
		v.Add("label", l)
	}
	return "?" + v.Encode()
}

func (f statusFilter) match(r *statusRec) bool {
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
	return anyOf(f.product, r.products) && anyOf(f.label, r.labels)
}

// Handler routes the status server's HTTP API.
func (s *StatusServer) Handler() http.Handler {
	mux := http.NewServeMux()
	s.route(mux, "GET /status.atom", s.serveFeed)
	s.route(mux, "GET /api/status/{id}", s.serveRecord)
	s.route(mux, "GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	s.route(mux, "GET /metrics", promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{}).ServeHTTP)
	s.dash.mount(mux)
	return mux
}

func (s *StatusServer) cacheControl() string {
	return "public, max-age=" + strconv.Itoa(int(s.cfg.ScanInterval.Seconds()))
}

func (s *StatusServer) serveFeed(w http.ResponseWriter, r *http.Request) {
	f, err := parseStatusFilter(r.URL.Query())
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
			s.httpError(w, r, err)
			return
		}
		c = &statusDoc{version: version, doc: doc}
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
func (s *StatusServer) render(order []*statusRec, f statusFilter) (*feed.Document, error) {
	q := f.query()
	fd := &feed.Feed{
		ID:       StatusFeedID,
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
	return &feed.Document{Body: buf.Bytes(), LastModified: fd.Updated, CacheControl: s.cacheControl()}, nil
}

// serveRecord answers /api/status/<run id> with the status record as
// stored, straight from the bucket (so it may be ahead of the feed), with a
// strong ETag over its bytes and its ingested_at as Last-Modified.
func (s *StatusServer) serveRecord(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !store.ValidRunID(id) {
		http.Error(w, "not a run id", http.StatusNotFound)
		return
	}
	data, err := s.out.ReadAll(r.Context(), store.StatusKey(id))
	if store.IsNotFound(err) {
		// Not processed yet: a runner polls until it is.
		w.Header().Set("Cache-Control", s.cacheControl())
		http.Error(w, "run "+id+" has no status record (not processed yet)", http.StatusNotFound)
		return
	}
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	var st struct {
		Ingested time.Time `json:"ingested_at"`
	}
	_ = json.Unmarshal(data, &st) // served as stored, even if malformed
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("ETag", feed.ETag(data))
	h.Set("Cache-Control", s.cacheControl())
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", st.Ingested, bytes.NewReader(data))
}

// serveHTTPStatus maps an error to its HTTP status: the status server's one
// table.
func serveHTTPStatus(err error) int {
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, os.ErrNotExist):
		return http.StatusNotFound
	case errors.Is(err, store.ErrInvalid):
		return http.StatusBadRequest
	case store.IsTemporary(err), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (s *StatusServer) httpError(w http.ResponseWriter, r *http.Request, err error) {
	code := serveHTTPStatus(err)
	if code >= 500 {
		s.log.Error("request failed", "path", r.URL.Path, "err", err)
	}
	http.Error(w, http.StatusText(code), code)
}

type serveMetrics struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	records      *prometheus.GaugeVec
	scanDuration prometheus.Histogram
	lastScan     prometheus.Gauge
	scanErrors   prometheus.Counter
}

func newServeMetrics() *serveMetrics {
	m := &serveMetrics{
		reg: prometheus.NewRegistry(),
		records: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ingester_serve_status_records", Help: "Status records indexed, by state.",
		}, []string{"state"}),
		scanDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ingester_serve_scan_duration_seconds", Help: "Duration of a scan of status/.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		lastScan: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ingester_serve_last_scan_timestamp_seconds", Help: "When the last complete scan of status/ ended.",
		}),
		scanErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ingester_serve_scan_errors_total", Help: "Scans of status/ that failed or left records unread.",
		}),
	}
	m.requests, m.latency = httpx.RequestMetrics("ingester_serve")
	m.reg.MustRegister(m.requests, m.latency, m.records, m.scanDuration, m.lastScan, m.scanErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// route mounts h at pattern, counting requests and timing them under the
// pattern's name.
func (s *StatusServer) route(mux *http.ServeMux, pattern string, h http.HandlerFunc) {
	httpx.Route(mux, pattern, h, s.m.requests, s.m.latency)
}
