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
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Manifest is a run's manifest.json, the commit point of an upload: a run
// without one is invisible. Only Shards is required of other tools; every
// other field is filled in by `publisher upload` and is optional. Every
// value reaches the feed, so Validate holds each to what an Atom document
// and a record can carry.
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
	Size   int64  `json:"size,omitempty"`   // 0: unknown
	SHA256 string `json:"sha256,omitempty"` // lower-case hex; "": unknown
}

// Bounds of a manifest's values (see Validate).
const (
	// MaxManifestShards is the most shards a run may have.
	MaxManifestShards = 1000
	// MaxManifestLabels is the most labels a manifest may list.
	MaxManifestLabels = 100
	// MaxManifestText is the most bytes of one metadata value or label.
	MaxManifestText = 1024
)

// ErrIncomplete is wrapped, with ErrInvalid, by the error of ReadManifest
// and ReadCommit for a manifest that is not complete JSON: empty, cut off,
// or still being written by a tool that does not write atomically (cp to
// a directory bucket). Unlike other invalid manifests it may become valid:
// read it again later.
var ErrIncomplete = errors.New("store: manifest is not complete JSON")

// ManifestError is a manifest that breaks the rules of Validate. It wraps
// ErrInvalid.
type ManifestError struct {
	RunID    string
	Problems []string // each names the field at fault, e.g. `label 2 is empty`
}

func (e *ManifestError) Error() string {
	return "store: manifest of run " + e.RunID + ": " + e.Reason()
}

// Reason is the problems on one line, without the run: what an uploader
// is told.
func (e *ManifestError) Reason() string {
	const most = 5
	if len(e.Problems) <= most {
		return strings.Join(e.Problems, "; ")
	}
	return strings.Join(e.Problems[:most], "; ") + fmt.Sprintf("; and %d more problems", len(e.Problems)-most)
}

// Unwrap returns ErrInvalid.
func (e *ManifestError) Unwrap() error { return ErrInvalid }

// Validate checks the manifest of run runID against every rule a run must
// meet to be published, so that each value can be written in the feed and
// in the ingester's records:
//
//   - run_id, when set, is runID;
//   - 1 to MaxManifestShards shards, each with a valid name (ValidShardName)
//     listed once, a size ≥ 0, and a sha256 that is empty or 64 lower-case
//     hex digits;
//   - product, browser_version, os, os_version, revision, browser_channel
//     and each label are valid UTF-8 of at most MaxManifestText bytes with
//     only characters XML 1.0 can carry (no control character other than
//     tab, line feed and carriage return, no U+FFFE or U+FFFF);
//   - at most MaxManifestLabels labels, none empty or blank;
//   - uploaded, time_start and time_end are zero (absent) or, in UTC,
//     within years 1 to 9999 (what RFC 3339 and xsd:dateTime can write).
//
// It returns nil or a *ManifestError listing every problem.
func (m *Manifest) Validate(runID string) error {
	var ps []string
	add := func(format string, args ...any) { ps = append(ps, fmt.Sprintf(format, args...)) }
	m.checkShape(runID, add)
	for _, f := range []struct{ name, v string }{
		{"product", m.Product}, {"browser_version", m.BrowserVersion}, {"os", m.OS}, {"os_version", m.OSVersion},
		{"revision", m.Revision}, {"browser_channel", m.BrowserChannel},
	} {
		if p := checkText(f.v); p != "" {
			add("%s %s", f.name, p)
		}
	}
	if len(m.Labels) > MaxManifestLabels {
		add("%d labels, more than %d", len(m.Labels), MaxManifestLabels)
	}
	for i, l := range m.Labels {
		if strings.TrimSpace(l) == "" {
			add("label %d is empty", i+1)
		} else if p := checkText(l); p != "" {
			add("label %d %s", i+1, p)
		}
	}
	for _, f := range []struct {
		name string
		t    time.Time
	}{{"uploaded", m.Uploaded}, {"time_start", m.TimeStart}, {"time_end", m.TimeEnd}} {
		if y := f.t.UTC().Year(); !f.t.IsZero() && (y < 1 || y > 9999) {
			add("%s %s is in year %d, outside 1 to 9999", f.name, f.t.Format(time.RFC3339Nano), y)
		}
	}
	for i, s := range m.Shards {
		if s.Size < 0 {
			add("shard %d (%s) has a negative size %d", i+1, quoteShort(s.Name), s.Size)
		}
		if s.SHA256 != "" && !isLowerHex64(s.SHA256) {
			add("shard %d (%s) sha256 %s is not 64 lower-case hex digits", i+1, quoteShort(s.Name), quoteShort(s.SHA256))
		}
	}
	if len(ps) > 0 {
		return &ManifestError{RunID: runID, Problems: ps}
	}
	return nil
}

