package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/publisher"
	"github.com/wptfeed/wptfeed/store"
)

// TestIngester_SlidingWindow: the subscription document lists the newest
// 50 runs while archive pages hold 20, so it overlaps the newest two or
// three archives. The ingester's catch-up walks, before and after a page
// seals between two of its polls, still download each run exactly once and
// fetch each archive once.
func TestIngester_SlidingWindow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	raw, out := t.TempDir(), t.TempDir()
	b, err := store.Open(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s, feedURL, c := startPublisher(t, ctx, raw, publisher.ServerConfig{ScanInterval: 50 * time.Millisecond, FullScan: time.Hour, PageSize: 20, FeedEntries: 50})

	now := time.Now()
	var ids []string
	publish := func(n int) {
		t.Helper()
		for range n {
			i := len(ids)
			id := store.NewRunID(now.Add(time.Duration(i) * time.Millisecond))
			commitRun(t, b, id, tinyReport(i))
			ids = append(ids, id)
		}
		waitFor(t, time.Minute, fmt.Sprintf("%d runs published", len(ids)), func() bool { return s.Count() == int64(len(ids)) })
	}
	ingest := func(pass string) {
		t.Helper()
		if _, stderr, err := exec(t, ctx, ingesterCmd, "run", "--feed", feedURL, "--out", out, "--once", "--per-test=false"); err != nil {
			t.Fatalf("%s: %v\n%s", pass, err, stderr)
		}
	}
	check := func(pass string, archives int) {
		t.Helper()
		if n := countFiles(t, filepath.Join(out, "status")); n != len(ids) {
			t.Errorf("%s: %d status records, want %d", pass, n, len(ids))
		}
		for _, id := range ids {
			if st := readStatus(t, out, id); st.State != "VALID" {
				t.Errorf("%s: run %s: %+v", pass, id, st)
			}
			if n := c.count("/runs/" + id + "/shard-000.json.gz"); n != 1 {
				t.Errorf("%s: run %s downloaded %d times, want once", pass, id, n)
			}
		}
		for k := 1; k <= archives; k++ {
			if n := c.count(fmt.Sprintf("/archive/%d.atom", k)); n != 1 {
				t.Errorf("%s: archive %d fetched %d times, want once", pass, k, n)
			}
		}
	}

	// 130 runs: 6 archives, and a subscription document of runs 81-130
	// (archives 5 and 6 and the 10 runs after them).
	publish(130)
	ingest("catch-up")
	check("catch-up", 6)

	// 15 more seal page 7 (runs 121-140), 10 of which the last poll read
	// in the subscription document.
	publish(15)
	ingest("after a page sealed")
	check("after a page sealed", 7)

	// Nothing new: no download, no archive.
	ingest("unchanged")
	check("unchanged", 7)
	if n := c.count("/archive/8.atom"); n != 0 {
		t.Errorf("archive 8 (not complete) fetched %d times", n)
	}
}
