package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/internal/testutil"
	"github.com/wptfeed/wptfeed/store"
	"github.com/wptfeed/wptfeed/store/storetest"
)

// wptfyiTestRun lists the fields of a TestRun as wpt.fyi documents them for
// /api/runs (web-platform-tests/wpt.fyi, api/README.md, "/api/runs" and
// "/api/runs/{id}", and shared/models.go's TestRun with its
// ProductAtRevision): no more, no less.
type wptfyiTestRun struct {
	ID               int64     `json:"id"`
	BrowserName      string    `json:"browser_name"`
	BrowserVersion   string    `json:"browser_version"`
	OSName           string    `json:"os_name"`
	OSVersion        string    `json:"os_version"`
	Revision         string    `json:"revision"`
	FullRevisionHash string    `json:"full_revision_hash"`
	ResultsURL       string    `json:"results_url"`
	CreatedAt        time.Time `json:"created_at"`
	TimeStart        time.Time `json:"time_start"`
	TimeEnd          time.Time `json:"time_end"`
	RawResultsURL    string    `json:"raw_results_url"`
	Labels           []string  `json:"labels"`
}

// wptfyiReport is what wpt.fyi's search cache reads of the report at
// raw_results_url (web-platform-tests/wpt.fyi,
// api/query/cache/index/index.go, HTTPReportLoader.Load: a plain http.Get,
// a 200 status, json.Unmarshal into results-analysis's
// metrics.TestResultsReport, and "results" must not be empty; IngestRun
// then reads each result's test, status and subtests). run_info decodes
// into a shared.ProductAtRevision.
type wptfyiReport struct {
	Results []*struct {
		Test     string  `json:"test"`
		Status   string  `json:"status"`
		Message  *string `json:"message"`
		Subtests []struct {
			Name    string  `json:"name"`
			Status  string  `json:"status"`
			Message *string `json:"message"`
		} `json:"subtests"`
	} `json:"results"`
	RunInfo struct {
		BrowserName      string `json:"browser_name"`
		BrowserVersion   string `json:"browser_version"`
		OSName           string `json:"os_name"`
		OSVersion        string `json:"os_version"`
		Revision         string `json:"revision"`
		FullRevisionHash string `json:"full_revision_hash"`
	} `json:"run_info"`
}

