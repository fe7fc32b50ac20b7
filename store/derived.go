package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// A run whose manifest lacks metadata or hashes (as other tools write it:
// only the shards' names) has them derived by the publisher from its
// shards, once, before it is published; the result is kept in the raw
// bucket, write-once, so that restarts and replicas reuse it:
//
//	feed/derived/<YYYYMMDD>/<run id>.json    Derived, write-once
const derivedPrefix = feedPrefix + "derived/"

// DerivedKey is the key of the values derived for a run.
func DerivedKey(runID string) string {
	return derivedPrefix + runID[:8] + "/" + runID + ".json"
}

// Derived is what the publisher derived from a run's stored shards: the
// metadata of their run_info (normalised as `publisher upload` records
// it), time_start and time_end, and each shard's size and SHA-256. It only
// fills the gaps of the manifest (Fill): a value the manifest gives wins.
// An empty or zero value was not derived (Warnings says why when it was
// looked for).
type Derived struct {
	Version        int       `json:"version"` // 1
	RunID          string    `json:"run_id"`
	Product        string    `json:"product,omitempty"`
	BrowserVersion string    `json:"browser_version,omitempty"`
	OS             string    `json:"os,omitempty"`
	OSVersion      string    `json:"os_version,omitempty"`
	Revision       string    `json:"revision,omitempty"`
	BrowserChannel string    `json:"browser_channel,omitempty"`
	TimeStart      time.Time `json:"time_start,omitzero"`
	TimeEnd        time.Time `json:"time_end,omitzero"`
	// Shards are the shards as read, in the manifest's order: size and
	// sha256 of the stored bytes, both empty for a shard not read to its
	// end.
	Shards []Shard `json:"shards"`
	// Warnings say what could not be derived, and why.
	Warnings []string  `json:"warnings,omitempty"`
	Derived  time.Time `json:"derived,omitzero"` // when
}

// Validate checks d's values against the rules of Manifest.Validate,
// since each may reach the feed: nil or a *ManifestError.
func (d *Derived) Validate() error { return d.manifest().Validate(d.RunID) }

// manifest is d as a manifest, for Validate's rules.
func (d *Derived) manifest() *Manifest {
	return &Manifest{
		RunID: d.RunID, Product: d.Product, BrowserVersion: d.BrowserVersion, OS: d.OS, OSVersion: d.OSVersion,
		Revision: d.Revision, BrowserChannel: d.BrowserChannel, TimeStart: d.TimeStart, TimeEnd: d.TimeEnd,
		Shards: d.Shards,
	}
}

// PutDerived stores what was derived for run d.RunID, write-once: it
// fails with ErrExists when another publisher stored it first (read that
// one with ReadDerived), and with a *ManifestError (ErrInvalid) when a
// value breaks the rules of Manifest.Validate, since each may reach the
// feed.
func (b *Bucket) PutDerived(ctx context.Context, d *Derived) error {
	if !ValidRunID(d.RunID) {
		return fmt.Errorf("store: put derived values of run %q: %w", d.RunID, ErrInvalid)
	}
	if err := d.Validate(); err != nil {
		return err
	}
	p, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Errorf("store: encode derived values of run %s: %w", d.RunID, err)
	}
	return b.WriteBytes(ctx, DerivedKey(d.RunID), append(p, '\n'), WriteOptions{ContentType: "application/json", IfNotExist: true})
}

// ReadDerived reads what was derived for a run, or ErrNotFound. A record
// that is not JSON of a Derived for this run, or whose values break the
// rules of Manifest.Validate, is ErrInvalid.
func (b *Bucket) ReadDerived(ctx context.Context, runID string) (*Derived, error) {
	if !ValidRunID(runID) {
		return nil, fmt.Errorf("store: read derived values of run %q: %w", runID, ErrInvalid)
	}
	p, err := b.ReadAll(ctx, DerivedKey(runID))
	if err != nil {
		return nil, err
	}
	d := new(Derived)
	if err := json.Unmarshal(p, d); err != nil || d.RunID != runID {
		return nil, fmt.Errorf("store: derived values of run %s: %w", runID, ErrInvalid)
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("store: derived values of run %s: %w", runID, err)
	}
	return d, nil
}

// Fill fills the gaps of m with d: each metadata value and time m lacks,
// and the sha256 (and size, when m has none) of each shard that lacks a
// sha256 and whose derived size is m's size, if m gives one. It never
// replaces a value of m. It returns the manifest fields it filled
// ("product", …, "time_end", "sha256", "size"), each once.
func (m *Manifest) Fill(d *Derived) []string {
	var filled []string
	for _, f := range []struct {
		name string
		dst  *string
		v    string
	}{
		{"product", &m.Product, d.Product}, {"browser_version", &m.BrowserVersion, d.BrowserVersion},
		{"os", &m.OS, d.OS}, {"os_version", &m.OSVersion, d.OSVersion}, {"revision", &m.Revision, d.Revision},
		{"browser_channel", &m.BrowserChannel, d.BrowserChannel},
	} {
		if *f.dst == "" && f.v != "" {
			*f.dst = f.v
			filled = append(filled, f.name)
		}
	}
	if m.TimeStart.IsZero() && !d.TimeStart.IsZero() {
		m.TimeStart = d.TimeStart
		filled = append(filled, "time_start")
	}
	if m.TimeEnd.IsZero() && !d.TimeEnd.IsZero() {
		m.TimeEnd = d.TimeEnd
		filled = append(filled, "time_end")
	}
	measured := make(map[string]Shard, len(d.Shards))
	for _, s := range d.Shards {
		measured[s.Name] = s
	}
	var sha, size bool
	for i := range m.Shards {
		s := &m.Shards[i]
		got, ok := measured[s.Name]
		if !ok || s.SHA256 != "" || got.SHA256 == "" || (s.Size != 0 && s.Size != got.Size) {
			continue
		}
		s.SHA256, sha = got.SHA256, true
		if s.Size == 0 {
			s.Size, size = got.Size, true
		}
	}
	if sha {
		filled = append(filled, "sha256")
	}
	if size {
		filled = append(filled, "size")
	}
	return filled
}
