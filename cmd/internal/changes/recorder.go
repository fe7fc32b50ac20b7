package changes

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/diff"
	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
)

// Recorder writes the diff of each run about to be recorded VALID
// (Processor.BeforeValid). The zero values of its fields but Out are the
// defaults. It is safe for concurrent use.
//
// A run's series is the runs of its product (TestRun browser_name) with
// the same set of labels; they are ordered by run time
// (records.TestRun.RunTime), then upload time (from the run id), then id.
// Its runs are found from the metrics series points
// (metrics/points/<product>/, written before the status record), and each
// candidate's status record says whether it is VALID.
type Recorder struct {
	Out *store.Bucket
	// FlakyChanges (K) and FlakyRuns (N): a test whose result changed in
	// at least K of the last N runs of the series is flaky
	// (diff.DefaultFlakyChanges and diff.DefaultWindow when < 1).
	FlakyChanges, FlakyRuns int
	Log                     *slog.Logger
}

func (r *Recorder) k() int {
	if r.FlakyChanges < 1 {
		return diff.DefaultFlakyChanges
	}
	return r.FlakyChanges
}

func (r *Recorder) n() int {
	if r.FlakyRuns < 1 {
		return diff.DefaultWindow
	}
	return min(r.FlakyRuns, diff.MaxWindow)
}

func (r *Recorder) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.New(slog.DiscardHandler)
}

// member is a run of a series.
type member struct {
	id       string
	t, up    time.Time
	status   *records.Status // once read
	notValid bool            // its status record is missing or not VALID
}

func (m *member) compare(o *member) int {
	if c := m.t.Compare(o.t); c != 0 {
		return c
	}
	if c := m.up.Compare(o.up); c != 0 {
		return c
	}
	return cmp.Compare(m.id, o.id)
}

// BeforeValid computes and writes the diff of the run st (about to be
// recorded VALID, with TestRun tr and summary sum) against the previous
// VALID run of its series, and updates the series' history. When a VALID
// run of the series is newer (the run arrived out of order), it also
// rewrites the diff of the next VALID run, whose previous run is now this
// one. It returns the store's errors and errors reading the other runs'
// summaries; nothing it writes is visible before the status record.
func (r *Recorder) BeforeValid(ctx context.Context, st *records.Status, tr *records.TestRun, sum *report.Summary) error {
	runID := st.RunID
	up, _ := store.RunTime(runID)
	self := &member{id: runID, t: tr.RunTime(), up: up}
	ms, err := r.series(ctx, tr.BrowserName, tr.Labels, runID)
	if err != nil {
		return err
	}
	// The last N VALID runs before this one, oldest first, and the next
	// VALID run after it.
	n := r.n()
	var prevs []*member
	i, _ := slices.BinarySearchFunc(ms, self, (*member).compare)
	for j := i - 1; j >= 0 && len(prevs) < n; j-- {
		if ok, err := r.valid(ctx, ms[j]); err != nil {
			return err
		} else if ok {
			prevs = append(prevs, ms[j])
		}
	}
	slices.Reverse(prevs)
	var next *member
	for _, m := range ms[i:] {
		if ok, err := r.valid(ctx, m); err != nil {
			return err
		} else if ok {
			next = m
			break
		}
	}

	hkey := store.SeriesHistoryKey(tr.BrowserName, tr.Labels)
	sums := map[string]*report.Summary{runID: sum}
	h, err := r.history(ctx, hkey, prevs, sums)
	if err != nil {
		return err
	}
	h.Add(runID, sum)
	var prev *member
	if len(prevs) > 0 {
		prev = prevs[len(prevs)-1]
	}
	d, err := r.compute(ctx, prev, self, sums, h)
	if err != nil {
		return err
	}
	if next != nil {
		// Out of order: the next run's previous is now this run.
		next.status, _ = r.status(ctx, next.id)
		if sums[next.id], err = r.summary(ctx, next); err != nil {
			return err
		}
		hn, err := cloneHistory(h)
		if err != nil {
			return err
		}
		hn.Add(next.id, sums[next.id])
		dn, err := r.compute(ctx, self, next, sums, hn)
		if err != nil {
			return err
		}
		if err := r.writeGzip(ctx, store.DiffKey(next.id), dn.WriteJSON); err != nil {
			return err
		}
		r.log().Info("diff recomputed after an out-of-order run", "run_id", next.id, "before", runID)
	}
	if err := r.writeGzip(ctx, store.DiffKey(runID), d.WriteJSON); err != nil {
		return err
	}
	if next != nil {
		// The stored history is the newest run's; this run changed it.
		// The next run in order rebuilds it from the summaries.
		if err := r.Out.Delete(ctx, hkey); err != nil && !store.IsNotFound(err) {
			return err
		}
		return nil
	}
	return r.writeGzip(ctx, hkey, h.WriteJSON)
}

