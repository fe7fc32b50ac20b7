package dashboard

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/httpx"
	"github.com/wptfeed/wptfeed/cmd/internal/pack"
	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/store"
)

// The dashboard: `ingester serve` also serves, from the out bucket, a web
// page (web/, embedded) and the JSON API and SVG charts it uses:
//
//	GET /                          the page (run list, results tree, charts)
//	GET /assets/<file>             its script and style sheet
//	GET /api/runs, /api/runs/{id}, /api/run, /api/shas, /api/results
//	                               wpt.fyi's API over the processed runs (runs.go, docs/api.md)
//	GET /api/list                  the page's run list: every run, newest first
//	GET /api/tree?run=&path=       one level of a run's results tree, or a test's subtests
//	GET /api/aligned?sha=&label=&path=   the same for aligned runs, with interop
//	GET /api/diff?before=&after=   what changed between two runs (diff.go, docs/diffs.md)
//	GET /charts/passrate.svg, /charts/interop.svg   (charts.go)
//
// Runs come from the status server's index (status records and TestRuns).
// A run's tree is computed once from its summary_v2 with report.RunMetrics,
// the function metrics/runs/<run id>.json is written with, and kept in a
// small LRU cache; a level is then a slice of it, so a page of a 33,000-test
// run loads one directory at a time. The run list's pass rates are the
// first entry (the root) of metrics/runs/<run id>.json; the aligned runs of
// a revision are the runs of metrics/aligned/<sha>/<filter>.json; charts
// read metrics/series/ and metrics/interop/ (docs/metrics-files.md).

//go:embed web
var webFS embed.FS

// Limits and cache sizes of the dashboard.
const (
	maxCount         = 500 // max-count cap of /api/runs, per product (wpt.fyi's MaxCountMaxValue)
	runCacheSize     = 8   // runs whose whole tree is kept in memory
	alignedCacheSize = 4   // aligned sets kept in memory
	fileCacheSize    = 64  // small metrics files (aligned runs, series) kept for ScanInterval
	maxTestFile      = 64 << 20
	loadTimeout      = time.Minute
	rootReaders      = 16
)

// Index is the status index the dashboard reads: the processed runs.
type Index interface {
	// Runs returns the runs, newest upload first, and a version that
	// changes whenever they do. The caller must not modify them.
	Runs() ([]*records.Run, int64)
	// ScanIfOlder brings the index up to date with the bucket unless it
	// was less than age ago; full says whether it listed.
	ScanIfOlder(ctx context.Context, age time.Duration) (full bool, err error)
}

// Config configures a Dashboard.
type Config struct {
	Out          *store.Bucket // the out bucket, read only
	Index        Index
	ScanInterval time.Duration // how long answers may be cached, and small metrics files kept
	Log          *slog.Logger  // nil discards
}

// Dashboard serves the web dashboard and its API. It reads the index and
// the out bucket; everything it caches is immutable (a run's outputs) or
// kept for ScanInterval at most. It is safe for concurrent use.
type Dashboard struct {
	out          *store.Bucket
	index        Index
	scanInterval time.Duration
	log          *slog.Logger
	assets       map[string]*feed.Document

	idxMu      sync.Mutex
	idxVersion int64
	idx        *indexView

	runs    *cache[*loadedRun]
	aligned *cache[*alignedSet]
	files   *cache[[]byte] // small metrics files, for ScanInterval

	rootMu sync.Mutex
	roots  map[string]rootEntry // run id → root metrics

	packs *pack.Reader // per-test files of runs ingested with --per-test-layout=packed
}

type rootEntry struct {
	node    *counts // nil: no metrics file yet
	checked time.Time
}

// New returns the dashboard of cfg.
func New(cfg Config) *Dashboard {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	d := &Dashboard{
		out:          cfg.Out,
		index:        cfg.Index,
		scanInterval: cfg.ScanInterval,
		log:          cfg.Log,
		assets:       map[string]*feed.Document{},
		runs:         newCache[*loadedRun](runCacheSize, 0),
		aligned:      newCache[*alignedSet](alignedCacheSize, 0),
		files:        newCache[[]byte](fileCacheSize, cfg.ScanInterval),
		roots:        map[string]rootEntry{},
		packs:        pack.NewReader(cfg.Out, maxTestFile),
	}
	sub, err := fs.Sub(webFS, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	err = fs.WalkDir(sub, ".", func(name string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		body, err := fs.ReadFile(sub, name)
		if err != nil {
			return err
		}
		ctype := mime.TypeByExtension(path.Ext(name))
		switch path.Ext(name) {
		case ".js":
			ctype = "text/javascript; charset=utf-8"
		case ".css":
			ctype = "text/css; charset=utf-8"
		case ".html":
			ctype = "text/html; charset=utf-8"
		}
		// Revalidated on every use: the page changes with the binary.
		d.assets[name] = &feed.Document{Body: body, ContentType: ctype, CacheControl: "no-cache"}
		return nil
	})
	if err != nil {
		panic(err)
	}
	return d
}

// Mount adds the dashboard's routes with route (an instrumented
// http.ServeMux's HandleFunc).
func (d *Dashboard) Mount(route func(pattern string, h http.HandlerFunc)) {
	route("GET /{$}", func(w http.ResponseWriter, r *http.Request) { d.serveAsset(w, r, "index.html") })
	route("GET /assets/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if name == "index.html" {
			http.NotFound(w, r)
			return
		}
		d.serveAsset(w, r, name)
	})
	route("GET /api/runs", permissive(d.serveRuns))
	route("GET /api/runs/{id}", permissive(d.serveRunByID))
	route("GET /api/run", permissive(d.serveRun))
	route("GET /api/shas", permissive(d.serveSHAs))
	route("GET /api/results", permissive(d.serveResultsRedirect))
	route("GET /api/list", d.serveList)
	route("GET /api/tree", d.serveTree)
	route("GET /api/aligned", d.serveAligned)
	route("GET /api/diff", permissive(d.serveDiff))
	route("GET /charts/passrate.svg", d.servePassRate)
	route("GET /charts/interop.svg", d.serveInterop)
}

