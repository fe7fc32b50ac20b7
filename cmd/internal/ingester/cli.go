// Package ingester is the ingester's command line: `run` (package poll),
// `process` (package process, on local files) and `serve` (packages status
// and dashboard). It parses and checks flags and wires those packages;
// cmd/ingester wires it to os.Args; tests run it in-process.
package ingester

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wptfeed/wptfeed/cmd/internal/diff"
	"github.com/wptfeed/wptfeed/cmd/internal/httpx"
	"github.com/wptfeed/wptfeed/cmd/internal/poll"
	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
)

// NewCommand returns the ingester command line: `run` and `process`.
func NewCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "ingester",
		Short:         "Ingest wpt runs from a publisher's Atom feed into a dashboard bucket",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newRunCmd(stderr), newProcessCmd(stdout, stderr), newServeCmd(stderr), newGCCmd(stdout))
	return root
}

// DefaultOut is the dashboard bucket when none is given.
const DefaultOut = "wpt-data/out"

func newRunCmd(stderr io.Writer) *cobra.Command {
	cfg := poll.DefaultConfig()
	out := DefaultOut
	var tokenFile, subs, rawOut, archiveOut string
	var feeds []string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Poll the feeds and ingest every run not yet ingested",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case subs != "" && len(feeds) > 0:
				return errors.New("run: give --feed or --subscriptions, not both")
			case subs != "":
				fs, err := poll.ReadSubscriptions(subs)
				if err != nil {
					return err
				}
				cfg.Feeds = fs
			default:
				for _, u := range feeds {
					cfg.Feeds = append(cfg.Feeds, poll.Feed{URL: u})
				}
			}
			if tokenFile != "" {
				tok, err := httpx.ReadToken(tokenFile)
				if err != nil {
					return err
				}
				cfg.NotifyToken = tok
			}
			if out == "" {
				return errors.New("run: --out is empty")
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			if cfg.Listen != "" && cfg.NotifyToken == "" {
				return fmt.Errorf("run: --listen needs --notify-token-file (POST /api/notify is authenticated)")
			}
			if rawOut == "" && cfg.RawResultsBaseURL != "" {
				return errors.New("run: --raw-results-base-url needs --raw-results-out")
			}
			if archiveOut == "" && cfg.RawArchiveBaseURL != "" {
				return errors.New("run: --raw-out-base-url needs --raw-out")
			}
			if archiveOut != "" && !cfg.CopyRaw && !slices.ContainsFunc(cfg.Feeds, func(f poll.Feed) bool { return f.CopyRaw }) {
				return errors.New("run: --raw-out is the raw archive of --copy-raw (or of copy_raw in --subscriptions), which is off")
			}
			b, err := store.Open(cmd.Context(), out)
			if err != nil {
				return err
			}
			defer b.Close()
			if rawOut != "" {
				rb, err := store.Open(cmd.Context(), rawOut)
				if err != nil {
					return err
				}
				defer rb.Close()
				cfg.RawResults = rb
			}
			if archiveOut != "" {
				ab, err := store.Open(cmd.Context(), archiveOut)
				if err != nil {
					return err
				}
				defer ab.Close()
				cfg.RawArchive = ab
			}
			p, err := poll.New(cfg, b, httpx.NewLogger(stderr))
			if err != nil {
				return err
			}
			return p.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&feeds, "feed", nil, "URL of a publisher's Atom feed (repeatable; the first is the primary feed; default "+cfg.Feed+")")
	f.StringVar(&subs, "subscriptions", "", "JSON file listing the feeds to follow, with names, origins, labels (docs/subscriptions.md); instead of --feed")
	f.StringVar(&out, "out", out, "dashboard bucket URL (file:///dir, mem://, s3://…, gs://…, azblob://…) or directory")
	f.BoolVar(&cfg.Once, "once", false, "ingest what the feed lists now, then exit (non-zero if a run could not be finished)")
	f.DurationVar(&cfg.Interval, "interval", cfg.Interval, "time between polls")
	f.StringVar(&cfg.ResultsBaseURL, "results-base-url", "", "absolute URL under which the out bucket's objects are served (default: the out bucket's URL)")
	addRawResultsFlags(f, &rawOut, &cfg.RawResultsBaseURL)
	addRawArchiveFlags(f, &cfg.CopyRaw, &archiveOut, &cfg.RawArchiveBaseURL,
		"copy every run's shards byte for byte into the raw archive, checked, before recording it VALID; the shard listing then names the copies (per feed: copy_raw in --subscriptions)")
	f.BoolVar(&cfg.PerTest, "per-test", cfg.PerTest, "write one gzip JSON file per test")
	f.StringVar(&cfg.Layout, "per-test-layout", cfg.Layout, `where per-test files go: "files" (one object per test, wpt.fyi's layout) or "packed" (one object and an index, see docs/packed-layout.md)`)
	addFlakyFlags(f, &cfg.FlakyChanges, &cfg.FlakyRuns)
	f.IntVar(&cfg.Retries, "retries", cfg.Retries, "attempts per run (transient errors) before a poll gives up on it")
	f.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "timeout of one HTTP request, body included")
	f.IntVar(&cfg.Workers, "workers", cfg.Workers, "runs ingested in parallel")
	f.DurationVar(&cfg.BackoffMax, "backoff-max", cfg.BackoffMax, "longest pause between failed polls (exponential backoff with jitter from --interval)")
	f.IntVar(&cfg.MaxArchives, "max-archives", cfg.MaxArchives, "archive documents one catch-up walk may read (0: no cap); a capped walk warns and records the skipped history in state/skipped/")
	f.IntVar(&cfg.MissingRetries, "missing-retries", cfg.MissingRetries, "polls an enclosure may answer 404 before its run is recorded INVALID")
	f.StringArrayVar(&cfg.AllowOrigins, "allow-origin", nil, "origin (scheme://host[:port]) enclosures may come from besides the feed's own (repeatable)")
	f.Int64Var(&cfg.MaxFeedBytes, "max-feed-bytes", cfg.MaxFeedBytes, "largest feed document")
	f.Int64Var(&cfg.MaxEnclosure, "max-enclosure-bytes", cfg.MaxEnclosure, "largest enclosure (compressed bytes)")
	f.DurationVar(&cfg.LeaseTTL, "lease-ttl", cfg.LeaseTTL, "how long a run's claim lasts unless renewed (a crashed ingester's runs are taken over after it)")
	f.StringVar(&cfg.Listen, "listen", "", "HOST:PORT to serve POST /api/notify (push) and /metrics on")
	f.StringVar(&tokenFile, "notify-token-file", "", "file holding the bearer token that POST /api/notify requires")
	httpx.AddTimeoutFlags(f, &cfg.ServerTimeouts)
	addLimitFlags(f, &cfg.Limits)
	return cmd
}

