// Package process turns one run's shards into the out bucket's outputs:
// summary_v2, per-test files (files or packed layout), the merged report
// (raw_results_url, wpt.fyi's report.json), the shard listing, the TestRun
// record, the run's metrics files, and last its status
// record; then the metrics across runs it affects (series, aligned sets,
// interop). It is the one code path of feed ingestion and
// `ingester process`.
//
// It imports records, pack, report and store; nothing that polls or serves.
package process
