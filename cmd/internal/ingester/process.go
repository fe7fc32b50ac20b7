package ingester

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/term"

	"github.com/wptfeed/wptfeed/cmd/internal/changes"
	"github.com/wptfeed/wptfeed/cmd/internal/process"
	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
)

// ProcessConfig configures `ingester process`.
type ProcessConfig struct {
	Out            string
	Files          []string
	Labels         []string
	Overrides      report.Metadata
	PerTest        bool
	Layout         string // per-test layout: records.LayoutFiles or records.LayoutPacked
	Limits         report.Limits
	ResultsBaseURL string
	RunID          string // default: a new run id
	// FlakyChanges (K) and FlakyRuns (N): the flaky rule of the run's
	// diff (docs/diffs.md); 0 is the default.
	FlakyChanges, FlakyRuns int

	RawResultsOut     string // bucket of the merged reports; "": the out bucket
	RawResultsBaseURL string // default: the RawResultsOut bucket's URL

	CopyRaw           bool   // copy the files into the raw archive
	RawArchiveOut     string // the raw archive; "": the out bucket under raw/
	RawArchiveBaseURL string // default: the RawArchiveOut bucket's URL
}

// DefaultProcessConfig returns the defaults of `ingester process`.
func DefaultProcessConfig() ProcessConfig {
	return ProcessConfig{Out: DefaultOut, PerTest: true, Layout: records.LayoutFiles, Limits: report.DefaultLimits()}
}

// Validate checks the configuration.
func (c *ProcessConfig) Validate() error {
	if c.Out == "" {
		return errors.New("process: --out is empty")
	}
	if len(c.Files) == 0 {
		return errors.New("process: no report files given")
	}
	if err := records.CheckLayout(c.Layout); err != nil {
		return fmt.Errorf("process: %w", err)
	}
	if c.RawResultsOut == "" && c.RawResultsBaseURL != "" {
		return errors.New("process: --raw-results-base-url needs --raw-results-out")
	}
	if c.RawArchiveOut == "" && c.RawArchiveBaseURL != "" {
		return errors.New("process: --raw-out-base-url needs --raw-out")
	}
	if c.RawArchiveOut != "" && !c.CopyRaw {
		return errors.New("process: --raw-out is the raw archive of --copy-raw, which is off")
	}
	if c.RunID != "" && !store.ValidRunID(c.RunID) {
		return fmt.Errorf("process: --run-id %q is not a run id (like 20261127T211222.123456Z-ab12)", c.RunID)
	}
	return nil
}

// ProcessFiles processes local shard files into the out bucket through the
// same code path as feed ingestion. progress, when a terminal, shows bytes
// read of the total.
func ProcessFiles(ctx context.Context, cfg ProcessConfig, progress io.Writer) (*records.Status, time.Duration, error) {
	start := time.Now()
	out, err := store.Open(ctx, cfg.Out)
	if err != nil {
		return nil, 0, err
	}
	defer out.Close()
	base := cfg.ResultsBaseURL
	if base == "" {
		base = process.ResultsBase(out.URL())
	}
	var total int64
	for _, f := range cfg.Files {
		fi, err := os.Stat(f)
		if err != nil {
			return nil, 0, fmt.Errorf("process: %w", err)
		}
		total += fi.Size()
	}
	var read atomic.Int64
	in := process.Input{RunID: cfg.RunID, Uploaded: start.UTC(), Overrides: cfg.Overrides, Labels: cfg.Labels, CopyRaw: cfg.CopyRaw}
	if in.RunID == "" {
		in.RunID = store.NewRunID(start)
	}
	for _, f := range cfg.Files {
		in.Raw = append(in.Raw, records.RawShard{Name: f})
		in.Shards = append(in.Shards, report.Shard{Name: f, Open: func() (io.ReadCloser, error) {
			fh, err := os.Open(f)
			if err != nil {
				return nil, err
			}
			return &countingFile{File: fh, n: &read}, nil
		}})
	}
	p := &process.Processor{Out: out, ResultsBase: strings.TrimRight(base, "/"), PerTest: cfg.PerTest, Layout: cfg.Layout, Limits: cfg.Limits, Log: slog.New(slog.DiscardHandler)}
	p.BeforeValid = (&changes.Recorder{Out: out, FlakyChanges: cfg.FlakyChanges, FlakyRuns: cfg.FlakyRuns}).BeforeValid
	if cfg.RawResultsOut != "" {
		raw, err := store.Open(ctx, cfg.RawResultsOut)
		if err != nil {
			return nil, 0, err
		}
		defer raw.Close()
		rawBase := cfg.RawResultsBaseURL
		if rawBase == "" {
			rawBase = process.ResultsBase(raw.URL())
		}
		p.RawResults, p.RawResultsBase = raw, strings.TrimRight(rawBase, "/")
	}
	if cfg.RawArchiveOut != "" {
		arch, err := store.Open(ctx, cfg.RawArchiveOut)
		if err != nil {
			return nil, 0, err
		}
		defer arch.Close()
		p.RawArchive, p.RawArchiveBase = arch, strings.TrimRight(cfg.RawArchiveBaseURL, "/")
	}
	stop := showProgress(progress, &read, total)
	st, err := p.Ingest(ctx, in)
	stop()
	return st, time.Since(start), err
}

type countingFile struct {
	*os.File
	n *atomic.Int64
}

func (c *countingFile) Read(p []byte) (int, error) {
	n, err := c.File.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// showProgress draws a progress bar on w while it is a terminal; the
// returned func stops it and clears the line.
func showProgress(w io.Writer, read *atomic.Int64, total int64) func() {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || total <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			n := read.Load()
			const width = 30
			fill := int(float64(width) * float64(n) / float64(total))
			fill = min(max(fill, 0), width)
			fmt.Fprintf(f, "\r[%s%s] %5.1f%% %s / %s", strings.Repeat("#", fill), strings.Repeat(".", width-fill),
				100*float64(n)/float64(total), mib(n), mib(total))
			select {
			case <-done:
				fmt.Fprint(f, "\r\033[K")
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
