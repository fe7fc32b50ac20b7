package lease

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/store"
)

const run = "20261127T000000Z-r0"

// t0 is the tests' clock: Acquire takes the time, so only Keep needs real
// time.
var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func mustOpen(t *testing.T, opts ...store.Option) *store.Bucket {
	t.Helper()
	b, err := store.Open(t.Context(), "mem://", opts...)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func mustAcquire(t *testing.T, b *store.Bucket, runID, holder string, ttl time.Duration, now time.Time) *Lease {
	t.Helper()
	l, err := Acquire(t.Context(), b, runID, holder, ttl, now)
	if err != nil {
		t.Fatalf("Acquire(%s, %s): %v", runID, holder, err)
	}
	return l
}

// generations lists the generations of runID's lease, in order.
func generations(t *testing.T, b *store.Bucket, runID string) []int64 {
	t.Helper()
	var gs []int64
	err := b.List(t.Context(), store.LeasePrefix(runID), "", func(o store.Object) bool {
		g, ok := store.LeaseGeneration(o.Key)
		if !ok {
			t.Errorf("%s: not a lease generation key", o.Key)
		}
		gs = append(gs, g)
		return true
	})
	if err != nil {
		t.Fatalf("list leases of %s: %v", runID, err)
	}
	return gs
}

// readGen reads generation g of runID's lease.
func readGen(t *testing.T, b *store.Bucket, runID string, g int64) record {
	t.Helper()
	p, err := b.ReadAll(t.Context(), store.LeaseKey(runID, g))
	if err != nil {
		t.Fatalf("read generation %d: %v", g, err)
	}
	var rec record
	if err := json.Unmarshal(p, &rec); err != nil {
		t.Fatalf("generation %d: %v", g, err)
	}
	return rec
}

// TestAcquire: who may take a run's lease, and what generation it writes.
func TestAcquire(t *testing.T) {
	const ttl = time.Minute
	cases := []struct {
		name    string
		setup   func(t *testing.T, b *store.Bucket) // the lease before
		holder  string
		now     time.Time
		wantErr error // nil: acquired
		wantGen []int64
	}{
		{
			name:   "fresh run",
			setup:  func(*testing.T, *store.Bucket) {},
			holder: "b", now: t0,
			wantGen: []int64{1},
		},
		{
			name:   "another's live lease",
			setup:  func(t *testing.T, b *store.Bucket) { mustAcquire(t, b, run, "a", ttl, t0) },
			holder: "b", now: t0.Add(ttl - time.Nanosecond),
			wantErr: ErrHeld, wantGen: []int64{1},
		},
		{
			name:   "another's lease at its expiry",
			setup:  func(t *testing.T, b *store.Bucket) { mustAcquire(t, b, run, "a", ttl, t0) },
			holder: "b", now: t0.Add(ttl),
			wantGen: []int64{1, 2},
		},
		{
			name:   "another's expired lease",
			setup:  func(t *testing.T, b *store.Bucket) { mustAcquire(t, b, run, "a", ttl, t0) },
			holder: "b", now: t0.Add(2 * ttl),
			wantGen: []int64{1, 2},
		},
		{
			name:   "one's own live lease",
			setup:  func(t *testing.T, b *store.Bucket) { mustAcquire(t, b, run, "b", ttl, t0) },
			holder: "b", now: t0.Add(time.Second),
			wantGen: []int64{1, 2},
		},
		{
			name: "another's live lease, renewed",
			setup: func(t *testing.T, b *store.Bucket) {
				mustAcquire(t, b, run, "a", ttl, t0)
				mustAcquire(t, b, run, "a", ttl, t0.Add(ttl/2))
			},
			holder: "b", now: t0.Add(ttl + time.Second),
			wantErr: ErrHeld, wantGen: []int64{1, 2},
		},
		{
			name: "a torn generation counts as expired",
			setup: func(t *testing.T, b *store.Bucket) {
				if err := b.WriteBytes(t.Context(), store.LeaseKey(run, 1), []byte("{"), store.WriteOptions{}); err != nil {
					t.Fatal(err)
				}
			},
			holder: "b", now: t0,
			wantGen: []int64{1, 2},
		},
		{
			name: "another run's lease does not count",
			setup: func(t *testing.T, b *store.Bucket) {
				mustAcquire(t, b, run+"x", "a", ttl, t0)
			},
			holder: "b", now: t0,
			wantGen: []int64{1},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := mustOpen(t)
			tc.setup(t, b)
			l, err := Acquire(t.Context(), b, run, tc.holder, ttl, tc.now)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Acquire: got %v, want %v", err, tc.wantErr)
			}
			if got := generations(t, b, run); !slices.Equal(got, tc.wantGen) {
				t.Errorf("generations: got %v, want %v", got, tc.wantGen)
			}
			if err != nil {
				if l != nil {
					t.Errorf("Acquire returned a lease with its error")
				}
				return
			}
			last := tc.wantGen[len(tc.wantGen)-1]
			if l.gen != last {
				t.Errorf("lease generation: got %d, want %d", l.gen, last)
			}
			rec := readGen(t, b, run, last)
			if want := (record{Holder: tc.holder, Expires: tc.now.Add(ttl)}); rec.Holder != want.Holder || !rec.Expires.Equal(want.Expires) {
				t.Errorf("generation %d: got %+v, want %+v", last, rec, want)
			}
		})
	}
}

