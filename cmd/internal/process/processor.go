package process

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/pack"
	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
)

// Processor turns one run's shards into the dashboard bucket's outputs. It
// is the one code path of feed ingestion and `ingester process`.
type Processor struct {
	Out         *store.Bucket
	ResultsBase string // absolute URL prefix of the out bucket's objects, no trailing "/"
	// RawResults, if not nil, is the bucket of the merged reports
	// (wpt.fyi's raw_results_bucket), its objects served under
	// RawResultsBase; nil: the out bucket, under ResultsBase.
	RawResults     *store.Bucket
	RawResultsBase string
	// RawArchive, if not nil, is the bucket the shards of a run with
	// Input.CopyRaw are copied into (--raw-out), its objects served under
	// RawArchiveBase (default: its URL); nil: the out bucket, under
	// store.RawCopyPrefix.
	RawArchive     *store.Bucket
	RawArchiveBase string
	PerTest        bool
	Layout         string // of per-test files: records.LayoutFiles ("" too) or records.LayoutPacked
	Limits         report.Limits
	Writers        int    // concurrent per-test writes
	TempDir        string // where the spools (per-test files, merged report) live; "" = os.TempDir
	Log            *slog.Logger
	Now            func() time.Time
	// BeforeValid, if not nil, is called for a run about to be recorded
	// VALID, after its outputs and before its status record (and
	// Input.BeforeStatus); an error stops the ingest, which may be tried
	// again. nil: changes.Recorder with the default flaky rule writes the
	// run's diff (docs/diffs.md).
	BeforeValid func(ctx context.Context, st *records.Status, tr *records.TestRun, sum *report.Summary) error
}

// Input is one run to process.
type Input struct {
	RunID       string // the run's id in the out bucket (store.FeedRunID)
	FeedEntry   string
	ManifestURL string
	PageURL     string // the run's web page at the publisher, if its feed entry links one
	Uploaded    time.Time
	Shards      []report.Shard
	Raw         []records.RawShard
	Overrides   report.Metadata
	Labels      []string
	// CopyRaw copies the shards into the raw archive as they are read; the
	// run is VALID only once every copy is whole, and its shard listing
	// then names the copies.
	CopyRaw bool
	// BeforeStatus, if not nil, is called just before the status record
	// is written; an error stops the write and is returned (a lease
	// holder checks that the run is still its own).
	BeforeStatus func(ctx context.Context) error

	// Feed is the name of the feed the run came from, for its status
	// record; FeedKey is "" for the primary feed, else Feed (it qualifies
	// the claim of the run's product id), and Earlier lists the FeedKeys of
	// the feeds listed before it: a run is DUPLICATE only of a run of its
	// own feed or of one of those.
	Feed, FeedKey string
	Earlier       []string
}

