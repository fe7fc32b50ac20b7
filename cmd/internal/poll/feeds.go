package poll

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/wptfeed/wptfeed/store"
)

// Feed is one feed an ingester follows: an entry of the subscriptions file
// (docs/subscriptions.md) or a --feed flag.
type Feed struct {
	// Name is short and unique among the feeds ([a-z0-9-], see
	// store.ValidFeedName); the runs of every feed but the first are kept
	// under it. Default: derived from URL's host.
	Name string `json:"name,omitempty"`
	// URL is the feed's subscription document.
	URL string `json:"url"`
	// AllowOrigins are origins (scheme://host[:port]) this feed's
	// enclosures and archives may come from besides the feed's own.
	AllowOrigins []string `json:"allow_origins,omitempty"`
	// Labels are added to every run of the feed.
	Labels []string `json:"labels,omitempty"`
	// CopyRaw asks for the run's shards to be copied into the raw-archive
	// bucket (stored here; the copying is another component's).
	CopyRaw bool `json:"copy_raw,omitempty"`
}

// subscriptions is the subscriptions file: {"feeds": [Feed, …]}.
type subscriptions struct {
	Feeds []Feed `json:"feeds"`
}

// ParseSubscriptions decodes a subscriptions file (docs/subscriptions.md):
// a JSON object with a "feeds" array, unknown fields refused. It fills in
// the default names and returns an error naming the first problem (of any
// entry, by its position) with ResolveFeeds's checks.
func ParseSubscriptions(r io.Reader) ([]Feed, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<20+1))
	if err != nil {
		return nil, fmt.Errorf("subscriptions: read: %w", err)
	}
	if len(data) > 1<<20 {
		return nil, errors.New("subscriptions: larger than 1 MiB")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s subscriptions
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("subscriptions: decode: %w", err)
	}
	if dec.More() {
		return nil, errors.New("subscriptions: decode: data after the object")
	}
	if len(s.Feeds) == 0 {
		return nil, errors.New("subscriptions: no feeds")
	}
	return ResolveFeeds(s.Feeds)
}

// ReadSubscriptions reads and parses the subscriptions file at path.
func ReadSubscriptions(path string) ([]Feed, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("run: --subscriptions: %w", err)
	}
	defer f.Close()
	feeds, err := ParseSubscriptions(f)
	if err != nil {
		return nil, fmt.Errorf("run: --subscriptions %s: %w", path, err)
	}
	return feeds, nil
}

// ResolveFeeds checks feeds and returns a copy with the default names
// filled in: each URL an http(s) URL and listed once, each origin an
// origin, each name valid and unique. A default name is the URL's host,
// lowercased, with every run of other characters than a-z and 0-9 made one
// "-" ("feeds.example.org:8443" → "feeds-example-org-8443"), and "-2",
// "-3"… appended if another feed has it.
func ResolveFeeds(feeds []Feed) ([]Feed, error) {
	out := make([]Feed, len(feeds))
	names := map[string]bool{}
	urls := map[string]bool{}
	for i, f := range feeds {
		u, err := url.Parse(f.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("feed %d: --feed %q is not an http(s) URL", i+1, f.URL)
		}
		if urls[f.URL] {
			return nil, fmt.Errorf("feed %d: %s is listed twice", i+1, f.URL)
		}
		urls[f.URL] = true
		for _, o := range f.AllowOrigins {
			if _, err := parseOrigin(o); err != nil {
				return nil, fmt.Errorf("feed %d: allowed origin %q: %w", i+1, o, err)
			}
		}
		if f.Name != "" {
			if !store.ValidFeedName(f.Name) {
				return nil, fmt.Errorf("feed %d: name %q: want 1 to 63 of a-z, 0-9 and \"-\", not starting or ending with \"-\"", i+1, f.Name)
			}
			if names[f.Name] {
				return nil, fmt.Errorf("feed %d: name %q is taken by another feed", i+1, f.Name)
			}
			names[f.Name] = true
		}
		out[i] = f
		out[i].AllowOrigins = append([]string(nil), f.AllowOrigins...)
		out[i].Labels = append([]string(nil), f.Labels...)
	}
	for i := range out {
		if out[i].Name != "" {
			continue
		}
		u, _ := url.Parse(out[i].URL)
		base := hostName(u.Host)
		name := base
		for n := 2; names[name]; n++ {
			suffix := "-" + strconv.Itoa(n)
			name = strings.TrimRight(base[:min(len(base), 63-len(suffix))], "-") + suffix
		}
		names[name] = true
		out[i].Name = name
	}
	return out, nil
}

// hostName makes a host a feed name.
func hostName(host string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(host) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(c)
		} else {
			dash = true
		}
	}
	s := b.String()
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-")
	}
	if s == "" {
		s = "feed"
	}
	return s
}
