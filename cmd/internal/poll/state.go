package poll

import "time"

// The poller keeps all its state in the out bucket, so that it can move to
// another machine, one object per fact, each written whole (atomic from a
// reader's view); the keys are built in store (store/outkeys.go):
//
// A run of a feed other than the primary one is <run id>~<feed> in these
// keys (store.FeedRunID), and that feed's poll, archive and skipped state
// is keyed by its name and the URL (store.FeedPollStateKey…): the primary
// feed's keys are those of a single-feed ingester.
//
//	status/<run id>.json                    the run is processed (records.Status)
//	state/poll/<feed hash>.json             validators of the last fully processed subscription document
//	state/archives/<url hash>.json          an archive document whose runs are all processed
//	state/missing/<run id>.json             how many polls found an enclosure of the run missing
//	state/skipped/<url hash>.json           history a capped catch-up walk did not read
//	state/leases/<run id>/<generation>.json who is processing the run, until when (package lease)

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
	Poll  string `json:"poll"` // the last poll counted
	Last  string `json:"last_error"`
}

type skippedState struct {
	Feed     string    `json:"feed"`
	Archive  string    `json:"first_unread_archive"`
	Reason   string    `json:"reason"`
	Recorded time.Time `json:"recorded"`
}
