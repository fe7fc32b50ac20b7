package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// The publication log decides, durably and once for all publishers of a
// bucket, the order in which runs are published:
//
//	feed/config.json                       {"page_size": N}, write-once: archive pages never move
//	feed/log/<group>/<seq>.json            {"seq": n, "run_id": "…"}, write-once; group = seq/1000
//	feed/published/<YYYYMMDD>/<run id>     marker, write-once: the seq of the run's one log entry
//	feed/derived/<YYYYMMDD>/<run id>.json  values derived from the shards, write-once (see Derived)
//
// <group> is 6 and <seq> 10 zero-padded decimal digits, so keys sort by
// number. Write-once settles a race between two publishers: the loser reads
// the winner's entry and tries the next number.
//
// The marker is the commit of a run's log entry (CommitLogEntry): whoever
// appends an entry, or reads one whose run has no marker yet, writes the
// marker naming it, write-once. A run thus has exactly one entry however
// often it was appended (a publisher that died between its append and its
// marker appends the run again on restart): an entry whose run's marker
// names another entry is void, and readers skip it.
const (
	feedPrefix      = "feed/"
	logPrefix       = feedPrefix + "log/"
	publishedPrefix = feedPrefix + "published/"
	feedConfigKey   = feedPrefix + "config.json"
	// LogGroupSize is how many log entries share a key prefix.
	LogGroupSize = 1000
)

// LogEntry is one entry of the publication log.
type LogEntry struct {
	Seq   int64  `json:"seq"`
	RunID string `json:"run_id"`
}

// FeedConfig is the part of the publisher's configuration that must never
// change for a bucket.
type FeedConfig struct {
	PageSize int `json:"page_size"`
}

// LogKey is the key of log entry seq (seq ≥ 1).
func LogKey(seq int64) string {
	return fmt.Sprintf("%s%06d/%010d.json", logPrefix, seq/LogGroupSize, seq)
}

func publishedKey(runID string) string { return publishedPrefix + runID[:8] + "/" + runID }

// EnsureFeedConfig stores want as the bucket's feed configuration unless
// one is stored already, and returns the one in force.
func (b *Bucket) EnsureFeedConfig(ctx context.Context, want FeedConfig) (FeedConfig, error) {
	p, _ := json.Marshal(want)
	err := b.WriteBytes(ctx, feedConfigKey, p, WriteOptions{ContentType: "application/json", IfNotExist: true})
	if err == nil {
		return want, nil
	}
	if !IsExists(err) {
		return FeedConfig{}, err
	}
	p, err = b.ReadAll(ctx, feedConfigKey)
	if err != nil {
		return FeedConfig{}, err
	}
	var got FeedConfig
	if err := json.Unmarshal(p, &got); err != nil || got.PageSize <= 0 {
		return FeedConfig{}, fmt.Errorf("store: %s: %w", feedConfigKey, ErrInvalid)
	}
	return got, nil
}

// AppendLog writes log entry e, write-once: ErrExists means e.Seq is taken.
func (b *Bucket) AppendLog(ctx context.Context, e LogEntry) error {
	if e.Seq < 1 || !ValidRunID(e.RunID) {
		return fmt.Errorf("store: append log entry %+v: %w", e, ErrInvalid)
	}
	p, _ := json.Marshal(e)
	return b.WriteBytes(ctx, LogKey(e.Seq), p, WriteOptions{ContentType: "application/json", IfNotExist: true})
}

// ReadLog reads log entry seq, or ErrNotFound.
func (b *Bucket) ReadLog(ctx context.Context, seq int64) (LogEntry, error) {
	p, err := b.ReadAll(ctx, LogKey(seq))
	if err != nil {
		return LogEntry{}, err
	}
	var e LogEntry
	if err := json.Unmarshal(p, &e); err != nil || e.Seq != seq || !ValidRunID(e.RunID) {
		return LogEntry{}, fmt.Errorf("store: log entry %d: %w", seq, ErrInvalid)
	}
	return e, nil
}

// LastLogSeq returns the highest sequence number in the log, 0 if empty. It
// lists the group prefixes and the last non-empty group only (on local
// directories, two directory reads).
func (b *Bucket) LastLogSeq(ctx context.Context) (int64, error) {
	var groups []string
	if err := b.List(ctx, logPrefix, "/", func(o Object) bool {
		if o.IsDir {
			groups = append(groups, o.Key)
		}
		return true
	}); err != nil {
		return 0, err
	}
	for i := len(groups) - 1; i >= 0; i-- {
		var last int64
		if err := b.List(ctx, groups[i], "/", func(o Object) bool {
			if n, ok := logSeq(o.Key); ok && n > last {
				last = n
			}
			return true
		}); err != nil {
			return 0, err
		}
		if last > 0 {
			return last, nil
		}
	}
	return 0, nil
}

