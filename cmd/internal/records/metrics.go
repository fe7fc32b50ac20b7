package records

import "time"

// The metrics files' records (docs/metrics-files.md).

// AlignedFilters are the filters the aligned and interop metrics have
// files for: which runs take part (every run, or those labelled stable or
// experimental).
var AlignedFilters = []string{"all", "stable", "experimental"}

// SeriesPoint is one run's point of its product's series,
// metrics/points/<product>/<run id>.json.
type SeriesPoint struct {
	RunID    string             `json:"run_id"`
	Revision string             `json:"revision"`
	Time     time.Time          `json:"time"`
	Labels   []string           `json:"labels"`
	Rates    map[string]float64 `json:"rates"`
}

// Series is metrics/series/<product>.json: every point of a product, by
// time.
type Series struct {
	Product string        `json:"product"`
	Points  []SeriesPoint `json:"points"`
}

// InteropPoint is one revision's interop point,
// metrics/interop-points/<filter>/<sha>.json.
type InteropPoint struct {
	Revision string         `json:"revision"`
	Time     time.Time      `json:"time"`
	Products []string       `json:"products"`
	Runs     []string       `json:"runs"`
	Interop  map[string]int `json:"interop"`
}

// InteropSeries is metrics/interop/<filter>.json: interop over time.
type InteropSeries struct {
	Filter string         `json:"filter"`
	Points []InteropPoint `json:"points"`
}

// PendingMetrics is the marker, state/metrics-pending/<run id>.json, of a
// VALID run whose metrics across runs are not updated yet.
type PendingMetrics struct {
	RunID    string `json:"run_id"`
	Revision string `json:"revision"`
	Product  string `json:"product"`
}
