package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/ingester"
	"github.com/wptfeed/wptfeed/cmd/internal/publisher"
	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/internal/testutil"
	"github.com/wptfeed/wptfeed/store"
	"github.com/wptfeed/wptfeed/testdata"
)

const revision = "24278ab61781de72ed363b866ae6b50b86822b27"

type command interface {
	SetArgs([]string)
	ExecuteContext(context.Context) error
}

func publisherCmd(o, e io.Writer) command { return publisher.NewCommand(o, e) }
func ingesterCmd(o, e io.Writer) command  { return ingester.NewCommand(o, e) }

func exec(t *testing.T, ctx context.Context, newCmd func(io.Writer, io.Writer) command, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	c := newCmd(&out, &errb)
	c.SetArgs(args)
	err := c.ExecuteContext(ctx)
	return out.String(), errb.String(), err
}

// writeFixture copies an embedded fixture to dir and returns its path.
func writeFixture(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, filepath.Base(name))
	if err := os.WriteFile(p, testdata.Read(name), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func gzipFile(t *testing.T, src string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := src + ".gz"
	if err := os.WriteFile(dst, testutil.Gzip(t, data), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

type summaryEntry struct {
	S string `json:"s"`
	C [2]int `json:"c"`
}

func readGzipJSON(t *testing.T, path string, v any) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if err := json.NewDecoder(zr).Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	p, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(p, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func productID(prefix string, reports ...[]byte) string {
	h := sha1.New()
	for _, r := range reports {
		h.Write(r)
	}
	return prefix + "-" + hex.EncodeToString(h.Sum(nil))[:10]
}

func TestEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	raw, out := filepath.Join(tmp, "raw"), filepath.Join(tmp, "out")
	in := t.TempDir()

	chrome := writeFixture(t, in, "reports/chrome.json")
	ff1 := gzipFile(t, writeFixture(t, in, "reports/firefox-1.json"))
	ff2 := writeFixture(t, in, "reports/firefox-2.json")

	// 1. Uploads: one plain single-shard run, one run of two shards (one
	// gzip, one plain) with a label of the uploader's.
	chromeID, stderr, err := exec(t, ctx, publisherCmd, "upload", "--bucket", raw, chrome)
	if err != nil {
		t.Fatalf("upload chrome: %v\n%s", err, stderr)
	}
	chromeID = strings.TrimSpace(chromeID)
	if !store.ValidRunID(chromeID) {
		t.Fatalf("upload printed %q, want a run id alone", chromeID)
	}
	ffID, stderr, err := exec(t, ctx, publisherCmd, "upload", "--bucket", "file://"+raw, "--label", "e2e", ff1, ff2)
	if err != nil {
		t.Fatalf("upload firefox: %v\n%s", err, stderr)
	}
	ffID = strings.TrimSpace(ffID)
	if ffID <= chromeID {
		t.Errorf("run ids %q then %q do not sort by upload time", chromeID, ffID)
	}
	// The shards are stored byte for byte (gzip'd when they came plain).
	for i, src := range []string{ff1, ff2} {
		got := readStored(t, filepath.Join(raw, filepath.FromSlash(store.ShardKey(ffID, store.ShardName(i)))))
		want := testdata.Read([]string{"reports/firefox-1.json", "reports/firefox-2.json"}[i])
		if !bytes.Equal(got, want) {
			t.Errorf("shard %d of %s (%s): stored bytes differ from the upload", i, ffID, src)
		}
	}
	ff1Bytes, _ := os.ReadFile(ff1)
	if got, _ := os.ReadFile(filepath.Join(raw, filepath.FromSlash(store.ShardKey(ffID, store.ShardName(0))))); !bytes.Equal(got, ff1Bytes) {
		t.Errorf("gzip shard was not stored byte for byte")
	}

	// A bad file is refused with its name, exit status non-zero, nothing written.
	bad := filepath.Join(in, "bad.json")
	os.WriteFile(bad, []byte(`{"run_info": {}, "results": [}`), 0o644)
	before := listFiles(t, raw)
	_, _, err = exec(t, ctx, publisherCmd, "upload", "--bucket", raw, bad)
	if err == nil || !strings.Contains(err.Error(), "bad.json") {
		t.Errorf("upload of a broken report: err = %v, want an error naming bad.json", err)
	}
	if after := listFiles(t, raw); !slices.Equal(before, after) {
		t.Errorf("refused upload wrote files: %v", diff(before, after))
	}

	// 2. An invalid run written straight into the documented layout, as
	// another tool (gsutil, aws s3 cp) would: shards first, manifest last.
	badID := "20200101T000000Z-othertool"
	dir := filepath.Join(raw, "runs", "20200101", badID)
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "report.json.gz"), testutil.Gzip(t, []byte("this is not JSON")), 0o644)
	os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"shards": [{"name": "report.json.gz"}]}`), 0o644)

	// 3. The publisher serves the feed of all three runs.
	srv, err := publisher.NewServer(ctx, publisher.ServerConfig{Bucket: raw, Addr: "127.0.0.1:0", ScanInterval: time.Second, Author: "test"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go srv.Run(sctx)
	feedURL := srv.URL() + "/feed.atom"
	// The old-dated run is found by a full scan (Run starts one in the
	// background; do one now so the feed is complete before we read it).
	if err := srv.Scan(ctx, true); err != nil {
		t.Fatal(err)
	}

	client := feed.NewClient(feed.ClientConfig{})
	res, err := client.Fetch(ctx, feedURL, feed.Validators{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range res.Feed.Entries {
		ids = append(ids, e.Run.ID)
	}
	slices.Sort(ids)
	if want := []string{badID, chromeID, ffID}; !slices.Equal(ids, want) {
		t.Fatalf("feed lists runs %v, want %v", ids, want)
	}

	// 4. The ingester ingests everything once.
	stdout, stderr, err := exec(t, ctx, ingesterCmd, "run", "--feed", feedURL, "--out", out, "--once", "--results-base-url", "https://results.example/")
	if err != nil {
		t.Fatalf("ingester run --once: %v\nstdout: %s\nstderr: %s", err, stdout, stderr)
	}

	chromePID := productID("chrome-131.0.6778.85-linux-24.04", testdata.Read("reports/chrome.json"))
	ffPID := productID("firefox-133.0-linux-24.04", testdata.Read("reports/firefox-1.json"), testdata.Read("reports/firefox-2.json"))
	wantSummaries := map[string]map[string]summaryEntry{
		chromePID: {
			"/dom/nodes/Node-cloneNode.html":                          {"O", [2]int{1, 2}},
			"/css/css-flexbox/flex-001.html":                          {"P", [2]int{0, 0}},
			"/fetch/api/request/request-init.any.html?include=a#frag": {"T", [2]int{1, 3}},
			"/html/semantics/forms/input.html":                        {"E", [2]int{0, 0}},
		},
		ffPID: {
			"/dom/nodes/Node-cloneNode.html":                          {"O", [2]int{2, 2}},
			"/css/css-flexbox/flex-001.html":                          {"F", [2]int{0, 0}},
			"/fetch/api/request/request-init.any.html?include=a#frag": {"O", [2]int{2, 3}},
			"/html/semantics/forms/input.html":                        {"C", [2]int{0, 0}},
		},
	}
	for pid, want := range wantSummaries {
		var got map[string]summaryEntry
		readGzipJSON(t, filepath.Join(out, revision, pid+"-summary_v2.json.gz"), &got)
		if len(got) != len(want) {
			t.Errorf("%s: %d tests, want %d", pid, len(got), len(want))
		}
		for path, w := range want {
			if got[path] != w {
				t.Errorf("%s: %s = %+v, want %+v", pid, path, got[path], w)
			}
		}
		// One per-test file per test, holding the raw result object.
		for path := range want {
			var obj map[string]any
			readGzipJSON(t, filepath.Join(out, revision, pid, filepath.FromSlash(path)), &obj)
			if obj["test"] != path {
				t.Errorf("per-test file of %s holds test %v", path, obj["test"])
			}
		}
	}

	checkTestRun := func(runID, pid, browser, version string, start, end int64, labels []string) {
		t.Helper()
		var tr records.TestRun
		readJSON(t, filepath.Join(out, "testruns", runID+".json"), &tr)
		var st records.Status
		readJSON(t, filepath.Join(out, "status", runID+".json"), &st)
		if st.State != "VALID" || st.Code != "" || st.RunID != runID {
			t.Errorf("status of %s = %+v, want VALID", runID, st)
		}
		if tr.ID <= 0 || tr.ID != st.TestRunID {
			t.Errorf("TestRun id %d (status says %d), want a positive id", tr.ID, st.TestRunID)
		}
		if tr.BrowserName != browser || tr.BrowserVersion != version || tr.OSName != "linux" || tr.OSVersion != "24.04" {
			t.Errorf("TestRun %s = %+v", runID, tr)
		}
		if tr.Revision != revision[:10] || tr.FullRevisionHash != revision {
			t.Errorf("TestRun revision %q / %q", tr.Revision, tr.FullRevisionHash)
		}
		if want := "https://results.example/" + revision + "/" + pid + "-summary_v2.json.gz"; tr.ResultsURL != want {
			t.Errorf("results_url = %q, want %q", tr.ResultsURL, want)
		}
		if !strings.HasPrefix(tr.RawResultsURL, "https://results.example/") {
			t.Errorf("raw_results_url = %q, want it under the results base URL", tr.RawResultsURL)
		}
		if tr.TimeStart.UnixMilli() != start || tr.TimeEnd.UnixMilli() != end {
			t.Errorf("TestRun times %v..%v, want %d..%d", tr.TimeStart, tr.TimeEnd, start, end)
		}
		upload, _ := store.RunTime(runID)
		if !tr.CreatedAt.Equal(upload) {
			t.Errorf("created_at %v, want the upload time %v", tr.CreatedAt, upload)
		}
		for _, l := range labels {
			if !slices.Contains(tr.Labels, l) {
				t.Errorf("labels %v lack %q", tr.Labels, l)
			}
		}
	}
	checkTestRun(chromeID, chromePID, "chrome", "131.0.6778.85", 1732700000000, 1732700600000, []string{"chrome", "stable"})
	checkTestRun(ffID, ffPID, "firefox", "133.0", 1732700000000, 1732700700000, []string{"firefox", "nightly", "experimental", "e2e"})

	var st records.Status
	readJSON(t, filepath.Join(out, "status", badID+".json"), &st)
	if st.State != "INVALID" || st.Code != "not_json" || !strings.Contains(st.Error, "report.json.gz") {
		t.Errorf("status of the broken run = %+v, want INVALID not_json naming its shard", st)
	}
	if _, err := os.Stat(filepath.Join(out, "testruns", badID+".json")); !os.IsNotExist(err) {
		t.Errorf("the invalid run has a TestRun record (err %v)", err)
	}

	// The same feed into another bucket with --per-test-layout=packed:
	// each valid run's per-test files are in its pack, none as files.
	packedOut := t.TempDir()
	if _, stderr, err := exec(t, ctx, ingesterCmd, "run", "--feed", feedURL, "--out", packedOut, "--once", "--per-test-layout", "packed"); err != nil {
		t.Fatalf("ingester run --once --per-test-layout=packed: %v\n%s", err, stderr)
	}
	for id, pid := range map[string]string{chromeID: chromePID, ffID: ffPID} {
		var pst records.Status
		readJSON(t, filepath.Join(packedOut, "status", id+".json"), &pst)
		if pst.State != "VALID" || pst.PerTest != records.LayoutPacked {
			t.Errorf("status of %s with --per-test-layout=packed = %+v", id, pst)
		}
		var idx struct {
			Tests [][3]any `json:"tests"`
		}
		readGzipJSON(t, filepath.Join(packedOut, filepath.FromSlash(store.TestPackIndexKey(revision, pid))), &idx)
		if len(idx.Tests) != len(wantSummaries[pid]) {
			t.Errorf("pack index of %s lists %d tests, want %d", id, len(idx.Tests), len(wantSummaries[pid]))
		}
		if files := perTestFiles(t, filepath.Join(packedOut, revision, pid)); len(files) > 0 {
			t.Errorf("run %s has per-test files as well as a pack: %q", id, files)
		}
	}

	// Metrics across runs: each run's own, each product's series, and the
	// revision's aligned set (chrome and firefox; one stable, one
	// experimental, so only the "all" filter aligns them).
	for _, id := range []string{chromeID, ffID} {
		if _, err := os.Stat(filepath.Join(out, "metrics", "runs", id+".json")); err != nil {
			t.Errorf("run metrics of %s: %v", id, err)
		}
	}
	for _, product := range []string{"chrome", "firefox"} {
		var series struct {
			Product string `json:"product"`
			Points  []struct {
				RunID string             `json:"run_id"`
				Rates map[string]float64 `json:"rates"`
			} `json:"points"`
		}
		readJSON(t, filepath.Join(out, "metrics", "series", product+".json"), &series)
		if series.Product != product || len(series.Points) != 1 || series.Points[0].Rates["/"] <= 0 {
			t.Errorf("series of %s = %+v", product, series)
		}
	}
	alignedPath := filepath.Join(out, "metrics", "aligned", revision, "all.json")
	if p, err := os.ReadFile(alignedPath); err != nil {
		t.Errorf("aligned metrics: %v", err)
	} else {
		// Interop per test: floor(1000·min passing/subtests) or 1000 for a
		// PASS without subtests in every browser: 500, 0, 333, 0 → 208.
		if !strings.Contains(string(p), `"dir":"/","tests":4`) || !strings.Contains(string(p), `"interop":208`) {
			t.Errorf("aligned metrics lack the root's interop 208:\n%.600s", p)
		}
	}
	for _, filter := range []string{"stable", "experimental"} {
		if _, err := os.Stat(filepath.Join(out, "metrics", "aligned", revision, filter+".json")); !os.IsNotExist(err) {
			t.Errorf("aligned %s metrics exist with one product (err %v)", filter, err)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(out, "state", "metrics-pending", "*")); len(m) != 0 {
		t.Errorf("pending metrics markers left: %v", m)
	}

	// 5. A second pass ingests nothing again.
	snap := snapshot(t, out)
	if _, stderr, err := exec(t, ctx, ingesterCmd, "run", "--feed", feedURL, "--out", out, "--once"); err != nil {
		t.Fatalf("second --once: %v\n%s", err, stderr)
	}
	if got := snapshot(t, out); !maps(snap, got) {
		t.Errorf("a second pass changed the out bucket")
	}

	// 6. A run uploaded while the server runs shows within 2 seconds.
	newID, _, err := exec(t, ctx, publisherCmd, "upload", "--bucket", raw, chrome)
	if err != nil {
		t.Fatal(err)
	}
	newID = strings.TrimSpace(newID)
	deadline := time.Now().Add(2 * time.Second)
	for {
		res, err := client.Fetch(ctx, feedURL, feed.Validators{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Feed.Entries) > 0 && res.Feed.Entries[0].Run.ID == newID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s not in the feed 2 s after its upload", newID)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The same report again is a DUPLICATE of the first chrome run, as
	// wpt.fyi decides it, and gets no outputs of its own.
	if _, stderr, err := exec(t, ctx, ingesterCmd, "run", "--feed", feedURL, "--out", out, "--once"); err != nil {
		t.Fatalf("third --once: %v\n%s", err, stderr)
	}
	readJSON(t, filepath.Join(out, "status", newID+".json"), &st)
	if st.State != "DUPLICATE" || !strings.Contains(st.Error, chromeID) {
		t.Errorf("status of a re-upload = %+v, want DUPLICATE of %s", st, chromeID)
	}
	if _, err := os.Stat(filepath.Join(out, "testruns", newID+".json")); !os.IsNotExist(err) {
		t.Errorf("a duplicate run has a TestRun record (err %v)", err)
	}
}

func readStored(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	p, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p
}

func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	return files
}

func diff(a, b []string) []string {
	var d []string
	for _, x := range b {
		if !slices.Contains(a, x) {
			d = append(d, x)
		}
	}
	return d
}

// snapshot maps every file under dir to its modification time and size.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, p := range listFiles(t, dir) {
		fi, err := os.Stat(p)
		if err == nil {
			m[p] = fmt.Sprint(fi.ModTime(), fi.Size())
		}
	}
	return m
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
