package changes

import (
	"cmp"
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/diff"
	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/store"
)

// Ids of the changes feed: tag: IRIs (RFC 4151), like the status feed's.
const (
	// FeedID is the id of the unfiltered changes feed; a filtered view
	// appends ":" and its canonical query.
	FeedID = "tag:wptfeed.org,2026:changes"
)

// EntryID is the id of a run's entry: the same when its diff is
// recomputed (with a newer updated).
func EntryID(runID string) string { return FeedID + ":" + runID }

// Index is the status index the feed reads: the processed runs, and a
// version that changes whenever they do (status.Server).
type Index interface {
	Runs() ([]*records.Run, int64)
}

// The feed's window: the newest DefaultMaxEntries runs that changed
// anything, among the newest maxScanFactor times as many VALID runs of the
// view.
const (
	DefaultMaxEntries = 100
	maxScanFactor     = 10
	topTests          = 20 // tests listed per kind in an entry
)

// FeedConfig configures a Feed.
type FeedConfig struct {
	Out          *store.Bucket
	Index        Index
	BaseURL      string // public URL of the server, for links
	CacheControl string // of the documents, as /status.atom's
	MaxEntries   int    // DefaultMaxEntries when < 1
}

// Feed serves /changes.atom. It is safe for concurrent use.
type Feed struct {
	cfg FeedConfig

	mu    sync.Mutex
	docs  map[string]*cachedDoc  // by canonical query
	diffs map[string]*diffDigest // by run id
}

type cachedDoc struct {
	version int64
	doc     *feed.Document
}

// diffDigest is what an entry shows of a stored diff.
type diffDigest struct {
	version                          int64 // of the index when last checked
	modTime                          time.Time
	before                           string
	totals                           diff.Totals
	regressions, improvements, flaky []string // the first topTests
}

// NewFeed returns the feed of cfg.
func NewFeed(cfg FeedConfig) *Feed {
	if cfg.MaxEntries < 1 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	return &Feed{cfg: cfg, docs: map[string]*cachedDoc{}, diffs: map[string]*diffDigest{}}
}

// Mount adds GET /changes.atom with route (the status server's Route).
func (f *Feed) Mount(route func(pattern string, h http.HandlerFunc)) {
	route("GET /changes.atom", f.serve)
}

// view is a parsed query: the product specs (any of them) and the least
// number of regressions of an entry.
type view struct {
	products       []spec
	minRegressions int
	query          string // canonical
}

func parseView(q url.Values) (view, error) {
	var v view
	for k := range q {
		if k != "product" && k != "min-regressions" {
			return v, fmt.Errorf("unknown query parameter %q (want product or min-regressions)", k)
		}
	}
	canon := url.Values{}
	for _, s := range q["product"] {
		for _, one := range splitSpecs(s) {
			p, err := parseSpec(one)
			if err != nil {
				return v, err
			}
			v.products = append(v.products, p)
			canon.Add("product", p.String())
		}
	}
	if s := q.Get("min-regressions"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return v, fmt.Errorf("min-regressions %q is not a number ≥ 0", s)
		}
		v.minRegressions = n
		if n > 0 {
			canon.Set("min-regressions", strconv.Itoa(n))
		}
	}
	if len(canon) > 0 {
		v.query = "?" + canon.Encode()
	}
	return v, nil
}

