package report

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/go-json-experiment/json/jsontext"
)

// exemptRunInfo are the run_info keys whose conflicts between shards do not
// reject a run; the merged value becomes null (wpt.fyi's IGNORED_CONFLICTS).
var exemptRunInfo = map[string]bool{
	"browser_build_id":  true,
	"browser_changeset": true,
	"version":           true,
	"os_build":          true,
}

// Process decodes, validates and merges the shards of one run, in the order
// given, as wpt.fyi's results processor does (load_json for each shard,
// update_metadata with opts.Overrides, finalize, prepare_labels and
// normalize_product), and returns the run's metadata, labels and summary.
// opts.Test, if set, receives every test result (see [Options]).
//
// Each shard is plain JSON or gzip (detected by the magic bytes 1f 8b, not
// by the name; concatenated gzip members are read as one stream). Shards
// merge as in wpt.fyi: results concatenate; run_info is the union of the
// shards' run_info, and a key with different values in two shards rejects
// the run (CodeConflictingRunInfo), except browser_build_id,
// browser_changeset, version and os_build, which become null (with a
// warning); time_start is the minimum and time_end the maximum.
//
// A test path (compared after trimming white space) that appears more than
// once is resolved, with a warning, when the copies are identical (ignoring
// insignificant white space) or when all copies but one have an empty
// status; otherwise the run is rejected with CodeDuplicateTest naming the
// path and both shards. The entry keeps the position of the path's first
// appearance. (Deliberate deviation: wpt.fyi rejects every
// duplicate, which loses runs where wptrunner logged a test twice.)
//
// Unknown or empty statuses are kept verbatim and reported as warnings. A
// run whose shards all have "results": [] is valid and Empty.
//
// Errors (when several shards are invalid, the first one's error):
//   - *Error for an invalid run (see the Code constants); the shard, the
//     line, column and byte offset of JSON errors, and the test are set
//     where they apply;
//   - `report: open shard "<name>": <err>` and `report: read shard "<name>":
//     <err>` wrapping the error of Shard.Open or of reading the shard: these
//     are transient and may be retried (they are never *Error);
//   - `report: test "<path>": <err>` wrapping an error from opts.Test;
//   - ctx.Err() if ctx is cancelled.
//
// Deliberate deviations from wpt.fyi, besides duplicates: the JSON must be
// strict (no NaN, no raw control characters in strings, no lone surrogate
// escapes — Python's json.load(strict=False) accepts these); "results" may
// appear only once in a shard; a result must have a string "status" and, if
// present, an array "subtests" of objects with a string "status" (a
// missing "subtests" counts as none); test paths must start with "/" and
// have no control characters and no "." or ".." segments; the revision
// must be 40 hex digits; empty-string metadata counts as missing.
func Process(ctx context.Context, shards []Shard, opts Options) (*Result, error) {
	if len(shards) == 0 {
		return nil, rejectf(CodeNoResults, "", "no shards")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p := &processor{
		opts:   opts,
		lim:    opts.Limits.withDefaults(),
		shards: shards,
		seed:   maphash.MakeSeed(),
		index:  make(map[string]int32),
		res:    make([]shardResult, len(shards)),
	}
	p.failed.Store(math.MaxInt64)
	h := sha1.New()
	var wg sync.WaitGroup
	producerDone := make(chan struct{})
	go func() {
		defer close(producerDone)
		for i := range shards {
			ch := make(chan chunk, chunkQueue)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := p.consume(i, ch); err != nil {
					p.res[i].err = err
					for {
						cur := p.failed.Load()
						if int64(i) >= cur || p.failed.CompareAndSwap(cur, int64(i)) {
							break
						}
					}
					cancel(errAborted) // stops the producer and the later shards
					for range ch {     // let the producer finish or notice the cancellation
					}
				}
			}()
			if err := produce(ctx, shards[i], p.lim, h, ch); err != nil {
				return
			}
		}
	}()
	<-producerDone
	wg.Wait()
	if err := parent.Err(); err != nil {
		return nil, err
	}
	// The first failing shard's error. Shards before a failing one always
	// run to the end, so this does not depend on timing; shards after it
	// stop with errAborted.
	var aborted error
	for i := range p.res {
		switch err := p.res[i].err; {
		case err == nil:
		case errors.Is(err, errAborted):
			aborted = err
		default:
			return nil, err
		}
	}
	if aborted != nil {
		return nil, aborted
	}
	return p.finish(hex.EncodeToString(h.Sum(nil)))
}

