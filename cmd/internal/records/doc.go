// Package records holds the wire records the ingester's packages share: the
// status record, wpt.fyi's TestRun, the shard listing, the metrics
// series and interop points, the pending-metrics marker, the run-time rule,
// and what the status index knows of a run. Each is declared once, here.
//
// It is a leaf among cmd/internal: it imports report (for warnings) and no
// other package of this module's commands.
package records
