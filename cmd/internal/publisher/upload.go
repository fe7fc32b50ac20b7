package publisher

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
)

// UploadConfig configures `publisher upload`.
type UploadConfig struct {
	Bucket    string
	Files     []string
	Labels    []string
	Overrides report.Metadata
	Limits    report.Limits
	// Now is the clock (tests set it); nil means time.Now.
	Now func() time.Time
}

// DefaultUploadConfig returns the defaults of `publisher upload`.
func DefaultUploadConfig() UploadConfig {
	return UploadConfig{Bucket: DefaultBucket, Limits: report.DefaultLimits()}
}

// Validate checks the configuration.
func (c *UploadConfig) Validate() error {
	if c.Bucket == "" {
		return errors.New("upload: --bucket is empty")
	}
	if len(c.Files) == 0 {
		return errors.New("upload: no report files given")
	}
	return nil
}

// Upload validates the files as the shards of one run, stores them and
// commits the run with its manifest. It returns the new run id. A file that
// is not a valid report yields a *report.Error naming it, and a run whose
// metadata or labels break the manifest rules (store.Manifest.Validate) an
// error naming the files and wrapping store.ErrInvalid, before anything is
// written.
func Upload(ctx context.Context, cfg UploadConfig, progress io.Writer) (string, error) {
	shards := make([]report.Shard, len(cfg.Files))
	for i, name := range cfg.Files {
		shards[i] = report.Shard{Name: name, Open: func() (io.ReadCloser, error) { return os.Open(name) }}
	}
	res, err := report.Process(ctx, shards, report.Options{
		Limits:    cfg.Limits,
		Overrides: cfg.Overrides,
		Labels:    cfg.Labels,
	})
	if err != nil {
		return "", err
	}

	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	t := now().UTC().Truncate(time.Microsecond) // the precision of run ids
	runID := store.NewRunID(t)
	m := &store.Manifest{
		Version:        1,
		RunID:          runID,
		Uploaded:       t,
		Product:        res.Meta.Product,
		BrowserVersion: res.Meta.BrowserVersion,
		OS:             res.Meta.OS,
		OSVersion:      res.Meta.OSVersion,
		Revision:       res.Meta.Revision,
		BrowserChannel: res.Meta.BrowserChannel,
		Labels:         cfg.Labels,
		TimeStart:      res.TimeStart,
		TimeEnd:        res.TimeEnd,
	}
	// Every value that reaches the feed is checked before anything is
	// written; sizes and hashes are the store's own.
	for i := range cfg.Files {
		m.Shards = append(m.Shards, store.Shard{Name: store.ShardName(i)})
	}
	if err := checkManifest(m, cfg.Files); err != nil {
		return "", err
	}
	m.Shards = m.Shards[:0]

	b, err := store.Open(ctx, cfg.Bucket)
	if err != nil {
		return "", err
	}
	defer b.Close()
	for i, name := range cfg.Files {
		s, err := putFile(ctx, b, runID, store.ShardName(i), name)
		if err != nil {
			abandon(b, runID, m.Shards)
			return "", err
		}
		m.Shards = append(m.Shards, s)
	}
	if err := b.PutManifest(ctx, runID, m); err != nil {
		abandon(b, runID, m.Shards)
		return "", fmt.Errorf("upload: commit run %s: %w", runID, err)
	}
	return runID, nil
}

// putFile stores one file as shard name: as is when it is gzip, compressed
// on the fly when it is plain.
func putFile(ctx context.Context, b *store.Bucket, runID, name, path string) (store.Shard, error) {
	f, err := os.Open(path)
	if err != nil {
		return store.Shard{}, fmt.Errorf("upload: %w", err)
	}
	defer f.Close()
	s, err := putShard(ctx, b, runID, name, f)
	if err != nil {
		return store.Shard{}, fmt.Errorf("upload: store %s as %s: %w", path, name, err)
	}
	return s, nil
}

// putShard streams r into the bucket as shard name of run runID, write-once:
// as is when it starts with the gzip magic bytes, gzip-compressed on the fly
// otherwise. It holds no more than a few buffers of r in memory. When it
// returns, it has stopped reading r. Errors are those of store.PutShard,
// which include r's own.
func putShard(ctx context.Context, b *store.Bucket, runID, name string, r io.Reader) (store.Shard, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		return b.PutShard(ctx, runID, name, br)
	}
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		zw, _ := gzip.NewWriterLevel(pw, gzip.BestSpeed)
		_, err := br.WriteTo(zw)
		if err == nil {
			err = zw.Close()
		}
		pw.CloseWithError(err)
	}()
	s, err := b.PutShard(ctx, runID, name, pr)
	// On success the compressor has finished; on error, closing the pipe
	// makes its next write fail. Either way r is no longer read after this.
	pr.CloseWithError(errShardAbandoned)
	<-done
	return s, err
}

var errShardAbandoned = errors.New("upload: shard write abandoned")

// abandon deletes the shards of a run that will not be committed. They are
// invisible without a manifest anyway; this only saves space.
func abandon(b *store.Bucket, runID string, shards []store.Shard) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range shards {
		_ = b.Delete(ctx, store.ShardKey(runID, s.Name))
	}
	_, _ = b.RemoveDir(ctx, store.RunPrefix(runID)) // the run's folder, on a directory bucket
}
