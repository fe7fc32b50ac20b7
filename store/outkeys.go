package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// More of the out bucket's layout: the ingester's state and the metrics
// files (formats in docs/out-bucket.md and docs/metrics-files.md). Every
// key the ingester's packages read or write is built here.
//
//	status/<run id>.json                       StatusKey
//	status/<run id>~<feed>.json                StatusKey(FeedRunID(feed, run id)), a run of a feed other than the primary
//	<sha>/<product id>/report.json             RawResultsKey (or in the raw-results bucket)
//	<sha>/<product id>-shards.json             ShardListKey
//	raw/runs/<day>/<run id>/shard-NNN.json[.gz] RawCopyPrefix + RawCopyKey (the raw archive when it is not a bucket of its own)
//	state/poll/<url hash>.json                 PollStateKey (FeedPollStateKey of a feed other than the primary)
//	state/archives/<url hash>.json             ArchiveStateKey
//	state/missing/<run id>.json                MissingStateKey
//	state/skipped/<url hash>.json              SkippedStateKey
//	state/leases/<run id>/<generation>.json    LeaseKey
//	state/products/<sha>/<product id>.json     ProductClaimKey
//	state/metrics-pending/<run id>.json        PendingMetricsKey
//	metrics/runs/<run id>.json                 RunMetricsKey
//	metrics/points/<product>/<run id>.json     SeriesPointKey
//	metrics/series/<product>.json              SeriesKey
//	metrics/aligned/<sha>/<filter>.json        AlignedKey
//	metrics/aligned/<sha>/<filter>-pass-rates.json   PassRatesKey
//	metrics/interop-points/<filter>/<sha>.json InteropPointKey
//	metrics/interop/<filter>.json              InteropKey
//	metrics/diffs/<run id>.json                DiffKey
//	metrics/intermittent/<run id>.json         IntermittentKey
//	metrics/history/<product>/<series>.json    SeriesHistoryKey

// StatusPrefix is the prefix of every status record.
const StatusPrefix = "status/"

// StatusDayPrefix is the prefix of the status records of the runs uploaded
// on a day, given as YYYYMMDD: run ids start with their upload day.
func StatusDayPrefix(day string) string { return StatusPrefix + day }

// StatusRunID returns the run id of a status record's key, and whether
// key is one.
func StatusRunID(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, StatusPrefix)
	if !ok {
		return "", false
	}
	id, ok := strings.CutSuffix(rest, ".json")
	return id, ok && ValidFeedRunID(id)
}

// RawResultsKey is the key of a run's merged wptreport, gzip JSON, where
// wpt.fyi's results processor stores the report its TestRun's
// raw_results_url names: <sha>/<product id>/report.json, in the out bucket
// or in a bucket of its own (wpt.fyi's raw_results_bucket). In the out
// bucket it shares the prefix of the per-test files (TestPrefix): a test
// path "/report.json" would be the same key.
func RawResultsKey(sha, productID string) string { return TestPrefix(sha, productID) + RawResultsName }

// RawResultsName is the last segment of RawResultsKey.
const RawResultsName = "report.json"

// ShardListKey is the key of the listing of a run's raw shards: where they
// are and how to check them.
func ShardListKey(sha, productID string) string { return sha + "/" + productID + "-shards.json" }

// RawCopyKey is the key of the copy of a run's shard i, which its runner
// named name, in the raw archive (ingester --copy-raw): the raw layout's
// key of the run's shard "shard-NNN.json", with ".gz" when name ends so,
// whatever else the runner named it (the shard listing keeps that name).
// The archive is thus in the raw layout, without manifests.
func RawCopyKey(runID string, i int, name string) string {
	n := fmt.Sprintf("shard-%03d.json", i)
	if strings.HasSuffix(name, ".gz") {
		n += ".gz"
	}
	return ShardKey(runID, n)
}

// RawCopyPrefix is where the raw archive is kept in the out bucket when it
// is not a bucket of its own.
const RawCopyPrefix = "raw/"

const statePrefix = "state/"

// urlHash names a URL in a key: 128 bits of its sha256, in hex.
func urlHash(u string) string {
	h := sha256.Sum256([]byte(u))
	return hex.EncodeToString(h[:16])
}

// PollStateKey is the key of a feed's poll state (validators of the last
// fully processed subscription document).
func PollStateKey(feedURL string) string { return statePrefix + "poll/" + urlHash(feedURL) + ".json" }

// feedURLHash names a URL as one feed sees it: for the primary feed (feed
// "") urlHash, for another feed the hash of its name and the URL, so that
// no feed's state can mark a document another feed reads.
func feedURLHash(feed, u string) string {
	if feed == "" {
		return urlHash(u)
	}
	return urlHash(feed + feedSep + u)
}

// FeedPollStateKey is PollStateKey of a feed: the same key for the primary
// feed (feed ""), a key of the feed's own for any other.
func FeedPollStateKey(feed, feedURL string) string {
	return statePrefix + "poll/" + feedURLHash(feed, feedURL) + ".json"
}

// FeedArchiveStateKey is ArchiveStateKey as feed sees the archive (the
// same key for the primary feed, feed "").
func FeedArchiveStateKey(feed, archiveURL string) string {
	return statePrefix + "archives/" + feedURLHash(feed, archiveURL) + ".json"
}

// FeedSkippedStateKey is SkippedStateKey as feed walked (the same key for
// the primary feed, feed "").
func FeedSkippedStateKey(feed, archiveURL string) string {
	return statePrefix + "skipped/" + feedURLHash(feed, archiveURL) + ".json"
}

// ArchiveStateKey is the key of the mark of an archive document whose runs
// are all processed.
func ArchiveStateKey(archiveURL string) string {
	return statePrefix + "archives/" + urlHash(archiveURL) + ".json"
}

