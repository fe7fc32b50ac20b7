package status

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/httpx"
	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/store"
)

// Ids and category schemes of the status feed. Like the publisher's, they
// are tag: IRIs (RFC 4151): permanent, and independent of the serving host.
const (
	// FeedID is the id of the unfiltered status feed; a filtered view
	// appends ":" and its canonical query.
	FeedID = "tag:wptfeed.org,2026:status"
	// SchemeState is the atom:category scheme whose terms are the states
	// of status records (VALID, INVALID, EMPTY, DUPLICATE, …).
	SchemeState = "tag:wptfeed.org,2026:state"
	// SchemeFeed is the scheme whose term is the name of the feed the run
	// came from (?feed= selects by it).
	SchemeFeed = "tag:wptfeed.org,2026:feed"
	// SchemeCode is the scheme whose terms are the machine-readable
	// reasons (records.Status.Code) of runs that were not accepted as they
	// are.
	SchemeCode = "tag:wptfeed.org,2026:code"
)

// EntryID is the id of a run's entry in the status feed.
func EntryID(runID string) string { return FeedID + ":" + runID }

// Config configures a Server (the flags of `ingester serve`).
type Config struct {
	Addr         string        // HOST:PORT; port 0 picks one
	BaseURL      string        // public URL of the server, for links; default http://Addr
	ScanInterval time.Duration // how often today's and yesterday's records are listed; also the feed's max-age
	FullScan     time.Duration // how often all of status/ is listed (records of runs with older ids)
	MaxEntries   int           // entries of a feed document (each filtered view too)
	Timeouts     httpx.Timeouts
}

// DefaultConfig returns the defaults of `ingester serve`.
func DefaultConfig() Config {
	return Config{
		Addr:         "127.0.0.1:8081",
		ScanInterval: 2 * time.Second,
		FullScan:     time.Minute,
		MaxEntries:   500,
		Timeouts:     httpx.DefaultTimeouts(),
	}
}

// maxEntries bounds --max-entries: a document must stay small enough
// to render on every change.
const maxEntries = 10000

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Addr == "" {
		return errors.New("serve: --addr is empty")
	}
	if c.ScanInterval <= 0 {
		return errors.New("serve: --scan-interval must be positive")
	}
	if err := c.Timeouts.Validate(); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if c.FullScan <= 0 {
		return errors.New("serve: --full-scan-interval must be positive")
	}
	if c.MaxEntries < 1 || c.MaxEntries > maxEntries {
		return fmt.Errorf("serve: --max-entries %d is not within 1..%d", c.MaxEntries, maxEntries)
	}
	if c.BaseURL != "" {
		if err := httpx.CheckBaseURL(c.BaseURL); err != nil {
			return fmt.Errorf("serve: --base-url %w", err)
		}
	}
	return nil
}

// Server serves the status records of the out bucket: an Atom feed of the
// processed runs (/status.atom), each record as JSON (/api/status/<run id>),
// /metrics and /healthz; other packages (the dashboard) add routes with
// Route and read its index with Runs.
//
// It keeps an index of every status record in memory, reading each record
// once: records are write-once, so a scan lists status/ and reads only the
// keys it has not read before (and, for a run with a TestRun, its
// testruns/<run id>.json). An index entry is a few hundred bytes: the
// rendered feed entry (warnings cut to a few) and the facts filters use.
type Server struct {
	cfg Config
	log *slog.Logger
	out *store.Bucket
	ln  net.Listener
	m   *metrics
	srv *httpx.Server

	scanMu   sync.Mutex      // one scan at a time
	seen     map[string]bool // run ids read (indexed or unreadable); guarded by scanMu
	lastFull time.Time       // start of the last full scan that listed everything; guarded by scanMu

	mu      sync.RWMutex
	order   []*rec         // newest first; replaced, never modified in place
	runs    []*records.Run // order's runs, for Runs
	version int64          // incremented when order changes

	docMu sync.Mutex
	docs  map[string]*cachedDoc // rendered documents by canonical filter query

	closeOnce sync.Once
	closeErr  error
}

type cachedDoc struct {
	version int64
	doc     *feed.Document
}

// rec is one indexed status record: what readers of the index see, and
// its feed entry.
type rec struct {
	records.Run
	entry feed.Entry // rendered once: the base URL does not change
}

// New binds the listener (so Addr may use port 0) and reads every status
// record of out, which the caller opens and closes, once. It returns the
// error of Validate, of binding, or of the first scan.
func New(ctx context.Context, cfg Config, out *store.Bucket, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "http://" + ln.Addr().String()
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	s := &Server{
		cfg: cfg, log: log, out: out, ln: ln,
		srv:  httpx.NewServer("ingester_serve", log),
		seen: map[string]bool{},
		docs: map[string]*cachedDoc{},
	}
	s.srv.Timeouts = cfg.Timeouts
	s.m = newMetrics(s.srv.Registry)
	s.routes()
	start := time.Now()
	if err := s.Scan(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.log.Info("status records loaded", "records", s.count(), "duration", time.Since(start).Round(time.Millisecond))
	return s, nil
}

// URL is the server's base URL (Config.BaseURL, or http://<bound address>).
func (s *Server) URL() string { return s.cfg.BaseURL }

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close releases the listener. It may be called more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.ln.Close()
		if errors.Is(s.closeErr, net.ErrClosed) {
			s.closeErr = nil
		}
	})
	return s.closeErr
}

// Run serves HTTP and scans the bucket every ScanInterval until ctx ends;
// then it shuts the HTTP server down and returns nil. It returns an error
// when the server fails.
func (s *Server) Run(ctx context.Context) error {
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(sctx, s.ln) }()
	s.log.Info("status server serving", "addr", s.Addr(), "base_url", s.cfg.BaseURL, "out", s.out.URL(), "records", s.count())
	t := time.NewTicker(s.cfg.ScanInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return <-errc // shuts down gracefully
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

func (s *Server) count() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.order)
}

// Route mounts h at pattern, counting requests and timing them under the
// pattern's name. Call it before Run.
func (s *Server) Route(pattern string, h http.HandlerFunc) {
	s.srv.Route(pattern, h)
}
