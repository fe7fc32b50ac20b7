package publisher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/httpx"
	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/store"
)

// ServerConfig configures `publisher serve`.
type ServerConfig struct {
	Bucket       string
	Addr         string
	BaseURL      string        // default http://Addr
	ScanInterval time.Duration // quick scans of today's and yesterday's uploads
	FullScan     time.Duration // scans of every day, for runs other tools wrote with older ids
	PageSize     int           // runs per archive page; fixed for a bucket at its first start
	// FeedEntries is how many of the newest runs the subscription document
	// (and each filtered view, of its matching runs) lists at least,
	// whether or not they are also in an archive page; 0 means 100.
	FeedEntries int
	Author      string
	// Enclosures is "publisher" (the publisher streams the shards) or
	// "signed": /runs/<id>/<shard> answers a temporary redirect to a fresh
	// time-limited signed storage URL where the driver can sign, so that
	// downloads bypass the publisher. The feed's links stay the same.
	Enclosures   string
	SignedExpiry time.Duration
	Notify       []string // URLs to POST to when new runs are published
	NotifyToken  string   // bearer token sent with them
	// Credentials is an htpasswd file (bcrypt) of the users who may POST
	// runs to /api/results/upload; "" turns the endpoint off (404).
	Credentials   string
	MaxUpload     int64    // bytes per upload request; 0 = DefaultMaxUpload
	UploadOrigins []string // origins result_url may name; none = result_url refused
	// StatusURL is the base URL of the ingester's status server (`ingester
	// serve`: /api/status/<run id>, /status.atom); when set, each run's
	// page links to the run's status. "" leaves the links out.
	StatusURL string
	// Timeouts bound how long the server waits on clients (see
	// httpx.Timeouts); the zero value means httpx.DefaultTimeouts.
	Timeouts httpx.Timeouts
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultServerConfig returns the defaults of `publisher serve`.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{
		Bucket:       DefaultBucket,
		Addr:         "127.0.0.1:8080",
		ScanInterval: time.Second,
		FullScan:     5 * time.Minute,
		PageSize:     100,
		FeedEntries:  100,
		Author:       "wptfeed publisher",
		MaxUpload:    DefaultMaxUpload,
		Timeouts:     httpx.DefaultTimeouts(),
	}
}

// Validate checks the configuration.
func (c *ServerConfig) Validate() error {
	if c.Bucket == "" {
		return errors.New("serve: --bucket is empty")
	}
	if c.Addr == "" {
		return errors.New("serve: --addr is empty")
	}
	if c.ScanInterval <= 0 || c.FullScan <= 0 {
		return errors.New("serve: --scan-interval and --full-scan-interval must be positive")
	}
	if c.Enclosures != "" && c.Enclosures != "publisher" && c.Enclosures != "signed" {
		return fmt.Errorf("serve: --enclosures %q: want publisher or signed", c.Enclosures)
	}
	if c.PageSize < 1 || c.PageSize > 10000 {
		return fmt.Errorf("serve: --page-size %d is not within 1..10000", c.PageSize)
	}
	if c.FeedEntries < 1 || c.FeedEntries > 10000 {
		return fmt.Errorf("serve: --feed-entries %d is not within 1..10000", c.FeedEntries)
	}
	if c.BaseURL != "" {
		if err := httpx.CheckBaseURL(c.BaseURL); err != nil {
			return fmt.Errorf("serve: --base-url %w", err)
		}
	}
	if c.StatusURL != "" {
		if err := httpx.CheckBaseURL(c.StatusURL); err != nil {
			return fmt.Errorf("serve: --status-url %w", err)
		}
	}
	if err := c.Timeouts.Validate(); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// Server is the publisher's HTTP server and bucket scanner.
type Server struct {
	cfg    ServerConfig
	log    *slog.Logger
	http   *httpx.Server // routes, request metrics, /metrics, /healthz
	bucket *store.Bucket
	ln     net.Listener
	idx    *index
	rd     *renderer
	m      *metrics
	notify *notifier
	up     *uploader // nil: uploads off

	signOnce sync.Once
	scanMu   sync.Mutex // one scan at a time

	docMu   sync.Mutex
	subs    map[string]*cachedDoc // subscription documents by filter query
	feedDoc cachedDoc             // the unfiltered one, not in subs
	archive map[string]*feed.Document
	archLRU []string

	pages runPages // the runs' web pages (runpage.go)

	winMu sync.Mutex // one store of the window's copy at a time
	// docKey names what the subscription document depends on besides the
	// runs (renderingKey); "" keeps it out of the window's copy.
	docKey string
}

// renderingKey names what the unfiltered subscription document depends on
// besides the runs: the renderer's configuration and the build (its
// module versions and VCS revision, and the executable's size and
// modification time, which tell apart builds of a modified work tree). A
// document stored with the window's copy under another key is rendered
// again. It returns "" when the build cannot be told apart.
func renderingKey(cfg ServerConfig) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	fi, err := os.Stat(exe)
	if err != nil {
		return ""
	}
	h := sha256.New()
	fmt.Fprintf(h, "%q %q %d %s %d %d\n%d %d\n%s", cfg.BaseURL, cfg.Author, cfg.PageSize, cfg.ScanInterval, cfg.FeedEntries,
		feedDocVersion, fi.Size(), fi.ModTime().UnixNano(), bi)
	return hex.EncodeToString(h.Sum(nil))
}

