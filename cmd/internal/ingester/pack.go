package ingester

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/wptfeed/wptfeed/store"
)

// Per-test layouts (--per-test-layout).
const (
	// LayoutFiles is wpt.fyi's: one object per test, <sha>/<product id>/<test path>.
	LayoutFiles = "files"
	// LayoutPacked puts the same per-test files, byte for byte, in one
	// object, <sha>/<product id>-tests.gz, sorted by test path, with an
	// index, <sha>/<product id>-tests-index.json.gz. Two objects instead of
	// tens of thousands: for local disks and buckets that charge per write.
	LayoutPacked = "packed"
)

// WarnPerTestPacked is the code of the status-record warning for a run
// whose per-test files went to the packed layout because the files layout
// could not hold them (see fileDirConflict).
const WarnPerTestPacked = "per_test_packed"

// fileDirConflict returns two tests whose per-test keys need a file and a
// directory of the same name (b's key is under a's), or "", "". Escaping
// makes that impossible for a query or fragment ("/a.html?x" and
// "/a.html?x/y"); it remains for paths like "/a" and "/a/b.html", which a
// wpt checkout cannot hold but a report can. It sorts recs by path and
// looks each key's directories up there: no index of its own, as it runs
// for every run written to a local directory.
func fileDirConflict(recs []spoolRec) (a, b string) {
	byPath(recs)
	for _, r := range recs {
		k := store.EscapeTestPath(r.path)
		for i := len(k) - 1; i > 0; i-- {
			if k[i] != '/' {
				continue
			}
			q, err := store.UnescapeTestPath(k[:i])
			if err != nil {
				continue
			}
			_, found := slices.BinarySearchFunc(recs, q, func(r spoolRec, q string) int { return strings.Compare(r.path, q) })
			if found && store.EscapeTestPath(q) == k[:i] {
				return q, r.path
			}
		}
	}
	return "", ""
}

// checkLayout returns an error naming the flag for an unknown layout.
func checkLayout(l string) error {
	if l == LayoutFiles || l == LayoutPacked {
		return nil
	}
	return fmt.Errorf("--per-test-layout %q: want %q or %q", l, LayoutFiles, LayoutPacked)
}

// packIndex is the packed layout's index, as stored (gzip JSON):
//
//	{"version": 1, "pack": "<product id>-tests.gz", "tests": [
//	["/a.html", 0, 312],
//	["/b.html", 312, 280],
//	...
//	]}
//
// Each test is [path, offset, length] of its per-test file (one gzip
// member) in the pack, sorted by path (byte order), so a directory's tests
// are one contiguous range of the pack.
type packIndex struct {
	Version int         `json:"version"` // packIndexVersion
	Pack    string      `json:"pack"`    // the pack's name, in the index's "directory"
	Tests   []packEntry `json:"tests"`
}

// packIndexVersion is the version of the index format; a reader refuses
// others.
const packIndexVersion = 1

type packEntry struct {
	Path string
	Off  int64
	Len  int64
}

func (e *packEntry) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if len(raw) != 3 {
		return fmt.Errorf("index entry %s: want [path, offset, length]", b)
	}
	if err := json.Unmarshal(raw[0], &e.Path); err != nil {
		return err
	}
	if err := json.Unmarshal(raw[1], &e.Off); err != nil {
		return err
	}
	if err := json.Unmarshal(raw[2], &e.Len); err != nil {
		return err
	}
	if e.Off < 0 || e.Len <= 0 {
		return fmt.Errorf("index entry %s: bad offset or length", b)
	}
	return nil
}

