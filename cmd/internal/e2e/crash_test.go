package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/publisher"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/report/reportgen"
	"github.com/wptfeed/wptfeed/store"
)

// TestIngester_CrashSafety builds the ingester, runs it against a publisher
// with 50 runs, kills it with SIGKILL at 20 random moments, restarts it each
// time, and then checks that every run has complete, correct outputs, once,
// and that no reader ever sees a half-written run.
func TestIngester_CrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills real processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := buildIngester(t)
	raw, out := t.TempDir(), t.TempDir()
	b, _ := store.Open(ctx, raw)
	defer b.Close()

	// 50 realistic runs of a few hundred tests each.
	want := map[string]*report.Result{}
	now := time.Now()
	for i := range 50 {
		var buf bytes.Buffer
		cfg := reportgen.Config{Seed: int64(i), Scale: 0.01, Shards: 1, BrowserVersion: fmt.Sprintf("%d.0", 100+i)}
		if err := reportgen.Write(&buf, cfg, 0); err != nil {
			t.Fatal(err)
		}
		id := store.NewRunID(now.Add(time.Duration(i) * time.Millisecond))
		commitRun(t, b, id, buf.Bytes())
		data := buf.Bytes()
		res, err := report.Process(ctx, []report.Shard{{Name: "x", Open: func() (rc ioReadCloser, err error) { return nopCloser{bytes.NewReader(data)}, nil }}}, report.Options{})
		if err != nil {
			t.Fatal(err)
		}
		want[id] = res
	}
	s, feedURL, _ := startPublisher(t, ctx, raw, publisher.ServerConfig{ScanInterval: 50 * time.Millisecond, FullScan: time.Hour, PageSize: 20})
	waitFor(t, 30*time.Second, "50 runs published", func() bool { return s.Count() == 50 })

	args := []string{"run", "--feed", feedURL, "--out", out, "--interval", "100ms", "--lease-ttl", "2s", "--workers", "2"}
	rng := rand.New(rand.NewPCG(1, 2))
	for kill := range 20 {
		cmd := osexec.CommandContext(ctx, bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(20+rng.IntN(400)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		checkVisible(t, out, want, fmt.Sprintf("after kill %d", kill+1))
	}
	// Restarted for good: it finishes everything (taking over the leases
	// of its killed predecessors once they expire).
	cmd := osexec.CommandContext(ctx, bin, append(args[:len(args)-4], "--once", "--lease-ttl", "2s")...)
	if outb, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("final --once: %v\n%s", err, outb)
	}
	if n := checkVisible(t, out, want, "at the end"); n != 50 {
		t.Errorf("%d runs finished, want 50", n)
	}
}

// checkVisible checks every run whose status record is visible: complete,
// correct outputs. It returns how many there are.
func checkVisible(t *testing.T, out string, want map[string]*report.Result, when string) int {
	t.Helper()
	n := 0
	for id, res := range want {
		p := filepath.Join(out, "status", id+".json")
		if _, err := os.Stat(p); err != nil {
			continue
		}
		n++
		st := readStatus(t, out, id)
		if st.State != "VALID" || st.Tests != res.Tests || st.Subtests != res.Subtests {
			t.Fatalf("%s: run %s status %+v", when, id, st)
		}
		var sum map[string]summaryEntry
		readGzipJSON(t, filepath.Join(out, res.Meta.Revision, res.ProductID()+"-summary_v2.json.gz"), &sum)
		if len(sum) != res.Tests {
			t.Fatalf("%s: run %s summary has %d tests, want %d", when, id, len(sum), res.Tests)
		}
		for _, path := range res.Summary.Paths() {
			ts, _ := res.Summary.Get(path)
			got := sum[path]
			if got.S != ts.Status || got.C != [2]int{ts.Counts.Pass, ts.Counts.Total} {
				t.Fatalf("%s: run %s: %s = %+v, want %+v", when, id, path, got, ts)
			}
			var obj map[string]any
			readGzipJSON(t, filepath.Join(out, res.Meta.Revision, res.ProductID(), filepath.FromSlash(path)), &obj)
			if obj["test"] != path {
				t.Fatalf("%s: per-test file of %s holds %v", when, path, obj["test"])
			}
		}
		if _, err := os.Stat(filepath.Join(out, "testruns", id+".json")); err != nil {
			t.Fatalf("%s: run %s has a status but no TestRun: %v", when, id, err)
		}
	}
	// Exactly one status record per run, and no stray ones.
	files, _ := filepath.Glob(filepath.Join(out, "status", "*.json"))
	if len(files) != n {
		t.Fatalf("%s: %d status records for %d runs", when, len(files), n)
	}
	for _, f := range files {
		if _, ok := want[strings.TrimSuffix(filepath.Base(f), ".json")]; !ok {
			t.Fatalf("%s: stray status record %s", when, f)
		}
	}
	return n
}
