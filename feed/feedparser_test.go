package feed_test

import (
	"slices"
	"testing"

	"github.com/wptfeed/wptfeed/feed/feedtest"
)

// Python's feedparser, which keeps only the last of repeated wpt:shard
// elements, keeps each enclosure's wpt:sha256 on the enclosure itself, as
// "sha256" whatever the document's prefix.
func TestFeedparser_EnclosureSHA256(t *testing.T) {
	f := subscriptionFeed()
	var got [][][2]string
	feedtest.Feedparser(t, mustMarshal(t, f),
		`[[[e.get("href", ""), e.get("sha256", "")] for e in entry.enclosures] for entry in d.entries]`, &got)
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
