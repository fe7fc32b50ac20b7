package poll

import (
	"testing"

	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/store"
)

// TestPoller_RawResults: with Config.RawResults, the merged report of a
// polled run goes to that bucket, under RawResultsBaseURL, and not to the
// out bucket.
func TestPoller_RawResults(t *testing.T) {
	ctx := testContext(t)
	pub := newPublisher(t)
	pub.serveDoc(t, "/feed.atom", "", pub.runs(0, 0)...)
	out, raw := mustOpen(t), mustOpen(t)
	cfg := testConfig(pub.url("/feed.atom"))
	cfg.RawResults, cfg.RawResultsBaseURL = raw, "https://raw.example/wptd-results/"
	if _, err := mustNew(t, cfg, out).Poll(ctx); err != nil {
		t.Fatalf("Poll: %v", err)
	}
	st, ok := readStatus(t, out, 0)
	if !ok || st.State != records.StateValid {
		t.Fatalf("status %+v (exists %v), want VALID", st, ok)
	}
	var tr records.TestRun
	if ok, err := out.ReadJSON(ctx, store.TestRunKey(runID(0)), &tr); err != nil || !ok {
		t.Fatalf("TestRun record: exists %v, err %v", ok, err)
	}
	key := store.RawResultsKey(st.Revision, st.ProductID)
	if want := "https://raw.example/wptd-results/" + key; tr.RawResultsURL != want {
		t.Errorf("raw_results_url = %q, want %q", tr.RawResultsURL, want)
	}
	if !exists(t, raw, key) || exists(t, out, key) {
		t.Errorf("merged report in the raw-results bucket %v, in the out bucket %v; want only the former", exists(t, raw, key), exists(t, out, key))
	}
}
