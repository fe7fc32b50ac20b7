package publisher

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
)

// Runs that other tools wrote with a manifest that lists only their
// shards lack what the feed shows and filters on (product, revision,
// channel, …) and what consumers check downloads against (sha256). The
// publisher derives the missing values from the shards themselves, once
// per run, before it publishes the run:
//
//   - each shard is streamed once: the SHA-256 and size of its stored
//     bytes, and a scan of its top-level JSON members (gunzipped when it
//     starts with the gzip magic bytes) for run_info, time_start and
//     time_end, holding at most maxCapture bytes of any of them;
//   - the result is stored write-once under feed/derived/ in the raw
//     bucket (store.PutDerived) before the run's log entry is appended, so
//     the entry is complete the first time it appears, never changes
//     afterwards, and every replica and restart renders it the same way
//     from the same record (a second replica that derives the same run
//     loses the write and uses the winner's record);
//   - a derivation reads for at most deriveBudget; what it has not read
//     by then (a huge or slow shard) is left out, with a warning, and the
//     run is published with what is known. A shard that is missing or
//     whose run_info cannot be read is published the same way.
//
// Scans start the derivations of the runs they find in the background
// and wait for them up to deriveWait, so that a run is published within a
// few seconds of its manifest and a scan is never held up longer; a
// derivation that outlasts the wait is published by a later scan.

const (
	// deriveBudget bounds how long one derivation reads shards.
	deriveBudget = 5 * time.Second
	// deriveWait bounds how long a scan waits for the derivations it
	// started (the budget, plus time to store the record).
	deriveWait = deriveBudget + 2*time.Second
	// deriveWorkers is how many runs are derived at once; deriveShards
	// how many shards of one run are read at once.
	deriveWorkers = 4
	deriveShards  = 4
	// maxCapture bounds the bytes of run_info (or of a time) kept while
	// scanning; a larger run_info is not read.
	maxCapture = 1 << 20
)

// needsDerivation reports whether m lacks what its shards can give and
// the feed needs: a shard's sha256, or one of product, browser_version,
// os and revision (which every valid report has in its run_info, so a
// manifest that `publisher upload` wrote never lacks them). When it does,
// every gap the shards can fill is filled, os_version, browser_channel,
// time_start and time_end included.
func needsDerivation(m *store.Manifest) bool {
	if m.Product == "" || m.BrowserVersion == "" || m.OS == "" || m.Revision == "" {
		return true
	}
	for _, s := range m.Shards {
		if s.SHA256 == "" {
			return true
		}
	}
	return false
}

// derivedValues fills the gaps of m (a manifest as store.ReadCommit
// gives it) from the values derived for its run, when it has gaps and
// they were derived; it returns the record (nil if none) and the fields
// it filled. A run published by a publisher that did not derive keeps the
// entry it had: nothing is derived for it afterwards.
func derivedValues(ctx context.Context, b *store.Bucket, m *store.Manifest) (*store.Derived, []string, error) {
	if !needsDerivation(m) {
		return nil, nil, nil
	}
	d, err := b.ReadDerived(ctx, m.RunID)
	if store.IsNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return d, m.Fill(d), nil
}

// deriver runs derivations in the background, deriveWorkers at a time.
// A job stays in jobs until the index has published its run (forget), so
// that each run is derived once per process; a job that failed (storage
// unavailable) is forgotten at once and started again by a later scan.
type deriver struct {
	b      *store.Bucket
	budget time.Duration // per derivation; deriveBudget
	wait   time.Duration // per scan; deriveWait
	now    func() time.Time

	ctx    context.Context // cancelled by close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	jobs     map[string]*deriveJob
	failures map[string]int // failed jobs in a row, by run id
	queue    []*deriveJob
	workers  int
}

// deriveJob is the derivation of one run.
type deriveJob struct {
	m    *store.Manifest // as read, before derivation
	done chan struct{}   // closed when d or err is set
	d    *store.Derived  // the record in force: this process's, or the one another publisher stored first
	err  error           // no record: the bucket failed, or the publisher is closing
}

