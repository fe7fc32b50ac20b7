package publisher

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/internal/testutil"
	"github.com/wptfeed/wptfeed/report/reportgen"
	"github.com/wptfeed/wptfeed/store"
)

// testUsers are the uploaders of the upload tests.
var testUsers = map[string]string{"runner": "s3cret", "other": "pw2"}

// startUploadServer starts a publisher accepting uploads from testUsers on
// a file bucket; mod adjusts its configuration. It returns the server, its
// address and the bucket, opened for the test's own checks.
func startUploadServer(t *testing.T, ctx context.Context, mod func(*ServerConfig)) (*Server, string, *store.Bucket) {
	t.Helper()
	s, addr, b, _ := startFaultyUploadServer(t, ctx, mod)
	return s, addr, b
}

// faultHook is the storage-fault function of a server's bucket, which a
// test may change while the server runs (nil: no faults).
type faultHook struct {
	f atomic.Pointer[func(op, key string) error]
}

func (h *faultHook) set(f func(op, key string) error) { h.f.Store(&f) }

func (h *faultHook) call(op, key string) error {
	if p := h.f.Load(); p != nil && *p != nil {
		return (*p)(op, key)
	}
	return nil
}

// startFaultyUploadServer is startUploadServer with a fault hook on the
// server's bucket.
func startFaultyUploadServer(t *testing.T, ctx context.Context, mod func(*ServerConfig)) (*Server, string, *store.Bucket, *faultHook) {
	t.Helper()
	hook := &faultHook{}
	dir := t.TempDir()
	creds := filepath.Join(dir, "users.htpasswd")
	mustWriteCredentials(t, creds, testUsers)
	cfg := ServerConfig{
		Bucket: "file://" + filepath.Join(dir, "raw"), Addr: "127.0.0.1:0", BaseURL: testBase,
		ScanInterval: 50 * time.Millisecond, FullScan: time.Hour, PageSize: 100, Author: "test",
		Credentials: creds,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewServer(ctx, cfg, slog.New(slog.DiscardHandler), store.WithFaults(hook.call))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	b, err := store.Open(ctx, cfg.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-done; s.Close(); b.Close() })
	return s, "http://" + s.Addr(), b, hook
}

// formPart is one part of a multipart/form-data body.
type formPart struct {
	name string                // form field
	file string                // file name (curl -F name=@file); "" for a plain field
	data []byte                // the part's bytes, or
	gen  func(io.Writer) error // a generator of them
}

func field(name, value string) formPart { return formPart{name: name, data: []byte(value)} }

func resultFile(file string, data []byte) formPart {
	return formPart{name: "result_file", file: file, data: data}
}

// writeForm writes parts as a multipart body to w and closes it.
func writeForm(mw *multipart.Writer, parts []formPart) error {
	for _, p := range parts {
		var w io.Writer
		var err error
		if p.file != "" {
			w, err = mw.CreateFormFile(p.name, p.file)
		} else {
			w, err = mw.CreateFormField(p.name)
		}
		if err != nil {
			return err
		}
		if p.gen != nil {
			err = p.gen(w)
		} else {
			_, err = w.Write(p.data)
		}
		if err != nil {
			return err
		}
	}
	return mw.Close()
}

// postForm POSTs parts to the upload endpoint as curl -F does, streaming
// the body through a pipe (no Content-Length), with Basic credentials
// unless user is "".
func postForm(t *testing.T, ctx context.Context, addr, user, password string, parts []formPart) (*http.Response, []byte) {
	t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() { pw.CloseWithError(writeForm(mw, parts)) }()
	defer pr.CloseWithError(errors.New("request over")) // the server may stop reading early
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, addr+UploadPath, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return do(t, req, user, password)
}

