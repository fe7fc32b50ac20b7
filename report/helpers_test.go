package report

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// mustRead reads a file of testdata (paths relative to the package).
func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// fileShard is a shard read from a file, named by its base name.
func fileShard(tb testing.TB, path string) Shard {
	tb.Helper()
	return bytesShard(filepath.Base(path), mustRead(tb, path))
}

// stringShards makes plain shards s0, s1, … from strings.
func stringShards(docs ...string) []Shard {
	shards := make([]Shard, len(docs))
	for i, d := range docs {
		shards[i] = bytesShard("s"+string(rune('0'+i)), []byte(d))
	}
	return shards
}

func mustProcess(tb testing.TB, shards []Shard, opts Options) *Result {
	tb.Helper()
	r, err := Process(context.Background(), shards, opts)
	if err != nil {
		tb.Fatalf("Process: %v", err)
	}
	return r
}

func summaryJSON(tb testing.TB, s *Summary) string {
	tb.Helper()
	var buf bytes.Buffer
	if err := s.WriteJSON(&buf); err != nil {
		tb.Fatal(err)
	}
	return buf.String()
}

// asError returns err as *Error or fails.
func asError(tb testing.TB, err error) *Error {
	tb.Helper()
	var e *Error
	if !errors.As(err, &e) {
		tb.Fatalf("got error %v (%T), want *Error", err, err)
	}
	return e
}

// recorder collects Options.Test calls.
type recorder struct {
	mu    sync.Mutex
	calls []call
	last  map[string][]byte
}

type call struct {
	path string
	raw  string
}

func (r *recorder) test(path string, raw []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		r.last = map[string][]byte{}
	}
	r.calls = append(r.calls, call{path, string(raw)})
	r.last[path] = bytes.Clone(raw) // raw is reused after the call
	return nil
}

// meta is run_info with complete metadata, for reports that only test
// something else.
const meta = `"run_info": {"product": "chrome", "browser_version": "133.0", "os": "linux", "revision": "0bdaaf9c1622ca49eb140381af1ece6d8001c934"}`

// failingReader returns data then err.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func (f *failingReader) Close() error { return nil }

var _ io.ReadCloser = (*failingReader)(nil)
