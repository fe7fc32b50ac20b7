package reportgen

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Subtest status codes.
const (
	stPass uint8 = iota
	stFail
	stTimeout
	stNotRun
	stPrecondition
	stError
)

var subtestStatusNames = [...]string{
	stPass:         "PASS",
	stFail:         "FAIL",
	stTimeout:      "TIMEOUT",
	stNotRun:       "NOTRUN",
	stPrecondition: "PRECONDITION_FAILED",
	stError:        "ERROR",
}

// generator writes one shard; its buffers are reused across tests.
type generator struct {
	cfg     Config
	seed    uint64
	ascii   bool // escape non-ASCII as \uXXXX
	scratch []byte
	st      []uint8
}

// flushSize is how much JSON is buffered before each write to w.
const flushSize = 256 << 10

func (g *generator) writeShard(w io.Writer, items []item, shard int) error {
	b := make([]byte, 0, flushSize+64<<10)
	b = append(b, `{"run_info": `...)
	b = g.appendRunInfo(b)
	start := g.cfg.TimeStart + int64(shard)*1237
	b = append(b, `, "time_start": `...)
	b = strconv.AppendInt(b, start, 10)
	b = append(b, `, "results": [`...)
	var elapsed int64
	for k := shard; k < len(items); k += g.cfg.Shards {
		if k != shard {
			b = append(b, ", "...)
		}
		var d int64
		b, d = g.appendResult(b, &items[k])
		elapsed += d + 25 // plus harness overhead per test
		if len(b) >= flushSize {
			if _, err := w.Write(b); err != nil {
				return fmt.Errorf("reportgen: write shard: %w", err)
			}
			b = b[:0]
		}
	}
	b = append(b, `], "subsuites": {"": {"subsuite": ""}}, "time_end": `...)
	b = strconv.AppendInt(b, start+elapsed, 10)
	b = append(b, "}\n"...)
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("reportgen: write shard: %w", err)
	}
	return nil
}

// appendRunInfo appends run_info, shaped and ordered like wptrunner's.
func (g *generator) appendRunInfo(b []byte) []byte {
	c := &g.cfg
	processor, version := "x86_64", c.OSVersion
	switch c.OS {
	case "linux":
		version = "Ubuntu " + c.OSVersion
	case "mac":
		processor, version = "arm", "OS X "+c.OSVersion
	case "win":
		version = "10.0.19045"
	}
	field := func(k string) {
		if b[len(b)-1] != '{' {
			b = append(b, ", "...)
		}
		b = appendString(b, k, false)
		b = append(b, ": "...)
	}
	str := func(k, v string) {
		field(k)
		b = appendString(b, v, g.ascii)
	}
	lit := func(k, v string) {
		field(k)
		b = append(b, v...)
	}
	b = append(b, '{')
	str("os", c.OS)
	str("processor", processor)
	str("version", version)
	str("os_version", c.OSVersion)
	lit("bits", "64")
	if c.OS == "linux" {
		str("linux_distro", "ubuntu")
	}
	if c.OS == "mac" {
		lit("apple_silicon", "true")
	}
	lit("has_sandbox", "true")
	lit("display", "null")
	lit("automation", "false")
	str("revision", c.Revision)
	lit("python_version", "3")
	str("product", c.Product)
	lit("debug", "false")
	str("browser_version", c.BrowserVersion)
	str("browser_channel", c.Channel)
	lit("verify", "false")
	lit("wasm", "false")
	lit("headless", "true")
	return append(b, '}')
}

