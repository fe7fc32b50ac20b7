package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/gcsblob"
)

// Bucket is an opened bucket. It is safe for concurrent use.
type Bucket struct {
	b   *blob.Bucket
	url string
	// dir is the bucket's root directory for file buckets, "" otherwise. With
	// it, write-once writes are made atomic between processes (fileblob's own
	// IfNotExist is check-then-rename).
	dir  string
	dirs sync.Map // directories of a file bucket known to exist

	// readOpts and readCtx make every read return the stored bytes (see
	// openRange): set for GCS (readCompressed) and Azure (azureReadContext);
	// nil for the other drivers, which always do.
	readOpts *blob.ReaderOptions
	readCtx  func(context.Context) context.Context

	faults func(op, key string) error // of WithFaults; nil: none
}

// Option changes how Open opens a bucket.
type Option func(*options)

type options struct {
	faults func(op, key string) error
}

// WithFaults makes the bucket's storage operations first call f with the
// operation and key: "stat" (Attributes, Exists), "read" (NewReader,
// NewRangeReader, ReadAll), "write" (Write), "delete" (Delete) or "list"
// (List, with the prefix as key); the methods built on them ask f too.
// When f returns an error the operation fails with it, wrapped in
// *TemporaryError, so it is retried, and f asked again, as in a real
// outage. It is for fault tests: a storage service that fails some of its
// requests. f is called from every goroutine using the bucket; to turn
// faults on and off during a test, let f read a variable of the test (an
// atomic.Bool, say). A nil f injects nothing.
func WithFaults(f func(op, key string) error) Option {
	return func(o *options) { o.faults = f }
}

func (b *Bucket) fault(op, key string) error {
	if b.faults == nil {
		return nil
	}
	if err := b.faults(op, key); err != nil {
		return &TemporaryError{Err: fmt.Errorf("store: %s %q: %w", op, key, err)}
	}
	return nil
}

// Open opens the bucket at rawURL: a gocloud URL (file:///abs/dir, mem://,
// s3://…, gs://…, azblob://…) or a plain directory path, which is created if
// needed. File buckets store no attribute sidecar files (metadata=skip): no
// Content-Type or Content-Encoding is kept there, and a file server must
// derive them from keys. opts are applied in order. Open
// returns an error wrapping ErrInvalid for an empty or malformed URL.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Bucket, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	b, err := open(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	b.faults = o.faults
	return b, nil
}

