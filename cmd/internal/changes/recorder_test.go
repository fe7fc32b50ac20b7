package changes_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/changes"
	"github.com/wptfeed/wptfeed/cmd/internal/process"
	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
)

// result is one test of a generated run: its status and known_intermittent.
type result struct {
	status string
	ki     []string
}

// t0 is when run 0 of the tests' series ran.
var t0 = time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC)

// runID is the id of run i of the tests' series, uploaded an hour after it
// ran.
func runID(i int) string {
	return fmt.Sprintf("%sZ-run%02d", t0.Add(time.Duration(i)*24*time.Hour+time.Hour).Format("20060102T150405"), i)
}

// reportOf builds a wptreport of chrome (experimental) that ran on day i.
func reportOf(i int, tests map[string]result) []byte {
	var b strings.Builder
	b.WriteString(`{"results":[`)
	paths := make([]string, 0, len(tests))
	for p := range tests {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for j, p := range paths {
		if j > 0 {
			b.WriteByte(',')
		}
		ki := `[]`
		if r := tests[p]; len(r.ki) > 0 {
			ki = `["` + strings.Join(r.ki, `","`) + `"]`
		}
		fmt.Fprintf(&b, `{"test":%q,"status":%q,"subtests":[],"known_intermittent":%s}`, p, tests[p].status, ki)
	}
	start := t0.Add(time.Duration(i) * 24 * time.Hour).UnixMilli()
	fmt.Fprintf(&b, `],"run_info":{"product":"chrome","browser_version":"132.0","os":"linux","browser_channel":"experimental","revision":"%040x"},"time_start":%d,"time_end":%d}`, i+1, start, start+1000)
	return []byte(b.String())
}

func newProcessor(t *testing.T, rec *changes.Recorder) *process.Processor {
	t.Helper()
	b, err := store.Open(t.Context(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	p := &process.Processor{Out: b, ResultsBase: "https://results.test", Limits: report.DefaultLimits(), Log: slog.New(slog.DiscardHandler)}
	if rec != nil {
		rec.Out = b
		p.BeforeValid = rec.BeforeValid
	}
	return p
}

// ingest processes run i with the given results; it must become VALID.
func ingest(t *testing.T, p *process.Processor, i int, tests map[string]result, before func(context.Context) error) error {
	t.Helper()
	data := reportOf(i, tests)
	id := runID(i)
	up, _ := store.RunTime(id)
	in := process.Input{RunID: id, Uploaded: up, BeforeStatus: before,
		Shards: []report.Shard{{Name: "shard.json", Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}}}
	st, err := p.Ingest(t.Context(), in)
	if err != nil {
		return err
	}
	if st.State != records.StateValid {
		t.Fatalf("run %d: %s %s %s, want VALID", i, st.State, st.Code, st.Error)
	}
	return nil
}

func mustIngest(t *testing.T, p *process.Processor, i int, tests map[string]result) {
	t.Helper()
	if err := ingest(t, p, i, tests, nil); err != nil {
		t.Fatalf("run %d: %v", i, err)
	}
}

func mustDiff(t *testing.T, p *process.Processor, i int) (before string, regressions, improvements, flaky []string) {
	t.Helper()
	d, err := changes.ReadDiff(t.Context(), p.Out, runID(i))
	if err != nil {
		t.Fatalf("diff of run %d: %v", i, err)
	}
	if d.After != runID(i) {
		t.Fatalf("diff of run %d: after %q", i, d.After)
	}
	return d.Before, d.Regressions, d.Improvements, d.Flaky
}

// TestRecorder_OutOfOrder: a run older than the newest VALID run of its
// series gets its diff against the run before it, and the next run's
// diff is recomputed against it.
func TestRecorder_OutOfOrder(t *testing.T) {
	p := newProcessor(t, nil) // the processor's default recorder
	runs := map[int]map[string]result{
		0: {"/a.html": {status: "PASS"}, "/b.html": {status: "PASS"}},
		1: {"/a.html": {status: "FAIL"}, "/b.html": {status: "PASS"}},
		2: {"/a.html": {status: "FAIL"}, "/b.html": {status: "FAIL"}},
	}
	for _, i := range []int{0, 2, 1} {
		mustIngest(t, p, i, runs[i])
	}
	for _, c := range []struct {
		run         int
		before      string
		regressions []string
	}{
		{0, "", []string{}},
		{1, runID(0), []string{"/a.html"}},
		{2, runID(1), []string{"/b.html"}}, // was against run 0: /a.html and /b.html
	} {
		before, reg, _, _ := mustDiff(t, p, c.run)
		if before != c.before || !slices.Equal(reg, c.regressions) {
			t.Errorf("run %d: got before %q, regressions %v; want %q, %v", c.run, before, reg, c.before, c.regressions)
		}
	}
	// The stored history was dropped for the next run to rebuild: run 3
	// still sees run 2 as its previous.
	mustIngest(t, p, 3, runs[0])
	if before, _, imp, _ := mustDiff(t, p, 3); before != runID(2) || !slices.Equal(imp, []string{"/a.html", "/b.html"}) {
		t.Errorf("run 3: got before %q, newly passing %v; want %q, [/a.html /b.html]", before, imp, runID(2))
	}
}

// TestRecorder_CrashBeforeStatus: the diff is written before the status
// record, so a run stopped between the two is not VALID, and once VALID it
// has its diff.
func TestRecorder_CrashBeforeStatus(t *testing.T) {
	p := newProcessor(t, &changes.Recorder{})
	mustIngest(t, p, 0, map[string]result{"/a.html": {status: "PASS"}})
	crash := errors.New("killed between the diff and the status record")
	err := ingest(t, p, 1, map[string]result{"/a.html": {status: "FAIL"}}, func(context.Context) error { return crash })
	if !errors.Is(err, crash) {
		t.Fatalf("got %v, want the crash", err)
	}
	if ok, err := p.Out.Exists(t.Context(), store.DiffKey(runID(1))); !ok || err != nil {
		t.Fatalf("diff of the crashed run: exists %v, %v; want written before the status record", ok, err)
	}
	if ok, _ := p.Out.Exists(t.Context(), store.StatusKey(runID(1))); ok {
		t.Fatal("the crashed run has a status record")
	}
	// The next run does not take the unfinished run as its previous.
	mustIngest(t, p, 2, map[string]result{"/a.html": {status: "FAIL"}})
	if before, reg, _, _ := mustDiff(t, p, 2); before != runID(0) || !slices.Equal(reg, []string{"/a.html"}) {
		t.Errorf("run 2: got before %q, regressions %v; want %q, [/a.html]", before, reg, runID(0))
	}
}

// TestRecorder_BeforeValidError: an error of the diff stops the ingest
// before the status record.
func TestRecorder_BeforeValidError(t *testing.T) {
	p := newProcessor(t, nil)
	boom := errors.New("boom")
	p.BeforeValid = func(context.Context, *records.Status, *records.TestRun, *report.Summary) error { return boom }
	if err := ingest(t, p, 0, map[string]result{"/a.html": {status: "PASS"}}, nil); !errors.Is(err, boom) {
		t.Fatalf("got %v, want boom", err)
	}
	if ok, _ := p.Out.Exists(t.Context(), store.StatusKey(runID(0))); ok {
		t.Fatal("status record written though the diff failed")
	}
}

// TestRecorder_KnownIntermittent: a change into a known_intermittent
// status, recorded by the processor, is expected, not a regression.
func TestRecorder_KnownIntermittent(t *testing.T) {
	p := newProcessor(t, &changes.Recorder{})
	mustIngest(t, p, 0, map[string]result{"/a.html": {status: "PASS"}, "/b.html": {status: "PASS"}})
	mustIngest(t, p, 1, map[string]result{"/a.html": {status: "TIMEOUT", ki: []string{"TIMEOUT"}}, "/b.html": {status: "TIMEOUT"}})
	ki, err := changes.ReadIntermittent(t.Context(), p.Out, runID(1))
	if err != nil || !slices.Equal(ki["/a.html"], []string{"TIMEOUT"}) || len(ki) != 1 {
		t.Fatalf("known_intermittent of run 1: got %v, %v; want /a.html: [TIMEOUT]", ki, err)
	}
	d, err := changes.ReadDiff(t.Context(), p.Out, runID(1))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Regressions, []string{"/b.html"}) || d.Totals.Expected != 1 {
		t.Errorf("got regressions %v, %d expected; want [/b.html], 1", d.Regressions, d.Totals.Expected)
	}
}
