package report

import (
	"slices"
	"strings"
	"testing"
)

// TestNormalizeMetadata is wpt.fyi's prepare_labels + normalize_product +
// normalize_version, case by case.
func TestNormalizeMetadata(t *testing.T) {
	tests := []struct {
		name       string
		in         Metadata
		labels     []string
		wantMeta   Metadata
		wantLabels []string
	}{
		{"DefaultStable", Metadata{Product: "chrome"}, nil,
			Metadata{Product: "chrome"}, []string{"chrome", "stable"}},
		{"UploaderExperimental", Metadata{Product: "chrome"}, []string{"experimental"},
			Metadata{Product: "chrome"}, []string{"chrome", "experimental"}},
		{"UploaderBeta", Metadata{Product: "firefox"}, []string{"beta"},
			Metadata{Product: "firefox"}, []string{"beta", "firefox"}},
		{"Release", Metadata{Product: "firefox", BrowserChannel: "release"}, nil,
			Metadata{Product: "firefox", BrowserChannel: "release"}, []string{"firefox", "release", "stable"}},
		{"Stable", Metadata{Product: "chrome", BrowserChannel: "stable"}, nil,
			Metadata{Product: "chrome", BrowserChannel: "stable"}, []string{"chrome", "stable"}},
		{"Beta", Metadata{Product: "chrome", BrowserChannel: "beta"}, nil,
			Metadata{Product: "chrome", BrowserChannel: "beta"}, []string{"beta", "chrome"}},
		{"FirefoxNightly", Metadata{Product: "firefox", BrowserChannel: "nightly"}, nil,
			Metadata{Product: "firefox", BrowserChannel: "nightly"}, []string{"experimental", "firefox", "nightly"}},
		{"ChromeCanary", Metadata{Product: "chrome", BrowserChannel: "canary"}, nil,
			Metadata{Product: "chrome", BrowserChannel: "canary"}, []string{"canary", "chrome", "experimental"}},
		{"ChromeDev", Metadata{Product: "chrome", BrowserChannel: "dev"}, nil,
			Metadata{Product: "chrome", BrowserChannel: "dev"}, []string{"chrome", "dev"}},
		{"EdgeChromiumDev", Metadata{Product: "edgechromium", BrowserChannel: "dev"}, nil,
			Metadata{Product: "edge", BrowserChannel: "dev"}, []string{"dev", "edge", "edgechromium", "experimental"}},
		{"EdgeChromiumCanary", Metadata{Product: "edgechromium", BrowserChannel: "canary"}, nil,
			Metadata{Product: "edge", BrowserChannel: "canary"}, []string{"canary", "edge", "edgechromium"}},
		{"EdgeChromiumStable", Metadata{Product: "edgechromium", BrowserChannel: "stable"}, nil,
			Metadata{Product: "edge", BrowserChannel: "stable"}, []string{"edge", "edgechromium", "stable"}},
		{"EdgeWebDriver", Metadata{Product: "edge_webdriver"}, nil,
			Metadata{Product: "edge"}, []string{"edge", "edge_webdriver", "stable", "webdriver"}},
		{"WebKitGTKMiniBrowser", Metadata{Product: "webkitgtk_minibrowser", BrowserChannel: "nightly"}, nil,
			Metadata{Product: "webkitgtk", BrowserChannel: "nightly"},
			[]string{"experimental", "minibrowser", "nightly", "webkitgtk", "webkitgtk_minibrowser"}},
		{"WPEWebKitMiniBrowser", Metadata{Product: "wpewebkit_minibrowser", BrowserChannel: "stable"}, nil,
			Metadata{Product: "wpewebkit", BrowserChannel: "stable"},
			[]string{"minibrowser", "stable", "wpewebkit", "wpewebkit_minibrowser"}},
		{"SafariTechnologyPreview",
			Metadata{Product: "safari", BrowserVersion: "Technology Preview (Release 180, 19618.1.11.1)", BrowserChannel: "preview"}, nil,
			Metadata{Product: "safari", BrowserVersion: "180 preview", BrowserChannel: "preview"},
			[]string{"experimental", "preview", "safari"}},
		{"SafariVersionNotSTP", Metadata{Product: "safari", BrowserVersion: "Technology Preview"}, nil,
			Metadata{Product: "safari", BrowserVersion: "Technology Preview"}, []string{"safari", "stable"}},
		{"UnknownChannel", Metadata{Product: "servo", BrowserChannel: "weekly"}, nil,
			Metadata{Product: "servo", BrowserChannel: "weekly"}, []string{"servo", "weekly"}},
		{"ChannelAndUploaderLabel", Metadata{Product: "chrome", BrowserChannel: "stable"}, []string{"experimental"},
			Metadata{Product: "chrome", BrowserChannel: "stable"}, []string{"chrome", "experimental", "stable"}},
		{"LabelsSplitTrimmedUnique", Metadata{Product: "chrome"}, []string{"master, pr_head", " ", "", "master", "\tazure\n", "x,,y"},
			Metadata{Product: "chrome"}, []string{"azure", "chrome", "master", "pr_head", "stable", "x", "y"}},
		{"RevisionLowerCased", Metadata{Product: "chrome", Revision: "0BDAAF9C1622CA49EB140381AF1ECE6D8001C934"}, nil,
			Metadata{Product: "chrome", Revision: "0bdaaf9c1622ca49eb140381af1ece6d8001c934"}, []string{"chrome", "stable"}},
		{"EmptyProduct", Metadata{}, []string{"a"},
			Metadata{}, []string{"a", "stable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, labels := NormalizeMetadata(tt.in, tt.labels)
			if m != tt.wantMeta {
				t.Errorf("got %+v, want %+v", m, tt.wantMeta)
			}
			if !slices.Equal(labels, tt.wantLabels) {
				t.Errorf("got labels %q, want %q", labels, tt.wantLabels)
			}
		})
	}
}

