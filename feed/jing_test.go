package feed_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// testdata/atom.rng is a copy of ../shared/atom/atom.rng: the informative
// RELAX NG grammar of RFC 4287 (Appendix B), converted from the RFC's compact
// syntax with trang. Its sha256 is pinned here and in
// ../shared/atom/README.md so an edit to the copy is noticed.
const atomRNGSHA256 = "d992e949e6a01b93f1b49a9da9ba1c1808b4fc9e938b78061f61f35f88095edb"

// atomSchema returns the schema to validate with: $WPTFEED_ATOM_RNG when set
// (e.g. ../../shared/atom/atom.rng from this directory), else the pinned copy.
func atomSchema(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("WPTFEED_ATOM_RNG"); p != "" {
		return p
	}
	p := filepath.Join("testdata", "atom.rng")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != atomRNGSHA256 {
		t.Fatalf("%s: got sha256 %x, want %s (copy it again from ../shared/atom)", p, sum, atomRNGSHA256)
	}
	return p
}

func jingPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("jing")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("jing not installed (CI=true): apt-get install -y jing")
		}
		t.Skip("jing not installed: apt-get install -y jing")
	}
	return p
}

// TestJing validates every golden document, and a freshly encoded document
// full of hostile metadata, against the RFC 4287 RELAX NG schema.
func TestJing(t *testing.T) {
	jing := jingPath(t)
	schema := atomSchema(t)

	files := map[string]string{}
	for _, g := range goldens {
		files[g.file] = filepath.Join("testdata", g.file)
	}
	hostilePath := filepath.Join(t.TempDir(), "hostile.atom")
	if err := os.WriteFile(hostilePath, mustMarshal(t, hostileFeed()), 0o644); err != nil {
		t.Fatal(err)
	}
	files["hostile"] = hostilePath

	for name, path := range files {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command(jing, schema, path).CombinedOutput()
			if err != nil {
				t.Errorf("jing %s %s: %v\n%s", schema, path, err, out)
			}
		})
	}

	// The schema must also catch what it is there for: an entry without id.
	t.Run("jing rejects an invalid document", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.atom")
		if err := os.WriteFile(bad, []byte(`<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title></feed>`), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := exec.Command(jing, schema, bad).Run(); err == nil {
			t.Errorf("jing accepted a feed without id and updated")
		}
	})
}
