// Command demo runs the whole pipeline once on the embedded default (local
// directories under ./wpt-data, no cloud account): it starts the publisher,
// uploads the sample runs from testdata with `publisher upload`, ingests them
// with `ingester run --once`, prints what was written where, and stops.
//
//	go run ./cmd/internal/demo
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/ingester"
	"github.com/wptfeed/wptfeed/cmd/internal/publisher"
	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/testdata"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// samples are the runs the demo uploads: files from testdata and extra
// upload flags.
var samples = []struct {
	files []string
	flags []string
}{
	{[]string{"reports/chrome.json"}, nil},
	{[]string{"reports/firefox-1.json", "reports/firefox-2.json"}, []string{"--label", "demo"}},
	// A real report from wpt: it names no browser version (supplied here)
	// and lists one test twice, the second copy unfinished.
	{[]string{"wptfyi/wpt-accidental-wptreport.json"}, []string{"--browser-version", "133.0.6900.0"}},
	{[]string{"wptfyi/deno-empty-wptreport.json"}, nil},
}

func run(ctx context.Context) error {
	raw, out := publisher.DefaultBucket, ingester.DefaultOut
	in, err := os.MkdirTemp("", "wptfeed-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(in)

	srv, err := publisher.NewServer(ctx, publisher.ServerConfig{Bucket: raw, Addr: "127.0.0.1:0", ScanInterval: 200 * time.Millisecond, Author: "wptfeed demo"}, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer srv.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go srv.Run(sctx)
	fmt.Printf("publisher serving %s/feed.atom from %s\n", srv.URL(), raw)

	for _, s := range samples {
		args := append([]string{"upload", "--bucket", raw}, s.flags...)
		for _, name := range s.files {
			p := filepath.Join(in, filepath.Base(name))
			if err := os.WriteFile(p, testdata.Read(name), 0o644); err != nil {
				return err
			}
			args = append(args, p)
		}
		var stdout, stderr bytes.Buffer
		cmd := publisher.NewCommand(&stdout, &stderr)
		cmd.SetArgs(args)
		if err := cmd.ExecuteContext(ctx); err != nil {
			return fmt.Errorf("publisher %s: %w", strings.Join(args, " "), err)
		}
		fmt.Printf("uploaded %s as run %s\n", strings.Join(s.files, " + "), strings.TrimSpace(stdout.String()))
	}
	time.Sleep(500 * time.Millisecond) // two scans: the feed lists every upload

	args := []string{"run", "--feed", srv.URL() + "/feed.atom", "--out", out, "--once"}
	fmt.Printf("ingester %s\n", strings.Join(args, " "))
	cmd := ingester.NewCommand(os.Stdout, os.Stderr)
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(ctx); err != nil {
		return err
	}

	fmt.Printf("\nstatus records in %s/status:\n", out)
	statuses, _ := filepath.Glob(filepath.Join(out, "status", "*.json"))
	for _, p := range statuses {
		var st records.Status
		data, err := os.ReadFile(p)
		if err != nil || json.Unmarshal(data, &st) != nil {
			continue
		}
		line := fmt.Sprintf("  %s  %-7s", st.RunID, st.State)
		if st.State == records.StateValid {
			line += fmt.Sprintf(" %d tests, %d subtests -> %s", st.Tests, st.Subtests, st.ResultsURL)
		} else {
			line += " " + st.Code + ": " + st.Error
		}
		for _, w := range st.Warnings {
			line += "\n      warning: " + w.Message
		}
		fmt.Println(line)
	}
	abs, _ := filepath.Abs(out)
	fmt.Printf("\noutputs: %s (summaries under <revision>/, TestRun records under testruns/)\n", abs)
	fmt.Println("keep it running: go run ./cmd/publisher serve  &  go run ./cmd/ingester run")
	fmt.Println("dashboard and status feed: go run ./cmd/ingester serve, then open http://127.0.0.1:8081/")
	return nil
}
