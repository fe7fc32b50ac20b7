package publisher

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/internal/testutil"
	"github.com/wptfeed/wptfeed/store"
)

// zipEntry is one entry of a test archive.
type zipEntry struct {
	name string
	data []byte
	hdr  func(*zip.FileHeader) // adjusts the header (default: deflate)
	raw  bool                  // data is written as the entry's stored bytes, as the header says (zip.Writer.CreateRaw)
}

// mustZip returns a zip archive of entries, in order.
func mustZip(t testing.TB, entries ...zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.hdr != nil {
			e.hdr(h)
		}
		var w io.Writer
		var err error
		if e.raw {
			w, err = zw.CreateRaw(h)
		} else {
			w, err = zw.CreateHeader(h)
		}
		if err == nil {
			_, err = w.Write(e.data)
		}
		if err != nil {
			t.Fatalf("zip entry %q: %v", e.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// store0 makes an entry stored as is rather than deflated.
func store0(h *zip.FileHeader) { h.Method = zip.Store }

// fileServer serves files by path and counts the requests for each.
type fileServer struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	hits  map[string]int
}

func newFileServer(t *testing.T) *fileServer {
	t.Helper()
	fs := &fileServer{files: map[string][]byte{}, hits: map[string]int{}}
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.mu.Lock()
		fs.hits[r.URL.Path]++
		p, ok := fs.files[r.URL.Path]
		fs.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(p)
	}))
	t.Cleanup(fs.Close)
	return fs
}

// put serves p at path and returns its URL.
func (fs *fileServer) put(path string, p []byte) string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.files[path] = p
	return fs.URL + path
}

func (fs *fileServer) hitCount(path string) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.hits[path]
}

// archiveTempDir points the temporary files of the process (the spooled archives)
// at a directory of the test and returns it.
func archiveTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	return dir
}

func mustEmptyDir(t *testing.T, dir string) {
	t.Helper()
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("spooled files left behind: %v", left)
	}
}

// withArchiveLimits changes the archive limits of the servers the test
// starts after it.
func withArchiveLimits(t *testing.T, mod func(*archiveLimits)) {
	t.Helper()
	saved := defaultArchiveLimits
	mod(&defaultArchiveLimits)
	t.Cleanup(func() { defaultArchiveLimits = saved })
}

// mustShards returns the decompressed shards of a run.
func mustShards(t *testing.T, b *store.Bucket, runID string) [][]byte {
	t.Helper()
	m, err := b.ReadManifest(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, s := range m.Shards {
		p, err := b.ReadAll(context.Background(), store.ShardKey(runID, s.Name))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, testutil.Gunzip(t, p))
	}
	return out
}

func equalShards(got, want [][]byte) bool {
	return slices.EqualFunc(got, want, bytes.Equal)
}