var errAborted = errors.New("report: aborted after an error in another shard")

type processor struct {
	failed atomic.Int64 // lowest index of a failed shard, MaxInt64 if none
	opts   Options
	lim    Limits
	shards []Shard
	seed   maphash.Seed
	res    []shardResult

	mu     sync.Mutex               // guards index, blocks, n, spill and the entries
	index  map[string]int32         // trimmed test path → entry number
	blocks [][]entry                // the entries, entryBlock to a block
	n      int32                    // entries in use
	spill  map[int32][]int          // shards ≥ 64 holding copies, by entry (rare)
	unk    map[int32]map[string]int // unknown subtest statuses of the winning copy, by entry (rare)

	testMu [64]sync.Mutex // serialise opts.Test calls of one path (striped by entry number)
}

// entryBlock is the number of entries in one block of processor.blocks.
// Blocks never move or grow, so the store grows without doubling or
// copying: what it holds is what the run needs, about 90 bytes a test.
const entryBlock = 1024

// shardResult is what one shard contributes besides its results.
type shardResult struct {
	runInfo  map[string]any
	start    float64
	hasStart bool
	end      float64
	hasEnd   bool
	err      error
}

// entry is one test path of the merged run. It is stored by value and kept
// small: a full report has tens of thousands.
type entry struct {
	path     string
	status   string // of the winning copy (interned by the scanner)
	digest   uint64
	shards   uint64 // bit i: shard i holds a copy (shards ≥ 64 in processor.spill)
	pass     int32  // of the winning copy; counts and sizes fit: see register
	total    int32
	size     int32
	index    int32 // first position in merged order: shard and index in it
	shard    int32
	win      int32 // the winning copy: shard and index in it
	winIndex int32
	copies   int32
	empties  int32 // copies with an empty status
	pending  bool  // two differing copies with an empty status seen
	unknown  bool  // the winning copy has unknown subtest statuses (processor.unk)
}

// entry returns entry i.
func (p *processor) entry(i int32) *entry { return &p.blocks[i/entryBlock][i%entryBlock] }

// newEntry returns a new zero entry and its number.
func (p *processor) newEntry() (int32, *entry) {
	i := p.n
	if int(i)%entryBlock == 0 {
		p.blocks = append(p.blocks, make([]entry, entryBlock))
	}
	p.n++
	return i, p.entry(i)
}

// addShard records that shard idx holds a copy of entry i.
func (p *processor) addShard(i int32, e *entry, idx int) {
	if idx < 64 {
		e.shards |= 1 << idx
		return
	}
	if !slices.Contains(p.spill[i], idx) {
		if p.spill == nil {
			p.spill = map[int32][]int{}
		}
		p.spill[i] = append(p.spill[i], idx)
	}
}

// shardsOf lists the shards holding copies of entry i, in order.
func (p *processor) shardsOf(i int32, e *entry) []int {
	var out []int
	for s := range 64 {
		if e.shards&(1<<s) != 0 {
			out = append(out, s)
		}
	}
	more := slices.Clone(p.spill[i])
	slices.Sort(more)
	return append(out, more...)
}

// checkPath returns why a trimmed test path is invalid, or "".
func checkPath(path string) string {
	if path == "" {
		return "empty test path"
	}
	if path[0] != '/' {
		return `test path does not start with "/"`
	}
	for _, r := range path {
		if unicode.IsControl(r) {
			return fmt.Sprintf("test path contains control character %U", r)
		}
	}
	for seg := range strings.SplitSeq(path, "/") {
		if seg == "." || seg == ".." {
			return `test path has a "." or ".." segment`
		}
	}
	return ""
}

