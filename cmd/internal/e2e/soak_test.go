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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/publisher"
	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/store"
)

// TestIngester_Soak: three ingester processes on one out bucket while 200
// runs arrive; every few hundred milliseconds one of them is killed
// (SIGKILL) and restarted, or paused (SIGSTOP) past its lease and resumed.
// Then, with the others gone and nothing deleted, one plain `ingester run`
// (not --once) must bring every run to exactly one status record, VALID,
// with one TestRun, without being restarted. It logs how long that took;
// the test fails after 10 minutes.
func TestIngester_Soak(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real processes for about a minute")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 14*time.Minute)
	defer cancel()
	bin := buildIngester(t)
	raw, out := t.TempDir(), t.TempDir()
	b, err := store.Open(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, feedURL, _ := startPublisher(t, ctx, raw, publisher.ServerConfig{ScanInterval: 50 * time.Millisecond, FullScan: time.Hour, PageSize: 20})

	const runs = 200
	ids := make([]string, runs)
	start := time.Now()
	for i := range ids {
		ids[i] = store.NewRunID(start.Add(time.Duration(i) * time.Millisecond))
	}
	arrived := make(chan struct{})
	go func() { // 200 runs over about 10 s
		defer close(arrived)
		for i, id := range ids {
			commitRun(t, b, id, tinyReport(1000+i))
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	args := []string{"run", "--feed", feedURL, "--out", out, "--interval", "100ms", "--lease-ttl", "2s", "--workers", "2", "--backoff-max", "2s"}
	type proc struct {
		cmd    *osexec.Cmd
		stderr *bytes.Buffer
	}
	var mu sync.Mutex
	startProc := func() *proc {
		cmd := osexec.CommandContext(ctx, bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return &proc{cmd, &stderr}
	}
	procs := []*proc{startProc(), startProc(), startProc()}
	rng := rand.New(rand.NewPCG(7, 11))
	kills, pauses := 0, 0
	for chaos := true; chaos; {
		select {
		case <-arrived:
			chaos = false
			continue
		case <-time.After(time.Duration(100+rng.IntN(400)) * time.Millisecond):
		}
		mu.Lock()
		i := rng.IntN(len(procs))
		p := procs[i]
		if rng.IntN(2) == 0 {
			p.cmd.Process.Signal(syscall.SIGKILL)
			p.cmd.Wait()
			procs[i] = startProc()
			kills++
		} else if err := p.cmd.Process.Signal(syscall.SIGSTOP); err == nil {
			pauses++
			pause := time.Duration(1000+rng.IntN(3000)) * time.Millisecond // up to twice the lease
			time.AfterFunc(pause, func() { p.cmd.Process.Signal(syscall.SIGCONT) })
		}
		mu.Unlock()
	}
	// All three die at once, paused ones too, holding leases and leaving
	// the last runs to arrive unprocessed.
	mu.Lock()
	for _, p := range procs {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
	}
	mu.Unlock()
	before := countFiles(t, filepath.Join(out, "status"))
	t.Logf("%d runs arrived; %d kills and %d pauses of three ingesters; %d runs had a status when the last was killed", runs, kills, pauses, before)

	// One plain ingester, never restarted, must finish everything.
	final := startProc()
	defer func() {
		final.cmd.Process.Signal(syscall.SIGKILL)
		final.cmd.Wait()
	}()
	converge := time.Now()
	deadline := converge.Add(10 * time.Minute)
	for {
		if n := countFiles(t, filepath.Join(out, "status")); n == runs {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 minutes, %d of %d runs have a status; the ingester's log:\n%s", countFiles(t, filepath.Join(out, "status")), runs, tail(final.stderr.String(), 4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the last ingester brought every run to a status in %v", time.Since(converge).Round(time.Millisecond))

	for _, id := range ids {
		st := readStatus(t, out, id)
		if st.State != records.StateValid {
			t.Errorf("run %s: %s (%s: %s), want VALID", id, st.State, st.Code, st.Error)
		}
		if _, err := os.Stat(filepath.Join(out, "testruns", id+".json")); err != nil {
			t.Errorf("run %s: no TestRun: %v", id, err)
		}
	}
	for _, dir := range []string{"status", "testruns"} {
		if n := countFiles(t, filepath.Join(out, dir)); n != runs {
			t.Errorf("%s/ holds %d records, want exactly %d", dir, n, runs)
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := strings.IndexByte(s[len(s)-n:], '\n')
	return fmt.Sprintf("…%s", s[len(s)-n+i+1:])
}
