package store

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"

	"cloud.google.com/go/storage"
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

// readCompressed makes gcsblob read the stored bytes of an object written
// with Content-Encoding gzip. Without it the storage client sends no
// Accept-Encoding of its own, Go's transport asks for gzip and decompresses
// the answer; a range read then addresses the decompressed bytes, and GCS,
// asked without gzip, transcodes and ignores Range altogether
// (https://cloud.google.com/storage/docs/transcoding). With it the client
// sends Accept-Encoding: gzip itself: GCS serves the stored bytes and
// honours Range, and the transport passes them through.
var readCompressed = &blob.ReaderOptions{
	BeforeRead: func(as func(any) bool) error {
		var obj **storage.ObjectHandle
		if as(&obj) {
			*obj = (*obj).ReadCompressed(true)
		}
		return nil
	},
}
