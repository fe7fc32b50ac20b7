package process

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
)

const testReport = `{"results":[{"test":"/a.html","status":"OK","subtests":[{"name":"x","status":"PASS"}]}],` +
	`"run_info":{"product":"chrome","browser_version":"1.0","os":"linux","revision":"0123456789abcdef0123456789abcdef01234567"},` +
	`"time_start":1732700000000,"time_end":1732700001000}`

func testInput(id string, uploaded time.Time) Input {
	return Input{RunID: id, Uploaded: uploaded, Shards: []report.Shard{{Name: "shard.json", Open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader([]byte(testReport))), nil
	}}}}
}

func newProcessor(t *testing.T) *Processor {
	t.Helper()
	b, err := store.Open(t.Context(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &Processor{Out: b, ResultsBase: "https://results.test", Limits: report.DefaultLimits(), Log: slog.New(slog.DiscardHandler)}
}

// TestProcessor_BeforeStatus: the status record is written only when
// BeforeStatus allows it; its error is returned and nothing is visible.
func TestProcessor_BeforeStatus(t *testing.T) {
	ctx := context.Background()
	p := newProcessor(t)
	errLost := errors.New("lease lost")
	in := testInput("20261127T000000Z-a", time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC))
	in.BeforeStatus = func(context.Context) error { return errLost }
	if _, err := p.Ingest(ctx, in); !errors.Is(err, errLost) {
		t.Fatalf("Ingest: got %v, want the BeforeStatus error", err)
	}
	if ok, err := p.Out.Exists(ctx, store.StatusKey(in.RunID)); ok || err != nil {
		t.Fatalf("status record written (%v, %v) though BeforeStatus refused", ok, err)
	}
	in.BeforeStatus = func(context.Context) error { return nil }
	st, err := p.Ingest(ctx, in)
	if err != nil || st.State != records.StateValid {
		t.Fatalf("Ingest when allowed: got %+v, %v; want VALID", st, err)
	}
}

// TestProcessor_Unencodable: a run whose records cannot carry a value (an
// upload time after year 9999) is INVALID for good, with the reason.
func TestProcessor_Unencodable(t *testing.T) {
	p := newProcessor(t)
	in := testInput("20261127T000000Z-b", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))
	st, err := p.Ingest(context.Background(), in)
	if err != nil {
		t.Fatalf("Ingest: %v (a permanent problem must not be an error, which is retried)", err)
	}
	if st.State != records.StateInvalid || st.Code != CodeUnencodable {
		t.Errorf("status: got %s %s %q, want INVALID %s", st.State, st.Code, st.Error, CodeUnencodable)
	}
}
