package publisher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
)

// run is one published run: its place in the publication log and its
// manifest. A void run is a log entry that does not count (its run's
// marker names another entry; see store.CommitLogEntry): it has only seq.
type run struct {
	seq    int64
	m      *store.Manifest
	labels []string // wpt.fyi's labels of the run, for categories and filters
	void   bool
}

// index is the publisher's view of the publication log. The log in the
// bucket is the truth: publishers append to it write-once and read what
// others appended, so every replica and every restart agrees on the order.
type index struct {
	b        *store.Bucket
	pageSize int64
	entries  int64 // runs a subscription document lists at least (--feed-entries)

	mu   sync.RWMutex
	last int64 // highest sequence number read
	// window holds the newest runs, oldest first: every run after the
	// newest archive page, and at least the newest entries runs (fewer only
	// while the log holds fewer, or after void entries; latest reads
	// archive pages for the rest).
	window  []*run
	known   map[string]int64 // run id → seq, for runs read from the log by this process
	bad     map[string]bool  // committed runs with an invalid manifest (logged once)
	marked  map[string]bool  // runs seen with a published marker
	retry   map[string]*backoff
	version int64 // bumps whenever window changes
	// seal is the copy of the window (store.Window) as of the newest
	// archive page's last entry, while it is to be stored; nil once stored
	// (or read at load).
	seal *store.Window

	// der derives the values that hand-written manifests lack, before
	// their runs are published (derive.go).
	der *deriver

	// log and rejected report manifests refused at a scan; the server
	// sets them (instrument), tests may leave the defaults.
	log      *slog.Logger
	rejected prometheus.Counter

	appendMu sync.Mutex // one append at a time from this process

	pagesMu sync.Mutex
	pages   map[int64][]*run // archived pages loaded, by page number
	pageLRU []int64
}

const maxCachedPages = 64

func newIndex(b *store.Bucket, pageSize, entries int) *index {
	return &index{
		b: b, pageSize: int64(pageSize), entries: int64(max(entries, 1)),
		known: map[string]int64{}, bad: map[string]bool{}, marked: map[string]bool{},
		retry: map[string]*backoff{}, pages: map[int64][]*run{},
		der:      newDeriver(b),
		log:      slog.New(slog.DiscardHandler),
		rejected: newRejectedCounter(),
	}
}

// backoff spaces the reads of a manifest that is not complete JSON yet:
// it is read again after wait scans of its day, wait doubling from 1 to
// maxManifestWait.
type backoff struct {
	skip, wait int
}

// maxManifestWait is the most scans between two reads of an incomplete
// manifest: at most 4 × --scan-interval on quick scans.
const maxManifestWait = 4

// archived is the highest sequence number in an archive page; s.mu held.
func (ix *index) archivedLocked() int64 { return ix.last / ix.pageSize * ix.pageSize }