// checkShape checks what locating the run's files needs: the run id and
// the list of shards.
func (m *Manifest) checkShape(runID string, add func(string, ...any)) {
	if m.RunID != "" && m.RunID != runID {
		add("names run %s", quoteShort(m.RunID))
	}
	if len(m.Shards) == 0 {
		add("lists no shards")
	}
	if len(m.Shards) > MaxManifestShards {
		add("lists %d shards, more than %d", len(m.Shards), MaxManifestShards)
	}
	seen := map[string]bool{}
	for _, s := range m.Shards {
		if !ValidShardName(s.Name) {
			add("bad shard name %s", quoteShort(s.Name))
		} else if seen[s.Name] {
			add("shard %s listed twice", quoteShort(s.Name))
		}
		seen[s.Name] = true
	}
}

// checkText returns what is wrong with a metadata value, or "".
func checkText(s string) string {
	if len(s) > MaxManifestText {
		return fmt.Sprintf("is %d bytes long, more than %d", len(s), MaxManifestText)
	}
	if !utf8.ValidString(s) {
		return quoteShort(s) + " is not valid UTF-8"
	}
	for i, r := range s {
		if !isXMLChar(r) {
			return fmt.Sprintf("%s holds %U at byte %d, which XML cannot carry", quoteShort(s), r, i)
		}
	}
	return ""
}

// isXMLChar reports whether XML 1.0 allows r (§2.2 Char).
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

func isLowerHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// quoteShort quotes s for a message, cut to 40 bytes.
func quoteShort(s string) string {
	if len(s) > 40 {
		return strconv.Quote(s[:40]) + "…"
	}
	return strconv.Quote(s)
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

// ReadManifest reads a run's manifest as ReadCommit does, and fails with
// an error wrapping ErrNotFound when ReadCommit finds a shard missing; a
// run without a manifest is ErrNotFound too.
func (b *Bucket) ReadManifest(ctx context.Context, runID string) (*Manifest, error) {
	m, missing, err := b.ReadCommit(ctx, runID)
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("store: run %s: shard %s: %w", runID, missing[0], ErrNotFound)
	}
	return m, nil
}

// ReadCommit reads a run's manifest, the run's commit: a run without one
// is ErrNotFound. It checks what locating the run's files needs (the run
// id, and shard names that are valid and listed once) but not the other
// rules of Validate, so that a run published before them can still be
// read. Missing sizes are filled in from the shards' attributes and a
// missing upload time from the manifest's. A shard without a size whose
// object does not exist is no error, since the manifest is the commit: it
// is listed in missing and keeps size 0 (unknown) and the hash the
// manifest gives it; whoever fetches it finds it missing. (A shard with a
// size in the manifest is not looked up.)
//
// A manifest that is not complete JSON is an error wrapping ErrIncomplete
// and ErrInvalid; one that is JSON but not a manifest (or not UTF-8) is
// ErrInvalid.
func (b *Bucket) ReadCommit(ctx context.Context, runID string) (m *Manifest, missing []string, err error) {
	if !ValidRunID(runID) {
		return nil, nil, fmt.Errorf("store: read manifest of run %q: %w", runID, ErrInvalid)
	}
	key := ManifestKey(runID)
	p, err := b.ReadAll(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	if !json.Valid(p) {
		return nil, nil, fmt.Errorf("store: read manifest of run %s: %w (%w)", runID, ErrIncomplete, ErrInvalid)
	}
	if !utf8.Valid(p) {
		return nil, nil, fmt.Errorf("store: read manifest of run %s: not UTF-8: %w", runID, ErrInvalid)
	}
	m = new(Manifest)
	if err := json.Unmarshal(p, m); err != nil {
		return nil, nil, fmt.Errorf("store: read manifest of run %s: %w: %v", runID, ErrInvalid, err)
	}
	var ps []string
	m.checkShape(runID, func(format string, args ...any) { ps = append(ps, fmt.Sprintf(format, args...)) })
	if len(ps) > 0 {
		return nil, nil, &ManifestError{RunID: runID, Problems: ps}
	}
	m.RunID = runID
	if m.Uploaded.IsZero() {
		a, err := b.Attributes(ctx, key)
		if err != nil {
			return nil, nil, err
		}
		m.Uploaded = a.ModTime.UTC()
	}
	for i := range m.Shards {
		if m.Shards[i].Size != 0 {
			continue // a negative size is Validate's to refuse
		}
		a, err := b.Attributes(ctx, ShardKey(runID, m.Shards[i].Name))
		if IsNotFound(err) {
			missing = append(missing, m.Shards[i].Name)
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("store: run %s: shard %s: %w", runID, m.Shards[i].Name, err)
		}
		m.Shards[i].Size = a.Size
	}
	return m, missing, nil
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