// TestAcquire_Race: holders racing for an expired lease each write the
// next generation write-once; exactly one wins, the others get ErrHeld.
func TestAcquire_Race(t *testing.T) {
	const (
		rounds  = 20
		holders = 8
		ttl     = time.Minute
	)
	for round := range rounds {
		b := mustOpen(t)
		mustAcquire(t, b, run, "old", ttl, t0)
		now := t0.Add(2 * ttl)
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []string
			others  []error
		)
		for h := range holders {
			holder := fmt.Sprintf("h%d", h)
			wg.Go(func() {
				_, err := Acquire(t.Context(), b, run, holder, ttl, now)
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					winners = append(winners, holder)
				} else {
					others = append(others, err)
				}
			})
		}
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("round %d: winners got %v, want exactly one", round, winners)
		}
		for _, err := range others {
			// A *HeldError naming the winner, as for a lease found live:
			// callers wait on it instead of failing the run.
			var he *HeldError
			if !errors.As(err, &he) || he.Holder != winners[0] {
				t.Errorf("round %d: a loser's error: got %v, want a *HeldError naming %s", round, err, winners[0])
			}
		}
		if got, want := generations(t, b, run), []int64{1, 2}; !slices.Equal(got, want) {
			t.Errorf("round %d: generations got %v, want %v", round, got, want)
		}
		if rec := readGen(t, b, run, 2); rec.Holder != winners[0] {
			t.Errorf("round %d: generation 2 holder got %q, want the winner %q", round, rec.Holder, winners[0])
		}
	}
}

// keep runs l.Keep until the returned stop is called, and reports whether
// lost was called; done is closed when Keep returns.
func keep(l *Lease) (stop func(), lost <-chan struct{}, done <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	lostc, donec := make(chan struct{}), make(chan struct{})
	var once sync.Once
	go func() {
		defer close(donec)
		l.Keep(ctx, func() { once.Do(func() { close(lostc) }) })
	}()
	return cancel, lostc, donec
}

// waitFor waits up to 5s for ch to close.
func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: not within 5s", what)
	}
}

// TestLease_Keep_Renews: Keep writes a generation every ttl/3, each
// expiring later, and stops without calling lost when its context ends.
func TestLease_Keep_Renews(t *testing.T) {
	const ttl = 30 * time.Millisecond
	b := mustOpen(t)
	start := time.Now()
	l := mustAcquire(t, b, run, "a", ttl, start)
	stop, lost, done := keep(l)
	deadline := time.Now().Add(5 * time.Second)
	for len(generations(t, b, run)) < 3 {
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("generations after 5s: %v, want at least 3", generations(t, b, run))
		}
		time.Sleep(time.Millisecond)
	}
	stop()
	waitFor(t, done, "Keep returning after cancel")
	select {
	case <-lost:
		t.Errorf("lost called on a lease nobody took")
	default:
	}
	gs := generations(t, b, run)
	var prev time.Time
	for _, g := range gs {
		rec := readGen(t, b, run, g)
		if rec.Holder != "a" {
			t.Errorf("generation %d: holder got %q, want %q", g, rec.Holder, "a")
		}
		if !rec.Expires.After(prev) {
			t.Errorf("generation %d: expires %v, not after the previous generation's %v", g, rec.Expires, prev)
		}
		prev = rec.Expires
	}
	// Another holder is still kept out by the latest renewal.
	if _, err := Acquire(t.Context(), b, run, "b", ttl, start.Add(ttl)); !errors.Is(err, ErrHeld) {
		t.Errorf("Acquire by another after the first generation's expiry: got %v, want ErrHeld", err)
	}
}

// TestLease_Keep_Lost: when another holder has written the next generation
// (it took the lease over), Keep's renewal fails, it calls lost and
// returns.
func TestLease_Keep_Lost(t *testing.T) {
	const ttl = 30 * time.Millisecond
	b := mustOpen(t)
	l := mustAcquire(t, b, run, "a", ttl, time.Now())
	mustAcquire(t, b, run, "b", time.Minute, time.Now().Add(time.Hour)) // generation 2
	stop, lost, done := keep(l)
	defer stop()
	waitFor(t, lost, "lost being called")
	waitFor(t, done, "Keep returning after lost")
	if got, want := generations(t, b, run), []int64{1, 2}; !slices.Equal(got, want) {
		t.Errorf("generations: got %v, want %v", got, want)
	}
	if rec := readGen(t, b, run, 2); rec.Holder != "b" {
		t.Errorf("generation 2 holder: got %q, want %q (the new holder's, untouched)", rec.Holder, "b")
	}
}

