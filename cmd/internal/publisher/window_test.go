package publisher

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/store"
)

// wantLatest is what a subscription document lists, by its definition: of
// the matching runs among seqs 1..n, every one after the newest archive
// page, and the newest others up to entries in all, none lookBack or more
// entries before the newest unless it is after the newest archive page.
func wantLatest(n, pageSize, entries, lookBack int64, match func(seq int64) bool) []int64 {
	archived := n / pageSize * pageSize
	oldest := max(min(n-lookBack, archived), 0)
	var seqs []int64
	for seq := n; seq > oldest; seq-- {
		if !match(seq) {
			continue
		}
		if seq <= archived && int64(len(seqs)) >= entries {
			break
		}
		seqs = append(seqs, seq)
	}
	return seqs
}

func seqsOf(runs []*run) []int64 {
	var out []int64
	for _, r := range runs {
		out = append(out, r.seq)
	}
	return out
}

// TestIndex_Latest checks the sliding window of the subscription document
// after every publication, and after a restart, for window sizes below, at
// and above the page size, unfiltered and filtered.
func TestIndex_Latest(t *testing.T) {
	tests := []struct {
		name                string
		pageSize, entries   int
		lookBack            int64
		runs                int
		product             string // filter; "" = every run
		checkEvery, restart int
	}{
		{name: "entries = page size", pageSize: 10, entries: 10, lookBack: 100, runs: 45},
		{name: "entries = page size, at a page's end", pageSize: 10, entries: 10, lookBack: 100, runs: 40},
		{name: "entries < page size", pageSize: 10, entries: 3, lookBack: 30, runs: 35},
		{name: "entries > page size", pageSize: 10, entries: 25, lookBack: 250, runs: 61},
		{name: "filtered", pageSize: 10, entries: 4, lookBack: 40, runs: 75, product: "firefox"},
		{name: "filtered, short look-back", pageSize: 10, entries: 8, lookBack: 12, runs: 45, product: "safari"},
		{name: "filtered, no match", pageSize: 10, entries: 8, lookBack: 80, runs: 33, product: "edge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			b, err := store.Open(ctx, "mem://")
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			products := []string{"chrome", "firefox", "safari"}
			f := filter{}
			if tt.product != "" {
				f.product = []string{tt.product}
			}
			match := func(seq int64) bool { return tt.product == "" || products[(seq-1)%3] == tt.product }
			check := func(ix *index, n int64, when string) {
				t.Helper()
				runs, pages, _, err := ix.latest(ctx, f.match, tt.lookBack)
				if err != nil {
					t.Fatal(err)
				}
				want := wantLatest(n, int64(tt.pageSize), int64(tt.entries), tt.lookBack, match)
				if got := seqsOf(runs); !slices.Equal(got, want) {
					t.Fatalf("%s, %d runs: got seqs %v, want %v", when, n, got, want)
				}
				if want := n / int64(tt.pageSize); pages != want {
					t.Fatalf("%s, %d runs: got %d archive pages, want %d", when, n, pages, want)
				}
			}
			ix := newIndex(b, tt.pageSize, tt.entries)
			t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
			for i := range tt.runs {
				id := store.NewRunID(t0.Add(time.Duration(i) * time.Second))
				m := &store.Manifest{Version: 1, RunID: id, Uploaded: t0, Product: products[i%3], BrowserVersion: "1", OS: "linux",
					Revision: fmt.Sprintf("%040x", i), Shards: []store.Shard{{Name: "s.json.gz", Size: 1}}}
				if err := b.PutManifest(ctx, id, m); err != nil {
					t.Fatal(err)
				}
				if ok, err := ix.publish(ctx, m); err != nil || !ok {
					t.Fatalf("publish %d: %v, %v", i, ok, err)
				}
				check(ix, int64(i+1), "live")
				if len(ix.window) > max(tt.entries, tt.pageSize) {
					t.Fatalf("window holds %d runs, want at most %d", len(ix.window), max(tt.entries, tt.pageSize))
				}
			}
			restarted := newIndex(b, tt.pageSize, tt.entries)
			if _, err := restarted.load(ctx); err != nil {
				t.Fatal(err)
			}
			check(restarted, int64(tt.runs), "restarted")
			// Again, from the window's copy as of the newest archive page.
			w, _, _ := ix.sealed()
			if w == nil || w.Last != int64(tt.runs/tt.pageSize*tt.pageSize) {
				t.Fatalf("copy to store: %+v, want one ending at the newest archive page's last entry", w)
			}
			if err := b.WriteWindow(ctx, w); err != nil {
				t.Fatal(err)
			}
			fromCopy := newIndex(b, tt.pageSize, tt.entries)
			wantCurrent := tt.runs%tt.pageSize == 0
			if current, err := fromCopy.load(ctx); err != nil || (current != nil) != wantCurrent {
				t.Fatalf("load from the window's copy: current %v, err %v; want current %v", current, err, wantCurrent)
			}
			check(fromCopy, int64(tt.runs), "restarted from the window's copy")
		})
	}
}