// appendResult appends one test's result and returns its duration in ms.
// Everything about a test depends only on the seed and its path, not on
// the shard or the other tests.
func (g *generator) appendResult(b []byte, it *item) ([]byte, int64) {
	e := it.e
	r := rng{s: mix(hashString(it.path) ^ g.seed)}
	nm := newNamer(it.path, e.total, &r)

	b = append(b, `{"test": `...)
	b = appendString(b, it.path, g.ascii)
	b = append(b, `, "subsuite": "", "subtests": [`...)
	st := g.statuses(e, &r)
	for i, s := range st {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, `{"name": `...)
		g.scratch = nm.appendName(g.scratch[:0], i)
		b = appendString(b, g.scratch, g.ascii)
		b = append(b, `, "status": "`...)
		b = append(b, subtestStatusNames[s]...)
		b = append(b, `", "message": `...)
		b = g.appendSubtestMessage(b, s, &r)
		if s != stPass {
			b = append(b, `, "expected": "PASS"`...)
		}
		b = append(b, `, "known_intermittent": []}`...)
	}
	b = append(b, `], "status": "`...)
	b = append(b, e.status...)
	b = append(b, `", "message": `...)
	if e.status == "ERROR" {
		b = appendString(b, errorMessages[r.intn(len(errorMessages))], g.ascii)
	} else {
		b = append(b, "null"...)
	}
	d := duration(e, &r)
	b = append(b, `, "duration": `...)
	b = strconv.AppendInt(b, d, 10)
	if exp := expectedStatus(it.path, e.total); e.status != exp && e.status != "SKIP" {
		b = append(b, `, "expected": "`...)
		b = append(b, exp...)
		b = append(b, '"')
	}
	b = append(b, `, "known_intermittent": []}`...)
	return b, d
}

// expectedStatus is the status wptrunner expects without metadata: OK for
// testharness tests, PASS for reftests and crashtests.
func expectedStatus(path string, subtests int) string {
	if subtests > 0 || strings.Contains(path, ".any.") || strings.Contains(path, ".window.") || strings.Contains(path, ".worker.") {
		return "OK"
	}
	return "PASS"
}

func duration(e *entry, r *rng) int64 {
	switch e.status {
	case "SKIP", "NOTRUN":
		return 0
	case "TIMEOUT":
		return 10_000 + int64(r.intn(400))
	case "CRASH":
		return 200 + int64(r.intn(3000))
	}
	return 15 + int64(math.Exp(r.float()*7)) + int64(e.total/4)
}

func (g *generator) appendSubtestMessage(b []byte, s uint8, r *rng) []byte {
	switch s {
	case stFail:
		g.scratch = appendMessage(g.scratch[:0], failMessages[r.intn(len(failMessages))], r)
		return appendString(b, g.scratch, g.ascii)
	case stTimeout:
		return append(b, `"Test timed out"`...)
	case stPrecondition:
		return appendString(b, pfMessages[r.intn(len(pfMessages))], g.ascii)
	case stError:
		return appendString(b, errorMessages[r.intn(len(errorMessages))], g.ascii)
	}
	return append(b, "null"...)
}

// statuses returns the subtest statuses of e: exactly e.pass PASS among
// e.total. A TIMEOUT test ends in a TIMEOUT subtest followed by NOTRUNs,
// as testharness reports a harness timeout; otherwise failures are either
// one contiguous block (an unsupported feature) or scattered, and mostly
// share one status.
func (g *generator) statuses(e *entry, r *rng) []uint8 {
	n, f := e.total, e.total-e.pass
	if cap(g.st) < n {
		g.st = make([]uint8, n)
	}
	st := g.st[:n]
	clear(st)
	if f == 0 {
		return st
	}
	if e.status == "TIMEOUT" {
		fails := 0
		if f > 1 && r.chance(0.3) {
			fails = r.intn(f)
		}
		tail := f - fails // TIMEOUT, then NOTRUNs
		st[n-tail] = stTimeout
		for i := n - tail + 1; i < n; i++ {
			st[i] = stNotRun
		}
		scatter(st[:n-tail], fails, stFail, r)
		return st
	}
	var dominant uint8
	switch p := r.float(); {
	case p < 0.85:
		dominant = stFail
	case p < 0.90:
		dominant = stPrecondition
	case p < 0.94:
		dominant = stNotRun
	case p < 0.97:
		dominant = stTimeout
	default:
		dominant = stError
	}
	if r.chance(0.5) {
		at := r.intn(n - f + 1)
		for i := at; i < at+f; i++ {
			st[i] = dominant
		}
	} else {
		scatter(st, f, dominant, r)
	}
	mixed := [...]uint8{stFail, stFail, stFail, stTimeout, stNotRun, stPrecondition, stError}
	for i, s := range st {
		if s != stPass && r.chance(0.1) {
			st[i] = mixed[r.intn(len(mixed))]
		}
	}
	return st
}

// scatter sets k uniformly chosen entries of st to s (selection sampling,
// Knuth's Algorithm S).
func scatter(st []uint8, k int, s uint8, r *rng) {
	for i := range st {
		if k == 0 {
			return
		}
		if r.intn(len(st)-i) < k {
			st[i] = s
			k--
		}
	}
}
