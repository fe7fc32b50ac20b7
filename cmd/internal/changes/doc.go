// Package changes wires package diff into the ingester: before a run is
// recorded VALID, Recorder finds the previous VALID run of its series (same
// product and labels, which hold the channel), computes the diff of the two
// summaries with the flaky tests of the series' history and writes
// metrics/diffs/<run id>.json, recomputing the diff of the next run when
// the run arrived out of order; Feed serves /changes.atom, one entry per
// run that changed anything. See docs/diffs.md and docs/api.md.
//
// It imports the leaves diff, records, report, store and feed, and never
// poll, process, status or dashboard: process calls Recorder, and
// `ingester serve` mounts Feed with the status server's index, read
// through the Index interface declared here.
package changes