func open(ctx context.Context, rawURL string) (*Bucket, error) {
	if rawURL == "" {
		return nil, fmt.Errorf("store: open: empty bucket URL: %w", ErrInvalid)
	}
	if !strings.Contains(rawURL, "://") {
		abs, err := filepath.Abs(rawURL)
		if err != nil {
			return nil, fmt.Errorf("store: open %q: %w", rawURL, err)
		}
		rawURL = (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("store: open %q: %w: %v", rawURL, ErrInvalid, err)
	}
	if u.Scheme == "file" {
		return openFile(u)
	}
	var b *blob.Bucket
	if u.Scheme == gcsblob.Scheme {
		b, err = openGCS(ctx, u)
	} else {
		b, err = blob.OpenBucket(ctx, rawURL)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %q: %w", rawURL, err)
	}
	bkt := &Bucket{b: b, url: rawURL}
	switch u.Scheme {
	case gcsblob.Scheme:
		bkt.readOpts = readCompressed
	case azureblob.Scheme:
		bkt.readCtx = azureReadContext
	}
	return bkt, nil
}

func openFile(u *url.URL) (*Bucket, error) {
	dir := u.Path
	if u.Host == "." {
		dir = "." + dir
	}
	if dir == "" {
		return nil, fmt.Errorf("store: open %q: no directory: %w", u, ErrInvalid)
	}
	abs, err := filepath.Abs(filepath.FromSlash(dir))
	if err != nil {
		return nil, fmt.Errorf("store: open %q: %w", u, err)
	}
	if err := os.MkdirAll(abs, 0o777); err != nil {
		return nil, fmt.Errorf("store: open %q: %w", u, err)
	}
	// Temp files next to their final path keep renames on one file system;
	// their names end in ".tmp", which no key of the project does.
	b, err := fileblob.OpenBucket(abs, &fileblob.Options{
		Metadata:  fileblob.MetadataDontWrite,
		NoTempDir: true,
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %q: %w", u, err)
	}
	clean := (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()
	return &Bucket{b: b, url: clean, dir: abs}, nil
}

// URL is the bucket's URL as opened (file URLs made absolute).
func (b *Bucket) URL() string { return b.url }

// Dir is the root directory of a file bucket, "" for other drivers.
func (b *Bucket) Dir() string { return b.dir }

// Close releases the bucket.
func (b *Bucket) Close() error { return b.b.Close() }

// Attrs are what the store reports about an object.
type Attrs struct {
	Size    int64 // of the stored bytes
	ModTime time.Time
	ETag    string
	// ContentType and ContentEncoding are the object's, as written (see
	// WriteOptions). File buckets keep no metadata: both are "" there.
	ContentType     string
	ContentEncoding string
}

// Attributes returns the attributes of key, or ErrNotFound.
func (b *Bucket) Attributes(ctx context.Context, key string) (a Attrs, err error) {
	err = retry(ctx, func() error { a, err = b.attributes(ctx, key); return err })
	return a, err
}

func (b *Bucket) attributes(ctx context.Context, key string) (Attrs, error) {
	if err := b.fault("stat", key); err != nil {
		return Attrs{}, err
	}
	a, err := b.b.Attributes(ctx, key)
	if err != nil {
		return Attrs{}, classify(err, "stat", key)
	}
	attrs := Attrs{Size: a.Size, ModTime: a.ModTime, ETag: a.ETag, ContentType: a.ContentType, ContentEncoding: a.ContentEncoding}
	if b.dir != "" {
		// fileblob reports application/octet-stream for an object without
		// an attribute file, which is every object here (metadata=skip).
		attrs.ContentType, attrs.ContentEncoding = "", ""
	}
	return attrs, nil
}

// Exists reports whether key exists.
func (b *Bucket) Exists(ctx context.Context, key string) (ok bool, err error) {
	err = retry(ctx, func() error { ok, err = b.exists(ctx, key); return err })
	return ok, err
}

func (b *Bucket) exists(ctx context.Context, key string) (bool, error) {
	if err := b.fault("stat", key); err != nil {
		return false, err
	}
	ok, err := b.b.Exists(ctx, key)
	err = classify(err, "stat", key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return ok, err
}

// NewReader opens key for reading, or returns ErrNotFound. Like every read
// of the store, it returns the stored bytes, whatever the object's
// Content-Encoding: gzip bytes stay compressed on every driver.
func (b *Bucket) NewReader(ctx context.Context, key string) (r io.ReadCloser, err error) {
	err = retry(ctx, func() error { r, err = b.newReader(ctx, key); return err })
	return r, err
}

func (b *Bucket) newReader(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := b.fault("read", key); err != nil {
		return nil, err
	}
	r, err := b.openRange(ctx, key, 0, -1)
	if err != nil {
		return nil, classify(err, "read", key)
	}
	return &reader{r: r, key: key}, nil
}

// NewRangeReader opens length bytes of key from offset (length < 0: to the
// end). Offsets address the stored bytes: for a gzip object, the
// compressed ones, with or without a Content-Encoding.
func (b *Bucket) NewRangeReader(ctx context.Context, key string, offset, length int64) (r io.ReadCloser, err error) {
	err = retry(ctx, func() error { r, err = b.newRangeReader(ctx, key, offset, length); return err })
	return r, err
}

func (b *Bucket) newRangeReader(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := b.fault("read", key); err != nil {
		return nil, err
	}
	r, err := b.openRange(ctx, key, offset, length)
	if err != nil {
		return nil, classify(err, "read", key)
	}
	return &reader{r: r, key: key}, nil
}

// openRange opens a driver reader of the stored bytes. An object written
// with Content-Encoding gzip would otherwise come decompressed from two
// drivers, whole reads and ranges alike (measured on the emulators): GCS
// transcodes it for a request without Accept-Encoding: gzip, ignoring
// Range, and Go's transport, under the GCS and Azure SDKs, asks for gzip
// when they send no Accept-Encoding and decompresses the stored bytes the
// service then sends with Content-Encoding: gzip. s3blob's SDK sends
// Accept-Encoding: identity itself; memblob and fileblob serve no HTTP.
func (b *Bucket) openRange(ctx context.Context, key string, offset, length int64) (*blob.Reader, error) {
	if b.readCtx != nil {
		ctx = b.readCtx(ctx)
	}
	return b.b.NewRangeReader(ctx, key, offset, length, b.readOpts)
}

type reader struct {
	r   *blob.Reader
	key string
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = classify(err, "read", r.key)
	}
	return n, err
}

func (r *reader) Close() error { return classify(r.r.Close(), "close", r.key) }

// ReadAll reads the whole object at key.
func (b *Bucket) ReadAll(ctx context.Context, key string) (p []byte, err error) {
	err = retry(ctx, func() error { p, err = b.readAll(ctx, key); return err })
	return p, err
}

func (b *Bucket) readAll(ctx context.Context, key string) ([]byte, error) {
	if err := b.fault("read", key); err != nil {
		return nil, err
	}
	r, err := b.openRange(ctx, key, 0, -1)
	if err != nil {
		return nil, classify(err, "read", key)
	}
	defer r.Close()
	p, err := io.ReadAll(r)
	return p, classify(err, "read", key)
}

// WriteOptions control a write.
type WriteOptions struct {
	// ContentType is stored as the object's Content-Type; "" derives it
	// from the key (ContentType).
	ContentType string
	// ContentEncoding is stored as the object's Content-Encoding: "gzip"
	// for gzip bytes that an HTTP client should get decompressed, as
	// wpt.fyi stores its JSON outputs. The bytes are stored as given, and
	// the store's own reads return them as stored. GCS then decompresses
	// the object for a request that does not accept gzip (and serves it
	// whole, ignoring Range); S3 and Azure serve the stored bytes with
	// the header, which an HTTP client that asked for gzip decompresses.
	// File buckets keep no metadata: it is dropped there.
	ContentEncoding string
	// IfNotExist makes the write fail with ErrExists when key exists. It is
	// atomic on every driver the store opens, file buckets included.
	IfNotExist bool
}

// Write stores the bytes of r at key. Nothing is visible until the whole
// body is written; on error nothing is left behind.
func (b *Bucket) Write(ctx context.Context, key string, r io.Reader, opts WriteOptions) error {
	if err := b.fault("write", key); err != nil {
		return err
	}
	if b.dir != "" {
		return b.writeFile(ctx, key, r, opts.IfNotExist)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wo := &blob.WriterOptions{
		ContentType:     contentType(key, opts.ContentType),
		ContentEncoding: opts.ContentEncoding,
		IfNotExist:      opts.IfNotExist,
	}
	if br, ok := r.(*bytes.Reader); ok && br.Len() < 1<<20 {
		// Cloud drivers allocate an 8–16 MiB buffer per writer by default:
		// for tens of thousands of small per-test files that dominated.
		wo.BufferSize = max(br.Len(), 1)
	}
	w, err := b.b.NewWriter(ctx, key, wo)
	if err != nil {
		return classify(err, "write", key)
	}
	if _, err := io.Copy(w, r); err != nil {
		cancel() // abort: the object must not appear
		_ = w.Close()
		return classify(err, "write", key)
	}
	return classify(w.Close(), "write", key)
}

// WriteBytes stores p at key.
func (b *Bucket) WriteBytes(ctx context.Context, key string, p []byte, opts WriteOptions) error {
	return retry(ctx, func() error { return b.Write(ctx, key, bytes.NewReader(p), opts) })
}

// writeFile writes key through a temp file in its own directory. A plain
// write renames it into place (atomic replace). A write-once write links
// it into place: link(2) fails if the name exists, atomically, across
// processes, which fileblob's check-then-rename does not. Going around
// fileblob here also saves its per-write MkdirAll: directories made once
// are remembered.
func (b *Bucket) writeFile(ctx context.Context, key string, r io.Reader, once bool) (err error) {
	path, err := b.filePath(key)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if _, ok := b.dirs.Load(dir); !ok {
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return fmt.Errorf("store: write %q: %w", key, err)
		}
		b.dirs.Store(dir, true)
	}
	if br, ok := r.(*bytes.Reader); ok && !once && br.Len() < 1<<20 {
		if err := ctx.Err(); err != nil {
			return classify(err, "write", key)
		}
		p := make([]byte, br.Len())
		br.Read(p)
		err := writeSmall(path, p)
		if errors.Is(err, os.ErrNotExist) {
			b.dirs.Delete(dir)
			if err := os.MkdirAll(dir, 0o777); err != nil {
				return fmt.Errorf("store: write %q: %w", key, err)
			}
			err = writeSmall(path, p)
		}
		if err == nil {
			return nil
		}
		if err != errNoFastWrite {
			return fmt.Errorf("store: write %q: %w", key, err)
		}
		br.Seek(0, io.SeekStart)
	}
	f, err := createTemp(path)
	if errors.Is(err, os.ErrNotExist) {
		// Removed behind our back: make it again.
		b.dirs.Delete(dir)
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return fmt.Errorf("store: write %q: %w", key, err)
		}
		f, err = createTemp(path)
	}
	if err != nil {
		return fmt.Errorf("store: write %q: %w", key, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil || once {
			os.Remove(tmp)
		}
	}()
	if br, ok := r.(*bytes.Reader); ok && br.Len() < 1<<20 {
		_, err = br.WriteTo(f)
	} else {
		_, err = io.Copy(f, ctxReader{ctx, r})
	}
	if err != nil {
		f.Close()
		return classify(err, "write", key)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store: write %q: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return classify(err, "write", key)
	}
	if !once {
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("store: write %q: %w", key, err)
		}
		return nil
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("store: write %q: %w", key, ErrExists)
		}
		return fmt.Errorf("store: write %q: %w", key, err)
	}
	return nil
}

// createTemp creates a new temp file beside path, readable by all (0644
// before the umask), with a name ending in ".tmp", which listings skip.
func createTemp(path string) (*os.File, error) {
	for range 100 {
		var rnd [8]byte
		rand.Read(rnd[:])
		f, err := os.OpenFile(path+"."+hex.EncodeToString(rnd[:])+".tmp", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if !errors.Is(err, os.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("store: no free temp name for %s", path)
}

// filePath maps key to its file the way fileblob does for the keys this
// project writes (which never need fileblob's escaping: see ValidFileKey).
func (b *Bucket) filePath(key string) (string, error) {
	if !ValidFileKey(key) {
		return "", fmt.Errorf("store: key %q cannot be a file's path: %w", key, ErrInvalid)
	}
	return filepath.Join(b.dir, filepath.FromSlash(key)), nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Delete removes key; a missing key is not an error.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	return retry(ctx, func() error { return b.delete(ctx, key) })
}

func (b *Bucket) delete(ctx context.Context, key string) error {
	if err := b.fault("delete", key); err != nil {
		return err
	}
	err := classify(b.b.Delete(ctx, key), "delete", key)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// Object is one listed key.
type Object struct {
	Key     string
	Size    int64
	ModTime time.Time
	IsDir   bool // a common prefix when listing with a delimiter
}

// List calls fn for every key under prefix in lexicographical order. With
// delim "/", keys below the next "/" are folded into one IsDir object. fn
// returning false stops the walk. Temp files of in-progress local writes
// are skipped.
func (b *Bucket) List(ctx context.Context, prefix, delim string, fn func(Object) bool) error {
	if err := retry(ctx, func() error { return b.fault("list", prefix) }); err != nil {
		return err
	}
	if b.dir != "" && strings.HasSuffix(prefix, "/") {
		if objs, ok, err := b.listDir(ctx, prefix, delim); ok {
			if err != nil {
				return err
			}
			for _, o := range objs {
				if !fn(o) {
					return nil
				}
			}
			return nil
		}
	}
	it := b.b.List(&blob.ListOptions{Prefix: prefix, Delimiter: delim})
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return classify(err, "list", prefix)
		}
		if strings.HasSuffix(o.Key, ".tmp") {
			continue
		}
		if !fn(Object{Key: o.Key, Size: o.Size, ModTime: o.ModTime, IsDir: o.IsDir}) {
			return nil
		}
	}
}

// SignedURL returns a time-limited URL for reading key, where the driver
// can sign URLs.
func (b *Bucket) SignedURL(ctx context.Context, key string, expiry time.Duration) (string, error) {
	u, err := b.b.SignedURL(ctx, key, &blob.SignedURLOptions{Expiry: expiry})
	return u, classify(err, "sign", key)
}

func contentType(key, given string) string {
	if given != "" {
		return given
	}
	switch {
	case strings.HasSuffix(key, ".json.gz"), strings.HasSuffix(key, ".gz"):
		return "application/gzip"
	case strings.HasSuffix(key, ".json"):
		return "application/json"
	}
	return "application/octet-stream"
}

// ContentType is the content type the project serves for key.
func ContentType(key string) string { return contentType(key, "") }

// RemoveStaleTemp deletes the temp files of local writes that a crash
// interrupted, once they are older than age (younger ones may belong to a
// write in progress). Listings never show them; this only frees space. It
// returns how many it removed; other drivers have none.
func (b *Bucket) RemoveStaleTemp(ctx context.Context, age time.Duration) (int, error) {
	n := 0
	cutoff := time.Now().Add(-age)
	err := b.TempFiles(ctx, "", func(o Object) bool {
		if o.ModTime.Before(cutoff) && b.RemoveTemp(ctx, o.Key) == nil {
			n++
		}
		return true
	})
	return n, err
}

// TempFiles calls fn, in no particular order, for each temp file under
// prefix ("" for all) of a file bucket: the files of local writes in
// progress or interrupted by a crash, whose names end in ".tmp" and which
// List never shows. Key is the file's path in the bucket, with "/"; Size
// and ModTime are the file's. fn returning false stops the walk. Other
// drivers write no temp files: an interrupted write leaves nothing (on S3,
// an incomplete multipart upload, which a lifecycle rule removes).
func (b *Bucket) TempFiles(ctx context.Context, prefix string, fn func(Object) bool) error {
	if b.dir == "" {
		return nil
	}
	root := b.dir
	if prefix != "" {
		root = filepath.Join(b.dir, filepath.FromSlash(strings.TrimSuffix(prefix, "/")))
	}
	stop := errors.New("stop")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil // vanished while walking
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".tmp") {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		rel, err := filepath.Rel(b.dir, p)
		if err != nil {
			return nil
		}
		if !fn(Object{Key: filepath.ToSlash(rel), Size: fi.Size(), ModTime: fi.ModTime()}) {
			return stop
		}
		return nil
	})
	if err == stop {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: list temp files: %w", err)
	}
	return nil
}

// RemoveTemp removes the temp file key of a file bucket (as TempFiles
// names it). A missing file is not an error; a key that does not end in
// ".tmp" is ErrInvalid.
func (b *Bucket) RemoveTemp(ctx context.Context, key string) error {
	if b.dir == "" {
		return nil
	}
	path, err := b.filePath(key)
	if err != nil || !strings.HasSuffix(key, ".tmp") {
		return fmt.Errorf("store: remove temp file %q: %w", key, ErrInvalid)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: remove temp file %q: %w", key, err)
	}
	return nil
}

// EmptyDirs calls fn for each empty directory of a file bucket at or
// below prefix (a key prefix ending in "/"), children before their
// parents, with Key its prefix (ending in "/"), IsDir set and ModTime the
// directory's. Emptiness is checked when fn is called, so a directory
// whose children fn removed (RemoveDir) is reported after them. Object
// stores have no directories: there are none. fn returning false stops.
func (b *Bucket) EmptyDirs(ctx context.Context, prefix string, fn func(Object) bool) error {
	if b.dir == "" {
		return nil
	}
	if !strings.HasSuffix(prefix, "/") {
		return fmt.Errorf("store: empty directories of %q: %w", prefix, ErrInvalid)
	}
	root, err := b.filePath(strings.TrimSuffix(prefix, "/"))
	if err != nil {
		return err
	}
	var dirs []string // in walk (pre-)order: parents before children
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil // vanished while walking, or a file
		}
		dirs = append(dirs, p)
		return ctx.Err()
	})
	if err != nil {
		return fmt.Errorf("store: empty directories of %q: %w", prefix, err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := os.Open(dirs[i])
		if err != nil {
			continue
		}
		names, _ := f.Readdirnames(1)
		fi, err := f.Stat()
		f.Close()
		if len(names) > 0 || err != nil {
			continue
		}
		rel, _ := filepath.Rel(b.dir, dirs[i])
		if !fn(Object{Key: filepath.ToSlash(rel) + "/", IsDir: true, ModTime: fi.ModTime()}) {
			return nil
		}
	}
	return nil
}

