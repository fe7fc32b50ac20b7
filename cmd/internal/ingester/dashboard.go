package ingester

import (
	"bytes"
	"compress/gzip"
	"container/list"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
)

// The dashboard: `ingester serve` also serves, from the out bucket, a web
// page (web/, embedded) and the JSON API and SVG charts it uses:
//
//	GET /                          the page (run list, results tree, charts)
//	GET /assets/<file>             its script and style sheet
//	GET /api/runs                  wpt.fyi's /api/runs over the processed runs
//	GET /api/results?run=&path=    one level of a run's results tree, or a test's subtests
//	GET /api/aligned?sha=&label=&path=   the same for aligned runs, with interop
//	GET /charts/passrate.svg, /charts/interop.svg   (chart.go)
//
// Runs come from the status server's index (status records and TestRuns).
// A run's tree is computed once from its summary_v2 with report.RunMetrics,
// the function metrics/runs/<run id>.json is written with, and kept in a
// small LRU cache; a level is then a slice of it, so a page of a 33,000-test
// run loads one directory at a time. The run list's pass rates are the
// first entry (the root) of metrics/runs/<run id>.json; the aligned runs of
// a revision are the runs of metrics/aligned/<sha>/<filter>.json; charts
// read metrics/series/ and metrics/interop/ (see metricsout.go).

//go:embed web
var dashWeb embed.FS

// Limits and cache sizes of the dashboard.
const (
	dashMaxCount     = 500 // max-count cap of /api/runs, per product (wpt.fyi's MaxCountMaxValue)
	dashRunCache     = 8   // runs whose whole tree is kept in memory
	dashAlignedCache = 4   // aligned sets kept in memory
	dashFileCache    = 64  // small metrics files (aligned runs, series) kept for ScanInterval
	dashMaxTestFile  = 64 << 20
	dashLoadTimeout  = time.Minute
	dashRootReaders  = 16
)

// dashboard serves the web dashboard and its API. It reads the status
// server's index and the out bucket; everything it caches is immutable
// (a run's outputs) or kept for ScanInterval at most.
type dashboard struct {
	s      *StatusServer
	assets map[string]*dashAsset

	idxMu      sync.Mutex
	idxVersion int64
	byID       map[string]*statusRec

	runs    *dashCache[*dashRun]
	aligned *dashCache[*dashAlignedSet]
	files   *dashCache[[]byte] // small metrics files, for ScanInterval

	rootMu sync.Mutex
	roots  map[string]dashRoot // run id → root metrics

	packs *packReader // per-test files of runs ingested with --per-test-layout=packed
}

type dashAsset struct {
	body  []byte
	ctype string
	etag  string
}

type dashRoot struct {
	node    *dashCounts // nil: no metrics file yet
	checked time.Time
}

func newDashboard(s *StatusServer) *dashboard {
	d := &dashboard{
		s:       s,
		assets:  map[string]*dashAsset{},
		runs:    newDashCache[*dashRun](dashRunCache, 0),
		aligned: newDashCache[*dashAlignedSet](dashAlignedCache, 0),
		files:   newDashCache[[]byte](dashFileCache, s.cfg.ScanInterval),
		roots:   map[string]dashRoot{},
		packs:   &packReader{b: s.out, maxSize: dashMaxTestFile},
	}
	sub, err := fs.Sub(dashWeb, "web")
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
		d.assets[name] = &dashAsset{body: body, ctype: ctype, etag: dashETag(body)}
		return nil
	})
	if err != nil {
		panic(err)
	}
	return d
}

// mount adds the dashboard's routes to mux.
func (d *dashboard) mount(mux *http.ServeMux) {
	s := d.s
	s.route(mux, "GET /{$}", func(w http.ResponseWriter, r *http.Request) { d.serveAsset(w, r, "index.html") })
	s.route(mux, "GET /assets/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if name == "index.html" {
			http.NotFound(w, r)
			return
		}
		d.serveAsset(w, r, name)
	})
	s.route(mux, "GET /api/runs", d.serveRuns)
	s.route(mux, "GET /api/results", d.serveResults)
	s.route(mux, "GET /api/aligned", d.serveAligned)
	s.route(mux, "GET /charts/passrate.svg", d.servePassRateChart)
	s.route(mux, "GET /charts/interop.svg", d.serveInteropChart)
}

func (d *dashboard) serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	a := d.assets[name]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	// Revalidated on every use: the page changes with the binary.
	dashServe(w, r, a.ctype, a.body, a.etag, "no-cache")
}

// dashETag is a strong entity tag over body.
func dashETag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// dashServe writes body with a strong ETag (If-None-Match gets 304),
// gzip-compressed when the client accepts it and the body is not tiny.
func dashServe(w http.ResponseWriter, r *http.Request, ctype string, body []byte, etag, cacheControl string) {
	h := w.Header()
	if etag == "" {
		etag = dashETag(body)
	}
	h.Set("Content-Type", ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Add("Vary", "Accept-Encoding")
	if cacheControl != "" {
		h.Set("Cache-Control", cacheControl)
	}
	if len(body) > 1024 && dashAcceptsGzip(r) {
		etag = strings.TrimSuffix(etag, `"`) + `-gz"`
		h.Set("ETag", etag)
		if dashNotModified(r, etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		zw.Write(body) // writes to a bytes.Buffer do not fail
		zw.Close()
		h.Set("Content-Encoding", "gzip")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(buf.Bytes()))
		return
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

func dashNotModified(r *http.Request, etag string) bool {
	for _, v := range r.Header.Values("If-None-Match") {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t == etag || t == "*" {
				return true
			}
		}
	}
	return false
}

func dashAcceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			if c := strings.TrimSpace(coding); c != "gzip" && c != "x-gzip" {
				continue
			}
			if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
				if f, err := strconv.ParseFloat(q, 64); err == nil && f <= 0 {
					return false
				}
			}
			return true
		}
	}
	return false
}

