package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// The publisher keeps copies of the newest entries of the publication log
// with their runs' manifests, so that a restart reads one object instead of
// a log entry, a marker and a manifest per run:
//
//	feed/window/<group>/<seq>.json.gz   Window with Last = seq, gzip JSON, write-once
//
// with <group> and <seq> as in LogKey. A publisher stores one copy per
// archive page, when the page seals (seq is a multiple of the page size):
// the window as of that entry. A restart reads the copy of the newest
// sealed page, then the entries after it from the log (fewer than a
// page). Write-once keeps the publisher's access to feed/ create-only:
// when two publishers store the same copy, the second finds it there.
//
// A copy is a cache of what the log, the markers and the manifests say:
// the log stays the truth. Entries are write-once and a run's marker names
// its one entry for good, so what a copy says of the entries it covers
// never goes stale; a reader reads the entries after Last (and before
// First) from the log itself, and a copy that is invalid is ignored.

// WindowKey is the key of the window's copy that ends at log entry seq.
func WindowKey(seq int64) string {
	return fmt.Sprintf("%s%06d/%010d.json.gz", windowPrefix, seq/LogGroupSize, seq)
}

const windowPrefix = feedPrefix + "window/"

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
	key := WindowKey(w.Last)
	if w.Version != 1 || w.First < 1 || w.Last < w.First {
		return fmt.Errorf("store: %s: version %d, entries %d..%d: %w", key, w.Version, w.First, w.Last, ErrInvalid)
	}
	prev := w.First - 1
	for _, e := range w.Runs {
		if e.Seq <= prev || e.Seq > w.Last || e.Manifest == nil || !ValidRunID(e.Manifest.RunID) {
			return fmt.Errorf("store: %s: entry %d out of order, out of %d..%d, or without a valid manifest: %w", key, e.Seq, w.First, w.Last, ErrInvalid)
		}
		prev = e.Seq
	}
	if d := w.Doc; d != nil && (d.Key == "" || d.ETag == "" || len(d.Body) == 0) {
		return fmt.Errorf("store: %s: document without a key, an entity tag or a body: %w", key, ErrInvalid)
	}
	return nil
}

// maxWindowSize bounds a copy's JSON once decompressed.
const maxWindowSize = 64 << 20

// ReadWindow returns the stored copy of the window that ends at log entry
// last. It returns ErrNotFound when there is none, and an error wrapping
// ErrInvalid when it is not a valid Window ending there.
func (b *Bucket) ReadWindow(ctx context.Context, last int64) (*Window, error) {
	key := WindowKey(last)
	z, err := b.ReadAll(ctx, key)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		return nil, fmt.Errorf("store: %s: %v: %w", key, err, ErrInvalid)
	}
	p, err := io.ReadAll(io.LimitReader(zr, maxWindowSize+1))
	if err != nil || len(p) > maxWindowSize {
		return nil, fmt.Errorf("store: %s: cut off, not gzip, or over %d bytes (%v): %w", key, maxWindowSize, err, ErrInvalid)
	}
	var w Window
	if err := json.Unmarshal(p, &w); err != nil {
		return nil, fmt.Errorf("store: %s: %v: %w", key, err, ErrInvalid)
	}
	if err := w.check(); err != nil {
		return nil, err
	}
	if w.Last != last {
		return nil, fmt.Errorf("store: %s: holds entries %d..%d: %w", key, w.First, w.Last, ErrInvalid)
	}
	return &w, nil
}

// WriteWindow stores w under WindowKey(w.Last), write-once: ErrExists
// means a copy is stored there already (another publisher's, as good as
// this one). It returns an error wrapping ErrInvalid, and stores nothing,
// when w is not a valid Window.
func (b *Bucket) WriteWindow(ctx context.Context, w *Window) error {
	if err := w.check(); err != nil {
		return err
	}
	p, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("store: write %s: %w", WindowKey(w.Last), err)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	if _, err := zw.Write(p); err != nil {
		return fmt.Errorf("store: write %s: %w", WindowKey(w.Last), err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("store: write %s: %w", WindowKey(w.Last), err)
	}
	return b.WriteBytes(ctx, WindowKey(w.Last), z.Bytes(), WriteOptions{ContentType: "application/gzip", IfNotExist: true})
}
