package report

import (
	"errors"
	"strconv"
)

// Rejection codes carried by [Error.Code]. They are stable and machine
// readable: callers record them (e.g. in a run's status file) and map them to
// HTTP statuses; the message is for people.
const (
	// CodeNotJSON: the shard is not JSON (syntax error, truncated text,
	// empty file, byte-order mark, raw control character in a string).
	CodeNotJSON = "not_json"
	// CodeInvalidUTF8: the shard's text is not valid UTF-8.
	CodeInvalidUTF8 = "invalid_utf8"
	// CodeBadGzip: the shard starts with the gzip magic bytes but is
	// truncated or corrupt (bad header, bad deflate data, bad checksum,
	// garbage after the last member).
	CodeBadGzip = "bad_gzip"
	// CodeTrailingData: something other than whitespace follows the
	// top-level JSON object.
	CodeTrailingData = "trailing_data"
	// CodeNoResults: the top-level value is not an object, or it has no
	// "results" member, or Process was given no shards.
	CodeNoResults = "no_results"
	// CodeBadResults: "results" is not an array, appears twice, or holds an
	// element that is not an object.
	CodeBadResults = "bad_results"
	// CodeBadTestPath: a result has no "test", or its trimmed path is empty,
	// does not start with "/", contains a control character, or has a "."
	// or ".." segment.
	CodeBadTestPath = "bad_test_path"
	// CodeWrongType: a member has the wrong JSON type (e.g. "status" is not a
	// string, "subtests" is not an array, "run_info" is not an object,
	// "time_start" is not a number) or a required member of a result or
	// subtest ("status") is missing.
	CodeWrongType = "wrong_type"
	// CodeTimeOutOfRange: "time_start" or "time_end" is a number of
	// milliseconds outside years 1 to 9999 (UTC), which no record, feed or
	// RFC 3339 date can carry.
	CodeTimeOutOfRange = "time_out_of_range"
	// CodeConflictingRunInfo: two shards give different values for a
	// run_info key that is not exempt (see [Process]).
	CodeConflictingRunInfo = "conflicting_run_info"
	// CodeMissingMetadata: product, browser_version, os or revision is
	// missing after overrides.
	CodeMissingMetadata = "missing_metadata"
	// CodeBadRevision: the revision is not 40 hexadecimal digits.
	CodeBadRevision = "bad_revision"
	// CodeDuplicateTest: a test path appears more than once and the copies
	// cannot be resolved (two finished copies that differ).
	CodeDuplicateTest = "duplicate_test"
	// CodeTooLarge: a shard decompresses to more than Limits.MaxBytes, or a
	// single JSON value (one result, run_info, …) is larger than the decoder
	// will buffer (see [Limits]).
	CodeTooLarge = "too_large"
	// CodeGzipRatio: a gzip shard expands by more than Limits.MaxRatio.
	CodeGzipRatio = "gzip_ratio"
	// CodeTooDeep: JSON nesting is deeper than Limits.MaxDepth.
	CodeTooDeep = "too_deep"
	// CodeStringTooLong: a JSON string is longer than Limits.MaxString.
	CodeStringTooLong = "string_too_long"
	// CodeIO is reserved for callers that want to record a transient read
	// failure in the same vocabulary. Process never returns an *Error with
	// this code: errors from Shard.Open and from reading a shard's bytes are
	// returned as plain wrapped errors (see [Process]) so they can be
	// retried.
	CodeIO = "io_error"
)

// Error is a rejection: the input is invalid and retrying will not help.
// Use errors.As to get it and switch on Code.
type Error struct {
	Code   string // stable machine-readable code, one of the Code constants
	Shard  string // shard name, when one is at fault
	Line   int    // 1-based line of a JSON error; 0 when unknown
	Column int    // 1-based column (in bytes) of a JSON error; 0 when unknown
	Offset int64  // byte offset in the decompressed shard, -1 when unknown
	Test   string // test path, when one is at fault
	Err    error  // underlying error

	msg string // overrides Err.Error() in the message when set
}

// Error returns a one-line message such as
// `report: shard "a.json": line 3, column 7 (offset 51): invalid character 'x' at start of value`.
func (e *Error) Error() string {
	b := []byte("report: ")
	if e.Shard != "" {
		b = append(b, "shard "...)
		b = strconv.AppendQuote(b, e.Shard)
		b = append(b, ": "...)
	}
	switch {
	case e.Line > 0:
		b = append(b, "line "...)
		b = strconv.AppendInt(b, int64(e.Line), 10)
		b = append(b, ", column "...)
		b = strconv.AppendInt(b, int64(e.Column), 10)
		b = append(b, " (offset "...)
		b = strconv.AppendInt(b, e.Offset, 10)
		b = append(b, "): "...)
	case e.Offset >= 0:
		b = append(b, "offset "...)
		b = strconv.AppendInt(b, e.Offset, 10)
		b = append(b, ": "...)
	}
	if e.Test != "" {
		b = append(b, "test "...)
		b = strconv.AppendQuote(b, e.Test)
		b = append(b, ": "...)
	}
	switch {
	case e.msg != "":
		b = append(b, e.msg...)
	case e.Err != nil:
		b = append(b, e.Err.Error()...)
	default:
		b = append(b, e.Code...)
	}
	return string(b)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// rejectf builds an *Error with no position from a message.
func rejectf(code, shard, msg string) *Error {
	return &Error{Code: code, Shard: shard, Offset: -1, Err: errors.New(msg)}
}
