package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
)

// apiRun is a run in /api/runs: wpt.fyi's TestRun, fields intact,
// plus what wptfeed knows about it under "wptfeed".
type apiRun struct {
	records.TestRun
	WPTFeed apiRunExtra `json:"wptfeed"`
}

type apiRunExtra struct {
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
	Metrics *counts `json:"metrics"`
}

// runJSON renders a record for the API. A run without a TestRun (INVALID,
// EMPTY, DUPLICATE) gets one made of what its status record knows, with
// id 0.
func (d *Dashboard) runJSON(r *records.Run, root *counts) apiRun {
	var out apiRun
	if r.TestRun != nil {
		out.TestRun = *r.TestRun
	} else {
		out.TestRun = records.TestRun{
			FullRevisionHash: r.Status.Revision,
			Revision:         r.Status.Revision[:min(10, len(r.Status.Revision))],
			CreatedAt:        r.Uploaded,
			Labels:           r.Labels,
		}
		if len(r.Products) > 0 {
			out.BrowserName = r.Products[len(r.Products)-1] // the normalised name
		}
	}
	if out.Labels == nil {
		out.Labels = []string{}
	}
	st := r.Status
	out.WPTFeed = apiRunExtra{
		RunID: r.ID, State: r.State, Code: st.Code, Error: st.Error, ProductID: st.ProductID,
		Uploaded: r.Uploaded.Format(time.RFC3339Nano),
		Tests:    st.Tests, Subtests: st.Subtests, Labels: r.Labels, Metrics: root,
	}
	if out.WPTFeed.Labels == nil {
		out.WPTFeed.Labels = []string{}
	}
	return out
}

// productSpec is one product of wpt.fyi's product parameter:
// browser[-version[-os[-os_version]]], optionally with [label,…].
type productSpec struct {
	name, version, os, osVersion string
	labels                       []string
}

func parseProductSpec(v string) (productSpec, error) {
	var p productSpec
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

func (p productSpec) match(tr *records.TestRun, labels []string) bool {
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

// runsQuery is a parsed /api/runs query.
type runsQuery struct {
	products []productSpec
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

func parseTime(name, v string) (time.Time, error) {
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

func parseRunsQuery(q url.Values) (runsQuery, error) {
	var rq runsQuery
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
	if rq.from, err = parseTime("from", q.Get("from")); err != nil {
		return rq, err
	}
	if rq.to, err = parseTime("to", q.Get("to")); err != nil {
		return rq, err
	}
	// wpt.fyi: "Default to a single, latest run when from & max-count
	// both empty" (per product); with from, up to the cap.
	rq.maxCount = maxCount
	if q.Get("from") == "" {
		rq.maxCount = 1
	}
	if v := q.Get("max-count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return rq, badParam("max-count %q is not a positive number", v)
		}
		rq.maxCount = min(n, maxCount)
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
func selectRuns(recs []*records.Run, rq runsQuery) []*records.Run {
	var sel []*records.Run
	for _, r := range recs {
		switch {
		case rq.states == nil:
			if r.State != records.StateValid || r.TestRun == nil {
				continue
			}
		case len(rq.states) > 0:
			if !slices.Contains(rq.states, r.State) {
				continue
			}
		}
		tr := r.TestRun
		if tr == nil {
			tr = &records.TestRun{FullRevisionHash: r.Status.Revision}
			if len(r.Products) > 0 {
				tr.BrowserName = r.Products[len(r.Products)-1]
			}
		}
		if len(rq.products) > 0 && !slices.ContainsFunc(rq.products, func(p productSpec) bool { return p.match(tr, r.Labels) }) {
			continue
		}
		if slices.ContainsFunc(rq.labels, func(l string) bool { return !slices.Contains(r.Labels, l) }) {
			continue
		}
		if rq.sha != "" && !strings.HasPrefix(tr.FullRevisionHash, rq.sha) {
			continue
		}
		t := r.Time()
		if !rq.from.IsZero() && t.Before(rq.from) || !rq.to.IsZero() && !t.Before(rq.to) {
			continue
		}
		sel = append(sel, r)
	}
	slices.SortStableFunc(sel, func(a, b *records.Run) int {
		if c := b.Time().Compare(a.Time()); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	product := func(r *records.Run) string {
		if r.TestRun != nil {
			return r.TestRun.BrowserName
		}
		if len(r.Products) > 0 {
			return r.Products[len(r.Products)-1]
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
			rev := r.Status.Revision
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
		return slices.DeleteFunc(sel, func(r *records.Run) bool { return !keep[r.Status.Revision] })
	}
	// max-count is per product, as in wpt.fyi.
	count := map[string]int{}
	return slices.DeleteFunc(sel, func(r *records.Run) bool {
		p := product(r)
		count[p]++
		return count[p] > rq.maxCount
	})
}

func (d *Dashboard) serveRuns(w http.ResponseWriter, r *http.Request) {
	rq, err := parseRunsQuery(r.URL.Query())
	if err != nil {
		d.apiError(w, r, err)
		return
	}
	recs, _ := d.snapshot()
	sel := selectRuns(recs, rq)
	roots := d.rootsOf(r.Context(), sel)
	out := make([]apiRun, len(sel))
	for i, rec := range sel {
		out[i] = d.runJSON(rec, roots[i])
	}
	d.serveJSON(w, r, out)
}

// rootsOf returns the root metrics of each VALID run (nil for others and
// for runs whose metrics file is not there yet), reading the files not
// read before, a few at a time.
func (d *Dashboard) rootsOf(ctx context.Context, recs []*records.Run) []*counts {
	out := make([]*counts, len(recs))
	var todo []int
	now := time.Now()
	d.rootMu.Lock()
	for i, r := range recs {
		if r.State != records.StateValid {
			continue
		}
		c, ok := d.roots[r.ID]
		switch {
		case ok && c.node != nil:
			out[i] = c.node
		case ok && now.Sub(c.checked) < d.scanInterval:
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
	for range min(rootReaders, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				id := recs[i].ID
				node, err := d.readRoot(ctx, id)
				if err != nil && !store.IsNotFound(err) {
					if ctx.Err() == nil {
						d.log.Warn("run metrics unreadable", "run_id", id, "err", err)
					}
					continue // tried again by the next request
				}
				out[i] = node
				d.rootMu.Lock()
				d.roots[id] = rootEntry{node: node, checked: now}
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

// readRoot reads the root entry of metrics/runs/<id>.json. WriteJSON puts
// it on the second line (entries are sorted by path, one per line), so
// reading the first few kilobytes is enough; any other layout is decoded
// whole.
func (d *Dashboard) readRoot(ctx context.Context, id string) (*counts, error) {
	key := store.RunMetricsKey(id)
	rc, err := d.out.NewRangeReader(ctx, key, 0, 4096)
	if err != nil {
		return nil, err
	}
	head, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	if lines := bytes.SplitN(head, []byte("\n"), 3); len(lines) == 3 {
		var e entryJSON
		line := bytes.TrimSuffix(bytes.TrimSpace(lines[1]), []byte(","))
		if json.Unmarshal(line, &e) == nil && e.Dir == "/" {
			return &e.counts, nil
		}
	}
	data, err := d.out.ReadAll(ctx, key)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Dirs []entryJSON `json:"dirs"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("dashboard: %s: %w", key, err)
	}
	for _, e := range doc.Dirs {
		if e.Dir == "/" {
			return &e.counts, nil
		}
	}
	return &counts{}, nil
}

// entryJSON is an entry of report.DirMetrics.WriteJSON.
type entryJSON struct {
	Dir string `json:"dir"`
	counts
}
