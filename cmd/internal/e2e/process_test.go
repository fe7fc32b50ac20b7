package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/records"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/report/reportgen"
	"github.com/wptfeed/wptfeed/store"
)

// TestProcess_Layouts runs `ingester process` on one generated report with
// each per-test layout: the packed layout holds, for every test, exactly
// the bytes of the per-test file the files layout writes, and its index is
// sorted and covers the pack without gaps.
func TestProcess_Layouts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in := t.TempDir()
	shards, err := reportgen.WriteFiles(in, "run", reportgen.Config{Seed: 5, Scale: 0.02, Shards: 3})
	if err != nil {
		t.Fatal(err)
	}
	process := func(layout string) (out string, st records.Status) {
		t.Helper()
		out = t.TempDir()
		stdout, stderr, err := exec(t, ctx, ingesterCmd, append([]string{"process", "--out", out, "--per-test-layout", layout}, shards...)...)
		if err != nil {
			t.Fatalf("process --per-test-layout=%s: %v\n%s%s", layout, err, stdout, stderr)
		}
		id := strings.Fields(stdout)[2]
		readJSON(t, filepath.Join(out, "status", strings.TrimSuffix(id, ":")+".json"), &st)
		if st.State != records.StateValid || st.PerTest != layout {
			t.Fatalf("%s: status %+v", layout, st)
		}
		return out, st
	}
	filesOut, st := process(records.LayoutFiles)
	packedOut, st2 := process(records.LayoutPacked)
	if st.ProductID != st2.ProductID || st.Tests != st2.Tests {
		t.Fatalf("the two runs differ: %+v, %+v", st, st2)
	}
	sha, pid := st.Revision, st.ProductID

	// The files layout has no pack, the packed layout no per-test files.
	if _, err := os.Stat(filepath.Join(filesOut, filepath.FromSlash(store.TestPackKey(sha, pid)))); !os.IsNotExist(err) {
		t.Errorf("files layout wrote a pack (%v)", err)
	}
	if files := perTestFiles(t, filepath.Join(packedOut, sha, pid)); len(files) > 0 {
		t.Errorf("packed layout wrote per-test files: %q", files)
	}

	var idx struct {
		Version int               `json:"version"`
		Pack    string            `json:"pack"`
		Tests   []json.RawMessage `json:"tests"`
	}
	readGzipJSON(t, filepath.Join(packedOut, filepath.FromSlash(store.TestPackIndexKey(sha, pid))), &idx)
	if want := pid + "-tests.gz"; idx.Pack != want || idx.Version != 1 {
		t.Errorf("index names pack %q version %d, want %q version 1", idx.Pack, idx.Version, want)
	}
	pack, err := os.ReadFile(filepath.Join(packedOut, sha, idx.Pack))
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Tests) != st.Tests {
		t.Fatalf("index lists %d tests, the run has %d", len(idx.Tests), st.Tests)
	}
	var prev string
	var next int64
	for _, raw := range idx.Tests {
		var e [3]any
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("index entry %s: %v", raw, err)
		}
		path, off, n := e[0].(string), int64(e[1].(float64)), int64(e[2].(float64))
		if path <= prev {
			t.Fatalf("index not sorted: %q after %q", path, prev)
		}
		if off != next {
			t.Fatalf("%s: offset %d, want %d (no gaps)", path, off, next)
		}
		prev, next = path, off+n
		want, err := os.ReadFile(filepath.Join(filesOut, sha, pid, filepath.FromSlash(path)))
		if err != nil {
			t.Fatalf("files layout: %v", err)
		}
		if !bytes.Equal(pack[off:off+n], want) {
			t.Fatalf("%s: pack bytes differ from the per-test file", path)
		}
	}
	if next != int64(len(pack)) {
		t.Errorf("index covers %d bytes of a %d-byte pack", next, len(pack))
	}
	// The whole pack is a valid gzip stream of the results, one after another.
	zr, err := gzip.NewReader(bytes.NewReader(pack))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(zr)
	var tests []string
	for {
		var r struct {
			Test string `json:"test"`
		}
		if err := dec.Decode(&r); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("gzip -dc of the pack: %v", err)
		}
		tests = append(tests, strings.TrimSpace(r.Test))
	}
	if len(tests) != st.Tests || !slices.IsSorted(tests) {
		t.Errorf("the pack decompresses to %d results (sorted: %v), want %d sorted", len(tests), slices.IsSorted(tests), st.Tests)
	}

	// A rejected run leaves its status record only.
	bad := filepath.Join(in, "bad.json")
	os.WriteFile(bad, []byte(`{"results": [{"test": "/a.html", "status": "OK"}], "run_info": {"product": "chrome"}}`), 0o644)
	out := t.TempDir()
	if _, _, err := exec(t, ctx, ingesterCmd, "process", "--out", out, "--per-test-layout", "packed", bad); err == nil {
		t.Fatal("process of an invalid run succeeded")
	}
	var left []string
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(out, p)
			left = append(left, filepath.ToSlash(rel))
		}
		return nil
	})
	if len(left) != 1 || !strings.HasPrefix(left[0], "status/") {
		t.Errorf("a rejected run left %q, want its status record only", left)
	}

	// A test "/a" and a test "/a/b.html" cannot both have per-test files
	// in a directory: that run goes to the packed layout, with a warning.
	clash := filepath.Join(in, "clash.json")
	os.WriteFile(clash, []byte(`{"run_info": {"product": "firefox", "browser_version": "130.0", "os": "linux", "revision": "`+revision+`"},
		"results": [{"test": "/a", "status": "OK", "subtests": []}, {"test": "/a/b.html", "status": "PASS", "subtests": []}, {"test": "/c.html?x", "status": "OK"}, {"test": "/c.html?x/y", "status": "OK"}]}`), 0o644)
	out = t.TempDir()
	stdout, stderr, err := exec(t, ctx, ingesterCmd, "process", "--out", out, clash)
	if err != nil {
		t.Fatalf("process of a run with /a and /a/b.html: %v\n%s%s", err, stdout, stderr)
	}
	var cst records.Status
	readJSON(t, filepath.Join(out, "status", strings.TrimSuffix(strings.Fields(stdout)[2], ":")+".json"), &cst)
	if cst.State != records.StateValid || cst.PerTest != records.LayoutPacked || cst.Tests != 4 ||
		!slices.ContainsFunc(cst.Warnings, func(w report.Warning) bool { return w.Code == records.WarnPerTestPacked && w.Test == "/a/b.html" }) {
		t.Errorf("status of the clashing run = %+v, want VALID, packed, with a %s warning", cst, records.WarnPerTestPacked)
	}
	if _, err := os.Stat(filepath.Join(out, filepath.FromSlash(store.TestPackIndexKey(cst.Revision, cst.ProductID)))); err != nil {
		t.Errorf("no pack index: %v", err)
	}
	// Tests whose keys are valid file paths that do not clash fit the
	// files layout, queries and all, under wpt.fyi's object names.
	fine := filepath.Join(in, "fine.json")
	os.WriteFile(fine, []byte(`{"run_info": {"product": "firefox", "browser_version": "130.0", "os": "linux", "revision": "`+revision+`"},
		"results": [{"test": "/c.html?x", "status": "OK"}, {"test": "/c/d.html?x=1&y=/z#f", "status": "OK"}]}`), 0o644)
	stdout, stderr, err = exec(t, ctx, ingesterCmd, "process", "--out", out, fine)
	if err != nil {
		t.Fatalf("process of a run with query variants: %v\n%s%s", err, stdout, stderr)
	}
	cst = records.Status{}
	readJSON(t, filepath.Join(out, "status", strings.TrimSuffix(strings.Fields(stdout)[2], ":")+".json"), &cst)
	if cst.State != records.StateValid || cst.PerTest != records.LayoutFiles || len(cst.Warnings) != 0 {
		t.Errorf("status of the run with query variants = %+v, want VALID in the files layout", cst)
	}
	for _, p := range []string{"/c.html?x", "/c/d.html?x=1&y=/z#f"} {
		var obj map[string]any
		readGzipJSON(t, filepath.Join(out, cst.Revision, cst.ProductID, filepath.FromSlash(p)), &obj)
		if obj["test"] != p {
			t.Errorf("per-test file of %s holds %v", p, obj["test"])
		}
	}

	// An unknown layout is refused before anything is read.
	_, stderr, err = exec(t, ctx, ingesterCmd, "process", "--out", t.TempDir(), "--per-test-layout", "zip", shards[0])
	if err == nil || !strings.Contains(err.Error()+stderr, `--per-test-layout "zip"`) {
		t.Errorf("--per-test-layout=zip: got %v %s", err, stderr)
	}
}