func newDeriver(b *store.Bucket) *deriver {
	ctx, cancel := context.WithCancel(context.Background())
	return &deriver{b: b, budget: deriveBudget, wait: deriveWait, now: time.Now,
		ctx: ctx, cancel: cancel, jobs: map[string]*deriveJob{}, failures: map[string]int{}}
}

// close stops the derivations and waits for them.
func (dv *deriver) close() {
	dv.cancel()
	dv.wg.Wait()
}

// job returns the job of run id, or nil.
func (dv *deriver) job(id string) *deriveJob {
	dv.mu.Lock()
	defer dv.mu.Unlock()
	return dv.jobs[id]
}

// start queues the derivation of m's run unless it has a job already,
// and returns the job.
func (dv *deriver) start(m *store.Manifest) *deriveJob {
	dv.mu.Lock()
	defer dv.mu.Unlock()
	if j := dv.jobs[m.RunID]; j != nil {
		return j
	}
	j := &deriveJob{m: m, done: make(chan struct{})}
	dv.jobs[m.RunID] = j
	dv.queue = append(dv.queue, j)
	if dv.workers < deriveWorkers {
		dv.workers++
		dv.wg.Add(1)
		go dv.work()
	}
	return j
}

// forget drops the job of run id. It returns how many jobs of the run
// have failed in a row, this one included (0 when this one did not fail),
// so that a failure is reported once, not at every scan.
func (dv *deriver) forget(id string) int {
	dv.mu.Lock()
	defer dv.mu.Unlock()
	j := dv.jobs[id]
	delete(dv.jobs, id)
	if j != nil {
		select {
		case <-j.done:
			if j.err != nil {
				dv.failures[id]++
				return dv.failures[id]
			}
		default:
		}
	}
	delete(dv.failures, id)
	return 0
}

// finished returns the jobs that are done, in run id order.
func (dv *deriver) finished() []*deriveJob {
	dv.mu.Lock()
	defer dv.mu.Unlock()
	var out []*deriveJob
	for _, j := range dv.jobs {
		select {
		case <-j.done:
			out = append(out, j)
		default:
		}
	}
	slices.SortFunc(out, func(a, b *deriveJob) int { return strings.Compare(a.m.RunID, b.m.RunID) })
	return out
}

func (dv *deriver) work() {
	defer dv.wg.Done()
	for {
		dv.mu.Lock()
		if len(dv.queue) == 0 {
			dv.workers--
			dv.mu.Unlock()
			return
		}
		j := dv.queue[0]
		dv.queue = dv.queue[1:]
		dv.mu.Unlock()
		j.d, j.err = dv.record(dv.ctx, j.m)
		close(j.done)
	}
}

// record returns the values derived for m's run: the stored record if
// there is one, else a new derivation, stored write-once (or, if another
// publisher stored one meanwhile, that one).
func (dv *deriver) record(ctx context.Context, m *store.Manifest) (*store.Derived, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d, err := dv.b.ReadDerived(ctx, m.RunID)
	if errors.Is(err, store.ErrInvalid) {
		// Not ours to replace (write-once), and readers of the log ignore
		// it: publish what the manifest says.
		return &store.Derived{Version: 1, RunID: m.RunID, Warnings: []string{"the stored derived values are unreadable: " + err.Error()}}, nil
	}
	if !store.IsNotFound(err) {
		return d, err
	}
	d, err = derive(ctx, dv.b, m, dv.budget)
	if err != nil {
		return nil, err
	}
	d.Derived = dv.now().UTC()
	err = dv.b.PutDerived(ctx, d)
	if store.IsExists(err) {
		return dv.b.ReadDerived(ctx, m.RunID)
	}
	if err != nil {
		return nil, fmt.Errorf("serve: run %s: store derived values: %w", m.RunID, err)
	}
	return d, nil
}