// load reads the log's tail: the last sequence number and the runs of the
// window (the page being filled, and the newest entries runs), from the
// stored copy of the window (store.Window) as of the newest archive page
// as far as it covers them. It does not read older manifests. It returns
// the copy when it covered them all (it is current: the log holds no entry
// after that page), else nil.
func (ix *index) load(ctx context.Context) (*store.Window, error) {
	last, err := ix.b.LastLogSeq(ctx)
	if err != nil {
		return nil, err
	}
	first := max(min(last/ix.pageSize*ix.pageSize, last-ix.entries)+1, 1)
	runs, w, fromLog, err := ix.readTail(ctx, first, last)
	if err != nil {
		return nil, err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.addLocked(runs)
	ix.last = max(ix.last, last)
	if s := ix.seal; s != nil && (w != nil && s.Last == w.Last || first > max(s.Last-ix.entries+1, 1)) {
		// Stored already, or short of runs read before first: not
		// stored, the next page's copy will be whole.
		ix.seal = nil
	}
	if fromLog > 0 || w == nil || len(ix.window) == 0 || ix.window[0].seq != w.First || w.Last != ix.last {
		return nil, nil
	}
	return w, nil
}

// readTail reads log entries first..last (first ≤ last+1), void ones
// included, taking from the stored copy of the window as of the newest
// archive page the entries it covers and reading the others from the log:
// those after the copy's last entry (appended since the page sealed: a
// copy never hides a run) and those before its first. A copy that is
// missing or invalid is not used. It returns the copy it used (nil if
// none) and how many entries it read from the log.
func (ix *index) readTail(ctx context.Context, first, last int64) ([]*run, *store.Window, int64, error) {
	sealed := last / ix.pageSize * ix.pageSize // the newest copy there can be
	var w *store.Window
	err := store.ErrNotFound
	if sealed >= first {
		w, err = ix.b.ReadWindow(ctx, sealed)
	}
	switch {
	case store.IsTemporary(err) || errors.Is(err, context.Canceled):
		return nil, nil, 0, fmt.Errorf("read the window's copy: %w", err)
	case err != nil && !store.IsNotFound(err):
		ix.log.Warn("the stored copy of the feed's window is unreadable; reading the log", "seq", sealed, "err", err)
	}
	if err != nil {
		// Reading an entry commits it (readRun): a crash between a log
		// append and its marker is repaired by whoever reads the entry
		// first, and a run appended again is void.
		runs, err := ix.readRuns(ctx, first, last)
		return runs, nil, max(last-first+1, 0), err
	}
	lo := max(first, w.First) // the copy covers lo..w.Last
	before, err := ix.readRuns(ctx, first, lo-1)
	if err != nil {
		return nil, nil, 0, err
	}
	after, err := ix.readRuns(ctx, w.Last+1, last)
	if err != nil {
		return nil, nil, 0, err
	}
	runs := before
	for _, e := range w.Runs {
		if e.Seq >= lo {
			runs = append(runs, newRun(e.Seq, e.Manifest))
		}
	}
	return append(runs, after...), w, int64(len(before) + len(after)), nil
}

// windowCopyLocked returns the window as a store.Window ending at log
// entry last (≥ every run of the window); nil when the window is empty.
// ix.mu held.
func (ix *index) windowCopyLocked(last int64) *store.Window {
	if len(ix.window) == 0 {
		return nil
	}
	// The window holds every run that counts from its first one to the
	// log's last entry read (addLocked takes entries in order, and drops
	// the oldest only).
	w := &store.Window{Version: 1, First: ix.window[0].seq, Last: last, Runs: make([]store.WindowEntry, len(ix.window))}
	for i, r := range ix.window {
		w.Runs[i] = store.WindowEntry{Seq: r.seq, Manifest: r.m}
	}
	return w
}

// sealed returns the copy of the window as of the newest archive page's
// last entry while it is to be stored (nil otherwise), whether the index
// is still at that entry, and the index's version.
func (ix *index) sealed() (*store.Window, bool, int64) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.seal == nil {
		return nil, false, ix.version
	}
	return ix.seal, ix.seal.Last == ix.last, ix.version
}

