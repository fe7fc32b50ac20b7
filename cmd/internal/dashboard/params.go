package dashboard

import (
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The query parameters of wpt.fyi's TestRun endpoints (/api/runs, /api/run,
// /api/shas, /api/results), parsed as wpt.fyi parses them in
// web-platform-tests/wpt.fyi shared/params.go (ParseTestRunFilterParams and
// the functions it calls) into its shared/test_run_filter.go TestRunFilter.
// docs/api.md lists them, with the differences.

// latestSHA is wpt.fyi's "latest" keyword (shared.LatestSHA): no revision.
const latestSHA = "latest"

// defaultBrowsers are the browsers wpt.fyi shows when no product is given
// (shared/browsers.go defaultBrowsers, in its order), extraBrowsers the other
// names it knows (extraBrowsers); IsBrowserName accepts both, with or
// without the legacy "-experimental" suffix.
var (
	defaultBrowsers = []string{"chrome", "edge", "firefox", "safari"}
	extraBrowsers   = []string{"android_webview", "chrome_android", "chrome_ios", "chromium", "deno", "epiphany",
		"firefox_android", "flow", "ladybird", "node.js", "servo", "uc", "wktr", "webkitgtk", "wpewebkit"}
)

// userLabelPrefix is the prefix of the label that user=<name> stands for
// (shared.UserLabelPrefix, shared.GetUserLabel).
const userLabelPrefix = "user:"

// shaPattern is what a sha parameter may be besides "latest": 7 to 40 hex
// digits (wpt.fyi's SHARegex, which wpt.fyi does not anchor; here the
// whole value must match).
var shaPattern = regexp.MustCompile(`^[0-9a-fA-F]{7,40}$`)

// productSpec is a parsed product spec, wpt.fyi's ProductSpec
// (shared/product_spec.go): browser[-version[-os[-os_version]]], then
// optionally [label,…], then optionally @sha.
type productSpec struct {
	name, version, os, osVersion string
	labels                       []string
	revision                     string // a sha prefix, lower case; "" for latest
}

// runFilter is a parsed query: wpt.fyi's TestRunFilter plus run_ids and
// the wptfeed extension state.
type runFilter struct {
	shas     []string // lower case; "latest" kept as such; empty: latest
	labels   []string // every one is needed (user=… adds user:…)
	aligned  *bool
	products []productSpec // nil: none given
	maxCount *int          // clamped to 1..maxCount
	offset   int
	from, to time.Time // zero: none
	runIDs   []int64
	states   []string // wptfeed: nil is VALID only; empty (state=all) is every state
}

// repeatedParam is wpt.fyi's ParseRepeatedParam: the values of the
// singular parameter as they are (repeatable), then the plural one's
// split on commas; empty values dropped, duplicates dropped, in order.
func repeatedParam(q url.Values, singular, plural string) []string {
	all := slices.Clone(q[singular])
	if p := q.Get(plural); p != "" {
		all = append(all, strings.Split(p, ",")...)
	}
	return uniqueNonEmpty(all)
}

func uniqueNonEmpty(vs []string) []string {
	var out []string
	for _, v := range vs {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// splitProducts splits the products parameter on the commas outside
// brackets ("chrome[stable,buildbot],firefox" is two specs), as wpt.fyi's
// ParseProductsParam does with its nested-comma placeholder.
func splitProducts(v string) []string {
	var out []string
	inLabels, start := false, 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '[':
			inLabels = true
		case ']':
			inLabels = false
		case ',':
			if !inLabels {
				out = append(out, v[start:i])
				start = i + 1
			}
		}
	}
	return append(out, v[start:])
}

// parseSHA checks one sha value: "" and "latest" are latest; otherwise 7
// to 40 hex digits, lower-cased (wpt.fyi's ParseSHA).
func parseSHA(v string) (string, error) {
	if v == "" || v == latestSHA {
		return latestSHA, nil
	}
	if !shaPattern.MatchString(v) {
		return "", badParam("sha %q is not 7 to 40 hex digits or %q", v, latestSHA)
	}
	return strings.ToLower(v), nil
}

// isLatest is wpt.fyi's IsLatest.
func isLatest(sha string) bool { return sha == "" || sha == latestSHA }

// shasLatest is wpt.fyi's SHAs.EmptyOrLatest.
func shasLatest(shas []string) bool { return len(shas) == 0 || len(shas) == 1 && isLatest(shas[0]) }

// parseVersion checks a browser or OS version as wpt.fyi's ParseVersion
// does: up to four dot-separated numbers, optionally followed by a
// space and a channel ("180 preview") or by Firefox's a1/b2 suffix.
func parseVersion(v string) bool {
	parts := strings.Split(v, " ")
	if len(parts) > 2 {
		return false
	}
	v = parts[0]
	if m := ffSuffix.FindStringSubmatch(v); m != nil {
		v = v[:len(v)-len(m[1])]
	}
	parts = strings.Split(v, ".")
	if len(parts) > 4 {
		return false
	}
	for _, p := range parts {
		if _, err := strconv.ParseInt(p, 10, 0); err != nil {
			return false
		}
	}
	return true
}

var ffSuffix = regexp.MustCompile(`^.*([ab]\d+)$`)

// parseProductSpec parses a product spec as wpt.fyi's ParseProductSpec and
// ParseProduct do; known says whether a browser name is accepted.
func parseProductSpec(spec string, known func(string) bool) (productSpec, error) {
	var p productSpec
	bad := func() (productSpec, error) { return productSpec{}, badParam("invalid product spec %q", spec) }
	name := spec
	if at := strings.Split(spec, "@"); len(at) > 2 {
		return bad()
	} else if len(at) == 2 {
		name = at[0]
		rev, err := parseSHA(at[1])
		if err != nil {
			return bad()
		}
		if !isLatest(rev) {
			p.revision = rev
		}
	}
	if br := strings.Split(name, "["); len(br) > 2 {
		return bad()
	} else if len(br) == 2 {
		name = br[0]
		labels := br[1]
		if labels == "" || !strings.HasSuffix(labels, "]") || strings.Index(labels, "]") < len(labels)-1 {
			return bad()
		}
		p.labels = uniqueNonEmpty(strings.Split(labels[:len(labels)-1], ","))
	}
	parts := strings.Split(name, "-")
	if len(parts) > 4 {
		return productSpec{}, badParam("invalid product %q", name)
	}
	p.name = parts[0]
	if !known(p.name) {
		return productSpec{}, badParam("invalid browser name %q", p.name)
	}
	if len(parts) > 1 {
		if !parseVersion(parts[1]) {
			return productSpec{}, badParam("invalid browser version %q", parts[1])
		}
		p.version = parts[1]
	}
	if len(parts) > 2 {
		p.os = parts[2]
	}
	if len(parts) > 3 {
		if !parseVersion(parts[3]) {
			return productSpec{}, badParam("invalid OS version %q", parts[3])
		}
		p.osVersion = parts[3]
	}
	return p, nil
}

// parseBool is wpt.fyi's ParseBooleanParam: nil when absent, true when
// present without a value, else the value as a boolean.
func parseBool(q url.Values, name string) (*bool, error) {
	if _, ok := q[name]; !ok {
		return nil, nil
	}
	b := true
	if v := q.Get(name); v != "" {
		var err error
		if b, err = strconv.ParseBool(v); err != nil {
			return nil, badParam("%s %q is not a boolean", name, v)
		}
	}
	return &b, nil
}

// parseTime parses a date/time parameter as wpt.fyi's ParseDateTimeParam
// does: RFC 3339, or a prefix of it up to the seconds ("2024",
// "2024-06-02", "2024-06-02T06:30"), read as UTC.
func parseTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	layout := time.RFC3339
	if z := strings.Index(layout, "Z"); len(v) < z {
		layout = layout[:len(v)]
	}
	t, err := time.Parse(layout, v)
	if err != nil {
		return time.Time{}, badParam("%s %q is not an RFC 3339 time (2006-01-02T15:04:05Z) or a prefix of one (2006-01-02)", name, v)
	}
	return t.UTC(), nil
}