func TestUpload_ArchiveURL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spool := archiveTempDir(t)
	origin := newFileServer(t)
	_, addr, b := startUploadServer(t, ctx, func(c *ServerConfig) { c.UploadOrigins = []string{origin.URL} })
	plain0, plain1 := testShard(t, 0), testShard(t, 1)
	gz1 := testutil.Gzip(t, plain1)

	// Reports in nested directories, plain and gzip, among files that are
	// not taken.
	nested := origin.put("/artifacts/nested.zip", mustZip(t,
		zipEntry{name: "chromium/"},
		zipEntry{name: "chromium/1/wpt_report_1.json", data: plain0},
		zipEntry{name: "chromium/2/wpt_report_2.json.gz", data: gz1, hdr: store0},
		zipEntry{name: "chromium/wpt_screenshot.txt", data: []byte("sha1:… data:image/png;base64,…")},
		zipEntry{name: "logs/wpt_report.txt", data: []byte("log")},
		zipEntry{name: "WPT_REPORT.json", data: []byte("not a report: the pattern is case-sensitive")},
		zipEntry{name: "wpt_report.json.orig", data: []byte("not a report")},
		zipEntry{name: "chromium/wpt_report", data: []byte("not a report")},
	))
	resp, body := postForm(t, ctx, addr, "runner", "s3cret", []formPart{
		field("archive_url", nested),
		field("labels", "gha"),
	})
	got := mustCreated(t, resp, body)
	if shards := mustShards(t, b, got.RunID); !equalShards(shards, [][]byte{plain0, plain1}) {
		t.Errorf("run %s: %d shards, want the archive's two reports in order", got.RunID, len(shards))
	}
	m, err := b.ReadManifest(ctx, got.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := b.ReadAll(ctx, store.ShardKey(got.RunID, m.Shards[1].Name)); err != nil || !bytes.Equal(p, gz1) {
		t.Errorf("gzip entry not stored byte for byte (%v)", err)
	}
	if want := []string{"gha", "runner"}; !slices.Equal(m.Labels, want) {
		t.Errorf("labels: got %v, want %v", m.Labels, want)
	}
	if feedEntry(t, addr, got.FeedEntry) == nil {
		t.Errorf("feed has no entry %s", got.FeedEntry)
	}

	// Repeated archive_url fields: one shard per report, archive after
	// archive (one zip per GitHub Actions artifact).
	a := origin.put("/artifacts/a.zip", mustZip(t, zipEntry{name: "wpt_report.json", data: plain0}))
	c := origin.put("/artifacts/c.zip", mustZip(t, zipEntry{name: "wpt_report.json", data: plain1}))
	resp, body = postForm(t, ctx, addr, "runner", "s3cret", []formPart{field("archive_url", a), field("archive_url", c)})
	got = mustCreated(t, resp, body)
	if shards := mustShards(t, b, got.RunID); !equalShards(shards, [][]byte{plain0, plain1}) {
		t.Errorf("two archives: %d shards, want one report from each", len(shards))
	}
	mustEmptyDir(t, spool)
}

