package publisher

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/store"
)

// Each published run has a small web page, /runs/<run id>/, which every
// feed entry links as its first alternate (text/html): what a person
// opens from a feed reader. It is built with html/template, so no value of
// a manifest can inject markup, and needs no script: its
// Content-Security-Policy allows nothing but its own style sheet.
//
// The page says what the entry says, and nothing else changes it: it
// answers 404 until the run is published, and a run's manifest and
// derived values are written once before that. It still depends on the
// publisher's configuration (--base-url, --status-url) and version, so it
// is cached for a day (Cache-Control) and revalidated by its ETag, not
// marked immutable like the run's files and archive pages.

var (
	//go:embed runpage.html
	runPageHTML string
	//go:embed runpage.css
	runPageCSS string

	runPageTemplate = template.Must(template.New("runpage.html").Parse(runPageHTML))
	// runPageCSP allows the page's style element and nothing else.
	runPageCSP = func() string {
		sum := sha256.Sum256([]byte(runPageCSS))
		return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	}()
)

const (
	// runPageCacheControl: see above.
	runPageCacheControl = "public, max-age=86400"
	runPageContentType  = "text/html; charset=utf-8"
	// WPTCommitURL is where a revision's page is: the wpt commit.
	WPTCommitURL = "https://github.com/web-platform-tests/wpt/commit/"
	// maxCachedRunPages bounds the run pages kept rendered.
	maxCachedRunPages = 256
)

// runPages keeps the rendered pages of published runs, which do not change.
type runPages struct {
	mu   sync.Mutex
	docs map[string]*feed.Document
}

func (p *runPages) get(id string) *feed.Document {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.docs[id]
}

func (p *runPages) put(id string, doc *feed.Document) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.docs == nil || len(p.docs) >= maxCachedRunPages {
		p.docs = map[string]*feed.Document{}
	}
	p.docs[id] = doc
}

// RunPageURL is the URL of a run's web page under base.
func RunPageURL(base, runID string) string { return base + "/runs/" + runID + "/" }

// serveRunPage answers GET /runs/<run id>/: the run's page, 404 unless
// the run is published.
func (s *Server) serveRunPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !store.ValidRunID(id) {
		http.Error(w, "no such run", http.StatusNotFound)
		return
	}
	doc, err := s.runPage(r.Context(), id)
	if store.IsNotFound(err) {
		// It may be published at the next scan.
		w.Header().Set("Cache-Control", "no-cache")
		http.Error(w, "run "+id+" is not published", http.StatusNotFound)
		return
	}
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	w.Header().Set("Content-Security-Policy", runPageCSP)
	feed.Serve(w, r, doc)
}

// redirectRunPage sends /runs/<run id> to the run's page.
func (s *Server) redirectRunPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !store.ValidRunID(id) {
		http.Error(w, "no such run", http.StatusNotFound)
		return
	}
	http.Redirect(w, r, id+"/", http.StatusMovedPermanently)
}

// runPage returns the page of a published run; an error wrapping
// store.ErrNotFound when it is not published (or its manifest is gone).
func (s *Server) runPage(ctx context.Context, id string) (*feed.Document, error) {
	if doc := s.pages.get(id); doc != nil {
		return doc, nil
	}
	seq, err := s.bucket.PublishedSeq(ctx, id)
	if err != nil {
		return nil, err
	}
	m, missing, err := s.bucket.ReadCommit(ctx, id)
	if errors.Is(err, store.ErrInvalid) {
		// Published before the manifest rules, then replaced by hand.
		return nil, fmt.Errorf("serve: run %s: %w (%w)", id, store.ErrNotFound, err)
	}
	if err != nil {
		return nil, err
	}
	given := slices.Clone(m.Shards)
	d, filled, err := derivedValues(ctx, s.bucket, m)
	if err != nil {
		if store.IsTemporary(err) || errors.Is(err, context.Canceled) {
			return nil, err
		}
		s.log.Warn("values derived for a published run are unreadable; its page shows its manifest only", "run_id", id, "err", err)
	}
	body, err := renderRunPage(s.cfg.BaseURL, s.cfg.StatusURL, newRun(seq, m), given, missing, d, filled)
	if err != nil {
		return nil, err
	}
	doc := &feed.Document{Body: body, ContentType: runPageContentType, CacheControl: runPageCacheControl}
	s.pages.put(id, doc)
	return doc, nil
}

