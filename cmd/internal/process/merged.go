package process

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/wptfeed/wptfeed/report"
)

// The merged report is the run's wptreport as wpt.fyi's results processor
// stores it for raw_results_url (results-processor/wptreport.py,
// serialize_gzip): {"results": every shard's results in shard order,
// "run_info": the merged run_info, "time_start": the minimum, "time_end":
// the maximum}. It is spooled while the shards are read, never held whole:
// each shard's results, as report.Options.Result passes them, fill blocks
// of about mergedBlockSize bytes, which mergedWorkers goroutines compress,
// each block to a gzip member of its own, into a temp file in whatever
// order they finish. Once the run is known to be valid, the members are
// read back in shard and block order between a member holding the opening
// `{"results":[` and one holding the rest of the object: concatenated gzip
// members are one gzip stream (RFC 1952, 2.2), which Go's, Python's and
// browsers' readers, and GCS's decompressive transcoding, read whole.

const (
	// mergedBlockSize is the uncompressed size of one gzip member. Deflate
	// looks back 32 KiB, so a new member every 512 KiB costs little ratio.
	mergedBlockSize = 512 << 10
	// mergedLevel is the compression level (klauspost/compress's gzip,
	// about 3.5 times as fast as compress/gzip at level 6 and 1.1 times
	// the size on wptreport JSON; bench/process.sh measures both).
	mergedLevel = 2
)

// mergedReport spools the merged report of one run. Add is called from the
// shards' goroutines; the rest from the caller's.
type mergedReport struct {
	f       *os.File
	shards  []mergedShard // shard i is touched by its own goroutine only, until flush
	jobs    chan mergedJob
	workers sync.WaitGroup
	closed  bool

	mu     sync.Mutex // guards off, blocks and err
	off    int64
	blocks []mergedBlock
	err    error
}

type mergedShard struct {
	buf []byte // the block being filled
	seq int    // blocks of the shard sent so far
	n   int    // results of the shard so far
}

type mergedJob struct {
	shard, seq int
	buf        []byte
}

// mergedBlock is a gzip member in the spool file.
type mergedBlock struct {
	shard, seq int
	off, n     int64
}

var mergedBufs = sync.Pool{New: func() any { return new([]byte) }}

// newMergedReport starts the spool of a run of n shards in a temp file in
// dir ("" = os.TempDir).
func newMergedReport(dir string, n int) (*mergedReport, error) {
	f, err := os.CreateTemp(dir, "wptfeed-report-*")
	if err != nil {
		return nil, fmt.Errorf("process: merged report spool: %w", err)
	}
	os.Remove(f.Name()) // gone when closed, even after a crash
	w := runtime.GOMAXPROCS(0)
	m := &mergedReport{f: f, shards: make([]mergedShard, n), jobs: make(chan mergedJob, w)}
	for range w {
		m.workers.Add(1)
		go m.work()
	}
	return m, nil
}

// Add appends one result of a shard (report.Options.Result).
func (m *mergedReport) Add(shard int, raw []byte) error {
	s := &m.shards[shard]
	if s.buf == nil {
		s.buf = (*mergedBufs.Get().(*[]byte))[:0]
	}
	if s.n > 0 {
		s.buf = append(s.buf, ',')
	}
	s.buf = append(s.buf, raw...)
	s.n++
	if len(s.buf) >= mergedBlockSize {
		return m.send(shard)
	}
	return nil
}

// send hands shard's block to the compressors.
func (m *mergedReport) send(shard int) error {
	if err := m.failed(); err != nil {
		return err
	}
	s := &m.shards[shard]
	m.jobs <- mergedJob{shard: shard, seq: s.seq, buf: s.buf}
	s.buf = nil
	s.seq++
	return nil
}

