// Package dashboard serves the web dashboard of `ingester serve`: the page
// (web/, embedded), wpt.fyi's API for runs (/api/runs, /api/runs/{id},
// /api/run, /api/shas, the /api/results redirect; docs/api.md), results
// trees of runs and of aligned runs, and SVG pass-rate and interop charts,
// all read from the out bucket. It reads the status index through the
// Index interface it declares, never another package's fields.
//
// It never imports polling, processing or the status server (poll, process,
// status).
package dashboard