// parseRunFilter parses a query as wpt.fyi's ParseTestRunFilterParams
// does, plus run_id/run_ids (ParseRunIDsParam), offset and the wptfeed
// extension state. known says which browser names product and browser
// may name. Errors wrap store.ErrInvalid (400).
func parseRunFilter(q url.Values, known func(string) bool) (runFilter, error) {
	var f runFilter
	var err error
	for _, s := range repeatedParam(q, "run_id", "run_ids") {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return f, badParam("run id %q is not a number", s)
		}
		f.runIDs = append(f.runIDs, id)
	}
	for _, s := range repeatedParam(q, "sha", "shas") {
		if s, err = parseSHA(s); err != nil {
			return f, err
		}
		f.shas = append(f.shas, s)
	}
	f.labels = repeatedParam(q, "label", "labels")
	if u := q.Get("user"); u != "" && !slices.Contains(f.labels, userLabelPrefix+u) {
		f.labels = append(f.labels, userLabelPrefix+u)
	}
	if f.aligned, err = parseBool(q, "aligned"); err != nil {
		return f, err
	}
	if f.aligned == nil { // the legacy name
		if f.aligned, err = parseBool(q, "complete"); err != nil {
			return f, err
		}
	}
	specs := slices.Clone(q["product"])
	if p := q.Get("products"); p != "" {
		specs = append(specs, splitProducts(p)...)
	}
	for _, s := range uniqueNonEmpty(specs) {
		p, err := parseProductSpec(s, known)
		if err != nil {
			return f, err
		}
		f.products = append(f.products, p)
	}
	for _, b := range repeatedParam(q, "browser", "browsers") { // legacy
		if !known(strings.TrimSuffix(b, "-experimental")) {
			return f, badParam("invalid browser %q", b)
		}
		f.products = append(f.products, productSpec{name: b})
	}
	if v := q.Get("max-count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return f, badParam("max-count %q is not a number", v)
		}
		n = min(max(n, 1), maxCount)
		f.maxCount = &n
	}
	if v := q.Get("offset"); v != "" {
		if f.offset, err = strconv.Atoi(v); err != nil {
			return f, badParam("offset %q is not a number", v)
		}
		f.offset = max(f.offset, 0)
	}
	if f.from, err = parseTime("from", q.Get("from")); err != nil {
		return f, err
	}
	if f.to, err = parseTime("to", q.Get("to")); err != nil {
		return f, err
	}
	for _, s := range splitValues(q, "state") {
		if strings.EqualFold(s, "all") {
			f.states = []string{}
			break
		}
		f.states = append(f.states, strings.ToUpper(s))
	}
	return f, nil
}

// splitValues returns the values of keys, repeated or comma-separated,
// trimmed, without empties and duplicates, in order (the charts' and
// state's parameters).
func splitValues(q url.Values, keys ...string) []string {
	var out []string
	for _, k := range keys {
		for _, v := range q[k] {
			for _, p := range strings.Split(v, ",") {
				if p = strings.TrimSpace(p); p != "" && !slices.Contains(out, p) {
					out = append(out, p)
				}
			}
		}
	}
	return out
}
