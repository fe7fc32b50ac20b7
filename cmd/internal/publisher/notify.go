package publisher

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// notifier tells subscribers (ingesters' POST /api/notify) that new runs
// were published, so that they poll now instead of at their next interval.
// A failed notification loses nothing: the subscriber's next poll finds the
// runs.
type notifier struct {
	urls   []string
	token  string
	client *http.Client
	log    *slog.Logger
	kick   chan struct{}
}

func newNotifier(urls []string, token string, log *slog.Logger) *notifier {
	return &notifier{urls: urls, token: token, log: log, kick: make(chan struct{}, 1),
		client: &http.Client{Timeout: 5 * time.Second}}
}

// poke asks for a notification round without waiting for it.
func (n *notifier) poke() {
	if n == nil || len(n.urls) == 0 {
		return
	}
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// run sends a notification round to every URL per poke, until ctx ends.
func (n *notifier) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.kick:
		}
		var wg sync.WaitGroup
		for _, u := range n.urls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n.send(ctx, u)
			}()
		}
		wg.Wait()
	}
}

// send POSTs to u, retrying three times with backoff.
func (n *notifier) send(ctx context.Context, u string) {
	delay := 200 * time.Millisecond
	var err error
	for attempt := 1; attempt <= 4; attempt++ {
		if err = n.post(ctx, u); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay *= 2
	}
	n.log.Warn("notify failed; the subscriber's next poll will find the runs", "url", u, "err", err)
}

func (n *notifier) post(ctx context.Context, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return err
	}
	if n.token != "" {
		req.Header.Set("Authorization", "Bearer "+n.token)
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s", resp.Status)
	}
	return nil
}
