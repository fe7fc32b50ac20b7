package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/publisher"
	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/internal/testutil"
	"github.com/wptfeed/wptfeed/report/reportgen"
	"github.com/wptfeed/wptfeed/store"
	"github.com/wptfeed/wptfeed/store/storetest"
	"github.com/wptfeed/wptfeed/testdata"
)

// TestBackends_EndToEnd runs the pipeline once per cloud, with the raw and
// the dashboard bucket on that cloud's emulator: `publisher upload`, a run
// written into the raw layout by "another tool", `publisher serve`,
// `ingester run --once`, then the outputs read back through the cloud.
func TestBackends_EndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(testing.TB) *storetest.Backend
	}{
		{"s3", storetest.StartS3},
		{"gcs", storetest.StartGCS},
		{"azure", storetest.StartAzurite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := tc.start(t) // sets the backend's environment for store.Open
			testBackendEndToEnd(t, be.NewBucketURL(t), be.NewBucketURL(t))
		})
	}
}

func testBackendEndToEnd(t *testing.T, rawURL, outURL string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	raw, err := store.Open(ctx, rawURL)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	out, err := store.Open(ctx, outURL)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()

	// 1. A runner uploads with the publisher command: one gzip shard, one
	// plain (stored gzip-compressed).
	in := t.TempDir()
	chrome := writeFixture(t, in, "reports/chrome.json")
	ff1 := gzipFile(t, writeFixture(t, in, "reports/firefox-1.json"))
	ff2 := writeFixture(t, in, "reports/firefox-2.json")
	chromeID, stderr, err := exec(t, ctx, publisherCmd, "upload", "--bucket", rawURL, chrome)
	if err != nil {
		t.Fatalf("upload chrome: %v\n%s", err, stderr)
	}
	chromeID = strings.TrimSpace(chromeID)
	ffID, stderr, err := exec(t, ctx, publisherCmd, "upload", "--bucket", rawURL, "--label", "e2e", ff1, ff2)
	if err != nil {
		t.Fatalf("upload firefox: %v\n%s", err, stderr)
	}
	ffID = strings.TrimSpace(ffID)
	// Stored byte for byte: the server did not decompress the gzip shards.
	for i, name := range []string{"reports/firefox-1.json", "reports/firefox-2.json"} {
		if got := readGzipObject(t, raw, store.ShardKey(ffID, store.ShardName(i))); !bytes.Equal(got, testdata.Read(name)) {
			t.Errorf("shard %d of %s: stored bytes differ from the upload", i, ffID)
		}
	}

	// 2. Another tool writes an invalid run into the documented layout,
	// shards first, manifest last.
	badID := "20200101T000000Z-othertool"
	if err := raw.WriteBytes(ctx, store.ShardKey(badID, "report.json.gz"), testutil.Gzip(t, []byte("this is not JSON")), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := raw.WriteBytes(ctx, store.ManifestKey(badID), []byte(`{"shards": [{"name": "report.json.gz"}]}`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}

	// 3. publisher serve on the raw bucket; a full scan finds the old run.
	srv, feedURL, _ := startPublisher(t, ctx, rawURL, publisher.ServerConfig{ScanInterval: 100 * time.Millisecond})
	if err := srv.Scan(ctx, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "three runs published", func() bool { return srv.Count() == 3 })

	// 4. ingester run --once into the out bucket.
	stdout, stderr, err := exec(t, ctx, ingesterCmd, "run", "--feed", feedURL, "--out", outURL, "--once", "--results-base-url", "https://results.example/")
	if err != nil {
		t.Fatalf("ingester run --once: %v\nstdout: %s\nstderr: %s", err, stdout, stderr)
	}

	// 5. The outputs, read through the cloud.
	for _, run := range []struct {
		id, pid string
		tests   int
	}{
		{chromeID, productID("chrome-131.0.6778.85-linux-24.04", testdata.Read("reports/chrome.json")), 4},
		{ffID, productID("firefox-133.0-linux-24.04", testdata.Read("reports/firefox-1.json"), testdata.Read("reports/firefox-2.json")), 4},
	} {
		var st records.Status
		readJSONObject(t, out, store.StatusKey(run.id), &st)
		if st.State != "VALID" || st.RunID != run.id || st.ProductID != run.pid {
			t.Errorf("status of %s = %+v, want VALID with product id %s", run.id, st, run.pid)
		}
		var summary map[string]summaryEntry
		if err := json.Unmarshal(readGzipObject(t, out, store.SummaryKey(revision, run.pid)), &summary); err != nil {
			t.Fatalf("summary of %s: %v", run.id, err)
		}
		if len(summary) != run.tests {
			t.Errorf("summary of %s: %d tests, want %d", run.id, len(summary), run.tests)
		}
		// The per-test file of a test path with "?" and "#".
		odd := "/fetch/api/request/request-init.any.html?include=a#frag"
		var obj map[string]any
		if err := json.Unmarshal(readGzipObject(t, out, store.TestKey(revision, run.pid, odd)), &obj); err != nil || obj["test"] != odd {
			t.Errorf("per-test file of %s in %s: %v, %v", odd, run.id, obj["test"], err)
		}
		var tr records.TestRun
		readJSONObject(t, out, store.TestRunKey(run.id), &tr)
		if tr.ID <= 0 || tr.ID != st.TestRunID || tr.FullRevisionHash != revision {
			t.Errorf("TestRun of %s = %+v", run.id, tr)
		}
	}
	var st records.Status
	readJSONObject(t, out, store.StatusKey(badID), &st)
	if st.State != "INVALID" || st.Code != "not_json" || !strings.Contains(st.Error, "report.json.gz") {
		t.Errorf("status of the broken run = %+v, want INVALID not_json naming its shard", st)
	}
	if ok, err := out.Exists(ctx, store.TestRunKey(badID)); ok || err != nil {
		t.Errorf("the invalid run has a TestRun record (%v, %v)", ok, err)
	}

	// 6. A second pass writes nothing.
	before := listObjects(t, out)
	if _, stderr, err := exec(t, ctx, ingesterCmd, "run", "--feed", feedURL, "--out", outURL, "--once"); err != nil {
		t.Fatalf("second --once: %v\n%s", err, stderr)
	}
	after := listObjects(t, out)
	if len(after) != len(before) {
		t.Errorf("a second pass changed the number of objects from %d to %d", len(before), len(after))
	}
	for k, v := range after {
		if before[k] != v {
			t.Errorf("a second pass changed %s", k)
		}
	}

	// 7. A run processed with the packed layout: one test read back with a
	// range read of the pack, as the README tells readers to.
	small, err := reportgen.WriteFiles(in, "small", reportgen.Config{Seed: 9, Scale: 0.01, Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err = exec(t, ctx, ingesterCmd, append([]string{"process", "--out", outURL, "--per-test-layout", "packed"}, small...)...)
	if err != nil {
		t.Fatalf("process --per-test-layout=packed: %v\n%s%s", err, stdout, stderr)
	}
	packedID := strings.TrimSuffix(strings.Fields(stdout)[2], ":")
	readJSONObject(t, out, store.StatusKey(packedID), &st)
	if st.State != "VALID" || st.PerTest != records.LayoutPacked {
		t.Fatalf("status of the packed run = %+v", st)
	}
	var idx struct {
		Tests [][3]any `json:"tests"`
	}
	if err := json.Unmarshal(readGzipObject(t, out, store.TestPackIndexKey(st.Revision, st.ProductID)), &idx); err != nil || len(idx.Tests) != st.Tests {
		t.Fatalf("pack index: %d tests (%v), want %d", len(idx.Tests), err, st.Tests)
	}
	e := idx.Tests[len(idx.Tests)/2]
	test, off, n := e[0].(string), int64(e[1].(float64)), int64(e[2].(float64))
	rr, err := out.NewRangeReader(ctx, store.TestPackKey(st.Revision, st.ProductID), off, n)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Close()
	zr, err := gzip.NewReader(rr)
	if err != nil {
		t.Fatalf("range %d+%d of the pack: %v", off, n, err)
	}
	var res map[string]any
	if err := json.NewDecoder(zr).Decode(&res); err != nil || strings.TrimSpace(fmt.Sprint(res["test"])) != test {
		t.Errorf("range %d+%d of the pack holds %v (%v), want test %s", off, n, res["test"], err, test)
	}
}

// listObjects maps every key of b to its size and modification time.
func listObjects(t *testing.T, b *store.Bucket) map[string]string {
	t.Helper()
	m := map[string]string{}
	if err := b.List(context.Background(), "", "", func(o store.Object) bool {
		m[o.Key] = fmt.Sprint(o.ModTime, o.Size)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return m
}

func readGzipObject(t *testing.T, b *store.Bucket, key string) []byte {
	t.Helper()
	r, err := b.NewReader(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	zr, err := gzip.NewReader(r)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	p, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return p
}

func readJSONObject(t *testing.T, b *store.Bucket, key string, v any) {
	t.Helper()
	p, err := b.ReadAll(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(p, v); err != nil {
		t.Fatalf("%s: %v", key, err)
	}
}
