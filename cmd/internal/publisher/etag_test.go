package publisher

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/internal/testutil"
	"github.com/wptfeed/wptfeed/store"
)

// TestServer_ShardReplaced: a shard whose bytes are replaced in the bucket
// after publication (FAIL → PASS, same size) is served as stored, under a
// new entity tag: a conditional GET with the old one gets the new bytes.
func TestServer_ShardReplaced(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	b, err := store.Open(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	id := store.NewRunID(time.Now())
	before := testutil.Gzip(t, []byte(`{"results": [{"test": "/a.html", "status": "FAIL"}]}`))
	after := testutil.Gzip(t, []byte(`{"results": [{"test": "/a.html", "status": "PASS"}]}`))
	sh, err := b.PutShard(ctx, id, "shard-000.json.gz", bytes.NewReader(before))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.PutManifest(ctx, id, &store.Manifest{Shards: []store.Shard{sh}}); err != nil {
		t.Fatal(err)
	}
	_, addr := startServer(t, ctx, "file://"+dir)
	u := addr + "/runs/" + id + "/shard-000.json.gz"

	fetch := func(etag string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	resp, body := fetch("")
	old := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || !bytes.Equal(body, before) || old == "" {
		t.Fatalf("got %s, ETag %q, %d bytes; want 200 with the shard and an ETag", resp.Status, old, len(body))
	}
	if resp, _ := fetch(old); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("unchanged shard: got %s, want 304", resp.Status)
	}

	// Replaced behind the publisher's back, as a tool would: a new file
	// of the same size renamed over the old one.
	path := filepath.Join(dir, filepath.FromSlash(store.ShardKey(id, "shard-000.json.gz")))
	time.Sleep(20 * time.Millisecond) // a modification time of its own
	if err := os.WriteFile(path+".new", after, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	resp, body = fetch(old)
	if resp.StatusCode != 200 || !bytes.Equal(body, after) {
		t.Fatalf("replaced shard with the old ETag: got %s, %d bytes; want 200 with the new bytes", resp.Status, len(body))
	}
	if etag := resp.Header.Get("ETag"); etag == old || etag == "" {
		t.Errorf("replaced shard served under ETag %q, the old one was %q", etag, old)
	}
}

func TestEntityTag(t *testing.T) {
	mod := time.Unix(1700000000, 5)
	for _, tc := range []struct {
		name string
		a    store.Attrs
		want string
	}{
		{"Strong", store.Attrs{ETag: `"abc-1"`, ModTime: mod, Size: 3}, `"abc-1"`},
		{"Weak", store.Attrs{ETag: `W/"abc"`}, `W/"abc"`},
		{"Bare", store.Attrs{ETag: "CJ+x/ABC="}, `"CJ+x/ABC="`},
		{"Malformed", store.Attrs{ETag: `"a"b"`, ModTime: mod, Size: 3}, `"17979cfe362a0005-3"`},
		{"None", store.Attrs{ModTime: mod, Size: 16}, `"17979cfe362a0005-10"`},
		{"Nothing", store.Attrs{Size: 16}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := entityTag(tc.a); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
