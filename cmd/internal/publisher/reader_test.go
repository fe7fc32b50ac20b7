package publisher

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"

	"github.com/wptfeed/wptfeed/store"
)

// subscriber is a feed reader such as Miniflux or newsboat: it reads only
// the subscription document, with conditional GET, through gofeed's
// generic parser, and remembers every item it saw.
type subscriber struct {
	url    string
	client *http.Client

	mu    sync.Mutex
	seen  map[string]bool // item GUIDs (atom:id)
	polls int             // completed polls
	err   error           // the first failure
}

func (sub *subscriber) run(ctx context.Context, every time.Duration) {
	var etag, lastModified string
	parser := gofeed.NewParser()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		err := func() error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, sub.url, nil)
			if err != nil {
				return err
			}
			if etag != "" {
				req.Header.Set("If-None-Match", etag)
			}
			if lastModified != "" {
				req.Header.Set("If-Modified-Since", lastModified)
			}
			resp, err := sub.client.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusNotModified:
				return nil
			case http.StatusOK:
			default:
				return fmt.Errorf("GET %s: %s", sub.url, resp.Status)
			}
			f, err := parser.Parse(resp.Body)
			if err != nil {
				return fmt.Errorf("gofeed: %w", err)
			}
			if f.FeedType != "atom" {
				return fmt.Errorf("gofeed detected %q, want atom", f.FeedType)
			}
			if len(f.Items) > 0 && resp.Header.Get("Last-Modified") == "" {
				return fmt.Errorf("a document of %d entries without Last-Modified", len(f.Items))
			}
			etag, lastModified = resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
			sub.mu.Lock()
			for _, it := range f.Items {
				sub.seen[it.GUID] = true
			}
			sub.mu.Unlock()
			return nil
		}()
		sub.mu.Lock()
		sub.polls++
		if err != nil && sub.err == nil && ctx.Err() == nil {
			sub.err = err
		}
		sub.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (sub *subscriber) pollCount() int {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.polls
}

// TestServer_SubscriptionReader: a reader that reads only /feed.atom sees
// every run, whether runs are published one at a time or in bursts as
// large as the window, and however the bursts fall on archive pages (page
// size 100). Each burst is published between two of the reader's polls;
// the reader polls every 25 ms instead of every second to keep the test
// short.
func TestServer_SubscriptionReader(t *testing.T) {
	tests := []struct {
		name          string
		feedEntries   int // 0: the default, 100
		singles       int // runs published one at a time first
		bursts, burst int // then bursts of burst runs
	}{
		{name: "one at a time", singles: 250},
		{name: "bursts of 100", singles: 30, bursts: 5, burst: 100},
		{name: "bursts of 250, feed entries 300", feedEntries: 300, singles: 30, bursts: 4, burst: 250},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			url := "file://" + t.TempDir()
			b, err := store.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			s, err := NewServer(ctx, ServerConfig{Bucket: url, Addr: "127.0.0.1:0", BaseURL: testBase, ScanInterval: 20 * time.Millisecond,
				FullScan: time.Hour, PageSize: 100, FeedEntries: tt.feedEntries, Author: "test"}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			sctx, stop := context.WithCancel(ctx)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); s.Run(sctx) }()
			defer func() { stop(); wg.Wait(); s.Close() }()

			sub := &subscriber{url: "http://" + s.Addr() + "/feed.atom", client: &http.Client{Timeout: 10 * time.Second}, seen: map[string]bool{}}
			wg.Add(1)
			go func() { defer wg.Done(); sub.run(sctx, 25*time.Millisecond) }()

			var want []string
			published := func() {
				t.Helper()
				deadline := time.Now().Add(time.Minute)
				for s.Count() < int64(len(want)) {
					if time.Now().After(deadline) {
						t.Fatalf("%d of %d runs published after a minute", s.Count(), len(want))
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			// polled waits until the reader has made a poll that started
			// after everything published so far.
			polled := func() {
				t.Helper()
				p := sub.pollCount()
				deadline := time.Now().Add(time.Minute)
				for sub.pollCount() < p+2 {
					if time.Now().After(deadline) {
						t.Fatal("the reader stopped polling")
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			put := func() {
				id := store.NewRunID(time.Now())
				putRun(t, b, id, len(want))
				want = append(want, id)
			}
			for range tt.singles {
				put()
				published()
			}
			for range tt.bursts {
				polled()
				for range tt.burst {
					put()
				}
				published()
			}
			polled()

			sub.mu.Lock()
			defer sub.mu.Unlock()
			if sub.err != nil {
				t.Fatalf("reader: %v", sub.err)
			}
			missed := 0
			for i, id := range want {
				if !sub.seen[EntryID(id)] {
					if missed < 5 {
						t.Errorf("the reader never saw run %d of %d (%s)", i+1, len(want), id)
					}
					missed++
				}
			}
			if missed > 0 {
				t.Errorf("the reader missed %d of %d runs in %d polls", missed, len(want), sub.polls)
			}
		})
	}
}
