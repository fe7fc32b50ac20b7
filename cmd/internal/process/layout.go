package process

import (
	"fmt"
	"slices"
	"strings"

	"github.com/wptfeed/wptfeed/store"
)

// fileLayoutProblem says why a directory cannot hold a run's per-test
// files as one file per test, naming the test, or returns "", "". The
// keys are the test paths as they are (wpt.fyi's object names), so a
// directory cannot hold a path that is not a valid file path
// (store.ValidFileKey: an empty segment, a trailing "/", "../" in a query…),
// nor a file and a directory of one name: "/a" and "/a/b.html", or
// "/a.html?x" and "/a.html?x/y". An object store holds them all. It sorts
// recs by path and looks each key's directories up there: no index of its
// own, as it runs for every run written to a local directory.
func fileLayoutProblem(recs []fileRec, sha, pid string) (test, why string) {
	byPath(recs)
	for _, r := range recs {
		if !store.ValidFileKey(store.TestKey(sha, pid, r.path)) {
			return r.path, fmt.Sprintf("test %q cannot be a file's path in a directory", r.path)
		}
		for i := len(r.path) - 1; i > 0; i-- {
			if r.path[i] != '/' {
				continue
			}
			q := r.path[:i]
			if _, found := slices.BinarySearchFunc(recs, q, func(r fileRec, q string) int { return strings.Compare(r.path, q) }); found {
				return r.path, fmt.Sprintf("test %q needs a directory where test %q has its per-test file", r.path, q)
			}
		}
	}
	return "", ""
}
