package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/store"
)

// scanReaders is how many records a scan reads at once (a first scan of a
// remote bucket reads every record).
const scanReaders = 16

// errBadRecord marks a record that will never be readable: it is skipped
// for good (records are write-once).
var errBadRecord = errors.New("serve: unreadable status record")

// Scan lists all of status/ and indexes the records it has not read yet. A
// record that cannot be decoded is logged and skipped for good; a record
// that cannot be read now (a temporary storage error) is tried again by the
// next scan, and Scan returns the error after indexing the others.
func (s *Server) Scan(ctx context.Context) error {
	_, err := s.ScanIfOlder(ctx, 0)
	return err
}

// ScanIfOlder is Scan unless a full scan started less than age ago; full
// says whether it listed. Callers that want everything indexed (Run's
// ticker, and the dashboard when a metrics file names a run it does not
// know) list all of status/ at most once per age.
func (s *Server) ScanIfOlder(ctx context.Context, age time.Duration) (full bool, err error) {
	s.scanMu.Lock()
	defer s.scanMu.Unlock()
	start := time.Now()
	if age > 0 && start.Sub(s.lastFull) < age {
		return false, nil
	}
	return true, s.scan(ctx, []string{store.StatusPrefix}, func() { s.lastFull = start })
}

// ScanRecent is Scan of the records whose run ids are of the day of now or
// the day before (UTC): the records a running ingester writes, found with
// a listing as long as two days' runs, not as all of history. Records of
// runs with older ids wait for the next Scan (ServeConfig.FullScan).
func (s *Server) ScanRecent(ctx context.Context, now time.Time) error {
	s.scanMu.Lock()
	defer s.scanMu.Unlock()
	now = now.UTC()
	return s.scan(ctx, []string{
		store.StatusDayPrefix(now.AddDate(0, 0, -1).Format("20060102")),
		store.StatusDayPrefix(now.Format("20060102")),
	}, nil)
}

// scan lists prefixes, calls listed (if not nil) once every listing
// succeeded, and indexes the new records. The caller holds scanMu.
func (s *Server) scan(ctx context.Context, prefixes []string, listed func()) error {
	start := time.Now()
	var ids []string
	for _, prefix := range prefixes {
		err := s.out.List(ctx, prefix, "", func(o store.Object) bool {
			if id, ok := store.StatusRunID(o.Key); ok && !s.seen[id] {
				ids = append(ids, id)
			}
			return true
		})
		if err != nil {
			s.m.scanErrors.Inc()
			return fmt.Errorf("serve: list status records: %w", err)
		}
	}
	if listed != nil {
		listed()
	}

	recs := make([]*rec, len(ids))
	errs := make([]error, len(ids))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(scanReaders, len(ids)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				recs[i], errs[i] = s.readRecord(ctx, ids[i])
			}
		}()
	}
	for i := range ids {
		next <- i
	}
	close(next)
	wg.Wait()

	var added []*rec
	var failed []error
	for i, id := range ids {
		switch err := errs[i]; {
		case err == nil:
			s.seen[id] = true
			added = append(added, recs[i])
		case errors.Is(err, errBadRecord):
			s.seen[id] = true
			s.log.Warn("status record skipped", "run_id", id, "err", err)
		case store.IsNotFound(err):
			// Listed, then deleted: nothing to show.
		default:
			failed = append(failed, err)
		}
	}
	if len(added) > 0 {
		s.mu.Lock()
		order := make([]*rec, 0, len(s.order)+len(added))
		order = append(append(order, s.order...), added...)
		slices.SortFunc(order, func(a, b *rec) int {
			if c := b.Uploaded.Compare(a.Uploaded); c != 0 {
				return c
			}
			return strings.Compare(b.ID, a.ID)
		})
		runs := make([]*records.Run, len(order))
		for i, r := range order {
			runs[i] = &r.Run
		}
		s.order, s.runs = order, runs
		s.version++
		s.mu.Unlock()
		for _, r := range added {
			s.m.records.WithLabelValues(r.State).Inc()
		}
		s.log.Info("status records indexed", "new", len(added), "total", len(order))
	}
	s.m.scanDuration.Observe(time.Since(start).Seconds())
	if len(failed) > 0 {
		s.m.scanErrors.Inc()
		return fmt.Errorf("serve: %d status record(s) not read: %w", len(failed), errors.Join(failed...))
	}
	s.m.lastScan.SetToCurrentTime()
	return nil
}

// readRecord reads the status record of id and, for a run that has one,
// its TestRun. It returns an error wrapping errBadRecord for a record that
// does not decode, or the store's error.
func (s *Server) readRecord(ctx context.Context, id string) (*rec, error) {
	data, err := s.out.ReadAll(ctx, store.StatusKey(id))
	if err != nil {
		return nil, err
	}
	var st records.Status
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%w %s: %v", errBadRecord, store.StatusKey(id), err)
	}
	if st.RunID != id || st.State == "" {
		return nil, fmt.Errorf("%w %s: run_id %q, state %q", errBadRecord, store.StatusKey(id), st.RunID, st.State)
	}
	var tr *records.TestRun
	if st.State == records.StateValid || st.TestRunID != 0 {
		data, err := s.out.ReadAll(ctx, store.TestRunKey(id))
		switch {
		case err == nil:
			tr = new(records.TestRun)
			if err := json.Unmarshal(data, tr); err != nil {
				s.log.Warn("TestRun record ignored", "run_id", id, "err", err)
				tr = nil
			}
		case store.IsNotFound(err):
		default:
			return nil, err
		}
	}
	return newRec(&st, tr, s.cfg.BaseURL), nil
}
