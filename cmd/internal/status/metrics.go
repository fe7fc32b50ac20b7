package status

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	records      *prometheus.GaugeVec
	scanDuration prometheus.Histogram
	lastScan     prometheus.Gauge
	scanErrors   prometheus.Counter
}

// newMetrics registers the status server's own metrics in reg.
func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		records: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ingester_serve_status_records", Help: "Status records indexed, by state.",
		}, []string{"state"}),
		scanDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ingester_serve_scan_duration_seconds", Help: "Duration of a scan of status/.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		lastScan: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ingester_serve_last_scan_timestamp_seconds", Help: "When the last complete scan of status/ ended.",
		}),
		scanErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ingester_serve_scan_errors_total", Help: "Scans of status/ that failed or left records unread.",
		}),
	}
	reg.MustRegister(m.records, m.scanDuration, m.lastScan, m.scanErrors)
	return m
}