// compute returns the diff from before (nil: none, the first run of its
// series) to after, with after's known_intermittent statuses and the
// flaky tests of h (whose newest run is after).
func (r *Recorder) compute(ctx context.Context, before, after *member, sums map[string]*report.Summary, h *diff.History) (*diff.Diff, error) {
	ki, err := ReadIntermittent(ctx, r.Out, after.id)
	if err != nil {
		return nil, err
	}
	if before == nil {
		// Nothing to compare with: an empty diff, so that every VALID run
		// has one.
		d := diff.Summaries(emptySummary(), emptySummary(), diff.Options{})
		d.After = after.id
		return d, nil
	}
	bs := sums[before.id]
	if bs == nil {
		if bs, err = r.summary(ctx, before); err != nil {
			return nil, err
		}
		sums[before.id] = bs
	}
	d := diff.Summaries(bs, sums[after.id], diff.Options{KnownIntermittent: ki, Flaky: h.Flaky(r.k())})
	d.Before, d.After = before.id, after.id
	return d, nil
}

func emptySummary() *report.Summary {
	s, _ := report.ReadSummary(strings.NewReader("{}"))
	return s
}

// history returns the series' history over prevs (the last N VALID runs
// before the run, oldest first): the stored one when it is exactly that,
// else rebuilt from their summaries (after an out-of-order arrival, a
// crash, or runs of the series processed at once), which it adds to sums.
func (r *Recorder) history(ctx context.Context, key string, prevs []*member, sums map[string]*report.Summary) (*diff.History, error) {
	n := r.n()
	want := make([]string, len(prevs))
	for i, m := range prevs {
		want[i] = m.id
	}
	rc, err := r.Out.NewReader(ctx, key)
	switch {
	case err == nil:
		h, err := readGzip(rc, diff.ReadHistory)
		if err == nil && h.Window() == n && slices.Equal(h.Runs(), want) {
			return h, nil
		}
		if err != nil && !errors.Is(err, diff.ErrHistory) && !errors.Is(err, gzip.ErrHeader) {
			return nil, fmt.Errorf("changes: %s: %w", key, err)
		}
	case !store.IsNotFound(err):
		return nil, err
	}
	h := diff.NewHistory(n)
	// The window includes the run itself: N-1 runs before it suffice.
	from := max(0, len(prevs)-(n-1))
	for _, m := range prevs[from:] {
		s, err := r.summary(ctx, m)
		if err != nil {
			return nil, err
		}
		sums[m.id] = s
		h.Add(m.id, s)
	}
	return h, nil
}

func cloneHistory(h *diff.History) (*diff.History, error) {
	var buf bytes.Buffer
	if err := h.WriteJSON(&buf); err != nil {
		return nil, err
	}
	return diff.ReadHistory(&buf)
}

// series returns the runs of product with exactly the given labels (as a
// set) but runID, in series order, from the product's metrics points: the
// series file for those it lists, the point files for the others.
func (r *Recorder) series(ctx context.Context, product string, labels []string, runID string) ([]*member, error) {
	want := labelSet(labels)
	var doc records.Series
	if _, err := r.Out.ReadJSON(ctx, store.SeriesKey(product), &doc); err != nil && !errors.Is(err, store.ErrInvalid) {
		return nil, err
	}
	known := make(map[string]*records.SeriesPoint, len(doc.Points))
	for i := range doc.Points {
		known[doc.Points[i].RunID] = &doc.Points[i]
	}
	prefix := store.SeriesPointPrefix(product)
	var keys []string
	if err := r.Out.List(ctx, prefix, "", func(o store.Object) bool {
		keys = append(keys, o.Key)
		return true
	}); err != nil {
		return nil, err
	}
	var ms []*member
	for _, k := range keys {
		id := strings.TrimSuffix(strings.TrimPrefix(k, prefix), ".json")
		if id == runID || !store.ValidFeedRunID(id) {
			continue
		}
		pt := known[id]
		if pt == nil {
			pt = &records.SeriesPoint{}
			if ok, err := r.Out.ReadJSON(ctx, k, pt); err != nil || !ok {
				if err != nil && !errors.Is(err, store.ErrInvalid) {
					return nil, err
				}
				continue
			}
		}
		if labelSet(pt.Labels) != want {
			continue
		}
		up, _ := store.RunTime(id)
		ms = append(ms, &member{id: id, t: pt.Time.UTC(), up: up})
	}
	slices.SortFunc(ms, (*member).compare)
	return ms, nil
}