// MissingStatePrefix is the prefix of every MissingStateKey.
const MissingStatePrefix = statePrefix + "missing/"

// MissingStateKey is the key of the count of polls that found an
// enclosure of a run missing.
func MissingStateKey(runID string) string { return MissingStatePrefix + runID + ".json" }

// SkippedStateKey is the key of the record of history a capped catch-up
// walk did not read, from the archive at archiveURL on.
func SkippedStateKey(archiveURL string) string {
	return statePrefix + "skipped/" + urlHash(archiveURL) + ".json"
}

// LeasesPrefix is the prefix of every run's lease generations.
const LeasesPrefix = statePrefix + "leases/"

// LeasePrefix is the prefix of a run's lease generations, ending in "/".
func LeasePrefix(runID string) string { return LeasesPrefix + runID + "/" }

// LeaseKey is the key of generation g of a run's lease.
func LeaseKey(runID string, g int64) string {
	return LeasePrefix(runID) + fmt.Sprintf("%010d", g) + ".json"
}

// LeaseGeneration returns the generation a LeaseKey names, and whether key
// is one.
func LeaseGeneration(key string) (int64, bool) {
	if len(key) < 15 || !strings.HasSuffix(key, ".json") {
		return 0, false
	}
	n, err := strconv.ParseInt(key[len(key)-15:len(key)-5], 10, 64)
	return n, err == nil
}

// ProductClaimPrefix is the prefix of the product claims at a revision.
func ProductClaimPrefix(sha string) string { return statePrefix + "products/" + sha + "/" }

// ProductClaimKey is the key of the write-once claim of a product id at a
// revision by the run that owns it (wpt.fyi's duplicate rule).
func ProductClaimKey(sha, productID string) string {
	return ProductClaimPrefix(sha) + productID + ".json"
}

// FeedProductClaimKey is the key of the claim of a product id at a
// revision by a run of feed: ProductClaimKey for the primary feed (feed
// ""), <product id>~<feed>.json beside it for any other (a run is a
// duplicate only of a run of its own feed or of a feed listed before it).
func FeedProductClaimKey(feed, sha, productID string) string {
	if feed == "" {
		return ProductClaimKey(sha, productID)
	}
	return ProductClaimPrefix(sha) + productID + feedSep + feed + ".json"
}

// ProductClaimID returns the product id of a ProductClaimKey (or a
// FeedProductClaimKey) under the claims of sha.
func ProductClaimID(sha, key string) string {
	id := strings.TrimSuffix(strings.TrimPrefix(key, ProductClaimPrefix(sha)), ".json")
	id, _, _ = strings.Cut(id, feedSep)
	return id
}

// PendingMetricsPrefix is the prefix of the markers of runs whose metrics
// across runs are not updated yet.
const PendingMetricsPrefix = statePrefix + "metrics-pending/"

// PendingMetricsKey is the key of a run's pending-metrics marker.
func PendingMetricsKey(runID string) string { return PendingMetricsPrefix + runID + ".json" }

// RunMetricsKey is the key of a run's directory pass rates.
func RunMetricsKey(runID string) string { return "metrics/runs/" + runID + ".json" }

// metricsSegment makes a product name safe as a key segment: bytes outside
// A-Z a-z 0-9 . _ - become "_".
func metricsSegment(p string) string {
	var b strings.Builder
	for _, c := range p {
		if c < 128 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// SeriesPointPrefix is the prefix of a product's series points.
func SeriesPointPrefix(product string) string {
	return "metrics/points/" + metricsSegment(product) + "/"
}

// SeriesPointKey is the key of one run's point of its product's series.
func SeriesPointKey(product, runID string) string {
	return SeriesPointPrefix(product) + runID + ".json"
}

// SeriesKey is the key of a product's pass-rate series.
func SeriesKey(product string) string { return "metrics/series/" + metricsSegment(product) + ".json" }

// AlignedKey is the key of the aligned metrics of a revision under a filter
// (all, stable or experimental).
func AlignedKey(sha, filter string) string { return "metrics/aligned/" + sha + "/" + filter + ".json" }

// PassRatesKey is the key of the same in wpt.fyi's pass-rates format.
func PassRatesKey(sha, filter string) string {
	return "metrics/aligned/" + sha + "/" + filter + "-pass-rates.json"
}

// InteropPointPrefix is the prefix of the interop points of a filter.
func InteropPointPrefix(filter string) string { return "metrics/interop-points/" + filter + "/" }

// InteropPointKey is the key of one revision's interop point.
func InteropPointKey(filter, sha string) string { return InteropPointPrefix(filter) + sha + ".json" }

// InteropKey is the key of the interop series of a filter.
func InteropKey(filter string) string { return "metrics/interop/" + filter + ".json" }

// DiffKey is the key of a run's diff against the previous VALID run of its
// series (docs/diffs.md).
func DiffKey(runID string) string { return "metrics/diffs/" + runID + ".json" }

// IntermittentKey is the key of the known_intermittent statuses of a run's
// tests, for the tests whose report lists some (docs/diffs.md).
func IntermittentKey(runID string) string { return "metrics/intermittent/" + runID + ".json" }

// SeriesHistoryKey is the key of the recent history of a product series:
// the runs of one product with the same labels (wpt.fyi's labels, which
// hold the channel), for the flaky rule (docs/diffs.md). The order and
// repeats of labels do not matter; <series> is a hash of the product and
// the set of labels.
func SeriesHistoryKey(product string, labels []string) string {
	set := slices.Compact(slices.Sorted(slices.Values(labels)))
	return "metrics/history/" + metricsSegment(product) + "/" + urlHash(product+"\n"+strings.Join(set, "\n")) + ".json"
}
