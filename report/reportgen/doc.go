// Package reportgen generates deterministic, realistic wptreport JSON
// ("wpt run --log-wptreport" output, as written by wptrunner's
// formatters/wptreport.py) for tests and benchmarks.
//
// The test paths, test statuses and per-test subtest and pass counts come
// from a real wpt.fyi summary_v2 of a Chrome stable run (32,720 tests,
// 1,586,904 subtests), embedded as paths.json.gz; see
// testdata/wptfyi/README.md at the module root for its origin. At Scale 1 a
// generated report reproduces that summary exactly, test for test: each test
// has the summary's status, exactly c[1] subtests of which exactly c[0] are
// PASS. Subtest names, messages and durations are synthetic but shaped like
// the real ones of each directory (CSS parsing and interpolation, HTML
// reflection, encoding tables, editing, URL parsing, idlharness, …),
// including non-ASCII names, quotes, backslashes and control characters.
//
// Output depends only on the Config: the same Config always gives
// byte-identical shards, and each shard can be generated on its own.
//
// reportgen owns only generation. It imports nothing but the standard
// library; in particular it must not import the report package, so that
// report's own tests can use it without an import cycle.
package reportgen
