package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// The publisher keeps a copy of the newest entries of the publication log
// with their runs' manifests, so that a restart reads one object instead of
// a log entry, a marker and a manifest per run:
//
//	feed/window.json    Window, overwritten as the log grows
//
// It is a cache of what the log, the markers and the manifests say: the
// log stays the truth. Entries are write-once and a run's marker names its
// one entry for good, so what the copy says of the entries it covers never
// goes stale; a reader reads the entries after Last (and before First) from
// the log itself, and a copy that is invalid or ahead of the log is
// ignored. Several publishers of a bucket may each overwrite it: any copy
// is as good as another.
const windowKey = feedPrefix + "window.json"

// Window is the publisher's copy of log entries First..Last: every entry
// of that range that counts (not void; see CommitLogEntry) is in Runs, in
// sequence order, with the manifest the publisher serves for it (values
// derived from the shards filled in); the entries of the range that are
// not in Runs are void.
type Window struct {
	Version int           `json:"version"` // 1
	First   int64         `json:"first"`
	Last    int64         `json:"last"`
	Runs    []WindowEntry `json:"runs"`
	// Doc is the subscription document the publisher rendered from these
	// runs, if it kept it: a publisher whose rendering is the same
	// (WindowDoc.Key) serves it after a restart without rendering it.
	Doc *WindowDoc `json:"doc,omitempty"`
}

// WindowDoc is a rendered subscription document.
type WindowDoc struct {
	// Key names what the rendering depends on besides the runs (the
	// publisher's configuration and build); opaque to the store.
	Key          string    `json:"key"`
	ETag         string    `json:"etag"`
	LastModified time.Time `json:"last_modified,omitzero"`
	CacheControl string    `json:"cache_control,omitempty"`
	Body         []byte    `json:"body"`
}

// WindowEntry is one entry of a Window.
type WindowEntry struct {
	Seq      int64     `json:"seq"`
	Manifest *Manifest `json:"manifest"`
}

// check reports ErrInvalid unless w is a version 1 window whose runs lie
// in First..Last, in ascending order, each with a manifest of a valid run
// id.
func (w *Window) check() error {
	if w.Version != 1 || w.First < 1 || w.Last < w.First {
		return fmt.Errorf("store: %s: version %d, entries %d..%d: %w", windowKey, w.Version, w.First, w.Last, ErrInvalid)
	}
	prev := w.First - 1
	for _, e := range w.Runs {
		if e.Seq <= prev || e.Seq > w.Last || e.Manifest == nil || !ValidRunID(e.Manifest.RunID) {
			return fmt.Errorf("store: %s: entry %d out of order, out of %d..%d, or without a valid manifest: %w", windowKey, e.Seq, w.First, w.Last, ErrInvalid)
		}
		prev = e.Seq
	}
	if d := w.Doc; d != nil && (d.Key == "" || d.ETag == "" || len(d.Body) == 0) {
		return fmt.Errorf("store: %s: document without a key, an entity tag or a body: %w", windowKey, ErrInvalid)
	}
	return nil
}

// ReadWindow returns the stored copy of the log's newest entries. It
// returns ErrNotFound when there is none, and an error wrapping ErrInvalid
// when it is not a valid Window.
func (b *Bucket) ReadWindow(ctx context.Context) (*Window, error) {
	p, err := b.ReadAll(ctx, windowKey)
	if err != nil {
		return nil, err
	}
	var w Window
	if err := json.Unmarshal(p, &w); err != nil {
		return nil, fmt.Errorf("store: %s: %v: %w", windowKey, err, ErrInvalid)
	}
	if err := w.check(); err != nil {
		return nil, err
	}
	return &w, nil
}

// WriteWindow stores w, replacing the stored copy. It returns an error
// wrapping ErrInvalid, and stores nothing, when w is not a valid Window.
func (b *Bucket) WriteWindow(ctx context.Context, w *Window) error {
	if err := w.check(); err != nil {
		return err
	}
	p, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("store: write %s: %w", windowKey, err)
	}
	return b.WriteBytes(ctx, windowKey, p, WriteOptions{ContentType: "application/json"})
}