// runPageData is what runpage.html shows.
type runPageData struct {
	Title, Product           string
	Fields                   []pageField
	Shards                   []pageShard
	FeedURL, ManifestURL     string
	ProductFeedURL           string
	StatusURL, StatusFeedURL string
	AnyDerived               bool
	Warnings                 []string
	CSS                      template.CSS
}

type pageField struct {
	Name, Value, URL string
	Time             time.Time // shown instead of Value when set
	Derived          bool
}

type pageShard struct {
	Name, URL, Size, SHA256 string
	Missing, Derived        bool
}

// renderRunPage renders the page of published run r: given are its
// shards as the manifest gave them (before derived values filled them),
// missing the shards that do not exist, d (nil: none) and filled what was
// derived for it and what of it filled the manifest's gaps.
func renderRunPage(base, ingesterURL string, r *run, given []store.Shard, missing []string, d *store.Derived, filled []string) ([]byte, error) {
	m := r.m
	runBase := base + "/runs/" + m.RunID + "/"
	was := func(f string) bool { return slices.Contains(filled, f) }
	p := runPageData{
		Title:       entryTitle(m),
		Product:     m.Product,
		FeedURL:     base + "/feed.atom",
		ManifestURL: runBase + store.ManifestName,
		CSS:         template.CSS(runPageCSS),
	}
	rev := pageField{Name: "Revision", Value: m.Revision, Derived: was("revision")}
	if lc := strings.ToLower(m.Revision); isHex40(lc) {
		rev.URL = WPTCommitURL + lc
	}
	p.Fields = []pageField{
		{Name: "Run", Value: fmt.Sprintf("%s (publication %d)", m.RunID, r.seq)},
		{Name: "Product", Value: m.Product, Derived: was("product")},
		{Name: "Browser version", Value: m.BrowserVersion, Derived: was("browser_version")},
		{Name: "OS", Value: m.OS, Derived: was("os")},
		{Name: "OS version", Value: m.OSVersion, Derived: was("os_version")},
		rev,
		{Name: "Channel", Value: m.BrowserChannel, Derived: was("browser_channel")},
		{Name: "Labels", Value: strings.Join(r.labels, ", ")},
		{Name: "Uploaded", Time: m.Uploaded.UTC()},
		{Name: "Started", Time: m.TimeStart.UTC(), Derived: was("time_start")},
		{Name: "Ended", Time: m.TimeEnd.UTC(), Derived: was("time_end")},
	}
	for i := range p.Fields {
		p.AnyDerived = p.AnyDerived || p.Fields[i].Derived
	}
	for i, sh := range m.Shards {
		ps := pageShard{Name: sh.Name, URL: runBase + sh.Name, SHA256: sh.SHA256, Missing: slices.Contains(missing, sh.Name)}
		if sh.Size > 0 {
			ps.Size = groupDigits(sh.Size)
		}
		ps.Derived = sh.SHA256 != "" && i < len(given) && given[i].SHA256 == ""
		p.AnyDerived = p.AnyDerived || ps.Derived
		p.Shards = append(p.Shards, ps)
	}
	if m.Product != "" {
		p.ProductFeedURL = base + "/feed.atom?" + url.Values{"product": {m.Product}}.Encode()
	}
	if ingesterURL != "" {
		p.StatusURL = ingesterURL + "/api/status/" + m.RunID
		p.StatusFeedURL = ingesterURL + "/status.atom"
		if m.Product != "" {
			p.StatusFeedURL += "?" + url.Values{"product": {m.Product}}.Encode()
		}
	}
	if d != nil {
		p.Warnings = d.Warnings
	}
	var buf bytes.Buffer
	if err := runPageTemplate.Execute(&buf, p); err != nil {
		return nil, fmt.Errorf("serve: render the page of run %s: %w", m.RunID, err)
	}
	return buf.Bytes(), nil
}

// groupDigits writes n with thousands separators: 3,111,064.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
