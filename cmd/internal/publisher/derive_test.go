package publisher

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/internal/testutil"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
	"github.com/wptfeed/wptfeed/testdata"
)

// scanAll feeds doc to a topScanner in pieces of n bytes.
func scanAll(doc []byte, n int, keys ...string) *topScanner {
	ts := newTopScanner(keys...)
	for i := 0; i < len(doc) && ts.state != stDone && ts.err == nil; i += n {
		ts.write(doc[i:min(i+n, len(doc))])
	}
	return ts
}

func TestTopScanner(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		want map[string]string // member → its JSON value, compacted
		err  bool
		done bool
	}{
		{"wptrunner order", `{"run_info": {"product": "firefox", "os": "linux"}, "time_start": 1000, "results": [{"test": "/a", "status": "OK"}], "time_end": 2000.5}`,
			map[string]string{"run_info": `{"product":"firefox","os":"linux"}`, "time_start": "1000", "time_end": "2000.5"}, false, true},
		{"results first", `{"results": [{"test": "/a{[\"}]", "subtests": [{"name": "\\\"]}", "status": "PASS"}]}], "run_info": {"x": "}]\\\\"}, "time_end": 3}`,
			map[string]string{"run_info": `{"x":"}]\\\\"}`, "time_end": "3"}, false, true},
		{"escaped name", `{"run\u005finfo": {"product": "a"}, "time_start":null}`,
			map[string]string{"run_info": `{"product":"a"}`, "time_start": "null"}, false, true},
		{"later copy wins", `{"run_info": {"product": "a"}, "run_info": {"product": "b"}}`,
			map[string]string{"run_info": `{"product":"b"}`}, false, true},
		{"white space", " \n\t{ \"time_start\" \r\n : \n 12 \n , \"x\" : [ ] , \"time_end\":13}\n",
			map[string]string{"time_start": "12", "time_end": "13"}, false, true},
		{"strings and literals skipped", `{"a": "run_info", "b": true, "c": null, "d": -1e5, "run_info": {}}`,
			map[string]string{"run_info": `{}`}, false, true},
		{"empty object", `{}`, map[string]string{}, false, true},
		{"not an object", `[{"run_info": {}}]`, map[string]string{}, true, false},
		{"not JSON", `this is not JSON`, map[string]string{}, true, false},
		{"cut off", `{"run_info": {"product": "a"}, "results": [{"test": "/a"`, map[string]string{"run_info": `{"product":"a"}`}, false, false},
		{"cut off in run_info", `{"run_info": {"product": "a"`, map[string]string{}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, n := range []int{1, 2, 3, 7, 64, len(tc.doc)} {
				ts := scanAll([]byte(tc.doc), n, "run_info", "time_start", "time_end")
				if (ts.err != nil) != tc.err || (ts.state == stDone) != tc.done {
					t.Fatalf("pieces of %d: err %v, done %v; want error %v, done %v", n, ts.err, ts.state == stDone, tc.err, tc.done)
				}
				got := map[string]string{}
				for k, v := range ts.got {
					var buf bytes.Buffer
					if err := json.Compact(&buf, v); err != nil {
						t.Fatalf("pieces of %d: %s kept as %q: %v", n, k, v, err)
					}
					got[k] = buf.String()
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("pieces of %d: got %v, want %v", n, got, tc.want)
				}
			}
		})
	}
}

// A member larger than maxCapture is not kept; scanning goes on.
func TestTopScanner_Large(t *testing.T) {
	big := `{"run_info": {"x": "` + strings.Repeat("a", maxCapture) + `"}, "time_start": 5}`
	ts := scanAll([]byte(big), 4096, "run_info", "time_start")
	if ts.state != stDone || ts.err != nil || ts.tooLarge != "run_info" || ts.got["run_info"] != nil || string(ts.got["time_start"]) != "5" {
		t.Errorf("got done %v, err %v, tooLarge %q, members %q", ts.state == stDone, ts.err, ts.tooLarge, ts.got)
	}
}

