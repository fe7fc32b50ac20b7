package feed_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/wptfeed/wptfeed/feed/feedtest"
)

// Python's feedparser, which keeps only the last of repeated wpt:shard
// elements, keeps each enclosure's wpt:sha256 on the enclosure itself, as
// "sha256" whatever the document's prefix.
func TestFeedparser_EnclosureSHA256(t *testing.T) {
	py := feedtest.FeedparserPython(t)
	f := subscriptionFeed()
	path := filepath.Join(t.TempDir(), "feed.atom")
	if err := os.WriteFile(path, mustMarshal(t, f), 0o644); err != nil {
		t.Fatal(err)
	}
	const script = `
import json, sys, feedparser
d = feedparser.parse(sys.argv[1])
if d.bozo:
    sys.exit("not well-formed: %s" % d.bozo_exception)
json.dump([[[e.get("href", ""), e.get("sha256", "")] for e in entry.enclosures] for entry in d.entries], sys.stdout)
`
	out, err := exec.Command(py, "-c", script, path).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("feedparser: %v\n%s", err, stderr)
	}
	var got [][][2]string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("feedparser output %q: %v", out, err)
	}
	var want [][][2]string
	for _, e := range f.Entries {
		var encl [][2]string
		for _, l := range e.Enclosures() {
			encl = append(encl, [2]string{l.Href, l.SHA256})
		}
		want = append(want, encl)
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("feedparser's enclosures (href, sha256): got %v, want %v", got, want)
	}
	if want[0][0][1] == "" {
		t.Fatal("fixture has no enclosure with a sha256")
	}
}