// writePack writes the spooled per-test files as the packed layout: the
// pack, then its index (the index names only bytes already written). It
// sorts recs.
func (p *Processor) writePack(ctx context.Context, sp *spool, recs []spoolRec, sha, pid string) error {
	byPath(recs)
	packKey := store.TestPackKey(sha, pid)
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 1<<20)
		var buf []byte
		for _, r := range recs {
			var err error
			if buf, err = sp.read(r, buf); err == nil {
				_, err = bw.Write(buf)
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(bw.Flush())
	}()
	err := p.Out.Write(ctx, packKey, pr, store.WriteOptions{ContentType: "application/gzip"})
	pr.CloseWithError(errors.New("write ended")) // unblocks the goroutine after a failed write
	if err != nil {
		return fmt.Errorf("ingest: per-test pack: %w", err)
	}
	// The index, written as a stream: it is the size of the summary.
	var zbuf bytes.Buffer
	zw := gzip.NewWriter(&zbuf)
	bw := bufio.NewWriterSize(zw, 64<<10)
	name, _ := json.Marshal(packKey[strings.LastIndexByte(packKey, '/')+1:])
	fmt.Fprintf(bw, "{\"version\": %d, \"pack\": %s, \"tests\": [", packIndexVersion, name)
	var off int64
	var line []byte
	for i, r := range recs {
		line = line[:0]
		if i > 0 {
			line = append(line, ',')
		}
		line = append(line, "\n["...)
		line, _ = jsontext.AppendQuote(line, r.path) // paths are valid UTF-8 (checked by report)
		line = append(line, ", "...)
		line = strconv.AppendInt(line, off, 10)
		line = append(line, ", "...)
		line = strconv.AppendInt(line, r.n, 10)
		line = append(line, ']')
		bw.Write(line)
		off += r.n
	}
	bw.WriteString("\n]}\n")
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return p.Out.WriteBytes(ctx, store.TestPackIndexKey(sha, pid), zbuf.Bytes(), store.WriteOptions{ContentType: "application/gzip"})
}

// packReader finds per-test files in packed runs, caching a few indexes.
type packReader struct {
	b       *store.Bucket
	maxSize int64 // of an index, decompressed

	mu    sync.Mutex
	cache []cachedIndex // most recently used last
}

type cachedIndex struct {
	key string
	idx *packIndex
}

const packIndexCache = 8

// index returns the index of a packed run.
func (pr *packReader) index(ctx context.Context, sha, pid string) (*packIndex, error) {
	key := store.TestPackIndexKey(sha, pid)
	pr.mu.Lock()
	for i, c := range pr.cache {
		if c.key == key {
			pr.cache = append(append(pr.cache[:i:i], pr.cache[i+1:]...), c)
			pr.mu.Unlock()
			return c.idx, nil
		}
	}
	pr.mu.Unlock()
	rc, err := pr.b.NewReader(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	idx, err := decodePackIndex(rc, pr.maxSize)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %s: %w", key, err)
	}
	pr.mu.Lock()
	pr.cache = append(pr.cache, cachedIndex{key, idx})
	if len(pr.cache) > packIndexCache {
		pr.cache = slices.Delete(pr.cache, 0, 1)
	}
	pr.mu.Unlock()
	return idx, nil
}

// decodePackIndex reads a packed layout's index (gzip JSON) of at most
// maxSize bytes decompressed. It returns an error for anything but a
// well-formed index of this version: bad gzip or JSON, another version,
// an entry that is not [path, offset >= 0, length > 0], or tests not
// strictly sorted by path.
func decodePackIndex(r io.Reader, maxSize int64) (*packIndex, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	var idx packIndex
	if err := json.NewDecoder(io.LimitReader(zr, maxSize)).Decode(&idx); err != nil {
		return nil, err
	}
	if idx.Version != packIndexVersion {
		return nil, fmt.Errorf("index version %d, want %d", idx.Version, packIndexVersion)
	}
	for i := 1; i < len(idx.Tests); i++ {
		if idx.Tests[i-1].Path >= idx.Tests[i].Path {
			return nil, fmt.Errorf("tests not sorted by path, or repeated: %q before %q", idx.Tests[i-1].Path, idx.Tests[i].Path)
		}
	}
	return &idx, nil
}

// open returns a reader of a test's per-test file (gzip) in a packed run,
// or an error satisfying store.IsNotFound if the run has no such test.
func (pr *packReader) open(ctx context.Context, sha, pid, test string) (io.ReadCloser, error) {
	idx, err := pr.index(ctx, sha, pid)
	if err != nil {
		return nil, err
	}
	i, ok := slices.BinarySearchFunc(idx.Tests, test, func(e packEntry, t string) int { return strings.Compare(e.Path, t) })
	if !ok {
		return nil, fmt.Errorf("test %s not in %s: %w", test, store.TestPackIndexKey(sha, pid), store.ErrNotFound)
	}
	e := idx.Tests[i]
	return pr.b.NewRangeReader(ctx, store.TestPackKey(sha, pid), e.Off, e.Len)
}
