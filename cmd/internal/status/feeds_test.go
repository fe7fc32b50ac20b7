package status

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/feed/feedtest"
	"github.com/wptfeed/wptfeed/store"
)

// TestStatusServer_FeedFilter: ?feed= selects the runs of a feed by the
// name their status records carry; a run of a feed other than the primary
// (its id qualified with the feed's name) is indexed, served at
// /api/status/ and carries the feed's category.
func TestStatusServer_FeedFilter(t *testing.T) {
	const (
		idMain   = "20261128T080000Z-m1"
		idMirror = "20261128T080000Z-m1~mirror" // the same run id, in another feed
	)
	env := newTestEnv(t, testConfig(), func(b *store.Bucket) {
		putRecord(t, b, records.Status{RunID: idMain, Feed: "main", State: records.StateInvalid, Code: "not_json", Error: "x", Ingested: ingestedAt(idMain)})
		putRecord(t, b, records.Status{RunID: idMirror, Feed: "mirror", State: records.StateDuplicate, Code: "duplicate", DuplicateOf: idMain, Ingested: ingestedAt(idMirror)})
	})
	var docs [][]byte
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"feed=mirror", []string{idMirror}},
		{"feed=main", []string{idMain}},
		{"feed=main,mirror", []string{idMirror, idMain}},
		{"feed=other", nil},
	} {
		f, body := env.feed(t, "/status.atom?"+tc.query)
		docs = append(docs, body)
		if got := runIDs(f); !slices.Equal(got, tc.want) {
			t.Errorf("%s: entries got %v, want %v", tc.query, got, tc.want)
		}
		for i := range f.Entries {
			if got := categories(&f.Entries[i], SchemeFeed); len(got) != 1 {
				t.Errorf("%s: entry %s: feed categories %v, want one", tc.query, f.Entries[i].ID, got)
			}
		}
	}
	feedtest.Jing(t, docs...)
	f, _ := env.feed(t, "/status.atom")
	if ids := runIDs(f); !slices.Contains(ids, idMirror) || !slices.Contains(ids, sidChrome) {
		t.Errorf("unfiltered: got %v, want both feeds' runs and the older records", ids)
	}
	resp, body := env.do(t, "GET", "/api/status/"+idMirror, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"duplicate_of":`) {
		t.Errorf("/api/status/%s: got %s %s", idMirror, resp.Status, body)
	}
}
