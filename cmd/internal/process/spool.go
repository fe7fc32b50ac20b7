package process

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/wptfeed/wptfeed/cmd/internal/pack"
)

// spool holds the gzip-compressed per-test files of a run in a temp file
// until the run is known to be valid and its product id (which hashes every
// byte of the report) is known. Nothing of a rejected run reaches the bucket.
type spool struct {
	mu   sync.Mutex
	f    *os.File
	off  int64
	recs []fileRec // in the order added; a path added again replaces its earlier copy
}

// fileRec is one per-test file in the spool: 32 bytes a test (the path
// string is the one the report package keeps), where a map would cost three
// times as much.
type fileRec struct {
	path string
	off  int64
	n    int64
}

var gzipPool = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

func newSpool(dir string) (*spool, error) {
	f, err := os.CreateTemp(dir, "wptfeed-spool-*")
	if err != nil {
		return nil, fmt.Errorf("process: per-test spool: %w", err)
	}
	os.Remove(f.Name()) // gone when closed, even after a crash
	return &spool{f: f}, nil
}

// Add compresses raw and appends it; safe for concurrent use.
func (s *spool) Add(path string, raw []byte) error {
	var buf bytes.Buffer
	zw := gzipPool.Get().(*gzip.Writer)
	zw.Reset(&buf)
	zw.Write(raw)
	zw.Close()
	gzipPool.Put(zw)

	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.f.WriteAt(buf.Bytes(), s.off)
	if err != nil {
		return fmt.Errorf("process: per-test spool: %w", err)
	}
	s.recs = append(s.recs, fileRec{path: path, off: s.off, n: int64(n)})
	s.off += int64(n)
	return nil
}

// files returns the spooled files, one per path (the last copy added), in
// the order their paths were first added. tests is the run's number of
// distinct tests: when every path was added once, as in nearly every run,
// the records are returned as they are, without an index.
func (s *spool) files(tests int) []fileRec {
	if len(s.recs) == tests {
		return s.recs
	}
	last := make(map[string]int, tests)
	for i, r := range s.recs {
		last[r.path] = i
	}
	out := make([]fileRec, 0, len(last))
	for i, r := range s.recs {
		if j, ok := last[r.path]; ok {
			if j != i {
				r = s.recs[j]
			}
			out = append(out, r)
			delete(last, r.path)
		}
	}
	return out
}

// byPath sorts spooled files by path, as the packed layout's index has them.
func byPath(recs []fileRec) {
	slices.SortFunc(recs, func(a, b fileRec) int { return strings.Compare(a.path, b.path) })
}

// read returns the stored bytes of r, in buf if it is large enough.
func (s *spool) read(r fileRec, buf []byte) ([]byte, error) {
	if int64(cap(buf)) < r.n {
		buf = make([]byte, r.n)
	}
	buf = buf[:r.n]
	if _, err := s.f.ReadAt(buf, r.off); err != nil {
		return nil, fmt.Errorf("process: per-test spool: %w", err)
	}
	return buf, nil
}

func (s *spool) Close() error { return s.f.Close() }

// source is the Source of pack.Write over recs, which it sorts by path.
func (s *spool) source(recs []fileRec) pack.Source {
	byPath(recs)
	return fileSource{s, recs}
}

type fileSource struct {
	sp   *spool
	recs []fileRec
}

func (s fileSource) Len() int                               { return len(s.recs) }
func (s fileSource) Path(i int) string                      { return s.recs[i].path }
func (s fileSource) Read(i int, buf []byte) ([]byte, error) { return s.sp.read(s.recs[i], buf) }
