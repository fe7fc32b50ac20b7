package dashboard

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestDashboard_RunsFeed: /api/runs names the feed each run came from in
// its wptfeed object, beside wpt.fyi's TestRun fields, and leaves it out
// for records that name none.
func TestDashboard_RunsFeed(t *testing.T) {
	env := newSynthEnv(t, synthRuns[:2])
	env.byName["c1"].Status.Feed = "partner"
	_, body := env.get(t, "/api/runs?label=stable")
	var runs []map[string]json.RawMessage
	if err := json.Unmarshal(body, &runs); err != nil {
		t.Fatalf("%v: %.300s", err, body)
	}
	got := map[string]string{}
	for _, r := range runs {
		var x struct {
			RunID string  `json:"run_id"`
			Feed  *string `json:"feed"`
		}
		if err := json.Unmarshal(r["wptfeed"], &x); err != nil {
			t.Fatal(err)
		}
		if _, ok := r["browser_name"]; !ok {
			t.Errorf("run %s: wpt.fyi's fields missing", x.RunID)
		}
		name := env.names[x.RunID]
		if x.Feed == nil {
			got[name] = "(none)"
		} else {
			got[name] = *x.Feed
		}
	}
	if got["c1"] != "partner" || got["f2"] != "(none)" {
		t.Errorf("feeds: got %v, want c1 partner, f2 none", got)
	}
	if !strings.Contains(string(body), `"feed":"partner"`) {
		t.Errorf("body lacks the feed field: %.300s", body)
	}
}
