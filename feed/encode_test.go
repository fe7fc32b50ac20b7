package feed_test

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/feed"
	"github.com/wptfeed/wptfeed/feed/feedtest"
	"github.com/wptfeed/wptfeed/internal/testutil"
)

func TestMarshal_Golden(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.file, func(t *testing.T) {
			got := mustMarshal(t, g.feed())
			testutil.Golden(t, filepath.Join("testdata", g.file), got)
			if ps := checkProse(got); len(ps) > 0 {
				t.Errorf("prose rules: got %q, want none", ps)
			}
		})
	}
}

func TestEncode_SameAsMarshal(t *testing.T) {
	var buf bytes.Buffer
	if err := feed.Encode(&buf, subscriptionFeed()); err != nil {
		t.Fatal(err)
	}
	if want := mustMarshal(t, subscriptionFeed()); !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("Encode and Marshal differ")
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte(`<?xml version="1.0" encoding="UTF-8"?>`+"\n<feed ")) {
		t.Errorf("got prefix %q, want XML declaration then <feed", buf.Bytes()[:60])
	}
}

var errDiskFull = errors.New("disk full")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errDiskFull }

func TestEncode_WriteError(t *testing.T) {
	err := feed.Encode(failWriter{}, subscriptionFeed())
	if !errors.Is(err, errDiskFull) || errors.Is(err, feed.ErrInvalid) {
		t.Errorf("got %v, want the write error wrapped, not ErrInvalid", err)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.file, func(t *testing.T) {
			want := g.feed()
			got := mustParse(t, mustMarshal(t, want))
			if d := diff(got, want); len(d) > 0 {
				t.Errorf("Parse(Marshal(f)) differs from f:\n%s", strings.Join(d, "\n"))
			}
		})
	}

	t.Run("hostile", func(t *testing.T) {
		doc := mustMarshal(t, hostileFeed())
		if ps := checkProse(doc); len(ps) > 0 {
			t.Errorf("prose rules: got %q, want none", ps)
		}
		got := mustParse(t, doc)

		want := subscriptionFeed()
		want.Title = hostiles[0].want
		want.Subtitle = hostiles[1].want
		want.Author.Name = hostiles[4].want
		e := &want.Entries[0]
		e.Title = hostiles[2].want
		e.Summary = megabyteWant
		e.Links[0].Title = hostiles[3].want
		e.Categories[0].Label = hostiles[1].want
		e.Run.Product = hostiles[3].want
		e.Run.BrowserVersion = megabyteWant
		e.Run.Labels = append(e.Run.Labels, hostiles[0].want, hostiles[1].want, "")
		e.Run.Shards[1].Name = hostiles[2].want
		if d := diff(got, want); len(d) > 0 {
			t.Errorf("Parse(Marshal(hostile)) differs:\n%s", strings.Join(d, "\n"))
		}
	})

	t.Run("times and defaults", func(t *testing.T) {
		cet := time.FixedZone("CET", 3600)
		in := subscriptionFeed()
		in.Updated = time.Date(2026, 3, 1, 13, 0, 0, 123456789, cet)
		in.Links = append(in.Links, feed.Link{Href: base + "/no-rel"})
		e := &in.Entries[0]
		e.Published = time.Time{}
		e.Summary = ""
		e.Categories = nil
		e.Run = &feed.Run{ID: "minimal", TimeEnd: time.Date(2026, 3, 1, 13, 0, 0, 10, cet)}
		doc := mustMarshal(t, in)
		for _, s := range []string{
			"<updated>2026-03-01T12:00:00.123456789Z</updated>",
			"<wpt:time-end>2026-03-01T12:00:00.00000001Z</wpt:time-end>",
			`<link href="` + base + `/no-rel" rel="alternate"/>`,
		} {
			if !bytes.Contains(doc, []byte(s)) {
				t.Errorf("document lacks %s", s)
			}
		}
		if ps := checkProse(doc); len(ps) > 0 {
			t.Errorf("prose rules: got %q, want none", ps)
		}
		got := mustParse(t, doc)
		want := in
		want.Updated = want.Updated.UTC()
		want.Links[len(want.Links)-1].Rel = "alternate"
		want.Entries[0].Run.TimeEnd = want.Entries[0].Run.TimeEnd.UTC()
		if d := diff(got, want); len(d) > 0 {
			t.Errorf("round trip differs:\n%s", strings.Join(d, "\n"))
		}
	})
}