func (f *Feed) serve(w http.ResponseWriter, r *http.Request) {
	v, err := parseView(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	runs, version := f.cfg.Index.Runs()
	f.mu.Lock()
	c := f.docs[v.query]
	f.mu.Unlock()
	if c == nil || c.version != version {
		doc, err := f.render(r.Context(), runs, version, v)
		if err != nil {
			http.Error(w, "changes feed: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		c = &cachedDoc{version: version, doc: doc}
		f.mu.Lock()
		if len(f.docs) > 1024 {
			clear(f.docs)
		}
		f.docs[v.query] = c
		f.mu.Unlock()
	}
	feed.Serve(w, r, c.doc)
}

// render builds a view's document: the newest MaxEntries runs of the view
// whose diff changed anything (and has at least minRegressions
// regressions), newest run first. Its updated time is the newest entry's
// (the Unix epoch for none), so it depends on the bucket alone.
func (f *Feed) render(ctx context.Context, runs []*records.Run, version int64, v view) (*feed.Document, error) {
	fd := &feed.Feed{
		ID:       FeedID,
		Title:    "wptfeed changes",
		Subtitle: "One entry per run that changed anything against the previous run of its product, channel and labels: regressions, newly passing tests, flaky tests apart",
		Updated:  time.Unix(0, 0).UTC(),
		Author:   feed.Person{Name: "wptfeed ingester"},
		Links: []feed.Link{{Rel: "self", Href: f.cfg.BaseURL + "/changes.atom" + v.query, Type: "application/atom+xml"},
			{Rel: "alternate", Href: f.cfg.BaseURL + "/", Type: "text/html"}},
	}
	if v.query != "" {
		q := strings.TrimPrefix(v.query, "?")
		fd.ID += ":" + q
		if u, err := url.QueryUnescape(q); err == nil {
			q = u
		}
		fd.Title += " (" + strings.ReplaceAll(q, "&", ", ") + ")"
	}
	var sel []*records.Run
	for _, r := range runs {
		if r.State != records.StateValid || r.TestRun == nil {
			continue
		}
		if len(v.products) > 0 && !slices.ContainsFunc(v.products, func(p spec) bool { return p.match(r) }) {
			continue
		}
		sel = append(sel, r)
	}
	slices.SortFunc(sel, func(a, b *records.Run) int {
		if c := b.Time().Compare(a.Time()); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	sel = sel[:min(len(sel), maxScanFactor*f.cfg.MaxEntries)]
	for _, r := range sel {
		if len(fd.Entries) == f.cfg.MaxEntries {
			break
		}
		dg, err := f.digest(ctx, r.ID, version)
		if err != nil {
			return nil, err
		}
		t := dg.totals
		if dg.before == "" || t.Added+t.Deleted+t.Changed == 0 || t.Regressions < v.minRegressions {
			continue
		}
		e := f.entry(r, dg)
		if e.Updated.After(fd.Updated) {
			fd.Updated = e.Updated
		}
		fd.Entries = append(fd.Entries, e)
	}
	return feed.NewDocument(fd, f.cfg.CacheControl)
}

// digest returns what the feed shows of a run's diff, an empty one when
// the run has none (processed before diffs were written): cached, its
// attributes checked once per index version (a diff is recomputed only
// when an older run arrives, which changes the index) and the diff read
// again when it changed.
func (f *Feed) digest(ctx context.Context, runID string, version int64) (*diffDigest, error) {
	f.mu.Lock()
	dg := f.diffs[runID]
	fresh := dg != nil && dg.version == version
	f.mu.Unlock()
	if fresh {
		return dg, nil
	}
	a, err := f.cfg.Out.Attributes(ctx, store.DiffKey(runID))
	switch {
	case store.IsNotFound(err):
		dg = &diffDigest{version: version}
	case err != nil:
		return nil, err
	case dg != nil && !dg.modTime.IsZero() && dg.modTime.Equal(a.ModTime):
		c := *dg // shared with other requests: a copy
		c.version = version
		dg = &c
	default:
		d, err := ReadDiff(ctx, f.cfg.Out, runID)
		if err != nil {
			return nil, err
		}
		top := func(s []string) []string { return slices.Clone(s[:min(len(s), topTests)]) }
		dg = &diffDigest{version: version, modTime: a.ModTime, before: d.Before, totals: d.Totals,
			regressions: top(d.Regressions), improvements: top(d.Improvements), flaky: top(d.Flaky)}
	}
	f.mu.Lock()
	if len(f.diffs) > 100_000 {
		clear(f.diffs)
	}
	f.diffs[runID] = dg
	f.mu.Unlock()
	return dg, nil
}

// Title returns an entry's title: "<product> <major version> [<labels>]:
// N regressions, M newly passing[, K flaky] (vs run <before>)", the labels
// without the product's name.
func Title(tr *records.TestRun, t diff.Totals, before string) string {
	head := tr.BrowserName
	if v, _, _ := strings.Cut(tr.BrowserVersion, "."); v != "" {
		head += " " + v
	}
	var labels []string
	for _, l := range tr.Labels {
		if l != tr.BrowserName {
			labels = append(labels, l)
		}
	}
	if len(labels) > 0 {
		head += " [" + strings.Join(labels, ",") + "]"
	}
	s := fmt.Sprintf("%s: %s, %d newly passing", head, plural(t.Regressions, "regression"), t.Improvements)
	if t.Flaky > 0 {
		s += fmt.Sprintf(", %d flaky", t.Flaky)
	}
	return s + " (vs run " + before + ")"
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

func (f *Feed) entry(r *records.Run, dg *diffDigest) feed.Entry {
	tr := r.TestRun
	q := "?before=" + url.QueryEscape(dg.before) + "&after=" + url.QueryEscape(r.ID)
	e := feed.Entry{
		ID:      EntryID(r.ID),
		Title:   Title(tr, dg.totals, dg.before),
		Updated: dg.modTime.UTC(),
		Summary: summary(dg),
		HTML:    f.content(r.ID, dg),
		Links: []feed.Link{
			{Rel: "alternate", Href: f.cfg.BaseURL + "/" + q, Type: "text/html", Title: "diff page"},
			{Rel: "alternate", Href: f.cfg.BaseURL + "/api/diff" + q, Type: "application/json", Title: "diff"},
		},
	}
	e.Categories = append(e.Categories, feed.Category{Term: tr.BrowserName, Scheme: feed.SchemeProduct})
	for _, l := range tr.Labels {
		if l != "" {
			e.Categories = append(e.Categories, feed.Category{Term: l, Scheme: feed.SchemeLabel})
		}
	}
	return e
}

// summary is an entry's text (atom:summary): the counts.
func summary(dg *diffDigest) string {
	t := dg.totals
	return fmt.Sprintf("%s, %d newly passing, %d flaky; %d added, %d deleted, %d changed tests (vs run %s).",
		plural(t.Regressions, "regression"), t.Improvements, t.Flaky, t.Added, t.Deleted, t.Changed, dg.before)
}

// content is an entry's HTML (atom:content type="html"): the counts, then
// a list each of the top regressions, newly passing and flaky tests (apart:
// not counted in the others), each test linked to its results in the run
// and in the previous run on the dashboard page. Every name is escaped with
// html.EscapeString and every link's query with url.QueryEscape, so a
// test name cannot add markup; an href holds no character reference but
// &amp; (Python's feedparser cuts an href at a &#34;).
func (f *Feed) content(after string, dg *diffDigest) string {
	t := dg.totals
	runLink := func(run, path, text string) string {
		q := "?run=" + url.QueryEscape(run)
		if path != "" {
			q += "&path=" + url.QueryEscape(path)
		}
		return `<a href="` + html.EscapeString(f.cfg.BaseURL+"/"+q) + `">` + html.EscapeString(text) + "</a>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<p>%s, %d newly passing, %d flaky; %d added, %d deleted, %d changed tests, from run %s to run %s.</p>\n",
		plural(t.Regressions, "regression"), t.Improvements, t.Flaky, t.Added, t.Deleted, t.Changed,
		runLink(dg.before, "", dg.before), runLink(after, "", after))
	for _, l := range []struct {
		name  string
		n     int
		tests []string
	}{{"Regressions", t.Regressions, dg.regressions}, {"Newly passing", t.Improvements, dg.improvements},
		{"Flaky (not counted as regressions or newly passing)", t.Flaky, dg.flaky}} {
		if len(l.tests) == 0 {
			continue
		}
		fmt.Fprintf(&b, "<p>%s:</p>\n<ul>\n", l.name)
		for _, p := range l.tests {
			fmt.Fprintf(&b, "<li>%s (%s)</li>\n", runLink(after, p, p), runLink(dg.before, p, "before"))
		}
		if l.n > len(l.tests) {
			fmt.Fprintf(&b, "<li>… and %d more</li>\n", l.n-len(l.tests))
		}
		b.WriteString("</ul>\n")
	}
	return b.String()
}
