package e2e

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/poll"
	"github.com/wptfeed/wptfeed/cmd/internal/publisher"
	"github.com/wptfeed/wptfeed/store"
)

// BenchmarkNotifyLatency measures the time from a run's commit (its
// manifest) to its VALID status record with push notification on: the
// publisher's quick scan (default 1 s) notices it and POSTs /api/notify; the
// ingester, whose own interval is an hour, polls at once. ns/op is that
// end-to-end latency for a tiny run (processing time is negligible here).
func BenchmarkNotifyLatency(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	raw, out := b.TempDir(), b.TempDir()
	bk, _ := store.Open(ctx, raw)
	defer bk.Close()
	listen := freeAddr(b)
	_, feedURL, _ := startPublisherB(b, ctx, raw, publisher.ServerConfig{
		ScanInterval: time.Second, FullScan: time.Hour,
		Notify: []string{"http://" + listen + "/api/notify"}, NotifyToken: "tok",
	})
	cfg := poll.DefaultConfig()
	cfg.Feed, cfg.Interval, cfg.BackoffMax = feedURL, time.Hour, time.Hour
	cfg.Listen, cfg.NotifyToken, cfg.PerTest = listen, "tok", true
	ob, err := store.Open(ctx, out)
	if err != nil {
		b.Fatal(err)
	}
	defer ob.Close()
	ing, err := poll.New(cfg, ob, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	go ing.Run(ctx)
	time.Sleep(500 * time.Millisecond)

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := store.NewRunID(time.Now())
		commitRun(b, bk, id, tinyReport(i))
		start := time.Now()
		for {
			if _, err := os.Stat(filepath.Join(out, "status", id+".json")); err == nil {
				break
			}
			if time.Since(start) > 30*time.Second {
				b.Fatalf("run %s not ingested in 30 s", id)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
