package poll

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/changes"
	"github.com/wptfeed/wptfeed/cmd/internal/httpx"
	"github.com/wptfeed/wptfeed/cmd/internal/lease"
	"github.com/wptfeed/wptfeed/cmd/internal/process"
	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
)

// Version names this build in the User-Agent.
var Version = "0.1.0"

// Config configures a Poller (the flags of `ingester run`).
type Config struct {
	// Feeds are the feeds to follow, the first the primary one (its runs
	// keep the keys of a single-feed ingester); none: Feed alone.
	Feeds          []Feed
	Feed           string // the feed when Feeds is empty (the default --feed)
	Once           bool
	Interval       time.Duration
	ResultsBaseURL string // default: the out bucket's URL
	PerTest        bool
	Layout         string // per-test layout: LayoutFiles or LayoutPacked
	Limits         report.Limits
	Workers        int           // runs ingested in parallel
	Retries        int           // attempts per run within one poll
	RetryDelay     time.Duration // first pause between attempts
	BackoffMax     time.Duration // cap of the exponential backoff between failed polls
	Timeout        time.Duration // one HTTP request, body included
	MaxFeedBytes   int64
	MaxEnclosure   int64 // compressed bytes of one enclosure
	MaxArchives    int   // archive documents one catch-up walk reads; 0 = no cap
	MissingRetries int   // polls an enclosure may answer 404 before the run is INVALID
	AllowOrigins   []string
	LeaseTTL       time.Duration
	Holder         string         // lease holder name; default host name and a random suffix
	Listen         string         // serve /api/notify and /metrics here; "" = off
	NotifyToken    string         // bearer token for /api/notify (from --notify-token-file)
	ServerTimeouts httpx.Timeouts // of the --listen server

	// RawResults, if not nil, is the bucket of the merged reports that
	// raw_results_url names (--raw-results-out), which the caller opens
	// and closes; nil: the out bucket.
	RawResults        *store.Bucket
	RawResultsBaseURL string // default: the RawResults bucket's URL

	// CopyRaw copies the shards of every feed's runs into the raw archive
	// (--copy-raw); a Feed's CopyRaw does it for that feed's runs.
	CopyRaw bool
	// RawArchive, if not nil, is the raw archive (--raw-out), which the
	// caller opens and closes; nil: the out bucket under "raw/".
	RawArchive        *store.Bucket
	RawArchiveBaseURL string // default: the RawArchive bucket's URL

	// FlakyChanges (K) and FlakyRuns (N): the flaky rule of the runs'
	// diffs (docs/diffs.md); 0 is the default.
	FlakyChanges, FlakyRuns int
}

