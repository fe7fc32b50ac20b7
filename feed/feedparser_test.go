package feed_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// feedparserPython returns a Python interpreter that can import feedparser
// (Debian: python3-feedparser, for /usr/bin/python3). Without one the test
// skips, or fails under CI=true, where .ci/test.sh installs it.
func feedparserPython(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if p, err := exec.LookPath(py); err == nil && exec.Command(p, "-c", "import feedparser").Run() == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no python3 with feedparser (CI=true): apt-get install -y python3-feedparser")
	}
	t.Skip("no python3 with feedparser: apt-get install -y python3-feedparser")
	return ""
}

// Python's feedparser, which keeps only the last of repeated wpt:shard
// elements, keeps each enclosure's wpt:sha256 on the enclosure itself, as
// "sha256" whatever the document's prefix.
func TestFeedparser_EnclosureSHA256(t *testing.T) {
	py := feedparserPython(t)
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
