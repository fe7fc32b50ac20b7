package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/publisher"
	"github.com/wptfeed/wptfeed/store"
)

// TestIngester_TwoOnOneBucket: two ingesters on one out bucket never process
// the same run at the same time: each run's enclosure is fetched once, and
// each run has one status record.
func TestIngester_TwoOnOneBucket(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	raw, out := t.TempDir(), t.TempDir()
	b, _ := store.Open(ctx, raw)
	defer b.Close()
	var ids []string
	now := time.Now()
	for i := range 60 {
		id := store.NewRunID(now.Add(time.Duration(i) * time.Millisecond))
		commitRun(t, b, id, tinyReport(i))
		ids = append(ids, id)
	}
	s, feedURL, c := startPublisher(t, ctx, raw, publisher.ServerConfig{ScanInterval: 50 * time.Millisecond, FullScan: time.Hour, PageSize: 25})
	waitFor(t, 20*time.Second, "60 runs published", func() bool { return s.Count() == 60 })

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, stderr, err := exec(t, ctx, ingesterCmd, "run", "--feed", feedURL, "--out", out, "--once", "--workers", "3")
			if err != nil {
				errs[i] = fmt.Errorf("%v\n%s", err, stderr)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("ingester %d: %v", i, err)
		}
	}
	for _, id := range ids {
		if n := c.count("/runs/" + id + "/shard-000.json.gz"); n != 1 {
			t.Errorf("run %s fetched %d times, want once", id, n)
		}
		if st := readStatus(t, out, id); st.State != "VALID" {
			t.Errorf("run %s: %+v", id, st)
		}
	}
	// Leases are released once the status record is written.
	if m, _ := filepath.Glob(filepath.Join(out, "state", "leases", "*", "*")); len(m) != 0 {
		t.Errorf("%d lease files left behind", len(m))
	}
	if _, err := os.Stat(filepath.Join(out, "status")); err != nil {
		t.Fatal(err)
	}
}
