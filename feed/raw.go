package feed

import (
	"bytes"
	"net/http"
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

// wire returns rep's wire headers, formatted on first use from the fields
// Serve sets, in net/http's order (http.Header.Write sorts them by name).
func (rep *representation) wire(doc *Document) *wireHeaders {
	rep.wireOnce.Do(func() {
		format := func(status string, h http.Header) []byte {
			var b bytes.Buffer
			b.WriteString(status)
			h.Write(&b) // to a bytes.Buffer: no error
			return b.Bytes()[:b.Len():b.Len()]
		}
		h := http.Header{}
		doc.setCommon(h, rep)
		nm := format("HTTP/1.1 304 Not Modified\r\n", h)
		doc.setRepresentation(h, rep, rep == &doc.gz)
		rep.wireHdr = wireHeaders{ok: format("HTTP/1.1 200 OK\r\n", h), notModified: nm}
	})
	return &rep.wireHdr
}
