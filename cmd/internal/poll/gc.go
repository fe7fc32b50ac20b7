package poll

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/wptfeed/wptfeed/store"
)

// MinGCAge is the youngest --older-than GC accepts: younger state may be in
// use by a running ingester.
const MinGCAge = time.Hour

// DefaultGCAge is GC's --older-than when none is given.
const DefaultGCAge = 7 * 24 * time.Hour

// GCConfig configures GC (the flags of `ingester gc`).
type GCConfig struct {
	OlderThan time.Duration // remove only what was last written longer ago
	DryRun    bool          // print what would be removed; remove nothing
}

// Validate checks the configuration.
func (c *GCConfig) Validate() error {
	if c.OlderThan < MinGCAge {
		return fmt.Errorf("gc: --older-than %v is below %v: younger state may belong to a running ingester", c.OlderThan, MinGCAge)
	}
	return nil
}

// GC removes from the out bucket the ingester state nobody needs any more,
// once last written longer ago than cfg.OlderThan: the lease generations
// of runs that have a status record (or whose last claim expired), the
// counts of missing enclosures of runs that have one, and the temp files of
// interrupted writes to a directory bucket. It never touches a status
// record, an output or the poll state. It prints one line per object
// removed (with DryRun, would remove) to w and returns how many, and the
// store's errors, joined.
func GC(ctx context.Context, out *store.Bucket, cfg GCConfig, w io.Writer) (int, error) {
	if err := cfg.Validate(); err != nil {
		return 0, err
	}
	g := &collector{out: out, cfg: cfg, w: w, cutoff: time.Now().Add(-cfg.OlderThan), finished: map[string]bool{}}
	errs := []error{g.leases(ctx), g.missing(ctx), g.temps(ctx)}
	return g.n, errors.Join(errs...)
}

type collector struct {
	out      *store.Bucket
	cfg      GCConfig
	w        io.Writer
	cutoff   time.Time
	n        int
	finished map[string]bool // run id → has a status record
}

func (g *collector) remove(ctx context.Context, o store.Object, why string, del func(context.Context, string) error) error {
	verb := "removed"
	if g.cfg.DryRun {
		verb = "would remove"
	} else if err := del(ctx, o.Key); err != nil && !store.IsNotFound(err) {
		return err
	}
	g.n++
	fmt.Fprintf(g.w, "%s %s (%s, last written %s)\n", verb, o.Key, why, o.ModTime.UTC().Format(time.RFC3339))
	return nil
}

func (g *collector) hasStatus(ctx context.Context, runID string) (bool, error) {
	if ok, seen := g.finished[runID]; seen {
		return ok, nil
	}
	ok, err := g.out.Exists(ctx, store.StatusKey(runID))
	if err == nil {
		g.finished[runID] = ok
	}
	return ok, err
}

// leases removes the generations of finished runs, and of runs whose last
// claim expired, once all of a run's generations are old enough.
func (g *collector) leases(ctx context.Context) error {
	byRun := map[string][]store.Object{}
	var order []string
	err := g.out.List(ctx, store.LeasesPrefix, "", func(o store.Object) bool {
		id, _, ok := strings.Cut(strings.TrimPrefix(o.Key, store.LeasesPrefix), "/")
		if !ok {
			return true
		}
		if _, seen := byRun[id]; !seen {
			order = append(order, id)
		}
		byRun[id] = append(byRun[id], o)
		return true
	})
	if err != nil {
		return fmt.Errorf("gc: list leases: %w", err)
	}
	var errs []error
	for _, id := range order {
		gens := byRun[id]
		young := false
		for _, o := range gens {
			young = young || !o.ModTime.Before(g.cutoff)
		}
		if young {
			continue
		}
		why := "lease of a finished run"
		done, err := g.hasStatus(ctx, id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !done {
			// Written before the cutoff, at least an hour ago: every
			// claim has expired (leases last --lease-ttl, seconds).
			why = "expired lease of an unfinished run"
		}
		for _, o := range gens {
			errs = append(errs, g.remove(ctx, o, why, g.out.Delete))
		}
	}
	return errors.Join(errs...)
}

// missing removes the counts of missing enclosures of finished runs.
func (g *collector) missing(ctx context.Context) error {
	var objs []store.Object
	prefix := store.MissingStatePrefix
	if err := g.out.List(ctx, prefix, "", func(o store.Object) bool { objs = append(objs, o); return true }); err != nil {
		return fmt.Errorf("gc: list %s: %w", prefix, err)
	}
	var errs []error
	for _, o := range objs {
		if !o.ModTime.Before(g.cutoff) {
			continue
		}
		id := strings.TrimSuffix(strings.TrimPrefix(o.Key, prefix), ".json")
		if done, err := g.hasStatus(ctx, id); err != nil || !done {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, g.remove(ctx, o, "count of missing polls of a finished run", g.out.Delete))
	}
	return errors.Join(errs...)
}

// temps removes temp files of interrupted writes to a directory bucket.
func (g *collector) temps(ctx context.Context) error {
	var objs []store.Object
	if err := g.out.TempFiles(ctx, "", func(o store.Object) bool {
		if o.ModTime.Before(g.cutoff) {
			objs = append(objs, o)
		}
		return true
	}); err != nil {
		return fmt.Errorf("gc: temp files: %w", err)
	}
	var errs []error
	for _, o := range objs {
		errs = append(errs, g.remove(ctx, o, "temp file of an interrupted write", g.out.RemoveTemp))
	}
	return errors.Join(errs...)
}