// encodeURIComponent is JavaScript's, as wpt.fyi's webapp applies it to
// the last segment of a test path (webapp components/path.js).
func encodeURIComponent(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// TestWptFyi_ReadsOurOutputs: what wpt.fyi's code does with our out bucket
// on S3, done by a client of our own written the way wpt.fyi's is: the
// TestRun record decodes strictly into the fields wpt.fyi documents;
// /api/runs decodes as wpt.fyi's client decodes it (unknown fields
// ignored); a plain net/http GET of results_url gets the summary as JSON
// (shared.FetchRunResultsJSON unmarshals the body as it comes); and the
// webapp's URL for the per-test file of a test with a query string, the
// last segment encodeURIComponent'd, finds the file; and a plain GET of
// raw_results_url gets the merged report, JSON, with the results wpt.fyi's
// search cache loads.
func TestWptFyi_ReadsOurOutputs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	be := storetest.StartS3(t)
	outURL := be.NewBucketURL(t)
	base := strings.TrimSuffix(be.ObjectURL(t, outURL, "x"), "/x")

	const query = "/WebCryptoAPI/derive_bits_keys/hkdf.https.any.html?1-1000"
	report := fmt.Appendf(nil, `{"run_info": {"product": "chrome", "browser_version": "131.0.6778.85", "os": "linux", "os_version": "24.04",
		"revision": "24278ab61781de72ed363b866ae6b50b86822b27", "browser_channel": "stable"},
		"time_start": 1732700000000, "time_end": 1732700100000,
		"results": [{"test": %q, "status": "OK", "subtests": [{"name": "a", "status": "PASS"}, {"name": "b", "status": "FAIL", "message": "x"}]},
		            {"test": "/dom/a.html", "status": "PASS", "subtests": []}]}`, query)
	in := filepath.Join(t.TempDir(), "report.json")
	if err := os.WriteFile(in, report, 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := exec(t, ctx, ingesterCmd, "process", "--out", outURL, "--results-base-url", base, "--label", "stable", in)
	if err != nil {
		t.Fatalf("ingester process: %v\n%s%s", err, stdout, stderr)
	}
	runID := strings.TrimSuffix(strings.Fields(stdout)[2], ":")

	// The TestRun record, strictly.
	out, err := store.Open(ctx, outURL)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	data, err := out.ReadAll(ctx, store.TestRunKey(runID))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var tr wptfyiTestRun
	if err := dec.Decode(&tr); err != nil {
		t.Fatalf("TestRun record does not decode strictly as wpt.fyi's: %v\n%s", err, data)
	}
	if tr.ID == 0 || tr.BrowserName != "chrome" || tr.Revision != "24278ab617" || !strings.HasPrefix(tr.ResultsURL, base+"/") {
		t.Errorf("TestRun = %+v", tr)
	}

	// /api/runs, as wpt.fyi's client reads it.
	var logs testutil.SyncBuffer
	addr := startServe(t, ctx, outURL, &logs)
	resp, err := http.Get("http://" + addr + "/api/runs?product=chrome")
	if err != nil {
		t.Fatal(err)
	}
	var runs []wptfyiTestRun
	err = json.NewDecoder(resp.Body).Decode(&runs)
	resp.Body.Close()
	if err != nil || len(runs) != 1 || runs[0].ID != tr.ID || runs[0].ResultsURL != tr.ResultsURL {
		t.Fatalf("/api/runs: %v, %+v; want the run %d", err, runs, tr.ID)
	}

	// results_url with a plain GET: JSON, as shared.FetchRunResultsJSON
	// unmarshals it.
	resp, err = http.Get(tr.ResultsURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var summary map[string]struct {
		S string `json:"s"`
		C []int  `json:"c"`
	}
	if err := json.Unmarshal(body, &summary); err != nil {
		t.Fatalf("GET results_url: %s: %v (%.20q)", resp.Status, err, body)
	}
	if s := summary[query]; s.S != "O" || len(s.C) != 2 || s.C[0] != 1 || s.C[1] != 2 {
		t.Errorf("summary of %s = %+v", query, s)
	}

	// The per-test file, at the URL wpt.fyi's webapp builds.
	dir, last := query[:strings.LastIndexByte(query, '/')+1], query[strings.LastIndexByte(query, '/')+1:]
	resultsBase := strings.TrimSuffix(tr.ResultsURL, "-summary_v2.json.gz")
	u := resultsBase + dir + encodeURIComponent(last)
	resp, err = http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	var test struct {
		Test     string `json:"test"`
		Status   string `json:"status"`
		Subtests []struct {
			Name, Status string
		} `json:"subtests"`
	}
	if err := json.Unmarshal(body, &test); err != nil || test.Test != query || len(test.Subtests) != 2 {
		t.Errorf("GET %s: %s, %v: %+v (%.40q)", u, resp.Status, err, test, body)
	}

	// raw_results_url with a plain GET, as wpt.fyi's search cache loads it.
	if !strings.HasPrefix(tr.RawResultsURL, base+"/") || !strings.HasSuffix(tr.RawResultsURL, "/report.json") {
		t.Errorf("raw_results_url = %q, want <sha>/<product id>/report.json under %s", tr.RawResultsURL, base)
	}
	resp, err = http.Get(tr.RawResultsURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET raw_results_url: %s, Content-Type %q; want 200 application/json", resp.Status, resp.Header.Get("Content-Type"))
	}
	var raw wptfyiReport
	if err := json.Unmarshal(body, &raw); err != nil || len(raw.Results) == 0 {
		t.Fatalf("raw_results_url: %v, %d results; wpt.fyi's loader needs results (%.40q)", err, len(raw.Results), body)
	}
	if len(raw.Results) != 2 || raw.Results[0].Test != query || raw.Results[0].Status != "OK" || len(raw.Results[0].Subtests) != 2 ||
		raw.Results[0].Subtests[1].Message == nil || *raw.Results[0].Subtests[1].Message != "x" || raw.Results[1].Test != "/dom/a.html" {
		t.Errorf("raw_results_url results: got %d, first %+v; want the report's two, in order", len(raw.Results), raw.Results[0])
	}
	if raw.RunInfo.BrowserVersion != "131.0.6778.85" || raw.RunInfo.OSVersion != "24.04" || raw.RunInfo.Revision != tr.FullRevisionHash {
		t.Errorf("raw_results_url run_info: %+v", raw.RunInfo)
	}
}

// perTestFiles lists the files under a run's per-test directory of a file
// bucket (<sha>/<product id>/) but its merged report, report.json.
func perTestFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel, _ := filepath.Rel(dir, path); !d.IsDir() && rel != store.RawResultsName {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return files
}

// startServe runs `ingester serve` on out at 127.0.0.1:0 until the test
// ends and returns its address.
func startServe(t *testing.T, ctx context.Context, out string, logs *testutil.SyncBuffer) string {
	t.Helper()
	c := ingesterCmd(io.Discard, logs)
	c.SetArgs([]string{"serve", "--out", out, "--addr", "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.ExecuteContext(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	re := regexp.MustCompile(`"status server serving" addr=(127\.0\.0\.1:\d+)`)
	var addr string
	waitFor(t, 30*time.Second, "ingester serve listening", func() bool {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
			return true
		}
		select {
		case err := <-done:
			t.Fatalf("ingester serve exited: %v\n%s", err, logs.String())
		default:
		}
		return false
	})
	return addr
}