// Ingest processes one run and writes its outputs, the status record last.
// An invalid or empty run gets a status record only. A returned error means
// nothing was made visible and the run may be tried again (the error is
// temporary, or the context ended).
func (p *Processor) Ingest(ctx context.Context, in Input) (*records.Status, error) {
	start := p.now()
	var sp *spool
	opts := report.Options{Limits: p.Limits, Overrides: in.Overrides, Labels: in.Labels}
	if p.PerTest {
		var err error
		if sp, err = newSpool(p.TempDir); err != nil {
			return nil, err
		}
		defer sp.Close()
		opts.Test = sp.Add
	}
	merged, err := newMergedReport(p.TempDir, len(in.Shards))
	if err != nil {
		return nil, err
	}
	defer merged.Close()
	opts.Result = merged.Add
	var ki intermittent // each test's known_intermittent statuses
	opts.Test = ki.wrap(opts.Test)
	shards := in.Shards
	var copies *rawCopies
	if in.CopyRaw {
		copies, shards = p.newRawCopies(ctx, in)
	}
	res, err := report.Process(ctx, shards, opts)
	st := &records.Status{RunID: in.RunID, Feed: in.Feed, FeedEntry: in.FeedEntry, Manifest: in.ManifestURL, Page: in.PageURL, Product: in.Overrides.Product}
	var rerr *report.Error
	switch {
	case errors.As(err, &rerr):
		st.State, st.Code, st.Error = records.StateInvalid, rerr.Code, rerr.Error()
		return p.finish(ctx, st, start, in.BeforeStatus)
	case err != nil:
		return nil, err
	case res.Empty():
		st.State, st.Code, st.Error = records.StateEmpty, "empty", "the report has no results"
		st.Warnings = res.Warnings
		st.Product, st.Labels = res.Meta.Product, res.Labels
		return p.finish(ctx, st, start, in.BeforeStatus)
	}

	// Every value of the records must be writable (a time past year 9999
	// is not): such a run is INVALID for good, not retried.
	if err := encodable(in, res); err != nil {
		st.State, st.Code, st.Error = records.StateInvalid, CodeUnencodable, err.Error()
		st.Product = res.Meta.Product
		return p.finish(ctx, st, start, in.BeforeStatus)
	}

	sha := res.Meta.Revision
	pid := res.ProductID()
	// wpt.fyi's duplicate rule: same revision, product, browser version,
	// OS, OS version and report hash (all in the product id) as a run
	// already accepted. The first run to claim the product id owns it.
	owner, err := p.claimProduct(ctx, sha, pid, in)
	if err != nil {
		return nil, err
	}
	if owner != in.RunID {
		st.State, st.Code, st.DuplicateOf = records.StateDuplicate, "duplicate", owner
		st.Error = fmt.Sprintf("the same report (product id %s at %s) was accepted as run %s", pid, sha[:10], owner)
		st.ProductID, st.Revision, st.Product = pid, sha, res.Meta.Product
		return p.finish(ctx, st, start, in.BeforeStatus)
	}
	if sp != nil {
		recs := sp.files(res.Tests)
		layout := p.Layout
		if layout != records.LayoutPacked && p.Out.Dir() != "" {
			if test, why := fileLayoutProblem(recs, sha, pid); test != "" {
				// An object store could hold them. Nothing is lost: the
				// packed layout holds the same files.
				layout = records.LayoutPacked
				st.Warnings = append(st.Warnings, report.Warning{Code: records.WarnPerTestPacked, Test: test,
					Message: why + "; this run's per-test files are in the packed layout"})
			}
		}
		if layout != records.LayoutPacked && p.RawResults == nil {
			if test := rawResultsClash(recs, p.Out.Dir() != ""); test != "" {
				layout = records.LayoutPacked
				st.Warnings = append(st.Warnings, report.Warning{Code: records.WarnPerTestPacked, Test: test,
					Message: fmt.Sprintf("test %q would take the key of the merged report (%s); this run's per-test files are in the packed layout", test, store.RawResultsName)})
			}
		}
		if layout == records.LayoutPacked {
			err = pack.Write(ctx, p.Out, sha, pid, sp.source(recs))
			st.PerTest = records.LayoutPacked
		} else {
			err = p.writeTests(ctx, sp, recs, sha, pid)
			st.PerTest = records.LayoutFiles
		}
		if err != nil {
			return nil, err
		}
	}
	rawKey, rawURL, err := p.writeMerged(ctx, merged, res, sha, pid)
	if err != nil {
		return nil, err
	}
	var sum bytes.Buffer
	zw := gzip.NewWriter(&sum)
	if err := res.Summary.WriteJSON(zw); err != nil {
		return nil, fmt.Errorf("process: run %s: summary: %w", in.RunID, err)
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	summaryKey := store.SummaryKey(sha, pid)
	// Gzip JSON with Content-Encoding gzip, as wpt.fyi uploads its summaries
	// and per-test files (results-processor/gsutil.py: gsutil -h
	// Content-Encoding:gzip), so that a plain HTTP GET of results_url gets
	// JSON; the store's own reads still get the gzip bytes.
	if err := p.Out.WriteBytes(ctx, summaryKey, sum.Bytes(), store.WriteOptions{ContentType: "application/json", ContentEncoding: "gzip"}); err != nil {
		return nil, err
	}
	list := records.ShardList{RunID: in.RunID, FeedEntry: in.FeedEntry, Manifest: in.ManifestURL, Shards: in.Raw}
	if copies != nil {
		if list.Shards, err = copies.finish(ctx, in.Raw); err != nil {
			return nil, fmt.Errorf("process: run %s: %w", in.RunID, err)
		}
	}
	if err := p.putJSON(ctx, store.ShardListKey(sha, pid), list); err != nil {
		return nil, err
	}
	tr := records.TestRun{
		ID:               records.TestRunID(in.RunID),
		BrowserName:      res.Meta.Product,
		BrowserVersion:   res.Meta.BrowserVersion,
		OSName:           res.Meta.OS,
		OSVersion:        res.Meta.OSVersion,
		Revision:         sha[:10],
		FullRevisionHash: sha,
		ResultsURL:       p.ResultsBase + "/" + summaryKey,
		CreatedAt:        in.Uploaded.UTC(),
		TimeStart:        res.TimeStart.UTC(),
		TimeEnd:          res.TimeEnd.UTC(),
		RawResultsURL:    rawURL + "/" + rawKey,
		Labels:           res.Labels,
	}
	if tr.Labels == nil {
		tr.Labels = []string{}
	}
	if err := p.putJSON(ctx, store.TestRunKey(in.RunID), tr); err != nil {
		return nil, err
	}
	if err := p.writeRunMetrics(ctx, in.RunID, res, &tr); err != nil {
		return nil, err
	}
	if err := ki.write(ctx, p.Out, in.RunID); err != nil {
		return nil, err
	}
	st.State = records.StateValid
	st.Product, st.Labels = res.Meta.Product, res.Labels
	st.Warnings = append(res.Warnings, st.Warnings...)
	st.TestRunID = tr.ID
	st.ProductID = pid
	st.Revision = sha
	st.ResultsURL = tr.ResultsURL
	st.Tests, st.Subtests = res.Tests, res.Subtests
	if err := p.beforeValid(ctx, st, &tr, res.Summary); err != nil {
		return nil, err
	}
	out, err := p.finish(ctx, st, start, in.BeforeStatus)
	if err != nil || out.RunID != in.RunID || out.State != records.StateValid {
		return out, err
	}
	// The run is visible; now what it changes across runs. A failure here
	// leaves the pending marker for the next poll to finish.
	if err := p.updateAggregates(ctx, records.PendingMetrics{RunID: in.RunID, Revision: sha, Product: tr.BrowserName}); err != nil {
		p.log().Warn("metrics across runs not updated yet; the next poll retries", "run_id", in.RunID, "err", err)
	}
	return out, nil
}

// writeMerged stores the run's merged report, gzip JSON with
// Content-Encoding: gzip as wpt.fyi stores it, and returns its key and the
// base URL of its bucket.
func (p *Processor) writeMerged(ctx context.Context, m *mergedReport, res *report.Result, sha, pid string) (key, base string, err error) {
	if err := m.finish(); err != nil {
		return "", "", err
	}
	r, err := m.reader(res)
	if err != nil {
		return "", "", err
	}
	b, base := p.Out, p.ResultsBase
	if p.RawResults != nil {
		b, base = p.RawResults, p.RawResultsBase
	}
	key = store.RawResultsKey(sha, pid)
	if err := b.Write(ctx, key, r, store.WriteOptions{ContentType: "application/json", ContentEncoding: "gzip"}); err != nil {
		return "", "", fmt.Errorf("process: merged report: %w", err)
	}
	return key, base, nil
}

// rawResultsClash returns the test whose per-test file would take the key
// of the merged report in the same bucket, or "": "/report.json", or on a
// file bucket a test under a directory of that name.
func rawResultsClash(recs []fileRec, dir bool) string {
	name := "/" + store.RawResultsName
	for _, r := range recs {
		if r.path == name || dir && strings.HasPrefix(r.path, name+"/") {
			return r.path
		}
	}
	return ""
}

// CodeUnencodable is the status code of a run whose metadata cannot be
// written in its records (JSON, RFC 3339 times).
const CodeUnencodable = "unencodable"

// encodable reports an error naming the value of the run's TestRun that
// JSON cannot carry.
func encodable(in Input, res *report.Result) error {
	for _, t := range []struct {
		name string
		t    time.Time
	}{{"time_start", res.TimeStart}, {"time_end", res.TimeEnd}, {"upload time", in.Uploaded}} {
		if _, err := t.t.UTC().MarshalJSON(); err != nil {
			return fmt.Errorf("%s %s cannot be written: %v", t.name, t.t.UTC().Format(time.RFC3339), err)
		}
	}
	return nil
}

// claimProduct returns the owner of a product id at a revision: the run of
// a feed listed before in.FeedKey's that claimed it, else the run of
// in.FeedKey's feed that claimed it first (write-once), in.RunID if none.
func (p *Processor) claimProduct(ctx context.Context, sha, pid string, in Input) (string, error) {
	for _, f := range in.Earlier {
		owner, err := p.readClaim(ctx, store.FeedProductClaimKey(f, sha, pid))
		if err != nil && !store.IsNotFound(err) {
			return "", err
		}
		if err == nil {
			return owner, nil
		}
	}
	key := store.FeedProductClaimKey(in.FeedKey, sha, pid)
	data, _ := json.Marshal(map[string]string{"run_id": in.RunID})
	err := p.Out.WriteBytes(ctx, key, data, store.WriteOptions{ContentType: "application/json", IfNotExist: true})
	if err == nil {
		return in.RunID, nil
	}
	if !store.IsExists(err) {
		return "", err
	}
	return p.readClaim(ctx, key)
}

// readClaim returns the run id of a product claim; store.IsNotFound if
// there is none.
func (p *Processor) readClaim(ctx context.Context, key string) (string, error) {
	raw, err := p.Out.ReadAll(ctx, key)
	if err != nil {
		return "", err
	}
	var got struct {
		RunID string `json:"run_id"`
	}
	if err := json.Unmarshal(raw, &got); err != nil || got.RunID == "" {
		return "", fmt.Errorf("process: %s: %w", key, store.ErrInvalid)
	}
	return got.RunID, nil
}

// Record writes st, the status record of a run that is not processed (an
// INVALID run whose enclosures cannot be had), write-once: if another
// ingester got there first, its record stands and is returned. before is
// Input.BeforeStatus.
func (p *Processor) Record(ctx context.Context, st *records.Status, before func(context.Context) error) (*records.Status, error) {
	return p.finish(ctx, st, p.now(), before)
}

// finish writes the status record, write-once: if another ingester got
// there first, its record stands and is returned.
func (p *Processor) finish(ctx context.Context, st *records.Status, start time.Time, before func(context.Context) error) (*records.Status, error) {
	st.Ingested = p.now().UTC()
	key := store.StatusKey(st.RunID)
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("process: encode %s: %w", key, err)
	}
	if before != nil {
		if err := before(ctx); err != nil {
			return nil, err
		}
	}
	err = p.Out.WriteBytes(ctx, key, append(data, '\n'), store.WriteOptions{ContentType: "application/json", IfNotExist: true})
	if errors.Is(err, store.ErrExists) {
		return ReadStatus(ctx, p.Out, st.RunID)
	}
	if err != nil {
		return nil, err
	}
	p.log().Info("run ingested", "run_id", st.RunID, "state", st.State, "code", st.Code,
		"tests", st.Tests, "subtests", st.Subtests, "duration", p.now().Sub(start).Round(time.Millisecond))
	return st, nil
}

