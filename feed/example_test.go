package feed_test

import (
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/wptfeed/wptfeed/feed"
)

func ExampleEncode() {
	uploaded := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)
	f := &feed.Feed{
		ID:      "tag:wptfeed.org,2026:feed",
		Title:   "wptfeed runs",
		Updated: uploaded,
		Author:  feed.Person{Name: "wptfeed publisher"},
		Links: []feed.Link{
			{Href: "https://wptfeed.example/feed.atom", Rel: "self", Type: "application/atom+xml"},
			{Href: "https://wptfeed.example/archive/2026-02.atom", Rel: "prev-archive", Type: "application/atom+xml"},
		},
		Entries: []feed.Entry{{
			ID:      "tag:wptfeed.org,2026:run/5697095575011328",
			Title:   "chrome 69.0.3497.92 on linux 16.04 at 93e2953e49",
			Updated: uploaded,
			Summary: "1 result shard.",
			Links: []feed.Link{
				{Href: "https://wptfeed.example/runs/5697095575011328", Rel: "alternate", Type: "text/html"},
				{Href: "https://wptfeed.example/results/5697095575011328/wptreport-1.json.gz", Rel: "enclosure",
					Type: "application/gzip", Length: 1048576, Title: "wptreport-1.json.gz"},
			},
			Categories: []feed.Category{
				{Term: "chrome", Scheme: feed.SchemeProduct},
				{Term: "stable", Scheme: feed.SchemeChannel},
				{Term: "linux", Scheme: feed.SchemeOS},
				{Term: "buildbot", Scheme: feed.SchemeLabel},
			},
			Run: &feed.Run{
				ID:             "5697095575011328",
				Product:        "chrome",
				BrowserVersion: "69.0.3497.92",
				OS:             "linux",
				OSVersion:      "16.04",
				Revision:       "93e2953e49307f07db029f43e05f605e7070a65a",
				Channel:        "stable",
				Labels:         []string{"buildbot", "stable"},
				TimeStart:      uploaded.Add(-time.Hour),
				TimeEnd:        uploaded.Add(-12*time.Minute - 500*time.Millisecond),
				Uploaded:       uploaded,
				Shards: []feed.Shard{{Name: "wptreport-1.json.gz", Size: 1048576,
					SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}},
			},
		}},
	}
	if err := feed.Encode(os.Stdout, f); err != nil {
		log.Fatal(err)
	}
	// Output:
	// <?xml version="1.0" encoding="UTF-8"?>
	// <feed xmlns="http://www.w3.org/2005/Atom" xmlns:wpt="tag:wptfeed.org,2026:run">
	//   <id>tag:wptfeed.org,2026:feed</id>
	//   <title>wptfeed runs</title>
	//   <updated>2026-03-01T11:00:00Z</updated>
	//   <author>
	//     <name>wptfeed publisher</name>
	//   </author>
	//   <link href="https://wptfeed.example/feed.atom" rel="self" type="application/atom+xml"/>
	//   <link href="https://wptfeed.example/archive/2026-02.atom" rel="prev-archive" type="application/atom+xml"/>
	//   <entry>
	//     <id>tag:wptfeed.org,2026:run/5697095575011328</id>
	//     <title>chrome 69.0.3497.92 on linux 16.04 at 93e2953e49</title>
	//     <updated>2026-03-01T11:00:00Z</updated>
	//     <summary type="text">1 result shard.</summary>
	//     <link href="https://wptfeed.example/runs/5697095575011328" rel="alternate" type="text/html"/>
	//     <link href="https://wptfeed.example/results/5697095575011328/wptreport-1.json.gz" rel="enclosure" type="application/gzip" length="1048576" title="wptreport-1.json.gz"/>
	//     <category term="chrome" scheme="tag:wptfeed.org,2026:product"/>
	//     <category term="stable" scheme="tag:wptfeed.org,2026:channel"/>
	//     <category term="linux" scheme="tag:wptfeed.org,2026:os"/>
	//     <category term="buildbot" scheme="tag:wptfeed.org,2026:label"/>
	//     <wpt:run>
	//       <wpt:id>5697095575011328</wpt:id>
	//       <wpt:product>chrome</wpt:product>
	//       <wpt:browser-version>69.0.3497.92</wpt:browser-version>
	//       <wpt:os>linux</wpt:os>
	//       <wpt:os-version>16.04</wpt:os-version>
	//       <wpt:revision>93e2953e49307f07db029f43e05f605e7070a65a</wpt:revision>
	//       <wpt:channel>stable</wpt:channel>
	//       <wpt:label>buildbot</wpt:label>
	//       <wpt:label>stable</wpt:label>
	//       <wpt:time-start>2026-03-01T10:00:00Z</wpt:time-start>
	//       <wpt:time-end>2026-03-01T10:47:59.5Z</wpt:time-end>
	//       <wpt:uploaded>2026-03-01T11:00:00Z</wpt:uploaded>
	//       <wpt:shard name="wptreport-1.json.gz" size="1048576" sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"/>
	//     </wpt:run>
	//   </entry>
	// </feed>
}

func ExampleParse() {
	// Any prefix works: extensions are matched by namespace URI.
	const doc = `<feed xmlns="http://www.w3.org/2005/Atom" xmlns:r="tag:wptfeed.org,2026:run"
	      xmlns:h="http://purl.org/syndication/history/1.0">
	  <id>tag:wptfeed.org,2026:feed</id><title>runs</title><updated>2026-02-28T12:00:00Z</updated>
	  <author><name>p</name></author>
	  <link rel="self" href="https://wptfeed.example/archive/2026-02.atom"/>
	  <link rel="current" href="https://wptfeed.example/feed.atom"/>
	  <h:archive/>
	  <entry>
	    <id>tag:wptfeed.org,2026:run/1</id><title>run 1</title><updated>2026-02-28T11:00:00Z</updated>
	    <link href="https://wptfeed.example/runs/1"/>
	    <link rel="enclosure" href="https://wptfeed.example/results/1/wptreport.json.gz" length="42"/>
	    <r:run><r:id>1</r:id><r:product>firefox</r:product><r:label>nightly</r:label>
	      <r:shard name="wptreport.json.gz" size="42"/></r:run>
	  </entry>
	</feed>`
	f, err := feed.Parse(strings.NewReader(doc))
	if err != nil {
		log.Fatal(err)
	}
	e := f.Entries[0]
	fmt.Println("archive:", f.Archive, "current:", f.Link("current"))
	fmt.Println("entry:", e.ID, e.Link("alternate"))
	fmt.Println("run:", e.Run.ID, e.Run.Product, e.Run.Labels, e.Run.Shards[0].Name, e.Run.Shards[0].Size)
	fmt.Println("enclosure:", e.Enclosures()[0].Href, e.Enclosures()[0].Length)
	// Output:
	// archive: true current: https://wptfeed.example/feed.atom
	// entry: tag:wptfeed.org,2026:run/1 https://wptfeed.example/runs/1
	// run: 1 firefox [nightly] wptreport.json.gz 42
	// enclosure: https://wptfeed.example/results/1/wptreport.json.gz 42
}
