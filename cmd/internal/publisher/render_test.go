package publisher

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/feed/feedtest"
	"github.com/wptfeed/wptfeed/internal/testutil"
	"github.com/wptfeed/wptfeed/store"
)

// goldenRuns are three fixed runs: a full manifest, a minimal one as other
// tools write, and one of two shards.
func goldenRuns() []*run {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	full := &store.Manifest{
		Version: 1, RunID: "20261127T100000.000000Z-0123456789abcdef", Uploaded: t0,
		Product: "chrome", BrowserVersion: "131.0.6778.85", OS: "linux", OSVersion: "24.04",
		Revision: "24278ab61781de72ed363b866ae6b50b86822b27", BrowserChannel: "stable",
		Labels: []string{"buildbot"}, TimeStart: t0.Add(-time.Hour), TimeEnd: t0.Add(-time.Minute),
		Shards: []store.Shard{{Name: "shard-000.json.gz", Size: 3111064, SHA256: fmt.Sprintf("%064x", 1)}},
	}
	minimal := &store.Manifest{RunID: "20261127T110000Z-othertool", Uploaded: t0.Add(time.Hour),
		Shards: []store.Shard{{Name: "report.json.gz", Size: 1479}}}
	two := &store.Manifest{
		Version: 1, RunID: "20261127T120000.000000Z-fedcba9876543210", Uploaded: t0.Add(2 * time.Hour),
		Product: "firefox", BrowserVersion: "133.0", OS: "mac", OSVersion: "14.7",
		Revision: "24278ab61781de72ed363b866ae6b50b86822b27", BrowserChannel: "nightly",
		Shards: []store.Shard{{Name: "shard-000.json.gz", Size: 10}, {Name: "shard-001.json.gz", Size: 20}},
	}
	return []*run{newRun(3, two), newRun(2, minimal), newRun(1, full)}
}

func TestRenderer_Golden(t *testing.T) {
	rd := &renderer{baseURL: "https://results.example.org", author: "wptfeed publisher", maxAge: time.Second, pageSize: 3}
	// The subscription document just after its runs filled archive page 1:
	// it still lists them (the newest --feed-entries runs).
	sub, err := rd.subscription(goldenRuns(), 1, filter{})
	if err != nil {
		t.Fatal(err)
	}
	fsub, err := rd.subscription(goldenRuns(), 1, filter{label: []string{"stable"}})
	if err != nil {
		t.Fatal(err)
	}
	arch, err := rd.archive(1, goldenRuns(), filter{})
	if err != nil {
		t.Fatal(err)
	}
	farch, err := rd.archive(1, goldenRuns(), filter{label: []string{"stable"}})
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]*feed.Document{"subscription.golden": sub, "subscription-filtered.golden": fsub, "archive.golden": arch, "archive-filtered.golden": farch}
	var bodies [][]byte
	for name, doc := range docs {
		testutil.Golden(t, filepath.Join("testdata", name), doc.Body)
		bodies = append(bodies, doc.Body)
	}
	feedtest.Jing(t, bodies...)
}

// An entry that fails to encode is left out of the document and logged;
// the other entries are served.
func TestRenderer_SkipsUnencodableEntry(t *testing.T) {
	var logs logBuffer
	rd := &renderer{baseURL: "https://results.example.org", author: "wptfeed publisher", maxAge: time.Second, pageSize: 3, log: logs.logger()}
	t0 := time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)
	good := goldenRuns()
	bad := []*run{
		// Forced past validation: what an older publisher may have logged.
		newRun(10, &store.Manifest{RunID: "20261127T130000Z-year0", Uploaded: t0, TimeStart: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
			Shards: []store.Shard{{Name: "s.json"}}}),
		newRun(11, &store.Manifest{RunID: "20261127T130001Z-nothex", Uploaded: t0, Shards: []store.Shard{{Name: "s.json", SHA256: "xyz"}}}),
		newRun(12, &store.Manifest{RunID: "20261127T130002Z-emptylabel", Uploaded: t0, Labels: []string{""}, Shards: []store.Shard{{Name: "s.json"}}}),
		newRun(13, &store.Manifest{RunID: "20261127T130003Z-negative", Uploaded: t0, Shards: []store.Shard{{Name: "s.json", Size: -1}}}),
		// The same run twice (a log written before markers were commits).
		newRun(14, good[0].m),
	}
	runs := append(bad, good...)
	for _, render := range []func() (*feed.Document, error){
		func() (*feed.Document, error) { return rd.subscription(runs, 0, filter{}) },
		func() (*feed.Document, error) { return rd.archive(1, runs, filter{}) },
	} {
		doc, err := render()
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		feedtest.Jing(t, doc.Body)
		f, err := feed.Parse(bytes.NewReader(doc.Body))
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Entries) != len(good) {
			t.Errorf("%d entries, want the %d good ones", len(f.Entries), len(good))
		}
		if !doc.LastModified.Equal(good[0].m.Uploaded) {
			t.Errorf("updated %v, want the newest good entry's %v", doc.LastModified, good[0].m.Uploaded)
		}
	}
	for _, r := range bad[:4] {
		if e := logs.lines("level=ERROR", r.m.RunID); len(e) != 1 {
			t.Errorf("run %s: %d errors logged, want 1 (once per run)", r.m.RunID, len(e))
		}
	}
}
