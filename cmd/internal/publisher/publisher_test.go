package publisher

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/store"
)

const testBase = "https://feed.test"

// putRun commits a run straight into the documented layout, as another tool
// would, with metadata in its manifest.
func putRun(t testing.TB, b *store.Bucket, id string, i int) {
	t.Helper()
	ctx := context.Background()
	s, err := b.PutShard(ctx, id, "shard-000.json.gz", strings.NewReader(fmt.Sprintf("run %d", i)))
	if err != nil {
		t.Fatal(err)
	}
	up, _ := store.RunTime(id)
	m := &store.Manifest{
		Version: 1, RunID: id, Uploaded: up,
		Product: []string{"chrome", "firefox", "safari"}[i%3], BrowserVersion: fmt.Sprintf("%d.0", 100+i%7),
		OS: []string{"linux", "mac", "windows"}[i%3/2*2], Revision: fmt.Sprintf("%040x", i),
		BrowserChannel: []string{"stable", "nightly"}[i%2],
		Labels:         []string{fmt.Sprintf("batch%d", i%5)},
		TimeStart:      up.Add(-time.Hour), TimeEnd: up.Add(-time.Minute),
		Shards: []store.Shard{s},
	}
	if err := b.PutManifest(ctx, id, m); err != nil {
		t.Fatal(err)
	}
}

// tempBucket opens a bucket in a new temporary directory, closed when the
// test ends, and returns it with its URL.
func tempBucket(t *testing.T, ctx context.Context) (string, *store.Bucket) {
	t.Helper()
	url := "file://" + t.TempDir()
	b, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return url, b
}

// startServer starts a publisher on bucket url with a fixed base URL and
// returns it with the address requests go to.
func startServer(t *testing.T, ctx context.Context, url string) (*Server, string) {
	t.Helper()
	return startServerWith(t, ctx, url, nil)
}

// startServerWith starts a running publisher on bucket url, as
// startServer does, with a log (nil discards) and store options.
func startServerWith(t *testing.T, ctx context.Context, url string, log *slog.Logger, opts ...store.Option) (*Server, string) {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s, err := NewServer(ctx, ServerConfig{Bucket: url, Addr: "127.0.0.1:0", BaseURL: testBase, ScanInterval: 50 * time.Millisecond,
		FullScan: time.Hour, PageSize: 100, Author: "test"}, log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Scan(ctx, true); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; s.Close() })
	return s, "http://" + s.ln.Addr().String()
}

// get fetches a feed URL (base URL mapped to addr), following no redirects.
func get(t *testing.T, addr, u string) (*http.Response, []byte) {
	t.Helper()
	u = strings.Replace(u, testBase, addr, 1)
	c := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{DisableCompression: true}, // the identity representation
	}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// walk reads /feed.atom and follows prev-archive to the end, as an RFC 5005
// consumer does, deduplicating by entry id: the subscription document lists
// the newest runs, archived or not. It returns each entry once and each
// archive's bytes, and fails the test when one document lists an id twice
// or two documents list one id differently.
func walk(t *testing.T, addr, query string) ([]feed.Entry, map[string][]byte) {
	t.Helper()
	var entries []feed.Entry
	seen := map[string]feed.Entry{}
	archives := map[string][]byte{}
	u := testBase + "/feed.atom" + query
	for i := 0; u != ""; i++ {
		if i > 1000 {
			t.Fatal("prev-archive chain does not end")
		}
		resp, body := get(t, addr, u)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s", u, resp.Status)
		}
		f, err := feed.Parse(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if self := f.Link("self"); self != u {
			t.Errorf("%s: self link %q", u, self)
		}
		if i > 0 {
			archives[u] = body
			if !f.Archive || f.Link("current") != testBase+"/feed.atom"+query || f.Link("next-archive") == "" {
				t.Errorf("%s: archive lacks fh:archive, current or next-archive", u)
			}
		}
		inDoc := map[string]bool{}
		for _, e := range f.Entries {
			if inDoc[e.ID] {
				t.Errorf("%s lists %s twice", u, e.ID)
			}
			inDoc[e.ID] = true
			if prev, ok := seen[e.ID]; ok {
				if !reflect.DeepEqual(prev, e) {
					t.Errorf("%s: entry %s differs from the one of a newer document", u, e.ID)
				}
				continue
			}
			seen[e.ID] = e
			entries = append(entries, e)
		}
		u = f.Link("prev-archive")
	}
	return entries, archives
}

