// Package status serves what runners need to learn about their runs, from
// the out bucket's status records: an Atom feed of the processed runs
// (/status.atom, filterable by product and label), each record as JSON
// (/api/status/<run id>), /healthz and /metrics. It keeps an in-memory index
// of the records, which other packages read through Server.Runs and mount
// routes beside its own with Server.Route.
//
// It never imports polling or processing (poll, process).
package status
