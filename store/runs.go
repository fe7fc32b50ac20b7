package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Manifest is a run's manifest.json, the commit point of an upload: a run
// without one is invisible. Only Shards is required of other tools; every
// other field is filled in by `publisher upload` and is optional.
type Manifest struct {
	Version        int       `json:"version,omitempty"` // 1
	RunID          string    `json:"run_id,omitempty"`  // must match the key when set
	Uploaded       time.Time `json:"uploaded,omitzero"` // default: the manifest's mod time
	Product        string    `json:"product,omitempty"`
	BrowserVersion string    `json:"browser_version,omitempty"`
	OS             string    `json:"os,omitempty"`
	OSVersion      string    `json:"os_version,omitempty"`
	Revision       string    `json:"revision,omitempty"`
	BrowserChannel string    `json:"browser_channel,omitempty"`
	Labels         []string  `json:"labels,omitempty"` // the uploader's labels
	TimeStart      time.Time `json:"time_start,omitzero"`
	TimeEnd        time.Time `json:"time_end,omitzero"`
	Shards         []Shard   `json:"shards"`
}

// Shard describes one stored shard.
type Shard struct {
	Name   string `json:"name"`
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// Validate checks the manifest of run runID.
func (m *Manifest) Validate(runID string) error {
	if m.RunID != "" && m.RunID != runID {
		return fmt.Errorf("store: manifest of run %s names run %q: %w", runID, m.RunID, ErrInvalid)
	}
	if len(m.Shards) == 0 {
		return fmt.Errorf("store: manifest of run %s lists no shards: %w", runID, ErrInvalid)
	}
	seen := map[string]bool{}
	for _, s := range m.Shards {
		if !ValidShardName(s.Name) {
			return fmt.Errorf("store: manifest of run %s: bad shard name %q: %w", runID, s.Name, ErrInvalid)
		}
		if seen[s.Name] {
			return fmt.Errorf("store: manifest of run %s: shard %q listed twice: %w", runID, s.Name, ErrInvalid)
		}
		seen[s.Name] = true
	}
	return nil
}

// PutShard stores one shard of a run, write-once, and returns its size and
// SHA-256.
func (b *Bucket) PutShard(ctx context.Context, runID, name string, r io.Reader) (Shard, error) {
	if !ValidRunID(runID) || !ValidShardName(name) {
		return Shard{}, fmt.Errorf("store: put shard %q of run %q: %w", name, runID, ErrInvalid)
	}
	h := sha256.New()
	cr := &countReader{r: io.TeeReader(r, h)}
	if err := b.Write(ctx, ShardKey(runID, name), cr, WriteOptions{ContentType: "application/gzip", IfNotExist: true}); err != nil {
		return Shard{}, err
	}
	return Shard{Name: name, Size: cr.n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// PutManifest commits a run by writing its manifest, write-once. It fails
// with ErrExists if the run was already committed.
func (b *Bucket) PutManifest(ctx context.Context, runID string, m *Manifest) error {
	if !ValidRunID(runID) {
		return fmt.Errorf("store: put manifest of run %q: %w", runID, ErrInvalid)
	}
	if err := m.Validate(runID); err != nil {
		return err
	}
	p, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("store: encode manifest of run %s: %w", runID, err)
	}
	return b.WriteBytes(ctx, ManifestKey(runID), append(p, '\n'), WriteOptions{ContentType: "application/json", IfNotExist: true})
}

// ReadManifest reads and validates a run's manifest; a run without one is
// ErrNotFound. Missing sizes are filled in from the shards' attributes and a
// missing upload time from the manifest's.
func (b *Bucket) ReadManifest(ctx context.Context, runID string) (*Manifest, error) {
	if !ValidRunID(runID) {
		return nil, fmt.Errorf("store: read manifest of run %q: %w", runID, ErrInvalid)
	}
	key := ManifestKey(runID)
	p, err := b.ReadAll(ctx, key)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(p, &m); err != nil {
		return nil, fmt.Errorf("store: read manifest of run %s: %w: %v", runID, ErrInvalid, err)
	}
	if err := m.Validate(runID); err != nil {
		return nil, err
	}
	m.RunID = runID
	if m.Uploaded.IsZero() {
		a, err := b.Attributes(ctx, key)
		if err != nil {
			return nil, err
		}
		m.Uploaded = a.ModTime.UTC()
	}
	for i := range m.Shards {
		if m.Shards[i].Size > 0 {
			continue
		}
		a, err := b.Attributes(ctx, ShardKey(runID, m.Shards[i].Name))
		if err != nil {
			return nil, fmt.Errorf("store: run %s: shard %s: %w", runID, m.Shards[i].Name, err)
		}
		m.Shards[i].Size = a.Size
	}
	return &m, nil
}

// OpenShard opens a stored shard of a run.
func (b *Bucket) OpenShard(ctx context.Context, runID, name string) (io.ReadCloser, error) {
	if !ValidRunID(runID) || !ValidShardName(name) {
		return nil, fmt.Errorf("store: open shard %q of run %q: %w", name, runID, ErrInvalid)
	}
	return b.NewReader(ctx, ShardKey(runID, name))
}

// RunDays lists the day prefixes (YYYYMMDD) that hold runs, ascending.
func (b *Bucket) RunDays(ctx context.Context) ([]string, error) {
	var days []string
	err := b.List(ctx, RunsPrefix, "/", func(o Object) bool {
		d := strings.TrimSuffix(strings.TrimPrefix(o.Key, RunsPrefix), "/")
		if o.IsDir && len(d) == 8 {
			days = append(days, d)
		}
		return true
	})
	return days, err
}

// CommittedRuns lists the ids of the runs of one day that have a manifest,
// in id (upload time) order. Objects that do not follow the layout are
// ignored.
func (b *Bucket) CommittedRuns(ctx context.Context, day string) ([]string, error) {
	var ids []string
	prefix := RunsPrefix + day + "/"
	err := b.List(ctx, prefix, "", func(o Object) bool {
		rest := strings.TrimPrefix(o.Key, prefix)
		id, name, ok := strings.Cut(rest, "/")
		if ok && name == ManifestName && ValidRunID(id) && strings.HasPrefix(id, day) {
			ids = append(ids, id)
		}
		return true
	})
	sort.Strings(ids)
	return ids, err
}

// RunIDsOfDay lists the run directories of one day, committed or not, in
// id order, with one delimited listing (it does not list their files).
func (b *Bucket) RunIDsOfDay(ctx context.Context, day string) ([]string, error) {
	var ids []string
	prefix := RunsPrefix + day + "/"
	err := b.List(ctx, prefix, "/", func(o Object) bool {
		id := strings.TrimSuffix(strings.TrimPrefix(o.Key, prefix), "/")
		if o.IsDir && ValidRunID(id) && strings.HasPrefix(id, day) {
			ids = append(ids, id)
		}
		return true
	})
	sort.Strings(ids)
	return ids, err
}

// IsNotFound reports whether err is ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
