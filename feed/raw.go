package feed

import (
	"net/http"
	"strconv"
)

// RawRequest is what RawAnswer needs to know of a GET or HEAD request: the
// request must have no Range, If-Range, If-Match or If-Unmodified-Since
// field (which Serve answers through http.ServeContent) and at most one
// line of each field below (a server that cannot tell gives it to Serve).
type RawRequest struct {
	Head bool // HEAD, not GET
	// AcceptEncoding is the Accept-Encoding field's value, "" when absent.
	AcceptEncoding string
	// IfNoneMatch and IfModifiedSince are the fields' values; Has* say
	// whether the request has them at all (an empty If-None-Match matches
	// nothing, yet keeps If-Modified-Since from being evaluated).
	IfNoneMatch, IfModifiedSince       string
	HasIfNoneMatch, HasIfModifiedSince bool
}

// RawAnswer returns the answer Serve gives req, in HTTP/1.1 wire form: the
// status line and the header fields, each ending in CRLF, without the blank
// line that ends the header and without Date (the connection's server adds
// both, and Connection: close when it closes), and the body to send after
// them (nil for HEAD and 304). The status and fields are those Serve
// writes, in the order net/http writes them; code is 200 or 304.
//
// The header bytes are computed once per Document, representation and
// status, and shared by every answer: the caller must not modify them. A
// server that writes them straight to a connection does no per-request
// formatting, hashing or compression at all.
func (doc *Document) RawAnswer(req RawRequest) (code int, header, body []byte) {
	doc.prepare()
	rep := &doc.plain
	gz := false
	if len(doc.Body) > gzipMinSize {
		gz = gzipAccepted(codingQs(req.AcceptEncoding, -1, -1))
		if gz {
			rep = doc.gzipped()
		}
	}
	var nm bool
	if req.HasIfNoneMatch {
		nm = etagListMatches(req.IfNoneMatch, rep.etag)
	} else if req.HasIfModifiedSince {
		nm = unmodifiedSince(req.IfModifiedSince, doc)
	}
	w := rep.wire(doc)
	if nm {
		return http.StatusNotModified, w.notModified, nil
	}
	if req.Head {
		return http.StatusOK, w.ok, nil
	}
	return http.StatusOK, w.ok, rep.body
}

// wireHeaders are a representation's answers in wire form (RawAnswer).
type wireHeaders struct{ ok, notModified []byte }

// wire returns rep's wire headers, formatted on first use.
func (rep *representation) wire(doc *Document) *wireHeaders {
	rep.wireOnce.Do(func() {
		gz := rep == &doc.gz
		// The fields Serve sets, sorted by name as net/http writes a
		// header map.
		field := func(b []byte, name, value string) []byte {
			return append(append(append(append(b, name...), ": "...), value...), "\r\n"...)
		}
		var ok []byte
		ok = append(ok, "HTTP/1.1 200 OK\r\n"...)
		if doc.CacheControl != "" {
			ok = field(ok, "Cache-Control", doc.CacheControl)
		}
		if gz {
			ok = field(ok, "Content-Encoding", "gzip")
		}
		ok = field(ok, "Content-Length", strconv.Itoa(len(rep.body)))
		ok = field(ok, "Content-Type", doc.hdr.ctype[0])
		ok = field(ok, "Etag", rep.etag)
		if doc.hdr.lastModified != nil {
			ok = field(ok, "Last-Modified", doc.hdr.lastModified[0])
		}
		ok = field(ok, "Vary", "Accept-Encoding")
		ok = field(ok, "X-Content-Type-Options", "nosniff")

		// 304: no representation fields, no Last-Modified beside an ETag.
		var nm []byte
		nm = append(nm, "HTTP/1.1 304 Not Modified\r\n"...)
		if doc.CacheControl != "" {
			nm = field(nm, "Cache-Control", doc.CacheControl)
		}
		nm = field(nm, "Etag", rep.etag)
		nm = field(nm, "Vary", "Accept-Encoding")
		nm = field(nm, "X-Content-Type-Options", "nosniff")
		rep.wireHdr = wireHeaders{ok: ok[:len(ok):len(ok)], notModified: nm[:len(nm):len(nm)]}
	})
	return &rep.wireHdr
}
