package changes_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wptfeed/wptfeed/cmd/internal/changes"
	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/feed/feedtest"
	"github.com/wptfeed/wptfeed/store"
)

// bucketIndex is the status index of a bucket, read again on each
// refresh (the status server's, without the scans).
type bucketIndex struct {
	b       *store.Bucket
	runs    []*records.Run
	version atomic.Int64
}

func (x *bucketIndex) Runs() ([]*records.Run, int64) { return x.runs, x.version.Load() }

func (x *bucketIndex) refresh(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	var runs []*records.Run
	err := x.b.List(ctx, store.StatusPrefix, "", func(o store.Object) bool {
		id, ok := store.StatusRunID(o.Key)
		if !ok {
			return true
		}
		var st records.Status
		if _, err := x.b.ReadJSON(ctx, o.Key, &st); err != nil {
			t.Error(err)
			return false
		}
		r := &records.Run{ID: id, State: st.State, Status: &st, Labels: st.Labels}
		r.Uploaded, _ = store.RunTime(id)
		var tr records.TestRun
		if ok, _ := x.b.ReadJSON(ctx, store.TestRunKey(id), &tr); ok {
			r.TestRun = &tr
		}
		runs = append(runs, r)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(runs)
	x.runs = runs
	x.version.Add(1)
}

func getFeed(t *testing.T, srv *httptest.Server, query string) (*feed.Feed, []byte) {
	t.Helper()
	resp, err := http.Get(srv.URL + "/changes.atom" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /changes.atom%s: %s: %s", query, resp.Status, body)
	}
	fd, err := feed.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("decode: %v\n%s", err, body)
	}
	return fd, body
}

// TestFeed_Stream is the stream: 30 runs of one series with a
// planted regression (run 15), its fix (run 22) and a test that flaps
// every run from the start. After the first 10 runs, the feed lists
// exactly the regression and the fix, and the flapping test only as
// flaky.
func TestFeed_Stream(t *testing.T) {
	p := newProcessor(t, &changes.Recorder{}) // K=3, N=10
	idx := &bucketIndex{b: p.Out}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	changes.NewFeed(changes.FeedConfig{Out: p.Out, Index: idx, BaseURL: "https://dash.test", CacheControl: "public, max-age=2"}).
		Mount(func(pattern string, h http.HandlerFunc) { mux.HandleFunc(pattern, h) })

	for i := range 30 {
		tests := map[string]result{"/stable.html": {status: "PASS"}, "/regress.html": {status: "PASS"}, "/flap.html": {status: "PASS"}}
		if i >= 15 && i < 22 {
			tests["/regress.html"] = result{status: "FAIL"}
		}
		if i%2 == 1 {
			tests["/flap.html"] = result{status: "FAIL"}
		}
		mustIngest(t, p, i, tests)
	}
	idx.refresh(t)
	fd, body := getFeed(t, srv, "?product=chrome[experimental]")
	feedtest.Jing(t, body)

	type got struct{ regressions, improvements, flaky []string }
	byRun := map[string]got{}
	for _, e := range fd.Entries {
		id := strings.TrimPrefix(e.ID, changes.EntryID(""))
		d, err := changes.ReadDiff(t.Context(), p.Out, id)
		if err != nil {
			t.Fatal(err)
		}
		byRun[id] = got{d.Regressions, d.Improvements, d.Flaky}
		if want := changes.Title(idx.runByID(id).TestRun, d.Totals, d.Before); e.Title != want {
			t.Errorf("entry %s: title %q, want %q", id, e.Title, want)
		}
	}
	// The entry of the regression, as a subscriber reads it.
	for _, e := range fd.Entries {
		if e.ID != changes.EntryID(runID(15)) {
			continue
		}
		if want := "chrome 132 [experimental]: 1 regression, 0 newly passing, 1 flaky (vs run " + runID(14) + ")"; e.Title != want {
			t.Errorf("title %q, want %q", e.Title, want)
		}
		if want := "1 regression, 0 newly passing, 1 flaky; 0 added, 0 deleted, 2 changed tests (vs run " + runID(14) + ")."; e.Summary != want {
			t.Errorf("summary %q, want %q", e.Summary, want)
		}
		link := func(run, path string) string {
			return `<a href="https://dash.test/?run=` + run + `&amp;path=` + strings.ReplaceAll(path, "/", "%2F") + `">`
		}
		if want := "<p>Regressions:</p>\n<ul>\n<li>" + link(runID(15), "/regress.html") + "/regress.html</a> (" + link(runID(14), "/regress.html") + "before</a>)</li>\n</ul>\n"; !strings.Contains(e.HTML, want) {
			t.Errorf("content %q: want /regress.html under the regressions, linked to its results in both runs:\n%s", e.HTML, want)
		}
		if want := "<p>Flaky (not counted as regressions or newly passing):</p>\n<ul>\n<li>" + link(runID(15), "/flap.html") + "/flap.html</a>"; !strings.Contains(e.HTML, want) {
			t.Errorf("content %q: want /flap.html apart, as flaky", e.HTML)
		}
		if l := e.Link("alternate"); l != "https://dash.test/?before="+runID(14)+"&after="+runID(15) {
			t.Errorf("link %q, want the diff page", l)
		}
		var cats []string
		for _, c := range e.Categories {
			cats = append(cats, c.Scheme+" "+c.Term)
		}
		if want := []string{feed.SchemeProduct + " chrome", feed.SchemeLabel + " chrome", feed.SchemeLabel + " experimental"}; !slices.Equal(cats, want) {
			t.Errorf("categories %v, want %v", cats, want)
		}
	}
	if len(fd.Entries) != 29 {
		t.Errorf("%d entries, want 29 (every run but the first changed the flapping test)", len(fd.Entries))
	}
	for i := 10; i < 30; i++ {
		g := byRun[runID(i)]
		var wantReg, wantImp []string
		switch i {
		case 15:
			wantReg = []string{"/regress.html"}
		case 22:
			wantImp = []string{"/regress.html"}
		}
		if !slices.Equal(g.regressions, wantReg) && len(g.regressions)+len(wantReg) > 0 ||
			!slices.Equal(g.improvements, wantImp) && len(g.improvements)+len(wantImp) > 0 ||
			!slices.Equal(g.flaky, []string{"/flap.html"}) {
			t.Errorf("run %d: got %+v; want regressions %v, newly passing %v, flaky [/flap.html]", i, g, wantReg, wantImp)
		}
	}
	// The rule's warm-up: the flapping test's first two changes (runs 1
	// and 2) are reported normally, from its third on it is flaky.
	if g := byRun[runID(1)]; !slices.Equal(g.regressions, []string{"/flap.html"}) {
		t.Errorf("run 1: got %+v, want /flap.html a regression", g)
	}
	if g := byRun[runID(3)]; !slices.Equal(g.flaky, []string{"/flap.html"}) || len(g.regressions) > 0 {
		t.Errorf("run 3: got %+v, want /flap.html flaky", g)
	}

	// min-regressions keeps the run with the regression only.
	fd, _ = getFeed(t, srv, "?product=chrome[experimental]&min-regressions=1")
	var ids []string
	for _, e := range fd.Entries {
		ids = append(ids, strings.TrimPrefix(e.ID, changes.EntryID("")))
	}
	if want := []string{runID(15), runID(1)}; !slices.Equal(ids, want) {
		t.Errorf("min-regressions=1: entries %v, want %v", ids, want)
	}
	// Another product's view is empty.
	if fd, _ := getFeed(t, srv, "?product=firefox"); len(fd.Entries) != 0 {
		t.Errorf("firefox: %d entries", len(fd.Entries))
	}
}

func (x *bucketIndex) runByID(id string) *records.Run {
	for _, r := range x.runs {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// TestFeed_Recomputed: after an out-of-order arrival, the next run's entry
// keeps its id, with the new previous run and a newer updated.
func TestFeed_Recomputed(t *testing.T) {
	p := newProcessor(t, &changes.Recorder{})
	idx := &bucketIndex{b: p.Out}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	changes.NewFeed(changes.FeedConfig{Out: p.Out, Index: idx, BaseURL: "https://dash.test"}).
		Mount(func(pattern string, h http.HandlerFunc) { mux.HandleFunc(pattern, h) })
	mustIngest(t, p, 0, map[string]result{"/a.html": {status: "PASS"}, "/b.html": {status: "PASS"}})
	mustIngest(t, p, 2, map[string]result{"/a.html": {status: "FAIL"}, "/b.html": {status: "FAIL"}})
	idx.refresh(t)
	fd, _ := getFeed(t, srv, "")
	if len(fd.Entries) != 1 || !strings.Contains(fd.Entries[0].Title, "(vs run "+runID(0)+")") {
		t.Fatalf("before: got %d entries %v", len(fd.Entries), fd.Entries)
	}
	first := fd.Entries[0]
	mustIngest(t, p, 1, map[string]result{"/a.html": {status: "FAIL"}, "/b.html": {status: "PASS"}})
	idx.refresh(t)
	fd, body := getFeed(t, srv, "")
	feedtest.Jing(t, body)
	var e *feed.Entry
	for i := range fd.Entries {
		if fd.Entries[i].ID == first.ID {
			e = &fd.Entries[i]
		}
	}
	if e == nil || !strings.Contains(e.Title, "(vs run "+runID(1)+")") || e.Updated.Before(first.Updated) {
		t.Fatalf("after: entry %+v; want %s against run 1, updated after %v", e, first.ID, first.Updated)
	}
	if !strings.Contains(e.Title, ": 1 regression, ") || !strings.Contains(first.Title, ": 2 regressions, ") {
		t.Errorf("titles %q, then %q: want 2 regressions against run 0, then 1 against run 1", first.Title, e.Title)
	}
}

// TestFeed_BadQuery: unknown parameters and bad specs are 400.
func TestFeed_BadQuery(t *testing.T) {
	f := changes.NewFeed(changes.FeedConfig{Index: &bucketIndex{}})
	mux := http.NewServeMux()
	f.Mount(func(pattern string, h http.HandlerFunc) { mux.HandleFunc(pattern, h) })
	for _, q := range []string{"?foo=1", "?product=chrome@abc", "?product=chrome[x", "?min-regressions=-1", "?product=a-b-c-d-e"} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", "/changes.atom"+q, nil))
		if w.Code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, w.Code)
		}
	}
}
