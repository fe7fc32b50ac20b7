package process

import (
	"slices"
	"strings"

	"github.com/wptfeed/wptfeed/store"
)

// fileDirConflict returns two tests whose per-test keys need a file and a
// directory of the same name (b's key is under a's), or "", "". Escaping
// makes that impossible for a query or fragment ("/a.html?x" and
// "/a.html?x/y"); it remains for paths like "/a" and "/a/b.html", which a
// wpt checkout cannot hold but a report can. It sorts recs by path and
// looks each key's directories up there: no index of its own, as it runs
// for every run written to a local directory.
func fileDirConflict(recs []fileRec) (a, b string) {
	byPath(recs)
	for _, r := range recs {
		k := store.EscapeTestPath(r.path)
		for i := len(k) - 1; i > 0; i-- {
			if k[i] != '/' {
				continue
			}
			q, err := store.UnescapeTestPath(k[:i])
			if err != nil {
				continue
			}
			_, found := slices.BinarySearchFunc(recs, q, func(r fileRec, q string) int { return strings.Compare(r.path, q) })
			if found && store.EscapeTestPath(q) == k[:i] {
				return q, r.path
			}
		}
	}
	return "", ""
}
