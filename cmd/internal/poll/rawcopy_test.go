package poll

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/store"
)

// shardListing reads the shard listing of a VALID run.
func shardListing(t *testing.T, b *store.Bucket, st records.Status) records.ShardList {
	t.Helper()
	raw, err := b.ReadAll(t.Context(), store.ShardListKey(st.Revision, st.ProductID))
	if err != nil {
		t.Fatalf("shard listing: %v", err)
	}
	var l records.ShardList
	if err := json.Unmarshal(raw, &l); err != nil {
		t.Fatalf("shard listing: %v", err)
	}
	return l
}

// TestPoller_CopyRaw: with --copy-raw, the shards of a polled run are in
// the raw archive, byte for byte, each fetched once, and its listing names
// the copies, never the runner's storage; another feed without copy_raw
// keeps its listing at the runner's URLs.
func TestPoller_CopyRaw(t *testing.T) {
	ctx := testContext(t)
	pub := newPublisher(t)
	es := pub.runs(0, 1)
	// The wpt:shard of run 0 gives size and sha256: the copy is checked
	// against them.
	body := tinyReport(0)
	sum := sha256.Sum256(body)
	es[0].Run.Shards = []feed.Shard{{Name: "shard.json", Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}}
	var fetches atomic.Int32
	pub.setEnclosure(0, func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Write(body)
	})
	pub.serveDoc(t, "/feed.atom", "", es...)
	out, arch := mustOpen(t), mustOpen(t)
	cfg := testConfig(pub.url("/feed.atom"))
	cfg.CopyRaw = true
	cfg.RawArchive, cfg.RawArchiveBaseURL = arch, "https://archive.example/raw/"
	if _, err := mustNew(t, cfg, out).Poll(ctx); err != nil {
		t.Fatalf("Poll: %v", err)
	}
	for i := range 2 {
		st, ok := readStatus(t, out, i)
		if !ok || st.State != records.StateValid {
			t.Fatalf("run %d: status %+v (exists %v), want VALID", i, st, ok)
		}
		l := shardListing(t, out, st)
		key := store.RawCopyKey(runID(i), 0, "shard.json")
		if len(l.Shards) != 1 || l.Shards[0].URL != "https://archive.example/raw/"+key {
			t.Fatalf("run %d: listing %+v, want the copy at %s", i, l.Shards, key)
		}
		want := tinyReport(i)
		if got, err := arch.ReadAll(ctx, key); err != nil || !bytes.Equal(got, want) {
			t.Errorf("run %d: copy %q, %v; want the source's bytes", i, got, err)
		}
		if h := sha256.Sum256(want); l.Shards[0].SHA256 != hex.EncodeToString(h[:]) || l.Shards[0].Size != int64(len(want)) {
			t.Errorf("run %d: listing %+v, want the source's size and sha256", i, l.Shards[0])
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("run 0's shard fetched %d times, want once (the copy is made while processing)", n)
	}
}

// TestPoller_CopyRaw_PerFeed: copy_raw of a subscription copies that
// feed's runs only, into the out bucket under raw/ without --raw-out.
func TestPoller_CopyRaw_PerFeed(t *testing.T) {
	ctx := testContext(t)
	pub := newPublisher(t)
	pub.serveDoc(t, "/feed.atom", "", pub.runs(0, 0)...)
	pub.serveDoc(t, "/copied.atom", "", pub.runs(1, 1)...)
	out := mustOpen(t)
	cfg := testConfig("")
	cfg.Feeds = []Feed{{URL: pub.url("/feed.atom"), Name: "plain"}, {URL: pub.url("/copied.atom"), Name: "copied", CopyRaw: true}}
	cfg.ResultsBaseURL = "https://results.example"
	if _, err := mustNew(t, cfg, out).Poll(ctx); err != nil {
		t.Fatalf("Poll: %v", err)
	}
	st0, _ := readStatus(t, out, 0)
	if l := shardListing(t, out, st0); l.Shards[0].URL != pub.url(enclosurePath(0)) {
		t.Errorf("feed without copy_raw: listing names %s, want the runner's %s", l.Shards[0].URL, pub.url(enclosurePath(0)))
	}
	id := store.FeedRunID("copied", runID(1))
	var st1 records.Status
	if ok, err := out.ReadJSON(ctx, store.StatusKey(id), &st1); !ok || err != nil || st1.State != records.StateValid {
		t.Fatalf("copied feed's run: %+v (exists %v, %v), want VALID", st1, ok, err)
	}
	key := store.RawCopyPrefix + store.RawCopyKey(id, 0, "shard.json")
	if l := shardListing(t, out, st1); l.Shards[0].URL != "https://results.example/"+key {
		t.Errorf("copied feed: listing names %s, want %s", l.Shards[0].URL, key)
	}
	if !exists(t, out, key) {
		t.Errorf("no copy at %s", key)
	}
	if exists(t, out, store.RawCopyPrefix+store.RawCopyKey(runID(0), 0, "shard.json")) {
		t.Error("a run of the feed without copy_raw was copied")
	}
}

// TestPoller_CopyRaw_SourceExpired: a shard gone (404) before it was
// copied makes the run INVALID after --missing-retries polls, with
// enclosure_missing and a reason saying the source expired.
func TestPoller_CopyRaw_SourceExpired(t *testing.T) {
	ctx := testContext(t)
	pub := newPublisher(t)
	pub.serveDoc(t, "/feed.atom", "", entry(0, pub.url(enclosurePath(0))))
	out := mustOpen(t)
	cfg := testConfig(pub.url("/feed.atom"))
	cfg.CopyRaw = true
	cfg.MissingRetries = 2
	for poll := 1; poll <= 2; poll++ {
		mustNew(t, cfg, out).Poll(ctx)
	}
	st, ok := readStatus(t, out, 0)
	if !ok || st.State != records.StateInvalid || st.Code != "enclosure_missing" {
		t.Fatalf("status %+v (exists %v), want INVALID enclosure_missing", st, ok)
	}
	if !strings.Contains(st.Error, "source expired") || !strings.Contains(st.Error, "404") {
		t.Errorf("reason %q, want it to say the source expired (404)", st.Error)
	}
	if exists(t, out, store.RawCopyPrefix+store.RawCopyKey(runID(0), 0, "shard.json")) {
		t.Error("a copy of the missing shard exists")
	}
}
