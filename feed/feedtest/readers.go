package feedtest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// FeedparserPython returns a Python interpreter that can import Python's
// feedparser (Debian: python3-feedparser, for /usr/bin/python3). Without
// one it fails t under CI=true, where .ci/test.sh installs it, and skips
// elsewhere, naming the install command.
func FeedparserPython(t testing.TB) string {
	t.Helper()
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if p, err := exec.LookPath(py); err == nil && exec.Command(p, "-c", "import feedparser").Run() == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no python3 with feedparser (CI=true): apt-get install -y python3-feedparser")
	}
	t.Skip("no python3 with feedparser: apt-get install -y python3-feedparser")
	return ""
}

// HTMLParts parses an HTML fragment (as a feed reader shows an entry's
// content) and returns its elements in document order, its texts and the
// href of its links.
func HTMLParts(t testing.TB, s string) (tags, texts, hrefs []string) {
	t.Helper()
	nodes, err := html.ParseFragment(strings.NewReader(s), &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div})
	if err != nil {
		t.Fatalf("parse HTML %q: %v", s, err)
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.ElementNode:
			tags = append(tags, n.Data)
			for _, a := range n.Attr {
				if a.Key == "href" {
					hrefs = append(hrefs, a.Val)
				}
			}
		case html.TextNode:
			texts = append(texts, n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	for _, n := range nodes {
		walk(n)
	}
	return tags, texts, hrefs
}

// Feedparser parses doc with Python's feedparser, as `d`, and decodes into
// v the JSON of the Python expression expr (e.g. `[e.link for e in
// d.entries]`). A document feedparser finds not well-formed fails t.
// Without feedparser it skips t as FeedparserPython does.
func Feedparser(t testing.TB, doc []byte, expr string, v any) {
	t.Helper()
	py := FeedparserPython(t)
	path := filepath.Join(t.TempDir(), "feed.atom")
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	script := "import json, sys, feedparser\n" +
		"d = feedparser.parse(sys.argv[1])\n" +
		"if d.bozo:\n" +
		"    sys.exit(\"not well-formed: %s\" % d.bozo_exception)\n" +
		"json.dump(" + expr + ", sys.stdout)\n"
	out, err := exec.Command(py, "-c", script, path).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("feedparser: %v\n%s", err, stderr)
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("feedparser output %q: %v", out, err)
	}
}