// serveJSON writes v as JSON with an ETag over the bytes; the data may be
// cached for ScanInterval.
func (d *dashboard) serveJSON(w http.ResponseWriter, r *http.Request, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		d.apiError(w, r, fmt.Errorf("dashboard: encode: %w", err))
		return
	}
	dashServe(w, r, "application/json", buf.Bytes(), "", d.s.cacheControl())
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

// apiError answers {"error": "..."} with the status of serveHTTPStatus; the
// message of a 4xx is the error's, of a 5xx only the status text (the error
// is logged).
func (d *dashboard) apiError(w http.ResponseWriter, r *http.Request, err error) {
	code := serveHTTPStatus(err)
	msg := err.Error()
	if code >= 500 {
		d.s.log.Error("request failed", "path", r.URL.Path, "err", err)
		msg = http.StatusText(code)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// ---- The index ----

// records returns the indexed records, newest upload first, and a map by
// run id.
func (d *dashboard) records() ([]*statusRec, map[string]*statusRec) {
	s := d.s
	s.mu.RLock()
	order, version := s.order, s.version
	s.mu.RUnlock()
	d.idxMu.Lock()
	defer d.idxMu.Unlock()
	if d.byID == nil || d.idxVersion != version {
		m := make(map[string]*statusRec, len(order))
		for _, r := range order {
			m[r.id] = r
		}
		d.byID, d.idxVersion = m, version
	}
	return order, d.byID
}

// validRun returns the record of a VALID run with a TestRun, or an error
// for 404 or 400.
func (d *dashboard) validRun(id string) (*statusRec, error) {
	if id == "" {
		return nil, badParam("run is required")
	}
	if !store.ValidRunID(id) {
		return nil, badParam("run %q is not a run id", id)
	}
	_, byID := d.records()
	rec := byID[id]
	if rec == nil {
		return nil, notFound("run %s has no status record (not processed yet?)", id)
	}
	if rec.state != StateValid || rec.testRun == nil || rec.status.ProductID == "" {
		return nil, notFound("run %s is %s: it has no results", id, rec.state)
	}
	return rec, nil
}

// ---- /api/runs ----

// dashRunJSON is a run in /api/runs: wpt.fyi's TestRun, fields intact,
// plus what wptfeed knows about it under "wptfeed".
type dashRunJSON struct {
	TestRun
	WPTFeed dashRunExtra `json:"wptfeed"`
}

type dashRunExtra struct {
	RunID     string   `json:"run_id"`
	State     string   `json:"state"`
	Code      string   `json:"code,omitempty"`
	Error     string   `json:"error,omitempty"`
	ProductID string   `json:"product_id,omitempty"`
	Uploaded  string   `json:"uploaded"`
	Tests     int      `json:"tests"`
	Subtests  int      `json:"subtests"`
	Labels    []string `json:"labels"`
	// Metrics is the root's numbers from metrics/runs/<run id>.json; null
	// until that file is written (and for runs that are not VALID).
	Metrics *dashCounts `json:"metrics"`
}

// dashRunTime is when a run ran, as wpt.fyi orders and filters runs: its
// time_start, else when it was uploaded.
func dashRunTime(r *statusRec) time.Time {
	if tr := r.testRun; tr != nil {
		if !tr.TimeStart.IsZero() && tr.TimeStart.Unix() > 0 {
			return tr.TimeStart.UTC()
		}
		if !tr.CreatedAt.IsZero() {
			return tr.CreatedAt.UTC()
		}
	}
	return r.uploaded
}

// runJSON renders a record for the API. A run without a TestRun (INVALID,
// EMPTY, DUPLICATE) gets one made of what its status record knows, with
// id 0.
func (d *dashboard) runJSON(r *statusRec, root *dashCounts) dashRunJSON {
	var out dashRunJSON
	if r.testRun != nil {
		out.TestRun = *r.testRun
	} else {
		out.TestRun = TestRun{
			FullRevisionHash: r.status.Revision,
			Revision:         r.status.Revision[:min(10, len(r.status.Revision))],
			CreatedAt:        r.uploaded,
			Labels:           r.labels,
		}
		if len(r.products) > 0 {
			out.BrowserName = r.products[len(r.products)-1] // the normalised name
		}
	}
	if out.Labels == nil {
		out.Labels = []string{}
	}
	st := r.status
	out.WPTFeed = dashRunExtra{
		RunID: r.id, State: r.state, Code: st.Code, Error: st.Error, ProductID: st.ProductID,
		Uploaded: r.uploaded.Format(time.RFC3339Nano),
		Tests:    st.Tests, Subtests: st.Subtests, Labels: r.labels, Metrics: root,
	}
	if out.WPTFeed.Labels == nil {
		out.WPTFeed.Labels = []string{}
	}
	return out
}

// dashProductSpec is one product of wpt.fyi's product parameter:
// browser[-version[-os[-os_version]]], optionally with [label,…].
type dashProductSpec struct {
	name, version, os, osVersion string
	labels                       []string
}

func parseProductSpec(v string) (dashProductSpec, error) {
	var p dashProductSpec
	if i := strings.IndexByte(v, '['); i >= 0 {
		if !strings.HasSuffix(v, "]") {
			return p, badParam("product %q: unclosed [", v)
		}
		for _, l := range strings.Split(v[i+1:len(v)-1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				p.labels = append(p.labels, l)
			}
		}
		v = v[:i]
	}
	parts := strings.SplitN(v, "-", 4)
	p.name = parts[0]
	if p.name == "" {
		return p, badParam("product %q has no browser name", v)
	}
	norm, _ := report.NormalizeMetadata(report.Metadata{Product: p.name}, nil)
	p.name = norm.Product
	if len(parts) > 1 {
		p.version = parts[1]
	}
	if len(parts) > 2 {
		p.os = parts[2]
	}
	if len(parts) > 3 {
		p.osVersion = parts[3]
	}
	return p, nil
}

// versionPrefix reports whether version v is want or starts with want
// followed by a separator ("126" matches "126.0.6478.126").
func versionPrefix(v, want string) bool {
	if want == "" || v == want {
		return true
	}
	return strings.HasPrefix(v, want) && strings.ContainsRune(". _-", rune(v[len(want)]))
}

func (p dashProductSpec) match(tr *TestRun, labels []string) bool {
	if tr.BrowserName != p.name || !versionPrefix(tr.BrowserVersion, p.version) ||
		(p.os != "" && tr.OSName != p.os) || !versionPrefix(tr.OSVersion, p.osVersion) {
		return false
	}
	for _, l := range p.labels {
		if !slices.Contains(labels, l) {
			return false
		}
	}
	return true
}

// dashRunsQuery is a parsed /api/runs query.
type dashRunsQuery struct {
	products []dashProductSpec
	labels   []string
	sha      string
	from, to time.Time
	maxCount int
	aligned  bool
	states   []string // nil: VALID only; "all" expands to every state
}

// splitValues returns the values of keys, repeated or comma-separated,
// trimmed, without empties and duplicates, in order.
func splitValues(q url.Values, keys ...string) []string {
	var out []string
	for _, k := range keys {
		for _, v := range q[k] {
			for _, p := range strings.Split(v, ",") {
				if p = strings.TrimSpace(p); p != "" && !slices.Contains(out, p) {
					out = append(out, p)
				}
			}
		}
	}
	return out
}

func parseDashTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, badParam("%s %q is not an RFC 3339 time (2006-01-02T15:04:05Z) or date", name, v)
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// parseSHA checks a revision prefix: 4 to 40 hex digits (lower-cased), or
// "" and "latest" for any revision (the newest runs: with max-count's
// default of 1, the latest run of each product, as on wpt.fyi).
func parseSHA(v string) (string, error) {
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "" || v == "latest" {
		return "", nil
	}
	if len(v) < 4 || len(v) > 40 || !isHex(v) {
		return "", badParam("sha %q is not 4 to 40 hex digits", v)
	}
	return v, nil
}

func parseRunsQuery(q url.Values) (dashRunsQuery, error) {
	var rq dashRunsQuery
	for _, v := range splitValues(q, "product", "products") {
		p, err := parseProductSpec(v)
		if err != nil {
			return rq, err
		}
		rq.products = append(rq.products, p)
	}
	rq.labels = splitValues(q, "label", "labels")
	var err error
	if rq.sha, err = parseSHA(q.Get("sha")); err != nil {
		return rq, err
	}
	if rq.from, err = parseDashTime("from", q.Get("from")); err != nil {
		return rq, err
	}
	if rq.to, err = parseDashTime("to", q.Get("to")); err != nil {
		return rq, err
	}
	// wpt.fyi: "Default to a single, latest run when from & max-count
	// both empty" (per product); with from, up to the cap.
	rq.maxCount = dashMaxCount
	if q.Get("from") == "" {
		rq.maxCount = 1
	}
	if v := q.Get("max-count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return rq, badParam("max-count %q is not a positive number", v)
		}
		rq.maxCount = min(n, dashMaxCount)
	}
	if v := q.Get("aligned"); v != "" {
		if rq.aligned, err = strconv.ParseBool(v); err != nil {
			return rq, badParam("aligned %q is not a boolean", v)
		}
	}
	for _, s := range splitValues(q, "state") {
		if strings.EqualFold(s, "all") {
			rq.states = []string{}
			break
		}
		rq.states = append(rq.states, strings.ToUpper(s))
	}
	return rq, nil
}

// selectRuns applies a query to the records, newest run first (by
// time_start, as wpt.fyi sorts them).
func selectRuns(recs []*statusRec, rq dashRunsQuery) []*statusRec {
	var sel []*statusRec
	for _, r := range recs {
		switch {
		case rq.states == nil:
			if r.state != StateValid || r.testRun == nil {
				continue
			}
		case len(rq.states) > 0:
			if !slices.Contains(rq.states, r.state) {
				continue
			}
		}
		tr := r.testRun
		if tr == nil {
			tr = &TestRun{FullRevisionHash: r.status.Revision}
			if len(r.products) > 0 {
				tr.BrowserName = r.products[len(r.products)-1]
			}
		}
		if len(rq.products) > 0 && !slices.ContainsFunc(rq.products, func(p dashProductSpec) bool { return p.match(tr, r.labels) }) {
			continue
		}
		if slices.ContainsFunc(rq.labels, func(l string) bool { return !slices.Contains(r.labels, l) }) {
			continue
		}
		if rq.sha != "" && !strings.HasPrefix(tr.FullRevisionHash, rq.sha) {
			continue
		}
		t := dashRunTime(r)
		if !rq.from.IsZero() && t.Before(rq.from) || !rq.to.IsZero() && !t.Before(rq.to) {
			continue
		}
		sel = append(sel, r)
	}
	slices.SortStableFunc(sel, func(a, b *statusRec) int {
		if c := dashRunTime(b).Compare(dashRunTime(a)); c != 0 {
			return c
		}
		return strings.Compare(b.id, a.id)
	})
	product := func(r *statusRec) string {
		if r.testRun != nil {
			return r.testRun.BrowserName
		}
		if len(r.products) > 0 {
			return r.products[len(r.products)-1]
		}
		return ""
	}
	if rq.aligned {
		// Only revisions every requested product (or every product
		// present) has a run at; max-count counts revisions.
		want := map[string]bool{}
		for _, p := range rq.products {
			want[p.name] = true
		}
		if len(want) == 0 {
			for _, r := range sel {
				want[product(r)] = true
			}
		}
		have := map[string]map[string]bool{}
		var revs []string
		for _, r := range sel {
			rev := r.status.Revision
			if have[rev] == nil {
				have[rev] = map[string]bool{}
				revs = append(revs, rev)
			}
			have[rev][product(r)] = true
		}
		keep := map[string]bool{}
		for _, rev := range revs {
			if len(keep) == rq.maxCount {
				break
			}
			complete := true
			for p := range want {
				complete = complete && have[rev][p]
			}
			if complete {
				keep[rev] = true
			}
		}
		return slices.DeleteFunc(sel, func(r *statusRec) bool { return !keep[r.status.Revision] })
	}
	// max-count is per product, as in wpt.fyi.
	count := map[string]int{}
	return slices.DeleteFunc(sel, func(r *statusRec) bool {
		p := product(r)
		count[p]++
		return count[p] > rq.maxCount
	})
}

func (d *dashboard) serveRuns(w http.ResponseWriter, r *http.Request) {
	rq, err := parseRunsQuery(r.URL.Query())
	if err != nil {
		d.apiError(w, r, err)
		return
	}
	recs, _ := d.records()
	sel := selectRuns(recs, rq)
	roots := d.rootsOf(r.Context(), sel)
	out := make([]dashRunJSON, len(sel))
	for i, rec := range sel {
		out[i] = d.runJSON(rec, roots[i])
	}
	d.serveJSON(w, r, out)
}

// rootsOf returns the root metrics of each VALID run (nil for others and
// for runs whose metrics file is not there yet), reading the files not
// read before, a few at a time.
func (d *dashboard) rootsOf(ctx context.Context, recs []*statusRec) []*dashCounts {
	out := make([]*dashCounts, len(recs))
	var todo []int
	now := time.Now()
	d.rootMu.Lock()
	for i, r := range recs {
		if r.state != StateValid {
			continue
		}
		c, ok := d.roots[r.id]
		switch {
		case ok && c.node != nil:
			out[i] = c.node
		case ok && now.Sub(c.checked) < d.s.cfg.ScanInterval:
		default:
			todo = append(todo, i)
		}
	}
	d.rootMu.Unlock()
	if len(todo) == 0 {
		return out
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(dashRootReaders, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				id := recs[i].id
				node, err := d.readRoot(ctx, id)
				if err != nil && !store.IsNotFound(err) {
					if ctx.Err() == nil {
						d.s.log.Warn("run metrics unreadable", "run_id", id, "err", err)
					}
					continue // tried again by the next request
				}
				out[i] = node
				d.rootMu.Lock()
				d.roots[id] = dashRoot{node: node, checked: now}
				d.rootMu.Unlock()
			}
		}()
	}
	for _, i := range todo {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// dashMetricsRunKey is the key of a run's metrics file.
func dashMetricsRunKey(id string) string { return "metrics/runs/" + id + ".json" }

// readRoot reads the root entry of metrics/runs/<id>.json. WriteJSON puts
// it on the second line (entries are sorted by path, one per line), so
// reading the first few kilobytes is enough; any other layout is decoded
// whole.
func (d *dashboard) readRoot(ctx context.Context, id string) (*dashCounts, error) {
	key := dashMetricsRunKey(id)
	rc, err := d.s.out.NewRangeReader(ctx, key, 0, 4096)
	if err != nil {
		return nil, err
	}
	head, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	if lines := bytes.SplitN(head, []byte("\n"), 3); len(lines) == 3 {
		var e dashEntryJSON
		line := bytes.TrimSuffix(bytes.TrimSpace(lines[1]), []byte(","))
		if json.Unmarshal(line, &e) == nil && e.Dir == "/" {
			return &e.dashCounts, nil
		}
	}
	data, err := d.s.out.ReadAll(ctx, key)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Dirs []dashEntryJSON `json:"dirs"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("dashboard: %s: %w", key, err)
	}
	for _, e := range doc.Dirs {
		if e.Dir == "/" {
			return &e.dashCounts, nil
		}
	}
	return &dashCounts{}, nil
}

// dashEntryJSON is an entry of report.DirMetrics.WriteJSON.
type dashEntryJSON struct {
	Dir string `json:"dir"`
	dashCounts
}

// ---- Results trees ----

// dashCounts is one run's numbers for a directory or a test (see
// report.Entry): tests and per-test score, tests passing, subtests and
// subtests passing (wpt.fyi's default, subtest, view), and the rates.
type dashCounts struct {
	Status         string  `json:"status,omitempty"` // a test's summary status (P, F, O, …)
	Tests          int     `json:"tests"`
	TestScore      float64 `json:"test_score"`
	TestsPassed    int     `json:"tests_passed"`
	Subtests       int     `json:"subtests"`
	SubtestsPassed int     `json:"subtests_passed"`
	TestRate       float64 `json:"test_rate"`
	SubtestRate    float64 `json:"subtest_rate"`
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

func countsOf(e report.Entry) dashCounts {
	return dashCounts{
		Status: e.Status, Tests: e.Tests, TestScore: e.TestScore, TestsPassed: e.TestsPassed,
		Subtests: e.Subtests, SubtestsPassed: e.SubtestsPassed,
		TestRate: round6(e.TestRate()), SubtestRate: round6(e.SubtestRate()),
	}
}

// dashNode is a row of a run's tree: a directory (path ending in "/") or a
// test, with its name relative to its parent directory.
type dashNode struct {
	Path string `json:"path"`
	Name string `json:"name"`
	Test bool   `json:"test,omitempty"`
	dashCounts
}

// nodeName is a child's name under its directory: "css-flexbox/" for
// "/css/css-flexbox/", "a.html?b/c" for "/css/a.html?b/c".
func nodeName(p string, test bool) string {
	if test {
		return strings.TrimPrefix(p, report.TestDir(p))
	}
	t := strings.TrimSuffix(p, "/")
	return p[strings.LastIndexByte(t, '/')+1:]
}

// dashRun is a VALID run loaded for browsing: its summary and the metrics
// of its whole tree. Immutable.
type dashRun struct {
	rec *statusRec
	sum *report.Summary
	m   *report.DirMetrics
}

// loadRun returns a run's tree, from the cache or from its summary_v2.
func (d *dashboard) loadRun(ctx context.Context, rec *statusRec) (*dashRun, error) {
	return d.runs.get(rec.id, func() (*dashRun, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dashLoadTimeout)
		defer cancel()
		key := store.SummaryKey(rec.status.Revision, rec.status.ProductID)
		rc, err := d.s.out.NewReader(ctx, key)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		zr, err := gzip.NewReader(rc)
		if err != nil {
			return nil, fmt.Errorf("dashboard: %s: %w", key, err)
		}
		sum, err := report.ReadSummary(zr)
		if err != nil {
			return nil, fmt.Errorf("dashboard: %s: %w", key, err)
		}
		return &dashRun{rec: rec, sum: sum, m: report.RunMetrics(sum)}, nil
	})
}

// parsePath checks a path parameter: "" is the root; it must start with
// "/".
func parsePath(v string) (string, error) {
	if v == "" {
		return "/", nil
	}
	if !strings.HasPrefix(v, "/") {
		return "", badParam("path %q does not start with /", v)
	}
	return v, nil
}

// resolve tells whether p is a test of run (then its summary entry) or a
// directory (then its path with a trailing slash); a path naming neither
// is not found.
func (run *dashRun) resolve(p string) (dir string, test bool, ok bool) {
	if !strings.HasSuffix(p, "/") {
		if _, ok := run.sum.Get(p); ok {
			return p, true, true
		}
		p += "/"
	}
	if _, ok := run.m.Dir(p); ok {
		return p, false, true
	}
	return "", false, false
}

// test returns the metrics of a test of the run.
func (run *dashRun) test(p string) (report.Entry, bool) {
	for _, c := range run.m.Children(report.TestDir(p)) {
		if c.Test && c.Dir == p {
			return c, true
		}
	}
	return report.Entry{}, false
}

// dashResults is /api/results: a directory's children, or a test's
// subtests.
type dashResults struct {
	Run      dashRunJSON `json:"run"`
	Path     string      `json:"path"`
	Test     bool        `json:"test,omitempty"`
	Entry    dashNode    `json:"entry"`    // the path's own numbers: the totals
	Children []dashNode  `json:"children"` // a directory's subdirectories and tests, sorted by path
	// A test's results from its per-test file: the harness status and
	// message and each subtest; Details is false when the run has no
	// per-test files.
	Details       bool          `json:"details,omitempty"`
	HarnessStatus string        `json:"harness_status,omitempty"`
	Message       *string       `json:"message,omitempty"`
	Subtests      []dashSubtest `json:"subtests,omitempty"`
}

// dashSubtest is a subtest as the per-test file (the wptreport result
// object) has it.
type dashSubtest struct {
	Name    string  `json:"name"`
	Status  string  `json:"status"`
	Message *string `json:"message,omitempty"`
}

// dashTestFile is what the dashboard reads of a per-test file.
type dashTestFile struct {
	Status   string        `json:"status"`
	Message  *string       `json:"message"`
	Subtests []dashSubtest `json:"subtests"`
}

// readTestFile reads a run's per-test file of a test; nil, nil when the
// run has none (ingested without per-test files).
func (d *dashboard) readTestFile(ctx context.Context, rec *statusRec, test string) (*dashTestFile, error) {
	key := store.TestKey(rec.status.Revision, rec.status.ProductID, test)
	var rc io.ReadCloser
	var err error
	if rec.status.PerTest == LayoutPacked {
		key = store.TestPackKey(rec.status.Revision, rec.status.ProductID) + " (" + test + ")"
		rc, err = d.packs.open(ctx, rec.status.Revision, rec.status.ProductID, test)
	} else {
		rc, err = d.s.out.NewReader(ctx, key)
	}
	if store.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %s: %w", key, err)
	}
	var tf dashTestFile
	if err := json.NewDecoder(io.LimitReader(zr, dashMaxTestFile)).Decode(&tf); err != nil {
		return nil, fmt.Errorf("dashboard: %s: %w", key, err)
	}
	if tf.Subtests == nil {
		tf.Subtests = []dashSubtest{}
	}
	return &tf, nil
}

func (d *dashboard) serveResults(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rec, err := d.validRun(q.Get("run"))
	if err != nil {
		d.apiError(w, r, err)
		return
	}
	p, err := parsePath(q.Get("path"))
	if err != nil {
		d.apiError(w, r, err)
		return
	}
	run, err := d.loadRun(r.Context(), rec)
	if err != nil {
		d.apiError(w, r, err)
		return
	}
	p, test, ok := run.resolve(p)
	if !ok {
		d.apiError(w, r, notFound("run %s has no test or directory %s", rec.id, q.Get("path")))
		return
	}
	root, _ := run.m.Dir("/")
	rootCounts := countsOf(root)
	res := dashResults{Run: d.runJSON(rec, &rootCounts), Path: p, Test: test}
	if test {
		e, _ := run.test(p)
		res.Entry = dashNode{Path: p, Name: nodeName(p, true), Test: true, dashCounts: countsOf(e)}
		tf, err := d.readTestFile(r.Context(), rec, p)
		if err != nil {
			d.apiError(w, r, err)
			return
		}
		if tf != nil {
			res.Details, res.HarnessStatus, res.Message, res.Subtests = true, tf.Status, tf.Message, tf.Subtests
		}
		d.serveJSON(w, r, res)
		return
	}
	e, _ := run.m.Dir(p)
	res.Entry = dashNode{Path: p, Name: nodeName(p, false), dashCounts: countsOf(e)}
	res.Children = []dashNode{}
	for _, c := range run.m.Children(p) {
		res.Children = append(res.Children, dashNode{Path: c.Dir, Name: nodeName(c.Dir, c.Test), Test: c.Test, dashCounts: countsOf(c)})
	}
	d.serveJSON(w, r, res)
}

// ---- Aligned runs ----

// dashAlignedSet is aligned runs loaded for browsing. Immutable.
type dashAlignedSet struct {
	runs []*dashRun
	am   *report.AlignedMetrics
}

// dashAlignedNode is a row of the aligned tree.
type dashAlignedNode struct {
	Path    string        `json:"path"`
	Name    string        `json:"name"`
	Test    bool          `json:"test,omitempty"`
	Tests   int           `json:"tests"`   // tests in the union of the runs
	Results []*dashCounts `json:"results"` // per run; null where the run lacks the path
	Scores  []int         `json:"scores"`  // per run, per mille (report.AlignedEntry)
	Interop int           `json:"interop"` // per mille (report.AlignedEntry)
}

// dashSubResult is one run's result of a subtest (or of the harness).
type dashSubResult struct {
	Status  string  `json:"status"`
	Message *string `json:"message,omitempty"`
}

// dashAlignedSubtest is a subtest of a test over aligned runs; Results has
// one element per run, null where the run lacks the subtest.
type dashAlignedSubtest struct {
	Name    string           `json:"name"`
	Results []*dashSubResult `json:"results"`
}

// dashAlignedResults is /api/aligned.
type dashAlignedResults struct {
	SHA      string            `json:"sha"`
	Label    string            `json:"label"`
	Source   string            `json:"source"` // the metrics file the runs come from, or "index"
	Runs     []dashRunJSON     `json:"runs"`
	Path     string            `json:"path"`
	Test     bool              `json:"test,omitempty"`
	Entry    dashAlignedNode   `json:"entry"`
	Children []dashAlignedNode `json:"children"`
	// For a test: each run's harness result and the subtests, from the
	// per-test files (Details is false when a run has none).
	Details  bool                 `json:"details,omitempty"`
	Harness  []*dashSubResult     `json:"harness,omitempty"`
	Subtests []dashAlignedSubtest `json:"subtests,omitempty"`
}

// dashAlignedFilters are the filters metrics/aligned/ has files for.
var dashAlignedFilters = []string{"all", "stable", "experimental"}

// dashAlignedKey is the key of the aligned metrics of a revision.
func dashAlignedKey(sha, filter string) string {
	return "metrics/aligned/" + sha + "/" + filter + ".json"
}

// resolveSHA finds the one revision of the VALID runs that starts with
// prefix.
func (d *dashboard) resolveSHA(prefix string) (string, error) {
	recs, _ := d.records()
	var found []string
	for _, r := range recs {
		if r.state == StateValid && r.testRun != nil && strings.HasPrefix(r.status.Revision, prefix) && !slices.Contains(found, r.status.Revision) {
			found = append(found, r.status.Revision)
		}
	}
	switch len(found) {
	case 0:
		return "", notFound("no VALID run at revision %s", prefix)
	case 1:
		return found[0], nil
	}
	return "", badParam("sha %s is ambiguous: %d revisions start with it", prefix, len(found))
}

// alignedRunIDs returns the runs aligned at sha for label and where the
// choice comes from: metrics/aligned/<sha>/<label>.json when it exists
// (label all, stable or experimental), else the index: the newest VALID
// run (by time_start, then run id) of each product at sha that has the
// label (any run for "all"), sorted by product, as the metrics writer
// chooses them.
func (d *dashboard) alignedRunIDs(ctx context.Context, sha, label string) ([]string, string, error) {
	if slices.Contains(dashAlignedFilters, label) {
		key := dashAlignedKey(sha, label)
		head, err := d.files.get("runs of "+key, func() ([]byte, error) {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dashLoadTimeout)
			defer cancel()
			ids, err := d.readAlignedRuns(ctx, key)
			if store.IsNotFound(err) {
				return []byte{}, nil
			}
			if err != nil {
				return nil, err
			}
			return json.Marshal(ids)
		})
		if err != nil {
			return nil, "", err
		}
		if len(head) > 0 {
			var ids []string
			if err := json.Unmarshal(head, &ids); err != nil {
				return nil, "", err
			}
			return ids, key, nil
		}
	}
	recs, _ := d.records()
	newest := map[string]*statusRec{}
	for _, r := range recs {
		if r.state != StateValid || r.testRun == nil || r.status.Revision != sha {
			continue
		}
		if label != "all" && !slices.Contains(r.labels, label) {
			continue
		}
		p := r.testRun.BrowserName
		cur := newest[p]
		if cur == nil || dashRunTime(r).After(dashRunTime(cur)) || dashRunTime(r).Equal(dashRunTime(cur)) && r.id > cur.id {
			newest[p] = r
		}
	}
	products := make([]string, 0, len(newest))
	for p := range newest {
		products = append(products, p)
	}
	slices.Sort(products)
	ids := make([]string, len(products))
	for i, p := range products {
		ids[i] = newest[p].id
	}
	return ids, "index", nil
}

// readAlignedRuns reads the run ids of an aligned metrics file, decoding
// only its "runs" (the first member).
func (d *dashboard) readAlignedRuns(ctx context.Context, key string) ([]string, error) {
	rc, err := d.s.out.NewReader(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	bad := func(err error) error { return fmt.Errorf("dashboard: %s: %w", key, err) }
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, bad(fmt.Errorf("not a JSON object (%v)", err))
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, bad(err)
		}
		if t != "runs" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, bad(err)
			}
			continue
		}
		var runs []report.RunRef
		if err := dec.Decode(&runs); err != nil {
			return nil, bad(err)
		}
		ids := make([]string, len(runs))
		for i, r := range runs {
			ids[i] = r.RunID
		}
		return ids, nil
	}
	return nil, bad(errors.New("no runs"))
}

// loadAligned returns the aligned set of runs (in order), computing its
// metrics with report.Aligned over their summaries.
func (d *dashboard) loadAligned(ctx context.Context, ids []string) (*dashAlignedSet, error) {
	_, byID := d.records()
	if slices.ContainsFunc(ids, func(id string) bool { return byID[id] == nil }) {
		// The metrics file may be ahead of the index by a scan (at most
		// one full listing per scan interval, however many requests ask).
		if _, err := d.s.ScanIfOlder(ctx, d.s.cfg.ScanInterval); err != nil {
			return nil, err
		}
		_, byID = d.records()
	}
	return d.aligned.get(strings.Join(ids, ","), func() (*dashAlignedSet, error) {
		set := &dashAlignedSet{}
		var in []report.AlignedRun
		for _, id := range ids {
			rec, err := d.validRun(id)
			if err != nil {
				return nil, err
			}
			run, err := d.loadRun(ctx, rec)
			if err != nil {
				return nil, err
			}
			set.runs = append(set.runs, run)
			in = append(in, report.AlignedRun{Product: rec.testRun.BrowserName, RunID: id, Summary: run.sum})
		}
		set.am = report.Aligned(in)
		return set, nil
	})
}

func alignedNode(e report.AlignedEntry, results []*dashCounts) dashAlignedNode {
	return dashAlignedNode{
		Path: e.Dir, Name: nodeName(e.Dir, e.Test), Test: e.Test, Tests: e.Tests,
		Results: results, Scores: e.Scores, Interop: e.Interop,
	}
}

func (d *dashboard) serveAligned(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	prefix, err := parseSHA(q.Get("sha"))
	if err == nil && prefix == "" {
		err = badParam("sha is required")
	}
	if err != nil {
		d.apiError(w, r, err)
		return
	}
	label := strings.TrimSpace(q.Get("label"))
	if label == "" {
		label = "all"
	}
	p, err := parsePath(q.Get("path"))
	if err != nil {
		d.apiError(w, r, err)
		return
	}
	sha, err := d.resolveSHA(prefix)
	if err != nil {
		d.apiError(w, r, err)
		return
	}
	ids, source, err := d.alignedRunIDs(r.Context(), sha, label)
	if err != nil {
		d.apiError(w, r, err)
		return
	}
	if len(ids) == 0 {
		d.apiError(w, r, notFound("no VALID run labelled %s at revision %s", label, sha))
		return
	}
	set, err := d.loadAligned(r.Context(), ids)
	if err != nil {
		d.apiError(w, r, err)
		return
	}
	res := dashAlignedResults{SHA: sha, Label: label, Source: source}
	for _, run := range set.runs {
		root, _ := run.m.Dir("/")
		rootCounts := countsOf(root)
		res.Runs = append(res.Runs, d.runJSON(run.rec, &rootCounts))
	}
	n := len(set.runs)

	// A test of any run, or a directory.
	test := !strings.HasSuffix(p, "/") && slices.ContainsFunc(set.runs, func(run *dashRun) bool {
		_, ok := run.sum.Get(p)
		return ok
	})
	if !test && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	res.Path, res.Test = p, test
	if test {
		var entry report.AlignedEntry
		for _, e := range set.am.Children(report.TestDir(p)) {
			if e.Test && e.Dir == p {
				entry = e
			}
		}
		results := make([]*dashCounts, n)
		res.Harness = make([]*dashSubResult, n)
		index := map[string]int{}
		res.Details = true
		for i, run := range set.runs {
			e, ok := run.test(p)
			if !ok {
				continue
			}
			c := countsOf(e)
			results[i] = &c
			tf, err := d.readTestFile(r.Context(), run.rec, p)
			if err != nil {
				d.apiError(w, r, err)
				return
			}
			if tf == nil {
				res.Details = false
				continue
			}
			res.Harness[i] = &dashSubResult{Status: tf.Status, Message: tf.Message}
			for _, st := range tf.Subtests {
				k, ok := index[st.Name]
				if !ok {
					k = len(res.Subtests)
					index[st.Name] = k
					res.Subtests = append(res.Subtests, dashAlignedSubtest{Name: st.Name, Results: make([]*dashSubResult, n)})
				}
				res.Subtests[k].Results[i] = &dashSubResult{Status: st.Status, Message: st.Message}
			}
		}
		res.Entry = alignedNode(entry, results)
		d.serveJSON(w, r, res)
		return
	}

	entry, ok := set.am.Dir(p)
	if !ok {
		d.apiError(w, r, notFound("no aligned run has a test or directory %s", q.Get("path")))
		return
	}
	results := make([]*dashCounts, n)
	levels := make([]map[string]report.Entry, n)
	for i, run := range set.runs {
		if e, ok := run.m.Dir(p); ok {
			c := countsOf(e)
			results[i] = &c
		}
		levels[i] = map[string]report.Entry{}
		for _, c := range run.m.Children(p) {
			levels[i][c.Dir] = c
		}
	}
	res.Entry = alignedNode(entry, results)
	res.Children = []dashAlignedNode{}
	for _, c := range set.am.Children(p) {
		results := make([]*dashCounts, n)
		for i := range set.runs {
			if e, ok := levels[i][c.Dir]; ok && e.Test == c.Test {
				c := countsOf(e)
				results[i] = &c
			}
		}
		res.Children = append(res.Children, alignedNode(c, results))
	}
	d.serveJSON(w, r, res)
}

// ---- A small cache ----

// dashCache is an LRU cache of at most max values, each loaded once by the
// first caller that misses (the others wait for it) and, with ttl > 0,
// loaded again once older than ttl. Failed loads are not kept.
type dashCache[V any] struct {
	mu  sync.Mutex
	max int
	ttl time.Duration
	ll  *list.List // of *dashCacheEntry[V], most recently used first
	m   map[string]*list.Element
}

type dashCacheEntry[V any] struct {
	key  string
	done chan struct{}
	at   time.Time
	v    V
	err  error
}

func newDashCache[V any](max int, ttl time.Duration) *dashCache[V] {
	return &dashCache[V]{max: max, ttl: ttl, ll: list.New(), m: map[string]*list.Element{}}
}

func (c *dashCache[V]) get(key string, load func() (V, error)) (V, error) {
	c.mu.Lock()
	if el, ok := c.m[key]; ok {
		e := el.Value.(*dashCacheEntry[V])
		if c.ttl == 0 || time.Since(e.at) < c.ttl {
			c.ll.MoveToFront(el)
			c.mu.Unlock()
			<-e.done
			return e.v, e.err
		}
		c.ll.Remove(el)
		delete(c.m, key)
	}
	e := &dashCacheEntry[V]{key: key, done: make(chan struct{}), at: time.Now()}
	c.m[key] = c.ll.PushFront(e)
	for c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.m, old.Value.(*dashCacheEntry[V]).key)
	}
	c.mu.Unlock()

	e.v, e.err = load()
	close(e.done)
	if e.err != nil {
		c.mu.Lock()
		if el, ok := c.m[key]; ok && el.Value == e {
			c.ll.Remove(el)
			delete(c.m, key)
		}
		c.mu.Unlock()
	}
	return e.v, e.err
}
