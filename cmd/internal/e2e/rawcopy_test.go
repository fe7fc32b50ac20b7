package e2e

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/publisher"
	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/store"
)

// TestIngester_RawCopies: runners' storage that expires. Three runs are
// published; `ingester run --once --copy-raw --raw-out DIR` copies their
// shards, and then the runner's storage deletes them. The copies are the
// shards byte for byte, the shard listings name them (not the runner's
// storage), and a run whose shard expired before the ingester saw it is
// INVALID after --missing-retries polls, saying its source expired.
func TestIngester_RawCopies(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	raw, out, arch := t.TempDir(), t.TempDir(), t.TempDir()
	b, err := store.Open(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	now := time.Now()
	var ids []string
	for i := range 3 {
		id := store.NewRunID(now.Add(time.Duration(i) * time.Microsecond))
		commitRun(t, b, id, tinyReport(i))
		ids = append(ids, id)
	}
	shard := func(id string) string {
		return filepath.Join(raw, filepath.FromSlash(store.ShardKey(id, "shard-000.json.gz")))
	}
	original := map[string][]byte{}
	for _, id := range ids {
		p, err := os.ReadFile(shard(id))
		if err != nil {
			t.Fatal(err)
		}
		original[id] = p
	}
	// The third run's storage expires before the ingester sees it.
	if err := os.Remove(shard(ids[2])); err != nil {
		t.Fatal(err)
	}
	s, feedURL, _ := startPublisher(t, ctx, raw, publisher.ServerConfig{ScanInterval: 50 * time.Millisecond, FullScan: time.Hour})
	waitFor(t, time.Minute, "runs published", func() bool { return s.Count() == 3 })

	args := []string{"run", "--feed", feedURL, "--out", out, "--once", "--per-test=false",
		"--copy-raw", "--raw-out", arch, "--raw-out-base-url", "https://archive.example/wpt", "--missing-retries", "2"}
	for poll := 1; poll <= 2; poll++ {
		// Poll 1 leaves the run without a status (non-zero exit, naming
		// it); poll 2 records it INVALID: every run has a status.
		_, stderr, err := exec(t, ctx, ingesterCmd, args...)
		if poll == 1 && (err == nil || !strings.Contains(stderr, ids[2])) {
			t.Errorf("poll 1: exit error %v, want one naming the run whose shard is gone:\n%s", err, stderr)
		}
		if poll == 2 && err != nil {
			t.Errorf("poll 2: %v\n%s", err, stderr)
		}
	}
	// The runner's storage expires the rest.
	for _, id := range ids[:2] {
		if err := os.Remove(shard(id)); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids[:2] {
		st := readStatus(t, out, id)
		if st.State != records.StateValid {
			t.Fatalf("run %s: %s %s %q, want VALID", id, st.State, st.Code, st.Error)
		}
		var l records.ShardList
		readJSON(t, filepath.Join(out, filepath.FromSlash(store.ShardListKey(st.Revision, st.ProductID))), &l)
		key := store.RawCopyKey(id, 0, "shard-000.json.gz")
		if len(l.Shards) != 1 || l.Shards[0].URL != "https://archive.example/wpt/"+key {
			t.Fatalf("run %s: listing %+v, want the copy %s", id, l.Shards, key)
		}
		if u, _ := url.Parse(l.Shards[0].URL); u.Host != "archive.example" {
			t.Errorf("run %s: listing names %s, not the archive", id, l.Shards[0].URL)
		}
		got, err := os.ReadFile(filepath.Join(arch, filepath.FromSlash(key)))
		if err != nil || !bytes.Equal(got, original[id]) {
			t.Errorf("run %s: copy %d bytes (%v), want the runner's %d bytes", id, len(got), err, len(original[id]))
		}
		if l.Shards[0].Size != int64(len(original[id])) || l.Shards[0].SHA256 == "" {
			t.Errorf("run %s: listing %+v, want size %d and a sha256", id, l.Shards[0], len(original[id]))
		}
	}
	st := readStatus(t, out, ids[2])
	if st.State != records.StateInvalid || st.Code != "enclosure_missing" || !strings.Contains(st.Error, "source expired") {
		t.Errorf("expired run: %s %s %q, want INVALID enclosure_missing saying the source expired", st.State, st.Code, st.Error)
	}
	if _, err := os.Stat(filepath.Join(arch, filepath.FromSlash(store.RawCopyKey(ids[2], 0, "shard-000.json.gz")))); err == nil {
		t.Error("the expired run has a copy")
	}
	if _, err := os.Stat(filepath.Join(out, "raw")); err == nil {
		t.Error("copies in the out bucket too, though --raw-out is given")
	}
}
