package changes

import (
	"fmt"
	"slices"
	"strings"

	"github.com/wptfeed/wptfeed/cmd/internal/records"
)

// spec is a product spec in wpt.fyi's syntax (shared/product_spec.go):
// browser[-version[-os[-os_version]]][label,…]. A revision (@sha) is
// refused: the feed follows a product over time.
type spec struct {
	name, version, os, osVersion string
	labels                       []string
}

// splitSpecs splits a value on the commas outside brackets.
func splitSpecs(v string) []string {
	var out []string
	in, start := false, 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '[':
			in = true
		case ']':
			in = false
		case ',':
			if !in {
				out = append(out, v[start:i])
				start = i + 1
			}
		}
	}
	return append(out, v[start:])
}

func parseSpec(s string) (spec, error) {
	var p spec
	bad := func(why string) (spec, error) { return spec{}, fmt.Errorf("invalid product spec %q: %s", s, why) }
	if strings.Contains(s, "@") {
		return bad("a revision (@sha) is not allowed here")
	}
	name := s
	if i := strings.IndexByte(s, '['); i >= 0 {
		name = s[:i]
		ls := s[i+1:]
		if !strings.HasSuffix(ls, "]") || strings.ContainsAny(ls[:len(ls)-1], "[]") || len(ls) == 1 {
			return bad("labels are [label,…]")
		}
		for _, l := range strings.Split(ls[:len(ls)-1], ",") {
			if l != "" && !slices.Contains(p.labels, l) {
				p.labels = append(p.labels, l)
			}
		}
	}
	parts := strings.Split(name, "-")
	if len(parts) > 4 || parts[0] == "" {
		return bad("want browser[-version[-os[-os_version]]]")
	}
	p.name = parts[0]
	parts = append(parts, "", "", "")
	p.version, p.os, p.osVersion = parts[1], parts[2], parts[3]
	return p, nil
}

// String is the spec's canonical spelling.
func (p spec) String() string {
	s := p.name
	for _, x := range []string{p.version, p.os, p.osVersion} {
		if x == "" {
			break
		}
		s += "-" + x
	}
	if len(p.labels) > 0 {
		s += "[" + strings.Join(p.labels, ",") + "]"
	}
	return s
}

// match is wpt.fyi's ProductSpec.Matches without a revision: the browser
// name, the version as a prefix ending at a dot ("132" matches
// "132.0.1"), every label. The OS is not compared, as on wpt.fyi.
func (p spec) match(r *records.Run) bool {
	tr := r.TestRun
	if tr == nil || tr.BrowserName != p.name {
		return false
	}
	if p.version != "" && !strings.HasPrefix(tr.BrowserVersion+".", p.version+".") {
		return false
	}
	for _, l := range p.labels {
		if !slices.Contains(r.Labels, l) && !slices.Contains(tr.Labels, l) {
			return false
		}
	}
	return true
}
