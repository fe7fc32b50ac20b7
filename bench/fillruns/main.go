// Command fillruns writes committed runs straight into a raw bucket's layout
// (shards first, manifest last, as `publisher upload` does), for benchmarks
// of the publisher on large buckets. Shard bodies are tiny gzip wptreports
// (a few hundred bytes); manifests carry realistic metadata. The run ids are
// spread evenly over -days days ending now, so that every day prefix holds
// about n/days runs; with -n 1 the one run is uploaded "now".
//
//	go run ./bench/fillruns -bucket DIR -n 100000 [-days 100] [-workers 8] [-print-ids]
//
// Progress (runs/s) goes to stderr every second, then the total time. With
// -print-ids each run id is printed on stdout once its manifest is written.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wptfeed/wptfeed/store"
)

type product struct {
	name     string
	versions []string
	channels []string
}

var (
	products = []product{
		{"chrome", []string{"131.0.6778.85", "132.0.6834.57", "133.0.6905.0"}, []string{"stable", "beta", "dev"}},
		{"firefox", []string{"133.0", "134.0b9", "135.0a1"}, []string{"stable", "beta", "nightly"}},
		{"safari", []string{"18.2", "18.3 (20620.2.4)", "209 preview"}, []string{"stable", "preview"}},
		{"edge", []string{"131.0.2903.86", "132.0.2957.55"}, []string{"stable", "dev"}},
		{"webkitgtk", []string{"2.47.2"}, []string{"nightly"}},
	}
	systems = []struct{ os, version string }{
		{"linux", "22.04"}, {"linux", "24.04"}, {"mac", "14"}, {"mac", "15"}, {"windows", "10"}, {"windows", "11"}, {"android", "14"},
	}
)

func main() {
	bucket := flag.String("bucket", "", "raw bucket URL (file:///dir, …) or directory")
	n := flag.Int("n", 100000, "number of runs to write")
	days := flag.Int("days", 100, "spread the run ids over this many days ending now")
	workers := flag.Int("workers", 8, "concurrent writers")
	printIDs := flag.Bool("print-ids", false, "print each run id on stdout once committed")
	seed := flag.Uint64("seed", 0, "metadata seed (0: random)")
	flag.Parse()
	if *bucket == "" || flag.NArg() > 0 || *n < 1 || *days < 1 || *workers < 1 {
		fmt.Fprintln(os.Stderr, "usage: fillruns -bucket DIR [-n 100000] [-days 100] [-workers 8] [-print-ids] [-seed 0]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := fill(ctx, *bucket, *n, *days, *workers, *printIDs, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "fillruns:", err)
		os.Exit(1)
	}
}

func fill(ctx context.Context, bucketURL string, n, days, workers int, printIDs bool, seed uint64) error {
	b, err := store.Open(ctx, bucketURL)
	if err != nil {
		return err
	}
	defer b.Close()
	if seed == 0 {
		seed = mrand.Uint64()
	}

	now := time.Now().UTC()
	span := time.Duration(days) * 24 * time.Hour
	step := span / time.Duration(n) // run i is uploaded at now - (n-1-i)*step

	var out *bufio.Writer
	var outMu sync.Mutex
	if printIDs {
		out = bufio.NewWriter(os.Stdout)
		defer func() {
			outMu.Lock()
			out.Flush()
			outMu.Unlock()
		}()
	}

	start := time.Now()
	var done atomic.Int64
	jobs := make(chan int, workers*4)
	errc := make(chan error, workers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				t := now.Add(-time.Duration(n-1-i) * step)
				rng := mrand.New(mrand.NewPCG(seed, uint64(i)))
				id, err := writeRun(ctx, b, t, rng)
				if err != nil {
					errc <- fmt.Errorf("run %d: %w", i, err)
					cancel()
					return
				}
				done.Add(1)
				if out != nil {
					outMu.Lock()
					fmt.Fprintln(out, id)
					if n <= 10 {
						out.Flush()
					}
					outMu.Unlock()
				}
			}
		}()
	}

	progressDone := make(chan struct{})
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var prev int64
		prevT := start
		for {
			select {
			case <-progressDone:
				return
			case t := <-tick.C:
				d := done.Load()
				fmt.Fprintf(os.Stderr, "fillruns: %d/%d runs, %.0f runs/s (%.0f runs/s overall)\n",
					d, n, float64(d-prev)/t.Sub(prevT).Seconds(), float64(d)/t.Sub(start).Seconds())
				prev, prevT = d, t
			}
		}
	}()

