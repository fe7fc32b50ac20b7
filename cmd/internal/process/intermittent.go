package process

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/wptfeed/wptfeed/cmd/internal/changes"
	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
)

// intermittent collects, from the report's per-test callback, the
// known_intermittent statuses of the tests whose result lists some; a
// diff counts a change into one of them as expected (docs/diffs.md). Safe
// for the callback's concurrent calls; the last call for a path wins, as
// report.Options.Test requires.
type intermittent struct {
	mu sync.Mutex
	m  map[string][]string
}

// kiNonEmpty starts a non-empty known_intermittent list in a result's
// compact JSON (the test's or a subtest's).
var kiNonEmpty = []byte(`"known_intermittent":["`)

// wrap returns a per-test callback that records the test's statuses, then
// calls next (if any).
func (k *intermittent) wrap(next func(string, []byte) error) func(string, []byte) error {
	return func(path string, raw []byte) error {
		k.add(path, raw)
		if next != nil {
			return next(path, raw)
		}
		return nil
	}
}

// add records the test's own known_intermittent list (a subtest's is not
// the test's; a list that is not of strings counts as none).
func (k *intermittent) add(path string, raw []byte) {
	var list []string
	if bytes.Contains(raw, kiNonEmpty) {
		var v struct {
			KnownIntermittent []string `json:"known_intermittent"`
		}
		if json.Unmarshal(raw, &v) == nil {
			list = v.KnownIntermittent
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case len(list) > 0:
		if k.m == nil {
			k.m = map[string][]string{}
		}
		k.m[path] = list
	case k.m != nil:
		delete(k.m, path)
	}
}

// write stores the statuses as metrics/intermittent/<run id>.json, {"<test>":
// ["<status>", …]}, when some test has any (no file: none).
func (k *intermittent) write(ctx context.Context, b *store.Bucket, runID string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.m) == 0 {
		return nil
	}
	key := store.IntermittentKey(runID)
	return writeJSONTo(ctx, b, key, func(buf *bytes.Buffer) error {
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		return enc.Encode(k.m)
	})
}

// beforeValid calls p.BeforeValid, or by default writes the run's diff
// with changes.Recorder.
func (p *Processor) beforeValid(ctx context.Context, st *records.Status, tr *records.TestRun, sum *report.Summary) error {
	f := p.BeforeValid
	if f == nil {
		f = (&changes.Recorder{Out: p.Out, Log: p.log()}).BeforeValid
	}
	if err := f(ctx, st, tr, sum); err != nil {
		return fmt.Errorf("process: run %s: before recording it VALID: %w", st.RunID, err)
	}
	return nil
}