// shardScan is what reading one stored shard gave.
type shardScan struct {
	size     int64
	sha256   string // "" unless the shard was read to its end
	missing  bool
	cut      bool   // the budget ran out before its end
	problem  string // why its members could not all be read, "" if they were
	members  map[string][]byte
	complete bool // the top-level object was scanned to its end
}

// derive reads the shards of m's run, at most budget long, and returns
// what they give. It fails only when the bucket does (a temporary error,
// or ctx cancelled): everything else is a warning in the record.
func derive(ctx context.Context, b *store.Bucket, m *store.Manifest, budget time.Duration) (*store.Derived, error) {
	rctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	scans := make([]shardScan, len(m.Shards))
	errs := make([]error, len(m.Shards))
	sem := make(chan struct{}, deriveShards)
	var wg sync.WaitGroup
	for i, sh := range m.Shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-rctx.Done():
				scans[i].cut = true
				return
			}
			defer func() { <-sem }()
			scans[i], errs[i] = readShard(rctx, b, m.RunID, sh.Name)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i, err := range errs {
		if err == nil {
			continue
		}
		if rctx.Err() != nil {
			// The budget ran out while the store was being read: what was
			// read is kept.
			scans[i].cut = true
			continue
		}
		return nil, fmt.Errorf("serve: run %s: derive from shard %s: %w", m.RunID, m.Shards[i].Name, err)
	}
	return merge(m, scans, budget), nil
}

// merge turns the scans of a run's shards into its derived values, as
// report.Process merges shards: run_info is the union of the shards'
// (a field whose shards disagree is not derived), time_start the earliest
// and time_end the latest; the metadata is normalised as `publisher
// upload` records it (report.NormalizeMetadata), and each value that
// breaks the manifest rules is left out, with a warning.
func merge(m *store.Manifest, scans []shardScan, budget time.Duration) *store.Derived {
	mg := &merger{m: m, scans: scans, d: &store.Derived{Version: 1, RunID: m.RunID}}
	cut, allRead := mg.shards(budget)
	mg.metadata(len(cut) < len(scans))
	mg.times(allRead, len(cut) == 0)
	return mg.d
}

// merger builds the derived values of one run, phase by phase.
type merger struct {
	m     *store.Manifest
	scans []shardScan
	d     *store.Derived
}

func (mg *merger) warn(format string, args ...any) {
	mg.d.Warnings = append(mg.d.Warnings, fmt.Sprintf(format, args...))
}

// shards records each shard's size and hash, when it was read to its end,
// and warns of those that were not. It returns the shards reading stopped
// in (the budget ran out), and whether every shard's JSON was read to its
// end.
func (mg *merger) shards(budget time.Duration) (cut []string, allRead bool) {
	allRead = true
	for i, sc := range mg.scans {
		name := mg.m.Shards[i].Name
		sh := store.Shard{Name: name}
		if sc.sha256 != "" {
			sh.Size, sh.SHA256 = sc.size, sc.sha256
		}
		mg.d.Shards = append(mg.d.Shards, sh)
		switch {
		case sc.missing:
			mg.warn("shard %s is missing", name)
		case sc.cut:
			cut = append(cut, name)
		case sc.problem != "":
			mg.warn("shard %s: %s", name, sc.problem)
		}
		allRead = allRead && sc.complete
	}
	if len(cut) > 0 {
		mg.warn("reading stopped after %s, before the end of shard %s: their sha256 (and time_end) are not derived", budget, strings.Join(cut, ", "))
	}
	return cut, allRead
}

