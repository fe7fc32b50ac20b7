package report

import (
	"context"
	"io"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestPerfFile measures Process over a real file: set REPORT_PERF_FILE to a
// wptreport (plain or gzip). It logs wall time, CPU time and peak RSS.
func TestPerfFile(t *testing.T) {
	path := os.Getenv("REPORT_PERF_FILE")
	if path == "" {
		t.Skip("REPORT_PERF_FILE not set")
	}
	sh := Shard{Name: path, Open: func() (io.ReadCloser, error) { return os.Open(path) }}
	var opts Options
	if os.Getenv("REPORT_PERF_TEST") != "" {
		opts.Test = func(string, []byte) error { return nil }
	}
	for range 3 {
		runtime.GC()
		var before, after syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &before)
		start := time.Now()
		r, err := Process(context.Background(), []Shard{sh}, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Summary.WriteJSON(io.Discard); err != nil {
			t.Fatal(err)
		}
		wall := time.Since(start)
		syscall.Getrusage(syscall.RUSAGE_SELF, &after)
		cpu := time.Duration(after.Utime.Nano()-before.Utime.Nano()) + time.Duration(after.Stime.Nano()-before.Stime.Nano())
		t.Logf("wall %v cpu %v maxrss %d MiB tests %d subtests %d", wall.Round(time.Millisecond), cpu.Round(time.Millisecond), after.Maxrss>>10, r.Tests, r.Subtests)
	}
}
