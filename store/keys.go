package store

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Raw bucket layout (documented in README.md, "Bucket layout"):
//
//	runs/<YYYYMMDD>/<run id>/<shard name>     one object per shard, written first
//	runs/<YYYYMMDD>/<run id>/manifest.json    the commit point, written last
//
// <YYYYMMDD> is the first 8 characters of the run id, so that a scan lists
// one day at a time instead of the whole bucket.
const (
	RunsPrefix   = "runs/"
	ManifestName = "manifest.json"
)

// runIDPattern: UTC upload time (basic ISO 8601, optional fraction), "Z",
// "-", and a suffix of 1 to 64 URL-safe characters.
var runIDPattern = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}(\.[0-9]{1,9})?Z-[A-Za-z0-9_-]{1,64}$`)

// shardNamePattern: a shard's file name within its run.
var shardNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// NewRunID returns a new run id for an upload at t: unique (64 random bits),
// URL-safe, and sorting by upload time (microseconds).
func NewRunID(t time.Time) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("store: random run id: %v", err))
	}
	return t.UTC().Format("20060102T150405.000000Z") + "-" + hex.EncodeToString(b[:])
}

// ValidRunID reports whether id is a well-formed run id.
func ValidRunID(id string) bool {
	if !runIDPattern.MatchString(id) {
		return false
	}
	_, err := RunTime(id)
	return err == nil
}

// RunTime is the upload time a run id encodes.
func RunTime(id string) (time.Time, error) {
	i := strings.IndexByte(id, 'Z')
	if i < 0 {
		return time.Time{}, fmt.Errorf("store: run id %q: %w", id, ErrInvalid)
	}
	s := id[:i]
	layout := "20060102T150405"
	if j := strings.IndexByte(s, '.'); j >= 0 {
		layout += "." + strings.Repeat("0", len(s)-j-1)
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("store: run id %q: %w", id, ErrInvalid)
	}
	return t.UTC(), nil
}

// Runs of several feeds. The out bucket keeps a run under its run id,
// qualified with the name of its feed unless the feed is the primary one
// (the first an ingester follows, keyed as a single-feed ingester keys it):
//
//	<run id>            a run of the primary feed
//	<run id>~<feed>     a run of feed <feed> ([a-z0-9-], see ValidFeedName)
//
// The qualified id takes the place of the run id in every per-run key
// (StatusKey, TestRunKey, RunMetricsKey, SeriesPointKey, MissingStateKey,
// LeasePrefix, PendingMetricsKey), so that a feed that reuses another's run
// ids reaches none of its objects, and the keys still sort by upload time.
const feedSep = "~"

// feedNamePattern: what ValidFeedName accepts.
var feedNamePattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidFeedName reports whether name may name a feed: 1 to 63 characters of
// a-z, 0-9 and "-", starting and ending with a letter or digit.
func ValidFeedName(name string) bool { return feedNamePattern.MatchString(name) }

// FeedRunID is the id under which the out bucket keeps run runID of a
// feed: runID itself for the primary feed (feed ""), else
// "<run id>~<feed>".
func FeedRunID(feed, runID string) string {
	if feed == "" {
		return runID
	}
	return runID + feedSep + feed
}

// SplitFeedRunID returns the run id and the feed of an id FeedRunID built
// ("" for the primary feed), and whether id is one.
func SplitFeedRunID(id string) (runID, feed string, ok bool) {
	runID, feed, qualified := strings.Cut(id, feedSep)
	if !ValidRunID(runID) || qualified && !ValidFeedName(feed) {
		return "", "", false
	}
	return runID, feed, true
}

// ValidFeedRunID reports whether id is a run id, or a run id qualified with
// a feed name (FeedRunID).
func ValidFeedRunID(id string) bool {
	_, _, ok := SplitFeedRunID(id)
	return ok
}

// ValidShardName reports whether name may name a shard object.
func ValidShardName(name string) bool {
	return shardNamePattern.MatchString(name) && name != ManifestName && !strings.HasSuffix(name, ".tmp")
}

// RunPrefix is the key prefix of a run's objects, ending in "/".
func RunPrefix(runID string) string {
	return RunsPrefix + runID[:8] + "/" + runID + "/"
}

// ManifestKey is the key of a run's manifest.
func ManifestKey(runID string) string { return RunPrefix(runID) + ManifestName }

// ShardKey is the key of one shard of a run.
func ShardKey(runID, name string) string { return RunPrefix(runID) + name }

// ShardName is the name `publisher upload` gives shard i.
func ShardName(i int) string { return fmt.Sprintf("shard-%03d.json.gz", i) }

// Dashboard (out) bucket layout, wpt.fyi's where wpt.fyi has one:
//
//	<sha>/<product id>-summary_v2.json.gz      summary_v2
//	<sha>/<product id><test path>              one gzip JSON per test (the path as is)
//	<sha>/<product id>-tests.gz                the same, packed (--per-test-layout=packed)
//	<sha>/<product id>-tests-index.json.gz     where each test is in the pack
//	testruns/<run id>.json                     TestRun record
//	status/<run id>.json                       status record, written last
//	state/...                                  the ingester's own state

// SummaryKey is the key of a run's summary_v2.
func SummaryKey(sha, productID string) string {
	return sha + "/" + productID + "-summary_v2.json.gz"
}

// TestPrefix is the prefix of a run's per-test files, ending in "/".
func TestPrefix(sha, productID string) string { return sha + "/" + productID + "/" }

// TestKey is the key of one test's per-test file: wpt.fyi's object name,
// the test path as it is (queries included), which wpt.fyi's webapp asks for
// with the last segment percent-encoded. A file bucket cannot hold every such
// key (see ValidFileKey).
func TestKey(sha, productID, testPath string) string {
	return sha + "/" + productID + testPath
}

// ValidFileKey reports whether a file bucket holds key as a file of the same
// path, which gocloud's fileblob reads back: no empty, "." or ".."
// segment, no trailing "/", no control character, no "../" and no "__0x"
// (which fileblob escapes). Writing another key to a file bucket is an error
// wrapping ErrInvalid; the ingester puts the per-test files of a run with
// such a test path in the packed layout instead.
func ValidFileKey(key string) bool {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") || strings.Contains(key, "__0x") ||
		strings.Contains(key, "../") { // fileblob escapes the "/" of "../" anywhere
		return false
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		for _, c := range seg {
			if c < 0x20 || c == 0x7f {
				return false
			}
		}
	}
	return true
}

// TestPackKey is the key of a run's packed per-test files: the per-test
// files' bytes (gzip members) one after another, sorted by test path.
func TestPackKey(sha, productID string) string { return sha + "/" + productID + "-tests.gz" }

// TestPackIndexKey is the key of the index of a run's TestPackKey.
func TestPackIndexKey(sha, productID string) string {
	return sha + "/" + productID + "-tests-index.json.gz"
}

// TestRunKey is the key of a run's TestRun record.
func TestRunKey(runID string) string { return "testruns/" + runID + ".json" }

// StatusKey is the key of a run's status record.
func StatusKey(runID string) string { return StatusPrefix + runID + ".json" }
