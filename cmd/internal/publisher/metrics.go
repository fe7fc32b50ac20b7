package publisher

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the publisher's own; the request metrics are the server
// skeleton's (httpx.NewServer).
type metrics struct {
	runs         prometheus.Gauge
	lastScan     *prometheus.GaugeVec
	scanDuration *prometheus.HistogramVec
}

// newMetrics returns the publisher's metrics, registered in reg.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		runs: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "publisher_runs_indexed", Help: "Runs in the publication log.",
		}),
		lastScan: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "publisher_last_scan_timestamp_seconds", Help: "When the last bucket scan ended, by kind (quick, full).",
		}, []string{"kind"}),
		scanDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "publisher_scan_duration_seconds", Help: "Bucket scan duration by kind (quick, full).",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"kind"}),
	}
	reg.MustRegister(m.runs, m.lastScan, m.scanDuration)
	return m
}
