// Package publisher implements the publisher command: uploads into the raw
// bucket and the HTTP server of the Atom feed. cmd/publisher wires it to
// os.Args; tests run it in-process.
package publisher

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/wptfeed/wptfeed/cmd/internal/httpx"
	"github.com/wptfeed/wptfeed/store"
)

// DefaultBucket is where both programs keep data when no bucket is given.
const DefaultBucket = "wpt-data/raw"

// NewCommand returns the publisher command line: `upload`, `serve` and
// `gc`.
func NewCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "publisher",
		Short:         "Store wptreport runs in a bucket and publish them as an Atom feed",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newUploadCmd(stdout, stderr), newServeCmd(stderr), newGCCmd(stdout))
	return root
}

func newGCCmd(stdout io.Writer) *cobra.Command {
	cfg := DefaultGCConfig()
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Remove what uploads left behind in the raw bucket: run folders without a manifest, temp files",
		Long: `gc removes from the raw bucket, once older than --older-than, the run folders
that have no manifest (uploads refused by an older publisher, or cut off by a
crash: every object of the folder written that long ago), the temp files of
interrupted writes to a directory bucket, and empty folders. A run folder with
a manifest is never touched. It prints what it removes; with --dry-run it
prints what it would remove and removes nothing. The age must be at least 1h
(a younger folder may be an upload in progress) and should exceed the longest
pause between two writes of an upload.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cfg.Validate(); err != nil {
				return err
			}
			b, err := store.Open(cmd.Context(), cfg.Bucket)
			if err != nil {
				return err
			}
			defer b.Close()
			_, err = GC(cmd.Context(), b, cfg, stdout)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Bucket, "bucket", cfg.Bucket, "raw bucket URL or directory")
	f.DurationVar(&cfg.OlderThan, "older-than", cfg.OlderThan, "remove only what was last written longer ago than this (at least 1h)")
	f.BoolVar(&cfg.DryRun, "dry-run", false, "print what would be removed; remove nothing")
	return cmd
}

func newUploadCmd(stdout, stderr io.Writer) *cobra.Command {
	cfg := DefaultUploadConfig()
	cmd := &cobra.Command{
		Use:   "upload [flags] REPORT...",
		Short: "Upload the shards of one run (wptreport JSON, plain or gzip) to the raw bucket",
		Long: `Upload validates the given wptreport files (several files are shards of one
run), stores them byte-for-byte (gzip-compressed if they came plain) under a new
run in the raw bucket, writes the run's manifest last, and prints the run id.
A file that is not a valid report is refused with its reason and nothing is written.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.Files = args
			if err := cfg.Validate(); err != nil {
				return err
			}
			id, err := Upload(cmd.Context(), cfg, stderr)
			if err != nil {
				return err
			}
			_, err = io.WriteString(stdout, id+"\n")
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Bucket, "bucket", cfg.Bucket, "raw bucket URL (file:///dir, mem://, s3://…, gs://…, azblob://…) or directory")
	f.StringArrayVar(&cfg.Labels, "label", nil, "label of the run (repeatable)")
	f.StringVar(&cfg.Overrides.Product, "product", "", "product (browser name), overriding run_info")
	f.StringVar(&cfg.Overrides.BrowserVersion, "browser-version", "", "browser version, overriding run_info")
	f.StringVar(&cfg.Overrides.OS, "os", "", "operating system, overriding run_info")
	f.StringVar(&cfg.Overrides.OSVersion, "os-version", "", "OS version, overriding run_info")
	f.StringVar(&cfg.Overrides.Revision, "revision", "", "full 40-hex wpt revision, overriding run_info")
	f.StringVar(&cfg.Overrides.BrowserChannel, "browser-channel", "", "browser channel, overriding run_info")
	return cmd
}

func newServeCmd(stderr io.Writer) *cobra.Command {
	cfg := DefaultServerConfig()
	var tokenFile string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the Atom feed of the runs in the raw bucket, and the runs' files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if tokenFile != "" {
				tok, err := httpx.ReadToken(tokenFile)
				if err != nil {
					return fmt.Errorf("serve: --notify-token-file: %w", err)
				}
				cfg.NotifyToken = tok
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			s, err := NewServer(cmd.Context(), cfg, httpx.NewLogger(stderr))
			if err != nil {
				return err
			}
			defer s.Close()
			return s.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Bucket, "bucket", cfg.Bucket, "raw bucket URL or directory")
	f.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address HOST:PORT")
	f.StringVar(&cfg.BaseURL, "base-url", "", "public URL of this server, used in the feed's links (default http://ADDR)")
	f.DurationVar(&cfg.ScanInterval, "scan-interval", cfg.ScanInterval, "how often today's and yesterday's uploads are scanned for new runs (also the feed's max-age)")
	f.DurationVar(&cfg.FullScan, "full-scan-interval", cfg.FullScan, "how often every day of the bucket is scanned, for runs other tools wrote with older ids")
	f.StringVar(&cfg.Enclosures, "enclosures", "publisher", "how shards are downloaded: publisher (streamed by the publisher) or signed (a temporary redirect from the same permanent URL to a signed storage URL, where the driver can sign)")
	f.DurationVar(&cfg.SignedExpiry, "signed-expiry", 15*time.Minute, "lifetime of signed storage URLs (with --enclosures=signed)")
	f.StringArrayVar(&cfg.Notify, "notify", nil, "URL to POST to when new runs are published, e.g. an ingester's http://HOST:PORT/api/notify (repeatable)")
	f.StringVar(&tokenFile, "notify-token-file", "", "file holding the bearer token sent with --notify")
	f.IntVar(&cfg.PageSize, "page-size", cfg.PageSize, "runs per archive page (fixed for a bucket at its first start)")
	f.IntVar(&cfg.FeedEntries, "feed-entries", cfg.FeedEntries, "newest runs /feed.atom (and each filtered view, of its matching runs) lists, whether or not they are archived yet")
	f.StringVar(&cfg.Credentials, "credentials", "", "htpasswd file (bcrypt, htpasswd -B) of the users who may POST runs to "+UploadPath+"; reloaded when it changes; without it the endpoint is off")
	f.Int64Var(&cfg.MaxUpload, "max-upload", cfg.MaxUpload, "most bytes one upload request may send (and make the server fetch)")
	f.StringArrayVar(&cfg.UploadOrigins, "upload-allow-origin", nil, "origin (scheme://host[:port]) that uploads may name in result_url or archive_url (repeatable; default none: both refused)")
	f.StringVar(&cfg.StatusURL, "status-url", "", "base URL of the ingester's status server (ingester serve), e.g. https://status.example.org: each run's page links to <url>/api/status/<run id> (default none: no link)")
	httpx.AddTimeoutFlags(f, &cfg.Timeouts)
	return cmd
}