func TestUpload_ArchiveRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	spool := archiveTempDir(t)
	origin, other := newFileServer(t), newFileServer(t)
	allow := func(c *ServerConfig) { c.UploadOrigins = []string{origin.URL} }
	_, addr, b := startUploadServer(t, ctx, allow)
	plain0, plain1 := testShard(t, 0), testShard(t, 1)
	report := zipEntry{name: "run/wpt_report.json", data: plain0}

	var many []zipEntry
	for i := range 10_001 {
		many = append(many, zipEntry{name: fmt.Sprintf("screenshots/%d.png", i), hdr: store0})
	}
	var longNames []zipEntry
	for i := range 70 {
		longNames = append(longNames, zipEntry{name: fmt.Sprintf("%d/%s", i, strings.Repeat("x", 60_000)), hdr: store0})
	}
	tests := []struct {
		name   string
		zip    []byte
		reason string // substring of the answer
	}{
		{"ZipBomb", mustZip(t, zipEntry{name: "wpt_report.json", data: make([]byte, 4<<20)}), // 4 MiB of zeros: ~1000:1
			`entry "wpt_report.json": expands `},
		{"DotDot", mustZip(t, report, zipEntry{name: "../../etc/wpt_report.json", data: plain1}),
			`entry "../../etc/wpt_report.json": ".." in the path`},
		{"DotDotInAnIgnoredFile", mustZip(t, report, zipEntry{name: "logs/../../../x.txt"}),
			`entry "logs/../../../x.txt": ".." in the path`},
		{"AbsolutePath", mustZip(t, zipEntry{name: "/tmp/wpt_report.json", data: plain0}),
			`entry "/tmp/wpt_report.json": absolute path`},
		{"Backslash", mustZip(t, zipEntry{name: `..\wpt_report.json`, data: plain0}),
			`backslash in the path`},
		{"DriveLetter", mustZip(t, zipEntry{name: "C:/wpt_report.json", data: plain0}),
			`drive letter in the path`},
		{"Encrypted", mustZip(t, zipEntry{name: "wpt_report.json", data: plain0, raw: true, hdr: func(h *zip.FileHeader) {
			h.Method, h.Flags = zip.Store, 0x1
			h.CRC32, h.CompressedSize64, h.UncompressedSize64 = crc32.ChecksumIEEE(plain0), uint64(len(plain0)), uint64(len(plain0))
		}}), `entry "wpt_report.json": encrypted`},
		{"Symlink", mustZip(t, zipEntry{name: "wpt_report.json", data: []byte("/etc/passwd"), hdr: func(h *zip.FileHeader) {
			h.SetMode(os.ModeSymlink | 0o777)
		}}), `entry "wpt_report.json": not a regular file`},
		{"Bzip2", mustZip(t, zipEntry{name: "wpt_report.json", data: plain0, raw: true, hdr: func(h *zip.FileHeader) {
			h.Method = 12
			h.CRC32, h.CompressedSize64, h.UncompressedSize64 = crc32.ChecksumIEEE(plain0), uint64(len(plain0)), uint64(len(plain0))
		}}), `compression method 12 not supported`},
		{"SizeLie", mustZip(t, zipEntry{name: "wpt_report.json", data: plain0, raw: true, hdr: func(h *zip.FileHeader) {
			h.Method = zip.Store
			h.CRC32, h.CompressedSize64, h.UncompressedSize64 = crc32.ChecksumIEEE(plain0), uint64(len(plain0)), 100
		}}), `entry "wpt_report.json": zip: not a valid zip file`},
		{"NoReport", mustZip(t, zipEntry{name: "logs/wpt_report.txt"}, zipEntry{name: "wpt_screenshot.txt"}),
			"no wpt_report*.json file among its 2 entries"},
		{"NotAZip", plain0, "not a zip archive"},
		{"TooManyEntries", mustZip(t, append(many, report)...), "more than 10000 entries"},
		{"LongListing", mustZip(t, append(longNames, report)...), "listing its entries takes more than 4194304 bytes"},
		{"InvalidReport", mustZip(t, zipEntry{name: "wpt_report.json", data: []byte(`{"results": [oops`)}),
			`report: shard "wpt_report.json in ` + origin.URL + `/InvalidReport.zip"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := origin.put("/"+tc.name+".zip", tc.zip)
			resp, body := postForm(t, ctx, addr, "runner", "s3cret", []formPart{field("archive_url", u)})
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), tc.reason) {
				t.Errorf("got %s %q, want 400 naming %q", resp.Status, body, tc.reason)
			}
			if tc.name == "ZipBomb" && !strings.Contains(string(body), "refused as a zip bomb") {
				t.Errorf("answer %q does not say zip bomb", body)
			}
			if keys := runObjects(t, b); len(keys) > 0 {
				t.Errorf("refused upload left %v", keys)
			}
			mustEmptyDir(t, spool)
		})
	}

	// Fetch failures answer as for result_url.
	for _, tc := range []struct{ name, url, reason string }{
		{"OriginNotAllowed", other.put("/a.zip", mustZip(t, report)), "upload: archive_url " + other.URL + "/a.zip: origin not allowed (see --upload-allow-origin)"},
		{"NotFound", origin.URL + "/missing.zip", "404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := postForm(t, ctx, addr, "runner", "s3cret", []formPart{field("archive_url", tc.url)})
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), tc.reason) {
				t.Errorf("got %s %q, want 400 naming %q", resp.Status, body, tc.reason)
			}
		})
	}
	if n := other.hitCount("/a.zip"); n > 0 {
		t.Errorf("an archive on a refused origin was fetched %d times", n)
	}

	// Archives count against --max-upload with the request.
	_, smallAddr, _ := startUploadServer(t, ctx, func(c *ServerConfig) { allow(c); c.MaxUpload = 64 << 10 })
	big := origin.put("/big.zip", mustZip(t, zipEntry{name: "wpt_report.json", data: plain0, hdr: store0}))
	if resp, body := postForm(t, ctx, smallAddr, "runner", "s3cret", []formPart{field("archive_url", big)}); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("archive over --max-upload: got %s %q, want 413", resp.Status, body)
	}
	mustEmptyDir(t, spool)

	// Declared sizes: of one entry, and of all the upload's reports.
	withArchiveLimits(t, func(l *archiveLimits) { l.entry = int64(len(plain0)) - 1 })
	_, entryAddr, _ := startUploadServer(t, ctx, allow)
	withArchiveLimits(t, func(l *archiveLimits) { l.entry, l.total = 1<<30, int64(len(plain0)+len(plain1))-1 })
	_, totalAddr, _ := startUploadServer(t, ctx, allow)
	two := origin.put("/two.zip", mustZip(t, zipEntry{name: "a/wpt_report.json", data: plain0}, zipEntry{name: "b/wpt_report.json", data: plain1}))
	for _, tc := range []struct{ name, addr, reason string }{
		{"EntryTooLarge", entryAddr, fmt.Sprintf(`entry "a/wpt_report.json": expands to %d bytes, more than %d`, len(plain0), len(plain0)-1)},
		{"TotalTooLarge", totalAddr, fmt.Sprintf("expand to more than %d bytes in all", len(plain0)+len(plain1)-1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := postForm(t, ctx, tc.addr, "runner", "s3cret", []formPart{field("archive_url", two)})
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), tc.reason) {
				t.Errorf("got %s %q, want 400 naming %q", resp.Status, body, tc.reason)
			}
		})
	}
}

// TestUpload_Precedence checks that one source of reports is taken, as
// wpt.fyi's receiver takes it: files, else result_url, else archive_url;
// the others are neither merged nor fetched.
func TestUpload_Precedence(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	origin, other := newFileServer(t), newFileServer(t)
	_, addr, b := startUploadServer(t, ctx, func(c *ServerConfig) { c.UploadOrigins = []string{origin.URL} })
	plain0, plain1 := testShard(t, 0), testShard(t, 1)
	resultURL := origin.put("/r.json", plain1)
	archiveURL := origin.put("/a.zip", mustZip(t, zipEntry{name: "wpt_report.json", data: plain1}))
	azureZip := mustZip(t, zipEntry{name: "results/wpt_report.json", data: plain0}, zipEntry{name: "results/wpt_report_2.json", data: plain1})
	azureURL := origin.put("/web-platform-tests/wpt/_apis/build/builds/42/artifacts", azureZip) +
		"?artifactName=results&api-version=5.0&%24format=zip"
	refused := other.put("/r.json", plain1)

	tests := []struct {
		name    string
		parts   []formPart
		want    [][]byte
		fetched []string // paths of origin fetched
	}{
		{"FilesWin", []formPart{field("result_url", resultURL), field("archive_url", archiveURL), resultFile("a.json", plain0)},
			[][]byte{plain0}, nil},
		{"FilesWinOverARefusedURL", []formPart{resultFile("a.json", plain0), field("result_url", refused), field("archive_url", "file:///etc/passwd")},
			[][]byte{plain0}, nil},
		{"ResultURLWinsOverArchiveURL", []formPart{field("archive_url", archiveURL), field("result_url", resultURL)},
			[][]byte{plain1}, []string{"/r.json"}},
		{"AzureArtifactAsResultURL", []formPart{field("result_url", azureURL), field("result_url", resultURL)},
			[][]byte{plain0, plain1}, []string{"/web-platform-tests/wpt/_apis/build/builds/42/artifacts"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := map[string]int{}
			for _, p := range []string{"/r.json", "/a.zip", "/web-platform-tests/wpt/_apis/build/builds/42/artifacts"} {
				before[p] = origin.hitCount(p)
			}
			resp, body := postForm(t, ctx, addr, "runner", "s3cret", tc.parts)
			got := mustCreated(t, resp, body)
			if shards := mustShards(t, b, got.RunID); !equalShards(shards, tc.want) {
				t.Errorf("%d shards, not the ones of the winning source", len(shards))
			}
			for p, n := range before {
				if fetched := origin.hitCount(p) > n; fetched != slices.Contains(tc.fetched, p) {
					t.Errorf("%s fetched: %v, want %v", p, fetched, !fetched)
				}
			}
		})
	}
	if n := other.hitCount("/r.json"); n > 0 {
		t.Errorf("an ignored URL on a refused origin was fetched")
	}
}

// TestUpload_QueryString checks that the metadata fields are read from the
// query string too, in the precedence of Go's Request.FormValue, with which
// wpt.fyi's receiver reads them.
func TestUpload_QueryString(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	origin := newFileServer(t)
	_, addr, b := startUploadServer(t, ctx, func(c *ServerConfig) { c.UploadOrigins = []string{origin.URL} })
	plain0 := testShard(t, 0)
	resultURL := origin.put("/r.json", plain0)

	multipartReq := func(query string, parts ...formPart) *http.Request {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		if err := writeForm(mw, parts); err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, addr+UploadPath+query, &body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", mw.FormDataContentType())
		return req
	}
	urlencodedReq := func(query string, form url.Values) *http.Request {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, addr+UploadPath+query, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req
	}
	tests := []struct {
		name    string
		req     *http.Request
		labels  []string
		product string
	}{
		{"MultipartQueryOnly", multipartReq("?labels=q1,q2&browser_name=firefox", resultFile("a.json", plain0)),
			[]string{"q1", "q2", "runner"}, "firefox"},
		// FormValue: the query string before a multipart body.
		{"MultipartQueryFirst", multipartReq("?labels=q", resultFile("a.json", plain0), field("labels", "b"), field("browser_name", "firefox")),
			[]string{"q", "runner"}, "firefox"},
		{"URLEncodedQueryOnly", urlencodedReq("?labels=q&browser_name=firefox", url.Values{"result_url": {resultURL}}),
			[]string{"q", "runner"}, "firefox"},
		// FormValue: an urlencoded body before the query string.
		{"URLEncodedBodyFirst", urlencodedReq("?labels=q&browser_name=safari", url.Values{"result_url": {resultURL}, "labels": {"b"}, "browser_name": {"firefox"}}),
			[]string{"b", "runner"}, "firefox"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, tc.req, "runner", "s3cret")
			got := mustCreated(t, resp, body)
			m, err := b.ReadManifest(ctx, got.RunID)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(m.Labels, tc.labels) || m.Product != tc.product {
				t.Errorf("labels %v, product %q; want %v, %q", m.Labels, m.Product, tc.labels, tc.product)
			}
		})
	}

	// As on wpt.fyi, URLs come from the body only (PostForm).
	n := origin.hitCount("/r.json")
	resp, body := do(t, multipartReq("?result_url="+url.QueryEscape(resultURL)+"&archive_url=x", field("labels", "x")), "runner", "s3cret")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "no result_file") || origin.hitCount("/r.json") != n {
		t.Errorf("URLs in the query string: got %s %q, want 400, nothing fetched", resp.Status, body)
	}
}

// wptFyiCreateRun sends a run as wpt.fyi's receiver client does
// (api/receiver/client/client.go, CreateRun), rewritten here: an
// application/x-www-form-urlencoded body of revision (when sha is set), the
// repeated result_url, screenshot_url and archive_url fields, labels joined
// with commas (when not nil) and callback_url, with Basic credentials. Like
// it, it reads the answer and fails on a status of 300 or more, nothing
// else. (The stored client.go predates archive_url; its field is the one the
// receiver reads, api/receiver/receive_results.go, and its place in the
// arguments that of the GitHub Actions caller, api/ghactions/notify.go, and
// of client_test.go.)
func wptFyiCreateRun(ctx context.Context, uploadURL, versionedHost, sha, username, password string,
	resultURLs, screenshotURLs, archiveURLs, labels []string) error {
	payload := make(url.Values)
	if sha != "" {
		payload.Add("revision", sha)
	}
	for _, u := range resultURLs {
		payload.Add("result_url", u)
	}
	for _, u := range screenshotURLs {
		payload.Add("screenshot_url", u)
	}
	for _, u := range archiveURLs {
		payload.Add("archive_url", u)
	}
	if labels != nil {
		payload.Add("labels", strings.Join(labels, ","))
	}
	payload.Add("callback_url", fmt.Sprintf("https://%s/api/results/create", versionedHost))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uploadURL, strings.NewReader(payload.Encode()))
	if err != nil {
		return err
	}
	req.SetBasicAuth(username, password)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: time.Minute}).Do(req)
	if err != nil {
		return err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("API error: HTTP %v: %s", resp.StatusCode, string(respBody))
	}
	return nil
}

// feedRun returns the run of the subscription document labelled label, or
// nil.
func feedRun(t *testing.T, addr, label string) *feed.Run {
	t.Helper()
	_, body := get(t, addr, testBase+"/feed.atom")
	f, err := feed.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range f.Entries {
		if e.Run != nil && slices.Contains(e.Run.Labels, label) {
			return e.Run
		}
	}
	return nil
}

// TestUpload_WptFyiClient sends runs as wpt.fyi's integrations do, through
// its client's request: the run must be accepted (a 2xx is all the client
// checks) and appear in the feed.
func TestUpload_WptFyiClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	origin := newFileServer(t)
	_, addr, b := startUploadServer(t, ctx, func(c *ServerConfig) { c.UploadOrigins = []string{origin.URL} })
	plain0, plain1 := testShard(t, 0), testShard(t, 1)
	var report struct {
		RunInfo struct {
			Revision string `json:"revision"`
		} `json:"run_info"`
	}
	if err := json.Unmarshal(plain0, &report); err != nil {
		t.Fatal(err)
	}
	sha := report.RunInfo.Revision

	// GitHub Actions: one archive per artifact (api/ghactions/notify.go).
	gha := []string{
		origin.put("/repos/web-platform-tests/wpt/actions/artifacts/1/zip", mustZip(t, zipEntry{name: "wpt_report.json", data: plain0}, zipEntry{name: "wpt_screenshot.txt"})),
		origin.put("/repos/web-platform-tests/wpt/actions/artifacts/2/zip", mustZip(t, zipEntry{name: "wpt_report.json", data: plain1})),
	}
	// Azure Pipelines: the artifact's zip as the one result_url
	// (api/azure/webhook.go).
	azure := origin.put("/web-platform-tests/wpt/_apis/build/builds/7/artifacts",
		mustZip(t, zipEntry{name: "results/wpt_report.json", data: plain0}, zipEntry{name: "results/wpt_report_2.json", data: plain1})) +
		"?artifactName=results&api-version=5.0&%24format=zip"
	// Runners posting report URLs.
	urls := []string{origin.put("/0.json.gz", testutil.Gzip(t, plain0)), origin.put("/1.json", plain1)}

	for _, tc := range []struct {
		name                string
		result, shots, arch []string
		label               string
		shards              int
	}{
		{"GitHubActions", nil, nil, gha, "gha-master", 2},
		{"AzurePipelines", []string{azure}, nil, nil, "azure-master", 2},
		{"ResultURLs", urls, []string{origin.URL + "/screenshots.db.gz"}, nil, "urls", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := wptFyiCreateRun(ctx, addr+UploadPath, "20261201t000000-dot-wpt-fyi.example", sha, "runner", "s3cret",
				tc.result, tc.shots, tc.arch, []string{tc.label})
			if err != nil {
				t.Fatalf("CreateRun: %v", err)
			}
			run := feedRun(t, addr, tc.label)
			if run == nil {
				t.Fatalf("no run labelled %s in the feed", tc.label)
			}
			if len(run.Shards) != tc.shards || run.Revision != sha || !slices.Contains(run.Labels, "runner") {
				t.Errorf("run %+v, want %d shards at %s, labelled runner", run, tc.shards, sha)
			}
			if shards := mustShards(t, b, run.ID); !equalShards(shards, [][]byte{plain0, plain1}) {
				t.Errorf("the run's shards are not the reports sent")
			}
		})
	}
	if origin.hitCount("/screenshots.db.gz") > 0 {
		t.Errorf("screenshot_url fetched")
	}

	// Its errors are the endpoint's statuses.
	err := wptFyiCreateRun(ctx, addr+UploadPath, "h", sha, "runner", "wrong", nil, nil, gha, nil)
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Errorf("wrong password: got %v, want HTTP 401", err)
	}
}
