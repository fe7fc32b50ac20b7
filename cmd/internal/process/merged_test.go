package process

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"hash/crc32"
	"io"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/report/reportgen"
	"github.com/wptfeed/wptfeed/store"
	"github.com/wptfeed/wptfeed/store/storetest"
	"github.com/wptfeed/wptfeed/testdata"
)

// mergedDoc is the merged report as wpt.fyi's readers see it.
type mergedDoc struct {
	Results   []json.RawMessage `json:"results"`
	RunInfo   map[string]any    `json:"run_info"`
	TimeStart *json.Number      `json:"time_start"`
	TimeEnd   *json.Number      `json:"time_end"`
}

// bytesShards makes shards s0, s1, … of docs.
func bytesShards(docs ...[]byte) []report.Shard {
	shards := make([]report.Shard, len(docs))
	for i, d := range docs {
		shards[i] = report.Shard{Name: "s" + string(rune('0'+i)), Open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(d)), nil
		}}
	}
	return shards
}

// shardResults lists the results of plain or gzip shards, compact, in
// order.
func shardResults(t *testing.T, docs ...[]byte) []string {
	t.Helper()
	var out []string
	for _, d := range docs {
		if zr, err := gzip.NewReader(bytes.NewReader(d)); err == nil {
			if d, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		var v struct{ Results []json.RawMessage }
		if err := json.Unmarshal(d, &v); err != nil {
			t.Fatal(err)
		}
		for _, r := range v.Results {
			c := jsontext.Value(slices.Clone(r))
			if err := c.Compact(); err != nil {
				t.Fatal(err)
			}
			out = append(out, string(c))
		}
	}
	return out
}

// readMerged reads the merged report at key as stored, checks it is one
// gzip member of JSON with Content-Encoding gzip where the bucket keeps
// metadata, and decodes it.
func readMerged(t *testing.T, b *store.Bucket, key string) (mergedDoc, []byte) {
	t.Helper()
	ctx := t.Context()
	if a, err := b.Attributes(ctx, key); err != nil {
		t.Fatalf("merged report %s: %v", key, err)
	} else if b.Dir() == "" && (a.ContentType != "application/json" || a.ContentEncoding != "gzip") {
		t.Errorf("%s: Attributes = %+v; want application/json, Content-Encoding gzip", key, a)
	}
	stored, err := b.ReadAll(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	// One gzip member: browsers read no further than the first.
	br := bytes.NewReader(stored)
	zr, err := gzip.NewReader(br)
	if err != nil {
		t.Fatalf("merged report %s is not gzip: %v", key, err)
	}
	zr.Multistream(false)
	plain, err := io.ReadAll(zr) // checks the CRC-32 and the size
	if err != nil {
		t.Fatalf("merged report %s: %v", key, err)
	}
	if br.Len() != 0 {
		t.Errorf("merged report %s: %d bytes after the first gzip member, want one member", key, br.Len())
	}
	var doc mergedDoc
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("merged report %s: %v\n%.300s", key, err, plain)
	}
	return doc, stored
}

// TestProcessor_MergedReport: raw_results_url names the merged report at
// wpt.fyi's key: one gzip stream (several members) of one JSON object with
// every shard's results in shard order, copies of a test included, the
// merged run_info, and the earliest time_start and latest time_end. The
// shard listing is beside it.
func TestProcessor_MergedReport(t *testing.T) {
	small := [][]byte{testdata.Read("reports/firefox-nightly-shard-1.json"), testdata.Read("reports/firefox-nightly-shard-2.json.gz")}
	// Several blocks a shard, compressed in parallel.
	cfg := reportgen.Config{Seed: 3, Scale: 0.05, Shards: 3}
	var big [][]byte
	for i := range cfg.Shards {
		var buf bytes.Buffer
		if err := reportgen.Write(&buf, cfg, i); err != nil {
			t.Fatal(err)
		}
		big = append(big, buf.Bytes())
	}
	if n := len(big[0]); n < 2*mergedBlockSize {
		t.Fatalf("generated shard of %d bytes, want several blocks", n)
	}
	for _, tc := range []struct {
		name    string
		docs    [][]byte
		perTest bool
		info    map[string]any
		start   string
		end     string
	}{
		{name: "Fixtures", docs: small, perTest: true, info: map[string]any{
			"product": "firefox", "browser_version": "135.0a1", "browser_channel": "nightly", "os": "linux",
			"os_version": "22.04", "revision": "0bdaaf9c1622ca49eb140381af1ece6d8001c934",
			"browser_build_id": nil, "version": nil, "processor": "x86_64", "debug": false,
		}, start: "1000", end: "9000"},
		{name: "EmptyShardBetween", docs: [][]byte{[]byte(testReport), []byte(`{"results": []}`), []byte(strings.Replace(testReport, `"/a.html"`, `"/b.html"`, 1))},
			start: "1732700000000", end: "1732700001000"},
		{name: "Generated", docs: big},
		{name: "GeneratedOneShard", docs: big[:1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			p := newProcessor(t)
			p.PerTest = tc.perTest
			in := Input{RunID: "20261127T000000Z-merged", Uploaded: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC),
				Shards: bytesShards(tc.docs...), Raw: []records.RawShard{{Name: "s0", URL: "https://raw.test/s0"}}}
			st, err := p.Ingest(ctx, in)
			if err != nil || st.State != records.StateValid {
				t.Fatalf("Ingest: %+v, %v", st, err)
			}
			key := store.RawResultsKey(st.Revision, st.ProductID)
			doc, _ := readMerged(t, p.Out, key)

			want := shardResults(t, tc.docs...)
			got := make([]string, len(doc.Results))
			for i, r := range doc.Results {
				got[i] = string(r)
			}
			if !slices.Equal(got, want) {
				t.Errorf("results: got %d, want the %d of the shards in order", len(got), len(want))
				for i := range min(len(got), len(want)) {
					if got[i] != want[i] {
						t.Fatalf("first difference at %d: got %.200s, want %.200s", i, got[i], want[i])
					}
				}
			}
			if tc.info != nil && !reflect.DeepEqual(doc.RunInfo, tc.info) {
				t.Errorf("run_info: got %v, want %v", doc.RunInfo, tc.info)
			}
			if doc.RunInfo["revision"] != st.Revision {
				t.Errorf("run_info revision %v, want %s", doc.RunInfo["revision"], st.Revision)
			}
			if tc.start != "" && (doc.TimeStart == nil || doc.TimeStart.String() != tc.start || doc.TimeEnd == nil || doc.TimeEnd.String() != tc.end) {
				t.Errorf("time_start, time_end = %v, %v; want %s, %s", doc.TimeStart, doc.TimeEnd, tc.start, tc.end)
			}

			tr := readTestRun(t, p.Out, in.RunID)
			if want := p.ResultsBase + "/" + key; tr.RawResultsURL != want {
				t.Errorf("raw_results_url = %q, want %q", tr.RawResultsURL, want)
			}
			var list records.ShardList
			if data, err := p.Out.ReadAll(ctx, store.ShardListKey(st.Revision, st.ProductID)); err != nil {
				t.Errorf("shard listing: %v", err)
			} else if err := json.Unmarshal(data, &list); err != nil || list.RunID != in.RunID || !reflect.DeepEqual(list.Shards, in.Raw) {
				t.Errorf("shard listing: %+v, %v; want run %s, shards %+v", list, err, in.RunID, in.Raw)
			}
		})
	}
}

