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

// A Lease is one holder's claim on a run.
type Lease struct {
	b      *store.Bucket
	runID  string
	holder string
	ttl    time.Duration

	mu  sync.Mutex
	gen int64
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

// Acquire claims runID for holder for ttl from now. It returns an error
// wrapping ErrHeld while another holder's lease is live, and the store's
// errors.
func Acquire(ctx context.Context, b *store.Bucket, runID, holder string, ttl time.Duration, now time.Time) (*Lease, error) {
	g, rec, err := latest(ctx, b, runID)
	if err != nil {
		return nil, err
	}
	if g > 0 && rec.Holder != holder && now.Before(rec.Expires) {
		return nil, fmt.Errorf("%w (%s until %s)", ErrHeld, rec.Holder, rec.Expires.Format(time.RFC3339))
	}
	l := &Lease{b: b, runID: runID, holder: holder, ttl: ttl, gen: g}
	if err := l.write(ctx, now); err != nil {
		return nil, err
	}
	return l, nil
}

// write writes the next generation; losing the race is ErrHeld.
func (l *Lease) write(ctx context.Context, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, _ := json.Marshal(record{Holder: l.holder, Expires: now.Add(l.ttl)})
	err := l.b.WriteBytes(ctx, store.LeaseKey(l.runID, l.gen+1), p, store.WriteOptions{ContentType: "application/json", IfNotExist: true})
	if store.IsExists(err) {
		return ErrHeld
	}
	if err != nil {
		return err
	}
	l.gen++
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

// Release deletes the lease's generations once the run's status record is
// written: nobody needs them any more. It returns the errors of listing
// and deleting, joined.
func (l *Lease) Release(ctx context.Context) error {
	var keys []string
	err := l.b.List(ctx, store.LeasePrefix(l.runID), "", func(o store.Object) bool {
		keys = append(keys, o.Key)
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