feed:
	for i := 0; i < n; i++ {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	close(progressDone)
	select {
	case err := <-errc:
		return err
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Fprintf(os.Stderr, "fillruns: wrote %d runs over %d day(s) in %.2fs (%.0f runs/s, %d workers)\n",
		n, days, el.Seconds(), float64(n)/el.Seconds(), workers)
	return nil
}

// writeRun writes one run uploaded at t: 1 to 4 tiny shards, then its
// manifest. It returns the run id.
func writeRun(ctx context.Context, b *store.Bucket, t time.Time, rng *mrand.Rand) (string, error) {
	id := store.NewRunID(t)
	p := products[rng.IntN(len(products))]
	sys := systems[rng.IntN(len(systems))]
	if p.name == "safari" {
		sys = systems[2+rng.IntN(2)] // mac only
	}
	version := p.versions[rng.IntN(len(p.versions))]
	channel := p.channels[rng.IntN(len(p.channels))]
	var rev [20]byte
	rand.Read(rev[:])
	revision := hex.EncodeToString(rev[:])
	dur := time.Duration(20+rng.IntN(100)) * time.Minute
	timeEnd := t.Add(-time.Duration(1+rng.IntN(300)) * time.Second).Truncate(time.Millisecond)
	timeStart := timeEnd.Add(-dur)

	labels := []string{"master", channel}
	if channel == "stable" || channel == "beta" {
		labels = append(labels, "pr_head")
	}
	if rng.IntN(4) == 0 {
		labels = append(labels, "experimental")
	}

	nShards := 1 + rng.IntN(4)
	shards := make([]store.Shard, 0, nShards)
	for s := 0; s < nShards; s++ {
		body, err := shardBody(p.name, version, sys.os, sys.version, revision, channel, timeStart, timeEnd, s, rng)
		if err != nil {
			return "", err
		}
		sh, err := b.PutShard(ctx, id, store.ShardName(s), bytes.NewReader(body))
		if err != nil {
			return "", err
		}
		shards = append(shards, sh)
	}
	m := &store.Manifest{
		Version:        1,
		RunID:          id,
		Uploaded:       t.Truncate(time.Microsecond),
		Product:        p.name,
		BrowserVersion: version,
		OS:             sys.os,
		OSVersion:      sys.version,
		Revision:       revision,
		BrowserChannel: channel,
		Labels:         labels,
		TimeStart:      timeStart,
		TimeEnd:        timeEnd,
		Shards:         shards,
	}
	return id, b.PutManifest(ctx, id, m)
}

// shardBody is a gzip wptreport with a couple of tests: a few hundred bytes.
func shardBody(prod, version, os, osVersion, revision, channel string, start, end time.Time, shard int, rng *mrand.Rand) ([]byte, error) {
	type subtest struct {
		Name    string  `json:"name"`
		Status  string  `json:"status"`
		Message *string `json:"message"`
	}
	type result struct {
		Test     string    `json:"test"`
		Status   string    `json:"status"`
		Subtests []subtest `json:"subtests"`
	}
	statuses := []string{"PASS", "FAIL", "TIMEOUT", "NOTRUN"}
	var results []result
	for k := 0; k < 2+rng.IntN(2); k++ {
		r := result{Test: fmt.Sprintf("/bench/shard%d/test-%d.html", shard, k), Status: "OK"}
		for j := 0; j < 1+rng.IntN(3); j++ {
			r.Subtests = append(r.Subtests, subtest{Name: fmt.Sprintf("subtest %d", j), Status: statuses[rng.IntN(len(statuses))]})
		}
		results = append(results, r)
	}
	rep := map[string]any{
		"time_start": start.UnixMilli(),
		"time_end":   end.UnixMilli(),
		"run_info": map[string]any{
			"product": prod, "browser_version": version, "os": os, "os_version": osVersion,
			"revision": revision, "browser_channel": channel,
		},
		"results": results,
	}
	var buf bytes.Buffer
	zw := gzipPool.Get().(*gzip.Writer)
	defer gzipPool.Put(zw)
	zw.Reset(&buf)
	if err := json.NewEncoder(zw).Encode(rep); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// gzipPool reuses gzip writers: a new one allocates about a megabyte.
var gzipPool = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return zw
}}