// register adds one result copy to the merged run and passes it to opts.Test
// when it becomes the path's current copy.
func (p *processor) register(idx, n int, path string, info *resultInfo, raw []byte) error {
	if n >= math.MaxInt32 || len(raw) >= math.MaxInt32 || info.subtests >= math.MaxInt32 {
		// Out of reach of the default limits (a 4 GiB shard); entries
		// keep these in 32 bits.
		return &Error{Code: CodeTooLarge, Shard: p.shards[idx].Name, Offset: -1, Test: path,
			Err: errors.New("more than 2^31-1 results, subtests or bytes in one result")}
	}
	digest := maphash.Bytes(p.seed, raw)
	p.mu.Lock()
	i, ok := p.index[path]
	var e *entry
	forward := false
	if !ok {
		i, e = p.newEntry()
		p.index[path] = i
		e.path, e.shard, e.index, e.copies = path, int32(idx), int32(n), 1
		p.addShard(i, e, idx)
		if info.status == "" {
			e.empties = 1
		}
		p.set(i, e, idx, n, info, digest, len(raw))
		forward = true
	} else {
		e = p.entry(i)
		e.copies++
		if info.status == "" {
			e.empties++
		}
		p.addShard(i, e, idx)
		if int32(idx) < e.shard || int32(idx) == e.shard && int32(n) < e.index {
			e.shard, e.index = int32(idx), int32(n)
		}
		switch {
		case e.digest == digest && int(e.size) == len(raw):
			if int32(idx) < e.win || int32(idx) == e.win && int32(n) < e.winIndex {
				e.win, e.winIndex = int32(idx), int32(n) // the earliest of identical copies
			}
		case info.status == "":
			if e.status == "" {
				e.pending = true
			}
		case e.status == "":
			p.set(i, e, idx, n, info, digest, len(raw))
			forward = true
		default:
			a, b := min(int(e.win), idx), max(int(e.win), idx)
			p.mu.Unlock()
			var msg string
			if a == b {
				msg = fmt.Sprintf("two different finished copies in shard %q", p.shards[a].Name)
			} else {
				msg = fmt.Sprintf("different finished copies in shard %q and shard %q", p.shards[a].Name, p.shards[b].Name)
			}
			return &Error{Code: CodeDuplicateTest, Shard: p.shards[b].Name, Offset: -1, Test: path, Err: errors.New(msg)}
		}
	}
	test := p.opts.Test
	mu := &p.testMu[i%int32(len(p.testMu))]
	if forward && test != nil {
		mu.Lock()
	}
	p.mu.Unlock()
	if forward && test != nil {
		err := test(path, raw)
		mu.Unlock()
		if err != nil {
			return fmt.Errorf("report: test %q: %w", path, err)
		}
	}
	return nil
}

// set makes a copy entry i's winning copy. The caller holds p.mu.
func (p *processor) set(i int32, e *entry, idx, n int, info *resultInfo, digest uint64, size int) {
	e.status, e.pass, e.total = info.status, int32(info.pass), int32(info.subtests)
	e.digest, e.size, e.win, e.winIndex = digest, int32(size), int32(idx), int32(n)
	e.unknown = len(info.unknown) > 0
	switch {
	case e.unknown:
		if p.unk == nil {
			p.unk = map[int32]map[string]int{}
		}
		p.unk[i] = info.unknown
	case p.unk != nil:
		delete(p.unk, i)
	}
}

func isInvalidUTF8(se *jsontext.SyntacticError) bool {
	return se.Err != nil && strings.Contains(se.Err.Error(), "invalid UTF-8")
}

