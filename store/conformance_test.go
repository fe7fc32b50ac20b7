package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/wptfeed/wptfeed/store"
	"github.com/wptfeed/wptfeed/store/storetest"
)

func mustOpen(t *testing.T, url string) *store.Bucket {
	t.Helper()
	b, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestConformance_Mem(t *testing.T) {
	// memblob holds every object in memory: streaming is the other drivers'.
	storetest.Run(t, func(t *testing.T) *store.Bucket { return mustOpen(t, "mem://") },
		storetest.WithLargeSize(16<<20))
}

func TestConformance_File(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.Bucket { return mustOpen(t, "file://"+t.TempDir()) },
		storetest.WithCaps(storetest.FileCaps))
}

func TestConformance_Dir(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.Bucket {
		return mustOpen(t, filepath.Join(t.TempDir(), "plain", "path"))
	}, storetest.WithCaps(storetest.FileCaps), storetest.WithRuns(300), storetest.WithLargeSize(8<<20))
}

func TestConformance_S3(t *testing.T) {
	be := storetest.StartS3(t)
	storetest.Run(t, func(t *testing.T) *store.Bucket { return mustOpen(t, be.NewBucketURL(t)) },
		storetest.WithCaps(be.Caps))
}

// The GCS and Azure listings are smaller (600 runs, 1,140 keys: still over
// one 1,000-key page): fake-gcs-server's memory backend scans a bucket's
// objects on every write, and Azurite answers one request at a time.

func TestConformance_GCS(t *testing.T) {
	be := storetest.StartGCS(t)
	storetest.Run(t, func(t *testing.T) *store.Bucket { return mustOpen(t, be.NewBucketURL(t)) },
		storetest.WithCaps(be.Caps), storetest.WithRuns(600))
}

func TestConformance_Azure(t *testing.T) {
	be := storetest.StartAzurite(t)
	storetest.Run(t, func(t *testing.T) *store.Bucket { return mustOpen(t, be.NewBucketURL(t)) },
		storetest.WithCaps(be.Caps), storetest.WithRuns(600))
}
