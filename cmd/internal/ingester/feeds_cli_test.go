package ingester

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunCmd_Feeds: how `ingester run` takes its feeds, and what it
// refuses before it touches a bucket.
func TestRunCmd_Feeds(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `{"feeds":[{"url":"http://127.0.0.1:1/feed.atom"}]}`)
	for _, tc := range []struct {
		name string
		args []string
		want string // in the error
	}{
		{"both", []string{"--feed", "http://a.example/f", "--subscriptions", good}, "not both"},
		{"same feed twice", []string{"--feed", "http://a.example/f", "--feed", "http://a.example/f"}, "listed twice"},
		{"second feed not http", []string{"--feed", "http://a.example/f", "--feed", "ftp://b.example/f"}, "feed 2"},
		{"missing file", []string{"--subscriptions", filepath.Join(dir, "none.json")}, "--subscriptions"},
		{"bad name", []string{"--subscriptions", write("bad.json", `{"feeds":[{"name":"A B","url":"http://a.example/f"}]}`)}, `name "A B"`},
		{"unknown member", []string{"--subscriptions", write("unknown.json", `{"feeds":[{"url":"http://a.example/f","labls":["x"]}]}`)}, "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := newRunCmd(io.Discard)
			cmd.SetArgs(append(tc.args, "--out", t.TempDir(), "--once"))
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