// LogSeqsAfter lists the sequence numbers above after that exist in after's
// group and the next one, ascending: what other publishers appended since.
func (b *Bucket) LogSeqsAfter(ctx context.Context, after int64) ([]int64, error) {
	var seqs []int64
	for g := (after + 1) / LogGroupSize; g <= (after+1)/LogGroupSize+1; g++ {
		if err := b.List(ctx, fmt.Sprintf("%s%06d/", logPrefix, g), "", func(o Object) bool {
			if n, ok := logSeq(o.Key); ok && n > after {
				seqs = append(seqs, n)
			}
			return true
		}); err != nil {
			return nil, err
		}
	}
	return seqs, nil
}

func logSeq(key string) (int64, bool) {
	i := strings.LastIndexByte(key, '/')
	name, ok := strings.CutSuffix(key[i+1:], ".json")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(name, 10, 64)
	return n, err == nil && n > 0
}

// CommitLogEntry makes e its run's one log entry unless the run has one
// already: it reads the run's marker and, when there is none, writes it
// naming e.Seq, write-once. It reports whether e is the run's entry; when
// it is not, e is void and readers must skip it. Call it after appending e
// and for every entry read from the log. A marker that does not hold a
// sequence number is ErrInvalid.
func (b *Bucket) CommitLogEntry(ctx context.Context, e LogEntry) (bool, error) {
	if e.Seq < 1 || !ValidRunID(e.RunID) {
		return false, fmt.Errorf("store: commit log entry %+v: %w", e, ErrInvalid)
	}
	seq, err := b.publishedSeq(ctx, e.RunID)
	if IsNotFound(err) {
		err = b.WriteBytes(ctx, publishedKey(e.RunID), []byte(strconv.FormatInt(e.Seq, 10)), WriteOptions{ContentType: "text/plain", IfNotExist: true})
		if err == nil {
			return true, nil
		}
		if !IsExists(err) {
			return false, err
		}
		// Another publisher committed the run meanwhile.
		seq, err = b.publishedSeq(ctx, e.RunID)
	}
	if err != nil {
		return false, err
	}
	return seq == e.Seq, nil
}

// PublishedSeq returns the sequence number of a run's one log entry (the
// one its published marker names), or ErrNotFound when the run is not
// published. A marker that does not hold a sequence number is ErrInvalid.
func (b *Bucket) PublishedSeq(ctx context.Context, runID string) (int64, error) {
	if !ValidRunID(runID) {
		return 0, fmt.Errorf("store: published marker of run %q: %w", runID, ErrInvalid)
	}
	return b.publishedSeq(ctx, runID)
}

// publishedSeq reads the seq a run's marker names, or ErrNotFound.
func (b *Bucket) publishedSeq(ctx context.Context, runID string) (int64, error) {
	p, err := b.ReadAll(ctx, publishedKey(runID))
	if err != nil {
		return 0, err
	}
	seq, err := strconv.ParseInt(string(p), 10, 64)
	if err != nil || seq < 1 {
		return 0, fmt.Errorf("store: marker of run %s holds %q: %w", runID, p, ErrInvalid)
	}
	return seq, nil
}

// MarkPublished records that runID has log entry seq, unless the run's
// marker exists already (see CommitLogEntry, which says which entry
// counts). Publishers call CommitLogEntry instead.
func (b *Bucket) MarkPublished(ctx context.Context, runID string, seq int64) error {
	err := b.WriteBytes(ctx, publishedKey(runID), []byte(strconv.FormatInt(seq, 10)), WriteOptions{ContentType: "text/plain", IfNotExist: true})
	if IsExists(err) {
		return nil
	}
	return err
}

// PublishedRuns lists the runs of one day that carry a published marker.
func (b *Bucket) PublishedRuns(ctx context.Context, day string) (map[string]bool, error) {
	set := map[string]bool{}
	prefix := publishedPrefix + day + "/"
	err := b.List(ctx, prefix, "", func(o Object) bool {
		set[strings.TrimPrefix(o.Key, prefix)] = true
		return true
	})
	return set, err
}

// IsExists reports whether err is ErrExists.
func IsExists(err error) bool { return err != nil && errorsIs(err, ErrExists) }
