package store_test

import (
	"context"
	"io"
	"net/url"
	"os"
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

// TestOpen_GCSCredentials: without Google Cloud credentials, a gs:// URL
// fails to open with an error that says what to do, and nothing is printed
// to stdout (gcsblob's default opener prints a warning there, which would
// mix with `publisher upload`'s run id); a public bucket's anonymous URL
// opens without credentials, silently.
func TestOpen_GCSCredentials(t *testing.T) {
	home := t.TempDir()
	for k, v := range map[string]string{
		"GOOGLE_APPLICATION_CREDENTIALS": "", "HOME": home, "CLOUDSDK_CONFIG": home,
		"STORAGE_EMULATOR_HOST": "", "STORAGE_EMULATOR_HOST_GRPC": "",
	} {
		t.Setenv(k, v)
	}
	stdout := captureStdout(t, func() {
		_, err := store.Open(context.Background(), "gs://wptfeed-test-bucket")
		if err == nil || !strings.Contains(err.Error(), "no Google Cloud credentials") || !strings.Contains(err.Error(), "GOOGLE_APPLICATION_CREDENTIALS") {
			t.Errorf("Open without credentials: got %v, want an error naming GOOGLE_APPLICATION_CREDENTIALS", err)
		}
		for _, u := range []string{"gs://wptfeed-test-bucket?anonymous=true", "gs://wptfeed-test-bucket?access_id=-"} {
			b, err := store.Open(context.Background(), u)
			if err != nil {
				t.Errorf("Open(%s): %v", u, err)
				continue
			}
			b.Close()
		}
	})
	if stdout != "" {
		t.Errorf("Open printed to stdout: %q", stdout)
	}
}

// captureStdout runs f with os.Stdout redirected and returns what f printed.
func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		p, _ := io.ReadAll(r)
		done <- string(p)
	}()
	defer func() { os.Stdout = saved }()
	f()
	w.Close()
	return <-done
}