// feedDocVersion is part of renderingKey: bump it when the rendering
// changes in a way the build information would not show.
const feedDocVersion = 1

// saveWindow stores the copy of the window as of the newest archive
// page's last entry (store.Window, write-once) if the page sealed since
// the last store: one copy per page, none overwritten. When the log holds
// no entry after that page, the subscription document rendered from the
// copy's runs goes with it. A copy found stored is another publisher's,
// as good as this one. A failure is logged and tried again at the next
// scan: the copy only speeds restarts up.
func (s *Server) saveWindow(ctx context.Context) {
	s.winMu.Lock()
	defer s.winMu.Unlock()
	w, current, version := s.idx.sealed()
	if w == nil {
		return
	}
	if current && s.docKey != "" {
		// The subscription document of these runs goes with them (the
		// next reader would have it rendered anyway).
		_, _ = s.subscription(ctx, filter{})
		if d := s.feedDoc.cur.Load(); d != nil && d.version == version {
			etag := d.doc.ETag
			if etag == "" {
				etag = feed.ETag(d.doc.Body)
			}
			c := *w
			c.Doc = &store.WindowDoc{Key: s.docKey, ETag: etag, LastModified: d.doc.LastModified, CacheControl: d.doc.CacheControl, Body: d.doc.Body}
			w = &c
		}
	}
	if err := s.bucket.WriteWindow(ctx, w); err != nil && !store.IsExists(err) {
		if ctx.Err() == nil {
			s.log.Warn("the copy of the feed's window was not stored; restarts read more of the log until it is", "seq", w.Last, "err", err)
		}
		return
	}
	s.idx.sealStored(w.Last)
}

// cachedDoc is a subscription document of one filter. Its mutex is held
// while it is rendered, so that the requests that find it stale wait for
// one rendering instead of each rendering it; a request that finds it
// current takes no lock.
type cachedDoc struct {
	mu  sync.Mutex
	cur atomic.Pointer[renderedDoc]
}

// renderedDoc is a document rendered at an index version.
type renderedDoc struct {
	version int64
	doc     *feed.Document
}

// filterLookBack bounds how far back a filtered subscription document
// looks for matching runs: filterLookBack × FeedEntries log entries (and
// always back to the newest archive page).
const filterLookBack = 10

const maxCachedArchives = 512

