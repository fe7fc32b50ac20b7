package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/publisher"
	"github.com/wptfeed/wptfeed/report/reportgen"
	"github.com/wptfeed/wptfeed/store"
)

// TestIngester_DiffCrashSafety runs the ingester on 20 runs of one series
// (chrome stable), kills it with SIGKILL at 12 random moments and restarts
// it: after every kill, each VALID run has its diff (written before the
// status record); at the end each run's diff is against the VALID run
// before it in run-time order, runs taken over after a kill (processed out
// of order) included.
func TestIngester_DiffCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills real processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := buildIngester(t)
	raw, out := t.TempDir(), t.TempDir()
	b, _ := store.Open(ctx, raw)
	defer b.Close()

	const runs = 20
	var ids []string // in run-time order
	now := time.Now()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range runs {
		var buf bytes.Buffer
		cfg := reportgen.Config{Seed: int64(i), Scale: 0.01, Shards: 1, BrowserVersion: fmt.Sprintf("%d.0", 100+i),
			TimeStart: start.Add(time.Duration(i) * time.Hour).UnixMilli()}
		if err := reportgen.Write(&buf, cfg, 0); err != nil {
			t.Fatal(err)
		}
		id := store.NewRunID(now.Add(time.Duration(i) * time.Millisecond))
		commitRun(t, b, id, buf.Bytes())
		ids = append(ids, id)
	}
	s, feedURL, _ := startPublisher(t, ctx, raw, publisher.ServerConfig{ScanInterval: 50 * time.Millisecond, FullScan: time.Hour, PageSize: 20})
	waitFor(t, 30*time.Second, "runs published", func() bool { return s.Count() == runs })

	args := []string{"run", "--feed", feedURL, "--out", out, "--interval", "100ms", "--lease-ttl", "2s", "--workers", "1"}
	rng := rand.New(rand.NewPCG(3, 4))
	for kill := range 12 {
		cmd := osexec.CommandContext(ctx, bin, args...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(20+rng.IntN(300)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		checkDiffs(t, out, ids, fmt.Sprintf("after kill %d", kill+1), false)
	}
	cmd := osexec.CommandContext(ctx, bin, append(args, "--once")...)
	if outb, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("final --once: %v\n%s", err, outb)
	}
	if n := checkDiffs(t, out, ids, "at the end", true); n != runs {
		t.Errorf("%d runs VALID, want %d", n, runs)
	}
}

// checkDiffs checks that every VALID run among ids has its diff, against a
// VALID run; with final, against the VALID run before it in ids. It
// returns the number of VALID runs.
func checkDiffs(t *testing.T, out string, ids []string, when string, final bool) int {
	t.Helper()
	var valid []string
	for _, id := range ids {
		if _, err := os.Stat(filepath.Join(out, "status", id+".json")); err != nil {
			continue
		}
		if st := readStatus(t, out, id); st.State != "VALID" {
			t.Fatalf("%s: run %s is %s", when, id, st.State)
		}
		valid = append(valid, id)
	}
	for i, id := range valid {
		p := filepath.Join(out, filepath.FromSlash(store.DiffKey(id)))
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s: VALID run %s has no diff: %v", when, id, err)
		}
		var d struct {
			Before string            `json:"before"`
			After  string            `json:"after"`
			Tests  []json.RawMessage `json:"tests"`
		}
		readGzipJSON(t, p, &d)
		if d.After != id {
			t.Fatalf("%s: diff of %s says after %q", when, id, d.After)
		}
		switch {
		case final:
			want := ""
			if i > 0 {
				want = valid[i-1]
			}
			if d.Before != want {
				t.Errorf("%s: diff of %s (run %d) is against %q, want %q", when, id, slices.Index(ids, id), d.Before, want)
			}
		case d.Before != "":
			if !slices.Contains(ids, d.Before) || strings.Compare(d.Before, id) == 0 {
				t.Fatalf("%s: diff of %s is against %q", when, id, d.Before)
			}
			if _, err := os.Stat(filepath.Join(out, "status", d.Before+".json")); err != nil {
				t.Fatalf("%s: diff of %s is against %s, which is not VALID", when, id, d.Before)
			}
		}
	}
	return len(valid)
}