// putShards stores the shards of a run as another tool would, and a
// manifest that names them only, and returns the run id.
func putHandWritten(t *testing.T, b *store.Bucket, id string, shards map[string][]byte, names ...string) {
	t.Helper()
	ctx := context.Background()
	var m struct {
		Shards []map[string]string `json:"shards"`
	}
	for _, name := range names {
		if p, ok := shards[name]; ok {
			if err := b.WriteBytes(ctx, store.ShardKey(id, name), p, store.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		m.Shards = append(m.Shards, map[string]string{"name": name})
	}
	p, _ := json.Marshal(m)
	mustWriteKey(t, b, store.ManifestKey(id), p)
}

func sha(p []byte) string { return fmt.Sprintf("%x", sha256.Sum256(p)) }

// Derivation gives what report.Process gives for the metadata and times
// of every fixture run, and the hash and size of each stored shard.
func TestDerive_AgreesWithReport(t *testing.T) {
	ctx := context.Background()
	b, err := store.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	runs := [][]string{
		{"chrome.json"}, {"chrome-basic.json"}, {"edgechromium-dev.json"}, {"safari-stp.json"},
		{"firefox-1.json", "firefox-2.json"}, {"firefox-nightly-shard-1.json", "firefox-nightly-shard-2.json.gz"},
	}
	for i, files := range runs {
		t.Run(files[0], func(t *testing.T) {
			id := fmt.Sprintf("20260101T00000%dZ-fixture", i)
			stored := map[string][]byte{}
			var shards []report.Shard
			for j, f := range files {
				p := testdata.Read("reports/" + f)
				if j == 0 && !strings.HasSuffix(f, ".gz") {
					p = testutil.Gzip(t, p) // gzip and plain shards alike
				}
				stored[f] = p
				shards = append(shards, report.Shard{Name: f, Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(p)), nil }})
			}
			putHandWritten(t, b, id, stored, files...)
			res, err := report.Process(ctx, shards, report.Options{})
			if err != nil {
				t.Fatal(err)
			}
			m, _, err := b.ReadCommit(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			d, err := derive(ctx, b, m, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			want := report.Metadata{Product: d.Product, BrowserVersion: d.BrowserVersion, OS: d.OS, OSVersion: d.OSVersion, Revision: d.Revision, BrowserChannel: d.BrowserChannel}
			if res.Meta != want || !res.TimeStart.Equal(d.TimeStart) || !res.TimeEnd.Equal(d.TimeEnd) || len(d.Warnings) > 0 {
				t.Errorf("derived %+v %v %v (warnings %q), want %+v %v %v", want, d.TimeStart, d.TimeEnd, d.Warnings, res.Meta, res.TimeStart, res.TimeEnd)
			}
			for j, f := range files {
				if s := d.Shards[j]; s.Name != f || s.Size != int64(len(stored[f])) || s.SHA256 != sha(stored[f]) {
					t.Errorf("shard %d: got %+v, want %s of %d bytes with sha256 %s", j, s, f, len(stored[f]), sha(stored[f]))
				}
			}
			if err := b.PutDerived(ctx, d); err != nil {
				t.Errorf("PutDerived: %v", err)
			}
		})
	}
}

// What cannot be derived is left out, with a warning naming why; the
// rest is derived.
func TestDerive_Warnings(t *testing.T) {
	ctx := context.Background()
	b, err := store.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const rev = "0123456789abcdef0123456789abcdef01234567"
	for i, tc := range []struct {
		name   string
		shards []string // contents; "" for a missing shard
		want   store.Derived
		warns  []string // substrings, one per warning
	}{
		{"conflict", []string{`{"run_info": {"product": "chrome", "os": "linux"}, "results": []}`, `{"run_info": {"product": "chrome", "os": "mac"}, "results": []}`},
			store.Derived{Product: "chrome"}, []string{`run_info os is "linux" in shard s0 and "mac" in shard s1`}},
		{"not a string", []string{`{"run_info": {"product": 5, "os": "linux", "revision": "` + strings.ToUpper(rev) + `"}, "results": []}`},
			store.Derived{OS: "linux", Revision: rev}, []string{"run_info product is not a string"}},
		{"bad revision", []string{`{"run_info": {"product": "firefox", "revision": "abc"}, "results": []}`},
			store.Derived{Product: "firefox"}, []string{`revision "abc" is not 40 hexadecimal digits`}},
		{"characters XML cannot carry", []string{`{"run_info": {"product": "a\u0000b", "os": "linux"}, "results": []}`},
			store.Derived{OS: "linux"}, []string{"run_info product breaks the manifest rules"}},
		{"not JSON", []string{`<html>not a report</html>`},
			store.Derived{}, []string{"shard s0: not a JSON object", "no shard has a readable run_info"}},
		{"not gzip", []string{"\x1f\x8bnot really gzip"},
			store.Derived{}, []string{"shard s0: not readable gzip", "no shard has a readable run_info"}},
		{"cut off", []string{`{"run_info": {"product": "chrome"}, "time_start": 5, "results": [`},
			store.Derived{Product: "chrome"}, []string{"shard s0: the JSON ends before its top-level object does", "time_start and time_end are not derived"}},
		{"missing shard", []string{`{"run_info": {"product": "chrome"}, "time_start": 5, "time_end": 6, "results": []}`, ""},
			store.Derived{Product: "chrome"}, []string{"shard s1 is missing", "time_start and time_end are not derived"}},
		{"bad time", []string{`{"run_info": {}, "time_start": "yesterday", "results": []}`},
			store.Derived{}, []string{"time_start is not a number"}},
		{"large run_info", []string{`{"run_info": {"product": "` + strings.Repeat("x", maxCapture) + `"}, "time_start": 5, "results": []}`},
			store.Derived{}, []string{"run_info is larger than", "no shard has a readable run_info"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("20260102T0000%02dZ-warn", i)
			stored := map[string][]byte{}
			var names []string
			for j, c := range tc.shards {
				name := fmt.Sprintf("s%d", j)
				names = append(names, name)
				if c != "" {
					stored[name] = []byte(c)
				}
			}
			putHandWritten(t, b, id, stored, names...)
			m, _, err := b.ReadCommit(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			d, err := derive(ctx, b, m, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			got := store.Derived{Product: d.Product, BrowserVersion: d.BrowserVersion, OS: d.OS, OSVersion: d.OSVersion, Revision: d.Revision, BrowserChannel: d.BrowserChannel}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if len(d.Warnings) != len(tc.warns) {
				t.Errorf("warnings %q, want %d", d.Warnings, len(tc.warns))
			}
			for _, w := range tc.warns {
				if !slices.ContainsFunc(d.Warnings, func(s string) bool { return strings.Contains(s, w) }) {
					t.Errorf("warnings %q lack %q", d.Warnings, w)
				}
			}
			// Every shard that exists has its hash, readable or not.
			for j, s := range d.Shards {
				if p, ok := stored[s.Name]; ok && (s.SHA256 != sha(p) || s.Size != int64(len(p))) {
					t.Errorf("shard %d: %+v, want sha256 %s", j, s, sha(p))
				}
			}
			if err := b.PutDerived(ctx, d); err != nil {
				t.Errorf("PutDerived: %v", err)
			}
		})
	}
}

// readCounter counts the reads of a run's shards through store.WithFaults.
type readCounter struct{ n atomic.Int64 }

func (c *readCounter) fault(op, key string) error {
	if op == "read" && strings.HasPrefix(key, store.RunsPrefix) && !strings.HasSuffix(key, "/"+store.ManifestName) {
		c.n.Add(1)
	}
	return nil
}

// runEntry reads s's feed (with query q) and returns the entry of run id,
// or nil.
func runEntry(t *testing.T, s *Server, q, id string) *feed.Entry {
	t.Helper()
	code, body := serveHTTP(s, "/feed.atom"+q)
	if code != http.StatusOK {
		t.Fatalf("GET /feed.atom%s: %d %s", q, code, body)
	}
	f, err := feed.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := range f.Entries {
		if f.Entries[i].Run.ID == id {
			return &f.Entries[i]
		}
	}
	return nil
}

// The case: a run written with other tools, with a manifest that
// only lists its shards, is published within seconds with its product,
// revision, channel, categories and hashes, derived once: a restarted
// publisher does not read its shards again.
func TestServer_DerivesHandWrittenRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, b := tempBucket(t, ctx)
	s1 := testdata.Read("reports/firefox-nightly-shard-1.json")
	s2 := testdata.Read("reports/firefox-nightly-shard-2.json.gz")
	id := store.NewRunID(time.Now())
	var reads readCounter
	var logs logBuffer
	s, _ := startServerWith(t, ctx, url, logs.logger(), store.WithFaults(reads.fault))
	start := time.Now()
	putHandWritten(t, b, id, map[string][]byte{"shard-1.json": s1, "shard-2.json.gz": s2}, "shard-1.json", "shard-2.json.gz")

	var e *feed.Entry
	for e == nil {
		if time.Since(start) > 5*time.Second {
			t.Fatal("the run is not in the feed 5 s after its manifest")
		}
		time.Sleep(20 * time.Millisecond)
		e = runEntry(t, s, "", id)
	}
	t.Logf("published %s after its manifest", time.Since(start).Round(time.Millisecond))
	_, body := serveHTTP(s, "/feed.atom")
	checkAtom(t, body)
	r := e.Run
	want := feed.Run{ID: id, Product: "firefox", BrowserVersion: "135.0a1", OS: "linux", OSVersion: "22.04",
		Revision: "0bdaaf9c1622ca49eb140381af1ece6d8001c934", Channel: "nightly",
		TimeStart: time.UnixMilli(1000).UTC(), TimeEnd: time.UnixMilli(9000).UTC(), Uploaded: r.Uploaded,
		Shards: []feed.Shard{{Name: "shard-1.json", Size: int64(len(s1)), SHA256: sha(s1)}, {Name: "shard-2.json.gz", Size: int64(len(s2)), SHA256: sha(s2)}}}
	if fmt.Sprint(*r) != fmt.Sprint(want) {
		t.Errorf("wpt:run\n got %+v\nwant %+v", *r, want)
	}
	var cats []string
	for _, c := range e.Categories {
		cats = append(cats, c.Scheme[strings.LastIndexByte(c.Scheme, ':')+1:]+"="+c.Term)
	}
	if got, wantCats := strings.Join(cats, " "), "product=firefox channel=nightly os=linux label=experimental label=firefox label=nightly"; got != wantCats {
		t.Errorf("categories %q, want %q", got, wantCats)
	}
	if !strings.HasPrefix(e.Title, "firefox 135.0a1 on linux 22.04 @ 0bdaaf9c16") {
		t.Errorf("title %q", e.Title)
	}
	if runEntry(t, s, "?product=firefox", id) == nil || runEntry(t, s, "?label=nightly", id) == nil {
		t.Error("?product=firefox or ?label=nightly misses the run")
	}
	if runEntry(t, s, "?product=chrome", id) != nil {
		t.Error("?product=chrome lists the run")
	}
	if n := reads.n.Load(); n != 2 {
		t.Errorf("the shards were read %d times, want 2 (once each)", n)
	}
	if got := logs.lines("run published with values derived from its shards", id); len(got) != 1 {
		t.Errorf("log lines %q, want one saying what was derived", got)
	}
	first := runEntry(t, s, "", id)

	// A restarted publisher (and a replica) reads the stored values and
	// renders the same entry; it never reads the shards.
	var reads2 readCounter
	s2srv, _ := startServerWith(t, ctx, url, nil, store.WithFaults(reads2.fault))
	again := runEntry(t, s2srv, "", id)
	if again == nil || !reflect.DeepEqual(again, first) {
		t.Errorf("after a restart the entry is\n%+v\nwant\n%+v", again, first)
	}
	if n := reads2.n.Load(); n != 0 {
		t.Errorf("the restarted publisher read shards %d times, want 0", n)
	}
	if _, err := b.ReadDerived(ctx, id); err != nil {
		t.Errorf("ReadDerived: %v", err)
	}
}

// A manifest with some metadata keeps it: derivation only fills gaps.
func TestServer_DeriveFillsGapsOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, b := tempBucket(t, ctx)
	s1 := testdata.Read("reports/firefox-nightly-shard-1.json")
	id := store.NewRunID(time.Now())
	if err := b.WriteBytes(ctx, store.ShardKey(id, "r.json"), s1, store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	given := fmt.Sprintf("%064x", 7) // what the runner says; the feed carries it
	mustWriteKey(t, b, store.ManifestKey(id), []byte(`{"product": "servo", "browser_channel": "stable", "time_start": "2026-01-02T03:04:05Z",
		"labels": ["mine"], "shards": [{"name": "r.json", "sha256": "`+given+`"}]}`))
	s := newScanServer(t, ctx, url, 100, nil)
	if err := s.Scan(ctx, false); err != nil {
		t.Fatal(err)
	}
	e := runEntry(t, s, "", id)
	if e == nil {
		t.Fatal("run not published")
	}
	r := e.Run
	if r.Product != "servo" || r.Channel != "stable" || !r.TimeStart.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) || r.Shards[0].SHA256 != given {
		t.Errorf("the manifest's values were replaced: %+v", r)
	}
	if r.BrowserVersion != "135.0a1" || r.OS != "linux" || r.OSVersion != "22.04" || r.Revision != "0bdaaf9c1622ca49eb140381af1ece6d8001c934" || !r.TimeEnd.Equal(time.UnixMilli(5000)) {
		t.Errorf("the gaps were not filled: %+v", r)
	}
}

// A shard whose run_info cannot be read is published with what is known
// (its size and hash), with a warning; so is a run whose derivation runs
// out of time.
func TestServer_DeriveWarnings(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, b := tempBucket(t, ctx)
	junk := []byte("\x1f\x8b\x08\x00 this is no gzip stream")
	unreadable := store.NewRunID(time.Now().Add(-time.Second))
	putHandWritten(t, b, unreadable, map[string][]byte{"x.json.gz": junk}, "x.json.gz")
	s1 := testdata.Read("reports/firefox-nightly-shard-1.json")
	slow := store.NewRunID(time.Now())
	putHandWritten(t, b, slow, map[string][]byte{"fast.json": s1, "slow.json": s1}, "fast.json", "slow.json")
	// slow.json takes longer to open than the budget.
	stall := func(op, key string) error {
		if op == "read" && key == store.ShardKey(slow, "slow.json") {
			time.Sleep(time.Second)
		}
		return nil
	}
	var logs logBuffer
	s := newScanServer(t, ctx, url, 100, logs.logger(), store.WithFaults(stall))
	s.idx.der.budget, s.idx.der.wait = 200*time.Millisecond, 2*time.Second
	start := time.Now()
	if err := s.Scan(ctx, false); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the scan took %s", d)
	}

	e := runEntry(t, s, "", unreadable)
	if e == nil {
		t.Fatal("the run with an unreadable shard is not published")
	}
	if r := e.Run; r.Product != "" || r.Shards[0].SHA256 != sha(junk) || r.Shards[0].Size != int64(len(junk)) || e.Title != "run "+unreadable {
		t.Errorf("entry %+v, run %+v: want no product, the shard's size and hash", e, r)
	}
	if got := logs.lines("level=WARN", "run published with what could be derived", unreadable, "not readable gzip"); len(got) != 1 {
		t.Errorf("log %q, want one warning naming the unreadable shard", logs.String())
	}

	e = runEntry(t, s, "", slow)
	if e == nil {
		t.Fatal("the run whose derivation ran out of time is not published")
	}
	if r := e.Run; r.Product != "firefox" || r.Shards[0].SHA256 != sha(s1) || r.Shards[1].SHA256 != "" || !r.TimeEnd.IsZero() {
		t.Errorf("run %+v: want the product, the fast shard's hash, no hash for the slow one and no time_end", r)
	}
	if got := logs.lines("level=WARN", slow, "reading stopped after 200ms"); len(got) != 1 {
		t.Errorf("log %q, want one warning that reading stopped", logs.String())
	}
}

// Two publishers of one bucket render a hand-written run alike: one
// derivation's record wins, write-once.
func TestServer_DeriveTwoPublishers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, b := tempBucket(t, ctx)
	s1 := testdata.Read("reports/chrome.json")
	var ids []string
	for i := range 5 {
		id := store.NewRunID(time.Now().Add(time.Duration(i) * time.Millisecond))
		putHandWritten(t, b, id, map[string][]byte{"r.json": s1}, "r.json")
		ids = append(ids, id)
	}
	a := newScanServer(t, ctx, url, 100, nil)
	c := newScanServer(t, ctx, url, 100, nil)
	done := make(chan error, 2)
	for _, s := range []*Server{a, c} {
		go func() { done <- s.Scan(ctx, false) }()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*Server{a, c} {
		if err := s.Scan(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		ea, ec := runEntry(t, a, "", id), runEntry(t, c, "", id)
		if ea == nil || ec == nil || !reflect.DeepEqual(ea, ec) || ea.Run.Product != "chrome" {
			t.Errorf("run %s: entries differ or lack the product:\n%+v\n%+v", id, ea, ec)
		}
	}
}

// A bucket that fails while a run's shards are read leaves the run
// unpublished (no partial record is stored), reported once; it is
// derived and published when the bucket recovers.
func TestServer_DeriveStorageFailure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, b := tempBucket(t, ctx)
	s1 := testdata.Read("reports/chrome.json")
	id := store.NewRunID(time.Now())
	putHandWritten(t, b, id, map[string][]byte{"r.json": s1}, "r.json")
	var failing atomic.Bool
	failing.Store(true)
	faults := func(op, key string) error {
		if failing.Load() && op == "read" && key == store.ShardKey(id, "r.json") {
			return fmt.Errorf("service unavailable")
		}
		return nil
	}
	var logs logBuffer
	s := newScanServer(t, ctx, url, 100, logs.logger(), store.WithFaults(faults))
	for range 3 {
		if err := s.Scan(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	if e := runEntry(t, s, "", id); e != nil {
		t.Fatalf("published while its shards could not be read: %+v", e.Run)
	}
	if _, err := b.ReadDerived(ctx, id); !store.IsNotFound(err) {
		t.Errorf("ReadDerived: %v, want not found", err)
	}
	if got := logs.lines("level=WARN", id, "could not be derived"); len(got) != 1 {
		t.Errorf("warnings %q, want one", got)
	}
	failing.Store(false)
	if err := s.Scan(ctx, false); err != nil {
		t.Fatal(err)
	}
	if e := runEntry(t, s, "", id); e == nil || e.Run.Product != "chrome" || e.Run.Shards[0].SHA256 != sha(s1) {
		t.Errorf("after the bucket recovered: %+v", e)
	}
}

// BenchmarkTopScanner measures the scan of a shard's JSON (the results
// are skipped): its throughput bounds how much a derivation reads within
// deriveBudget.
func BenchmarkTopScanner(b *testing.B) {
	var doc bytes.Buffer
	doc.WriteString(`{"run_info": {"product": "firefox", "revision": "0bdaaf9c1622ca49eb140381af1ece6d8001c934"}, "time_start": 1000, "results": [`)
	for i := range 20000 {
		if i > 0 {
			doc.WriteByte(',')
		}
		fmt.Fprintf(&doc, `{"test": "/css/a-%d.html", "status": "OK", "message": null, "subtests": [{"name": "x \"quoted\" [%d]", "status": "PASS", "message": "expected {a} got {b}"}, {"name": "y", "status": "FAIL", "message": null}]}`, i, i)
	}
	doc.WriteString(`], "time_end": 9000}`)
	p := doc.Bytes()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		ts := scanAll(p, 64<<10, "run_info", "time_start", "time_end")
		if ts.state != stDone || len(ts.got) != 3 {
			b.Fatalf("scan: done %v, got %q", ts.state == stDone, ts.got)
		}
	}
}

// FuzzTopScanner checks the scanner against encoding/json: for a JSON
// object, fed in pieces of any size, it keeps exactly the chosen members'
// values (the last copy of each), and it never fails on one.
func FuzzTopScanner(f *testing.F) {
	for _, name := range []string{"reports/chrome.json", "reports/chrome-basic.json", "reports/firefox-1.json"} {
		f.Add(testdata.Read(name), uint16(7))
	}
	f.Add([]byte(`{"run\u005finfo": {"a": "}\"]"}, "time_start": 1, "time_start": 2}`), uint16(1))
	f.Add([]byte(`{"x": [[{"y": "\\"}]], "time_end": -1.5e3}`), uint16(3))
	f.Fuzz(func(t *testing.T, doc []byte, piece uint16) {
		ts := scanAll(doc, int(piece)%4096+1, "run_info", "time_start", "time_end")
		var want map[string]json.RawMessage
		if json.Unmarshal(doc, &want) != nil || want == nil {
			return // not a JSON object: the scanner may say anything
		}
		if ts.err != nil || ts.state != stDone {
			t.Fatalf("a JSON object: err %v, done %v", ts.err, ts.state == stDone)
		}
		for _, k := range []string{"run_info", "time_start", "time_end"} {
			w, ok := want[k]
			got, kept := ts.got[k]
			if ts.tooLarge == k {
				continue
			}
			if ok != kept || (ok && !jsonEqual(got, w)) {
				t.Errorf("%s: kept %v %q, want %v %q", k, kept, got, ok, w)
			}
		}
	})
}

func jsonEqual(a, b []byte) bool {
	var x, y bytes.Buffer
	return json.Compact(&x, a) == nil && json.Compact(&y, b) == nil && bytes.Equal(x.Bytes(), y.Bytes())
}
