package pack

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

// Index is the packed layout's index, as stored (gzip JSON):
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
type Index struct {
	Version int     `json:"version"` // IndexVersion
	Pack    string  `json:"pack"`    // the pack's name, in the index's "directory"
	Tests   []Entry `json:"tests"`
}

// IndexVersion is the version of the index format; a reader refuses
// others.
const IndexVersion = 1

// Entry is one test of an Index.
type Entry struct {
	Path string
	Off  int64
	Len  int64
}

// UnmarshalJSON reads an entry written as [path, offset, length], with
// offset >= 0 and length > 0.
func (e *Entry) UnmarshalJSON(b []byte) error {
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

// Source is the per-test files Write packs, in order of their paths.
type Source interface {
	// Len is the number of files.
	Len() int
	// Path is the test path of file i.
	Path(i int) string
	// Read returns the bytes of file i (a gzip member), in buf if it is
	// large enough.
	Read(i int, buf []byte) ([]byte, error)
}

// Write writes the files of src as the packed layout of the run with
// product id pid at revision sha: the pack, then its index (the index names
// only bytes already written). The files' paths must be strictly sorted
// (byte order); Write returns an error naming the first that is not. It
// returns the store's errors, wrapped.
func Write(ctx context.Context, b *store.Bucket, sha, pid string, src Source) error {
	n := src.Len()
	for i := 1; i < n; i++ {
		if src.Path(i-1) >= src.Path(i) {
			return fmt.Errorf("pack: tests not sorted by path, or repeated: %q before %q", src.Path(i-1), src.Path(i))
		}
	}
	key := store.TestPackKey(sha, pid)
	sizes := make([]int64, n)
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 1<<20)
		var buf []byte
		for i := range n {
			var err error
			if buf, err = src.Read(i, buf); err == nil {
				sizes[i] = int64(len(buf))
				_, err = bw.Write(buf)
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(bw.Flush())
	}()
	// The pack is stored as application/gzip with no Content-Encoding:
	// readers address its gzip members by offset in the stored bytes, and
	// GCS would transcode a gzip-encoded object for a client that does not
	// accept gzip, ignoring Range. The index is gzip JSON, read whole: it is
	// stored like the summaries, Content-Encoding gzip.
	err := b.Write(ctx, key, pr, store.WriteOptions{ContentType: "application/gzip"})
	pr.CloseWithError(errors.New("write ended")) // unblocks the goroutine after a failed write
	if err != nil {
		return fmt.Errorf("pack: write %s: %w", key, err)
	}
	// The index, written as a stream: it is the size of the summary. A
	// successful Write read every file, so sizes is complete.
	var zbuf bytes.Buffer
	zw := gzip.NewWriter(&zbuf)
	bw := bufio.NewWriterSize(zw, 64<<10)
	name, _ := json.Marshal(key[strings.LastIndexByte(key, '/')+1:])
	fmt.Fprintf(bw, "{\"version\": %d, \"pack\": %s, \"tests\": [", IndexVersion, name)
	var off int64
	var line []byte
	for i := range n {
		line = line[:0]
		if i > 0 {
			line = append(line, ',')
		}
		line = append(line, "\n["...)
		line, _ = jsontext.AppendQuote(line, src.Path(i)) // paths are valid UTF-8 (checked by report)
		line = append(line, ", "...)
		line = strconv.AppendInt(line, off, 10)
		line = append(line, ", "...)
		line = strconv.AppendInt(line, sizes[i], 10)
		line = append(line, ']')
		bw.Write(line) // errors are kept by bw and returned by Flush
		off += sizes[i]
	}
	bw.WriteString("\n]}\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("pack: index: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("pack: index: %w", err)
	}
	ikey := store.TestPackIndexKey(sha, pid)
	if err := b.WriteBytes(ctx, ikey, zbuf.Bytes(), store.WriteOptions{ContentType: "application/json", ContentEncoding: "gzip"}); err != nil {
		return fmt.Errorf("pack: write %s: %w", ikey, err)
	}
	return nil
}

// DecodeIndex reads a packed layout's index (gzip JSON) of at most maxSize
// bytes decompressed. It returns an error for anything but a well-formed
// index of this version: bad gzip or JSON, another version, an entry that
// is not [path, offset >= 0, length > 0], or tests not strictly sorted by
// path.
func DecodeIndex(r io.Reader, maxSize int64) (*Index, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	var idx Index
	if err := json.NewDecoder(io.LimitReader(zr, maxSize)).Decode(&idx); err != nil {
		return nil, err
	}
	if idx.Version != IndexVersion {
		return nil, fmt.Errorf("index version %d, want %d", idx.Version, IndexVersion)
	}
	for i := 1; i < len(idx.Tests); i++ {
		if idx.Tests[i-1].Path >= idx.Tests[i].Path {
			return nil, fmt.Errorf("tests not sorted by path, or repeated: %q before %q", idx.Tests[i-1].Path, idx.Tests[i].Path)
		}
	}
	return &idx, nil
}

// Reader finds per-test files in packed runs, caching a few indexes. It is
// safe for concurrent use.
type Reader struct {
	b       *store.Bucket
	maxSize int64 // of an index, decompressed

	mu    sync.Mutex
	cache []cachedIndex // most recently used last
}

type cachedIndex struct {
	key string
	idx *Index
}

// indexCache is how many indexes a Reader keeps.
const indexCache = 8

// NewReader returns a Reader of the packs in b whose indexes are at most
// maxIndex bytes decompressed.
func NewReader(b *store.Bucket, maxIndex int64) *Reader {
	return &Reader{b: b, maxSize: maxIndex}
}

// index returns the index of a packed run.
func (pr *Reader) index(ctx context.Context, sha, pid string) (*Index, error) {
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
	idx, err := DecodeIndex(rc, pr.maxSize)
	if err != nil {
		return nil, fmt.Errorf("pack: %s: %w", key, err)
	}
	pr.mu.Lock()
	pr.cache = append(pr.cache, cachedIndex{key, idx})
	if len(pr.cache) > indexCache {
		pr.cache = slices.Delete(pr.cache, 0, 1)
	}
	pr.mu.Unlock()
	return idx, nil
}

// Open returns a reader of a test's per-test file (gzip) in a packed run,
// or an error satisfying store.IsNotFound if the run has no pack or the
// pack no such test.
func (pr *Reader) Open(ctx context.Context, sha, pid, test string) (io.ReadCloser, error) {
	idx, err := pr.index(ctx, sha, pid)
	if err != nil {
		return nil, err
	}
	i, ok := slices.BinarySearchFunc(idx.Tests, test, func(e Entry, t string) int { return strings.Compare(e.Path, t) })
	if !ok {
		return nil, fmt.Errorf("test %s not in %s: %w", test, store.TestPackIndexKey(sha, pid), store.ErrNotFound)
	}
	e := idx.Tests[i]
	return pr.b.NewRangeReader(ctx, store.TestPackKey(sha, pid), e.Off, e.Len)
}
