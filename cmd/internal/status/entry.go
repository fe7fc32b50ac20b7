package status

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
)

// newRec derives the index entry of a record. Product and labels come
// from the status record, or from the TestRun for records written before
// the status record carried them.
func newRec(st *records.Status, tr *records.TestRun, base string) *rec {
	r := &rec{Run: records.Run{ID: st.RunID, State: st.State, TestRun: tr}}
	brief := *st
	brief.Warnings = nil
	r.Status = &brief
	r.Uploaded, _ = store.RunTime(st.RunID) // the run id is valid
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
	// filter.match.
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
			r.Products = addUnique(r.Products, p, norm.Product)
		}
	}
	r.Labels = addUnique(slices.Clone(labels), r.Products...)

	api := base + "/api/status/" + st.RunID
	e := feed.Entry{
		ID:        EntryID(st.RunID),
		Title:     title(st, tr, product),
		Updated:   st.Ingested.UTC(),
		Published: st.Ingested.UTC(), // when the status was recorded: records are write-once
		Summary:   summary(st, api),
	}
	if st.Ingested.IsZero() {
		e.Updated, e.Published = r.Uploaded.UTC(), time.Time{}
	}
	// The run's web page first: readers take the first alternate as the
	// entry's link, and a person wants the page, not JSON.
	if st.Page != "" {
		e.Links = append(e.Links, feed.Link{Rel: "alternate", Href: st.Page, Type: "text/html", Title: "run page"})
	}
	e.Links = append(e.Links, feed.Link{Rel: "alternate", Href: api, Type: "application/json", Title: "status record"})
	if st.Manifest != "" {
		e.Links = append(e.Links, feed.Link{Rel: "related", Href: st.Manifest, Type: "application/json", Title: "run manifest"})
	}
	e.Categories = append(e.Categories, feed.Category{Term: st.State, Scheme: SchemeState})
	if st.Code != "" {
		e.Categories = append(e.Categories, feed.Category{Term: st.Code, Scheme: SchemeCode})
	}
	if st.Feed != "" {
		e.Categories = append(e.Categories, feed.Category{Term: st.Feed, Scheme: SchemeFeed})
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

// title is "<STATE>[ (<code>)]: <what>", where what is
// "<product> <version> <os> @ <revision, 10 hex>" for a run with a TestRun,
// else "[<product> ]run <run id>".
func title(st *records.Status, tr *records.TestRun, product string) string {
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

// summary is the entry's text: the state and reason, then the
// warnings, then where the run came from.
func summary(st *records.Status, api string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run %s is %s", st.RunID, st.State)
	if st.Code != "" {
		fmt.Fprintf(&b, " (%s)", st.Code)
	}
	switch {
	case st.Error != "":
		fmt.Fprintf(&b, ": %s", st.Error)
	case st.State == records.StateValid:
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