func TestMarshal_Invalid(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(f *feed.Feed)
	}{
		{"no id", func(f *feed.Feed) { f.ID = "" }},
		{"blank title", func(f *feed.Feed) { f.Title = " \n" }},
		{"zero updated", func(f *feed.Feed) { f.Updated = time.Time{} }},
		{"year 10000", func(f *feed.Feed) { f.Updated = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"no author", func(f *feed.Feed) { f.Author = feed.Person{} }},
		{"bad email", func(f *feed.Feed) { f.Author.Email = "nobody" }},
		{"email with newline", func(f *feed.Feed) { f.Author.Email = "a@b\n" }},
		{"no self link", func(f *feed.Feed) { f.Links = f.Links[1:] }},
		{"archive without current link", func(f *feed.Feed) { f.Archive = true }},
		{"link without href", func(f *feed.Feed) { f.Links[1].Href = "" }},
		{"link with negative length", func(f *feed.Feed) { f.Links[1].Length = -1 }},
		{"link type not a media type", func(f *feed.Feed) { f.Links[1].Type = "html" }},
		{"link sha256 upper case", func(f *feed.Feed) { f.Entries[0].Links[1].SHA256 = strings.Repeat("AB", 32) }},
		{"link sha256 short", func(f *feed.Feed) { f.Links[1].SHA256 = "abc" }},
		{"entry without id", func(f *feed.Feed) { f.Entries[1].ID = "" }},
		{"duplicate entry ids", func(f *feed.Feed) { f.Entries[1].ID = f.Entries[0].ID }},
		{"entry without title", func(f *feed.Feed) { f.Entries[0].Title = "" }},
		{"entry with zero updated", func(f *feed.Feed) { f.Entries[0].Updated = time.Time{} }},
		{"entry published year 0", func(f *feed.Feed) { f.Entries[0].Published = time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC) }},
		{"entry without alternate link", func(f *feed.Feed) { f.Entries[0].Links = f.Entries[0].Links[1:] }},
		{"category without term", func(f *feed.Feed) { f.Entries[0].Categories[0].Term = "" }},
		{"run without id", func(f *feed.Feed) { f.Entries[0].Run.ID = "" }},
		{"run time out of range", func(f *feed.Feed) { f.Entries[0].Run.TimeStart = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"shard without name", func(f *feed.Feed) { f.Entries[0].Run.Shards[0].Name = "" }},
		{"shard with negative size", func(f *feed.Feed) { f.Entries[0].Run.Shards[0].Size = -5 }},
		{"shard sha256 upper case", func(f *feed.Feed) { f.Entries[0].Run.Shards[0].SHA256 = strings.Repeat("AB", 32) }},
		{"shard sha256 short", func(f *feed.Feed) { f.Entries[0].Run.Shards[0].SHA256 = "abc" }},
	}
	if err := subscriptionFeed().Validate(); err != nil {
		t.Fatalf("base feed: got %v, want valid", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := subscriptionFeed()
			tt.mutate(f)
			var buf bytes.Buffer
			err := feed.Encode(&buf, f)
			if !errors.Is(err, feed.ErrInvalid) {
				t.Errorf("Encode: got %v, want ErrInvalid", err)
			}
			if buf.Len() != 0 {
				t.Errorf("Encode wrote %d bytes, want 0", buf.Len())
			}
			if _, err := feed.Marshal(f); !errors.Is(err, feed.ErrInvalid) {
				t.Errorf("Marshal: got %v, want ErrInvalid", err)
			}
		})
	}
	t.Run("nil feed", func(t *testing.T) {
		if _, err := feed.Marshal(nil); !errors.Is(err, feed.ErrInvalid) {
			t.Errorf("got %v, want ErrInvalid", err)
		}
	})
	t.Run("every problem is reported", func(t *testing.T) {
		f := subscriptionFeed()
		f.ID, f.Title = "", ""
		err := f.Validate()
		var joined interface{ Unwrap() []error }
		if !errors.As(err, &joined) || len(joined.Unwrap()) != 2 {
			t.Errorf("got %v, want two joined problems", err)
		}
	})
}

