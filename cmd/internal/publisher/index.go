package publisher

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
)

// run is one published run: its place in the publication log and its
// manifest.
type run struct {
	seq    int64
	m      *store.Manifest
	labels []string // wpt.fyi's labels of the run, for categories and filters
}

// index is the publisher's view of the publication log. The log in the
// bucket is the truth: publishers append to it write-once and read what
// others appended, so every replica and every restart agrees on the order.
type index struct {
	b        *store.Bucket
	pageSize int64

	mu      sync.RWMutex
	last    int64            // highest sequence number read
	current map[int64]*run   // runs of the page being filled (seq > archived())
	known   map[string]int64 // run id → seq, for runs read from the log by this process
	bad     map[string]bool  // committed runs with an invalid manifest (logged once)
	marked  map[string]bool  // runs seen with a published marker
	version int64            // bumps whenever current changes

	appendMu sync.Mutex // one append at a time from this process

	pagesMu sync.Mutex
	pages   map[int64][]*run // archived pages loaded, by page number
	pageLRU []int64
}

const maxCachedPages = 64

func newIndex(b *store.Bucket, pageSize int) *index {
	return &index{
		b: b, pageSize: int64(pageSize),
		current: map[int64]*run{}, known: map[string]int64{}, bad: map[string]bool{}, marked: map[string]bool{},
		pages: map[int64][]*run{},
	}
}

// archived is the highest sequence number in an archive page; s.mu held.
func (ix *index) archivedLocked() int64 { return ix.last / ix.pageSize * ix.pageSize }

// load reads the log's tail: the last sequence number and the runs of the
// page being filled. It does not read older manifests.
func (ix *index) load(ctx context.Context) error {
	last, err := ix.b.LastLogSeq(ctx)
	if err != nil {
		return err
	}
	first := last/ix.pageSize*ix.pageSize + 1
	// Re-mark the last few entries: a crash between a log append and its
	// marker must not make the run look unpublished.
	repairFrom := max(1, last-10)
	runs, err := ix.readRuns(ctx, min(first, repairFrom), last)
	if err != nil {
		return err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, r := range runs {
		if r.seq >= repairFrom {
			if err := ix.b.MarkPublished(ctx, r.m.RunID, r.seq); err != nil {
				return err
			}
		}
		ix.known[r.m.RunID] = r.seq
		if r.seq >= first {
			ix.current[r.seq] = r
		}
	}
	ix.last = last
	ix.version++
	return nil
}

// readRuns reads log entries from..to and their manifests, concurrently.
func (ix *index) readRuns(ctx context.Context, from, to int64) ([]*run, error) {
	if to < from {
		return nil, nil
	}
	runs := make([]*run, to-from+1)
	errs := make([]error, len(runs))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			runs[i], errs[i] = ix.readRun(ctx, from+int64(i))
		}()
	}
	wg.Wait()
	return runs, errors.Join(errs...)
}

func (ix *index) readRun(ctx context.Context, seq int64) (*run, error) {
	e, err := ix.b.ReadLog(ctx, seq)
	if err != nil {
		return nil, err
	}
	m, err := ix.b.ReadManifest(ctx, e.RunID)
	if err != nil {
		if store.IsTemporary(err) || errors.Is(err, context.Canceled) {
			return nil, err
		}
		// Manifests are write-once, so this is a run deleted by hand after
		// publication: keep its place with what the log knows.
		t, _ := store.RunTime(e.RunID)
		m = &store.Manifest{RunID: e.RunID, Uploaded: t}
	}
	return newRun(seq, m), nil
}

func newRun(seq int64, m *store.Manifest) *run {
	_, labels := report.NormalizeMetadata(report.Metadata{
		Product: m.Product, BrowserVersion: m.BrowserVersion, OS: m.OS,
		OSVersion: m.OSVersion, Revision: m.Revision, BrowserChannel: m.BrowserChannel,
	}, m.Labels)
	if m.Product == "" {
		labels = m.Labels
	}
	return &run{seq: seq, m: m, labels: labels}
}