// TestLease_Keep_LostOnStoreError: a renewal the store refuses counts as
// lost too: the holder cannot prove it still holds the run.
func TestLease_Keep_LostOnStoreError(t *testing.T) {
	const ttl = 30 * time.Millisecond
	var fail sync.Map
	b := mustOpen(t, store.WithFaults(func(op, key string) error {
		if _, ok := fail.Load(key); ok && op == "write" {
			return errors.New("injected outage")
		}
		return nil
	}))
	l := mustAcquire(t, b, run, "a", ttl, time.Now())
	fail.Store(store.LeaseKey(run, 2), true)
	stop, lost, done := keep(l)
	defer stop()
	waitFor(t, lost, "lost being called")
	waitFor(t, done, "Keep returning after lost")
}

// TestLease_Release: Release deletes every generation of the run's lease,
// and only of that run; another holder may then acquire it at once.
func TestLease_Release(t *testing.T) {
	const ttl = time.Minute
	b := mustOpen(t)
	mustAcquire(t, b, run, "a", ttl, t0)
	l := mustAcquire(t, b, run, "a", ttl, t0.Add(time.Second)) // generation 2
	mustAcquire(t, b, run+"x", "c", ttl, t0)                   // another run, whose prefix run's is a prefix of
	if got, want := generations(t, b, run), []int64{1, 2}; !slices.Equal(got, want) {
		t.Fatalf("generations before Release: got %v, want %v", got, want)
	}
	if err := l.Release(t.Context()); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if got := generations(t, b, run); len(got) != 0 {
		t.Errorf("generations after Release: got %v, want none", got)
	}
	if got, want := generations(t, b, run+"x"), []int64{1}; !slices.Equal(got, want) {
		t.Errorf("the other run's generations: got %v, want %v", got, want)
	}
	if _, err := Acquire(t.Context(), b, run, "b", ttl, t0.Add(2*time.Second)); err != nil {
		t.Errorf("Acquire by another after Release: %v", err)
	}
	if err := l.Release(t.Context()); err != nil {
		t.Errorf("second Release: %v", err)
	}
}

// TestLease_Release_AfterTakeover: a holder whose lease was taken over
// must not delete the new holder's generations when it releases.
func TestLease_Release_AfterTakeover(t *testing.T) {
	const ttl = time.Minute
	b := mustOpen(t)
	old := mustAcquire(t, b, run, "a", ttl, t0)
	mustAcquire(t, b, run, "b", ttl, t0.Add(2*ttl)) // takes over: generation 2
	if err := old.Release(t.Context()); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if got := generations(t, b, run); !slices.Contains(got, 2) {
		t.Errorf("generations after the old holder's Release: got %v, want the new holder's generation 2 kept", got)
	}
	if _, err := Acquire(t.Context(), b, run, "c", ttl, t0.Add(2*ttl+time.Second)); !errors.Is(err, ErrHeld) {
		t.Errorf("Acquire by a third holder during b's lease: got %v, want ErrHeld", err)
	}
}

// TestAcquire_ReleasedMeanwhile: a lease released between Acquire's
// listing and its read of the latest generation is free, not an error.
func TestAcquire_ReleasedMeanwhile(t *testing.T) {
	var (
		b    *store.Bucket
		once sync.Once
	)
	b = mustOpen(t, store.WithFaults(func(op, key string) error {
		if op == "read" && key == store.LeaseKey(run, 1) {
			once.Do(func() {
				// The holder finishes and releases, just now.
				if err := b.Delete(context.Background(), key); err != nil {
					t.Errorf("Delete: %v", err)
				}
			})
		}
		return nil
	}))
	mustAcquire(t, b, run, "a", time.Minute, t0)
	if _, err := Acquire(t.Context(), b, run, "b", time.Minute, t0.Add(time.Second)); err != nil && !errors.Is(err, ErrHeld) {
		t.Errorf("Acquire: got %v, want nil or ErrHeld", err)
	}
}

// TestLease_Check: a holder's lease is its own until it expires or another
// holder takes it over; then Check says ErrLost, and a holder that checks
// before writing does not write.
func TestLease_Check(t *testing.T) {
	const ttl = time.Minute
	b := mustOpen(t)
	a := mustAcquire(t, b, run, "a", ttl, t0)
	if err := a.Check(t.Context(), t0.Add(ttl/2)); err != nil {
		t.Errorf("Check within the lease: %v", err)
	}
	if err := a.Check(t.Context(), t0.Add(ttl)); !errors.Is(err, ErrLost) {
		t.Errorf("Check at expiry: got %v, want ErrLost", err)
	}
	mustAcquire(t, b, run, "b", ttl, t0.Add(2*ttl))
	// Even a clock that says the lease is still a's does not make it so.
	if err := a.Check(t.Context(), t0.Add(ttl/2)); !errors.Is(err, ErrLost) {
		t.Errorf("Check after a takeover: got %v, want ErrLost", err)
	}
}