func readTestRun(t *testing.T, b *store.Bucket, runID string) records.TestRun {
	t.Helper()
	data, err := b.ReadAll(t.Context(), store.TestRunKey(runID))
	if err != nil {
		t.Fatal(err)
	}
	var tr records.TestRun
	if err := json.Unmarshal(data, &tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestProcessor_MergedReportBucket: with a bucket of their own (wpt.fyi's
// raw_results_bucket), merged reports go there, under their own base URL,
// and nothing of them into the out bucket.
func TestProcessor_MergedReportBucket(t *testing.T) {
	ctx := t.Context()
	p := newProcessor(t)
	raw, err := store.Open(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	p.RawResults, p.RawResultsBase = raw, "https://raw.test/wptd-results"
	in := testInput("20261127T000000Z-rawbucket", time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC))
	st, err := p.Ingest(ctx, in)
	if err != nil || st.State != records.StateValid {
		t.Fatalf("Ingest: %+v, %v", st, err)
	}
	key := store.RawResultsKey(st.Revision, st.ProductID)
	doc, _ := readMerged(t, raw, key)
	if len(doc.Results) != 1 || doc.TimeStart.String() != "1732700000000" || doc.TimeEnd.String() != "1732700001000" {
		t.Errorf("merged report: %+v", doc)
	}
	if ok, err := p.Out.Exists(ctx, key); ok || err != nil {
		t.Errorf("merged report in the out bucket too (%v, %v)", ok, err)
	}
	if tr := readTestRun(t, p.Out, in.RunID); tr.RawResultsURL != "https://raw.test/wptd-results/"+key {
		t.Errorf("raw_results_url = %q, want it under the raw-results base URL", tr.RawResultsURL)
	}
}

// TestProcessor_MergedReportNotWritten: a run that is rejected, whether
// invalid or a duplicate of an accepted one, writes no merged report and
// leaves the one already stored as it is.
func TestProcessor_MergedReportNotWritten(t *testing.T) {
	ctx := t.Context()
	p := newProcessor(t)
	good := []byte(testReport)
	first := Input{RunID: "20261127T000000Z-first", Uploaded: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), Shards: bytesShards(good)}
	st, err := p.Ingest(ctx, first)
	if err != nil || st.State != records.StateValid {
		t.Fatalf("Ingest: %+v, %v", st, err)
	}
	key := store.RawResultsKey(st.Revision, st.ProductID)
	// Mark the stored report: any write to its key would replace the mark.
	const mark = "stored before"
	if err := p.Out.WriteBytes(ctx, key, []byte(mark), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	keysBefore := listKeys(t, p.Out)

	conflict := strings.Replace(testReport, `"os":"linux"`, `"os":"mac"`, 1)
	for _, tc := range []struct {
		name  string
		docs  [][]byte
		state string
	}{
		{"NotJSON", [][]byte{good, []byte(`{"results": [{"test": "/b.html", "status": "OK"}, oops]}`)}, records.StateInvalid},
		{"ConflictingRunInfo", [][]byte{good, []byte(conflict)}, records.StateInvalid},
		{"Duplicate", [][]byte{good}, records.StateDuplicate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{RunID: "20261127T000001Z-" + strings.ToLower(tc.name), Uploaded: first.Uploaded, Shards: bytesShards(tc.docs...)}
			st, err := p.Ingest(ctx, in)
			if err != nil || st.State != tc.state {
				t.Fatalf("Ingest: %+v, %v; want %s", st, err, tc.state)
			}
			if got, err := p.Out.ReadAll(ctx, key); err != nil || string(got) != mark {
				t.Errorf("stored report: got %.40q, %v; want it untouched", got, err)
			}
			want := append(slices.Clone(keysBefore), store.StatusKey(in.RunID))
			slices.Sort(want)
			if got := listKeys(t, p.Out); !slices.Equal(got, want) {
				t.Errorf("keys: got %q, want %q (the status record only)", got, want)
			}
			keysBefore = want
		})
	}
}

func listKeys(t *testing.T, b *store.Bucket) []string {
	t.Helper()
	var keys []string
	if err := b.List(t.Context(), "", "", func(o store.Object) bool { keys = append(keys, o.Key); return true }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

// TestProcessor_MergedReportClash: a test whose per-test file would take
// the merged report's key puts the run's per-test files in the packed
// layout, with a warning, when both are in the out bucket; not when the
// merged reports have a bucket of their own.
func TestProcessor_MergedReportClash(t *testing.T) {
	doc := strings.Replace(testReport, `"/a.html"`, `"/report.json"`, 1)
	for _, own := range []bool{false, true} {
		p := newProcessor(t)
		p.PerTest, p.Layout = true, records.LayoutFiles
		if own {
			raw, err := store.Open(t.Context(), "mem://")
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			p.RawResults, p.RawResultsBase = raw, "https://raw.test"
		}
		st, err := p.Ingest(t.Context(), Input{RunID: "20261127T000000Z-clash", Uploaded: time.Now(), Shards: bytesShards([]byte(doc))})
		if err != nil || st.State != records.StateValid {
			t.Fatalf("Ingest: %+v, %v", st, err)
		}
		want := records.LayoutPacked
		if own {
			want = records.LayoutFiles
		}
		warned := slices.ContainsFunc(st.Warnings, func(w report.Warning) bool {
			return w.Code == records.WarnPerTestPacked && w.Test == "/report.json"
		})
		if st.PerTest != want || warned == own {
			t.Errorf("own bucket %v: per_test %s, warnings %+v; want %s, a warning %v", own, st.PerTest, st.Warnings, want, !own)
		}
		b := p.Out
		if own {
			b = p.RawResults
		}
		if doc, _ := readMerged(t, b, store.RawResultsKey(st.Revision, st.ProductID)); len(doc.Results) != 1 {
			t.Errorf("merged report: %+v", doc)
		}
	}
}

// TestMergedTail: run_info as JSON (a number past float64's range, kept as
// ±Inf, becomes null), times in milliseconds, whole or not, left out when
// unknown.
func TestMergedTail(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  report.Result
		want string
	}{
		{"Times", report.Result{RunInfo: map[string]any{"product": "a<b", "n": 1.5, "x": nil},
			TimeStart: time.UnixMilli(1732700000000), TimeEnd: time.UnixMilli(1732700001000).Add(500 * time.Microsecond)},
			`],"run_info":{"n":1.5,"product":"a<b","x":null},"time_start":1732700000000,"time_end":1732700001000.5}`},
		{"NoTimes", report.Result{RunInfo: map[string]any{"big": []any{math.Inf(1), map[string]any{"y": math.Inf(-1)}}}},
			`],"run_info":{"big":[null,{"y":null}]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mergedTail(&tc.res)
			if err != nil || string(got) != tc.want {
				t.Errorf("got %s, %v; want %s", got, err, tc.want)
			}
		})
	}
}

// TestMergedReport_Errors: a spool closed without finishing (a rejected
// run) stops its compressors; a failing spool file fails finish, and the
// blocks sent after the failure.
func TestMergedReport_Errors(t *testing.T) {
	block := bytes.Repeat([]byte(`{"test":"/a.html","status":"OK"}`), mergedBlockSize/32+1)
	m, err := newMergedReport(t.TempDir(), 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if err := m.Add(i%2, block); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	m, err = newMergedReport(t.TempDir(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.f.Close() // every write of the spool fails
	if err := m.Add(0, block); err != nil {
		t.Fatalf("Add: %v (the first block's write has not failed yet)", err)
	}
	if err := m.finish(); err == nil || !strings.HasPrefix(err.Error(), "process: merged report spool: ") {
		t.Errorf("finish: got %v, want the spool's write error", err)
	}
	if err := m.send(0); err == nil {
		t.Error("send after a failure: got nil, want the error")
	}
}

// TestCRC32Combine: the CRC of a concatenation from the CRCs of its parts,
// as the merged report's gzip trailer gets it.
func TestCRC32Combine(t *testing.T) {
	data := bytes.Repeat([]byte("wpt results \x00\xff"), 5000)
	for _, cut := range []int{0, 1, 7, 8, 1000, 65536, len(data) - 1, len(data)} {
		a, b := data[:cut], data[cut:]
		got := crc32Combine(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), int64(len(b)))
		if want := crc32.ChecksumIEEE(data); got != want {
			t.Errorf("cut at %d: got %08x, want %08x", cut, got, want)
		}
	}
}

// TestProcessor_MergedReportServed: on the S3 and GCS emulators, a plain
// HTTP GET of a merged report of several blocks gets the whole JSON: Go's
// client, which asks for gzip and decompresses, on both; a client that
// does not ask for gzip gets it decompressed by GCS, and the stored gzip
// bytes, one member, with Content-Encoding: gzip from S3.
func TestProcessor_MergedReportServed(t *testing.T) {
	var doc bytes.Buffer
	if err := reportgen.Write(&doc, reportgen.Config{Seed: 4, Scale: 0.03, Shards: 1}, 0); err != nil {
		t.Fatal(err)
	}
	if doc.Len() < 2*mergedBlockSize {
		t.Fatalf("generated report of %d bytes, want several blocks", doc.Len())
	}
	want := len(shardResults(t, doc.Bytes()))
	for _, tc := range []struct {
		name       string
		start      func(testing.TB) *storetest.Backend
		transcodes bool
	}{
		{"s3", storetest.StartS3, false},
		{"gcs", storetest.StartGCS, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := tc.start(t)
			bucketURL := be.NewBucketURL(t)
			raw, err := store.Open(t.Context(), bucketURL)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			p := newProcessor(t)
			p.RawResults, p.RawResultsBase = raw, strings.TrimSuffix(be.ObjectURL(t, bucketURL, "x"), "/x")
			st, err := p.Ingest(t.Context(), Input{RunID: "20261127T000000Z-served", Uploaded: time.Now(), Shards: bytesShards(doc.Bytes())})
			if err != nil || st.State != records.StateValid {
				t.Fatalf("Ingest: %+v, %v", st, err)
			}
			u := readTestRun(t, p.Out, "20261127T000000Z-served").RawResultsURL
			for _, client := range []struct {
				name string
				c    *http.Client
			}{
				{"Go's client", &http.Client{}},
				{"no Accept-Encoding", &http.Client{Transport: &http.Transport{DisableCompression: true}}},
			} {
				resp, err := client.c.Get(u)
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: GET %s: %s, %v", client.name, u, resp.Status, err)
				}
				if client.c.Transport != nil && !tc.transcodes {
					if enc := resp.Header.Get("Content-Encoding"); enc != "gzip" {
						t.Errorf("%s: Content-Encoding %q, want gzip", client.name, enc)
					}
					br := bytes.NewReader(body)
					zr, err := gzip.NewReader(br)
					if err != nil {
						t.Fatalf("%s: %v", client.name, err)
					}
					zr.Multistream(false)
					if body, err = io.ReadAll(zr); err != nil || br.Len() != 0 {
						t.Fatalf("%s: gzip: %v, %d bytes after the first member", client.name, err, br.Len())
					}
				}
				var rep struct {
					Results []json.RawMessage `json:"results"`
				}
				if err := json.Unmarshal(body, &rep); err != nil || len(rep.Results) != want {
					t.Errorf("%s: %v, %d results; want %d (%.20q)", client.name, err, len(rep.Results), want, body)
				}
			}
		})
	}
}
