package diff

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/wptfeed/wptfeed/report"
)

// The flaky rule's defaults: a test whose result changed in at least
// DefaultFlakyChanges of the last DefaultWindow runs of a series is flaky.
const (
	DefaultFlakyChanges = 3  // K
	DefaultWindow       = 10 // N
)

// MaxWindow bounds a history's window (ReadHistory rejects larger ones).
const MaxWindow = 1000

// maxHistoryLine bounds one line of a history document.
const maxHistoryLine = 1 << 20

// ErrHistory is returned (wrapped) by ReadHistory for a malformed history.
var ErrHistory = errors.New("diff: malformed history")

// State is a test's result in one run, as its summary_v2 entry: status
// abbreviation and [passing subtests, subtests]. The zero State means the
// test was not in the run.
type State struct {
	Status      string
	Pass, Total int
}

func (s State) present() bool { return s.Status != "" }

// newState returns a summary entry's State, its status interned: a history
// keeps Window states per test, and the summary's status strings would
// each stay allocated.
func newState(status string, pass, total int) State {
	for _, known := range knownStatuses {
		if status == known {
			status = known
			break
		}
	}
	return State{status, pass, total}
}

// knownStatuses are the summary_v2 status abbreviations.
var knownStatuses = []string{"P", "O", "F", "S", "E", "N", "C", "T", "PF"}

// History is the recent results of one product series (same product,
// channel and labels): per test, its State in each of the last Window
// runs, oldest first. A test changes in a run when it is in that run and
// in the one before, with a different State (status or counts). Build it
// with Add, one run at a time in run order; keep it with WriteJSON and
// ReadHistory.
type History struct {
	window int
	runs   []string
	tests  map[string][]State // each len(runs)
}

// NewHistory returns an empty history keeping the last window runs
// (DefaultWindow when window < 1; at most MaxWindow).
func NewHistory(window int) *History {
	if window < 1 {
		window = DefaultWindow
	}
	return &History{window: min(window, MaxWindow), tests: map[string][]State{}}
}

// Window returns the number of runs the history keeps.
func (h *History) Window() int { return h.window }

// Runs returns the ids of the runs in the history, oldest first.
func (h *History) Runs() []string { return slices.Clone(h.runs) }

// States returns a test's State in each run of the history, oldest first
// (nil for a test in none).
func (h *History) States(test string) []State { return slices.Clone(h.tests[test]) }

// Add appends a run (its id and summary) as the newest, dropping the
// oldest run beyond the window and the tests no kept run has. It does not
// check the run id: adding a run twice counts it twice.
func (h *History) Add(runID string, s *report.Summary) {
	n := len(h.runs)
	for p, st := range h.tests {
		ts, ok := s.Get(p)
		var x State
		if ok {
			x = newState(ts.Status, ts.Counts.Pass, ts.Counts.Total)
		}
		h.tests[p] = append(st, x)
	}
	for _, p := range s.Paths() {
		if _, ok := h.tests[p]; ok {
			continue
		}
		ts, _ := s.Get(p)
		st := make([]State, n+1, min(n+1, h.window)+1)
		st[n] = newState(ts.Status, ts.Counts.Pass, ts.Counts.Total)
		h.tests[p] = st
	}
	h.runs = append(h.runs, runID)
	if drop := len(h.runs) - h.window; drop > 0 {
		h.runs = slices.Delete(h.runs, 0, drop)
		for p, st := range h.tests {
			st = slices.Delete(st, 0, drop)
			if !slices.ContainsFunc(st, State.present) {
				delete(h.tests, p)
				continue
			}
			h.tests[p] = st
		}
	}
}

// Changes returns in how many runs of the history a test changed: runs
// where it is present, present in the run before, with another State.
func (h *History) Changes(test string) int {
	return changes(h.tests[test])
}

func changes(st []State) int {
	n := 0
	for i := 1; i < len(st); i++ {
		if st[i].present() && st[i-1].present() && st[i] != st[i-1] {
			n++
		}
	}
	return n
}

// Flaky returns the tests that changed in at least k runs of the history
// (DefaultFlakyChanges when k < 1): the flaky tests of the series, for
// Options.Flaky. With the run being diffed added last, a test becomes
// flaky with its k-th change in the window, so its earlier changes are
// reported normally.
func (h *History) Flaky(k int) map[string]bool {
	if k < 1 {
		k = DefaultFlakyChanges
	}
	m := map[string]bool{}
	for p, st := range h.tests {
		if changes(st) >= k {
			m[p] = true
		}
	}
	return m
}

// historyHeader is the first line of a history document.
type historyHeader struct {
	Window int      `json:"window"`
	Runs   []string `json:"runs"`
}

// historyTest is one test's line: its states, run-length encoded.
type historyTest struct {
	Test   string         `json:"test"`
	States []historyState `json:"states"`
}

