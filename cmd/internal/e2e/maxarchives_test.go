package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/publisher"
	"github.com/wptfeed/wptfeed/store"
)

// TestIngester_MaxArchives: a capped catch-up walk reads only the newest
// archives, warns, and records the first unread one in state/skipped/.
func TestIngester_MaxArchives(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	raw, out := t.TempDir(), t.TempDir()
	b, _ := store.Open(ctx, raw)
	defer b.Close()
	now := time.Now()
	var ids []string
	for i := range 130 {
		id := store.NewRunID(now.Add(time.Duration(i) * time.Millisecond))
		commitRun(t, b, id, tinyReport(i))
		ids = append(ids, id)
	}
	// A subscription document of the 10 runs after the newest archive
	// only (FeedEntries 10), so that the archives the walk reads matter.
	s, feedURL, c := startPublisher(t, ctx, raw, publisher.ServerConfig{ScanInterval: 50 * time.Millisecond, FullScan: time.Hour, PageSize: 20, FeedEntries: 10})
	waitFor(t, 20*time.Second, "130 runs published", func() bool { return s.Count() == 130 })

	_, stderr, err := exec(t, ctx, ingesterCmd, "run", "--feed", feedURL, "--out", out, "--once", "--per-test=false", "--max-archives", "2")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "max-archives") {
		t.Errorf("no warning about the capped walk in:\n%s", stderr)
	}
	// 6 archive pages of 20 and 10 runs in the subscription document: the
	// walk reads pages 6 and 5 only.
	for k, want := range map[string]int{"/archive/6.atom": 1, "/archive/5.atom": 1, "/archive/4.atom": 0, "/archive/1.atom": 0} {
		if got := c.count(k); got != want {
			t.Errorf("%s fetched %d times, want %d", k, got, want)
		}
	}
	// Those are the newest 50 runs: the last 50 committed, as run ids sort
	// by time. Each ingested run has its status record.
	m, _ := filepath.Glob(filepath.Join(out, "status", "*.json"))
	var got []string
	for _, p := range m {
		got = append(got, strings.TrimSuffix(filepath.Base(p), ".json"))
	}
	slices.Sort(got)
	if want := ids[len(ids)-50:]; !slices.Equal(got, want) {
		t.Errorf("got %d runs ingested, want the 50 of the current document and two archives, %s to %s; got %v",
			len(got), want[0], want[len(want)-1], got)
	}
	skipped, _ := filepath.Glob(filepath.Join(out, "state", "skipped", "*.json"))
	if len(skipped) != 1 {
		t.Fatalf("skipped history records: %v", skipped)
	}
	p, _ := os.ReadFile(skipped[0])
	if !strings.Contains(string(p), "/archive/4.atom") {
		t.Errorf("skipped record %s does not name archive 4", p)
	}
}
