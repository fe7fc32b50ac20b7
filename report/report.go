package report

import (
	"context"
	"io"
	"time"
)

// Limits bound the work and memory one run may cost. Zero (or negative)
// fields take the defaults of [DefaultLimits]. Besides these, the decoder
// buffers at most max(128 MiB, 2×MaxString) bytes (never more than
// MaxBytes) for any single JSON value — one result object, run_info, or
// another top-level member — and rejects a larger one with CodeTooLarge.
// MaxString counts a string's bytes as encoded in the shard, without the
// quotes; MaxDepth counts the top-level object as depth 1 (a subtest object
// is at depth 5).
type Limits struct {
	MaxBytes  int64   // decompressed bytes per shard; 0 = default 4 GiB
	MaxRatio  float64 // gzip expansion ratio; 0 = default 100
	MaxDepth  int     // JSON nesting depth; 0 = default 64
	MaxString int     // longest JSON string in bytes; 0 = default 16 MiB
}

// Defaults of [Limits].
const (
	DefaultMaxBytes  = 4 << 30
	DefaultMaxRatio  = 100
	DefaultMaxDepth  = 64
	DefaultMaxString = 16 << 20

	// RatioSlack is how many bytes a gzip shard may decompress to before
	// MaxRatio is enforced, so that tiny files (whose ratio means nothing)
	// are never refused.
	RatioSlack = 1 << 20

	// minValueBytes is the least the decoder will buffer for one JSON value
	// (one result object, run_info, …). The bound is max(minValueBytes,
	// 2*MaxString), never more than MaxBytes.
	minValueBytes = 128 << 20
)