// RemoveDir removes the directory of a file bucket at prefix (a key
// prefix ending in "/") if it is empty, and reports whether it did. A
// directory that is not empty, or missing, is left as it is, without
// error: a write under it may have just begun (and writes remake the
// directories they need). Object stores have no directories: it does
// nothing.
func (b *Bucket) RemoveDir(ctx context.Context, prefix string) (bool, error) {
	if b.dir == "" {
		return false, nil
	}
	if !strings.HasSuffix(prefix, "/") {
		return false, fmt.Errorf("store: remove directory %q: %w", prefix, ErrInvalid)
	}
	path, err := b.filePath(strings.TrimSuffix(prefix, "/"))
	if err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := b.fault("delete", prefix); err != nil {
		return false, err
	}
	b.dirs.Delete(path)
	if err := os.Remove(path); err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrExist) || errors.Is(err, syscall.ENOTEMPTY) {
			return false, nil
		}
		return false, fmt.Errorf("store: remove directory %q: %w", prefix, err)
	}
	return true, nil
}

// retry runs op again while it fails with a temporary error: three more
// times, 25, 50 and 100 ms apart, as cloud storage clients do. A write-once
// write that succeeded but whose answer was lost then reports ErrExists:
// callers treat that as "someone wrote it", which for every write-once key
// of the project is safe (they read what is there).
func retry(ctx context.Context, op func() error) error {
	delay := 25 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil || attempt == 4 || !IsTemporary(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay *= 2
	}
}
