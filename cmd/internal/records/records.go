package records

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/wptfeed/wptfeed/report"
)

// States of a processed run, as written in its status record.
const (
	StateValid   = "VALID"
	StateInvalid = "INVALID"
	StateEmpty   = "EMPTY"
	// StateDuplicate is a valid run whose report wpt.fyi would call the
	// same as an earlier accepted run's; it gets no outputs of its own.
	StateDuplicate = "DUPLICATE"
)

// Per-test layouts (--per-test-layout), as Status.PerTest records them.
const (
	// LayoutFiles is wpt.fyi's: one object per test, <sha>/<product id>/<test path>.
	LayoutFiles = "files"
	// LayoutPacked puts the same per-test files, byte for byte, in one
	// object, <sha>/<product id>-tests.gz, sorted by test path, with an
	// index, <sha>/<product id>-tests-index.json.gz (docs/packed-layout.md).
	LayoutPacked = "packed"
)

// WarnPerTestPacked is the code of the status-record warning for a run
// whose per-test files went to the packed layout because the files layout
// could not hold them (a test needs a directory where another test has its
// file).
const WarnPerTestPacked = "per_test_packed"

// CheckLayout returns an error naming the flag for an unknown layout.
func CheckLayout(l string) error {
	if l == LayoutFiles || l == LayoutPacked {
		return nil
	}
	return fmt.Errorf("--per-test-layout %q: want %q or %q", l, LayoutFiles, LayoutPacked)
}

// TestRun is wpt.fyi's TestRun as /api/runs returns it.
type TestRun struct {
	ID               int64     `json:"id"`
	BrowserName      string    `json:"browser_name"`
	BrowserVersion   string    `json:"browser_version"`
	OSName           string    `json:"os_name"`
	OSVersion        string    `json:"os_version"`
	Revision         string    `json:"revision"`
	FullRevisionHash string    `json:"full_revision_hash"`
	ResultsURL       string    `json:"results_url"`
	CreatedAt        time.Time `json:"created_at"`
	TimeStart        time.Time `json:"time_start"`
	TimeEnd          time.Time `json:"time_end"`
	RawResultsURL    string    `json:"raw_results_url"`
	Labels           []string  `json:"labels"`
}

// RunTime is when a run ran, as wpt.fyi orders runs and as the metrics
// series place them: its time_start when set (after 1970), else when it was
// uploaded (created_at).
func (tr *TestRun) RunTime() time.Time {
	if !tr.TimeStart.IsZero() && tr.TimeStart.Unix() > 0 {
		return tr.TimeStart.UTC()
	}
	return tr.CreatedAt.UTC()
}

// TestRunID derives a run's TestRun id from its id in the out bucket (the
// run id, qualified with its feed for a feed other than the primary one, so
// the id derives from the feed and the run id): positive, below
// 2^53 (exact in JavaScript, like wpt.fyi's datastore ids), and the same
// whenever the run is processed again.
func TestRunID(runID string) int64 {
	h := sha256.Sum256([]byte("wptfeed testrun " + runID))
	id := int64(binary.BigEndian.Uint64(h[:8]) >> 11)
	if id == 0 {
		id = 1
	}
	return id
}

// Status is a run's status record, status/<run id>.json: the last write of
// an ingest, which makes the run's outputs visible.
type Status struct {
	// RunID is the run's id in the out bucket: the publisher's run id,
	// qualified with Feed's name for a feed other than the primary one
	// (store.FeedRunID).
	RunID string `json:"run_id"`
	// Feed names the feed the run came from ("" in records written before
	// ingesters followed several feeds: the primary feed).
	Feed      string           `json:"feed,omitempty"`
	State     string           `json:"state"`
	Code      string           `json:"code,omitempty"`
	Error     string           `json:"error,omitempty"`
	Warnings  []report.Warning `json:"warnings,omitempty"`
	FeedEntry string           `json:"feed_entry,omitempty"`
	Manifest  string           `json:"manifest,omitempty"` // the run's manifest at the publisher
	Page      string           `json:"page,omitempty"`     // the run's web page at the publisher
	Product   string           `json:"product,omitempty"`
	Labels    []string         `json:"labels,omitempty"`
	// DuplicateOf is, for a DUPLICATE run, the id of the run whose report
	// is the same (of the same feed or of a feed listed before this one).
	DuplicateOf string    `json:"duplicate_of,omitempty"`
	TestRunID   int64     `json:"test_run_id,omitempty"`
	ProductID   string    `json:"product_id,omitempty"`
	Revision    string    `json:"full_revision_hash,omitempty"`
	ResultsURL  string    `json:"results_url,omitempty"`
	Tests       int       `json:"tests"`
	Subtests    int       `json:"subtests"`
	PerTest     string    `json:"per_test,omitempty"` // layout of the per-test files (LayoutFiles, LayoutPacked); none if empty
	Ingested    time.Time `json:"ingested_at"`
}

// ShardList is a run's shard listing, <sha>/<product id>-shards.json
// (store.ShardListKey): where the run's raw shards are and how to check
// them. (raw_results_url names the merged report, as wpt.fyi's does.)
type ShardList struct {
	RunID     string     `json:"run_id"`
	FeedEntry string     `json:"feed_entry,omitempty"`
	Manifest  string     `json:"manifest,omitempty"`
	Shards    []RawShard `json:"shards"`
}

// RawShard is one raw shard of a run.
type RawShard struct {
	Name   string `json:"name"`
	URL    string `json:"url,omitempty"`
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}