// ReadStatus reads a run's status record. It returns the store's errors
// (store.IsNotFound before the run is processed) and an error for a record
// that does not decode.
func ReadStatus(ctx context.Context, b *store.Bucket, runID string) (*records.Status, error) {
	p, err := b.ReadAll(ctx, store.StatusKey(runID))
	if err != nil {
		return nil, err
	}
	var st records.Status
	if err := json.Unmarshal(p, &st); err != nil {
		return nil, fmt.Errorf("process: status record of run %s: %w", runID, err)
	}
	return &st, nil
}

func (p *Processor) putJSON(ctx context.Context, key string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("process: encode %s: %w", key, err)
	}
	return p.Out.WriteBytes(ctx, key, append(data, '\n'), store.WriteOptions{ContentType: "application/json"})
}

// writeTests copies the spooled per-test files to the bucket concurrently,
// in the order of recs.
func (p *Processor) writeTests(ctx context.Context, sp *spool, recs []fileRec, sha, pid string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := p.Writers
	if n <= 0 {
		n = 16
	}
	next := make(chan fileRec)
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for r := range next {
				var err error
				if buf, err = sp.read(r, buf); err == nil {
					err = p.Out.WriteBytes(ctx, store.TestKey(sha, pid, r.path), buf, store.WriteOptions{ContentType: "application/json", ContentEncoding: "gzip"})
				}
				if err != nil {
					once.Do(func() { firstErr = err; cancel() })
				}
			}
		}()
	}
	for _, r := range recs {
		select {
		case next <- r:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("process: per-test files: %w", firstErr)
	}
	return ctx.Err()
}

func (p *Processor) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Processor) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}

// ResultsBase turns a bucket URL into an absolute URL prefix for its
// objects (the default of --results-base-url).
func ResultsBase(u string) string {
	u = strings.TrimRight(u, "/")
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i]
	}
	return u
}
