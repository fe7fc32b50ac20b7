package feed

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
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
	// clients must not hash, compress or format anything per request.
	prepOnce sync.Once
	plain    representation
	hdr      struct{ ctype, cacheControl, lastModified []string }
	lastMod  time.Time // LastModified to the second; zero when not sent
	gzOnce   sync.Once
	gz       representation
}

// representation is one encoding of a Document's body, with its header
// values ready to put in a response's header map. Each slice has one
// element and no spare capacity, so that a handler appending to a header
// cannot write into another response's.
type representation struct {
	body          []byte
	etag          string
	etagHdr       []string
	contentLength []string
	wireOnce      sync.Once
	wireHdr       wireHeaders // RawAnswer's, formatted on first use
}

func newRepresentation(body []byte, etag string) representation {
	return representation{body: body, etag: etag, etagHdr: []string{etag}, contentLength: []string{strconv.Itoa(len(body))}}
}

// prepare computes what every response needs, once.
func (doc *Document) prepare() {
	doc.prepOnce.Do(func() {
		etag := quoteETag(doc.ETag)
		if doc.ETag == "" {
			etag = ETag(doc.Body)
		}
		doc.plain = newRepresentation(doc.Body, etag)
		ctype := doc.ContentType
		if ctype == "" {
			ctype = ContentType
		}
		doc.hdr.ctype = []string{ctype}
		if doc.CacheControl != "" {
			doc.hdr.cacheControl = []string{doc.CacheControl}
		}
		// As http.ServeContent: no Last-Modified for the zero time or the
		// Unix epoch.
		if t := doc.LastModified; !t.IsZero() && !t.Equal(time.Unix(0, 0)) {
			doc.lastMod = t.UTC().Truncate(time.Second)
			doc.hdr.lastModified = []string{doc.lastMod.Format(http.TimeFormat)}
		}
	})
}

// gzipped returns the gzip representation, compressed on first use (once
// per document) so that 304 answers cost no compression.
func (doc *Document) gzipped() *representation {
	doc.gzOnce.Do(func() {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(doc.Body) // writes to a bytes.Buffer do not fail
		zw.Close()
		doc.gz = newRepresentation(b.Bytes(), gzipETag(doc.plain.etag))
	})
	return &doc.gz
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
// empty), X-Content-Type-Options: nosniff, Vary: Accept-Encoding and
// Content-Length. It answers If-None-Match (a tag, a list of tags, or *;
// weak comparison) and If-Modified-Since with 304 and no body, supports
// HEAD, Range, If-Range, If-Match and If-Unmodified-Since (these last
// through http.ServeContent), and answers other methods with 405.
//
// When the request accepts gzip (Accept-Encoding: gzip or x-gzip with
// q > 0, or else * with q > 0) and the body is larger than 1024 bytes, the
// body is sent gzip-compressed (gzip.DefaultCompression) and the ETag gets a
// "-gz" suffix inside the quotes, so that each representation has its own
// strong validator. A smaller body is always sent as is, under the plain
// ETag. The compressed body is computed once per Document, when a body is
// first actually sent: 304 answers cost no compression; the header values
// are computed once per Document too, so a request costs no hashing,
// compression or formatting. doc must not be nil, and must not be changed
// once served; Serve does not modify it, so one Document may be served
// concurrently.
func Serve(w http.ResponseWriter, r *http.Request, doc *Document) {
	h := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	doc.prepare()
	rep := &doc.plain
	gz := len(doc.Body) > gzipMinSize && acceptsGzip(r.Header)
	if gz {
		rep = doc.gzipped()
	}
	doc.setCommon(h, rep)
	rh := r.Header
	if rh["Range"] != nil || rh["If-Match"] != nil || rh["If-Unmodified-Since"] != nil {
		// Rare: http.ServeContent's full precondition and range logic.
		doc.setContent(h, gz)
		http.ServeContent(w, r, "", doc.lastMod, bytes.NewReader(rep.body))
		return
	}
	if notModified(rh, rep.etag, doc) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	doc.setRepresentation(h, rep, gz)
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(rep.body) // a client that went away is no error of ours
	}
}

// The fields of an answer, set by Serve and formatted once by RawAnswer:
// one list of them for both. Each assigns values computed once per
// Document (no allocation).

// setCommon sets the fields of every answer of rep, 200 or 304.
func (doc *Document) setCommon(h http.Header, rep *representation) {
	if v := h["Vary"]; len(v) == 0 {
		h["Vary"] = varyAcceptEncoding
	} else {
		h.Add("Vary", "Accept-Encoding")
	}
	h["Etag"] = rep.etagHdr
	h["X-Content-Type-Options"] = nosniff
	if doc.hdr.cacheControl != nil {
		h["Cache-Control"] = doc.hdr.cacheControl
	}
}

