package publisher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/wptfeed/wptfeed/store"
)

// MinGCAge is the youngest age `publisher gc` accepts: a run folder
// without a manifest that is younger may be an upload in progress. Quick
// scans do not probe run folders older than this (see Server.Scan), so
// the folders gc may remove cost scans nothing meanwhile.
const MinGCAge = time.Hour

// DefaultGCAge is the default of `publisher gc --older-than`.
const DefaultGCAge = 7 * 24 * time.Hour

// GCConfig configures `publisher gc`.
type GCConfig struct {
	Bucket string
	// OlderThan is the age past which what uploads left behind is removed:
	// at least MinGCAge.
	OlderThan time.Duration
	// DryRun prints what would be removed and removes nothing.
	DryRun bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultGCConfig returns the defaults of `publisher gc`.
func DefaultGCConfig() GCConfig {
	return GCConfig{Bucket: DefaultBucket, OlderThan: DefaultGCAge}
}

// Validate checks the configuration: an age under MinGCAge is refused.
func (c *GCConfig) Validate() error {
	if c.Bucket == "" {
		return errors.New("gc: --bucket is empty")
	}
	return checkGCAge(c.OlderThan)
}

func checkGCAge(d time.Duration) error {
	if d < MinGCAge {
		return fmt.Errorf("gc: --older-than %v is under %v: it could remove an upload in progress", d, MinGCAge)
	}
	return nil
}

// GCResult counts what GC removed (or, in a dry run, would remove).
type GCResult struct {
	Runs      int   // run folders without a manifest
	Objects   int   // their objects
	Bytes     int64 // the objects' and temp files' bytes
	TempFiles int   // temp files of interrupted local writes
	Dirs      int   // empty folders (file buckets)
}

// GC removes from the raw bucket b what uploads left behind, once it is
// older than cfg.OlderThan: the run folders without a manifest (every
// object of the folder written that long ago, and its run id as old),
// the temp files of interrupted writes to a file bucket, and empty
// folders. It never touches a run folder that has a manifest, nor
// anything outside runs/ but temp files. It prints one line per removal
// to out ("would remove" in a dry run), then a summary. It returns an
// error for an age under MinGCAge, or the bucket's; what it removed
// before an error stays removed.
func GC(ctx context.Context, b *store.Bucket, cfg GCConfig, out io.Writer) (GCResult, error) {
	var res GCResult
	if err := checkGCAge(cfg.OlderThan); err != nil {
		return res, err
	}
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	g := &gc{b: b, cfg: cfg, out: out, cutoff: now().Add(-cfg.OlderThan), res: &res}
	err := g.tempFiles(ctx)
	if err == nil {
		err = g.runs(ctx)
	}
	verb := "removed"
	if cfg.DryRun {
		verb = "would remove"
	}
	fmt.Fprintf(out, "gc: %s %d run folders without a manifest (%d objects), %d temp files, %d empty folders: %d bytes; older than %v\n",
		verb, res.Runs, res.Objects, res.TempFiles, res.Dirs, res.Bytes, cfg.OlderThan)
	if err != nil {
		return res, fmt.Errorf("gc: %w", err)
	}
	return res, nil
}

type gc struct {
	b      *store.Bucket
	cfg    GCConfig
	out    io.Writer
	cutoff time.Time // what was written before is old
	res    *GCResult
}

func (g *gc) print(key, what string, o store.Object) {
	verb := "remove"
	if g.cfg.DryRun {
		verb = "would remove"
	}
	fmt.Fprintf(g.out, "%s %s (%s, last written %s)\n", verb, key, what, o.ModTime.UTC().Format(time.RFC3339))
}

// tempFiles removes the old temp files of interrupted local writes.
func (g *gc) tempFiles(ctx context.Context) error {
	var old []store.Object
	err := g.b.TempFiles(ctx, "", func(o store.Object) bool {
		if o.ModTime.Before(g.cutoff) {
			old = append(old, o)
		}
		return true
	})
	if err != nil {
		return err
	}
	sort.Slice(old, func(i, j int) bool { return old[i].Key < old[j].Key })
	for _, o := range old {
		g.print(o.Key, fmt.Sprintf("temp file of an interrupted write, %d bytes", o.Size), o)
		if !g.cfg.DryRun {
			if err := g.b.RemoveTemp(ctx, o.Key); err != nil {
				return err
			}
		}
		g.res.TempFiles++
		g.res.Bytes += o.Size
	}
	return nil
}

// runFolder is what one listing says of a run's folder.
type runFolder struct {
	objects  []store.Object
	manifest bool
}

// runs removes the old run folders without a manifest, day by day.
func (g *gc) runs(ctx context.Context) error {
	days, err := g.b.RunDays(ctx)
	if err != nil {
		return err
	}
	for _, day := range days {
		if err := g.day(ctx, day); err != nil {
			return err
		}
	}
	return nil
}

func (g *gc) day(ctx context.Context, day string) error {
	prefix := store.RunsPrefix + day + "/"
	folders := map[string]*runFolder{}
	err := g.b.List(ctx, prefix, "", func(o store.Object) bool {
		id, name, ok := strings.Cut(strings.TrimPrefix(o.Key, prefix), "/")
		if !ok {
			return true // not in a run folder: not ours to judge
		}
		f := folders[id]
		if f == nil {
			f = &runFolder{}
			folders[id] = f
		}
		f.objects = append(f.objects, o)
		f.manifest = f.manifest || name == store.ManifestName
		return true
	})
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(folders))
	for id := range folders {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if err := g.run(ctx, id, folders[id]); err != nil {
			return err
		}
	}
	// Empty folders (file buckets): of refused uploads of older versions,
	// of runs removed above (whose day folder is then young: a later gc),
	// and empty days. A committed run's folder is never empty.
	var rerr error
	derr := g.b.EmptyDirs(ctx, prefix, func(o store.Object) bool {
		id, _, _ := strings.Cut(strings.TrimPrefix(o.Key, prefix), "/")
		if f := folders[id]; (f != nil && f.manifest) || !o.ModTime.Before(g.cutoff) {
			return true
		}
		if !g.cfg.DryRun {
			ok, err := g.b.RemoveDir(ctx, o.Key)
			if err != nil {
				rerr = err
				return false
			}
			if !ok {
				return true // written to meanwhile
			}
		}
		g.print(o.Key, "empty folder", o)
		g.res.Dirs++
		return true
	})
	return errors.Join(derr, rerr)
}

