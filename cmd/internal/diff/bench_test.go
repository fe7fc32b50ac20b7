package diff

import (
	"bytes"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/internal/testutil"
	"github.com/wptfeed/wptfeed/report"
)

// The two benchmarks below run side by side on the same two documents: the
// full-size real summary_v2 of testdata (32,720 tests) and a perturbed copy
// (perturb). BenchmarkDecodeTwoSummaries is the baseline: reading the two
// summaries alone. docs/benchmarks.md gives Compute's figures as ratios to
// it (time, bytes/op, peak heap).

func benchPair(b *testing.B) (before, after []byte) {
	b.Helper()
	before = realSummary(b)
	after, _ = perturb(b, before)
	return before, after
}

func BenchmarkDecodeTwoSummaries(b *testing.B) {
	before, after := benchPair(b)
	op := func() {
		if _, err := report.ReadSummary(bytes.NewReader(before)); err != nil {
			b.Fatal(err)
		}
		if _, err := report.ReadSummary(bytes.NewReader(after)); err != nil {
			b.Fatal(err)
		}
	}
	runBench(b, op)
}

func BenchmarkCompute(b *testing.B) {
	before, after := benchPair(b)
	op := func() {
		d, err := Compute(bytes.NewReader(before), bytes.NewReader(after), Options{})
		if err != nil {
			b.Fatal(err)
		}
		if len(d.Tests) == 0 {
			b.Fatal("no change found")
		}
	}
	runBench(b, op)
}

// runBench times op and reports, besides ns/op and B/op, the CPU time
// per op of the whole process, GC included (cpu-ms/op: steadier than
// ns/op when other processes share the cores), and the peak live heap
// during one op above the heap before it (peak-heap-MiB).
func runBench(b *testing.B, op func()) {
	b.ReportAllocs()
	peak := peakHeap(op)
	cpu0, n := cpuTime(), 0
	for b.Loop() {
		op()
		n++
	}
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(n), "cpu-ms/op")
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// peakHeap runs op once after a GC and returns the highest heap object
// bytes sampled while it ran (every 20 µs, without stopping the world)
// minus those before it.
func peakHeap(op func()) uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	base := read()
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(20 * time.Microsecond)
		defer t.Stop()
		for {
			peak = max(peak, read())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	op()
	last := read()
	close(done)
	wg.Wait()
	peak = max(peak, last)
	if peak < base {
		return 0
	}
	return peak - base
}

// BenchmarkHistoryAdd adds a full-size run to a history of ten (the real
// summary and its perturbed copy in turn, so that 3% of the tests change
// or come and go), and reports the history document's size, plain and gzip.
func BenchmarkHistoryAdd(b *testing.B) {
	before, after := benchPair(b)
	runs := make([]*report.Summary, 2)
	for i, doc := range [][]byte{before, after} {
		s, err := report.ReadSummary(bytes.NewReader(doc))
		if err != nil {
			b.Fatal(err)
		}
		runs[i] = s
	}
	h := NewHistory(DefaultWindow)
	for i := range DefaultWindow {
		h.Add("warm", runs[i%2])
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.Add("run", runs[i%2])
		i++
	}
	b.StopTimer()
	var doc bytes.Buffer
	if err := h.WriteJSON(&doc); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(doc.Len())/(1<<20), "doc-MiB")
	b.ReportMetric(float64(len(testutil.Gzip(b, doc.Bytes())))/(1<<20), "doc-gzip-MiB")
	b.ReportMetric(float64(len(h.Flaky(DefaultFlakyChanges))), "flaky-tests")
}