// DefaultConfig returns the defaults of `ingester run`.
func DefaultConfig() Config {
	return Config{
		Feed:           "http://127.0.0.1:8080/feed.atom",
		Interval:       10 * time.Second,
		PerTest:        true,
		Layout:         records.LayoutFiles,
		Limits:         report.DefaultLimits(),
		Workers:        2,
		Retries:        3,
		RetryDelay:     time.Second,
		BackoffMax:     5 * time.Minute,
		Timeout:        5 * time.Minute,
		MaxFeedBytes:   64 << 20,
		MaxEnclosure:   1 << 30,
		MissingRetries: 5,
		LeaseTTL:       30 * time.Second,
		ServerTimeouts: httpx.DefaultTimeouts(),
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if err := c.ServerTimeouts.Validate(); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	if _, err := c.feeds(); err != nil {
		return err
	}
	if err := records.CheckLayout(c.Layout); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	for _, o := range c.AllowOrigins {
		if _, err := parseOrigin(o); err != nil {
			return fmt.Errorf("run: --allow-origin %q: %w", o, err)
		}
	}
	switch {
	case c.Interval <= 0:
		return errors.New("run: --interval must be positive")
	case c.Retries < 1:
		return errors.New("run: --retries must be at least 1")
	case c.Workers < 1:
		return errors.New("run: --workers must be at least 1")
	case c.MissingRetries < 1:
		return errors.New("run: --missing-retries must be at least 1")
	case c.MaxArchives < 0:
		return errors.New("run: --max-archives must not be negative")
	case c.LeaseTTL < time.Second:
		return errors.New("run: --lease-ttl must be at least 1s")
	case c.BackoffMax < c.Interval:
		return errors.New("run: --backoff-max must be at least --interval")
	}
	return nil
}

// feeds returns the feeds to follow, checked, with their default names.
func (c *Config) feeds() ([]Feed, error) {
	fs := c.Feeds
	if len(fs) == 0 {
		fs = []Feed{{URL: c.Feed}}
	}
	out, err := ResolveFeeds(fs)
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	return out, nil
}

// Poller polls feeds and ingests their runs into the out bucket. Each feed
// has its own poll state, validators, backoff and catch-up; their runs
// share the workers, taken in turn across the feeds (dispatcher).
type Poller struct {
	cfg   Config
	log   *slog.Logger
	out   *store.Bucket
	proc  *process.Processor
	m     *metrics
	srv   *httpx.Server // of --listen
	feeds []*source
	work  *dispatcher

	pending sync.Mutex // held by the feed finishing pending metrics

	mu   sync.Mutex
	done map[string]bool // runs (store.FeedRunID) known to have a status record
}

// A source is one feed of a Poller.
type source struct {
	Feed
	index   int      // in Config.Feeds; 0 is the primary feed
	key     string   // qualifies the feed's keys: "" for the primary feed, else Name
	earlier []string // the keys of the feeds listed before it
	log     *slog.Logger
	client  *feed.Client
	origins map[string]bool
	notify  chan struct{}
}

// New returns a Poller of cfg's feeds that writes to out, which the
// caller opens and closes. It returns Validate's error.
func New(cfg Config, out *store.Bucket, log *slog.Logger) (*Poller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	feeds, err := cfg.feeds()
	if err != nil {
		return nil, err
	}
	cfg.Feeds = feeds
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base := cfg.ResultsBaseURL
	if base == "" {
		base = process.ResultsBase(out.URL())
	}
	if cfg.Holder == "" {
		host, _ := os.Hostname()
		var b [4]byte
		rand.Read(b[:])
		cfg.Holder = host + "-" + hex.EncodeToString(b[:])
	}
	ing := &Poller{
		cfg: cfg, log: log, out: out,
		srv:  httpx.NewServer("ingester", log),
		work: &dispatcher{workers: cfg.Workers},
		done: map[string]bool{},
	}
	ing.srv.Timeouts = cfg.ServerTimeouts
	ing.m = newMetrics(ing.srv.Registry)
	ing.srv.Route("POST /api/notify", ing.serveNotify)
	var keys []string
	for i, f := range feeds {
		s := &source{Feed: f, index: i, earlier: slices.Clone(keys), origins: map[string]bool{}, notify: make(chan struct{}, 1)}
		if i > 0 {
			s.key = f.Name
		}
		keys = append(keys, s.key)
		s.log = log
		if len(feeds) > 1 {
			s.log = log.With("feed", f.Name)
		}
		if o, err := parseOrigin(f.URL); err == nil {
			s.origins[o] = true
		}
		// --allow-origin applies to every feed; a subscription's
		// allow_origins to its feed only.
		for _, a := range append(slices.Clone(cfg.AllowOrigins), f.AllowOrigins...) {
			o, _ := parseOrigin(a)
			s.origins[o] = true
		}
		s.client = feed.NewClient(feed.ClientConfig{
			UserAgent:     "wptfeed-ingester/" + Version,
			Timeout:       cfg.Timeout,
			MaxFeedBytes:  cfg.MaxFeedBytes,
			CheckRedirect: s.checkRedirect,
		})
		ing.feeds = append(ing.feeds, s)
	}
	ing.proc = &process.Processor{Out: out, ResultsBase: strings.TrimRight(base, "/"), PerTest: cfg.PerTest, Layout: cfg.Layout, Limits: cfg.Limits, Log: log}
	if cfg.RawResults != nil {
		rawBase := cfg.RawResultsBaseURL
		if rawBase == "" {
			rawBase = process.ResultsBase(cfg.RawResults.URL())
		}
		ing.proc.RawResults, ing.proc.RawResultsBase = cfg.RawResults, strings.TrimRight(rawBase, "/")
	}
	if cfg.RawArchive != nil {
		ing.proc.RawArchive, ing.proc.RawArchiveBase = cfg.RawArchive, strings.TrimRight(cfg.RawArchiveBaseURL, "/")
	}
	ing.proc.BeforeValid = (&changes.Recorder{Out: out, FlakyChanges: cfg.FlakyChanges, FlakyRuns: cfg.FlakyRuns, Log: log}).BeforeValid
	return ing, nil
}

// errRefusedOrigin marks a URL outside the allowed origins.
var errRefusedOrigin = errors.New("origin not allowed (see --allow-origin)")

func parseOrigin(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an http(s) URL", raw)
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u.Scheme + "://" + host + ":" + port, nil
}

// allowed returns errRefusedOrigin for a URL outside the feed's origins.
func (s *source) allowed(raw string) error {
	o, err := parseOrigin(raw)
	if err != nil {
		return fmt.Errorf("%w: %v", errRefusedOrigin, err)
	}
	if !s.origins[o] {
		return fmt.Errorf("%s: %w", o, errRefusedOrigin)
	}
	return nil
}

func (s *source) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("stopped after 5 redirects")
	}
	return s.allowed(req.URL.String())
}