// labelSet is a canonical form of a set of labels.
func labelSet(labels []string) string {
	return strings.Join(slices.Compact(slices.Sorted(slices.Values(labels))), "\n")
}

// valid reports whether m's status record says VALID (reading it once).
func (r *Recorder) valid(ctx context.Context, m *member) (bool, error) {
	if m.status == nil && !m.notValid {
		st, err := r.status(ctx, m.id)
		if err != nil {
			return false, err
		}
		if st == nil || st.State != records.StateValid || st.ProductID == "" {
			m.notValid = true
		} else {
			m.status = st
		}
	}
	return m.status != nil, nil
}

// status reads a run's status record: nil when there is none.
func (r *Recorder) status(ctx context.Context, id string) (*records.Status, error) {
	var st records.Status
	ok, err := r.Out.ReadJSON(ctx, store.StatusKey(id), &st)
	if err != nil || !ok {
		return nil, err
	}
	return &st, nil
}

// summary reads a VALID run's summary_v2 (gzip, as the processor stores
// it).
func (r *Recorder) summary(ctx context.Context, m *member) (*report.Summary, error) {
	if m.status == nil {
		return nil, fmt.Errorf("changes: run %s has no VALID status record: %w", m.id, store.ErrNotFound)
	}
	return ReadSummary(ctx, r.Out, m.status.Revision, m.status.ProductID)
}

// ReadSummary reads the summary_v2 of a run's revision and product id from
// the out bucket (stored gzip). It returns the store's errors and
// report.ReadSummary's, wrapped.
func ReadSummary(ctx context.Context, b *store.Bucket, sha, productID string) (*report.Summary, error) {
	key := store.SummaryKey(sha, productID)
	rc, err := b.NewReader(ctx, key)
	if err != nil {
		return nil, err
	}
	s, err := readGzip(rc, report.ReadSummary)
	if err != nil {
		return nil, fmt.Errorf("changes: %s: %w", key, err)
	}
	return s, nil
}

// ReadDiff reads a run's stored diff; store.ErrNotFound when it has none.
func ReadDiff(ctx context.Context, b *store.Bucket, runID string) (*diff.Diff, error) {
	key := store.DiffKey(runID)
	rc, err := b.NewReader(ctx, key)
	if err != nil {
		return nil, err
	}
	d, err := readGzip(rc, func(r io.Reader) (*diff.Diff, error) {
		var d diff.Diff
		return &d, json.NewDecoder(r).Decode(&d)
	})
	if err != nil {
		return nil, fmt.Errorf("changes: %s: %w", key, err)
	}
	return d, nil
}

// ReadIntermittent reads the known_intermittent statuses of a run's tests
// (none when the run has no such file).
func ReadIntermittent(ctx context.Context, b *store.Bucket, runID string) (map[string][]string, error) {
	var m map[string][]string
	if _, err := b.ReadJSON(ctx, store.IntermittentKey(runID), &m); err != nil {
		return nil, err
	}
	return m, nil
}

func readGzip[T any](rc io.ReadCloser, read func(io.Reader) (T, error)) (T, error) {
	defer rc.Close()
	var zero T
	zr, err := gzip.NewReader(rc)
	if err != nil {
		return zero, err
	}
	v, err := read(zr)
	if err != nil {
		return zero, err
	}
	return v, zr.Close()
}

// writeGzip writes what write produces at key, gzip JSON with
// Content-Encoding gzip (as the summaries: a plain HTTP GET gets JSON).
func (r *Recorder) writeGzip(ctx context.Context, key string, write func(io.Writer) error) error {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := write(zw); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("changes: %s: %w", key, err)
	}
	return r.Out.WriteBytes(ctx, key, buf.Bytes(), store.WriteOptions{ContentType: "application/json", ContentEncoding: "gzip"})
}