// sealStored notes that the copy ending at log entry last is stored.
func (ix *index) sealStored(last int64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.seal != nil && ix.seal.Last == last {
		ix.seal = nil
	}
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

// readRun reads log entry seq, commits it (store.CommitLogEntry: the
// first reader of an entry whose appender died before its marker writes
// the marker) and reads its run's manifest. An entry that does not count
// is returned void.
func (ix *index) readRun(ctx context.Context, seq int64) (*run, error) {
	e, err := ix.b.ReadLog(ctx, seq)
	if err != nil {
		return nil, err
	}
	ok, err := ix.b.CommitLogEntry(ctx, e)
	if err != nil {
		return nil, err
	}
	if !ok {
		return &run{seq: seq, void: true}, nil
	}
	// Leniently (store.ReadCommit checks no more than the run's files
	// need): a run published before the rules of Manifest.Validate keeps
	// its entry, and the renderer leaves out one it cannot encode.
	m, _, err := ix.b.ReadCommit(ctx, e.RunID)
	if err != nil {
		if store.IsTemporary(err) || errors.Is(err, context.Canceled) {
			return nil, err
		}
		// Manifests are write-once, so this is a run deleted by hand after
		// publication: keep its place with what the log knows.
		t, _ := store.RunTime(e.RunID)
		m = &store.Manifest{RunID: e.RunID, Uploaded: t}
		return newRun(seq, m), nil
	}
	// The values derived from the shards, stored before the run was
	// published: the entry is the one it was when first published.
	if _, _, err := derivedValues(ctx, ix.b, m); err != nil {
		if store.IsTemporary(err) || errors.Is(err, context.Canceled) {
			return nil, err
		}
		ix.log.Warn("values derived for a published run are unreadable; its entry shows its manifest only", "run_id", e.RunID, "err", err)
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

// addLocked adds runs read or appended at the log's end, in sequence
// order, to the window, and drops from it the oldest runs it no longer
// needs. When an archive page seals (the runs reach or pass its last
// entry), it keeps the window as of that entry in ix.seal, to be stored.
// ix.mu held.
func (ix *index) addLocked(runs []*run) {
	for _, r := range runs {
		if r.seq <= ix.last {
			continue
		}
		page := r.seq / ix.pageSize * ix.pageSize // last entry of the newest page sealed with r
		if page > ix.last && page < r.seq {
			ix.sealLocked(page) // the entries after ix.last up to page are void
		}
		ix.last = r.seq
		if !r.void {
			ix.known[r.m.RunID] = r.seq
			ix.window = append(ix.window, r)
		}
		if page == r.seq {
			ix.sealLocked(page)
		}
	}
	ix.dropLocked(ix.archivedLocked())
	ix.version++
}

// sealLocked drops the runs the window no longer needs once archive pages
// end at log entry page, and keeps the window's copy as of that entry in
// ix.seal; ix.mu held.
func (ix *index) sealLocked(page int64) {
	ix.dropLocked(page)
	if w := ix.windowCopyLocked(page); w != nil {
		ix.seal = w
	}
}

// dropLocked drops from the window its oldest runs in archive pages
// (archived is the highest sequence number in one) beyond the newest
// entries runs; ix.mu held.
func (ix *index) dropLocked(archived int64) {
	drop := 0
	for int64(len(ix.window)-drop) > ix.entries && ix.window[drop].seq <= archived {
		drop++
	}
	ix.window = slices.Delete(ix.window, 0, drop)
}

// discover publishes the committed runs of the given days that the log
// does not hold yet, in run id order; a run whose manifest lacks values
// once they are derived from its shards (derive.go), which it waits for a
// few seconds at most, leaving the slower ones to later scans. It also
// publishes the runs whose derivation finished since an earlier scan. It
// returns how many it published.
func (ix *index) discover(ctx context.Context, days []string, probeAfter time.Time, onBad func(id string, err error)) (int, error) {
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
			if _, ok := ix.known[id]; ok || ix.bad[id] || ix.marked[id] {
				continue
			}
			if t, err := store.RunTime(id); err == nil && t.Before(probeAfter) {
				continue // left to full scans
			}
			todo = append(todo, id)
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
		var ms []*store.Manifest
		for _, id := range todo {
			if marked[id] {
				ix.der.forget(id)
				continue
			}
			if j := ix.der.job(id); j != nil {
				ms = append(ms, j.m) // being derived: read and checked already
				continue
			}
			if ix.waiting(id) {
				continue
			}
			m, err := ix.committed(ctx, id, onBad)
			if err != nil {
				return n, err
			}
			if m == nil {
				continue
			}
			if needsDerivation(m) {
				ix.der.start(m) // in the background, all at once
			}
			ms = append(ms, m)
		}
		k, err := ix.publishAll(ctx, ms)
		n += k
		if err != nil {
			return n, err
		}
	}
	// Runs whose derivation outlasted the scan that started it.
	k, err := ix.publishDerived(ctx)
	return n + k, err
}

// committed reads and checks the manifest of run id: nil, nil when the
// run is not to be published (yet): not committed, its manifest still
// being written (read again later), or invalid (reported once).
func (ix *index) committed(ctx context.Context, id string, onBad func(string, error)) (*store.Manifest, error) {
	m, _, err := ix.b.ReadCommit(ctx, id)
	if store.IsNotFound(err) {
		return nil, nil // not committed yet: shards are still arriving
	}
	if errors.Is(err, store.ErrIncomplete) {
		// Another tool is still writing the manifest (cp is not
		// atomic on a directory bucket), or it is cut off.
		ix.backOff(id, err)
		return nil, nil
	}
	if err == nil {
		err = m.Validate(id)
	}
	if errors.Is(err, store.ErrInvalid) {
		ix.reject(id, err, onBad)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ix.mu.Lock()
	delete(ix.retry, id)
	ix.mu.Unlock()
	return m, nil
}

// publishAll publishes the checked manifests ms in order, each one that
// needs derivation once its values are derived: it waits for those up to
// the deriver's wait, and leaves the rest to a later scan. It returns how
// many runs it published.
func (ix *index) publishAll(ctx context.Context, ms []*store.Manifest) (int, error) {
	n := 0
	deadline := time.Now().Add(ix.der.wait)
	for _, m := range ms {
		var j *deriveJob
		if needsDerivation(m) {
			j = ix.der.start(m)
			timer := time.NewTimer(time.Until(deadline))
			select {
			case <-j.done:
			case <-timer.C:
			case <-ctx.Done():
			}
			timer.Stop()
			if err := ctx.Err(); err != nil {
				return n, err
			}
		}
		ok, err := ix.publishJob(ctx, m, j)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// publishDerived publishes the runs whose derivation has finished since
// the scan that started it stopped waiting for it.
func (ix *index) publishDerived(ctx context.Context) (int, error) {
	n := 0
	for _, j := range ix.der.finished() {
		ok, err := ix.publishJob(ctx, j.m, j)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// publishJob publishes m, completed with the values its job j derived
// (j nil: m needs none). A job not finished leaves m unpublished; one that
// failed is dropped, to be started again at a later scan. It logs what was
// derived, and, as a warning, what could not be.
func (ix *index) publishJob(ctx context.Context, m *store.Manifest, j *deriveJob) (bool, error) {
	var filled []string
	if j != nil {
		select {
		case <-j.done:
		default:
			return false, nil // published by a later scan
		}
		if j.err != nil {
			if ix.der.forget(m.RunID) == 1 && !errors.Is(j.err, context.Canceled) {
				ix.log.Warn("values missing from a run's manifest could not be derived from its shards; trying again at later scans", "run_id", m.RunID, "err", j.err)
			}
			return false, nil
		}
		c := *m
		c.Shards = slices.Clone(m.Shards)
		filled = c.Fill(j.d)
		m = &c
	}
	ok, err := ix.publish(ctx, m)
	if err != nil {
		return false, err
	}
	if j != nil {
		ix.der.forget(m.RunID)
	}
	switch {
	case !ok || j == nil:
	case len(j.d.Warnings) > 0:
		ix.log.Warn("run published with what could be derived from its shards", "run_id", m.RunID, "derived", filled, "warnings", strings.Join(j.d.Warnings, "; "))
	default:
		ix.log.Info("run published with values derived from its shards", "run_id", m.RunID, "derived", filled)
	}
	return ok, nil
}

// waiting reports whether the incomplete manifest of run id is not due
// for another read at this scan.
func (ix *index) waiting(id string) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	b := ix.retry[id]
	if b == nil || b.skip == 0 {
		return false
	}
	b.skip--
	return true
}

// backOff notes that the manifest of run id is not complete JSON: it is
// read again at a later scan, up to maxManifestWait scans later. The first
// time is logged.
func (ix *index) backOff(id string, err error) {
	ix.mu.Lock()
	b := ix.retry[id]
	first := b == nil
	if first {
		b = &backoff{}
		ix.retry[id] = b
	}
	b.wait = min(max(2*b.wait, 1), maxManifestWait)
	b.skip = b.wait - 1
	ix.mu.Unlock()
	if first {
		ix.log.Warn("committed run's manifest is not complete JSON (still being written?); retrying at later scans", "run_id", id, "err", err)
	}
}

// reject records that run id has an invalid manifest: it is not published
// and is reported once, to onBad and in publisher_manifests_rejected_total.
func (ix *index) reject(id string, err error, onBad func(string, error)) {
	ix.mu.Lock()
	ix.bad[id] = true
	delete(ix.retry, id)
	ix.mu.Unlock()
	ix.rejected.Inc()
	onBad(id, err)
}

// publish appends a run to the log unless it is there already, and
// commits the entry with the run's marker. It returns whether this call
// published the run (false when its entry turned out void).
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
		// The marker commits the entry. If the run has one already, an
		// earlier append of it counts (its publisher died before its
		// marker, then a reader committed it) and this entry is void.
		ok, err := ix.b.CommitLogEntry(ctx, store.LogEntry{Seq: seq, RunID: m.RunID})
		if err != nil {
			return false, err
		}
		r := &run{seq: seq, void: true}
		if ok {
			r = newRun(seq, m)
		}
		ix.mu.Lock()
		ix.addLocked([]*run{r})
		ix.marked[m.RunID] = true
		ix.mu.Unlock()
		return ok, nil
	}
}

// latest returns the runs of a subscription document, newest first: every
// run that match accepts after the newest archive page and, before them,
// the newest others up to entries runs in all, looking back at most
// lookBack log entries before the newest one (archive pages are read as
// needed: never for an unfiltered document once the window is full). It
// also returns the
// number of archive pages and the version the runs are of. Its error is
// that of reading an archive page.
func (ix *index) latest(ctx context.Context, match func(*run) bool, lookBack int64) ([]*run, int64, int64, error) {
	ix.mu.RLock()
	window := slices.Clone(ix.window)
	last, archived, version := ix.last, ix.archivedLocked(), ix.version
	ix.mu.RUnlock()
	oldest := max(min(last-lookBack, archived), 0) // seqs after it may be listed
	var runs []*run
	take := func(r *run) bool { // whether to look further back
		if r.seq <= oldest {
			return false
		}
		if r.seq <= archived && int64(len(runs)) >= ix.entries {
			return false
		}
		if match(r) {
			runs = append(runs, r)
		}
		return true
	}
	next := last + 1 // lowest seq looked at
	for i := len(window) - 1; i >= 0; i-- {
		if !take(window[i]) {
			return runs, archived / ix.pageSize, version, nil
		}
		next = window[i].seq
	}
	// The window starts within an archive page (or is short of void
	// entries): read the pages before it.
	for k := (next - 1 + ix.pageSize - 1) / ix.pageSize; k >= 1 && next-1 > oldest && int64(len(runs)) < ix.entries; k-- {
		page, ok, err := ix.page(ctx, k)
		if err != nil {
			return nil, 0, 0, err
		}
		if !ok {
			break
		}
		for _, r := range page {
			if r.seq >= next {
				continue
			}
			if !take(r) {
				return runs, archived / ix.pageSize, version, nil
			}
		}
		next = (k-1)*ix.pageSize + 1
	}
	return runs, archived / ix.pageSize, version, nil
}

// archivedPages is the number of archive pages.
func (ix *index) archivedPages() int64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.archivedLocked() / ix.pageSize
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
	all, err := ix.readRuns(ctx, (k-1)*ix.pageSize+1, k*ix.pageSize)
	if err != nil {
		return nil, false, fmt.Errorf("serve: load archive page %d: %w", k, err)
	}
	runs = all[:0]
	for _, r := range all {
		if !r.void {
			runs = append(runs, r)
		}
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

// currentVersion changes whenever the window does.
func (ix *index) currentVersion() int64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.version
}

// count is the number of published runs: the entries of the log, void
// ones included (there are none unless a publisher died mid-append).
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
