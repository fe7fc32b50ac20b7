package httpx

import (
	"bytes"
	"strings"

	"github.com/wptfeed/wptfeed/feed"
)

// The fast path's request parser (see Server.Fast): it takes only what it
// can read exactly as net/http does (FuzzParseFast checks it), and leaves
// the rest to net/http.

// headerEnd returns the length of the header at the start of buf, up to
// and including its blank line (CRLF or a bare LF, which net/http
// accepts), or 0 if buf holds no blank line yet.
func headerEnd(buf []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(buf[i:], '\n')
		if j < 0 {
			return 0
		}
		i += j + 1
		switch {
		case i < len(buf) && buf[i] == '\n':
			return i + 1
		case i+1 < len(buf) && buf[i] == '\r' && buf[i+1] == '\n':
			return i + 2
		}
	}
}

// parseFast parses the request header hdr (request line, fields, blank
// line) and reports whether the fast path answers it: HTTP/1.1, GET or
// HEAD of a path of routes, exactly one valid Host, and no field but those
// that leave the answer unchanged and those feed.RawRequest holds, once
// each, all well-formed. It returns the request and its route, and whether
// the client asked to close the connection.
func parseFast(hdr string, routes map[string]*fastRoute) (req feed.RawRequest, route *fastRoute, closeConn, ok bool) {
	line, rest, _ := strings.Cut(hdr, "\r\n")
	method, line, _ := strings.Cut(line, " ")
	target, proto, _ := strings.Cut(line, " ")
	switch method {
	case "GET":
	case "HEAD":
		req.Head = true
	default:
		return req, nil, false, false
	}
	if proto != "HTTP/1.1" {
		return req, nil, false, false
	}
	if route = routes[target]; route == nil {
		return req, nil, false, false
	}
	var hosts, encodings, conns int
	for {
		line, rest, _ = strings.Cut(rest, "\r\n")
		if line == "" {
			break // the blank line
		}
		name, value, found := strings.Cut(line, ":")
		if !found || !validFieldName(name) || !validFieldValue(value) {
			return req, nil, false, false
		}
		value = strings.Trim(value, " \t")
		switch fastField(name) {
		case fieldHost:
			if hosts++; hosts > 1 || !validHost(value) {
				return req, nil, false, false
			}
		case fieldAcceptEncoding:
			if encodings++; encodings > 1 {
				return req, nil, false, false
			}
			req.AcceptEncoding = value
		case fieldIfNoneMatch:
			if req.HasIfNoneMatch {
				return req, nil, false, false
			}
			req.IfNoneMatch, req.HasIfNoneMatch = value, true
		case fieldIfModifiedSince:
			if req.HasIfModifiedSince {
				return req, nil, false, false
			}
			req.IfModifiedSince, req.HasIfModifiedSince = value, true
		case fieldConnection:
			if conns++; conns > 1 {
				return req, nil, false, false
			}
			for tok := range strings.SplitSeq(value, ",") {
				switch tok = strings.Trim(tok, " \t"); {
				case strings.EqualFold(tok, "close"):
					closeConn = true
				case strings.EqualFold(tok, "keep-alive"):
				default:
					return req, nil, false, false // an upgrade, a hop-by-hop field
				}
			}
		case fieldIgnored:
		default:
			return req, nil, false, false
		}
	}
	return req, route, closeConn, hosts == 1
}

const (
	fieldOther = iota
	fieldIgnored
	fieldHost
	fieldAcceptEncoding
	fieldIfNoneMatch
	fieldIfModifiedSince
	fieldConnection
)

// fastField classifies a field name for parseFast: fieldIgnored for the
// fields that change nothing in a document's answer, fieldOther for the
// ones net/http must see (Range, If-Match, Content-Length, Expect, …).
func fastField(name string) int {
	if len(name) > 32 {
		return fieldOther
	}
	var lower [32]byte
	for i, c := range []byte(name) {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	n := lower[:len(name)]
	switch string(n) {
	case "host":
		return fieldHost
	case "accept-encoding":
		return fieldAcceptEncoding
	case "if-none-match":
		return fieldIfNoneMatch
	case "if-modified-since":
		return fieldIfModifiedSince
	case "connection":
		return fieldConnection
	case "user-agent", "accept", "accept-language", "accept-charset", "cache-control", "pragma",
		"referer", "from", "cookie", "dnt", "upgrade-insecure-requests", "priority", "a-im",
		"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-real-ip", "x-request-id", "via", "forwarded":
		return fieldIgnored
	}
	if strings.HasPrefix(string(n), "sec-") {
		return fieldIgnored // Sec-Fetch-*, Sec-CH-*: browsers' metadata
	}
	return fieldOther
}

// validFieldName reports whether name is a token (RFC 9110 §5.1).
func validFieldName(name string) bool {
	if len(name) == 0 {
		return false
	}
	for _, c := range []byte(name) {
		if c >= 0x80 || !tokenChar[c] {
			return false
		}
	}
	return true
}

// validFieldValue reports whether v holds no control character but HTAB,
// as net/http requires.
func validFieldValue(v string) bool {
	for _, c := range []byte(v) {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// validHost reports whether v is a host and port made of the plainest
// characters: letters, digits, ".", "-", ":" and brackets (IPv6). Others,
// which net/http may refuse, go to net/http.
func validHost(v string) bool {
	if len(v) == 0 {
		return false
	}
	for _, c := range []byte(v) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-', c == ':', c == '[', c == ']':
		default:
			return false
		}
	}
	return true
}

// tokenChar marks the characters of a token (RFC 9110 §5.6.2).
var tokenChar = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()