// run removes the folder of run id if it has no manifest and is old: its
// run id, and every object in it.
func (g *gc) run(ctx context.Context, id string, f *runFolder) error {
	if f.manifest || !store.ValidRunID(id) {
		return nil
	}
	if t, err := store.RunTime(id); err != nil || !t.Before(g.cutoff) {
		return nil
	}
	var newest time.Time
	for _, o := range f.objects {
		if o.ModTime.After(newest) {
			newest = o.ModTime
		}
	}
	if !newest.Before(g.cutoff) {
		return nil // written to lately: maybe an upload in progress
	}
	// Committed since the listing? Then it is a run, not a leftover.
	if ok, err := g.b.Exists(ctx, store.ManifestKey(id)); err != nil || ok {
		return err
	}
	for _, o := range f.objects {
		g.print(o.Key, fmt.Sprintf("run without a manifest, %d bytes", o.Size), o)
		if !g.cfg.DryRun {
			if err := g.b.Delete(ctx, o.Key); err != nil {
				return err
			}
		}
		g.res.Objects++
		g.res.Bytes += o.Size
	}
	g.res.Runs++
	if g.cfg.DryRun {
		return nil
	}
	// Its folders, children first (file buckets; nothing elsewhere).
	var err error
	derr := g.b.EmptyDirs(ctx, store.RunPrefix(id), func(o store.Object) bool {
		_, err = g.b.RemoveDir(ctx, o.Key)
		return err == nil
	})
	return errors.Join(derr, err)
}
