package publisher

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/internal/testutil"
	"github.com/wptfeed/wptfeed/store"
)

// TestUpload_BucketNotWritable: every failure of the bucket on the upload
// path, temporary or not, is answered 503 with Retry-After, and leaves
// nothing behind.
func TestUpload_BucketNotWritable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	now := time.Now().UTC()
	day := now.Format("20060102")
	for _, tc := range []struct {
		name string
		// breakBucket makes the bucket (directory dir) refuse writes, or
		// skips the test; faults is the server's fault hook.
		breakBucket func(t *testing.T, dir string, faults *faultHook)
	}{
		{"Faults", func(t *testing.T, dir string, faults *faultHook) {
			faults.set(func(op, key string) error {
				if op == "write" && strings.HasPrefix(key, store.RunsPrefix) {
					return errors.New("injected: service unavailable")
				}
				return nil
			})
		}},
		{"NotADirectory", func(t *testing.T, dir string, faults *faultHook) {
			// A file where the day's directory goes: a permanent failure,
			// whoever runs the test.
			mustMkdir(t, filepath.Join(dir, "runs"))
			if err := os.WriteFile(filepath.Join(dir, "runs", day), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"ReadOnlyDirectory", func(t *testing.T, dir string, faults *faultHook) {
			runs := filepath.Join(dir, "runs")
			mustMkdir(t, runs)
			for _, d := range []string{dir, runs} {
				if err := os.Chmod(d, 0o555); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.Chmod(d, 0o755) })
			}
			if f, err := os.Create(filepath.Join(runs, "probe")); err == nil {
				f.Close()
				os.Remove(f.Name())
				t.Skip("chmod 0555 does not stop this user's writes (root); see ReadOnlyMount")
			}
		}},
		{"ReadOnlyMount", func(t *testing.T, dir string, faults *faultHook) {
			if os.Geteuid() != 0 {
				t.Skip("bind mounts need root; see ReadOnlyDirectory")
			}
			if out, err := exec.Command("mount", "--bind", dir, dir).CombinedOutput(); err != nil {
				t.Skipf("mount --bind: %v: %s", err, out)
			}
			t.Cleanup(func() {
				if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
					t.Errorf("umount %s: %v: %s", dir, err, out)
				}
			})
			if out, err := exec.Command("mount", "-o", "remount,ro,bind", dir).CombinedOutput(); err != nil {
				t.Skipf("mount -o remount,ro,bind: %v: %s", err, out)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, addr, b, faults := startFaultyUploadServer(t, ctx, func(c *ServerConfig) {
				c.Now = func() time.Time { return now }
			})
			tc.breakBucket(t, b.Dir(), faults)
			resp, body := postForm(t, ctx, addr, "runner", "s3cret", []formPart{
				resultFile("a.json", testShard(t, 0)), resultFile("b.json.gz", testutil.Gzip(t, testShard(t, 1))),
			})
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Errorf("got %s (Retry-After %q) %q, want 503 with Retry-After", resp.Status, resp.Header.Get("Retry-After"), body)
			}
			faults.set(nil)
			for _, k := range runObjects(t, b) {
				if k != store.RunsPrefix+day {
					t.Errorf("failed upload left %s", k)
				}
			}
			if n := s.Count(); n != 0 {
				t.Errorf("%d runs published, want 0", n)
			}
		})
	}
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestUpload_RefusedLeavesNothing: a refused or failed upload leaves no
// object and no folder in a file bucket, which scans would list.
func TestUpload_RefusedLeavesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, addr, b, faults := startFaultyUploadServer(t, ctx, nil)
	good := testShard(t, 0)
	for _, tc := range []struct {
		name  string
		parts []formPart
		fault string // key suffix whose write fails
		code  int
	}{
		{"Invalid", []formPart{resultFile("a.json", good), resultFile("b.json", []byte(`{"results": [oops`))}, "", 400},
		{"NoShard", []formPart{field("labels", "x")}, "", 400},
		{"CommitFails", []formPart{resultFile("a.json", good)}, store.ManifestName, 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			faults.set(func(op, key string) error {
				if tc.fault != "" && op == "write" && strings.HasSuffix(key, "/"+tc.fault) {
					return errors.New("injected: service unavailable")
				}
				return nil
			})
			defer faults.set(nil)
			resp, body := postForm(t, ctx, addr, "runner", "s3cret", tc.parts)
			if resp.StatusCode != tc.code {
				t.Errorf("got %s %q, want %d", resp.Status, body, tc.code)
			}
			left, _ := filepath.Glob(filepath.Join(b.Dir(), "runs", "*", "*"))
			if len(left) > 0 {
				t.Errorf("refused upload left %v", left)
			}
		})
	}
}
