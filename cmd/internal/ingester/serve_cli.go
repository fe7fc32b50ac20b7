package ingester

import (
	"errors"
	"io"

	"github.com/spf13/cobra"

	"github.com/wptfeed/wptfeed/cmd/internal/changes"
	"github.com/wptfeed/wptfeed/cmd/internal/dashboard"
	"github.com/wptfeed/wptfeed/cmd/internal/httpx"
	"github.com/wptfeed/wptfeed/cmd/internal/status"
	"github.com/wptfeed/wptfeed/store"
)

func newServeCmd(stderr io.Writer) *cobra.Command {
	cfg := status.DefaultConfig()
	out := DefaultOut
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the status of every processed run: an Atom feed and JSON records",
		Long: `Serve lets runners learn whether their runs were accepted, and why not.
It serves, from the out bucket's status records:

  GET /status.atom            one entry per processed run, newest upload first:
                              state (VALID, INVALID, EMPTY, DUPLICATE), reason,
                              warnings; ?product= and ?label= select a runner's
                              runs (repeat a key or separate values with commas)
  GET /api/status/<run id>    the run's status record (JSON)
  GET /changes.atom           one entry per run that changed anything against
                              the previous run of its series; ?product=<spec>,
                              ?min-regressions=N (docs/api.md)
  GET /healthz, GET /metrics  liveness; Prometheus metrics

Documents have strong ETags and Last-Modified (conditional requests get 304),
are gzip-compressed when accepted and may be cached for --scan-interval.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("serve: --out is empty")
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			b, err := store.Open(cmd.Context(), out)
			if err != nil {
				return err
			}
			defer b.Close()
			log := httpx.NewLogger(stderr)
			s, err := status.New(cmd.Context(), cfg, b, log)
			if err != nil {
				return err
			}
			defer s.Close()
			dashboard.New(dashboard.Config{Out: b, Index: s, ScanInterval: cfg.ScanInterval, Log: log}).Mount(s.Route)
			changes.NewFeed(changes.FeedConfig{Out: b, Index: s, BaseURL: s.URL(), CacheControl: s.CacheControl()}).Mount(s.Route)
			return s.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", out, "dashboard bucket URL (file:///dir, mem://, s3://…, gs://…, azblob://…) or directory")
	f.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address HOST:PORT")
	f.StringVar(&cfg.BaseURL, "base-url", "", "public URL of this server, used in the feed's links (default http://ADDR)")
	f.DurationVar(&cfg.ScanInterval, "scan-interval", cfg.ScanInterval, "how often new status records of today's and yesterday's runs are looked for (also the feed's max-age)")
	f.DurationVar(&cfg.FullScan, "full-scan-interval", cfg.FullScan, "how often all status records are listed, for runs with older ids (a catch-up)")
	f.IntVar(&cfg.MaxEntries, "max-entries", cfg.MaxEntries, "entries of the feed, newest first (of each filtered view too)")
	httpx.AddTimeoutFlags(f, &cfg.Timeouts)
	return cmd
}
