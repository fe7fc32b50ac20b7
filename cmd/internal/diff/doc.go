// Package diff computes what changed between two runs of a product, with
// wpt.fyi's semantics (its shared/run_diff.go: added, deleted, changed and
// unchanged tests; newly passing, regressions and total delta per test;
// the regression rule), and marks flaky tests from a product series'
// recent history. See docs/diffs.md for the rules and the wire formats.
//
// It owns the diff document (metrics/diffs/<run id>.json, written by the
// ingester) and the per-series history the flaky rule reads. It reads
// summary_v2 documents with report.ReadSummary and imports nothing else of
// the module: no bucket, HTTP or feed code, and no other cmd/internal
// package (CI's package-boundary check lists it among the leaves).
package diff
