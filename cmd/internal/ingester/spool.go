package ingester

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"sync"
)

// spool holds the gzip-compressed per-test files of a run in a temp file
// until the run is known to be valid and its product id (which hashes every
// byte of the report) is known. Nothing of a rejected run reaches the bucket.
type spool struct {
	mu    sync.Mutex
	f     *os.File
	off   int64
	index map[string]span // last copy of each path wins
	order []string        // paths in first-seen order
}

type span struct{ off, n int64 }

var gzipPool = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

func newSpool(dir string) (*spool, error) {
	f, err := os.CreateTemp(dir, "wptfeed-spool-*")
	if err != nil {
		return nil, fmt.Errorf("ingest: per-test spool: %w", err)
	}
	os.Remove(f.Name()) // gone when closed, even after a crash
	return &spool{f: f, index: map[string]span{}}, nil
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
		return fmt.Errorf("ingest: per-test spool: %w", err)
	}
	if _, ok := s.index[path]; !ok {
		s.order = append(s.order, path)
	}
	s.index[path] = span{s.off, int64(n)}
	s.off += int64(n)
	return nil
}

// Read returns the stored bytes of path.
func (s *spool) Read(path string) ([]byte, error) {
	s.mu.Lock()
	sp := s.index[path]
	s.mu.Unlock()
	p := make([]byte, sp.n)
	if _, err := s.f.ReadAt(p, sp.off); err != nil {
		return nil, fmt.Errorf("ingest: per-test spool: %w", err)
	}
	return p, nil
}

func (s *spool) Close() error { return s.f.Close() }