func TestFeed_Link(t *testing.T) {
	f := archiveFeed()
	f.Links = append(f.Links, feed.Link{Href: "x", Rel: "self"}, feed.Link{Href: "html"})
	e := &f.Entries[0]
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"feed self", f.Link("self"), base + "/archive/2026-02.atom"},
		{"feed current", f.Link("current"), base + "/feed.atom"},
		{"feed prev-archive", f.Link("prev-archive"), base + "/archive/2026-01.atom"},
		{"feed next-archive", f.Link("next-archive"), base + "/archive/2026-03.atom"},
		{"feed empty rel is alternate", f.Link("alternate"), "html"},
		{"feed alternate asked as empty", f.Link(""), "html"},
		{"feed missing", f.Link("hub"), ""},
		{"entry alternate", e.Link("alternate"), base + "/runs/5722337332690944"},
		{"entry enclosure", e.Link("enclosure"), base + "/results/5722337332690944/wptreport-1.json.gz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
	encs := e.Enclosures()
	if len(encs) != 2 || encs[1].Title != "wptreport-2.json.gz" || encs[1].Length != 524288 {
		t.Errorf("Enclosures: got %+v, want the two shards", encs)
	}
}

// diff compares two values field by field and describes the differences,
// abbreviating long strings.
func diff(got, want any) []string {
	var out []string
	var walk func(path string, g, w reflect.Value)
	walk = func(path string, g, w reflect.Value) {
		if len(out) > 20 {
			return
		}
		if g.Type() == reflect.TypeOf(time.Time{}) {
			gt, wt := g.Interface().(time.Time), w.Interface().(time.Time)
			if !gt.Equal(wt) || gt.Location() != wt.Location() {
				out = append(out, fmt.Sprintf("%s: got %v, want %v", path, gt, wt))
			}
			return
		}
		switch g.Kind() {
		case reflect.Pointer:
			if g.IsNil() || w.IsNil() {
				if g.IsNil() != w.IsNil() {
					out = append(out, fmt.Sprintf("%s: got nil=%v, want nil=%v", path, g.IsNil(), w.IsNil()))
				}
				return
			}
			walk(path, g.Elem(), w.Elem())
		case reflect.Struct:
			for i := 0; i < g.NumField(); i++ {
				walk(path+"."+g.Type().Field(i).Name, g.Field(i), w.Field(i))
			}
		case reflect.Slice:
			if g.Len() != w.Len() {
				out = append(out, fmt.Sprintf("%s: got len %d, want %d", path, g.Len(), w.Len()))
				return
			}
			for i := 0; i < g.Len(); i++ {
				walk(fmt.Sprintf("%s[%d]", path, i), g.Index(i), w.Index(i))
			}
		default:
			if !reflect.DeepEqual(g.Interface(), w.Interface()) {
				out = append(out, fmt.Sprintf("%s: got %.200q, want %.200q", path, fmt.Sprint(g.Interface()), fmt.Sprint(w.Interface())))
			}
		}
	}
	walk("", reflect.ValueOf(got), reflect.ValueOf(want))
	return out
}

// A link's SHA256 is written as wpt:sha256, declaring the wpt prefix even
// in a document without wpt:run, and read back per link.
func TestRoundTrip_LinkSHA256(t *testing.T) {
	f := subscriptionFeed()
	f.Entries = nil
	f.Links[1].SHA256 = strings.Repeat("0123456789abcdef", 4)
	doc := mustMarshal(t, f)
	if !bytes.Contains(doc, []byte(`xmlns:wpt="`+feed.RunNS+`"`)) || !bytes.Contains(doc, []byte(` wpt:sha256="`+f.Links[1].SHA256+`"/>`)) {
		t.Errorf("got\n%s\nwant the wpt prefix declared and the link's wpt:sha256", doc)
	}
	if d := diff(mustParse(t, doc), f); len(d) > 0 {
		t.Errorf("Parse(Marshal(f)) differs from f:\n%s", strings.Join(d, "\n"))
	}
	feedtest.Jing(t, doc)
}