// BenchmarkSubscription measures what a change of the index costs the
// first request of /feed.atom after it: selecting the window's runs and
// rendering them, at the default window and at 300 entries, unfiltered and
// filtered (a third of the runs match).
func BenchmarkSubscription(b *testing.B) {
	for _, entries := range []int{100, 300} {
		for _, filtered := range []bool{false, true} {
			b.Run(fmt.Sprintf("entries=%d/filtered=%v", entries, filtered), func(b *testing.B) {
				ctx := context.Background()
				bk, err := store.Open(ctx, "mem://")
				if err != nil {
					b.Fatal(err)
				}
				defer bk.Close()
				ix := newIndex(bk, 100, entries)
				t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
				products := []string{"chrome", "firefox", "safari"}
				var runs []*run
				for i := range 3 * entries {
					id := store.NewRunID(t0.Add(time.Duration(i) * time.Second))
					m := &store.Manifest{Version: 1, RunID: id, Uploaded: t0.Add(time.Duration(i) * time.Second), Product: products[i%3],
						BrowserVersion: "131.0.6778.85", OS: "linux", OSVersion: "24.04", Revision: fmt.Sprintf("%040x", i), BrowserChannel: "stable",
						Labels: []string{"buildbot"}, Shards: []store.Shard{{Name: "shard-000.json.gz", Size: 3111064, SHA256: fmt.Sprintf("%064x", i)}}}
					runs = append(runs, newRun(int64(i+1), m))
				}
				ix.mu.Lock()
				ix.addLocked(runs)
				ix.mu.Unlock()
				// The archive pages a filtered document looks back into, as
				// cached after their first read.
				for k := int64(1); k*100 <= int64(len(runs)); k++ {
					page := slices.Clone(runs[(k-1)*100 : k*100])
					slices.Reverse(page)
					ix.pages[k] = page
				}
				f := filter{}
				if filtered {
					f.product = []string{"firefox"}
				}
				rd := &renderer{baseURL: "https://results.example.org", author: "wptfeed publisher", maxAge: time.Second, pageSize: 100}
				b.ReportAllocs()
				var size int
				for b.Loop() {
					sel, pages, _, err := ix.latest(ctx, f.match, filterLookBack*int64(entries))
					if err != nil {
						b.Fatal(err)
					}
					doc, err := rd.subscription(sel, pages, f)
					if err != nil {
						b.Fatal(err)
					}
					size = len(doc.Body)
				}
				b.ReportMetric(float64(size), "bytes/doc")
			})
		}
	}
}

// logReads counts, through store.WithFaults, the reads of log entries and
// of manifests.
type logReads struct{ entries, manifests atomic.Int64 }

func (c *logReads) fault(op, key string) error {
	switch {
	case op != "read":
	case strings.HasPrefix(key, "feed/log/"):
		c.entries.Add(1)
	case strings.HasSuffix(key, "/"+store.ManifestName):
		c.manifests.Add(1)
	}
	return nil
}