func (d *Dashboard) serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	a := d.assets[name]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	feed.Serve(w, r, a)
}

// cacheControl is the Cache-Control of answers made from the index: public,
// for a scan interval.
func (d *Dashboard) cacheControl() string {
	return "public, max-age=" + strconv.Itoa(int(d.scanInterval.Seconds()))
}

// serve writes body with a strong ETag (If-None-Match gets 304),
// gzip-compressed when the client accepts it and the body is not tiny.
func (d *Dashboard) serve(w http.ResponseWriter, r *http.Request, ctype string, body []byte) {
	feed.Serve(w, r, &feed.Document{Body: body, ContentType: ctype, CacheControl: d.cacheControl()})
}

// serveJSON writes v as JSON; the data may be cached for ScanInterval.
func (d *Dashboard) serveJSON(w http.ResponseWriter, r *http.Request, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		d.apiError(w, r, fmt.Errorf("dashboard: encode: %w", err))
		return
	}
	d.serve(w, r, "application/json", buf.Bytes())
}

// errBadParam marks a bad query parameter (400).
var errBadParam = fmt.Errorf("dashboard: bad parameter: %w", store.ErrInvalid)

func badParam(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadParam, fmt.Sprintf(format, args...))
}

// notFound is an error that maps to 404 and says what was not found.
func notFound(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), store.ErrNotFound)
}

// apiError answers {"error": "..."} with the status of httpx.Status.
func (d *Dashboard) apiError(w http.ResponseWriter, r *http.Request, err error) {
	httpx.ErrorJSON(w, r, d.log, err)
}

// ---- The index ----

// indexView is the index as the dashboard reads it: the runs, newest
// upload first, by run id and by TestRun id, and the product names they
// have. Immutable, shared until the index changes.
type indexView struct {
	order     []*records.Run
	byID      map[string]*records.Run
	byTestRun map[int64]*records.Run // VALID runs with a TestRun
	names     map[string]bool
}

// knownBrowser reports whether a product spec may name the browser:
// wpt.fyi's browser names (IsBrowserName) and those of the indexed runs.
func (v *indexView) knownBrowser(name string) bool {
	return slices.Contains(defaultBrowsers, name) || slices.Contains(extraBrowsers, name) || v.names[name]
}

// view returns the index's current view, computed once per index version.
func (d *Dashboard) view() *indexView {
	order, version := d.index.Runs()
	d.idxMu.Lock()
	defer d.idxMu.Unlock()
	if d.idx == nil || d.idxVersion != version {
		v := &indexView{order: order, byID: make(map[string]*records.Run, len(order)),
			byTestRun: map[int64]*records.Run{}, names: map[string]bool{}}
		for _, r := range order {
			v.byID[r.ID] = r
			if r.State == records.StateValid && r.TestRun != nil {
				v.byTestRun[r.TestRun.ID] = r
			}
			if p := r.Product(); p != "" {
				v.names[p] = true
			}
		}
		d.idx, d.idxVersion = v, version
	}
	return d.idx
}

// snapshot returns the indexed runs, newest upload first, and a map by run
// id.
func (d *Dashboard) snapshot() ([]*records.Run, map[string]*records.Run) {
	v := d.view()
	return v.order, v.byID
}

// validRun returns the record of a VALID run with a TestRun, or an error
// for 404 or 400.
func (d *Dashboard) validRun(id string) (*records.Run, error) {
	if id == "" {
		return nil, badParam("run is required")
	}
	if !store.ValidFeedRunID(id) {
		return nil, badParam("run %q is not a run id", id)
	}
	_, byID := d.snapshot()
	rec := byID[id]
	if rec == nil {
		return nil, notFound("run %s has no status record (not processed yet?)", id)
	}
	if rec.State != records.StateValid || rec.TestRun == nil || rec.Status.ProductID == "" {
		return nil, notFound("run %s is %s: it has no results", id, rec.State)
	}
	return rec, nil
}
