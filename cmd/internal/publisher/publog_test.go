package publisher

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/store"
)

// walkServer walks s's feed and archives over HTTP and returns how many
// times each run appears.
func walkServer(t *testing.T, s *Server) map[string]int {
	t.Helper()
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	entries, _ := walk(t, hs.URL, "")
	seen := map[string]int{}
	for _, e := range entries {
		seen[e.Run.ID]++
	}
	return seen
}

var errCrash = errors.New("injected: the publisher died here")

// A publisher that dies between appending a run to the publication log and
// writing its published marker must not publish the run again when it
// restarts, however many runs other replicas published meanwhile.
func TestServer_CrashBetweenLogAndMarker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, b := tempBucket(t, ctx)
	const pageSize = 5

	// Replica B runs throughout; replica A dies at its marker write.
	replicaB := newScanServer(t, ctx, url, pageSize, nil)
	var dead atomic.Bool
	crashAtMarker := func(op, key string) error {
		if dead.Load() || op == "write" && strings.HasPrefix(key, "feed/published/") {
			dead.Store(true)
			return errCrash
		}
		return nil
	}
	replicaA := newScanServer(t, ctx, url, pageSize, nil, store.WithFaults(crashAtMarker))
	now := time.Now().UTC()
	x := store.NewRunID(now.Add(-time.Minute))
	putRun(t, b, x, 0)
	if err := replicaA.Scan(ctx, false); err == nil || !dead.Load() {
		t.Fatalf("replica A's scan: %v, want it to die at the marker", err)
	}
	if last, err := b.LastLogSeq(ctx); err != nil || last != 1 {
		t.Fatalf("log after the crash: last %d, %v; want run %s at 1", last, err, x)
	}
	replicaA.Close()

	// B reads A's entry and publishes more than ten runs after it.
	var want []string
	for i := range 12 {
		id := store.NewRunID(now.Add(time.Duration(i) * time.Millisecond))
		putRun(t, b, id, i+1)
		want = append(want, id)
		if err := replicaB.Scan(ctx, false); err != nil {
			t.Fatal(err)
		}
	}

	// A restarts.
	restarted := newScanServer(t, ctx, url, pageSize, nil)
	if err := restarted.Scan(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := replicaB.Scan(ctx, false); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*Server{"restarted A": restarted, "B": replicaB} {
		seen := walkServer(t, s)
		if seen[x] != 1 {
			t.Errorf("%s: run %s published %d times, want once", name, x, seen[x])
		}
		for _, id := range want {
			if seen[id] != 1 {
				t.Errorf("%s: run %s published %d times, want once", name, id, seen[id])
			}
		}
	}
}

// A log that already holds a run twice (written by an older publisher)
// shows it once, the same on every replica: the run's marker, written
// once, decides which entry counts.
func TestServer_DuplicateLogEntryVoid(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, b := tempBucket(t, ctx)
	const pageSize = 3
	now := time.Now().UTC()
	var ids []string
	for i := range 7 {
		id := store.NewRunID(now.Add(time.Duration(i) * time.Millisecond))
		putRun(t, b, id, i)
		ids = append(ids, id)
	}
	// Log: ids[0..5], then ids[1] again, then ids[6], each marked after
	// its append as older publishers did (a second marker is not written).
	order := append(append([]string{}, ids[:6]...), ids[1], ids[6])
	for i, id := range order {
		if err := b.AppendLog(ctx, store.LogEntry{Seq: int64(i + 1), RunID: id}); err != nil {
			t.Fatal(err)
		}
		if err := b.MarkPublished(ctx, id, int64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	first := newScanServer(t, ctx, url, pageSize, nil)
	second := newScanServer(t, ctx, url, pageSize, nil)
	for _, s := range []*Server{first, second} {
		if err := s.Scan(ctx, true); err != nil {
			t.Fatal(err)
		}
	}
	hsA, hsB := httptest.NewServer(first.Handler()), httptest.NewServer(second.Handler())
	defer hsA.Close()
	defer hsB.Close()
	ea, archA := walk(t, hsA.URL, "")
	eb, archB := walk(t, hsB.URL, "")
	for name, entries := range map[string]int{"first": len(ea), "second": len(eb)} {
		if entries != len(ids) {
			t.Errorf("%s replica: %d entries, want %d", name, entries, len(ids))
		}
	}
	seen := map[string]int{}
	for _, e := range ea {
		seen[e.Run.ID]++
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("run %s shown %d times, want once", id, seen[id])
		}
	}
	for u, body := range archA {
		if string(archB[u]) != string(body) {
			t.Errorf("%s differs between replicas", u)
		}
	}
	// Nothing is published again.
	if last, err := b.LastLogSeq(ctx); err != nil || last != int64(len(order)) {
		t.Errorf("log ends at %d, %v; want %d", last, err, len(order))
	}
}

// A publisher that dies after appending the last entry of a page, before
// its marker, and restarts alone does not read that entry at start (the
// page is archived): it appends the run again, the new entry counts, the
// old one is void, and the run is shown once.
func TestServer_CrashAtPageBoundary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, b := tempBucket(t, ctx)
	const pageSize = 3
	now := time.Now().UTC()
	var ids []string
	for i := range pageSize {
		id := store.NewRunID(now.Add(time.Duration(i) * time.Millisecond))
		putRun(t, b, id, i)
		ids = append(ids, id)
	}
	var dead atomic.Bool
	crashAtLastMarker := func(op, key string) error {
		if dead.Load() || op == "write" && key == "feed/published/"+ids[pageSize-1][:8]+"/"+ids[pageSize-1] {
			dead.Store(true)
			return errCrash
		}
		return nil
	}
	a := newScanServer(t, ctx, url, pageSize, nil, store.WithFaults(crashAtLastMarker))
	if err := a.Scan(ctx, false); err == nil {
		t.Fatal("scan survived the crash")
	}
	a.Close()

	restarted := newScanServer(t, ctx, url, pageSize, nil)
	if err := restarted.Scan(ctx, false); err != nil {
		t.Fatal(err)
	}
	seen := walkServer(t, restarted)
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("run %s shown %d times, want once", id, seen[id])
		}
	}
	// A replica starting now agrees.
	other := newScanServer(t, ctx, url, pageSize, nil)
	if got := walkServer(t, other); len(got) != len(ids) {
		t.Errorf("another replica shows %v, want the %d runs once each", got, len(ids))
	}
}