// NewServer opens the bucket, binds the listener (so Addr may use port 0)
// and reads the tail of the publication log. It does not read every
// manifest: start-up costs the same at 100 runs and at 100,000. A nil log
// discards.
func NewServer(ctx context.Context, cfg ServerConfig, log *slog.Logger, opts ...store.Option) (*Server, error) {
	hs := httpx.NewServer("publisher", log)
	log = hs.Log
	if cfg.Timeouts != (httpx.Timeouts{}) {
		hs.Timeouts = cfg.Timeouts
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = 100
	}
	if cfg.FeedEntries == 0 {
		cfg.FeedEntries = 100
	}
	if cfg.FullScan == 0 {
		cfg.FullScan = 5 * time.Minute
	}
	if cfg.ScanInterval == 0 {
		cfg.ScanInterval = time.Second
	}
	b, err := store.Open(ctx, cfg.Bucket, opts...)
	if err != nil {
		return nil, err
	}
	fc, err := b.EnsureFeedConfig(ctx, store.FeedConfig{PageSize: cfg.PageSize})
	if err != nil {
		b.Close()
		return nil, err
	}
	if fc.PageSize != cfg.PageSize {
		log.Warn("the bucket's archive page size is fixed; using it", "page_size", fc.PageSize, "asked", cfg.PageSize)
		cfg.PageSize = fc.PageSize
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("serve: %w", err)
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "http://" + ln.Addr().String()
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	cfg.StatusURL = strings.TrimRight(cfg.StatusURL, "/")
	s := &Server{
		cfg: cfg, log: log, http: hs, bucket: b, ln: ln,
		idx:     newIndex(b, cfg.PageSize, cfg.FeedEntries),
		rd:      &renderer{baseURL: cfg.BaseURL, author: cfg.Author, maxAge: cfg.ScanInterval, pageSize: int64(cfg.PageSize)},
		m:       newMetrics(hs.Registry),
		notify:  newNotifier(cfg.Notify, cfg.NotifyToken, log),
		subs:    map[string]*cachedDoc{},
		archive: map[string]*feed.Document{},
	}
	s.instrument(hs.Registry) // manifest checks: log and publisher_manifests_rejected_total
	if s.up, err = newUploader(s); err != nil {
		s.Close()
		return nil, err
	}
	start := time.Now()
	s.docKey = renderingKey(cfg)
	w, err := s.idx.load(ctx)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("serve: read publication log: %w", err)
	}
	if w != nil {
		version := s.idx.currentVersion()
		if d := w.Doc; d != nil && s.docKey != "" && d.Key == s.docKey {
			// Rendered from these very runs, as this build renders them
			// with this configuration: the bytes the renderer would make.
			s.feedDoc.cur.Store(&renderedDoc{version: version, doc: &feed.Document{
				Body: d.Body, ETag: d.ETag, LastModified: d.LastModified, CacheControl: d.CacheControl,
			}})
		}
	}
	s.log.Info("publication log loaded", "runs", s.idx.count(), "duration", time.Since(start).Round(time.Millisecond))
	s.routes()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Count is the number of published runs.
func (s *Server) Count() int64 { return s.idx.count() }

// URL is the server's base URL.
func (s *Server) URL() string { return s.cfg.BaseURL }

// Close releases the listener and the bucket.
func (s *Server) Close() error {
	s.ln.Close()
	s.idx.der.close()
	return s.bucket.Close()
}

func (s *Server) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

// Run serves until ctx is done: quick scans every ScanInterval, a full scan
// at start and every FullScan.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(ctx, s.ln) }()
	served := func(err error) error {
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	}
	s.log.Info("publisher serving", "addr", s.ln.Addr().String(), "base_url", s.cfg.BaseURL, "bucket", s.bucket.URL(), "runs", s.idx.count())

	go s.notify.run(ctx)
	// Render the subscription document now, while the first reader is
	// on its way: it waits for this rendering rather than starting one.
	go s.subscription(ctx, filter{})
	// The first quick scan runs while the server already answers from the
	// log's tail: start-up costs the same at 100 runs and at 100,000.
	if err := s.Scan(ctx, false); err != nil && ctx.Err() == nil {
		s.log.Warn("scan failed", "err", err)
	}
	full := make(chan struct{}, 1)
	full <- struct{}{}
	go func() {
		t := time.NewTicker(s.cfg.FullScan)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				select {
				case full <- struct{}{}:
				default:
				}
			}
		}
	}()
	t := time.NewTicker(s.cfg.ScanInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			err := served(<-errc) // after the graceful shutdown
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownSave)
			s.saveWindow(sctx) // a page sealed since the last scan
			cancel()
			return err
		case err := <-errc:
			return served(err)
		case <-full:
			// In the background: a full scan of a large bucket takes a while
			// and quick scans must go on.
			go func() {
				if err := s.Scan(ctx, true); err != nil && ctx.Err() == nil {
					s.log.Warn("full scan failed", "err", err)
				}
			}()
		case <-t.C:
			if err := s.Scan(ctx, false); err != nil && ctx.Err() == nil {
				s.log.Warn("scan failed", "err", err)
			}
		}
	}
}

// Scan reads what other publishers appended to the log and publishes new
// committed runs: of today and yesterday, or with full of every day.
func (s *Server) Scan(ctx context.Context, full bool) error {
	start := time.Now()
	if full {
		// A full scan lists every day; it must not hold up quick scans for
		// long, so it lists first and takes the lock per day.
		days, err := s.bucket.RunDays(ctx)
		if err != nil {
			return err
		}
		for _, d := range days {
			if err := s.scanDays(ctx, []string{d}, time.Time{}); err != nil {
				return err
			}
		}
	} else if err := s.scanDays(ctx, recentDays(s.now()), s.now().Add(-MinGCAge)); err != nil {
		return err
	}
	d := time.Since(start)
	kind := "quick"
	if full {
		kind = "full"
	}
	s.m.scanDuration.WithLabelValues(kind).Observe(d.Seconds())
	s.m.lastScan.WithLabelValues(kind).SetToCurrentTime()
	s.m.runs.Set(float64(s.idx.count()))
	s.saveWindow(ctx)
	return nil
}

