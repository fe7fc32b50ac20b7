package ingester

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wptfeed/wptfeed/store"
)

// A lease claims a run for one ingester. gocloud has no compare-and-swap,
// so a lease is a sequence of write-once generations: the holder of the
// highest generation holds the run until that generation expires. Taking
// over an expired lease, or renewing one's own, writes the next generation;
// when two ingesters race for a generation, write-once lets one win.
type lease struct {
	b      *store.Bucket
	runID  string
	holder string
	ttl    time.Duration

	mu  sync.Mutex
	gen int64
}

type leaseRecord struct {
	Holder  string    `json:"holder"`
	Expires time.Time `json:"expires"`
}

// errLeased means another ingester holds the run's lease.
var errLeased = errors.New("ingest: run is leased by another ingester")

// latestLease reads the run's highest lease generation (0 when none).
func latestLease(ctx context.Context, b *store.Bucket, runID string) (int64, leaseRecord, error) {
	var last int64
	err := b.List(ctx, leasePrefix(runID), "", func(o store.Object) bool {
		if g, ok := leaseGen(o.Key); ok && g > last {
			last = g
		}
		return true
	})
	if err != nil || last == 0 {
		return 0, leaseRecord{}, err
	}
	var rec leaseRecord
	p, err := b.ReadAll(ctx, leaseKey(runID, last))
	if err != nil {
		return 0, leaseRecord{}, err
	}
	if err := json.Unmarshal(p, &rec); err != nil {
		// A torn record cannot exist (writes are whole), but be safe:
		// treat it as expired.
		return last, leaseRecord{}, nil
	}
	return last, rec, nil
}

// acquire claims runID for holder, or returns errLeased while another
// holder's lease is live.
func acquire(ctx context.Context, b *store.Bucket, runID, holder string, ttl time.Duration, now time.Time) (*lease, error) {
	g, rec, err := latestLease(ctx, b, runID)
	if err != nil {
		return nil, err
	}
	if g > 0 && rec.Holder != holder && now.Before(rec.Expires) {
		return nil, fmt.Errorf("%w (%s until %s)", errLeased, rec.Holder, rec.Expires.Format(time.RFC3339))
	}
	l := &lease{b: b, runID: runID, holder: holder, ttl: ttl, gen: g}
	if err := l.write(ctx, now); err != nil {
		return nil, err
	}
	return l, nil
}

// write writes the next generation; losing the race is errLeased.
func (l *lease) write(ctx context.Context, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, _ := json.Marshal(leaseRecord{Holder: l.holder, Expires: now.Add(l.ttl)})
	err := l.b.WriteBytes(ctx, leaseKey(l.runID, l.gen+1), p, store.WriteOptions{ContentType: "application/json", IfNotExist: true})
	if store.IsExists(err) {
		return errLeased
	}
	if err != nil {
		return err
	}
	l.gen++
	return nil
}

// keep renews the lease every ttl/3 until ctx ends; it cancels lost when a
// renewal fails, so the holder stops working on a run it no longer holds.
func (l *lease) keep(ctx context.Context, lost context.CancelFunc) {
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

// release deletes the lease's generations once the run's status record is
// written: nobody needs them any more.
func (l *lease) release(ctx context.Context) {
	var keys []string
	_ = l.b.List(ctx, leasePrefix(l.runID), "", func(o store.Object) bool {
		keys = append(keys, o.Key)
		return true
	})
	for _, k := range keys {
		_ = l.b.Delete(ctx, k)
	}
}