func newProcessCmd(stdout, stderr io.Writer) *cobra.Command {
	cfg := DefaultProcessConfig()
	cmd := &cobra.Command{
		Use:   "process [flags] REPORT...",
		Short: "Process local wptreport shard files of one run into the out bucket",
		Long: `Process runs the ingester's processing on local files (the shards of one
run, plain JSON or gzip), for backfills and benchmarks, and prints one line:
the state, tests, subtests and time.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.Files = args
			if err := cfg.Validate(); err != nil {
				return err
			}
			st, d, err := ProcessFiles(cmd.Context(), cfg, stderr)
			if err != nil {
				return err
			}
			line := fmt.Sprintf("%s run %s: %d tests, %d subtests in %.2fs", st.State, st.RunID, st.Tests, st.Subtests, d.Seconds())
			if st.State != records.StateValid {
				line += fmt.Sprintf(" (%s: %s)", st.Code, st.Error)
			}
			fmt.Fprintln(stdout, line)
			if st.State == records.StateInvalid {
				return fmt.Errorf("process: run %s is invalid", st.RunID)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Out, "out", cfg.Out, "dashboard bucket URL or directory")
	f.StringArrayVar(&cfg.Labels, "label", nil, "label of the run (repeatable)")
	f.BoolVar(&cfg.PerTest, "per-test", cfg.PerTest, "write one gzip JSON file per test")
	f.StringVar(&cfg.Layout, "per-test-layout", cfg.Layout, `where per-test files go: "files" (one object per test, wpt.fyi's layout) or "packed" (one object and an index, see docs/packed-layout.md)`)
	f.StringVar(&cfg.ResultsBaseURL, "results-base-url", "", "absolute URL under which the out bucket's objects are served (default: the out bucket's URL)")
	addRawResultsFlags(f, &cfg.RawResultsOut, &cfg.RawResultsBaseURL)
	addRawArchiveFlags(f, &cfg.CopyRaw, &cfg.RawArchiveOut, &cfg.RawArchiveBaseURL,
		"copy the report files byte for byte into the raw archive; the shard listing then names the copies")
	f.StringVar(&cfg.RunID, "run-id", "", "run id to record (default: a new one)")
	addFlakyFlags(f, &cfg.FlakyChanges, &cfg.FlakyRuns)
	addMetadataFlags(f, &cfg.Overrides)
	addLimitFlags(f, &cfg.Limits)
	return cmd
}

// addFlakyFlags adds the flaky rule's flags (docs/diffs.md).
func addFlakyFlags(f *pflag.FlagSet, k, n *int) {
	f.IntVar(k, "flaky-changes", diff.DefaultFlakyChanges, "a test whose result changed in at least this many of the last --flaky-runs runs of its series is flaky in diffs")
	f.IntVar(n, "flaky-runs", diff.DefaultWindow, "runs of a series the flaky rule looks at")
}

func addMetadataFlags(f *pflag.FlagSet, m *report.Metadata) {
	f.StringVar(&m.Product, "product", "", "product (browser name), overriding run_info")
	f.StringVar(&m.BrowserVersion, "browser-version", "", "browser version, overriding run_info")
	f.StringVar(&m.OS, "os", "", "operating system, overriding run_info")
	f.StringVar(&m.OSVersion, "os-version", "", "OS version, overriding run_info")
	f.StringVar(&m.Revision, "revision", "", "full 40-hex wpt revision, overriding run_info")
	f.StringVar(&m.BrowserChannel, "browser-channel", "", "browser channel, overriding run_info")
}

// addRawArchiveFlags adds the raw archive's flags (docs/raw-archive.md).
func addRawArchiveFlags(f *pflag.FlagSet, copyRaw *bool, out, base *string, usage string) {
	f.BoolVar(copyRaw, "copy-raw", false, usage)
	f.StringVar(out, "raw-out", "", `bucket URL or directory of the raw archive of --copy-raw (default: the out bucket, under "raw/")`)
	f.StringVar(base, "raw-out-base-url", "", "absolute URL under which the --raw-out bucket's objects are served (default: its URL)")
}

func addRawResultsFlags(f *pflag.FlagSet, out, base *string) {
	f.StringVar(out, "raw-results-out", "", "bucket URL or directory for the merged reports that raw_results_url names, <sha>/<product id>/report.json (wpt.fyi's raw_results_bucket; default: the out bucket)")
	f.StringVar(base, "raw-results-base-url", "", "absolute URL under which the --raw-results-out bucket's objects are served (default: its URL)")
}

func addLimitFlags(f *pflag.FlagSet, l *report.Limits) {
	f.Int64Var(&l.MaxBytes, "max-report-bytes", l.MaxBytes, "largest decompressed shard, in bytes")
	f.Float64Var(&l.MaxRatio, "max-gzip-ratio", l.MaxRatio, "largest gzip expansion ratio (a bigger one is refused as a gzip bomb)")
	f.IntVar(&l.MaxDepth, "max-json-depth", l.MaxDepth, "deepest JSON nesting")
	f.IntVar(&l.MaxString, "max-string-bytes", l.MaxString, "longest JSON string, in bytes")
}

func newGCCmd(stdout io.Writer) *cobra.Command {
	cfg := poll.GCConfig{OlderThan: poll.DefaultGCAge}
	out := DefaultOut
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Remove ingester state nobody needs any more from the out bucket: leases of finished runs, temp files",
		Long: `gc removes from the out bucket, once last written longer ago than
--older-than, the lease generations of runs that have a status record (or
whose last claim expired), the counts of missing enclosures of runs that have
one, and the temp files of interrupted writes to a directory bucket. It never
touches a status record, an output or the poll state. It prints what it
removes; with --dry-run it prints what it would remove and removes nothing.
The age must be at least 1h.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("gc: --out is empty")
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			b, err := store.Open(cmd.Context(), out)
			if err != nil {
				return err
			}
			defer b.Close()
			_, err = poll.GC(cmd.Context(), b, cfg, stdout)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", out, "dashboard bucket URL or directory")
	f.DurationVar(&cfg.OlderThan, "older-than", cfg.OlderThan, "remove only what was last written longer ago than this (at least 1h)")
	f.BoolVar(&cfg.DryRun, "dry-run", false, "print what would be removed; remove nothing")
	return cmd
}
