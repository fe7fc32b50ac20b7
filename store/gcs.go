package store

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"

	"gocloud.dev/blob"
	"gocloud.dev/blob/gcsblob"
	"gocloud.dev/gcp"
)

// openGCS opens a gs:// URL. gcsblob's default opener, when no Google Cloud
// credentials are found, prints a warning to stdout (where `publisher
// upload` prints only the run id) and goes on with empty credentials, so
// every request then fails with an obscure private-key error. Here a
// missing credential is an error that says what to do. Anonymous URLs
// (anonymous=true or access_id=-, for public buckets) need no credentials
// and are opened without looking for them; so are URLs for an emulator
// (STORAGE_EMULATOR_HOST).
func openGCS(ctx context.Context, u *url.URL) (*blob.Bucket, error) {
	q := u.Query()
	anon, _ := strconv.ParseBool(q.Get("anonymous"))
	switch {
	case os.Getenv("STORAGE_EMULATOR_HOST") != "" || os.Getenv("STORAGE_EMULATOR_HOST_GRPC") != "":
	case anon || q.Get("access_id") == "-":
		// forParams swaps in an anonymous client for these parameters.
		return (&gcsblob.URLOpener{}).OpenBucketURL(ctx, u)
	default:
		if _, err := gcp.DefaultCredentials(ctx); err != nil {
			return nil, fmt.Errorf("no Google Cloud credentials (%v): set GOOGLE_APPLICATION_CREDENTIALS to a key file, "+
				"run `gcloud auth application-default login`, or add ?anonymous=true for a public bucket", err)
		}
	}
	return blob.OpenBucket(ctx, u.String())
}