// shutdownSave bounds the store of the window's copy at shutdown.
const shutdownSave = 2 * time.Second

// scanDays publishes the new committed runs of days. Runs whose ids are
// older than probeAfter are not probed: a quick scan leaves the folders of
// uploads abandoned over an hour ago (which publisher gc removes) to the
// full scans.
func (s *Server) scanDays(ctx context.Context, days []string, probeAfter time.Time) error {
	s.scanMu.Lock()
	defer s.scanMu.Unlock()
	synced, err := s.idx.sync(ctx)
	if err != nil {
		return fmt.Errorf("serve: read publication log: %w", err)
	}
	n, err := s.idx.discover(ctx, days, probeAfter, func(id string, err error) {
		s.log.Warn("committed run has an invalid manifest; not published", "run_id", id, "err", err)
	})
	if n > 0 {
		s.log.Info("runs published", "count", n, "total", s.idx.count())
		s.notify.poke()
	} else if synced {
		s.notify.poke()
	}
	return err
}

// Handler is the publisher's HTTP API: the feed, its archive, the runs'
// files, uploads (when on), and the skeleton's /metrics and /healthz.
func (s *Server) Handler() http.Handler { return s.http }

// routes mounts the publisher's routes on its skeleton, once.
func (s *Server) routes() {
	s.http.Route("GET /feed.atom", s.serveFeed)
	// The subscription document, polled by every reader, without
	// net/http's per-request work (the filtered views go through serveFeed).
	s.http.Fast("GET /feed.atom", "/feed.atom", func(ctx context.Context) *feed.Document {
		doc, err := s.subscription(ctx, filter{})
		if err != nil {
			return nil // serveFeed answers the error
		}
		return doc
	})
	s.http.Route("GET /archive/{page}", s.serveArchive)
	s.http.Route("GET /runs/{id}/{name}", s.serveRunFile)
	s.http.Route("GET /runs/{id}/{$}", s.serveRunPage)
	s.http.Route("GET /runs/{id}", s.redirectRunPage)
	if s.up != nil {
		s.http.Route("POST "+UploadPath, s.up.serveHTTP)
	}
}

func (s *Server) serveFeed(w http.ResponseWriter, r *http.Request) {
	var f filter
	if r.URL.RawQuery != "" {
		var err error
		if f, err = parseFilter(r.URL.Query()); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	doc, err := s.subscription(r.Context(), f)
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	feed.Serve(w, r, doc)
}

// subscription returns the subscription document of filter f, rendered
// again only when the index changed since it was last rendered.
func (s *Server) subscription(ctx context.Context, f filter) (*feed.Document, error) {
	c := &s.feedDoc
	if !f.empty() {
		q := f.query()
		s.docMu.Lock()
		c = s.subs[q]
		if c == nil {
			if len(s.subs) >= 1024 {
				clear(s.subs)
			}
			c = &cachedDoc{}
			s.subs[q] = c
		}
		s.docMu.Unlock()
	}
	if d := c.cur.Load(); d != nil && d.version == s.idx.currentVersion() {
		return d.doc, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.cur.Load(); d != nil && d.version == s.idx.currentVersion() {
		return d.doc, nil // rendered while this request waited
	}
	runs, pages, version, err := s.idx.latest(ctx, f.match, filterLookBack*int64(s.cfg.FeedEntries))
	if err != nil {
		return nil, err
	}
	doc, err := s.rd.subscription(runs, pages, f)
	if err != nil {
		return nil, err
	}
	c.cur.Store(&renderedDoc{version: version, doc: doc})
	return doc, nil
}

func (s *Server) serveArchive(w http.ResponseWriter, r *http.Request) {
	num, ok := strings.CutSuffix(r.PathValue("page"), ".atom")
	k, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || k < 1 || strconv.FormatInt(k, 10) != num {
		http.Error(w, "no such archive page", http.StatusNotFound)
		return
	}
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	key := num + f.query()
	s.docMu.Lock()
	doc := s.archive[key]
	s.docMu.Unlock()
	if doc == nil {
		runs, ok, err := s.idx.page(r.Context(), k)
		if err != nil {
			s.http.Error(w, r, err)
			return
		}
		if !ok {
			pages := s.idx.archivedPages()
			if k == pages+1 {
				// The next page of the newest archive: not archived yet, its
				// runs are in the subscription document.
				w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(s.cfg.ScanInterval.Seconds())))
				http.Redirect(w, r, s.cfg.BaseURL+"/feed.atom"+f.query(), http.StatusFound)
				return
			}
			http.Error(w, fmt.Sprintf("archive page %d does not exist (there are %d)", k, pages), http.StatusNotFound)
			return
		}
		if doc, err = s.rd.archive(k, runs, f); err != nil {
			s.http.Error(w, r, err)
			return
		}
		s.docMu.Lock()
		if _, ok := s.archive[key]; !ok {
			s.archive[key] = doc
			s.archLRU = append(s.archLRU, key)
			if len(s.archLRU) > maxCachedArchives {
				delete(s.archive, s.archLRU[0])
				s.archLRU = s.archLRU[1:]
			}
		}
		s.docMu.Unlock()
	}
	feed.Serve(w, r, doc)
}