// TestIndex_WindowCopy checks a restart from the stored copy of the window
// as of the newest archive page (store.Window): it reads no log entry or
// manifest when the log ends at that page; it reads from the log exactly
// the entries appended after the page, so that the copy never hides a run;
// and it reads the log when the copy is missing or unreadable. The copy
// the index keeps to store at a page's end is its window then.
func TestIndex_WindowCopy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var reads logReads
	b, err := store.Open(ctx, "mem://", store.WithFaults(reads.fault))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const pageSize, entries = 10, 8
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	ix := newIndex(b, pageSize, entries)
	publish := func(to int) {
		t.Helper()
		for i := int(ix.count()); i < to; i++ {
			id := store.NewRunID(t0.Add(time.Duration(i) * time.Second))
			m := &store.Manifest{Version: 1, RunID: id, Uploaded: t0, Product: "firefox", BrowserVersion: "1", OS: "linux",
				Revision: fmt.Sprintf("%040x", i), Shards: []store.Shard{{Name: "s.json.gz", Size: 1}}}
			if err := b.PutManifest(ctx, id, m); err != nil {
				t.Fatal(err)
			}
			if ok, err := ix.publish(ctx, m); err != nil || !ok {
				t.Fatalf("publish %d: %v, %v", i, ok, err)
			}
		}
	}
	// restart loads a new index and checks that it holds the same runs,
	// with the same manifests, as ix, having read wantEntries log entries.
	restart := func(name string, wantCurrent bool, wantEntries int64) {
		t.Helper()
		reads.entries.Store(0)
		reads.manifests.Store(0)
		re := newIndex(b, pageSize, entries)
		w, err := re.load(ctx)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if current := w != nil; current != wantCurrent {
			t.Errorf("%s: load reports the copy current: %v, want %v", name, current, wantCurrent)
		}
		if got := reads.entries.Load(); got != wantEntries {
			t.Errorf("%s: %d log entries read, want %d", name, got, wantEntries)
		}
		if got := reads.manifests.Load(); got != wantEntries {
			t.Errorf("%s: %d manifests read, want %d", name, got, wantEntries)
		}
		got, _ := re.windowCopy()
		want, _ := ix.windowCopy()
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		if string(gj) != string(wj) {
			t.Errorf("%s: window after restart\n%s\nwant\n%s", name, gj, wj)
		}
		if re.count() != ix.count() {
			t.Errorf("%s: count %d, want %d", name, re.count(), ix.count())
		}
		if w != nil {
			if seal, _, _ := re.sealed(); seal != nil {
				t.Errorf("%s: the restarted index would store again the copy it read (%d..%d)", name, seal.Last, seal.First)
			}
		}
	}
	// keep stores the copy the index keeps, checking it is the window as
	// of the newest archive page's end.
	keep := func(wantLast int64) {
		t.Helper()
		w, current, _ := ix.sealed()
		if w == nil || w.Last != wantLast {
			t.Fatalf("copy to store: %+v, want one ending at %d", w, wantLast)
		}
		if cw, _ := ix.windowCopy(); current {
			if gj, wj := mustJSON(t, w), mustJSON(t, cw); gj != wj {
				t.Errorf("copy at %d\n%s\nwant the window\n%s", wantLast, gj, wj)
			}
		}
		if err := b.WriteWindow(ctx, w); err != nil {
			t.Fatal(err)
		}
		ix.sealStored(w.Last)
		if w, _, _ := ix.sealed(); w != nil {
			t.Errorf("copy ending at %d still to store after it was", w.Last)
		}
	}
	publish(25)
	restart("no copy", false, 25-(min(20, 25-entries)))
	keep(20)
	restart("entries after the page", false, 5)
	publish(30)
	keep(30)
	restart("the log ends at the page", true, 0)
	publish(33)
	restart("entries after the page, again", false, 3)
	publish(40) // its copy not stored
	restart("the page's copy missing", false, 40-min(40, 40-entries))
	if err := b.WriteBytes(ctx, store.WindowKey(40), []byte("not gzip"), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	restart("the page's copy unreadable", false, 40-min(40, 40-entries))
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	p, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(p)
}