func do(t *testing.T, req *http.Request, user, password string) (*http.Response, []byte) {
	t.Helper()
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// testShard returns shard i of a small generated two-shard report, plain.
func testShard(t testing.TB, i int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := reportgen.Write(&b, reportgen.Config{Seed: 7, Scale: 0.002, Shards: 2}, i); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// runObjects lists every object under runs/ (shards and manifests).
func runObjects(t testing.TB, b *store.Bucket) []string {
	t.Helper()
	var keys []string
	err := b.List(context.Background(), store.RunsPrefix, "", func(o store.Object) bool {
		keys = append(keys, o.Key)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// mustCreated decodes a 201 answer.
func mustCreated(t *testing.T, resp *http.Response, body []byte) uploadResponse {
	t.Helper()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("got %s %q, want 201 Created", resp.Status, body)
	}
	var got uploadResponse
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("answer %q: %v", body, err)
	}
	if !store.ValidRunID(got.RunID) || got.FeedEntry != EntryID(got.RunID) ||
		got.Manifest != testBase+"/runs/"+got.RunID+"/manifest.json" || resp.Header.Get("Location") != got.Manifest {
		t.Fatalf("answer %+v (Location %q) does not name the run", got, resp.Header.Get("Location"))
	}
	return got
}

// feedEntry returns the subscription document's entry id, or nil.
func feedEntry(t *testing.T, addr, id string) *feed.Entry {
	t.Helper()
	_, body := get(t, addr, testBase+"/feed.atom")
	f, err := feed.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := range f.Entries {
		if f.Entries[i].ID == id {
			return &f.Entries[i]
		}
	}
	return nil
}

func TestUpload_TwoShards(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, addr, b := startUploadServer(t, ctx, nil)
	plain0, plain1 := testShard(t, 0), testShard(t, 1)
	gz0, gz1 := testutil.Gzip(t, plain0), testutil.Gzip(t, plain1)
	rev := strings.Repeat("ab12", 10)
	tests := []struct {
		name   string
		shards [2][]byte
	}{
		{"Plain", [2][]byte{plain0, plain1}},
		{"Gzip", [2][]byte{gz0, gz1}},
		{"Mixed", [2][]byte{plain0, gz1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Fields before and after the files, as curl sends them in
			// command-line order.
			resp, body := postForm(t, ctx, addr, "runner", "s3cret", []formPart{
				field("labels", "experimental, nightly-ci"),
				resultFile("shard1.json", tc.shards[0]),
				resultFile("shard2.json.gz", tc.shards[1]),
				field("browser_name", "firefox"),
				field("browser_version", "140.0a1"),
				field("os_name", "windows"),
				field("os_version", "11"),
				field("revision", rev),
				field("callback_url", "https://ignored.example/"),
			})
			got := mustCreated(t, resp, body)

			m, err := b.ReadManifest(ctx, got.RunID)
			if err != nil {
				t.Fatal(err)
			}
			if m.Product != "firefox" || m.BrowserVersion != "140.0a1" || m.OS != "windows" || m.OSVersion != "11" || m.Revision != rev {
				t.Errorf("manifest metadata %+v, want the overrides", m)
			}
			if want := []string{"experimental", "nightly-ci", "runner"}; !slices.Equal(m.Labels, want) {
				t.Errorf("manifest labels: got %v, want %v", m.Labels, want)
			}
			if len(m.Shards) != 2 || m.Shards[0].Name != "shard-000.json.gz" || m.Shards[1].Name != "shard-001.json.gz" {
				t.Fatalf("manifest shards %+v", m.Shards)
			}
			for i, want := range [][]byte{plain0, plain1} {
				p, err := b.ReadAll(ctx, store.ShardKey(got.RunID, m.Shards[i].Name))
				if err != nil {
					t.Fatal(err)
				}
				if int64(len(p)) != m.Shards[i].Size {
					t.Errorf("shard %d: %d bytes, manifest says %d", i, len(p), m.Shards[i].Size)
				}
				if !bytes.Equal(testutil.Gunzip(t, p), want) {
					t.Errorf("shard %d does not hold the uploaded report", i)
				}
				if bytes.Equal(tc.shards[i][:2], []byte{0x1f, 0x8b}) && !bytes.Equal(p, tc.shards[i]) {
					t.Errorf("gzip shard %d not stored byte for byte", i)
				}
			}

			// Published at once, with the overrides and labels.
			e := feedEntry(t, addr, got.FeedEntry)
			if e == nil {
				t.Fatalf("feed has no entry %s", got.FeedEntry)
			}
			if e.Run.Product != "firefox" || e.Run.Revision != rev || !slices.Contains(e.Run.Labels, "experimental") || len(e.Run.Shards) != 2 {
				t.Errorf("feed entry run %+v", e.Run)
			}
		})
	}
}

func TestUpload_Refused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, addr, b := startUploadServer(t, ctx, nil)
	_, smallAddr, smallB := startUploadServer(t, ctx, func(c *ServerConfig) { c.MaxUpload = 64 << 10 })
	good := testShard(t, 0)
	var big bytes.Buffer
	if err := reportgen.Write(&big, reportgen.Config{Seed: 3, Scale: 0.01, Shards: 1}, 0); err != nil {
		t.Fatal(err)
	}
	noRevision := bytes.Replace(good, []byte(`"revision"`), []byte(`"revisjon"`), 1)
	tests := []struct {
		name       string
		addr       string
		user, pass string
		parts      []formPart
		code       int
		reason     string // substring of the answer
	}{
		{name: "NoCredentials", addr: addr, parts: []formPart{resultFile("a.json", good)}, code: 401},
		{name: "WrongPassword", addr: addr, user: "runner", pass: "guess", parts: []formPart{resultFile("a.json", good)}, code: 401},
		{name: "UnknownUser", addr: addr, user: "nobody", pass: "s3cret", parts: []formPart{resultFile("a.json", good)}, code: 401},
		{name: "NotJSON", addr: addr, user: "runner", pass: "s3cret",
			parts: []formPart{resultFile("a.json", good), resultFile("b.json", []byte("{\"results\": [oops"))},
			code:  400, reason: `report: shard "b.json": line 1, column 14`},
		{name: "NoRevision", addr: addr, user: "other", pass: "pw2",
			parts: []formPart{resultFile("a.json.gz", testutil.Gzip(t, noRevision)), field("labels", "x")},
			code:  400, reason: "revision"},
		{name: "BadRevisionOverride", addr: addr, user: "runner", pass: "s3cret",
			parts: []formPart{resultFile("a.json", good), field("revision", "abc")},
			code:  400, reason: "report: "},
		{name: "TruncatedGzip", addr: addr, user: "runner", pass: "s3cret",
			parts: []formPart{resultFile("a.json.gz", testutil.Gzip(t, good)[:200])},
			code:  400, reason: `shard "a.json.gz"`},
		{name: "NoShards", addr: addr, user: "runner", pass: "s3cret", parts: []formPart{field("labels", "x")}, code: 400, reason: "no result_file"},
		{name: "ResultURLNotAllowed", addr: addr, user: "runner", pass: "s3cret",
			parts: []formPart{field("result_url", "http://127.0.0.1:1/report.json")},
			code:  400, reason: "--upload-allow-origin"},
		{name: "TooLarge", addr: smallAddr, user: "runner", pass: "s3cret",
			parts: []formPart{field("labels", "x"), resultFile("big.json", big.Bytes())}, code: 413},
		{name: "TooLargeSecondShard", addr: smallAddr, user: "runner", pass: "s3cret",
			parts: []formPart{resultFile("a.json.gz", testutil.Gzip(t, good)), resultFile("big.json", big.Bytes())}, code: 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := postForm(t, ctx, tc.addr, tc.user, tc.pass, tc.parts)
			t.Logf("%s: %s", resp.Status, bytes.TrimSpace(body))
			if resp.StatusCode != tc.code {
				t.Fatalf("got %s %q, want %d", resp.Status, body, tc.code)
			}
			if !strings.Contains(string(body), tc.reason) {
				t.Errorf("answer %q does not give the reason %q", body, tc.reason)
			}
			if tc.code == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("401 without a Basic challenge: %q", resp.Header.Get("WWW-Authenticate"))
			}
			// Nothing visible, nothing left behind.
			for _, bb := range []*store.Bucket{b, smallB} {
				if keys := runObjects(t, bb); len(keys) > 0 {
					t.Errorf("refused upload left %v", keys)
				}
			}
		})
	}

	// A declared length over the limit is refused before any byte is read.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, smallAddr+UploadPath, bytes.NewReader(make([]byte, 65<<10)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "multipart/form-data; boundary=x")
	if resp, body := do(t, req, "runner", "s3cret"); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("Content-Length over the limit: got %s %q, want 413", resp.Status, body)
	}
}

