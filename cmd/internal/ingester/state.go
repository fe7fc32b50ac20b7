package ingester

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/wptfeed/wptfeed/store"
)

// The ingester keeps all its state in the out bucket, so that it can move
// to another machine, one object per fact, each written whole (atomic from a
// reader's view):
//
//	status/<run id>.json                    the run is processed (see records.go)
//	state/poll/<feed hash>.json             validators of the last fully processed subscription document
//	state/archives/<url hash>.json          an archive document whose runs are all processed
//	state/missing/<run id>.json             how many polls found an enclosure of the run missing
//	state/skipped/<url hash>.json           history a capped catch-up walk did not read
//	state/leases/<run id>/<generation>.json who is processing the run, until when
const statePrefix = "state/"

func urlHash(u string) string {
	h := sha256.Sum256([]byte(u))
	return hex.EncodeToString(h[:16])
}

type pollState struct {
	Feed         string    `json:"feed"`
	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"last_modified,omitempty"`
	Saved        time.Time `json:"saved"`
}

type archiveState struct {
	URL       string    `json:"url"`
	Entries   int       `json:"entries"`
	Processed time.Time `json:"processed"`
}

type missingState struct {
	RunID string `json:"run_id"`
	Polls int    `json:"polls"`
	Last  string `json:"last_error"`
}

type skippedState struct {
	Feed     string    `json:"feed"`
	Archive  string    `json:"first_unread_archive"`
	Reason   string    `json:"reason"`
	Recorded time.Time `json:"recorded"`
}

func pollKey(feedURL string) string   { return statePrefix + "poll/" + urlHash(feedURL) + ".json" }
func archiveKey(u string) string      { return statePrefix + "archives/" + urlHash(u) + ".json" }
func missingKey(runID string) string  { return statePrefix + "missing/" + runID + ".json" }
func skippedKey(u string) string      { return statePrefix + "skipped/" + urlHash(u) + ".json" }
func leasePrefix(runID string) string { return statePrefix + "leases/" + runID + "/" }
func leaseKey(runID string, g int64) string {
	return leasePrefix(runID) + fmt.Sprintf("%010d", g) + ".json"
}

func leaseGen(key string) (int64, bool) {
	if len(key) < 15 {
		return 0, false
	}
	n, err := strconv.ParseInt(key[len(key)-15:len(key)-5], 10, 64)
	return n, err == nil
}

func putState(ctx context.Context, b *store.Bucket, key string, v any) error {
	p, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("ingest: encode %s: %w", key, err)
	}
	return b.WriteBytes(ctx, key, p, store.WriteOptions{ContentType: "application/json"})
}

// getState reads a state object; a missing one is not an error (ok=false).
func getState(ctx context.Context, b *store.Bucket, key string, v any) (bool, error) {
	p, err := b.ReadAll(ctx, key)
	if store.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(p, v); err != nil {
		return false, fmt.Errorf("ingest: state %s: %w", key, err)
	}
	return true, nil
}
