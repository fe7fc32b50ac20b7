package ingester

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/store"
	"github.com/wptfeed/wptfeed/testdata"
)

// TestRawResultsFlags: --raw-results-out puts the merged report that
// raw_results_url names in a bucket of its own, under
// --raw-results-base-url; the base URL alone is refused.
func TestRawResultsFlags(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	in := filepath.Join(dir, "report.json")
	if err := os.WriteFile(in, testdata.Read("reports/chrome.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	outDir, rawDir := filepath.Join(dir, "out"), filepath.Join(dir, "raw")
	var stdout bytes.Buffer
	cmd := NewCommand(&stdout, io.Discard)
	cmd.SetArgs([]string{"process", "--out", outDir, "--raw-results-out", rawDir, "--raw-results-base-url", "https://raw.example/wptd-results/", "--per-test=false", in})
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatalf("process: %v\n%s", err, stdout.String())
	}
	runID := strings.TrimSuffix(strings.Fields(stdout.String())[2], ":")
	out, err := store.Open(ctx, outDir)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	data, err := out.ReadAll(ctx, store.TestRunKey(runID))
	if err != nil {
		t.Fatal(err)
	}
	var tr records.TestRun
	if err := json.Unmarshal(data, &tr); err != nil {
		t.Fatal(err)
	}
	key, ok := strings.CutPrefix(tr.RawResultsURL, "https://raw.example/wptd-results/")
	if !ok || !strings.HasSuffix(key, "/report.json") {
		t.Fatalf("raw_results_url = %q, want <sha>/<product id>/report.json under the --raw-results-base-url", tr.RawResultsURL)
	}
	if _, err := os.Stat(filepath.Join(rawDir, filepath.FromSlash(key))); err != nil {
		t.Errorf("merged report not in --raw-results-out: %v", err)
	}
	if ok, err := out.Exists(ctx, key); ok || err != nil {
		t.Errorf("merged report in the out bucket too (%v, %v)", ok, err)
	}

	for _, args := range [][]string{
		{"process", "--out", outDir, "--raw-results-base-url", "https://raw.example", in},
		{"run", "--once", "--out", outDir, "--raw-results-base-url", "https://raw.example"},
	} {
		cmd := NewCommand(io.Discard, io.Discard)
		cmd.SetArgs(args)
		if err := cmd.ExecuteContext(ctx); err == nil || !strings.Contains(err.Error(), "--raw-results-base-url needs --raw-results-out") {
			t.Errorf("%s: got %v, want --raw-results-base-url refused without --raw-results-out", args[0], err)
		}
	}
}