func TestUpload_Off(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, addr := startServer(t, ctx, "file://"+t.TempDir())
	resp, body := postForm(t, ctx, addr, "runner", "s3cret", []formPart{resultFile("a.json", testShard(t, 0))})
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("without --credentials: got %s %q, want 404", resp.Status, body)
	}

	// --upload-allow-origin without --credentials is a configuration error.
	_, err := NewServer(ctx, ServerConfig{Bucket: "file://" + t.TempDir(), Addr: "127.0.0.1:0", UploadOrigins: []string{"https://a.example"}}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "--credentials") {
		t.Errorf("origins without credentials: got %v, want an error naming --credentials", err)
	}
}

// TestUpload_Disconnect cuts the connection halfway through the second
// shard: the first shard was stored, and must be deleted; no manifest.
func TestUpload_Disconnect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, addr, b, faults := startFaultyUploadServer(t, ctx, nil)
	var mu sync.Mutex
	var ops []string
	faults.set(func(op, key string) error {
		if strings.HasPrefix(key, store.RunsPrefix) {
			mu.Lock()
			ops = append(ops, op+" "+key[strings.LastIndexByte(key, '/')+1:])
			mu.Unlock()
		}
		return nil
	})
	var second bytes.Buffer
	if err := reportgen.Write(&second, reportgen.Config{Seed: 3, Scale: 0.02, Shards: 1}, 0); err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if err := writeForm(mw, []formPart{resultFile("a.json", testShard(t, 0)), resultFile("b.json", second.Bytes())}); err != nil {
		t.Fatal(err)
	}
	half := body.Len() / 2
	if secondStart := bytes.Index(body.Bytes(), []byte(`filename="b.json"`)); secondStart > half {
		t.Fatalf("the first half does not reach the second shard")
	}

	conn, err := net.Dial("tcp", strings.TrimPrefix(addr, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		UploadPath, strings.TrimPrefix(addr, "http://"), basicAuth("runner", "s3cret"), mw.FormDataContentType(), body.Len())
	if _, err := conn.Write(body.Bytes()[:half]); err != nil {
		t.Fatal(err)
	}
	// Wait until the server is storing the second shard, then hang up.
	waitFor(t, 10*time.Second, "the second shard's write", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(ops, "write shard-001.json.gz")
	})
	conn.Close()

	waitFor(t, 10*time.Second, "the first shard's deletion", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(ops, "delete shard-000.json.gz")
	})
	mu.Lock()
	t.Logf("bucket operations: %v", ops)
	if slices.Contains(ops, "write "+store.ManifestName) {
		t.Errorf("a manifest was written: %v", ops)
	}
	mu.Unlock()
	if keys := runObjects(t, b); len(keys) > 0 {
		t.Errorf("aborted upload left %v", keys)
	}
	if n := s.Count(); n != 0 {
		t.Errorf("%d runs published, want 0", n)
	}
	// No temp file of the cut-off write either.
	entries, _ := filepath.Glob(filepath.Join(b.Dir(), "runs", "*", "*", "*"))
	if len(entries) > 0 {
		t.Errorf("files left in the bucket: %v", entries)
	}
}