// runInfoFields are the run_info members the manifest's metadata comes
// from, with where each goes.
var runInfoFields = []struct {
	key string
	get func(*report.Metadata) *string
	set func(*store.Derived, string)
}{
	{"product", func(m *report.Metadata) *string { return &m.Product }, func(d *store.Derived, v string) { d.Product = v }},
	{"browser_version", func(m *report.Metadata) *string { return &m.BrowserVersion }, func(d *store.Derived, v string) { d.BrowserVersion = v }},
	{"os", func(m *report.Metadata) *string { return &m.OS }, func(d *store.Derived, v string) { d.OS = v }},
	{"os_version", func(m *report.Metadata) *string { return &m.OSVersion }, func(d *store.Derived, v string) { d.OSVersion = v }},
	{"revision", func(m *report.Metadata) *string { return &m.Revision }, func(d *store.Derived, v string) { d.Revision = v }},
	{"browser_channel", func(m *report.Metadata) *string { return &m.BrowserChannel }, func(d *store.Derived, v string) { d.BrowserChannel = v }},
}

// metadata derives the metadata from the shards' run_info; read says
// whether any shard was read at all (if none was, the budget's warning
// says why there is no run_info).
func (mg *merger) metadata(read bool) {
	var meta report.Metadata
	from := map[string]string{} // field → shard its value came from
	bad := map[string]bool{}    // fields not derived
	sawRunInfo := false
	for i, sc := range mg.scans {
		raw, ok := sc.members["run_info"]
		if !ok {
			continue
		}
		shard := mg.m.Shards[i].Name
		var ri map[string]any
		if err := json.Unmarshal(raw, &ri); err != nil {
			mg.warn("shard %s: run_info is not a JSON object", shard)
			continue
		}
		sawRunInfo = true
		for _, f := range runInfoFields {
			dst := f.get(&meta)
			switch v := ri[f.key].(type) {
			case nil:
			case string:
				switch {
				case v == "" || bad[f.key]:
				case *dst != "" && *dst != v:
					mg.warn("run_info %s is %s in shard %s and %s in shard %s: not derived", f.key, quoteShort(*dst), from[f.key], quoteShort(v), shard)
					bad[f.key], *dst = true, ""
				default:
					*dst, from[f.key] = v, shard
				}
			default:
				mg.warn("shard %s: run_info %s is not a string: not derived", shard, f.key)
				bad[f.key], *dst = true, ""
			}
		}
	}
	if !sawRunInfo && read {
		mg.warn("no shard has a readable run_info: product, browser_version, os, os_version, revision and browser_channel are not derived")
	}
	if meta.Revision != "" && !isHex40(meta.Revision) {
		mg.warn("run_info revision %s is not 40 hexadecimal digits: not derived", quoteShort(meta.Revision))
		meta.Revision = ""
	}
	if meta.Product != "" {
		meta, _ = report.NormalizeMetadata(meta, nil)
	}
	meta.Revision = strings.ToLower(meta.Revision)
	for _, f := range runInfoFields {
		v := *f.get(&meta)
		if v == "" {
			continue
		}
		if err := checkValue(mg.m.RunID, func(p *store.Derived) { f.set(p, v) }); err != nil {
			mg.warn("run_info %s breaks the manifest rules (%v): not derived", f.key, err)
			continue
		}
		f.set(mg.d, v)
	}
}

// times derives time_start and time_end, only when every shard was read
// to its end (wptrunner writes time_end last); uncut says whether the
// budget let every shard be read (if not, its warning says so).
func (mg *merger) times(allRead, uncut bool) {
	start, end, ok := shardTimes(mg.m, mg.scans, mg.warn)
	switch {
	case !ok:
	case !allRead:
		if uncut && (!start.IsZero() || !end.IsZero()) {
			mg.warn("time_start and time_end are not derived: not every shard could be read to its end")
		}
	default:
		if err := checkValue(mg.m.RunID, func(p *store.Derived) { p.TimeStart, p.TimeEnd = start, end }); err != nil {
			mg.warn("time_start or time_end breaks the manifest rules (%v): not derived", err)
		} else {
			mg.d.TimeStart, mg.d.TimeEnd = start, end
		}
	}
}

