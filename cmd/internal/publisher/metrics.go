package publisher

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/wptfeed/wptfeed/cmd/internal/httpx"
)

type metrics struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	runs         prometheus.Gauge
	lastScan     *prometheus.GaugeVec
	scanDuration *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
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
	m.requests, m.latency = httpx.RequestMetrics("publisher")
	m.reg.MustRegister(m.requests, m.latency, m.runs, m.lastScan, m.scanDuration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// route mounts h at pattern, counting requests and timing them under the
// pattern's name.
func (s *Server) route(mux *http.ServeMux, pattern string, h http.HandlerFunc) {
	httpx.Route(mux, pattern, h, s.m.requests, s.m.latency)
}