// finish merges what the shards contributed into a Result.
func (p *processor) finish(sum string) (*Result, error) {
	r := &Result{Hash: sum}
	var warns warnings

	// run_info, in shard order.
	merged := map[string]any{}
	from := map[string]int{}
	var conflicts []string
	for i := range p.res {
		ri := p.res[i].runInfo
		keys := make([]string, 0, len(ri))
		for k := range ri {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v := ri[k]
			old, ok := merged[k]
			if !ok {
				merged[k], from[k] = v, i
				continue
			}
			if reflect.DeepEqual(old, v) {
				continue
			}
			desc := fmt.Sprintf("%s: %s in shard %q, %s in shard %q", k, jsonString(old), p.shards[from[k]].Name, jsonString(v), p.shards[i].Name)
			if exemptRunInfo[k] {
				merged[k] = nil
				warns.add(Warning{Code: WarnRunInfoConflict, Message: "run_info " + desc + "; set to null"})
				continue
			}
			conflicts = append(conflicts, desc)
		}
	}
	if len(conflicts) > 0 {
		return nil, rejectf(CodeConflictingRunInfo, "", "conflicting run_info: "+strings.Join(conflicts, "; "))
	}

	// time_start = min, time_end = max.
	var start, end float64
	var hasStart, hasEnd bool
	for _, s := range p.res {
		if s.hasStart && (!hasStart || s.start < start) {
			start, hasStart = s.start, true
		}
		if s.hasEnd && (!hasEnd || s.end > end) {
			end, hasEnd = s.end, true
		}
	}
	r.TimeStart, r.TimeEnd = msTime(start), msTime(end)

	// Metadata: run_info, then overrides (update_metadata), then validation
	// and normalisation.
	var m Metadata
	for _, f := range []struct {
		key string
		dst *string
	}{
		{"product", &m.Product}, {"browser_version", &m.BrowserVersion}, {"os", &m.OS},
		{"os_version", &m.OSVersion}, {"revision", &m.Revision}, {"browser_channel", &m.BrowserChannel},
	} {
		switch v := merged[f.key].(type) {
		case nil:
		case string:
			*f.dst = v
		default:
			return nil, rejectf(CodeWrongType, "", fmt.Sprintf("run_info %q is %s, want a string", f.key, jsonKind(v)))
		}
	}
	o := p.opts.Overrides
	for _, f := range []struct {
		key      string
		dst      *string
		override string
	}{
		{"product", &m.Product, o.Product}, {"browser_version", &m.BrowserVersion, o.BrowserVersion},
		{"os", &m.OS, o.OS}, {"os_version", &m.OSVersion, o.OSVersion},
		{"revision", &m.Revision, o.Revision}, {"browser_channel", &m.BrowserChannel, o.BrowserChannel},
	} {
		if f.override != "" {
			*f.dst = f.override
			merged[f.key] = f.override
		}
	}
	if err := ValidateMetadata(m); err != nil {
		return nil, err
	}
	r.product = m.Product
	r.Meta, r.Labels = NormalizeMetadata(m, p.opts.Labels)
	merged["browser_version"] = r.Meta.BrowserVersion
	merged["revision"] = r.Meta.Revision
	r.RunInfo = merged

	// Tests, in merged-report order.
	// The entries are numbered in arrival order; sort the numbers. The
	// index is no longer needed: drop it before the summary is built.
	p.index = nil
	list := make([]int32, p.n)
	for i := range list {
		list[i] = int32(i)
	}
	slices.SortFunc(list, func(a, b int32) int {
		ea, eb := p.entry(a), p.entry(b)
		if ea.shard != eb.shard {
			return int(ea.shard - eb.shard)
		}
		return int(ea.index - eb.index)
	})
	r.Summary = newSummary(len(list))
	type unknownKey struct{ kind, status string }
	type unknownVal struct {
		count int
		first string
	}
	unknown := map[unknownKey]*unknownVal{}
	var unknownOrder []unknownKey
	note := func(k unknownKey, n int, path string) {
		u := unknown[k]
		if u == nil {
			u = &unknownVal{first: path}
			unknown[k] = u
			unknownOrder = append(unknownOrder, k)
		}
		u.count += n
	}
	for _, i := range list {
		e := p.entry(i)
		if e.pending && e.status == "" {
			in := p.shardsOf(i, e)
			return nil, &Error{Code: CodeDuplicateTest, Shard: p.shards[in[len(in)-1]].Name, Offset: -1, Test: e.path,
				Err: fmt.Errorf("different copies, none finished (all with an empty status), in shard %s", p.shardNames(in))}
		}
		r.Summary.appendNew(e.path, TestSummary{Status: StatusAbbrev(e.status), Counts: Counts{Pass: int(e.pass), Total: int(e.total)}})
		r.Subtests += int(e.total)
		if e.copies > 1 {
			warns.add(Warning{Code: WarnDuplicateResolved, Test: e.path, Message: p.duplicateMessage(i, e)})
		}
		if !IsTestStatus(e.status) {
			note(unknownKey{"test", e.status}, 1, e.path)
		}
		if e.unknown {
			unk := p.unk[i]
			statuses := make([]string, 0, len(unk))
			for s := range unk {
				statuses = append(statuses, s)
			}
			slices.Sort(statuses)
			for _, s := range statuses {
				note(unknownKey{"subtest", s}, unk[s], e.path)
			}
		}
	}
	r.Tests = len(list)
	for _, k := range unknownOrder {
		u := unknown[k]
		what := "tests"
		if k.kind == "subtest" {
			what = "subtests"
		}
		warns.add(Warning{Code: WarnUnknownStatus, Test: u.first,
			Message: fmt.Sprintf("unknown %s status %s in %d %s (first in %q); kept verbatim", k.kind, strconv.Quote(k.status), u.count, what, u.first)})
	}
	r.Warnings = warns.list()
	return r, nil
}