// Run polls until ctx ends, or once with Config.Once. With Once it returns
// an error naming the runs it could not finish. Each feed is polled on its
// own schedule: one that fails, stalls or asks for a long Retry-After
// delays no other.
func (ing *Poller) Run(ctx context.Context) error {
	if ing.cfg.Listen != "" {
		stop, err := ing.listen(ctx)
		if err != nil {
			return err
		}
		defer stop()
	}
	cleaned := make(chan struct{})
	go func() {
		defer close(cleaned)
		if n, err := ing.out.RemoveStaleTemp(ctx, time.Hour); n > 0 || (err != nil && ctx.Err() == nil) {
			ing.log.Info("removed temp files of interrupted writes", "count", n, "err", err)
		}
	}()
	defer func() { <-cleaned }() // nothing of Run's outlives it
	if ing.cfg.Once {
		_, err := ing.Poll(ctx)
		return err
	}
	var wg sync.WaitGroup
	for _, s := range ing.feeds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ing.follow(ctx, s)
		}()
	}
	wg.Wait()
	return nil
}

// follow polls one feed until ctx ends, with the feed's own backoff.
func (ing *Poller) follow(ctx context.Context, s *source) {
	failures := 0
	for {
		wait, err := ing.pollFeed(ctx, s)
		if ctx.Err() != nil {
			return
		}
		switch {
		case errors.Is(err, errRunsHeld):
			failures = 0
			wait = ing.capWait(max(wait, ing.cfg.Interval), "lease of a run another ingester holds")
			s.log.Info("poll left runs other ingesters hold", "err", err, "retry_in", wait.Round(time.Millisecond))
		case err != nil:
			failures++
			wait = ing.capWait(max(wait, ing.backoff(failures)), "Retry-After of "+s.URL)
			s.log.Warn("poll incomplete", "err", err, "retry_in", wait.Round(time.Millisecond))
		default:
			failures = 0
		}
		wait = max(wait, ing.cfg.Interval)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-s.notify:
			t.Stop()
		}
	}
}

// backoff is the pause after n failed polls in a row: exponential from the
// interval, capped, with full jitter in its upper half.
func (ing *Poller) backoff(n int) time.Duration {
	d := float64(ing.cfg.Interval) * math.Pow(2, float64(min(n, 30)))
	d = min(d, float64(ing.cfg.BackoffMax))
	return time.Duration(d/2 + mrand.Float64()*d/2)
}

// Poll polls every feed once, at the same time, and returns the longest
// wait any server asked for and the feeds' errors, joined.
func (ing *Poller) Poll(ctx context.Context) (time.Duration, error) {
	waits := make([]time.Duration, len(ing.feeds))
	errs := make([]error, len(ing.feeds))
	var wg sync.WaitGroup
	for i, s := range ing.feeds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			waits[i], errs[i] = ing.pollFeed(ctx, s)
		}()
	}
	wg.Wait()
	return slices.Max(waits), errors.Join(errs...)
}

