package diff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/wptfeed/wptfeed/internal/testutil"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/testdata"
)

// entry is a summary_v2 test entry for building summaries in tests.
type entry struct {
	path        string
	status      string
	pass, total int
}

// summaryJSON writes entries as a summary_v2 document, in order.
func summaryJSON(entries ...entry) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range entries {
		if i > 0 {
			b.WriteString(", ")
		}
		k, _ := json.Marshal(e.path)
		fmt.Fprintf(&b, `%s: {"s": %q, "c": [%d, %d]}`, k, e.status, e.pass, e.total)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func mustSummary(tb testing.TB, entries ...entry) *report.Summary {
	tb.Helper()
	s, err := report.ReadSummary(bytes.NewReader(summaryJSON(entries...)))
	if err != nil {
		tb.Fatalf("ReadSummary: %v", err)
	}
	return s
}

func mustCompute(tb testing.TB, before, after []byte, opts Options) *Diff {
	tb.Helper()
	d, err := Compute(bytes.NewReader(before), bytes.NewReader(after), opts)
	if err != nil {
		tb.Fatalf("Compute: %v", err)
	}
	return d
}

// realSummary returns the full-size real summary_v2 of testdata (32,720
// tests), decompressed.
func realSummary(tb testing.TB) []byte {
	tb.Helper()
	return testutil.Gunzip(tb, testdata.Read("wptfyi/wptfyi-chrome-stable-summary_v2.json.gz"))
}

// perturbation counts what perturb planted.
type perturbation struct {
	regressed, improved, deleted, added int
}

// perturb returns a copy of a summary_v2 document with planted changes:
// every 50th test regresses (PASS/OK loses its passing status or a passing
// subtest), every 50th+25 test that fails improves, every 100th+1 test is
// deleted, and 300 tests are added under /new-tests/.
func perturb(tb testing.TB, doc []byte) ([]byte, perturbation) {
	tb.Helper()
	s, err := report.ReadSummary(bytes.NewReader(doc))
	if err != nil {
		tb.Fatalf("ReadSummary: %v", err)
	}
	var p perturbation
	var out []entry
	for i, path := range s.Paths() {
		ts, _ := s.Get(path)
		e := entry{path, ts.Status, ts.Counts.Pass, ts.Counts.Total}
		switch {
		case i%100 == 1:
			p.deleted++
			continue
		case i%50 == 0 && (e.status == "P" || e.status == "O"):
			if e.pass > 0 {
				e.pass--
			} else {
				e.status = "F"
			}
			p.regressed++
		case i%50 == 25 && e.status == "F":
			e.status = "P"
			p.improved++
		}
		out = append(out, e)
	}
	for i := range 300 {
		out = append(out, entry{fmt.Sprintf("/new-tests/t%03d.html", i), "P", 0, 0})
		p.added++
	}
	return summaryJSON(out...), p
}

// indent pretty-prints JSON for golden files.
func indent(tb testing.TB, p []byte) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := json.Indent(&b, p, "", "  "); err != nil {
		tb.Fatalf("indent: %v", err)
	}
	return b.Bytes()
}

func join(s []string) string { return strings.Join(s, ",") }