func TestUpload_BucketUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, addr, b, faults := startFaultyUploadServer(t, ctx, nil)
	shard := testShard(t, 0)
	for _, tc := range []struct{ name, op, key string }{
		{"StoreShard", "write", "shard-001.json.gz"},
		{"ReadBack", "read", "shard-000.json.gz"},
		{"Commit", "write", store.ManifestName},
	} {
		t.Run(tc.name, func(t *testing.T) {
			faults.set(func(op, key string) error {
				if op == tc.op && strings.HasSuffix(key, "/"+tc.key) {
					return errors.New("injected: service unavailable")
				}
				return nil
			})
			defer faults.set(nil)
			resp, body := postForm(t, ctx, addr, "runner", "s3cret", []formPart{
				resultFile("a.json", shard), resultFile("b.json.gz", testutil.Gzip(t, testShard(t, 1))),
			})
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("got %s %q, want 503", resp.Status, body)
			}
			if keys := runObjects(t, b); len(keys) > 0 {
				t.Errorf("failed upload left %v", keys)
			}
		})
	}
}

func basicAuth(user, password string) string {
	req, _ := http.NewRequest("GET", "http://x/", nil)
	req.SetBasicAuth(user, password)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestUpload_Large streams a generated ~300 MB plain report through the
// endpoint and checks that the heap stays bounded: no shard is held in
// memory, on either side.
func TestUpload_Large(t *testing.T) {
	if testing.Short() {
		t.Skip("300 MB upload; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, addr, b := startUploadServer(t, ctx, nil)

	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	var sent atomic.Int64
	start := time.Now()
	resp, body := postForm(t, ctx, addr, "runner", "s3cret", []formPart{
		field("labels", "big"),
		{name: "result_file", file: "big.json", gen: func(w io.Writer) error {
			cw := &countWriter{w: w, n: &sent}
			return reportgen.Write(cw, reportgen.Config{Seed: 1, Scale: 1.5, Shards: 1}, 0)
		}},
	})
	close(stop)
	<-sampled
	got := mustCreated(t, resp, body)
	elapsed := time.Since(start)
	m, err := b.ReadManifest(ctx, got.RunID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d MiB uploaded in %v, stored as %d MiB gzip; peak HeapInuse %d MiB",
		sent.Load()>>20, elapsed.Round(time.Millisecond), m.Shards[0].Size>>20, peak.Load()>>20)
	if sent.Load() < 250<<20 {
		t.Errorf("sent only %d bytes", sent.Load())
	}
	if p := peak.Load(); p > 150<<20 {
		t.Errorf("peak HeapInuse %d MiB, want under 150 MiB", p>>20)
	}
}

type countWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func TestUpload_CredentialsReload(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, addr, _ := startUploadServer(t, ctx, nil)
	// Authenticated requests without a shard are answered 400; others 401.
	status := func(user, password string) int {
		resp, _ := postForm(t, ctx, addr, user, password, []formPart{field("labels", "x")})
		return resp.StatusCode
	}
	if got := status("newbie", "pw3"); got != 401 {
		t.Fatalf("unknown user: got %d, want 401", got)
	}
	users := map[string]string{"runner": "s3cret", "newbie": "pw3"}
	mustWriteCredentials(t, s.cfg.Credentials, users)
	start := time.Now()
	waitFor(t, 3*time.Second, "the new user to be accepted", func() bool { return status("newbie", "pw3") == 400 })
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("new user accepted after %v, want ≤ 2s", d)
	}
	if got := status("other", "pw2"); got != 401 {
		t.Errorf("removed user: got %d, want 401", got)
	}

	// An unusable file refuses everybody (503), until it is fixed.
	if err := writeFileAtomic(s.cfg.Credentials, "runner:$apr1$x$y\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, "the invalid file to be noticed", func() bool { return status("runner", "s3cret") == 503 })
	mustWriteCredentials(t, s.cfg.Credentials, users)
	waitFor(t, 3*time.Second, "the fixed file to be loaded", func() bool { return status("runner", "s3cret") == 400 })
}

func writeFileAtomic(path, content string) error {
	if err := os.WriteFile(path+".new", []byte(content), 0o600); err != nil {
		return err
	}
	return os.Rename(path+".new", path)
}

func TestUpload_ResultURL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	plain0, gz1 := testShard(t, 0), testutil.Gzip(t, testShard(t, 1))
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(plain0) }))
	defer other.Close()
	var fetched atomic.Int32
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		switch r.URL.Path {
		case "/a/shard0.json":
			w.Write(plain0)
		case "/a/shard1.json.gz":
			w.Write(gz1)
		case "/elsewhere":
			http.Redirect(w, r, other.URL+"/x.json", http.StatusFound)
		case "/moved":
			http.Redirect(w, r, "/a/shard0.json", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer origin.Close()
	_, addr, b := startUploadServer(t, ctx, func(c *ServerConfig) { c.UploadOrigins = []string{origin.URL + "/"} })

	// multipart/form-data (curl -F) and urlencoded (curl -d) forms.
	resp, body := postForm(t, ctx, addr, "runner", "s3cret", []formPart{
		field("result_url", origin.URL+"/a/shard0.json"),
		field("result_url", origin.URL+"/a/shard1.json.gz"),
		field("labels", "fetched"),
	})
	got := mustCreated(t, resp, body)
	m, err := b.ReadManifest(ctx, got.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Shards) != 2 || !slices.Contains(m.Labels, "fetched") {
		t.Fatalf("manifest %+v, want 2 shards and label fetched", m)
	}
	p, err := b.ReadAll(ctx, store.ShardKey(got.RunID, m.Shards[1].Name))
	if err != nil || !bytes.Equal(p, gz1) {
		t.Errorf("fetched gzip shard not stored byte for byte (%v)", err)
	}

	form := url.Values{"result_url": {origin.URL + "/moved"}, "labels": {"curl-d"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, addr+UploadPath, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body = do(t, req, "runner", "s3cret")
	got = mustCreated(t, resp, body)
	if m, err := b.ReadManifest(ctx, got.RunID); err != nil || len(m.Shards) != 1 || !slices.Contains(m.Labels, "curl-d") {
		t.Errorf("urlencoded upload: manifest %+v, %v", m, err)
	}

	before := len(runObjects(t, b))
	for _, tc := range []struct {
		name, url string
		code      int
		reason    string
	}{
		{"OtherOrigin", other.URL + "/x.json", 400, "origin not allowed (see --upload-allow-origin)"},
		{"RedirectToOtherOrigin", origin.URL + "/elsewhere", 400, "origin not allowed"},
		{"NotFound", origin.URL + "/a/missing.json", 400, "404"},
		{"NotHTTP", "file:///etc/passwd", 400, "origin not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := fetched.Load()
			// A result_url alone: with a result_file it would be ignored,
			// as wpt.fyi's receiver ignores it (TestUpload_Precedence).
			resp, body := postForm(t, ctx, addr, "runner", "s3cret", []formPart{
				field("labels", "x"), field("result_url", tc.url),
			})
			if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.reason) {
				t.Errorf("got %s %q, want %d naming %q", resp.Status, body, tc.code, tc.reason)
			}
			if tc.code == 400 && strings.Contains(tc.reason, "origin") && !strings.Contains(tc.name, "Redirect") && fetched.Load() != n {
				t.Errorf("a refused origin was fetched")
			}
			if got := len(runObjects(t, b)); got != before {
				t.Errorf("refused upload left %d objects", got-before)
			}
		})
	}
}
