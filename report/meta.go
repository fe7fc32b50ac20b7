package report

import (
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// stpVersion is wpt.fyi's normalize_version pattern (re.match: anchored at
// the start only). Python's \d matches any Unicode decimal digit.
var stpVersion = regexp.MustCompile(`^Technology Preview \(Release (\p{Nd}+), (.*)\)`)

// normalizeVersion maps Safari Technology Preview's
// "Technology Preview (Release 180, 19618.1.11.1)" to "180 preview".
func normalizeVersion(v string) string {
	if m := stpVersion.FindStringSubmatch(v); m != nil {
		return m[1] + " preview"
	}
	return v
}

// normalizeProduct is wpt.fyi's normalize_product: the normalised product
// and the labels it adds.
func normalizeProduct(product string) (string, []string) {
	switch product {
	case "edgechromium":
		return "edge", []string{"edge", "edgechromium"}
	case "webkitgtk_minibrowser":
		return "webkitgtk", []string{"webkitgtk", "minibrowser"}
	case "wpewebkit_minibrowser":
		return "wpewebkit", []string{"wpewebkit", "minibrowser"}
	case "edge_webdriver": // legacy EdgeHTML runs
		return "edge", []string{"edge", "webdriver", "edge_webdriver"}
	}
	return product, nil
}

// Release-channel labels understood by wpt.fyi.
const (
	LabelStable       = "stable"
	LabelBeta         = "beta"
	LabelExperimental = "experimental"
)

// ChannelLabel returns the release-channel label ("stable", "beta",
// "experimental") that a browser_channel implies for a (normalised)
// product, or "" if it implies none. This is wpt.fyi's prepare_labels
// mapping (its CHANNEL_TO_LABEL table, plus the per-browser rules for
// Chrome's and Edge's dev and canary channels):
//
//	release, stable           → stable
//	beta                      → beta
//	experimental, preview     → experimental (Safari Technology Preview)
//	nightly                   → experimental (Firefox Nightly, Servo, WebKitGTK/WPE, …)
//	dev                       → experimental, except chrome: Chrome's
//	                            experimental runs are Canary, so Chrome Dev
//	                            gets only the "dev" label
//	canary                    → experimental for chrome only (Chrome Canary);
//	                            Edge's experimental channel is Dev
//	anything else             → none (the channel is still added as a label)
func ChannelLabel(product, channel string) string {
	switch channel {
	case "release", "stable":
		return LabelStable
	case "beta":
		return LabelBeta
	case "experimental", "preview", "nightly":
		return LabelExperimental
	case "dev":
		if product == "chrome" {
			return ""
		}
		return LabelExperimental
	case "canary":
		if product == "chrome" {
			return LabelExperimental
		}
		return ""
	}
	return ""
}

// pyStrip trims what Python's str.strip() trims: Unicode white space plus
// U+001C..U+001F (which Python counts as white space and Go does not).
func pyStrip(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
	})
}

// NormalizeMetadata applies wpt.fyi's normalisation to a run's metadata as
// reported (after overrides) and computes its labels, as prepare_labels and
// normalize_product do:
//
//   - BrowserVersion "Technology Preview (Release N, …)" becomes "N preview";
//   - Product edgechromium becomes edge (labels edge, edgechromium),
//     webkitgtk_minibrowser becomes webkitgtk and wpewebkit_minibrowser
//     becomes wpewebkit (labels the browser and minibrowser), edge_webdriver
//     becomes edge (labels edge, webdriver, edge_webdriver);
//   - labels: the product as reported and the normalised one, the uploader's
//     labels (each split on commas and trimmed), and, if BrowserChannel is
//     set, the channel and the release label [ChannelLabel] gives for it;
//     with no channel and none of stable/beta/experimental among the labels,
//     "stable". Empty labels are dropped; the result is sorted and unique.
//   - Revision is lower-cased.
//
// Per-browser channel rules use the normalised product (wpt.fyi computes
// labels before normalising the product; this only matters for
// edgechromium, whose channel rules are edge's here). It does not validate;
// see [ValidateMetadata].
func NormalizeMetadata(m Metadata, labels []string) (Metadata, []string) {
	set := map[string]bool{m.Product: true}
	for _, l := range labels {
		for _, part := range strings.Split(l, ",") {
			set[pyStrip(part)] = true
		}
	}
	out := m
	out.BrowserVersion = normalizeVersion(m.BrowserVersion)
	out.Revision = strings.ToLower(m.Revision)
	var extra []string
	out.Product, extra = normalizeProduct(m.Product)
	set[out.Product] = true
	for _, l := range extra {
		set[l] = true
	}
	if m.BrowserChannel != "" {
		set[m.BrowserChannel] = true
		if l := ChannelLabel(out.Product, m.BrowserChannel); l != "" {
			set[l] = true
		}
	} else if !set[LabelStable] && !set[LabelBeta] && !set[LabelExperimental] {
		set[LabelStable] = true
	}
	delete(set, "")
	res := make([]string, 0, len(set))
	for l := range set {
		res = append(res, l)
	}
	slices.Sort(res)
	return out, res
}

// ValidateMetadata checks that product, browser_version, os and revision
// are present and that revision is 40 hexadecimal digits (either case). It
// returns an *Error with CodeMissingMetadata or CodeBadRevision, or nil.
func ValidateMetadata(m Metadata) error {
	var missing []string
	if m.Product == "" {
		missing = append(missing, "product")
	}
	if m.BrowserVersion == "" {
		missing = append(missing, "browser_version")
	}
	if m.OS == "" {
		missing = append(missing, "os")
	}
	if m.Revision == "" {
		missing = append(missing, "revision")
	}
	if len(missing) > 0 {
		return rejectf(CodeMissingMetadata, "", "missing required metadata: "+strings.Join(missing, ", "))
	}
	if !isHex40(m.Revision) {
		return rejectf(CodeBadRevision, "", "revision "+quote(m.Revision)+" is not 40 hexadecimal digits")
	}
	return nil
}

func isHex40(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
