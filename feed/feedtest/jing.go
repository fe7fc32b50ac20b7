// Package feedtest helps tests of any package check Atom documents against
// RFC 4287's RELAX NG schema with jing (Debian package jing).
package feedtest

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Schema is the informative RELAX NG grammar of RFC 4287 (Appendix B), a
// copy of ../shared/atom/atom.rng (sha256 d992e949…5edb), converted from the
// RFC's compact syntax with trang.
//
//go:embed atom.rng
var Schema []byte

// Jing validates each document with jing and fails t for every invalid one,
// printing jing's report. Without jing it fails under CI=true and skips
// elsewhere, naming the install command.
func Jing(t testing.TB, docs ...[]byte) {
	t.Helper()
	jing, err := exec.LookPath("jing")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("jing not installed (CI=true): apt-get install -y jing")
		}
		t.Skip("jing not installed: apt-get install -y jing")
	}
	dir := t.TempDir()
	schema := filepath.Join(dir, "atom.rng")
	if err := os.WriteFile(schema, Schema, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{schema}
	for i, d := range docs {
		p := filepath.Join(dir, fmt.Sprintf("doc%d.atom", i))
		if err := os.WriteFile(p, d, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	if out, err := exec.Command(jing, args...).CombinedOutput(); err != nil {
		t.Errorf("jing: %v\n%s", err, out)
	}
}
