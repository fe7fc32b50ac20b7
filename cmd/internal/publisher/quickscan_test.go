package publisher

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/store"
)

// TestServer_QuickScansSkipOldFolders: a run folder without a manifest
// whose id is over an hour old (an abandoned upload, which publisher gc
// removes) is not probed by quick scans; full scans still publish a run
// committed late.
func TestServer_QuickScansSkipOldFolders(t *testing.T) {
	ctx := context.Background()
	url, b := tempBucket(t, ctx)
	// Within today's listing (quick scans list today and yesterday), two
	// hours old.
	id := store.NewRunID(time.Now().Add(-2 * time.Hour))
	if _, err := b.PutShard(ctx, id, "report.json.gz", strings.NewReader("report")); err != nil {
		t.Fatal(err)
	}
	var reads atomic.Int64
	s := newScanServer(t, ctx, url, 100, nil, store.WithFaults(func(op, key string) error {
		if op == "read" && key == store.ManifestKey(id) {
			reads.Add(1)
		}
		return nil
	}))
	for range 5 {
		if err := s.Scan(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	if n := reads.Load(); n != 0 {
		t.Errorf("quick scans read the manifest of a 2-hour-old folder %d times, want 0", n)
	}
	if err := s.Scan(ctx, true); err != nil {
		t.Fatal(err)
	}
	if n := reads.Load(); n != 1 {
		t.Errorf("a full scan read it %d times, want 1", n)
	}
	// Committed late: a full scan publishes it.
	mustWriteKey(t, b, store.ManifestKey(id), []byte(`{"shards": [{"name": "report.json.gz"}], "product": "chrome"}`))
	if err := s.Scan(ctx, true); err != nil {
		t.Fatal(err)
	}
	if n := s.Count(); n != 1 {
		t.Errorf("after a full scan: %d runs published, want 1", n)
	}
}
