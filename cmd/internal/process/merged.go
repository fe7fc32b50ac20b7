package process

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/klauspost/compress/flate"

	"github.com/wptfeed/wptfeed/report"
)

// The merged report is the run's wptreport as wpt.fyi's results processor
// stores it for raw_results_url (results-processor/wptreport.py,
// serialize_gzip): {"results": every shard's results in shard order,
// "run_info": the merged run_info, "time_start": the minimum, "time_end":
// the maximum}, gzip. It is spooled while the shards are read, never held
// whole: each shard's results, as report.Options.Result passes them, fill
// blocks of about mergedBlockSize bytes, which GOMAXPROCS goroutines
// compress, as pigz does, each to raw deflate ended by a sync flush
// (byte-aligned, not final), into a temp file in whatever order they
// finish, noting the CRC-32 of its bytes. Once the run is known to be
// valid, they are read back in shard and block order after a gzip header
// and `{"results":[`, and followed by the rest of the object in a final
// deflate block and the gzip trailer, whose CRC-32 combines the blocks'.
// That is one gzip member (RFC 1952), which every reader reads whole
// (browsers and some HTTP clients read only the first of several members).

const (
	// mergedBlockSize is the uncompressed size of one block. Deflate looks
	// back 32 KiB, so starting afresh every 512 KiB costs little ratio.
	mergedBlockSize = 512 << 10
	// mergedLevel is the compression level of klauspost/compress's flate:
	// about 6 times as fast as compress/flate at level 6, for 1.15 times
	// the size on wptreport JSON (bench/process.sh measures the ratio).
	mergedLevel = 1
)

// mergedReport spools the merged report of one run. Add is called from the
// shards' goroutines; the rest from the caller's.
type mergedReport struct {
	f       *os.File
	shards  []mergedShard // shard i is touched by its own goroutine only, until finish
	jobs    chan mergedJob
	free    chan []byte // emptied blocks, reused rather than left to the GC
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

// mergedBlock is a block's deflate data in the spool file.
type mergedBlock struct {
	shard, seq int
	off, n     int64
	crc        uint32 // of the uncompressed bytes
	size       int64  // uncompressed
}

// newMergedReport starts the spool of a run of n shards in a temp file in
// dir ("" = os.TempDir).
func newMergedReport(dir string, n int) (*mergedReport, error) {
	f, err := os.CreateTemp(dir, "wptfeed-report-*")
	if err != nil {
		return nil, fmt.Errorf("process: merged report spool: %w", err)
	}
	os.Remove(f.Name()) // gone when closed, even after a crash
	w := runtime.GOMAXPROCS(0)
	m := &mergedReport{f: f, shards: make([]mergedShard, n), jobs: make(chan mergedJob, w), free: make(chan []byte, n+2*w+1)}
	for range w {
		m.workers.Add(1)
		go m.work()
	}
	return m, nil
}

// Add appends one result of a shard (report.Options.Result); nil ends the
// shard.
func (m *mergedReport) Add(shard int, raw []byte) error {
	s := &m.shards[shard]
	if raw == nil {
		if len(s.buf) > 0 {
			return m.send(shard)
		}
		return nil
	}
	if s.buf == nil {
		select {
		case s.buf = <-m.free:
		default:
			s.buf = make([]byte, 0, mergedBlockSize+mergedBlockSize/8)
		}
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
	fw, _ := flate.NewWriter(nil, mergedLevel)
	var out bytes.Buffer
	for j := range m.jobs {
		out.Reset()
		fw.Reset(&out)
		fw.Write(j.buf) // a bytes.Buffer does not fail
		fw.Flush()
		crc, size := crc32.ChecksumIEEE(j.buf), int64(len(j.buf))
		select {
		case m.free <- j.buf[:0]:
		default:
		}

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
		m.blocks = append(m.blocks, mergedBlock{shard: j.shard, seq: j.seq, off: off, n: int64(out.Len()), crc: crc, size: size})
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

// reader returns the merged report of res, gzip, after finish: the gzip
// header and `{"results":[`, the shards' blocks in order (with "," between
// two shards that have results), the rest of the object in the final
// deflate block, and the gzip trailer. Each call reads it from the start.
func (m *mergedReport) reader(res *report.Result) (io.Reader, error) {
	tail, err := mergedTail(res)
	if err != nil {
		return nil, err
	}
	var crc uint32
	var size int64
	add := func(c uint32, n int64) {
		crc = crc32Combine(crc, c, n)
		size += n
	}
	head := []byte(`{"results":[`)
	add(crc32.ChecksumIEEE(head), int64(len(head)))
	// RFC 1952, 2.3: ID1 ID2 CM=8 (deflate) FLG=0 MTIME=0 XFL=0 OS=255.
	rs := []io.Reader{bytes.NewReader(append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}, deflateBlock(head, false)...))}
	comma := deflateBlock([]byte(","), false)
	commaCRC := crc32.ChecksumIEEE([]byte(","))
	seen := false
	last := -1
	for _, b := range m.blocks {
		if b.shard != last {
			last = b.shard
			if seen {
				rs = append(rs, bytes.NewReader(comma))
				add(commaCRC, 1)
			}
			seen = true
		}
		rs = append(rs, io.NewSectionReader(m.f, b.off, b.n))
		add(b.crc, b.size)
	}
	add(crc32.ChecksumIEEE(tail), int64(len(tail)))
	end := deflateBlock(tail, true)
	end = binary.LittleEndian.AppendUint32(end, crc)
	end = binary.LittleEndian.AppendUint32(end, uint32(size)) // ISIZE: the size modulo 2^32
	rs = append(rs, bytes.NewReader(end))
	return io.MultiReader(rs...), nil
}

// deflateBlock compresses p to raw deflate: ended by a sync flush (not
// final), or final.
func deflateBlock(p []byte, final bool) []byte {
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, mergedLevel)
	fw.Write(p)
	if final {
		fw.Close()
	} else {
		fw.Flush()
	}
	return buf.Bytes()
}

// crc32Combine returns the CRC-32 (IEEE) of a+b from crc1 of a, crc2 of b
// and len(b) (the method of zlib's crc32_combine): crc1 shifted over
// len2 zero bytes, that is multiplied by x^(8*len2) modulo the CRC
// polynomial, plus crc2.
func crc32Combine(crc1, crc2 uint32, len2 int64) uint32 {
	p := uint32(1) << 31   // x^0, in hash/crc32's reflected bit order
	x2k := uint32(1) << 30 // x^1, then x^2, x^4, …
	for n := uint64(len2) << 3; n != 0; n >>= 1 {
		if n&1 != 0 {
			p = gf2Mul(x2k, p)
		}
		x2k = gf2Mul(x2k, x2k)
	}
	return gf2Mul(p, crc1) ^ crc2
}

// gf2Mul multiplies two polynomials modulo the CRC-32 polynomial, both in
// reflected bit order (bit 31 is x^0).
func gf2Mul(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
		}
		if b&1 != 0 {
			b = b>>1 ^ crc32.IEEE
		} else {
			b >>= 1
		}
	}
	return p
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
