// Package feed owns the wptfeed Atom format and its HTTP transport: the
// types of a feed of web-platform-tests runs (Feed, Entry, Run), writing them
// as Atom 1.0 (RFC 4287) with archived feeds (RFC 5005), reading them back,
// serving a rendered document with conditional GET (Serve, and RawAnswer:
// the same answers as precomputed HTTP/1.1 bytes, for a server that writes
// them to its connections itself), and the one HTTP client the ingester
// uses for feeds and enclosures (Client).
//
// # Format
//
// A feed document is an atom:feed in the namespace NS. Archive documents carry
// fh:archive (HistoryNS) and rel="current" / "prev-archive" / "next-archive"
// links. Each entry is one run: its categories use the scheme IRIs
// SchemeProduct, SchemeChannel, SchemeOS and SchemeLabel, its enclosures
// (rel="enclosure") are the uploaded result shards, and it carries one
// wpt:run extension element in the namespace RunNS with machine-readable
// run metadata:
//
//	<wpt:run>
//	  <wpt:id>…</wpt:id>                       run id (required)
//	  <wpt:product>…</wpt:product>             browser / product name
//	  <wpt:browser-version>…</wpt:browser-version>
//	  <wpt:os>…</wpt:os>
//	  <wpt:os-version>…</wpt:os-version>
//	  <wpt:revision>…</wpt:revision>           full 40-hex wpt commit
//	  <wpt:channel>…</wpt:channel>
//	  <wpt:label>…</wpt:label>                 zero or more, in order
//	  <wpt:time-start>…</wpt:time-start>       RFC 3339, UTC, optional
//	  <wpt:time-end>…</wpt:time-end>           RFC 3339, UTC, optional
//	  <wpt:uploaded>…</wpt:uploaded>           RFC 3339, UTC, optional
//	  <wpt:shard name="…" size="…" sha256="…"/> zero or more; size 0 = unknown,
//	                                           sha256 (lower-case hex) optional
//	</wpt:run>
//
// The text-valued children are always written, possibly empty; readers must
// ignore children and attributes they do not know, and identify the elements
// by namespace URI, never by prefix.
//
// A link may carry the sha256 of what it links to as the attribute
// wpt:sha256 (RunNS, lower-case hex; Link.SHA256): each enclosure carries
// its shard's, which generic Atom libraries keep per link, while some keep
// only the last of repeated wpt:shard elements.
//
// # Reading
//
// Parse uses gofeed's Atom-level parser (github.com/mmcdole/gofeed/atom) for
// the Atom elements and re-reads the document with encoding/xml for the
// extension elements (fh:archive, wpt:run), the links' wpt:sha256 and
// atom:id, because gofeed keys
// extensions by the prefix the document happens to use, drops the namespace
// of their children, and rewrites ids through net/url (percent-encoding
// IRIs, which RFC 4287 §4.2.6.1 compares character by character). Both passes decode the same bytes the same way (non-strict XML,
// C0 control bytes dropped, charset conversion with
// golang.org/x/net/html/charset, as gofeed does).
//
// # Dependencies
//
// feed imports github.com/gorilla/feeds (element types for writing),
// github.com/mmcdole/gofeed (reading), golang.org/x/net/html/charset (already
// used by gofeed) and the standard library. It must not import report, store
// or cmd: callers convert their domain values to Feed and Run.
//
// # Errors
//
// Errors are prefixed "feed: ". Encode, Feed.Validate and Entry.Validate
// return errors wrapping ErrInvalid; a caller building a document can check
// each entry with Entry.Validate and leave out one that fails. Client methods classify failures once: *TemporaryError for
// network errors, timeouts, 5xx and 429 (test with IsTemporary), *StatusError
// for other non-2xx responses, ErrTooLarge (wrapped) for a feed body over the
// cap.
package feed
