package store

import "testing"

// TestRawResultsKey: the merged report is where wpt.fyi's results processor
// puts it, under the run's per-test prefix; the shard listing is a key of
// our own beside the summary, which no test path can take.
func TestRawResultsKey(t *testing.T) {
	const sha, pid = "0bdaaf9c1622ca49eb140381af1ece6d8001c934", "chrome-131.0-linux-24.04-1234567890"
	for _, tc := range []struct{ name, got, want string }{
		{"RawResultsKey", RawResultsKey(sha, pid), sha + "/" + pid + "/report.json"},
		{"TestKey of /report.json", TestKey(sha, pid, "/"+RawResultsName), RawResultsKey(sha, pid)},
		{"ShardListKey", ShardListKey(sha, pid), sha + "/" + pid + "-shards.json"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if k := ShardListKey(sha, pid); k == SummaryKey(sha, pid) || k == TestPackKey(sha, pid) || k == TestPackIndexKey(sha, pid) {
		t.Errorf("ShardListKey %q is another output's key", k)
	}
}

func TestRawCopyKey(t *testing.T) {
	const id = "20261130T000000Z-a"
	for _, c := range []struct {
		i    int
		name string
		want string
	}{
		{0, "wpt-1.json.gz", "runs/20261130/" + id + "/shard-000.json.gz"},
		{12, "https://runner.example/x/report.json", "runs/20261130/" + id + "/shard-012.json"},
		{1, "../../etc/passwd", "runs/20261130/" + id + "/shard-001.json"},
	} {
		if got := RawCopyKey(id, c.i, c.name); got != c.want {
			t.Errorf("RawCopyKey(%d, %q) = %q, want %q", c.i, c.name, got, c.want)
		}
	}
	if k := RawCopyKey(FeedRunID("mirror", id), 0, "a.gz"); k != "runs/20261130/"+id+"~mirror/shard-000.json.gz" {
		t.Errorf("RawCopyKey of a second feed's run = %q", k)
	}
}
