package e2e

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/publisher"
	"github.com/wptfeed/wptfeed/store"
	"github.com/wptfeed/wptfeed/store/storetest"
)

// TestBackends_SignedEnclosures: with --enclosures=signed, the feed's
// enclosure URLs stay the publisher's permanent /runs/ URLs, which answer a
// temporary redirect to a signed S3 URL; the ingester follows it only when
// the storage origin is allowed.
func TestBackends_SignedEnclosures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	be := storetest.StartS3(t)
	rawURL := be.NewBucketURL(t)
	u, _ := url.Parse(rawURL)
	endpoint := u.Query().Get("endpoint")
	raw, err := store.Open(ctx, rawURL)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	id := store.NewRunID(time.Now())
	commitRun(t, raw, id, tinyReport(5))

	s, feedURL, _ := startPublisher(t, ctx, rawURL, publisher.ServerConfig{ScanInterval: 100 * time.Millisecond, FullScan: time.Hour, Enclosures: "signed"})
	waitFor(t, 20*time.Second, "the run published", func() bool { return s.Count() == 1 })

	base := strings.TrimSuffix(feedURL, "/feed.atom")
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(base + "/runs/" + id + "/shard-000.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusTemporaryRedirect || !strings.HasPrefix(loc, endpoint) || !strings.Contains(loc, "X-Amz-Signature") {
		t.Fatalf("enclosure: %s to %q, want 307 to a signed URL at %s", resp.Status, loc, endpoint)
	}

	// Storage origin not allowed: refused, recorded INVALID.
	out1 := t.TempDir()
	exec(t, ctx, ingesterCmd, "run", "--feed", feedURL, "--out", out1, "--once", "--retries", "1")
	if st := readStatus(t, out1, id); st.State != "INVALID" || st.Code != "enclosure_refused" {
		t.Errorf("without --allow-origin: %+v, want INVALID enclosure_refused", st)
	}
	// Allowed: fetched from storage directly.
	out2 := t.TempDir()
	if _, stderr, err := exec(t, ctx, ingesterCmd, "run", "--feed", feedURL, "--out", out2, "--once", "--allow-origin", endpoint); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if st := readStatus(t, out2, id); st.State != "VALID" {
		t.Errorf("with --allow-origin %s: %+v, want VALID", endpoint, st)
	}
	if m, _ := filepath.Glob(filepath.Join(out2, "testruns", "*.json")); len(m) != 1 {
		t.Errorf("%d TestRun records, want 1", len(m))
	}
}
