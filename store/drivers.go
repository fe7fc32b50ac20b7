package store

// The gocloud drivers the store opens by URL, blank-imported here and
// nowhere else. fileblob is imported by store.go, which opens file buckets
// itself.
import (
	_ "gocloud.dev/blob/azureblob" // azblob://container?…
	_ "gocloud.dev/blob/gcsblob"   // gs://bucket
	_ "gocloud.dev/blob/memblob"   // mem://
	_ "gocloud.dev/blob/s3blob"    // s3://bucket?…
)
