package publisher

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/httpx"
)

// TestServeCommand_NotifyTokenFile checks that `publisher serve` refuses a
// --notify-token-file it cannot use, before it opens anything: an empty
// token would be sent as "Bearer " and refused by every ingester.
func TestServeCommand_NotifyTokenFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		path string
		want error
	}{
		{"empty", write("empty", ""), httpx.ErrEmptyToken},
		{"white space", write("blank", "  \n\t\n"), httpx.ErrEmptyToken},
		{"missing", filepath.Join(dir, "nope"), fs.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bucket := filepath.Join(dir, "bucket-"+strings.ReplaceAll(tc.name, " ", "-"))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cmd := NewCommand(io.Discard, io.Discard)
			cmd.SetArgs([]string{"serve", "--bucket", "file://" + bucket, "--addr", "127.0.0.1:0", "--notify", "http://127.0.0.1:1/api/notify", "--notify-token-file", tc.path})
			err := cmd.ExecuteContext(ctx)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), "--notify-token-file") {
				t.Errorf("error %q does not name the flag and the file %s", err, tc.path)
			}
			if _, err := os.Stat(bucket); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("bucket directory: got %v, want none (nothing opened)", err)
			}
		})
	}
}
