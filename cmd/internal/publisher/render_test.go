package publisher

import (
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
	sub, err := rd.subscription(goldenRuns()[:1], 1, filter{})
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
	docs := map[string]*feed.Document{"subscription.golden": sub, "archive.golden": arch, "archive-filtered.golden": farch}
	var bodies [][]byte
	for name, doc := range docs {
		testutil.Golden(t, filepath.Join("testdata", name), doc.Body)
		bodies = append(bodies, doc.Body)
	}
	feedtest.Jing(t, bodies...)
}