func (s *Server) serveRunFile(w http.ResponseWriter, r *http.Request) {
	id, name := r.PathValue("id"), r.PathValue("name")
	if !store.ValidRunID(id) || (name != store.ManifestName && !store.ValidShardName(name)) {
		http.Error(w, "no such run file", http.StatusNotFound)
		return
	}
	// ReadCommit, not ReadManifest: a run whose manifest names a missing
	// shard is published, and its other files are served.
	m, _, err := s.bucket.ReadCommit(r.Context(), id)
	if err != nil {
		if store.IsNotFound(err) || errors.Is(err, store.ErrInvalid) {
			http.Error(w, "run "+id+" is not published", http.StatusNotFound)
			return
		}
		s.http.Error(w, r, err)
		return
	}
	key := store.ShardKey(id, name)
	if name != store.ManifestName {
		listed := false
		for _, sh := range m.Shards {
			listed = listed || sh.Name == name
		}
		if !listed {
			http.Error(w, "run "+id+" has no shard "+name, http.StatusNotFound)
			return
		}
	}
	if s.cfg.Enclosures == "signed" && name != store.ManifestName {
		expiry := s.cfg.SignedExpiry
		if expiry <= 0 {
			expiry = 15 * time.Minute
		}
		u, err := s.bucket.SignedURL(r.Context(), key, expiry)
		if err == nil {
			// Temporary: the permanent URL is ours; the signed one expires.
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, u, http.StatusTemporaryRedirect)
			return
		}
		s.signOnce.Do(func() {
			s.log.Warn("the bucket's driver cannot sign URLs; serving enclosures from the publisher", "err", err)
		})
	}
	a, err := s.bucket.Attributes(r.Context(), key)
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	rs := s.bucket.ReadSeeker(r.Context(), key, a.Size)
	defer rs.Close()
	w.Header().Set("Content-Type", store.ContentType(key))
	if etag := entityTag(a); etag != "" {
		w.Header().Set("ETag", etag)
	}
	// A committed run's files never change (if they are replaced anyway,
	// they are served as stored, under a new entity tag, and the
	// ingester, which checks them against the manifest, refuses them).
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", a.ModTime, rs)
}

// entityTag is the ETag of an object as served: one that describes the
// stored bytes, never the manifest's checksum (which says what the bytes
// should be, not what they are). It is the storage's own entity tag
// (quoted if the driver gives it bare, as GCS does), else one made of the
// object's modification time and size; "" if the store reports neither.
func entityTag(a store.Attrs) string {
	t := a.ETag
	if q := strings.TrimPrefix(t, "W/"); len(q) >= 2 && q[0] == '"' && q[len(q)-1] == '"' && etagChars(q[1:len(q)-1]) {
		return t
	}
	if t != "" && etagChars(t) {
		return `"` + t + `"`
	}
	if a.ModTime.IsZero() {
		return ""
	}
	return fmt.Sprintf(`"%x-%x"`, a.ModTime.UnixNano(), a.Size)
}

// etagChars reports whether s holds only the characters of an entity
// tag's opaque part (RFC 9110 §8.8.3: etagc, without obs-text).
func etagChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c == '"' || c > 0x7e {
			return false
		}
	}
	return true
}