// pollFeed reads a feed's subscription document, walks prev-archive back
// to the newest archive it has fully processed (RFC 5005 §4.2), and
// ingests every run without a status record, oldest first. It returns how
// long the server asked it to wait before the next poll (max-age,
// Retry-After).
func (ing *Poller) pollFeed(ctx context.Context, s *source) (time.Duration, error) {
	// One feed at a time finishes the metrics other polls left pending;
	// the others go on.
	if ing.pending.TryLock() {
		err := ing.proc.FinishPending(ctx)
		ing.pending.Unlock()
		if err != nil && ctx.Err() == nil {
			s.log.Warn("pending metrics not finished", "err", err)
		}
	}
	var ps pollState
	if _, err := ing.out.ReadJSON(ctx, store.FeedPollStateKey(s.key, s.URL), &ps); err != nil {
		return 0, err
	}
	res, err := s.client.Fetch(ctx, s.URL, feed.Validators{ETag: ps.ETag, LastModified: ps.LastModified})
	if err != nil {
		ing.m.polls.WithLabelValues("error").Inc()
		var te *feed.TemporaryError
		if errors.As(err, &te) {
			return te.RetryAfter, fmt.Errorf("run: read feed %s: %w", s.URL, err)
		}
		return 0, fmt.Errorf("run: read feed %s: %w", s.URL, err)
	}
	if res.NotModified {
		ing.m.polls.WithLabelValues("304").Inc()
		return ing.capWait(res.MaxAge, "Cache-Control max-age of "+s.URL), nil
	}
	ing.m.polls.WithLabelValues("200").Inc()

	// Catch-up: archives newest first until one already processed.
	docs := []*feed.Feed{res.Feed}
	urls := []string{s.URL}
	prev := resolve(res.URL, res.Feed.Link("prev-archive"))
	for prev != "" {
		var as archiveState
		if ok, err := ing.out.ReadJSON(ctx, store.FeedArchiveStateKey(s.key, prev), &as); err != nil {
			return 0, err
		} else if ok {
			break
		}
		if ing.cfg.MaxArchives > 0 && len(docs)-1 >= ing.cfg.MaxArchives {
			s.log.Warn("catch-up capped by --max-archives: older history not read", "first_unread", prev, "max_archives", ing.cfg.MaxArchives)
			if err := ing.out.WriteJSON(ctx, store.FeedSkippedStateKey(s.key, prev), skippedState{Feed: s.URL, Archive: prev, Reason: fmt.Sprintf("--max-archives %d", ing.cfg.MaxArchives), Recorded: time.Now().UTC()}); err != nil {
				return 0, err
			}
			break
		}
		if err := s.allowed(prev); err != nil {
			return 0, fmt.Errorf("run: archive %s: %w", prev, err)
		}
		a, err := s.client.Fetch(ctx, prev, feed.Validators{})
		if err != nil {
			return 0, fmt.Errorf("run: read archive %s: %w", prev, err)
		}
		ing.m.archives.Inc()
		docs = append(docs, a.Feed)
		urls = append(urls, prev)
		prev = resolve(a.URL, a.Feed.Link("prev-archive"))
	}

	// Archives are marked processed oldest first and only while every older
	// one walked was complete: the next walk stops at the newest marked
	// archive, so one with an unfinished run must not hide behind a newer
	// one. A run that another ingester holds is unfinished too: if that
	// ingester dies, this one must still find the run.
	pass := &pass{id: newPassID(), dispatched: map[string]bool{}}
	complete := true
	for i := len(docs) - 1; i >= 0; i-- {
		f := docs[i]
		base, _ := url.Parse(urls[i])
		entries := slices.Clone(f.Entries)
		slices.Reverse(entries) // documents list the newest first
		before := len(pass.failed) + len(pass.held)
		ing.ingestAll(ctx, s, pass, base, entries)
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		complete = complete && len(pass.failed)+len(pass.held) == before
		if complete && i > 0 {
			if err := ing.out.WriteJSON(ctx, store.FeedArchiveStateKey(s.key, urls[i]), archiveState{URL: urls[i], Entries: len(entries), Processed: time.Now().UTC()}); err != nil {
				return 0, err
			}
		}
	}
	wait := ing.capWait(res.MaxAge, "Cache-Control max-age of "+s.URL)
	if len(pass.failed) > 0 {
		return wait, fmt.Errorf("run: %d run(s) not finished: %s", len(pass.failed), strings.Join(pass.failed, ", "))
	}
	if len(pass.held) > 0 {
		// Retried once the first of their leases expires, with the feed
		// read again in full: its validators are not saved.
		ids := make([]string, 0, len(pass.held))
		for id := range pass.held {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		return max(time.Until(pass.until), 0), fmt.Errorf("run: %d run(s) held by other ingesters until %s: %s: %w",
			len(ids), pass.until.UTC().Format(time.RFC3339), strings.Join(ids, ", "), errRunsHeld)
	}
	// Only a fully processed document's validators may make the next poll
	// conditional.
	if err := ing.out.WriteJSON(ctx, store.FeedPollStateKey(s.key, s.URL), pollState{Feed: s.URL, ETag: res.Validators.ETag, LastModified: res.Validators.LastModified, Saved: time.Now().UTC()}); err != nil {
		return wait, err
	}
	return wait, nil
}

// errRunsHeld marks a poll that left runs other ingesters hold: not a
// failure, but not complete either.
var errRunsHeld = errors.New("not finished yet")

// A pass is one Poll's walk over its documents.
type pass struct {
	id string // names the poll in the state it leaves (missing enclosures count polls)

	mu         sync.Mutex
	dispatched map[string]bool      // runs handed to a worker, across the documents
	failed     []string             // runs not finished
	held       map[string]time.Time // runs other ingesters hold, until when
	until      time.Time            // the first of held's expiries
}

func newPassID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (p *pass) fail(runID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failed = append(p.failed, runID)
}

func (p *pass) hold(runID string, until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held == nil {
		p.held = map[string]time.Time{}
	}
	p.held[runID] = until
	if p.until.IsZero() || until.Before(p.until) {
		p.until = until
	}
}

// ingestAll ingests the entries of a document of feed s, oldest first,
// on the shared workers, and returns when all are done, recording in p the
// runs it could not finish. A run listed again (in an older document, or
// twice in one) is ingested once per pass.
func (ing *Poller) ingestAll(ctx context.Context, s *source, p *pass, base *url.URL, entries []feed.Entry) {
	var wg sync.WaitGroup
	for i := range entries {
		e := &entries[i]
		in, err := ing.input(ctx, s, base, e)
		if err != nil {
			s.log.Warn("feed entry skipped", "entry", e.ID, "err", err)
			continue
		}
		ing.mu.Lock()
		known := ing.done[in.RunID]
		ing.mu.Unlock()
		if known || p.dispatched[in.RunID] {
			continue
		}
		p.dispatched[in.RunID] = true
		wg.Add(1)
		ing.work.submit(s.index, func() {
			defer wg.Done()
			if ctx.Err() != nil {
				p.fail(in.RunID)
				return
			}
			err := ing.ingestRun(ctx, p, in)
			var he *heldError
			switch {
			case err == nil:
			case errors.As(err, &he):
				s.log.Info("run held by another ingester; retried when its lease expires", "run_id", in.RunID, "holder", he.holder, "until", he.until)
				p.hold(in.RunID, he.until)
			default:
				if ctx.Err() == nil {
					s.log.Error("run not ingested", "run_id", in.RunID, "err", err)
				}
				p.fail(in.RunID)
			}
		})
	}
	wg.Wait()
}

// heldError is ingestRun's answer for a run another ingester holds.
type heldError struct {
	holder string
	until  time.Time
}

func (e *heldError) Error() string {
	return fmt.Sprintf("held by %s until %s", e.holder, e.until.UTC().Format(time.RFC3339))
}

// ingestRun ingests one run under its lease, retrying transient errors. A
// run another ingester holds is a *heldError, except with --once, which
// waits for the holder to finish or its lease to expire, then takes over.
func (ing *Poller) ingestRun(ctx context.Context, p *pass, in process.Input) error {
	for {
		if ok, err := ing.out.Exists(ctx, store.StatusKey(in.RunID)); err != nil {
			return err
		} else if ok {
			ing.markDone(in.RunID)
			return nil
		}
		l, err := lease.Acquire(ctx, ing.out, in.RunID, ing.cfg.Holder, ing.cfg.LeaseTTL, time.Now())
		var he *lease.HeldError
		if errors.As(err, &he) {
			if !ing.cfg.Once {
				return &heldError{holder: he.Holder, until: he.Until}
			}
			wait := min(max(time.Until(he.Until), 10*time.Millisecond), time.Second)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
			continue
		}
		if err != nil {
			return err
		}
		err = ing.ingestLeased(ctx, p, l, in)
		if rerr := l.Release(context.WithoutCancel(ctx)); rerr != nil {
			ing.log.Warn("lease not released; it expires by itself", "run_id", in.RunID, "err", rerr)
		}
		return err
	}
}

func (ing *Poller) ingestLeased(ctx context.Context, p *pass, l *lease.Lease, in process.Input) error {
	// Someone may have finished it between our check and our lease.
	if ok, err := ing.out.Exists(ctx, store.StatusKey(in.RunID)); err != nil || ok {
		if ok {
			ing.markDone(in.RunID)
		}
		return err
	}
	lctx, lost := context.WithCancel(ctx)
	defer lost()
	go l.Keep(lctx, lost)
	// A holder paused past its lease (SIGSTOP, a long GC) may resume
	// before Keep notices: the status record is written only while the
	// lease is still this holder's.
	in.BeforeStatus = func(ctx context.Context) error { return l.Check(ctx, time.Now()) }

	delay := ing.cfg.RetryDelay
	var err error
	for attempt := 1; attempt <= ing.cfg.Retries; attempt++ {
		start := time.Now()
		var st *records.Status
		st, err = ing.proc.Ingest(lctx, in)
		if err == nil {
			ing.recordIngested(st, in, time.Since(start))
			return nil
		}
		st, perm, bookErr := ing.permanent(lctx, p, in, err)
		if perm {
			ing.recordIngested(st, in, time.Since(start))
			return nil
		}
		if bookErr != nil {
			err = errors.Join(err, bookErr)
		}
		if lctx.Err() != nil || attempt == ing.cfg.Retries || errors.Is(err, lease.ErrLost) {
			break
		}
		wait := delay
		var te *feed.TemporaryError
		if errors.As(err, &te) && te.RetryAfter > wait {
			wait = ing.capWait(te.RetryAfter, "Retry-After of run "+in.RunID)
		}
		ing.log.Warn("ingest failed; will retry", "run_id", in.RunID, "attempt", attempt, "retry_in", wait, "err", err)
		select {
		case <-lctx.Done():
		case <-time.After(wait):
		}
		delay *= 2
	}
	if ctx.Err() == nil && lctx.Err() != nil {
		return fmt.Errorf("ingest: run %s: %w", in.RunID, lease.ErrLost)
	}
	return err
}

// capWait bounds a wait a server asked for (what: whose) by --backoff-max,
// with a warning when it cuts it.
func (ing *Poller) capWait(d time.Duration, what string) time.Duration {
	if d > ing.cfg.BackoffMax {
		ing.log.Warn("wait asked for is longer than --backoff-max; capped", "what", what, "asked", d, "backoff_max", ing.cfg.BackoffMax)
		return ing.cfg.BackoffMax
	}
	return d
}

// permanent decides whether err will never go away for this run. If so it
// writes the run's INVALID status record and returns it with perm true; a
// missing enclosure becomes INVALID only after --missing-retries polls. An
// error of its own bookkeeping (the count of polls, the status record) is
// returned as bookErr, for the caller to report with err.
func (ing *Poller) permanent(ctx context.Context, p *pass, in process.Input, err error) (st *records.Status, perm bool, bookErr error) {
	code, reason := "", err.Error()
	var se *feed.StatusError
	switch {
	case errors.Is(err, errRefusedOrigin):
		code = "enclosure_refused"
	case errors.Is(err, errEnclosureTooLarge):
		code = "enclosure_too_large"
	case errors.Is(err, errChecksum), errors.Is(err, process.ErrRawCopyDiffers):
		code = "checksum_mismatch"
	case errors.As(err, &se) && (se.StatusCode == http.StatusNotFound || se.StatusCode == http.StatusGone):
		var ms missingState
		if _, err := ing.out.ReadJSON(ctx, store.MissingStateKey(in.RunID), &ms); err != nil {
			return nil, false, fmt.Errorf("ingest: run %s: count of missing polls: %w", in.RunID, err)
		}
		// One count per poll however many attempts it makes (with
		// --once, one per invocation).
		if ms.Poll != p.id {
			ms.RunID, ms.Polls, ms.Poll, ms.Last = in.RunID, ms.Polls+1, p.id, reason
		}
		if ms.Polls < ing.cfg.MissingRetries {
			if err := ing.out.WriteJSON(ctx, store.MissingStateKey(in.RunID), ms); err != nil {
				return nil, false, fmt.Errorf("ingest: run %s: count of missing polls: %w", in.RunID, err)
			}
			return nil, false, nil
		}
		code = "enclosure_missing"
		reason = fmt.Sprintf("an enclosure was missing on %d polls: %s", ms.Polls, reason)
		if in.CopyRaw {
			// Its shards were to be copied: the runner's storage let
			// them go first.
			reason = fmt.Sprintf("the source expired before the run's shards were copied into the raw archive (missing on %d polls): %s", ms.Polls, err)
		}
	case errors.As(err, &se):
		code = "enclosure_unavailable"
	default:
		return nil, false, nil
	}
	st = &records.Status{RunID: in.RunID, Feed: in.Feed, FeedEntry: in.FeedEntry, Manifest: in.ManifestURL, Page: in.PageURL, Product: in.Overrides.Product,
		State: records.StateInvalid, Code: code, Error: reason}
	out, err := ing.proc.Record(ctx, st, in.BeforeStatus)
	if err != nil {
		return nil, false, fmt.Errorf("ingest: run %s: status record: %w", in.RunID, err)
	}
	if err := ing.out.Delete(ctx, store.MissingStateKey(in.RunID)); err != nil {
		ing.log.Warn("count of missing polls not deleted", "run_id", in.RunID, "err", err)
	}
	return out, true, nil
}

func (ing *Poller) markDone(runID string) {
	ing.mu.Lock()
	ing.done[runID] = true
	ing.mu.Unlock()
}

func (ing *Poller) recordIngested(st *records.Status, in process.Input, d time.Duration) {
	ing.markDone(in.RunID)
	ing.m.ingested.WithLabelValues(st.State).Inc()
	ing.m.duration.Observe(d.Seconds())
	if !in.Uploaded.IsZero() {
		ing.m.lag.Observe(time.Since(in.Uploaded).Seconds())
	}
}

// errEnclosureTooLarge marks an enclosure over --max-enclosure-bytes.
var errEnclosureTooLarge = errors.New("enclosure larger than --max-enclosure-bytes")

// input turns a feed entry into a run to ingest: its shards are its
// enclosures, fetched with the ingester's client from allowed origins only.
func (ing *Poller) input(ctx context.Context, s *source, base *url.URL, e *feed.Entry) (process.Input, error) {
	if e.Run == nil || !store.ValidRunID(e.Run.ID) {
		return process.Input{}, errors.New("entry has no wpt:run element with a valid run id")
	}
	r := e.Run
	in := process.Input{
		// A run is its feed's: another feed reusing its id on purpose
		// reaches none of its keys.
		RunID:     store.FeedRunID(s.key, r.ID),
		Feed:      s.Name,
		FeedKey:   s.key,
		Earlier:   s.earlier,
		FeedEntry: e.ID,
		Uploaded:  r.Uploaded,
		Overrides: report.Metadata{
			Product: r.Product, BrowserVersion: r.BrowserVersion, OS: r.OS,
			OSVersion: r.OSVersion, Revision: r.Revision, BrowserChannel: r.Channel,
		},
		Labels:  appendNew(slices.Clone(r.Labels), s.Labels),
		CopyRaw: s.CopyRaw || ing.cfg.CopyRaw,
	}
	if in.Uploaded.IsZero() {
		in.Uploaded = e.Updated
	}
	// The alternates: the run's web page (text/html) and its manifest
	// (JSON; an untyped alternate of older publishers is the manifest).
	for _, l := range e.Links {
		if l.Rel != "alternate" && l.Rel != "" {
			continue
		}
		switch mt, _, _ := strings.Cut(l.Type, ";"); strings.TrimSpace(mt) {
		case "text/html", "application/xhtml+xml":
			if in.PageURL == "" {
				in.PageURL = resolve(base, l.Href)
			}
		case "application/json", "":
			if in.ManifestURL == "" {
				in.ManifestURL = resolve(base, l.Href)
			}
		}
	}
	encs := e.Enclosures()
	if len(encs) == 0 {
		return process.Input{}, errors.New("entry has no enclosures")
	}
	for i, l := range encs {
		u := resolve(base, l.Href)
		rs := records.RawShard{Name: u, URL: u, Size: l.Length}
		// What the bytes are checked against: the wpt:shard's size and
		// sha256 (an enclosure's length is advisory, RFC 4287 §4.2.7.6).
		check := records.RawShard{Name: u}
		if i < len(r.Shards) {
			rs.Name, rs.SHA256 = r.Shards[i].Name, r.Shards[i].SHA256
			if r.Shards[i].Size > 0 {
				rs.Size = r.Shards[i].Size
			}
			check = records.RawShard{Name: rs.Name, Size: r.Shards[i].Size, SHA256: r.Shards[i].SHA256}
		}
		in.Raw = append(in.Raw, rs)
		in.Shards = append(in.Shards, report.Shard{Name: rs.Name, Open: func() (io.ReadCloser, error) {
			if err := s.allowed(u); err != nil {
				return nil, fmt.Errorf("enclosure %s: %w", u, err)
			}
			resp, err := s.client.Get(ctx, u)
			if err != nil {
				return nil, err
			}
			if resp.ContentLength > ing.cfg.MaxEnclosure {
				resp.Body.Close()
				return nil, fmt.Errorf("enclosure %s: %d bytes: %w", u, resp.ContentLength, errEnclosureTooLarge)
			}
			body := io.ReadCloser(&cappedBody{rc: resp.Body, left: ing.cfg.MaxEnclosure, url: u, count: ing.m.bytes})
			if !resp.Uncompressed { // the stored bytes, as the entry describes them
				body = newVerified(body, check)
			}
			return body, nil
		}})
	}
	return in, nil
}

// cappedBody fails a download that runs past the cap, while streaming.
type cappedBody struct {
	rc    io.ReadCloser
	left  int64
	url   string
	count interface{ Add(float64) }
}

func (c *cappedBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// At the cap: fine if the body ends here.
		var one [1]byte
		if n, err := c.rc.Read(one[:]); n == 0 && err == io.EOF {
			return 0, io.EOF
		}
		return 0, fmt.Errorf("enclosure %s: %w", c.url, errEnclosureTooLarge)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	c.count.Add(float64(n))
	return n, err
}

func (c *cappedBody) Close() error { return c.rc.Close() }

// errChecksum marks a shard whose bytes are not those its feed entry
// describes (size or sha256): replaced or corrupted after publication.
var errChecksum = errors.New("shard does not match the size or sha256 of its feed entry")

// verified checks a shard's bytes against the size and sha256 of its feed
// entry while they stream, without a second pass: past the size, or at the
// end of the body, it returns an error wrapping errChecksum instead of the
// bytes or io.EOF. An unknown size (0) or hash ("") is not checked.
type verified struct {
	r    io.ReadCloser
	want records.RawShard
	h    hash.Hash
	n    int64
}

func newVerified(r io.ReadCloser, want records.RawShard) io.ReadCloser {
	if want.Size <= 0 && want.SHA256 == "" {
		return r
	}
	return &verified{r: r, want: want, h: sha256.New()}
}

func (v *verified) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.n += int64(n)
	v.h.Write(p[:n])
	if v.want.Size > 0 && v.n > v.want.Size {
		return 0, fmt.Errorf("shard %s: more than the %d bytes of its feed entry: %w", v.want.Name, v.want.Size, errChecksum)
	}
	if err == io.EOF {
		if v.want.Size > 0 && v.n != v.want.Size {
			return n, fmt.Errorf("shard %s: %d bytes, its feed entry says %d: %w", v.want.Name, v.n, v.want.Size, errChecksum)
		}
		if got := hex.EncodeToString(v.h.Sum(nil)); v.want.SHA256 != "" && got != v.want.SHA256 {
			return n, fmt.Errorf("shard %s: sha256 %s, its feed entry says %s: %w", v.want.Name, got, v.want.SHA256, errChecksum)
		}
	}
	return n, err
}

func (v *verified) Close() error { return v.r.Close() }

func resolve(base *url.URL, href string) string {
	if href == "" || base == nil {
		return href
	}
	u, err := base.Parse(href)
	if err != nil {
		return href
	}
	return u.String()
}

// appendNew appends to labels those of more it does not hold yet.
func appendNew(labels, more []string) []string {
	for _, l := range more {
		if !slices.Contains(labels, l) {
			labels = append(labels, l)
		}
	}
	return labels
}
