// Package lease claims a run for one ingester at a time, in the out
// bucket. gocloud has no compare-and-swap, so a lease is a sequence of
// write-once generations (store.LeaseKey): the holder of the highest
// generation holds the run until that generation expires. Taking over an
// expired lease, or renewing one's own, writes the next generation; when two
// ingesters race for a generation, write-once lets one win.
//
// It is a leaf among cmd/internal: it imports store only.
package lease

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wptfeed/wptfeed/store"
)

// ErrHeld means another holder has the run's lease.
var ErrHeld = errors.New("lease: run is leased by another ingester")

// ErrLost means a holder's lease was taken over (it expired, and another
// holder acquired the run): the old holder must stop writing.
var ErrLost = errors.New("lease: lost to another holder")

// HeldError is Acquire's error while another holder's lease is live; it
// wraps ErrHeld.
type HeldError struct {
	Holder string
	Until  time.Time // when the lease expires unless renewed
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("%v (%s until %s)", ErrHeld, e.Holder, e.Until.UTC().Format(time.RFC3339))
}

func (e *HeldError) Unwrap() error { return ErrHeld }

// A Lease is one holder's claim on a run.
type Lease struct {
	b      *store.Bucket
	runID  string
	holder string
	ttl    time.Duration

	mu      sync.Mutex
	gen     int64     // the highest generation this holder wrote
	expires time.Time // of gen
}

// record is one generation, as stored.
type record struct {
	Holder  string    `json:"holder"`
	Expires time.Time `json:"expires"`
}

// latest reads the run's highest lease generation (0 when none).
func latest(ctx context.Context, b *store.Bucket, runID string) (int64, record, error) {
	var last int64
	err := b.List(ctx, store.LeasePrefix(runID), "", func(o store.Object) bool {
		if g, ok := store.LeaseGeneration(o.Key); ok && g > last {
			last = g
		}
		return true
	})
	if err != nil || last == 0 {
		return 0, record{}, err
	}
	var rec record
	p, err := b.ReadAll(ctx, store.LeaseKey(runID, last))
	if store.IsNotFound(err) {
		// Released since the listing: free, as an expired lease is (the
		// next generation's write-once settles any race).
		return last, record{}, nil
	}
	if err != nil {
		return 0, record{}, err
	}
	if err := json.Unmarshal(p, &rec); err != nil {
		// A torn record cannot exist (writes are whole), but be safe:
		// treat it as expired.
		return last, record{}, nil
	}
	return last, rec, nil
}

// Acquire claims runID for holder for ttl from now. It returns a
// *HeldError (wrapping ErrHeld) while another holder's lease is live, and
// the store's errors.
func Acquire(ctx context.Context, b *store.Bucket, runID, holder string, ttl time.Duration, now time.Time) (*Lease, error) {
	g, rec, err := latest(ctx, b, runID)
	if err != nil {
		return nil, err
	}
	if g > 0 && rec.Holder != holder && now.Before(rec.Expires) {
		return nil, &HeldError{Holder: rec.Holder, Until: rec.Expires}
	}
	l := &Lease{b: b, runID: runID, holder: holder, ttl: ttl, gen: g}
	err = l.write(ctx, now)
	if errors.Is(err, ErrHeld) {
		// Another holder wrote the generation first: name it, as for a
		// lease found live, so that callers wait for it and do not fail.
		if g2, rec, lerr := latest(ctx, b, runID); lerr == nil && g2 > g {
			return nil, &HeldError{Holder: rec.Holder, Until: rec.Expires}
		}
		return nil, &HeldError{Until: now.Add(ttl)}
	}
	if err != nil {
		return nil, err
	}
	return l, nil
}

// write writes the next generation; losing the race is ErrHeld.
func (l *Lease) write(ctx context.Context, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	exp := now.Add(l.ttl)
	p, _ := json.Marshal(record{Holder: l.holder, Expires: exp})
	err := l.b.WriteBytes(ctx, store.LeaseKey(l.runID, l.gen+1), p, store.WriteOptions{ContentType: "application/json", IfNotExist: true})
	if store.IsExists(err) {
		return ErrHeld
	}
	if err != nil {
		return err
	}
	l.gen++
	l.expires = exp
	return nil
}

// Check returns nil while the lease is still this holder's at now: its
// generation is the run's highest and has not expired. It returns an error
// wrapping ErrLost otherwise, and the store's errors. A holder checks
// before a write that must not race a new holder's.
func (l *Lease) Check(ctx context.Context, now time.Time) error {
	l.mu.Lock()
	gen, exp := l.gen, l.expires
	l.mu.Unlock()
	if !now.Before(exp) {
		return fmt.Errorf("lease of run %s expired at %s: %w", l.runID, exp.UTC().Format(time.RFC3339Nano), ErrLost)
	}
	g, rec, err := latest(ctx, l.b, l.runID)
	if err != nil {
		return err
	}
	if g != gen || rec.Holder != l.holder {
		return fmt.Errorf("lease of run %s: generation %d is %s's: %w", l.runID, g, rec.Holder, ErrLost)
	}
	return nil
}

// Keep renews the lease every ttl/3 until ctx ends; it calls lost when a
// renewal fails, so the holder stops working on a run it no longer holds.
func (l *Lease) Keep(ctx context.Context, lost func()) {
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := l.write(ctx, time.Now()); err != nil && ctx.Err() == nil {
				lost()
				return
			}
		}
	}
}

// Release deletes the run's lease generations up to the highest this
// holder wrote (its own, and the expired ones of holders before it) once
// it is done with the run. A newer holder's generations are left alone, so
// a holder that lost its lease never frees the run for a third. It returns
// the errors of listing and deleting, joined.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	mine := l.gen
	l.mu.Unlock()
	var keys []string
	err := l.b.List(ctx, store.LeasePrefix(l.runID), "", func(o store.Object) bool {
		if g, ok := store.LeaseGeneration(o.Key); ok && g <= mine {
			keys = append(keys, o.Key)
		}
		return true
	})
	errs := []error{err}
	for _, k := range keys {
		errs = append(errs, l.b.Delete(ctx, k))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lease: release %s: %w", l.runID, err)
	}
	return nil
}
