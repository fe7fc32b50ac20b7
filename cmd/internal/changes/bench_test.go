package changes_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/changes"
	"github.com/wptfeed/wptfeed/cmd/internal/process"
	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/report/reportgen"
	"github.com/wptfeed/wptfeed/store"
)

// BenchmarkIngest measures what the diff adds to ingesting a full-size run
// (32,720 tests, no per-test files) into a series that has runs already:
// "diff" is the processor with its Recorder, "none" the same with a no-op
// BeforeValid, the baseline of the ratio (docs/benchmarks.md reports
// ratios, never times).
func BenchmarkIngest(b *testing.B) {
	for _, c := range []struct {
		name string
		diff bool
	}{{"none", false}, {"diff", true}} {
		b.Run(c.name, func(b *testing.B) {
			out, err := store.Open(context.Background(), "file://"+b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer out.Close()
			p := &process.Processor{Out: out, ResultsBase: "https://results.test", Limits: report.DefaultLimits(), Log: slog.New(slog.DiscardHandler)}
			if c.diff {
				p.BeforeValid = (&changes.Recorder{Out: out}).BeforeValid
			} else {
				p.BeforeValid = func(context.Context, *records.Status, *records.TestRun, *report.Summary) error { return nil }
			}
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			ingest := func(i int) {
				var buf bytes.Buffer
				cfg := reportgen.Config{Seed: int64(i % 3), Scale: 1, Shards: 1, TimeStart: start.Add(time.Duration(i) * time.Hour).UnixMilli()}
				if err := reportgen.Write(&buf, cfg, 0); err != nil {
					b.Fatal(err)
				}
				data := buf.Bytes()
				id := fmt.Sprintf("%sZ-bench%04d", start.Add(time.Duration(i)*time.Hour+time.Minute).Format("20060102T150405"), i)
				b.StartTimer()
				st, err := p.Ingest(context.Background(), process.Input{RunID: id, Uploaded: start.Add(time.Duration(i) * time.Hour),
					Shards: []report.Shard{{Name: "s", Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}}})
				b.StopTimer()
				if err != nil || st.State != records.StateValid {
					b.Fatalf("run %d: %v %+v", i, err, st)
				}
			}
			b.StopTimer()
			for i := range 3 { // a series with a history
				ingest(i)
			}
			b.ResetTimer()
			b.StopTimer()
			for i := range b.N {
				ingest(3 + i)
			}
		})
	}
}