// shardTimes merges the shards' time_start (earliest) and time_end
// (latest), in milliseconds since the epoch as wptreport writes them.
func shardTimes(m *store.Manifest, scans []shardScan, warn func(string, ...any)) (start, end time.Time, ok bool) {
	var lo, hi float64
	var hasLo, hasHi bool
	for i, sc := range scans {
		for _, key := range []string{"time_start", "time_end"} {
			raw, present := sc.members[key]
			if !present || string(raw) == "null" {
				continue
			}
			t, err := strconv.ParseFloat(string(raw), 64)
			if err != nil || math.IsNaN(t) || math.IsInf(t, 0) {
				warn("shard %s: %s is not a number of milliseconds: not derived", m.Shards[i].Name, key)
				return time.Time{}, time.Time{}, false
			}
			if key == "time_start" && (!hasLo || t < lo) {
				lo, hasLo = t, true
			}
			if key == "time_end" && (!hasHi || t > hi) {
				hi, hasHi = t, true
			}
		}
	}
	if hasLo {
		start = msTime(lo)
	}
	if hasHi {
		end = msTime(hi)
	}
	return start, end, true
}

// msTime converts wptreport's milliseconds since the epoch; 0, and a time
// outside years 1 to 9999, is the zero time.
func msTime(ms float64) time.Time {
	const minMillis, maxMillis = -62135596800000, 253402300799999
	if ms == 0 || ms < minMillis || ms > maxMillis {
		return time.Time{}
	}
	sec := math.Floor(ms / 1000)
	ns := math.Round((ms - sec*1000) * 1e6)
	return time.Unix(int64(sec), int64(ns)).UTC()
}

// checkValue checks derived values against the manifest rules
// (store.Manifest.Validate, the same validation as uploads), set into an
// otherwise empty record.
func checkValue(runID string, set func(*store.Derived)) error {
	p := &store.Derived{RunID: runID, Shards: []store.Shard{{Name: "probe"}}}
	set(p)
	err := p.Validate()
	var me *store.ManifestError
	if errors.As(err, &me) {
		return errors.New(me.Reason())
	}
	return err
}

func isHex40(s string) bool {
	if len(s) != 40 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func quoteShort(s string) string {
	if len(s) > 40 {
		return strconv.Quote(s[:40]) + "…"
	}
	return strconv.Quote(s)
}

// readShard streams one stored shard once: its SHA-256 and size, and its
// top-level members run_info, time_start and time_end. It returns an
// error only when the store does (or ctx is done); a shard that is not
// gzip or JSON, or is cut off, is read to its end for the hash and has a
// problem.
func readShard(ctx context.Context, b *store.Bucket, runID, name string) (shardScan, error) {
	rc, err := b.OpenShard(ctx, runID, name)
	if store.IsNotFound(err) {
		return shardScan{missing: true}, nil
	}
	if err != nil {
		return shardScan{}, err
	}
	defer rc.Close()
	h := sha256.New()
	src := &sourceReader{ctx: ctx, r: rc, h: h}
	br := bufio.NewReaderSize(src, 64<<10)
	sc := shardScan{}
	ts := newTopScanner("run_info", "time_start", "time_end")
	if err := scanJSON(br, ts); err != nil {
		if src.err != nil {
			return shardScan{}, src.err
		}
		sc.problem = err.Error()
	}
	sc.members, sc.complete = ts.got, ts.state == stDone
	if sc.problem == "" && ts.tooLarge != "" {
		sc.problem = fmt.Sprintf("%s is larger than %d bytes: not read", ts.tooLarge, maxCapture)
	}
	// The rest of the stored bytes, for the hash.
	if _, err := io.Copy(io.Discard, br); err != nil {
		return shardScan{}, err
	}
	sc.size, sc.sha256 = src.n, hex.EncodeToString(h.Sum(nil))
	return sc, nil
}

// sourceReader reads a stored object into a hash, counting its bytes and
// stopping when ctx is done; err is the store's (or ctx's) error.
type sourceReader struct {
	ctx context.Context
	r   io.Reader
	h   io.Writer
	n   int64
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		s.err = err
		return 0, err
	}
	n, err := s.r.Read(p)
	s.h.Write(p[:n])
	s.n += int64(n)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}