// TestServer_WindowCopyDocument checks the copies of the window a server
// stores, one per archive page and write-once, and the subscription
// document stored with one when the log ended at the page: a restart
// serves it byte for byte without rendering it, but renders again when
// runs were published after the page or when the document was rendered
// under another key (another build or configuration).
func TestServer_WindowCopyDocument(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, b := tempBucket(t, ctx)
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for i := range 20 {
		putRun(t, b, store.NewRunID(t0.Add(time.Duration(i)*time.Second)), i)
	}
	s1 := newScanServer(t, ctx, url, 10, nil)
	// One scan publishes both pages: it stores the newest page's copy only
	// (a restart reads no other), with the document.
	if err := s1.Scan(ctx, true); err != nil {
		t.Fatal(err)
	}
	_, want := serveHTTP(s1, "/feed.atom")
	stored, err := b.ReadWindow(ctx, 20)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Doc == nil || !bytes.Equal(stored.Doc.Body, want) || stored.Doc.ETag != feed.ETag(want) {
		t.Fatalf("the window's copy holds document %+v, want the served one", stored.Doc)
	}
	var keys []string
	if err := b.List(ctx, "feed/window/", "", func(o store.Object) bool { keys = append(keys, o.Key); return true }); err != nil {
		t.Fatal(err)
	}
	if wantKeys := []string{store.WindowKey(20)}; !slices.Equal(keys, wantKeys) {
		t.Errorf("copies stored: %v, want %v", keys, wantKeys)
	}
	restarted := func(name string, wantStored bool) *Server {
		t.Helper()
		s := newScanServer(t, ctx, url, 10, nil)
		if d := s.feedDoc.cur.Load(); (d != nil) != wantStored {
			t.Errorf("%s: document restored from the copy: %v, want %v", name, d != nil, wantStored)
		}
		return s
	}
	s2 := restarted("current copy", true)
	if code, got := serveHTTP(s2, "/feed.atom"); code != http.StatusOK || !bytes.Equal(got, want) {
		t.Errorf("current copy: got %d and a document of %d bytes, want 200 and the stored one (%d bytes)", code, len(got), len(want))
	}

	// Another build's copy, stored first.
	other := *stored
	other.Doc = &store.WindowDoc{Key: "another build", ETag: `"x"`, Body: []byte("<feed/>")}
	if err := b.Delete(ctx, store.WindowKey(20)); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteWindow(ctx, &other); err != nil {
		t.Fatal(err)
	}
	s3 := restarted("document of another key", false)
	if _, got := serveHTTP(s3, "/feed.atom"); !bytes.Equal(got, want) {
		t.Errorf("document of another key: got\n%s\nwant\n%s", got, want)
	}

	// A run published after the page: no copy stored, none overwritten.
	id := store.NewRunID(t0.Add(time.Hour))
	putRun(t, b, id, 20)
	if err := s1.Scan(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := s3.Scan(ctx, true); err != nil {
		t.Fatal(err)
	}
	if got, err := b.ReadWindow(ctx, 20); err != nil || got.Doc == nil || got.Doc.Key != "another build" {
		t.Errorf("copy at the page's end after scans: %+v, %v; want the one stored first", got, err)
	}
	if _, err := b.ReadWindow(ctx, 21); !store.IsNotFound(err) {
		t.Errorf("copy ending at entry 21: %v, want none", err)
	}
	s4 := restarted("runs after the page", false)
	if ids := feedRunIDs(t, s4); !slices.Contains(ids, id) {
		t.Errorf("runs after the page: the feed lists %v, want %s among them", ids, id)
	}
}

// windowCopy returns what store.Window keeps of the window now, and the
// index version it is of (for tests); nil when the window is empty.
func (ix *index) windowCopy() (*store.Window, int64) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.windowCopyLocked(ix.last), ix.version
}
