package publisher

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/store"
)

// logBuffer is a slog destination a test can read while servers write.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// lines returns the log lines that contain every one of subs.
func (l *logBuffer) lines(subs ...string) []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		ok := line != ""
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// newScanServer opens a publisher on url without running it: the test
// scans by hand. log may be nil.
func newScanServer(t *testing.T, ctx context.Context, url string, pageSize int, log *slog.Logger, opts ...store.Option) *Server {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s, err := NewServer(ctx, ServerConfig{Bucket: url, Addr: "127.0.0.1:0", BaseURL: testBase, ScanInterval: 50 * time.Millisecond,
		FullScan: time.Hour, PageSize: pageSize, Author: "test"}, log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// serveHTTP answers one GET from s's handler, with no network.
func serveHTTP(s *Server, path string) (int, []byte) {
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.Bytes()
}

// feedRunIDs reads /feed.atom from s and returns its runs' ids, failing
// the test unless it answers 200 with a document valid against RFC 4287's
// schema.
func feedRunIDs(t *testing.T, s *Server) []string {
	t.Helper()
	code, body := serveHTTP(s, "/feed.atom")
	if code != http.StatusOK {
		t.Fatalf("GET /feed.atom: got %d %q, want 200", code, body)
	}
	checkAtom(t, body)
	f, err := feed.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range f.Entries {
		ids = append(ids, e.Run.ID)
	}
	return ids
}

func mustWriteKey(t *testing.T, b *store.Bucket, key string, p []byte) {
	t.Helper()
	if err := b.WriteBytes(context.Background(), key, p, store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
}

// A manifest read while another tool is still writing it (cp is not
// atomic on a directory bucket) is retried on later scans, backing off to
// one read every four scans, with one warning, and published once it
// parses.
func TestServer_PartialManifestRetried(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, b := tempBucket(t, ctx)
	id := store.NewRunID(time.Now())
	if _, err := b.PutShard(ctx, id, "report.json.gz", strings.NewReader("report")); err != nil {
		t.Fatal(err)
	}
	full := []byte(`{"shards": [{"name": "report.json.gz"}], "product": "chrome"}` + "\n")
	mustWriteKey(t, b, store.ManifestKey(id), full[:20])

	var reads atomic.Int64
	count := func(op, key string) error {
		if op == "read" && key == store.ManifestKey(id) {
			reads.Add(1)
		}
		return nil
	}
	var logs logBuffer
	s := newScanServer(t, ctx, url, 100, logs.logger(), store.WithFaults(count))
	const scans = 20
	for range scans {
		if err := s.Scan(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Count(); n != 0 {
		t.Fatalf("a partial manifest was published: %d runs", n)
	}
	// Tried at scans 1, 2, 4, 8, 12, 16 and 20: never more than four
	// scans apart, and far fewer than one read per scan.
	if n := reads.Load(); n < scans/4 || n > scans/2 {
		t.Errorf("partial manifest read %d times in %d scans, want %d to %d", n, scans, scans/4, scans/2)
	}
	if w := logs.lines("level=WARN", id); len(w) != 1 {
		t.Errorf("got %d warnings about run %s, want 1:\n%s", len(w), id, logs.String())
	}

	// The tool finishes writing: published within four scans.
	mustWriteKey(t, b, store.ManifestKey(id), full)
	for i := 0; s.Count() == 0; i++ {
		if i == 4 {
			t.Fatalf("complete manifest not published after %d scans", i)
		}
		if err := s.Scan(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	if ids := feedRunIDs(t, s); len(ids) != 1 || ids[0] != id {
		t.Errorf("feed runs %v, want [%s]", ids, id)
	}
	if e := logs.lines("level=ERROR"); len(e) > 0 {
		t.Errorf("errors logged: %v", e)
	}
}

// A manifest is the commit: a run whose manifest names a shard that does
// not exist is published, with what the manifest says of that shard, so
// that the ingester records it INVALID (enclosure_missing) and the runner
// sees why.
func TestServer_MissingShardPublished(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, b := tempBucket(t, ctx)
	now := time.Now()
	partly, none := store.NewRunID(now.Add(-time.Second)), store.NewRunID(now)
	if _, err := b.PutShard(ctx, partly, "a.json.gz", strings.NewReader("12345")); err != nil {
		t.Fatal(err)
	}
	sum := strings.Repeat("0123456789abcdef", 4)
	mustWriteKey(t, b, store.ManifestKey(partly), []byte(`{"shards": [{"name": "a.json.gz"}, {"name": "b.json.gz", "size": 123, "sha256": "`+sum+`"}]}`))
	mustWriteKey(t, b, store.ManifestKey(none), []byte(`{"shards": [{"name": "gone.json.gz"}]}`))

	s := newScanServer(t, ctx, url, 100, nil)
	for range 3 {
		if err := s.Scan(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	code, body := serveHTTP(s, "/feed.atom")
	if code != http.StatusOK {
		t.Fatalf("GET /feed.atom: %d", code)
	}
	checkAtom(t, body)
	f, err := feed.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*feed.Entry{}
	for i := range f.Entries {
		got[f.Entries[i].Run.ID] = &f.Entries[i]
	}
	if len(got) != 2 || got[partly] == nil || got[none] == nil {
		t.Fatalf("feed runs %v, want %s and %s", got, partly, none)
	}
	// The sha256 of a.json.gz, which the manifest lacks, is derived from
	// its bytes (derive.go); b.json.gz keeps what the manifest says.
	want := []feed.Shard{{Name: "a.json.gz", Size: 5, SHA256: fmt.Sprintf("%x", sha256.Sum256([]byte("12345")))}, {Name: "b.json.gz", Size: 123, SHA256: sum}}
	if r := got[partly].Run; fmt.Sprint(r.Shards) != fmt.Sprint(want) {
		t.Errorf("shards %+v, want %+v", r.Shards, want)
	}
	if enc := got[partly].Enclosures(); len(enc) != 2 || enc[0].Length != 5 || enc[1].Length != 123 {
		t.Errorf("enclosures %+v, want lengths 5 and 123", enc)
	}
	// No size in the manifest and no object: no length.
	if enc := got[none].Enclosures(); len(enc) != 1 || enc[0].Length != 0 || got[none].Run.Shards[0].Size != 0 {
		t.Errorf("enclosures %+v, shards %+v; want one, without a length", enc, got[none].Run.Shards)
	}
	// The missing shard itself is 404, as the ingester expects.
	if code, _ := serveHTTP(s, "/runs/"+partly+"/b.json.gz"); code != http.StatusNotFound {
		t.Errorf("missing shard: got %d, want 404", code)
	}
	if code, _ := serveHTTP(s, "/runs/"+partly+"/a.json.gz"); code != http.StatusOK {
		t.Errorf("present shard: got %d, want 200", code)
	}
}

// A hand-written manifest whose values no feed can carry is not published,
// is reported once (log and /metrics), and never breaks the document.
func TestServer_InvalidManifestsRejected(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, b := tempBucket(t, ctx)
	bad := map[string]string{
		"sha256 not hex":         `{"shards": [{"name": "s.json", "sha256": "not hex"}]}`,
		"sha256 upper case":      `{"shards": [{"name": "s.json", "sha256": "` + strings.Repeat("ABCDEF0123456789", 4) + `"}]}`,
		"empty label":            `{"labels": ["ok", ""], "shards": [{"name": "s.json"}]}`,
		"blank label":            `{"product": "chrome", "labels": [" "], "shards": [{"name": "s.json"}]}`,
		"time_start year 0":      `{"time_start": "0000-06-01T00:00:00Z", "shards": [{"name": "s.json"}]}`,
		"uploaded year 0 in UTC": `{"uploaded": "0001-01-01T00:30:00+01:00", "shards": [{"name": "s.json"}]}`,
		"time_end after 9999":    `{"time_end": "9999-12-31T23:00:00-05:00", "shards": [{"name": "s.json"}]}`,
		"time not RFC 3339":      `{"time_end": "10000-01-01T00:00:00Z", "shards": [{"name": "s.json"}]}`,
		"control character":      `{"product": "chr\u0001ome", "shards": [{"name": "s.json"}]}`,
		"noncharacter":           `{"os": "linux\uffff", "shards": [{"name": "s.json"}]}`,
		"invalid UTF-8":          "{\"os_version\": \"\xff\", \"shards\": [{\"name\": \"s.json\"}]}",
		"too long":               `{"browser_version": "` + strings.Repeat("9", store.MaxManifestText+1) + `", "shards": [{"name": "s.json"}]}`,
		"negative size":          `{"shards": [{"name": "s.json", "size": -5}]}`,
		"wrong type":             `{"labels": "stable", "shards": [{"name": "s.json"}]}`,
	}
	now := time.Now()
	ids := map[string]string{}
	i := 0
	for name, m := range bad {
		id := store.NewRunID(now.Add(time.Duration(i) * time.Millisecond))
		i++
		ids[id] = name
		if _, err := b.PutShard(ctx, id, "s.json", strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
		mustWriteKey(t, b, store.ManifestKey(id), []byte(m))
	}
	good := store.NewRunID(now.Add(time.Second))
	putRun(t, b, good, 0)

	var logs logBuffer
	s := newScanServer(t, ctx, url, 100, logs.logger())
	for _, full := range []bool{false, false, true, false} {
		if err := s.Scan(ctx, full); err != nil {
			t.Fatal(err)
		}
	}
	if got := feedRunIDs(t, s); len(got) != 1 || got[0] != good {
		t.Errorf("feed runs %v, want only %s", got, good)
	}
	for id, name := range ids {
		if w := logs.lines("level=WARN", id); len(w) != 1 {
			t.Errorf("%s: got %d warnings about run %s, want 1", name, len(w), id)
		}
	}
	_, metrics := serveHTTP(s, "/metrics")
	if want := fmt.Sprintf("publisher_manifests_rejected_total %d\n", len(bad)); !bytes.Contains(metrics, []byte(want)) {
		t.Errorf("metrics lack %q", want)
	}
}

// An entry that cannot be encoded (here one an older replica published
// before these rules, forced past validation) is left out of the document
// with an error logged; the document is served.
func TestServer_UnencodableEntrySkipped(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, b := tempBucket(t, ctx)
	now := time.Now()
	first, second := store.NewRunID(now.Add(-time.Second)), store.NewRunID(now)
	putRun(t, b, first, 0)
	putRun(t, b, second, 1)
	var logs logBuffer
	s := newScanServer(t, ctx, url, 100, logs.logger())
	if err := s.Scan(ctx, false); err != nil {
		t.Fatal(err)
	}
	// Published as an older publisher would have: no validation.
	badID := store.NewRunID(now.Add(time.Minute))
	bad := &store.Manifest{RunID: badID, Uploaded: now, TimeStart: time.Date(0, 6, 1, 0, 0, 0, 0, time.UTC),
		Labels: []string{""}, Shards: []store.Shard{{Name: "s.json", SHA256: "not hex"}}}
	if _, err := s.idx.publish(ctx, bad); err != nil {
		t.Fatal(err)
	}
	got := feedRunIDs(t, s)
	if len(got) != 2 || got[0] != second || got[1] != first {
		t.Errorf("feed runs %v, want [%s %s]", got, second, first)
	}
	if e := logs.lines("level=ERROR", badID); len(e) != 1 {
		t.Errorf("got %d errors logged about run %s, want 1:\n%s", len(e), badID, logs.String())
	}
}

// writeReport writes a one-test report with the given run_info and extra
// top-level members and returns its path.
func writeReport(t *testing.T, dir, name, runInfo, extra string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	doc := `{"run_info": {` + runInfo + `}` + extra + `, "results": [{"test": "/a.html", "status": "OK", "subtests": []}]}`
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodRunInfo = `"product": "chrome", "browser_version": "131.0", "os": "linux", "revision": "24278ab61781de72ed363b866ae6b50b86822b27"`

// unencodableUploads are uploads whose values no feed or record can carry:
// refused at the door, naming the file.
var unencodableUploads = []struct {
	name           string
	runInfo, extra string
	label          string
	reason         string // in the refusal, besides the file name
}{
	{name: "TimeStartYear0", runInfo: goodRunInfo, extra: `, "time_start": -62150000000000`, reason: "time_start"},
	{name: "TimeEndAfter9999", runInfo: goodRunInfo, extra: `, "time_end": 253402300800000`, reason: "time_end"},
	{name: "ControlCharacter", runInfo: strings.Replace(goodRunInfo, `"linux"`, `"lin\u0007ux"`, 1), reason: "os"},
	{name: "Noncharacter", runInfo: goodRunInfo + `, "browser_channel": "\uffff"`, reason: "browser_channel"},
	{name: "TooLong", runInfo: goodRunInfo + `, "os_version": "` + strings.Repeat("1", store.MaxManifestText+1) + `"`, reason: "os_version"},
	{name: "BadLabel", runInfo: goodRunInfo, label: "a\x00b", reason: "label"},
}

func TestUpload_RefusesUnencodable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	bucket := filepath.Join(dir, "raw")
	for _, tc := range unencodableUploads {
		t.Run(tc.name, func(t *testing.T) {
			path := writeReport(t, dir, tc.name+".json", tc.runInfo, tc.extra)
			cfg := DefaultUploadConfig()
			cfg.Bucket, cfg.Files = bucket, []string{path}
			if tc.label != "" {
				cfg.Labels = []string{"ok", tc.label}
			}
			id, err := Upload(ctx, cfg, io.Discard)
			if err == nil {
				t.Fatalf("upload accepted as run %s, want it refused", id)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.name+".json") || !strings.Contains(msg, tc.reason) || strings.Contains(msg, "\n") {
				t.Errorf("refusal %q: want one line naming %s.json and %q", msg, tc.name, tc.reason)
			}
			b, err := store.Open(ctx, bucket)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if keys := runObjects(t, b); len(keys) > 0 {
				t.Errorf("refused upload left %v", keys)
			}
		})
	}
	// The same values, valid, are accepted.
	cfg := DefaultUploadConfig()
	cfg.Bucket, cfg.Files, cfg.Labels = bucket, []string{writeReport(t, dir, "good.json", goodRunInfo, `, "time_start": 1731527155173`)}, []string{"ok"}
	if _, err := Upload(ctx, cfg, io.Discard); err != nil {
		t.Fatal(err)
	}
}

func TestUpload_HTTPRefusesUnencodable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, addr, b := startUploadServer(t, ctx, nil)
	dir := t.TempDir()
	for _, tc := range unencodableUploads {
		t.Run(tc.name, func(t *testing.T) {
			p, err := os.ReadFile(writeReport(t, dir, "r.json", tc.runInfo, tc.extra))
			if err != nil {
				t.Fatal(err)
			}
			parts := []formPart{resultFile(tc.name+".json", p)}
			if tc.label != "" {
				parts = append(parts, field("labels", "ok,"+tc.label))
			}
			resp, body := postForm(t, ctx, addr, "runner", "s3cret", parts)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("got %s %q, want 400", resp.Status, body)
			}
			msg := strings.TrimSpace(string(body))
			if !strings.Contains(msg, tc.name+".json") || !strings.Contains(msg, tc.reason) || strings.Contains(msg, "\n") {
				t.Errorf("refusal %q: want one line naming %s.json and %q", msg, tc.name, tc.reason)
			}
			if keys := runObjects(t, b); len(keys) > 0 {
				t.Errorf("refused upload left %v", keys)
			}
		})
	}
	// Overrides are checked too.
	resp, body := postForm(t, ctx, addr, "runner", "s3cret", []formPart{
		resultFile("good.json", []byte(`{"run_info": {`+goodRunInfo+`}, "results": []}`)), field("browser_name", "fire\x1bfox"),
	})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "product") {
		t.Errorf("override with a control character: got %s %q, want 400 naming product", resp.Status, body)
	}
}
