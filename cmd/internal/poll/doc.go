// Package poll follows a publisher's Atom feed and ingests its runs: a
// conditional poll of the subscription document, the catch-up walk through
// prev-archive links (RFC 5005), one lease per run (package lease), the
// poll state in the out bucket, the push listener (POST /api/notify) and
// the ingester's Prometheus metrics. Each run is processed by package
// process.
//
// Nothing that serves the out bucket (status, dashboard) imports it.
package poll
