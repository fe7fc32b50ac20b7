package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/publisher"
	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/store"
)

// TestIngester_SeveralPublishers: two real publishers, the second
// mirroring the first's runs (same run ids, same reports) and adding one
// of its own. An ingester that followed the first alone is given both by a
// subscriptions file: the first's runs are not fetched again, the mirror's
// copies are DUPLICATE of them, kept under their own keys, and the
// mirror's own run is VALID with the mirror's labels.
func TestIngester_SeveralPublishers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rawA, rawB, out := t.TempDir(), t.TempDir(), t.TempDir()
	bA, err := store.Open(ctx, rawA)
	if err != nil {
		t.Fatal(err)
	}
	defer bA.Close()
	bB, err := store.Open(ctx, rawB)
	if err != nil {
		t.Fatal(err)
	}
	defer bB.Close()
	now := time.Now()
	var ids []string
	for i := range 3 {
		id := store.NewRunID(now.Add(time.Duration(i) * time.Microsecond))
		commitRun(t, bA, id, tinyReport(i))
		commitRun(t, bB, id, tinyReport(i)) // the mirror
		ids = append(ids, id)
	}
	own := store.NewRunID(now.Add(time.Second))
	commitRun(t, bB, own, tinyReport(7))
	cfg := publisher.ServerConfig{ScanInterval: 50 * time.Millisecond, FullScan: time.Hour}
	sA, feedA, cA := startPublisher(t, ctx, rawA, cfg)
	sB, feedB, _ := startPublisher(t, ctx, rawB, cfg)
	waitFor(t, time.Minute, "runs published", func() bool { return sA.Count() == 3 && sB.Count() == 4 })

	if _, stderr, err := exec(t, ctx, ingesterCmd, "run", "--feed", feedA, "--out", out, "--once", "--per-test=false"); err != nil {
		t.Fatalf("single feed: %v\n%s", err, stderr)
	}
	subs := filepath.Join(t.TempDir(), "subscriptions.json")
	if err := os.WriteFile(subs, []byte(`{"feeds":[{"name":"main","url":"`+feedA+`"},{"name":"mirror","url":"`+feedB+`","labels":["mirrored"]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := exec(t, ctx, ingesterCmd, "run", "--subscriptions", subs, "--out", out, "--once", "--per-test=false"); err != nil {
		t.Fatalf("two feeds: %v\n%s", err, stderr)
	}
	for _, id := range ids {
		if n := cA.count("/runs/" + id + "/shard-000.json.gz"); n != 1 {
			t.Errorf("main's run %s fetched %d times, want once (not again after the upgrade)", id, n)
		}
		if st := readStatus(t, out, id); st.State != records.StateValid || st.TestRunID != records.TestRunID(id) {
			t.Errorf("main's run %s: got %s, TestRun %d; want VALID with its single-feed TestRun id", id, st.State, st.TestRunID)
		}
		m := readStatus(t, out, store.FeedRunID("mirror", id))
		if m.State != records.StateDuplicate || m.DuplicateOf != id || m.Feed != "mirror" {
			t.Errorf("mirror's copy of %s: got %s of %q duplicate of %q, want DUPLICATE of feed mirror, of %s", id, m.State, m.Feed, m.DuplicateOf, id)
		}
	}
	st := readStatus(t, out, store.FeedRunID("mirror", own))
	if st.State != records.StateValid || st.Feed != "mirror" || st.TestRunID != records.TestRunID(own+"~mirror") {
		t.Errorf("mirror's own run: got %+v, want VALID of feed mirror", st)
	}
	found := false
	for _, l := range st.Labels {
		found = found || l == "mirrored"
	}
	if !found {
		t.Errorf("mirror's own run: labels %v, want the feed's label mirrored", st.Labels)
	}
	if _, err := os.Stat(filepath.Join(out, "status", own+".json")); !os.IsNotExist(err) {
		t.Errorf("mirror's own run keyed as a run of the primary feed (%v)", err)
	}
}