// shardNames quotes the names of shards.
func (p *processor) shardNames(shards []int) string {
	names := make([]string, len(shards))
	for i, s := range shards {
		names[i] = strconv.Quote(p.shards[s].Name)
	}
	return strings.Join(names, ", ")
}

// duplicateMessage describes a resolved duplicate, entry i. It depends only
// on the set of copies, not on the order in which they were seen.
func (p *processor) duplicateMessage(i int32, e *entry) string {
	var why string
	switch {
	case e.status == "" || e.empties == 0:
		why = "identical copies"
	case e.empties == e.copies-1:
		why = "the other copies have an empty status"
	default:
		why = "identical copies and copies with an empty status"
	}
	return fmt.Sprintf("%d copies of the test in shard %s; kept the copy with status %s from shard %q (%s)",
		e.copies, p.shardNames(p.shardsOf(i, e)), strconv.Quote(e.status), p.shards[e.win].Name, why)
}

// warnings collects warnings, keeping at most maxWarningsPerCode per code.
type warnings struct {
	ws      []Warning
	count   map[string]int
	dropped []string // codes in order of first drop
}

func (w *warnings) add(x Warning) {
	if w.count == nil {
		w.count = map[string]int{}
	}
	w.count[x.Code]++
	if w.count[x.Code] > maxWarningsPerCode {
		if w.count[x.Code] == maxWarningsPerCode+1 {
			w.dropped = append(w.dropped, x.Code)
		}
		return
	}
	w.ws = append(w.ws, x)
}

func (w *warnings) list() []Warning {
	out := w.ws
	for _, c := range w.dropped {
		out = append(out, Warning{Code: WarnTruncated,
			Message: fmt.Sprintf("%d more %s warnings left out", w.count[c]-maxWarningsPerCode, c)})
	}
	return out
}

// msTime converts milliseconds since the epoch; 0 is the zero time.
func msTime(ms float64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	if ms == math.Trunc(ms) {
		return time.UnixMilli(int64(ms)).UTC()
	}
	sec := math.Floor(ms / 1000)
	ns := math.Round((ms - sec*1000) * 1e6)
	return time.Unix(int64(sec), int64(ns)).UTC()
}

// jsonString renders a run_info value for messages.
func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	default:
		return "an object"
	}
}

func quote(s string) string { return strconv.Quote(s) }