func TestServer_CompleteHistory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	url, b := tempBucket(t, ctx)

	// 1,030 runs in upload order today, and 20 that other tools wrote with
	// ids (times) older than everything else, arriving after the others were
	// archived.
	want := map[string]int{}
	now := time.Now().UTC()
	for i := range 1030 {
		id := store.NewRunID(now.Add(time.Duration(i-1030) * time.Millisecond))
		putRun(t, b, id, i)
		want[id] = i
	}
	s, addr := startServer(t, ctx, url)
	if err := s.Scan(ctx, true); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		id := fmt.Sprintf("2020%02d01T000000Z-othertool%d", i%12+1, i)
		putRun(t, b, id, 1030+i)
		want[id] = 1030 + i
	}
	if err := s.Scan(ctx, true); err != nil {
		t.Fatal(err)
	}

	entries, archives := walk(t, addr, "")
	seen := map[string]bool{}
	for _, e := range entries {
		r := e.Run
		if r == nil {
			t.Fatalf("entry %s has no wpt:run", e.ID)
		}
		if seen[r.ID] {
			t.Errorf("run %s seen twice", r.ID)
		}
		seen[r.ID] = true
		i, ok := want[r.ID]
		if !ok {
			t.Errorf("unknown run %s", r.ID)
			continue
		}
		if r.Product != []string{"chrome", "firefox", "safari"}[i%3] || r.Revision != fmt.Sprintf("%040x", i) || len(r.Shards) != 1 || r.Shards[0].Size != int64(len(fmt.Sprintf("run %d", i))) {
			t.Errorf("run %s: metadata %+v does not match its manifest", r.ID, r)
		}
		if e.ID != EntryID(r.ID) || len(e.Enclosures()) != 1 {
			t.Errorf("entry %s: id or enclosures wrong", e.ID)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("walk saw %d runs, want %d", len(seen), len(want))
	}
	if len(archives) != 10 {
		t.Errorf("%d archive pages, want 10", len(archives))
	}
	// The late, old-dated runs are in the subscription document, not in an
	// archive.
	for u, body := range archives {
		if bytes.Contains(body, []byte("othertool")) {
			t.Errorf("archive %s holds a run published after it was archived", u)
		}
	}

	// The next page after the newest archive redirects to the subscription
	// document; pages beyond do not exist.
	if resp, _ := get(t, addr, testBase+"/archive/11.atom"); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != testBase+"/feed.atom" {
		t.Errorf("archive 11: %s to %q, want 302 to /feed.atom", resp.Status, resp.Header.Get("Location"))
	}
	if resp, _ := get(t, addr, testBase+"/archive/12.atom"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("archive 12: %s, want 404", resp.Status)
	}

	// A restarted publisher serves byte-identical archives.
	s2, addr2 := startServer(t, ctx, url)
	_ = s2
	_, again := walk(t, addr2, "")
	for u, body := range archives {
		if !bytes.Equal(again[u], body) {
			t.Errorf("%s differs after a restart", u)
		}
	}

	// Filtered views: the matching entries of each page, exactly once.
	fentries, farchives := walk(t, addr, "?label=stable&product=chrome&product=safari")
	nmatch := 0
	for _, i := range want {
		if i%2 == 0 && i%3 != 1 {
			nmatch++
		}
	}
	if len(fentries) != nmatch || len(farchives) != 10 {
		t.Errorf("filtered walk: %d entries in %d archives, want %d in 10", len(fentries), len(farchives), nmatch)
	}
	for _, e := range fentries {
		if e.Run.Channel != "stable" || e.Run.Product == "firefox" {
			t.Errorf("filtered feed holds %s %s", e.Run.Product, e.Run.Channel)
		}
	}
}

func TestServer_TwoPublishersAgree(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	url, b := tempBucket(t, ctx)
	now := time.Now().UTC()
	for i := range 150 {
		putRun(t, b, store.NewRunID(now.Add(time.Duration(i)*time.Millisecond)), i)
	}
	a, addrA := startServer(t, ctx, url)
	bb, addrB := startServer(t, ctx, url)
	// Runs keep arriving while both publishers scan.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 150; i < 400; i++ {
			putRun(t, b, store.NewRunID(time.Now()), i)
			if i%25 == 0 {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()
	wg.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for a.idx.count() < 400 || bb.idx.count() < 400 {
		if time.Now().After(deadline) {
			t.Fatalf("publishers indexed %d and %d runs, want 400", a.idx.count(), bb.idx.count())
		}
		time.Sleep(50 * time.Millisecond)
	}
	ea, archA := walk(t, addrA, "")
	eb, archB := walk(t, addrB, "")
	if len(ea) != 400 || len(eb) != 400 || len(archA) != 4 {
		t.Fatalf("walks saw %d and %d runs in %d archives, want 400 and 4", len(ea), len(eb), len(archA))
	}
	seen := map[string]bool{}
	for _, e := range ea {
		if seen[e.Run.ID] {
			t.Errorf("run %s published twice", e.Run.ID)
		}
		seen[e.Run.ID] = true
	}
	for u, body := range archA {
		if !bytes.Equal(archB[u], body) {
			t.Errorf("%s differs between the two publishers", u)
		}
	}
}
