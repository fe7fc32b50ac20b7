package testutil

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// update is the test binary's -update flag: go test ./feed/ -update
// rewrites the golden files instead of comparing with them.
var update = flag.Bool("update", false, "update golden files")

// Golden compares got with the golden file at path. Run with -update, it
// writes got to path instead (creating its directory; an unchanged file
// is left alone). A difference is reported with tb.Errorf, naming the
// first line that differs, so the test goes on; a golden file that cannot
// be read (missing: run with -update to create it) or written fails the
// test with tb.Fatalf.
func Golden(tb testing.TB, path string, got []byte) {
	tb.Helper()
	if *update {
		if err := writeGolden(path, got); err != nil {
			tb.Fatalf("testutil: update golden file: %v", err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		tb.Fatalf("testutil: %v (run go test with -update to create it)", err)
	}
	if err != nil {
		tb.Fatalf("testutil: read golden file: %v", err)
	}
	if d := diff(got, want); d != "" {
		tb.Errorf("%s differs (run go test with -update to accept, after checking):\n%s", path, d)
	}
}

// writeGolden writes got to path unless path already holds it.
func writeGolden(path string, got []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, got) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, got, 0o644)
}

// diff describes where got first differs from want: the line (1-based)
// and byte offset, the two lines quoted (so white space and control bytes
// show), and both sizes. It returns "" when they are equal.
func diff(got, want []byte) string {
	if bytes.Equal(got, want) {
		return ""
	}
	off := 0
	for off < len(got) && off < len(want) && got[off] == want[off] {
		off++
	}
	line := 1 + bytes.Count(want[:off], []byte("\n"))
	start := bytes.LastIndexByte(want[:off], '\n') + 1
	return fmt.Sprintf("first difference at line %d, byte %d (got %d bytes, want %d):\ngot:  %s\nwant: %s",
		line, off, len(got), len(want), quoteLine(got, start), quoteLine(want, start))
}

// maxQuote caps how much of a line diff shows.
const maxQuote = 200

// quoteLine quotes the line of b that starts at start, or says that b
// ends there.
func quoteLine(b []byte, start int) string {
	if start >= len(b) {
		return "(end of file)"
	}
	l := b[start:]
	if i := bytes.IndexByte(l, '\n'); i >= 0 {
		l = l[:i+1]
	}
	if len(l) > maxQuote {
		return fmt.Sprintf("%q…", l[:maxQuote])
	}
	return fmt.Sprintf("%q", l)
}
