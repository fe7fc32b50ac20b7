package reportgen

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// pathsGz is a byte-for-byte copy of
// testdata/wptfyi/wptfyi-chrome-stable-summary_v2.json.gz at the module root
// (go:embed cannot reach outside the package directory). It is a real wpt.fyi
// summary_v2 of a Chrome stable run at wpt revision 24278ab617; see
// testdata/wptfyi/README.md for its origin and licence.
//
//go:embed paths.json.gz
var pathsGz []byte

// statusNames maps summary_v2 status abbreviations to wptreport statuses.
var statusNames = map[string]string{
	"P":  "PASS",
	"O":  "OK",
	"F":  "FAIL",
	"E":  "ERROR",
	"T":  "TIMEOUT",
	"C":  "CRASH",
	"N":  "NOTRUN",
	"PF": "PRECONDITION_FAILED",
	"S":  "SKIP",
}

// entry is one test of the embedded summary.
type entry struct {
	path   string
	status string // full wptreport status, e.g. "OK"
	pass   int    // subtests with status PASS
	total  int    // subtests
	hash   uint64 // hashString(path)
}

// corpus returns the embedded summary's tests sorted by path.
var corpus = sync.OnceValues(func() ([]entry, error) {
	zr, err := gzip.NewReader(bytes.NewReader(pathsGz))
	if err != nil {
		return nil, fmt.Errorf("reportgen: read embedded summary: %w", err)
	}
	var raw map[string]struct {
		S string `json:"s"`
		C []int  `json:"c"`
	}
	if err := json.NewDecoder(zr).Decode(&raw); err != nil {
		return nil, fmt.Errorf("reportgen: decode embedded summary: %w", err)
	}
	es := make([]entry, 0, len(raw))
	for p, v := range raw {
		st, ok := statusNames[v.S]
		if !ok || len(v.C) != 2 || v.C[0] < 0 || v.C[0] > v.C[1] {
			return nil, fmt.Errorf("reportgen: embedded summary: bad entry for %q", p)
		}
		es = append(es, entry{path: p, status: st, pass: v.C[0], total: v.C[1], hash: hashString(p)})
	}
	sort.Slice(es, func(i, j int) bool { return es[i].path < es[j].path })
	return es, nil
})

// item is one test of a generated report: a corpus entry, possibly as a
// "?gen=N" variant when Scale > 1.
type item struct {
	e    *entry
	gen  int // 1 for the real path, ≥ 2 for variants
	path string
}

// selectTests returns the tests of a report of the given scale, in report
// order. Copy g (g ≥ 1) of a test is included when a hash of its path and g
// falls below scale-(g-1), so copy 1 of every test is included at scale ≥ 1
// and smaller scales take nested, seed-independent subsets.
func selectTests(es []entry, scale float64) []item {
	copies := int(math.Ceil(scale))
	items := make([]item, 0, int(float64(len(es))*scale)+copies)
	for i := range es {
		e := &es[i]
		for g := 1; g <= copies; g++ {
			frac := scale - float64(g-1)
			if frac < 1 && unitFloat(mix(e.hash^uint64(g)*0x9e3779b97f4a7c15)) >= frac {
				continue
			}
			p := e.path
			if g > 1 {
				sep := "?"
				if strings.Contains(p, "?") {
					sep = "&"
				}
				p = p + sep + "gen=" + strconv.Itoa(g)
			}
			items = append(items, item{e: e, gen: g, path: p})
		}
	}
	return items
}

// hashString is 64-bit FNV-1a.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix is the splitmix64 finalizer.
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func unitFloat(u uint64) float64 { return float64(u>>11) / (1 << 53) }

// rng is a splitmix64 generator: tiny, fast and stable across Go releases,
// so output never changes with the toolchain.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix(r.s)
}

// intn returns a number in [0, n); n must be > 0.
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

func (r *rng) float() float64 { return unitFloat(r.next()) }

// chance reports true with probability p.
func (r *rng) chance(p float64) bool { return r.float() < p }
