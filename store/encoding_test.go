package store_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/store"
	"github.com/wptfeed/wptfeed/store/storetest"
)

// TestBackends_ContentEncoding checks, on each cloud's emulator, what a
// plain HTTP GET of an object returns: a gzip JSON output written with
// Content-Encoding gzip (as the dashboard's summaries and per-test files
// are, and as wpt.fyi's are) and a pack written without it. wpt.fyi's own
// reader (shared.FetchRunResultsJSON) gets the summary with Go's http
// client and unmarshals the body: that must be JSON. The store's reads of
// the same objects return the stored bytes (the conformance suite's
// ContentEncoding test).
func TestBackends_ContentEncoding(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(testing.TB) *storetest.Backend
		// transcodes: the service decompresses a gzip-encoded object for a
		// request that does not accept gzip, and then ignores Range.
		transcodes bool
	}{
		{"s3", storetest.StartS3, false},
		{"gcs", storetest.StartGCS, true},
		{"azure", storetest.StartAzurite, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := tc.start(t)
			bucketURL := be.NewBucketURL(t)
			b := mustOpen(t, bucketURL)
			testPlainGET(t, b, func(key string) string { return be.ObjectURL(t, bucketURL, key) }, tc.transcodes)
		})
	}
}

// got is what one GET answered.
type got struct {
	status                    int
	ctype, encoding, clength  string
	body                      []byte
	uncompressedByHTTPPackage bool
}

func (g got) String() string {
	return fmt.Sprintf("%d, Content-Type %q, Content-Encoding %q, Content-Length %q, %d bytes (gzip: %v, decompressed by net/http: %v)",
		g.status, g.ctype, g.encoding, g.clength, len(g.body), len(g.body) > 1 && g.body[0] == 0x1f && g.body[1] == 0x8b, g.uncompressedByHTTPPackage)
}

func get(t *testing.T, c *http.Client, url string, header ...string) got {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return got{resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Encoding"),
		resp.Header.Get("Content-Length"), body, resp.Uncompressed}
}

func testPlainGET(t *testing.T, b *store.Bucket, objectURL func(key string) string, transcodes bool) {
	ctx := t.Context()
	stored := storetest.GzipJSON(7, 100<<10)
	zr, err := gzip.NewReader(bytes.NewReader(stored))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	key := "0123456789abcdef0123456789abcdef01234567/chrome-1-linux-0123456789-summary_v2.json.gz"
	if err := b.WriteBytes(ctx, key, stored, store.WriteOptions{ContentType: "application/json", ContentEncoding: "gzip"}); err != nil {
		t.Fatal(err)
	}
	url := objectURL(key)
	// A client that does not ask for gzip: no Accept-Encoding sent, no
	// decompression on the way (curl without --compressed).
	raw := &http.Client{Timeout: time.Minute, Transport: &http.Transport{DisableCompression: true}}
	// Go's default client: asks for gzip itself and decompresses the answer
	// (wpt.fyi's reader, and browsers, which send Accept-Encoding too).
	def := &http.Client{Timeout: time.Minute}

	g := get(t, raw, url)
	t.Logf("GET, no Accept-Encoding: %v", g)
	if g.status != http.StatusOK || g.ctype != "application/json" {
		t.Errorf("GET, no Accept-Encoding: %v; want 200, application/json", g)
	}
	switch {
	case transcodes && (!bytes.Equal(g.body, plain) || g.encoding != ""):
		t.Errorf("GET, no Accept-Encoding: %v; want the JSON, decompressed by the service (%d bytes), no Content-Encoding", g, len(plain))
	case !transcodes && (!bytes.Equal(g.body, stored) || g.encoding != "gzip"):
		t.Errorf("GET, no Accept-Encoding: %v; want the %d stored bytes, Content-Encoding gzip", g, len(stored))
	}

	g = get(t, def, url)
	t.Logf("http.Get: %v", g)
	var summary map[string]any
	if err := json.Unmarshal(g.body, &summary); err != nil || g.status != http.StatusOK || !bytes.Equal(g.body, plain) {
		t.Errorf("http.Get: %v: unmarshal: %v; want the JSON", g, err)
	}

	// Ranges address the stored bytes for a client that accepts gzip (the
	// store's GCS reads ask so); without it only where nothing transcodes.
	g = get(t, raw, url, "Accept-Encoding", "gzip", "Range", "bytes=100-199")
	t.Logf("GET, Accept-Encoding gzip, Range 100-199: %v", g)
	if g.status != http.StatusPartialContent || !bytes.Equal(g.body, stored[100:200]) {
		t.Errorf("GET, Accept-Encoding gzip, Range 100-199: %v; want 206 and stored bytes 100-199", g)
	}
	g = get(t, raw, url, "Range", "bytes=100-199")
	t.Logf("GET, no Accept-Encoding, Range 100-199: %v", g)
	switch {
	case transcodes && (g.status != http.StatusOK || !bytes.Equal(g.body, plain)):
		t.Errorf("GET, no Accept-Encoding, Range 100-199: %v; want 200 and the whole JSON (Range ignored when transcoding)", g)
	case !transcodes && (g.status != http.StatusPartialContent || !bytes.Equal(g.body, stored[100:200])):
		t.Errorf("GET, no Accept-Encoding, Range 100-199: %v; want 206 and stored bytes 100-199", g)
	}

	// A pack: gzip members concatenated, no Content-Encoding. Every client
	// gets the stored bytes, and ranges address them.
	pack := append(storetest.GzipJSON(8, 2000), storetest.GzipJSON(9, 2000)...)
	packKey := "0123456789abcdef0123456789abcdef01234567/chrome-1-linux-0123456789-tests.gz"
	if err := b.WriteBytes(ctx, packKey, pack, store.WriteOptions{ContentType: "application/gzip"}); err != nil {
		t.Fatal(err)
	}
	url = objectURL(packKey)
	for _, c := range []struct {
		name string
		c    *http.Client
	}{{"no Accept-Encoding", raw}, {"http.Get", def}} {
		g = get(t, c.c, url)
		t.Logf("pack, %s: %v", c.name, g)
		if g.status != http.StatusOK || g.ctype != "application/gzip" || g.encoding != "" || !bytes.Equal(g.body, pack) {
			t.Errorf("pack, %s: %v; want 200, application/gzip, the %d stored bytes", c.name, g, len(pack))
		}
		off := len(pack) / 2
		g = get(t, c.c, url, "Range", fmt.Sprintf("bytes=%d-%d", off, off+99))
		if g.status != http.StatusPartialContent || !bytes.Equal(g.body, pack[off:off+100]) {
			t.Errorf("pack, %s, Range %d-%d: %v; want 206 and those stored bytes", c.name, off, off+99, g)
		}
	}
}
