// Package httpx holds the HTTP plumbing the publisher's and the ingester's
// servers share: instrumented routes and query-list parsing.
package httpx

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Route mounts h at pattern on mux, counting requests by pattern and status
// code in requests and timing them by pattern in latency.
func Route(mux *http.ServeMux, pattern string, h http.HandlerFunc, requests *prometheus.CounterVec, latency *prometheus.HistogramVec) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h(sw, r)
		requests.WithLabelValues(pattern, strconv.Itoa(sw.code)).Inc()
		latency.WithLabelValues(pattern).Observe(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// List reads a query parameter given repeated or comma-separated
// (?label=a&label=b or ?label=a,b): trimmed, without empty or repeated
// values, sorted.
func List(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return out
}