// DefaultLimits returns the limits used for zero fields of [Limits].
func DefaultLimits() Limits {
	return Limits{
		MaxBytes:  DefaultMaxBytes,
		MaxRatio:  DefaultMaxRatio,
		MaxDepth:  DefaultMaxDepth,
		MaxString: DefaultMaxString,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = d.MaxRatio
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxString <= 0 {
		l.MaxString = d.MaxString
	}
	return l
}

// maxValue is the most the decoder buffers for a single JSON value.
func (l Limits) maxValue() int64 {
	n := max(int64(minValueBytes), 2*int64(l.MaxString))
	return min(n, l.MaxBytes)
}

// Shard is one input file of a run.
type Shard struct {
	Name string                        // used in messages: file name or bucket key
	Open func() (io.ReadCloser, error) // raw bytes, gzip or plain
}

// Metadata is the run's identifying metadata. As override input, empty fields
// mean "keep run_info's".
type Metadata struct {
	Product        string // normalised browser name, e.g. "chrome", "edge"
	BrowserVersion string
	OS             string
	OSVersion      string
	Revision       string // full 40-hex
	BrowserChannel string
}

// Options configure [Process].
type Options struct {
	Limits    Limits
	Overrides Metadata
	// Labels are the uploader's labels. Each element may itself be a
	// comma-separated list (as wpt.fyi's labels parameter is); elements are
	// trimmed and empty ones dropped. wpt.fyi also adds the uploader's name
	// as a label: callers that want that must include it here.
	Labels []string
	// Test, when non-nil, receives each test result of the merged run: its
	// trimmed path and the compact JSON bytes of its result object exactly as
	// in the shard (whitespace removed, nothing else changed; the "test"
	// member keeps its untrimmed value). raw is valid only until Test
	// returns (its array is reused for the next result, which saves a copy
	// of every result): copy it to keep it.
	//
	// Test may be called from several goroutines at once, but never
	// concurrently for the same path. It is called for the first copy of a
	// path that Process sees; if a later copy replaces it (the copy seen
	// first had an empty status and a finished copy follows), Test is called
	// again for the same path with the winning copy. Copies that lose (an
	// empty-status copy after a finished one, or a copy identical to one
	// already passed) are never passed. So the caller must let the LAST call
	// for a path win; the last call for every path is the copy that is in
	// the Summary. Calls made before Process returns an error describe a
	// rejected run and must be discarded.
	//
	// An error from Test aborts Process, which returns it wrapped as
	// `report: test "<path>": <err>` (not an *Error).
	Test func(path string, raw []byte) error
	// Result, when non-nil, receives every result of every shard, copies
	// of a path included: the shard's index in the shards given to
	// Process and the result's compact JSON bytes, as Test gets them;
	// then, once the shard is read to its end, a call with raw == nil.
	// The calls for one shard are sequential, in the order of the shard's
	// "results"; calls for different shards may be concurrent. The
	// results of every shard, one shard after the other, are wpt.fyi's
	// merged "results". raw is valid only until Result returns. A result
	// is passed once it is checked and merged; calls made before Process
	// returns an error describe a rejected run and must be discarded.
	//
	// An error from Result aborts Process, which returns it wrapped as
	// `report: shard "<name>": <err>` (not an *Error).
	Result func(shard int, raw []byte) error
}

// Warning is a problem that does not reject the run.
type Warning struct {
	Code    string `json:"code"` // e.g. "duplicate_resolved", "unknown_status"
	Message string `json:"message"`
	Test    string `json:"test,omitempty"`
}

// Warning codes.
const (
	// WarnDuplicateResolved: a test path appeared more than once and the
	// copies were resolved to one (identical copies, or all copies but one
	// had an empty status).
	WarnDuplicateResolved = "duplicate_resolved"
	// WarnUnknownStatus: a test or subtest status (possibly empty) is not one
	// of the known statuses; it is kept verbatim. One warning per kind
	// (test/subtest) and status, with a count.
	WarnUnknownStatus = "unknown_status"
	// WarnRunInfoConflict: shards disagree on an exempt run_info key, which
	// becomes null.
	WarnRunInfoConflict = "run_info_conflict_ignored"
	// WarnTruncated: more warnings of one code were left out.
	WarnTruncated = "warnings_truncated"
)

// maxWarningsPerCode bounds the warnings of each code kept in a Result; the
// rest are counted in one WarnTruncated warning.
const maxWarningsPerCode = 100

// Result is a run that passed validation.
type Result struct {
	Meta      Metadata       // normalised (Product after edgechromium→edge etc., BrowserVersion after STP mapping)
	Labels    []string       // sorted, unique
	RunInfo   map[string]any // merged run_info (JSON values; conflicting exempt keys nil)
	TimeStart time.Time      // zero when absent
	TimeEnd   time.Time
	Hash      string // full lower-case hex SHA-1 over decompressed bytes, shards in order
	Tests     int
	Subtests  int
	Summary   *Summary
	Warnings  []Warning

	// product is the product as reported (after overrides, before
	// normalisation); wpt.fyi builds the product ID from it.
	product string
}

// ProductID returns wpt.fyi's product ID of the run:
// <product>-<browser_version>-<os>[-<os_version>]-<first 10 hex of Hash>,
// with every character outside [A-Za-z0-9._-] replaced by "_" (one "_" per
// Unicode code point).
//
// As in wpt.fyi, <product> is the product as reported (after overrides)
// before normalisation — "edgechromium", not "edge" — because wpt.fyi
// computes the ID before normalize_product runs, while <browser_version> is
// the normalised one ("133 preview"). For a Result not made by Process, the
// normalised Meta.Product is used.
func (r *Result) ProductID() string {
	product := r.product
	if product == "" {
		product = r.Meta.Product
	}
	name := product + "-" + r.Meta.BrowserVersion + "-" + r.Meta.OS
	if r.Meta.OSVersion != "" {
		name += "-" + r.Meta.OSVersion
	}
	name += "-" + r.Hash[:min(10, len(r.Hash))]
	return sanitizeID(name)
}

func sanitizeID(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b = append(b, byte(r))
		default:
			b = append(b, '_')
		}
	}
	return string(b)
}

// Empty reports whether the run has no test results (all shards had
// "results": []). wpt.fyi accepts such runs; their summary is {}.
func (r *Result) Empty() bool { return r.Tests == 0 }

// CheckMetadata is what an uploader calls before storing a run: it streams
// every shard fully, validating it exactly as [Process] does (syntax,
// structure, limits, duplicates, run_info conflicts, metadata), and returns
// the Result (Meta, Labels, TimeStart/TimeEnd, Hash, counts, Summary) or
// the same errors as Process. opts.Test is ignored.
func CheckMetadata(ctx context.Context, shards []Shard, opts Options) (*Result, error) {
	opts.Test = nil
	return Process(ctx, shards, opts)
}
