package process

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/pack"
	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/store"
)

// TestProcessor_ContentEncoding: the gzip JSON outputs are stored as
// wpt.fyi stores them, application/json with Content-Encoding gzip; the
// pack as application/gzip without an encoding, so that its ranges address
// the stored bytes. The processor's and the pack reader's reads get the
// stored gzip bytes and decode them.
func TestProcessor_ContentEncoding(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	for _, layout := range []string{records.LayoutFiles, records.LayoutPacked} {
		t.Run(layout, func(t *testing.T) {
			ctx := t.Context()
			p := newProcessor(t)
			p.PerTest, p.Layout = true, layout
			st, err := p.Ingest(ctx, testInput("20261127T000000Z-enc", time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)))
			if err != nil || st.State != records.StateValid || st.PerTest != layout {
				t.Fatalf("Ingest: got %+v, %v; want VALID, per_test %s", st, err, layout)
			}
			pid := st.ProductID
			gzipJSON := []string{store.SummaryKey(sha, pid)}
			if layout == records.LayoutFiles {
				gzipJSON = append(gzipJSON, store.TestKey(sha, pid, "/a.html"))
			} else {
				gzipJSON = append(gzipJSON, store.TestPackIndexKey(sha, pid))
			}
			for _, key := range gzipJSON {
				a, err := p.Out.Attributes(ctx, key)
				if err != nil || a.ContentType != "application/json" || a.ContentEncoding != "gzip" {
					t.Errorf("%s: Attributes = %+v, %v; want application/json, Content-Encoding gzip", key, a, err)
				}
			}
			if layout == records.LayoutPacked {
				key := store.TestPackKey(sha, pid)
				a, err := p.Out.Attributes(ctx, key)
				if err != nil || a.ContentType != "application/gzip" || a.ContentEncoding != "" {
					t.Errorf("%s: Attributes = %+v, %v; want application/gzip, no Content-Encoding", key, a, err)
				}
			}

			if s, err := p.readSummary(ctx, sha, pid); err != nil || s.Len() != 1 {
				t.Errorf("readSummary: %v, %v; want one test", s, err)
			}
			var rc io.ReadCloser
			if layout == records.LayoutFiles {
				rc, err = p.Out.NewReader(ctx, store.TestKey(sha, pid, "/a.html"))
			} else {
				rc, err = pack.NewReader(p.Out, 1<<20).Open(ctx, sha, pid, "/a.html")
			}
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			zr, err := gzip.NewReader(rc)
			if err != nil {
				t.Fatalf("per-test file of /a.html: %v", err)
			}
			var res struct{ Test string }
			if err := json.NewDecoder(zr).Decode(&res); err != nil || res.Test != "/a.html" {
				t.Errorf("per-test file of /a.html: test %q, %v", res.Test, err)
			}
		})
	}
}
