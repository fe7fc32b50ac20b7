package store

import "testing"

func TestFeedRunID(t *testing.T) {
	const id = "20261127T000000Z-r0"
	for _, tc := range []struct {
		feed, want string
	}{{"", id}, {"mirror", id + "~mirror"}} {
		got := FeedRunID(tc.feed, id)
		if got != tc.want {
			t.Errorf("FeedRunID(%q): got %q, want %q", tc.feed, got, tc.want)
		}
		r, f, ok := SplitFeedRunID(got)
		if !ok || r != id || f != tc.feed {
			t.Errorf("SplitFeedRunID(%q): got %q, %q, %v", got, r, f, ok)
		}
		if k, ok := StatusRunID(StatusKey(got)); !ok || k != got {
			t.Errorf("StatusRunID(StatusKey(%q)): got %q, %v", got, k, ok)
		}
	}
	for _, bad := range []string{id + "~", id + "~Mirror", id + "~a~b", "x~mirror", id + "~-a", id + "~a/b"} {
		if ValidFeedRunID(bad) {
			t.Errorf("ValidFeedRunID(%q): got true, want false", bad)
		}
	}
}

func TestFeedStateKeys(t *testing.T) {
	const u = "https://a.example/feed.atom"
	if FeedPollStateKey("", u) != PollStateKey(u) || FeedArchiveStateKey("", u) != ArchiveStateKey(u) || FeedSkippedStateKey("", u) != SkippedStateKey(u) {
		t.Error("the primary feed's state keys must be those of a single-feed ingester")
	}
	if FeedPollStateKey("b", u) == PollStateKey(u) || FeedArchiveStateKey("b", u) == ArchiveStateKey(u) || FeedArchiveStateKey("b", u) == FeedArchiveStateKey("c", u) {
		t.Error("another feed's state keys must be its own")
	}
	const sha, pid = "0123456789abcdef0123456789abcdef01234567", "chrome-1-linux-abc"
	if FeedProductClaimKey("", sha, pid) != ProductClaimKey(sha, pid) {
		t.Error("the primary feed's product claim must be ProductClaimKey")
	}
	k := FeedProductClaimKey("mirror", sha, pid)
	if k == ProductClaimKey(sha, pid) || ProductClaimID(sha, k) != pid {
		t.Errorf("mirror's claim %q: ProductClaimID %q, want %q and a key of its own", k, ProductClaimID(sha, k), pid)
	}
}
