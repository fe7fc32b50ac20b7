package store_test

import (
	"context"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/wptfeed/wptfeed/store"
	"github.com/wptfeed/wptfeed/store/storetest"
)

// TestBackends_OpenURLs opens each cloud's bucket URL in the forms README.md
// documents, against the emulators, and round-trips one object.
func TestBackends_OpenURLs(t *testing.T) {
	t.Run("s3", func(t *testing.T) {
		be := storetest.StartS3(t)
		u, _ := url.Parse(be.NewBucketURL(t))
		bucket, endpoint := u.Host, u.Query().Get("endpoint")
		for _, q := range []string{
			"endpoint=" + endpoint + "&region=us-east-1&use_path_style=true",
			"endpoint=" + endpoint + "&region=us-east-1&use_path_style=true&disable_https=true&response_checksum_validation=when_required",
			"endpoint=" + endpoint + "&region=us-east-1&hostname_immutable=true&use_path_style=true",
		} {
			roundTrip(t, "s3://"+bucket+"?"+q)
		}
	})
	t.Run("gcs", func(t *testing.T) {
		be := storetest.StartGCS(t)
		u := be.NewBucketURL(t)
		roundTrip(t, u)
		roundTrip(t, u+"?anonymous=true")
	})
	t.Run("azure", func(t *testing.T) {
		be := storetest.StartAzurite(t)
		u, _ := url.Parse(be.NewBucketURL(t))
		container, domain := u.Host, u.Query().Get("domain")
		roundTrip(t, "azblob://"+container+"?localemu=true&protocol=http&domain="+domain)
		roundTrip(t, "azblob://"+container+"?localemu=true&protocol=http&domain="+domain+"&storage_account="+storetest.AzuriteAccount)
	})
}

func roundTrip(t *testing.T, rawURL string) {
	t.Helper()
	ctx := context.Background()
	b, err := store.Open(ctx, rawURL)
	if err != nil {
		t.Fatalf("Open(%q): %v", rawURL, err)
	}
	defer b.Close()
	if b.URL() != rawURL {
		t.Errorf("URL() = %q, want %q", b.URL(), rawURL)
	}
	key := "open/" + strings.NewReplacer("/", "_", ":", "_", "?", "_", "&", "_", "=", "_").Replace(rawURL)
	if err := b.WriteBytes(ctx, key, []byte("hello"), store.WriteOptions{IfNotExist: true}); err != nil {
		t.Fatalf("%s: write: %v", rawURL, err)
	}
	r, err := b.NewReader(ctx, key)
	if err != nil {
		t.Fatalf("%s: read: %v", rawURL, err)
	}
	p, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(p) != "hello" {
		t.Errorf("%s: read back %q, %v", rawURL, p, err)
	}
	var n int
	if err := b.List(ctx, "open/", "", func(store.Object) bool { n++; return true }); err != nil || n == 0 {
		t.Errorf("%s: list: %d keys, %v", rawURL, n, err)
	}
}