// sync reads the entries other publishers appended since the last read.
func (ix *index) sync(ctx context.Context) (bool, error) {
	ix.mu.RLock()
	last := ix.last
	ix.mu.RUnlock()
	seqs, err := ix.b.LogSeqsAfter(ctx, last)
	if err != nil || len(seqs) == 0 {
		return false, err
	}
	// Entries are contiguous: a publisher appends at last+1 only.
	to := seqs[len(seqs)-1]
	runs, err := ix.readRuns(ctx, last+1, to)
	if err != nil {
		return false, err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.addLocked(runs)
	return true, nil
}

// addLocked adds runs read or appended at the log's end; ix.mu held.
func (ix *index) addLocked(runs []*run) {
	for _, r := range runs {
		if r.seq <= ix.last {
			continue
		}
		ix.last = r.seq
		ix.known[r.m.RunID] = r.seq
		ix.current[r.seq] = r
	}
	archived := ix.archivedLocked()
	for seq := range ix.current {
		if seq <= archived {
			delete(ix.current, seq)
		}
	}
	ix.version++
}

// discover publishes the committed runs of the given days that the log
// does not hold yet, in run id order. It returns how many it published.
func (ix *index) discover(ctx context.Context, days []string, onBad func(id string, err error)) (int, error) {
	n := 0
	for _, day := range days {
		// One listing of the day's run directories (not of every file in
		// them); only runs this process does not know cost more.
		ids, err := ix.b.RunIDsOfDay(ctx, day)
		if err != nil {
			return n, err
		}
		var todo []string
		ix.mu.RLock()
		for _, id := range ids {
			if _, ok := ix.known[id]; !ok && !ix.bad[id] && !ix.marked[id] {
				todo = append(todo, id)
			}
		}
		ix.mu.RUnlock()
		if len(todo) == 0 {
			continue
		}
		marked, err := ix.b.PublishedRuns(ctx, day)
		if err != nil {
			return n, err
		}
		ix.mu.Lock()
		for id := range marked {
			ix.marked[id] = true
		}
		ix.mu.Unlock()
		for _, id := range todo {
			if marked[id] {
				continue
			}
			m, err := ix.b.ReadManifest(ctx, id)
			if store.IsNotFound(err) {
				continue // not committed yet: shards are still arriving
			}
			if errors.Is(err, store.ErrInvalid) || store.IsNotFound(err) {
				// A manifest that names a missing shard, or is not JSON.
				ix.mu.Lock()
				ix.bad[id] = true
				ix.mu.Unlock()
				onBad(id, err)
				continue
			}
			if err != nil {
				return n, err
			}
			ok, err := ix.publish(ctx, m)
			if err != nil {
				return n, err
			}
			if ok {
				n++
			}
		}
	}
	return n, nil
}

// publish appends a run to the log unless it is there already. It returns
// whether this call appended it.
func (ix *index) publish(ctx context.Context, m *store.Manifest) (bool, error) {
	ix.appendMu.Lock()
	defer ix.appendMu.Unlock()
	for {
		ix.mu.RLock()
		_, known := ix.known[m.RunID]
		seq := ix.last + 1
		ix.mu.RUnlock()
		if known {
			return false, nil
		}
		err := ix.b.AppendLog(ctx, store.LogEntry{Seq: seq, RunID: m.RunID})
		if store.IsExists(err) {
			// Another publisher took seq: read what it appended, then retry.
			if _, err := ix.sync(ctx); err != nil {
				return false, err
			}
			continue
		}
		if err != nil {
			return false, err
		}
		if err := ix.b.MarkPublished(ctx, m.RunID, seq); err != nil {
			return false, err
		}
		ix.mu.Lock()
		ix.addLocked([]*run{newRun(seq, m)})
		ix.mu.Unlock()
		return true, nil
	}
}

// snapshot returns the runs of the page being filled, newest first, the
// number of archive pages, and the version.
func (ix *index) snapshot() ([]*run, int64, int64) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	runs := make([]*run, 0, len(ix.current))
	for _, r := range ix.current {
		runs = append(runs, r)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].seq > runs[j].seq })
	return runs, ix.archivedLocked() / ix.pageSize, ix.version
}

// page returns the runs of archive page k (1-based), newest first, or
// ok=false when page k is not archived (yet).
func (ix *index) page(ctx context.Context, k int64) ([]*run, bool, error) {
	ix.mu.RLock()
	archivedPages := ix.archivedLocked() / ix.pageSize
	ix.mu.RUnlock()
	if k < 1 || k > archivedPages {
		return nil, false, nil
	}
	ix.pagesMu.Lock()
	runs, ok := ix.pages[k]
	ix.pagesMu.Unlock()
	if ok {
		return runs, true, nil
	}
	runs, err := ix.readRuns(ctx, (k-1)*ix.pageSize+1, k*ix.pageSize)
	if err != nil {
		return nil, false, fmt.Errorf("serve: load archive page %d: %w", k, err)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].seq > runs[j].seq })
	ix.pagesMu.Lock()
	defer ix.pagesMu.Unlock()
	if _, ok := ix.pages[k]; !ok {
		ix.pages[k] = runs
		ix.pageLRU = append(ix.pageLRU, k)
		if len(ix.pageLRU) > maxCachedPages {
			delete(ix.pages, ix.pageLRU[0])
			ix.pageLRU = ix.pageLRU[1:]
		}
	}
	return runs, true, nil
}

// currentVersion changes whenever the runs of the page being filled do.
func (ix *index) currentVersion() int64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.version
}

// count is the number of published runs.
func (ix *index) count() int64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.last
}

// recentDays are the day prefixes a quick scan lists: today and yesterday
// (UTC), where uploads land.
func recentDays(now time.Time) []string {
	now = now.UTC()
	return []string{now.Add(-24 * time.Hour).Format("20060102"), now.Format("20060102")}
}
