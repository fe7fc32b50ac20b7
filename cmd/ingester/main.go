// Command ingester polls the publisher's Atom feed, fetches each new run,
// validates it and writes wpt.fyi-compatible results, TestRun and status
// records to the dashboard bucket (`ingester run`), or processes local report
// files directly (`ingester process`).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/wptfeed/wptfeed/cmd/internal/ingester"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := ingester.NewCommand(os.Stdout, os.Stderr).ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ingester:", err)
		os.Exit(1)
	}
}