func (m *mergedReport) failed() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// work compresses blocks into the spool file.
func (m *mergedReport) work() {
	defer m.workers.Done()
	zw, _ := gzip.NewWriterLevel(nil, mergedLevel)
	var out bytes.Buffer
	for j := range m.jobs {
		out.Reset()
		zw.Reset(&out)
		zw.Write(j.buf) // a bytes.Buffer does not fail
		zw.Close()
		buf := j.buf[:0]
		mergedBufs.Put(&buf)

		m.mu.Lock()
		if m.err != nil {
			m.mu.Unlock()
			continue
		}
		off := m.off
		m.off += int64(out.Len())
		m.mu.Unlock()
		_, err := m.f.WriteAt(out.Bytes(), off)
		m.mu.Lock()
		if err != nil && m.err == nil {
			m.err = fmt.Errorf("process: merged report spool: %w", err)
		}
		m.blocks = append(m.blocks, mergedBlock{shard: j.shard, seq: j.seq, off: off, n: int64(out.Len())})
		m.mu.Unlock()
	}
}

// finish sends the last blocks, waits for the compressors and returns the
// spool's first error. Call it once report.Process has returned.
func (m *mergedReport) finish() error {
	for i := range m.shards {
		if len(m.shards[i].buf) > 0 {
			if err := m.send(i); err != nil {
				break
			}
		}
	}
	m.stop()
	if err := m.failed(); err != nil {
		return err
	}
	slices.SortFunc(m.blocks, func(a, b mergedBlock) int {
		return cmp.Or(cmp.Compare(a.shard, b.shard), cmp.Compare(a.seq, b.seq))
	})
	return nil
}

func (m *mergedReport) stop() {
	if !m.closed {
		m.closed = true
		close(m.jobs)
		m.workers.Wait()
	}
}

// Close stops the compressors and removes the spool.
func (m *mergedReport) Close() error {
	m.stop()
	return m.f.Close()
}

// reader returns the merged report of res, gzip, after finish: a member for
// the head, the shards' members in order (a member holding "," between two
// shards that have results) and a member for the tail. Each call reads it
// from the start.
func (m *mergedReport) reader(res *report.Result) (io.Reader, error) {
	tail, err := mergedTail(res)
	if err != nil {
		return nil, err
	}
	rs := []io.Reader{bytes.NewReader(gzipMember([]byte(`{"results":[`)))}
	comma := gzipMember([]byte(","))
	seen := false
	last := -1
	for _, b := range m.blocks {
		if b.shard != last {
			last = b.shard
			if seen {
				rs = append(rs, bytes.NewReader(comma))
			}
			seen = true
		}
		rs = append(rs, io.NewSectionReader(m.f, b.off, b.n))
	}
	rs = append(rs, bytes.NewReader(gzipMember(tail)))
	return io.MultiReader(rs...), nil
}

// gzipMember compresses p into a gzip member of its own.
func gzipMember(p []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, mergedLevel)
	zw.Write(p)
	zw.Close()
	return buf.Bytes()
}

// mergedTail is the end of the merged report, after the results:
// `],"run_info":{…},"time_start":…,"time_end":…}`, the times in
// milliseconds since the epoch as in a wptreport, left out when no shard
// has them. A number in run_info too large for a float64 (kept as ±Inf by
// the report package, which Python writes as Infinity, not JSON) is null.
func mergedTail(res *report.Result) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(`],"run_info":`)
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(finite(res.RunInfo)); err != nil {
		return nil, fmt.Errorf("process: merged report: run_info: %w", err)
	}
	buf.Truncate(buf.Len() - 1) // Encode's newline
	for _, f := range []struct {
		key string
		t   time.Time
	}{{"time_start", res.TimeStart}, {"time_end", res.TimeEnd}} {
		if f.t.IsZero() {
			continue
		}
		fmt.Fprintf(&buf, `,%q:%s`, f.key, msString(f.t))
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// msString writes t as milliseconds since the epoch: an integer when it is
// a whole millisecond, as wptreport times are.
func msString(t time.Time) string {
	ms := t.UnixMilli()
	frac := t.Sub(time.UnixMilli(ms))
	if frac == 0 {
		return strconv.FormatInt(ms, 10)
	}
	return strconv.FormatFloat(float64(ms)+float64(frac)/float64(time.Millisecond), 'f', -1, 64)
}

// finite replaces the non-finite numbers of a decoded JSON value by nil.
func finite(v any) any {
	switch v := v.(type) {
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil
		}
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = finite(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = finite(x)
		}
		return out
	}
	return v
}