// historyState is a State repeated N times; a missing S is an absent test.
type historyState struct {
	S string  `json:"s,omitempty"`
	C *[2]int `json:"c,omitempty"`
	N int     `json:"n"`
}

// WriteJSON writes the history as JSON Lines (docs/diffs.md): a header
// {"window", "runs"}, then one line per test in path order with its states
// run-length encoded, [{"s", "c", "n"}], oldest first. It returns the
// first write error.
func (h *History) WriteJSON(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	runs := h.runs
	if runs == nil {
		runs = []string{}
	}
	if err := enc.Encode(historyHeader{Window: h.window, Runs: runs}); err != nil {
		return fmt.Errorf("diff: write history: %w", err)
	}
	var line historyTest
	for _, p := range slices.Sorted(maps.Keys(h.tests)) {
		line.Test, line.States = p, line.States[:0]
		for _, s := range h.tests[p] {
			if k := len(line.States) - 1; k >= 0 && line.States[k].state() == s {
				line.States[k].N++
				continue
			}
			hs := historyState{S: s.Status, N: 1}
			if s.present() {
				hs.C = &[2]int{s.Pass, s.Total}
			}
			line.States = append(line.States, hs)
		}
		if err := enc.Encode(&line); err != nil {
			return fmt.Errorf("diff: write history: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("diff: write history: %w", err)
	}
	return nil
}

func (hs historyState) state() State {
	if hs.S == "" {
		return State{}
	}
	var c [2]int
	if hs.C != nil {
		c = *hs.C
	}
	return newState(hs.S, c[0], c[1])
}

// ReadHistory reads a history written by WriteJSON, one line at a time.
// A malformed document (bad JSON, a window outside 1..MaxWindow, more runs
// than the window, tests out of order or repeated, states that do not
// cover every run, negative counts, a line over 1 MiB) is an error
// wrapping ErrHistory; a read error is wrapped as it is.
func ReadHistory(r io.Reader) (*History, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	lineNo := 0
	next := func() ([]byte, error) {
		var line []byte
		for {
			chunk, err := br.ReadSlice('\n')
			line = append(line, chunk...)
			if len(line) > maxHistoryLine {
				return nil, fmt.Errorf("%w: line %d longer than %d bytes", ErrHistory, lineNo+1, maxHistoryLine)
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err == io.EOF && len(line) > 0 {
				err = nil
			}
			if err != nil {
				if err == io.EOF {
					return nil, err
				}
				return nil, fmt.Errorf("diff: read history: %w", err)
			}
			lineNo++
			return line, nil
		}
	}
	bad := func(format string, args ...any) (*History, error) {
		return nil, fmt.Errorf("%w: line %d: %s", ErrHistory, lineNo, fmt.Sprintf(format, args...))
	}
	line, err := next()
	if err == io.EOF {
		return nil, fmt.Errorf("%w: empty document", ErrHistory)
	}
	if err != nil {
		return nil, err
	}
	var hdr historyHeader
	if err := strictUnmarshal(line, &hdr); err != nil {
		return bad("header: %v", err)
	}
	if hdr.Window < 1 || hdr.Window > MaxWindow {
		return bad("window %d outside 1..%d", hdr.Window, MaxWindow)
	}
	if len(hdr.Runs) > hdr.Window {
		return bad("%d runs for a window of %d", len(hdr.Runs), hdr.Window)
	}
	h := NewHistory(hdr.Window)
	h.runs = hdr.Runs
	if h.runs == nil {
		h.runs = []string{}
	}
	prev := ""
	for {
		line, err := next()
		if err == io.EOF {
			return h, nil
		}
		if err != nil {
			return nil, err
		}
		var t historyTest
		if err := strictUnmarshal(line, &t); err != nil {
			return bad("%v", err)
		}
		if len(h.tests) > 0 && t.Test <= prev {
			return bad("test %q not after %q", t.Test, prev)
		}
		prev = t.Test
		st := make([]State, 0, len(h.runs))
		present := false
		for _, hs := range t.States {
			if hs.N < 1 || hs.N > len(h.runs)-len(st) {
				return bad("test %q: %d states for %d runs", t.Test, len(st)+hs.N, len(h.runs))
			}
			if hs.S == "" && hs.C != nil || hs.S != "" && hs.C == nil {
				return bad("test %q: a state needs both s and c, or neither", t.Test)
			}
			s := hs.state()
			if s.Pass < 0 || s.Total < 0 {
				return bad("test %q: negative counts", t.Test)
			}
			present = present || s.present()
			for range hs.N {
				st = append(st, s)
			}
		}
		if len(st) != len(h.runs) {
			return bad("test %q: %d states for %d runs", t.Test, len(st), len(h.runs))
		}
		if !present {
			return bad("test %q is in no run", t.Test)
		}
		h.tests[t.Test] = st
	}
}

// strictUnmarshal decodes one JSON value, rejecting unknown fields and
// trailing data.
func strictUnmarshal(p []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}