// setContent sets the fields that say what the body is.
func (doc *Document) setContent(h http.Header, gz bool) {
	h["Content-Type"] = doc.hdr.ctype
	if gz {
		h["Content-Encoding"] = gzipEncoding
	}
}

// setRepresentation sets the fields a 200 adds to setCommon's. A 304 has
// none of them: as http.ServeContent, no representation fields, and no
// Last-Modified beside an ETag (RFC 9110 §15.4.5).
func (doc *Document) setRepresentation(h http.Header, rep *representation, gz bool) {
	doc.setContent(h, gz)
	if doc.hdr.lastModified != nil {
		h["Last-Modified"] = doc.hdr.lastModified
	}
	h["Content-Length"] = rep.contentLength
}

// Header values shared by every response (one element, no spare capacity).
var (
	varyAcceptEncoding = []string{"Accept-Encoding"}
	nosniff            = []string{"nosniff"}
	gzipEncoding       = []string{"gzip"}
)

// notModified evaluates If-None-Match (every field line; weak comparison,
// RFC 9110 §13.1.2) or, without it, If-Modified-Since (§13.1.3) for a GET
// or HEAD of the representation tagged etag.
func notModified(h http.Header, etag string, doc *Document) bool {
	if inm := h["If-None-Match"]; inm != nil {
		for _, v := range inm {
			if etagListMatches(v, etag) {
				return true
			}
		}
		return false
	}
	ims := h["If-Modified-Since"]
	return len(ims) > 0 && unmodifiedSince(ims[0], doc)
}

// unmodifiedSince reports whether doc was not modified after the
// If-Modified-Since value ims: false when doc has no Last-Modified.
func unmodifiedSince(ims string, doc *Document) bool {
	if doc.lastMod.IsZero() {
		return false
	}
	if ims == doc.hdr.lastModified[0] {
		return true // the client's copy of our own Last-Modified
	}
	t, err := http.ParseTime(ims)
	return err == nil && !doc.lastMod.After(t)
}

// etagListMatches reports whether the If-None-Match field value v ("*" or
// a comma-separated list of entity tags) matches etag, weakly.
func etagListMatches(v, etag string) bool {
	for {
		v = strings.TrimLeft(v, " \t,")
		if v == "" {
			return false
		}
		if v[0] == '*' {
			return true
		}
		tag, rest, ok := scanETag(v)
		if !ok {
			return false
		}
		if strings.TrimPrefix(tag, "W/") == strings.TrimPrefix(etag, "W/") {
			return true
		}
		v = rest
	}
}

// scanETag reads one entity tag (RFC 9110 §8.8.3: W/"…" or "…") at the
// start of s.
func scanETag(s string) (tag, rest string, ok bool) {
	start := 0
	if strings.HasPrefix(s, "W/") {
		start = 2
	}
	if len(s) < start+2 || s[start] != '"' {
		return "", "", false
	}
	for i := start + 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return s[:i+1], s[i+1:], true
		case c == 0x21 || c >= 0x23 && c <= 0x7e || c >= 0x80:
		default:
			return "", "", false
		}
	}
	return "", "", false
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
	for _, v := range h["Accept-Encoding"] {
		gzipQ, starQ = codingQs(v, gzipQ, starQ)
	}
	return gzipAccepted(gzipQ, starQ)
}

// gzipAccepted decides from the highest q of gzip (or x-gzip) and of *
// (each -1 when not named).
func gzipAccepted(gzipQ, starQ float64) bool {
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}

// codingQs raises gzipQ and starQ to the q values one Accept-Encoding field
// line v gives gzip (or x-gzip) and *.
func codingQs(v string, gzipQ, starQ float64) (float64, float64) {
	// Without allocating: it runs on every request.
	for more := true; more; {
		var part string
		part, v, more = strings.Cut(v, ",")
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.TrimSpace(coding)
		q := 1.0
		for params != "" {
			var p string
			p, params, _ = strings.Cut(params, ";")
			k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
					q = f
				} else {
					q = 0
				}
			}
		}
		switch {
		case strings.EqualFold(coding, "gzip"), strings.EqualFold(coding, "x-gzip"):
			gzipQ = max(gzipQ, q)
		case coding == "*":
			starQ = max(starQ, q)
		}
	}
	return gzipQ, starQ
}
