package poll

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestRoundRobin_Burst: a burst of 1,000 runs in one feed puts at most one
// of its runs before the run of another feed queued after it, and each
// feed's runs keep their order.
func TestRoundRobin_Burst(t *testing.T) {
	for _, tc := range []struct {
		name    string
		popped  int // runs of the burst taken before the other feed's run is queued
		maxWait int // runs of the burst taken after it is queued, before it
	}{
		{"queued first thing", 0, 1},
		{"queued mid-burst", 10, 1},
		{"queued after 999", 999, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var q roundRobin
			var order []string
			for i := range 1000 {
				q.push(0, func() { order = append(order, fmt.Sprintf("a%d", i)) })
			}
			for range tc.popped {
				f, _ := q.pop()
				f()
			}
			q.push(1, func() { order = append(order, "b0") })
			for f, ok := q.pop(); ok; f, ok = q.pop() {
				f()
			}
			at := slices.Index(order, "b0")
			if at < 0 || at-tc.popped > tc.maxWait {
				t.Fatalf("b0 ran at %d, after %d runs of the burst queued before it; want at most %d", at, at-tc.popped, tc.maxWait)
			}
			var as []string
			for _, o := range order {
				if o != "b0" {
					as = append(as, o)
				}
			}
			for i, a := range as {
				if a != fmt.Sprintf("a%d", i) {
					t.Fatalf("burst order: run %d is %s", i, a)
				}
			}
			if len(as) != 1000 {
				t.Fatalf("burst runs: got %d, want 1000", len(as))
			}
		})
	}
}

// TestRoundRobin_Turns: three feeds with work are served in turn, a feed
// without work is skipped, and a feed that gets work again takes its turn.
func TestRoundRobin_Turns(t *testing.T) {
	var q roundRobin
	var order []string
	add := func(feed int, name string) { q.push(feed, func() { order = append(order, name) }) }
	add(0, "a0")
	add(0, "a1")
	add(0, "a2")
	add(2, "c0")
	add(1, "b0")
	for range 3 {
		f, _ := q.pop()
		f()
	}
	add(1, "b1")
	for f, ok := q.pop(); ok; f, ok = q.pop() {
		f()
	}
	if want := []string{"a0", "b0", "c0", "a1", "b1", "a2"}; !slices.Equal(order, want) {
		t.Errorf("order: got %v, want %v", order, want)
	}
}

// TestDispatcher_Fair drives the real dispatcher deterministically: with
// two workers busy on a burst of 1,000 runs of feed a, a run of feed b
// queued now starts as soon as one worker is free, before any other run of
// the burst: behind at most one run per worker.
func TestDispatcher_Fair(t *testing.T) {
	const workers = 2
	d := &dispatcher{workers: workers}
	var (
		mu      sync.Mutex
		started []string
	)
	start := func(name string) {
		mu.Lock()
		started = append(started, name)
		mu.Unlock()
	}
	release := make(chan struct{}) // one receive lets one run of the burst end
	running := make(chan string, 1100)
	var wg sync.WaitGroup
	for i := range 1000 {
		wg.Add(1)
		d.submit(0, func() {
			defer wg.Done()
			name := fmt.Sprintf("a%d", i)
			start(name)
			running <- name
			<-release
		})
	}
	// Both workers are on the burst's first runs.
	for range workers {
		<-running
	}
	bDone := make(chan struct{})
	wg.Add(1)
	d.submit(1, func() {
		defer wg.Done()
		start("b0")
		close(bDone)
	})
	release <- struct{}{} // one worker frees up: its next run is b0
	<-bDone
	mu.Lock()
	at := slices.Index(started, "b0")
	mu.Unlock()
	if at > workers {
		t.Errorf("b0 started after %d runs of the burst; want at most %d (one per worker)", at, workers)
	}
	close(release) // the rest of the burst ends at once
	wg.Wait()
	// A worker leaves after its last run returns: wait for them to go.
	left := -1
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		d.mu.Lock()
		left = d.running
		d.mu.Unlock()
		if left == 0 {
			break
		}
	}
	if left != 0 {
		t.Errorf("workers left running: %d", left)
	}
}