func TestChannelLabel(t *testing.T) {
	tests := []struct{ product, channel, want string }{
		{"chrome", "release", "stable"},
		{"chrome", "stable", "stable"},
		{"chrome", "beta", "beta"},
		{"chrome", "dev", ""},
		{"chrome", "canary", "experimental"},
		{"chrome", "nightly", "experimental"},
		{"edge", "dev", "experimental"},
		{"edge", "canary", ""},
		{"firefox", "nightly", "experimental"},
		{"safari", "preview", "experimental"},
		{"servo", "experimental", "experimental"},
		{"servo", "", ""},
		{"servo", "STABLE", ""},
	}
	for _, tt := range tests {
		if got := ChannelLabel(tt.product, tt.channel); got != tt.want {
			t.Errorf("ChannelLabel(%q, %q) = %q, want %q", tt.product, tt.channel, got, tt.want)
		}
	}
}

func TestValidateMetadata(t *testing.T) {
	ok := Metadata{Product: "chrome", BrowserVersion: "1", OS: "linux", Revision: "0BDAAF9C1622ca49eb140381af1ece6d8001c934"}
	if err := ValidateMetadata(ok); err != nil {
		t.Errorf("got %v, want nil", err)
	}
	err := ValidateMetadata(Metadata{OS: "linux"})
	if e := asError(t, err); e.Code != CodeMissingMetadata || !strings.Contains(err.Error(), "product, browser_version, revision") {
		t.Errorf("got %v, want missing product, browser_version, revision", err)
	}
	bad := ok
	bad.Revision = "0bdaaf9c16"
	if e := asError(t, ValidateMetadata(bad)); e.Code != CodeBadRevision {
		t.Errorf("got %v, want %s", e, CodeBadRevision)
	}
}

func TestPyStrip(t *testing.T) {
	for in, want := range map[string]string{
		"  /a.html\n":             "/a.html",
		"\x1c\x1f/a.html\x1e":     "/a.html",
		"\u00a0/a.html\u3000":     "/a.html",
		"/a b.html":               "/a b.html",
		"\u200b/a.html":           "\u200b/a.html", // not white space in Python either
		"\u0085/a.html\u2028\x0b": "/a.html",
	} {
		if got := pyStrip(in); got != want {
			t.Errorf("pyStrip(%q) = %q, want %q", in, got, want)
		}
	}
}
