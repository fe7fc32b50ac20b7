// Package e2e holds the end-to-end tests: `publisher upload`, `publisher
// serve` and `ingester run` in one process, on real buckets and a real HTTP
// server on 127.0.0.1.
package e2e
