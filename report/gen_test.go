package report

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
)

// genReport writes a wptrunner-like report (Python json.dumps separators,
// one line) with nTests tests, numbered from first, and about nSubtests
// subtests in total. It is
// a simple stand-in for report/reportgen: realistic sizes, synthetic paths.
func genReport(w io.Writer, first, nTests, nSubtests int, seed uint64) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	rng := rand.New(rand.NewPCG(seed, 1))
	fmt.Fprint(bw, `{"run_info": {"os": "linux", "processor": "x86_64", "version": "Ubuntu 24.04", "os_version": "24.04", "bits": 64, "has_sandbox": true, "revision": "24278ab61781de72ed363b866ae6b50b86822b27", "product": "chrome", "browser_version": "131.0.6778.85", "browser_channel": "stable", "headless": true}, "time_start": 1731527155173, "results": [`)
	statuses := []string{"PASS", "PASS", "PASS", "PASS", "PASS", "FAIL", "FAIL", "TIMEOUT", "NOTRUN", "PRECONDITION_FAILED"}
	testStatuses := []string{"OK", "OK", "OK", "OK", "ERROR", "TIMEOUT", "CRASH"}
	left := nSubtests
	for t := range nTests {
		if t > 0 {
			bw.WriteString(", ")
		}
		// Subtests per test: mostly few, a heavy tail, averaging nSubtests/nTests.
		n := 0
		if rest := nTests - t; rest > 0 {
			avg := float64(left) / float64(rest)
			n = int(rng.ExpFloat64() * avg)
			if t == nTests-1 || n > left {
				n = left
			}
		}
		left -= n
		status := "PASS"
		if n > 0 {
			status = testStatuses[rng.IntN(len(testStatuses))]
		} else if rng.IntN(5) == 0 {
			status = "FAIL"
		}
		id := first + t
		fmt.Fprintf(bw, `{"test": "/dir%d/sub%d/test-%d.html", "subsuite": "", "subtests": [`, id%97, id%13, id)
		for s := range n {
			if s > 0 {
				bw.WriteString(", ")
			}
			st := statuses[rng.IntN(len(statuses))]
			msg := "null"
			if st == "FAIL" {
				msg = fmt.Sprintf(`"expected %d got %d"`, rng.IntN(100), rng.IntN(1000))
			}
			fmt.Fprintf(bw, `{"name": "%s %d", "status": "%s", "message": %s, "known_intermittent": []}`,
				words[rng.IntN(len(words))], rng.IntN(100000), st, msg)
		}
		fmt.Fprintf(bw, `], "status": "%s", "message": null, "duration": %d, "known_intermittent": []}`, status, 100+rng.IntN(5000))
	}
	fmt.Fprint(bw, `], "time_end": 1731530000000}`)
	return bw.Flush()
}

var words = []string{"element", "style", "getComputedStyle", "attribute", "should", "be", "throws",
	"TypeError", "promise_test", "idl_test", "interface", "object", "length", "property", "setter",
	"WebIDL", "navigator", "worker", "iframe", "fetch", "Response", "Request", "url", "encoding",
	"valid", "invalid", "value", "margin-left", "transform", "animation", "keyframes", "canvas", "2d"}

var benchInputs sync.Map // shards → *benchInput

type benchInput struct {
	once  sync.Once
	gz    [][]byte
	plain int64
}

// benchReport returns a run of the brief's size (33,000 tests, 1.6M
// subtests, ~150 MB of JSON; a tenth with -short) as n gzip shards, and its
// decompressed size. With REPORT_BENCH_WRITE set, the one-shard version is
// also written to that path (to compare with gzip -dc).
func benchReport(tb testing.TB, n int) ([][]byte, int64) {
	v, _ := benchInputs.LoadOrStore(n, &benchInput{})
	in := v.(*benchInput)
	in.once.Do(func() {
		tests, subs := 33000, 1600000
		if testing.Short() {
			tests, subs = 3300, 160000
		}
		for i := range n {
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
			cw := &countWriter{w: zw}
			if err := genReport(cw, i*(tests/n), tests/n, subs/n, uint64(42+i)); err != nil {
				tb.Fatal(err)
			}
			zw.Close()
			in.gz = append(in.gz, buf.Bytes())
			in.plain += cw.n
		}
		if path := os.Getenv("REPORT_BENCH_WRITE"); path != "" && n == 1 {
			os.WriteFile(path, in.gz[0], 0o644)
		}
	})
	return in.gz, in.plain
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
