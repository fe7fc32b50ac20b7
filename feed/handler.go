package feed

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Document is a rendered document ready to serve with Serve: an Atom feed
// document, or any other bytes given their ContentType (a JSON answer, a
// script, an SVG chart), with the same validators and compression.
type Document struct {
	Body []byte
	// ContentType is sent as Content-Type; the package's ContentType (an
	// Atom feed document) when empty.
	ContentType string
	// ETag is a strong, quoted entity tag (RFC 9110 §8.8.3); computed from
	// Body (a sha256 prefix) when empty, quoted when given bare.
	ETag string
	// LastModified is sent as Last-Modified (and answers If-Modified-Since);
	// omitted when zero or the Unix epoch, as http.ServeContent does.
	LastModified time.Time
	// CacheControl is sent as is, e.g. "public, max-age=10",
	// "public, max-age=31536000, immutable" or "no-cache"; omitted when empty.
	CacheControl string

	// Computed once per Document: serving the same document to many
	// clients must not hash or compress it per request.
	etagOnce sync.Once
	etag     string
	gzOnce   sync.Once
	gz       []byte
}

func (doc *Document) strongETag() string {
	doc.etagOnce.Do(func() {
		if doc.ETag == "" {
			doc.etag = ETag(doc.Body)
		} else {
			doc.etag = quoteETag(doc.ETag)
		}
	})
	return doc.etag
}

func (doc *Document) gzipBody() []byte {
	doc.gzOnce.Do(func() {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(doc.Body) // writes to a bytes.Buffer do not fail
		zw.Close()
		doc.gz = b.Bytes()
	})
	return doc.gz
}

// NewDocument renders f with Marshal into a Document whose ETag is computed
// from the body and whose LastModified is f.Updated. It returns Marshal's
// error (wrapping ErrInvalid) when f is invalid.
func NewDocument(f *Feed, cacheControl string) (*Document, error) {
	body, err := Marshal(f)
	if err != nil {
		return nil, err
	}
	return &Document{
		Body:         body,
		ETag:         ETag(body),
		LastModified: f.Updated,
		CacheControl: cacheControl,
	}, nil
}

// ETag returns the strong entity tag Serve uses for body when a Document has
// none: the quoted first 128 bits of its sha256, in hex.
func ETag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// gzipMinSize is the size up to which Serve sends a body as is: gzip
// would save a few bytes at best, and may add some.
const gzipMinSize = 1024

// Serve writes doc with Content-Type doc.ContentType (ContentType when
// empty), a strong ETag, Last-Modified (unless zero), Cache-Control (unless
// empty), X-Content-Type-Options: nosniff and Vary: Accept-Encoding. It
// answers If-None-Match (a tag, a list of tags, or *; weak comparison) and
// If-Modified-Since with 304 and no body, supports HEAD (and Range and
// If-Range, through http.ServeContent), and answers other methods with 405.
//
// When the request accepts gzip (Accept-Encoding: gzip or x-gzip with
// q > 0, or else * with q > 0) and the body is larger than 1024 bytes, the
// body is sent gzip-compressed (gzip.DefaultCompression) and the ETag gets a
// "-gz" suffix inside the quotes, so that each representation has its own
// strong validator. A smaller body is always sent as is, under the plain
// ETag. The compressed body is computed once per Document, when a body is
// first actually sent: 304 answers cost no compression. doc must not be
// nil; Serve does not modify it, so one Document may be served
// concurrently.
func Serve(w http.ResponseWriter, r *http.Request, doc *Document) {
	h := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	etag := doc.strongETag()
	var content io.ReadSeeker = bytes.NewReader(doc.Body)
	h.Add("Vary", "Accept-Encoding")
	if len(doc.Body) > gzipMinSize && acceptsGzip(r.Header) {
		etag = gzipETag(etag)
		h.Set("Content-Encoding", "gzip")
		content = &lazyGzip{doc: doc}
	}
	ctype := doc.ContentType
	if ctype == "" {
		ctype = ContentType
	}
	h.Set("Content-Type", ctype)
	h.Set("ETag", etag)
	h.Set("X-Content-Type-Options", "nosniff")
	if doc.CacheControl != "" {
		h.Set("Cache-Control", doc.CacheControl)
	}
	http.ServeContent(w, r, "", doc.LastModified, content)
}

// quoteETag quotes a bare entity tag; quoted and weak (W/"…") tags are kept.
func quoteETag(s string) string {
	if strings.HasPrefix(s, `"`) || strings.HasPrefix(s, `W/"`) {
		return s
	}
	return `"` + s + `"`
}

// gzipETag derives the tag of the gzip representation: "x" becomes "x-gz".
func gzipETag(etag string) string {
	if strings.HasSuffix(etag, `"`) && len(etag) >= 2 {
		return etag[:len(etag)-1] + `-gz"`
	}
	return etag + "-gz"
}

// acceptsGzip reports whether Accept-Encoding (RFC 9110 §12.5.3) accepts
// gzip: "gzip" or "x-gzip" with q > 0, or else "*" with q > 0.
func acceptsGzip(h http.Header) bool {
	gzipQ, starQ := -1.0, -1.0
	for _, v := range h.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			q := 1.0
			for _, p := range strings.Split(params, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
						q = f
					} else {
						q = 0
					}
				}
			}
			switch coding {
			case "gzip", "x-gzip":
				gzipQ = max(gzipQ, q)
			case "*":
				starQ = max(starQ, q)
			}
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}

// lazyGzip is an io.ReadSeeker over the document's gzip compression,
// computed on first use (once per document) so that 304 responses cost no
// compression.
type lazyGzip struct {
	doc *Document
	r   *bytes.Reader
}

func (z *lazyGzip) init() {
	if z.r == nil {
		z.r = bytes.NewReader(z.doc.gzipBody())
	}
}

func (z *lazyGzip) Read(p []byte) (int, error) {
	z.init()
	return z.r.Read(p)
}

func (z *lazyGzip) Seek(offset int64, whence int) (int64, error) {
	z.init()
	return z.r.Seek(offset, whence)
}
