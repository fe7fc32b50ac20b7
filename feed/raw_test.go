package feed_test

import (
	"bufio"
	"bytes"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/feed"
)

// TestRawAnswer checks that RawAnswer answers as Serve does (status,
// every header field but Date, body) for GET and HEAD with every
// combination of the fields it evaluates, on documents with and without
// Last-Modified and Cache-Control, above and below the gzip threshold, and
// that its header is well-formed HTTP/1.1 in net/http's field order.
func TestRawAnswer(t *testing.T) {
	atom, err := feed.NewDocument(subscriptionFeed(), "public, max-age=10")
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]*feed.Document{
		"atom":  atom,
		"json":  {Body: jsonBody(4000), ContentType: "application/json"},
		"small": {Body: []byte("<feed/>"), LastModified: time.Date(2026, 11, 30, 1, 2, 3, 0, time.UTC), CacheControl: "no-cache"},
	}
	lastMod := atom.LastModified.UTC().Format(http.TimeFormat)
	earlier := atom.LastModified.Add(-time.Hour).UTC().Format(http.TimeFormat)
	later := atom.LastModified.Add(time.Hour).UTC().Format(time.RFC850) // an obsolete form
	gzTag := func(doc *feed.Document) string {
		e := feed.ETag(doc.Body)
		return e[:len(e)-1] + `-gz"`
	}
	encodings := []string{"", "gzip", "gzip;q=0, identity", "*", "br, X-GZIP;q=0.5", "deflate"}
	for name, doc := range docs {
		inms := []string{"", feed.ETag(doc.Body), gzTag(doc), `"old", W/` + feed.ETag(doc.Body), "*", `"old"`, "garbage"}
		imss := []string{"", lastMod, earlier, later, "not a date"}
		for _, head := range []bool{false, true} {
			for _, ae := range encodings {
				for i, inm := range inms {
					for j, ims := range imss {
						req := feed.RawRequest{Head: head, AcceptEncoding: ae,
							IfNoneMatch: inm, HasIfNoneMatch: i > 0 || ae == "deflate", // "deflate": an empty If-None-Match
							IfModifiedSince: ims, HasIfModifiedSince: j > 0}
						checkRawAnswer(t, name, doc, req)
					}
				}
			}
		}
	}
}

func checkRawAnswer(t *testing.T, name string, doc *feed.Document, req feed.RawRequest) {
	t.Helper()
	method := "GET"
	if req.Head {
		method = "HEAD"
	}
	r := httptest.NewRequest(method, "/doc", nil)
	if req.AcceptEncoding != "" {
		r.Header.Set("Accept-Encoding", req.AcceptEncoding)
	}
	if req.HasIfNoneMatch {
		r.Header["If-None-Match"] = []string{req.IfNoneMatch}
	}
	if req.HasIfModifiedSince {
		r.Header["If-Modified-Since"] = []string{req.IfModifiedSince}
	}
	w := httptest.NewRecorder()
	feed.Serve(w, r, doc)
	want := w.Result()
	wantBody, _ := io.ReadAll(want.Body)

	code, hdr, body := doc.RawAnswer(req)
	wire := slices.Concat(hdr, []byte("Date: Tue, 01 Dec 2026 00:00:00 GMT\r\n\r\n"), body)
	got, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(wire)), r)
	if err != nil {
		t.Fatalf("%s %+v: the raw answer does not parse: %v\n%s", name, req, err, hdr)
	}
	gotBody, err := io.ReadAll(got.Body)
	if err != nil {
		t.Fatalf("%s %+v: body: %v", name, req, err)
	}
	got.Header.Del("Date")
	if code != want.StatusCode || got.StatusCode != want.StatusCode {
		t.Errorf("%s %+v: status %d (wire %d), Serve %d", name, req, code, got.StatusCode, want.StatusCode)
	}
	if !maps.EqualFunc(got.Header, want.Header, slices.Equal) {
		t.Errorf("%s %+v: header\n%v\nServe's\n%v", name, req, got.Header, want.Header)
	}
	if !bytes.Equal(gotBody, wantBody) {
		t.Errorf("%s %+v: body of %d bytes, Serve's %d", name, req, len(gotBody), len(wantBody))
	}
	// Fields in net/http's order: sorted by name.
	var names []string
	for _, line := range bytes.Split(bytes.TrimSuffix(hdr, []byte("\r\n")), []byte("\r\n"))[1:] {
		n, _, _ := bytes.Cut(line, []byte(": "))
		names = append(names, string(n))
	}
	if !slices.IsSorted(names) {
		t.Errorf("%s %+v: fields not sorted: %v", name, req, names)
	}
}

// TestRawAnswer_NoAllocs checks that an answer costs no allocation once
// the document was first answered: the header bytes are shared.
func TestRawAnswer_NoAllocs(t *testing.T) {
	doc := &feed.Document{Body: jsonBody(4000), CacheControl: "public, max-age=1"}
	for _, req := range []feed.RawRequest{
		{},
		{AcceptEncoding: "gzip, deflate, br, zstd"},
		{IfNoneMatch: feed.ETag(doc.Body), HasIfNoneMatch: true},
	} {
		doc.RawAnswer(req)
		if n := testing.AllocsPerRun(100, func() { doc.RawAnswer(req) }); n != 0 {
			t.Errorf("%+v: got %v allocations per answer, want 0", req, n)
		}
	}
}
