// Package httpx holds the HTTP plumbing the publisher's and the ingester's
// servers share, once:
//
//   - the server skeleton (NewServer): a logger, a mux whose routes are
//     counted and timed (Route, RequestMetrics), a Prometheus registry
//     served at GET /metrics, GET /healthz, and graceful serving (Serve);
//   - a fast path for hot documents (Server.Fast): the plainest GET and
//     HEAD requests of a route's path are answered from a feed.Document's
//     precomputed wire bytes on Serve's connections, without net/http;
//     any other request hands its connection to net/http;
//   - how long servers wait on clients (Timeouts, with its flags:
//     AddTimeoutFlags): stalled headers, bodies and readers, and idle
//     connections, are cut; no request is bounded by its total time;
//   - the one table from errors to HTTP statuses (Status) and the error
//     answers built on it (Error for text, ErrorJSON for JSON APIs);
//   - reading a secret from a file (ReadToken), the logger of the commands
//     (NewLogger), base-URL checks (CheckBaseURL) and query lists (List).
//
// Conditional GET, entity tags and gzip are not here: feed.Serve serves any
// bytes (a feed.Document with a ContentType) with them, and
// feed.Document.RawAnswer gives the same answers in wire form to the fast
// path.
//
// httpx may import store (for its errors) and feed (for the fast path's
// documents); it must not import the
// commands' packages (publisher, ingester), which import it.
package httpx

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RequestMetrics returns the two metrics Route records, named
// <prefix>_http_requests_total (by route and code) and
// <prefix>_http_request_duration_seconds (by route).
func RequestMetrics(prefix string) (*prometheus.CounterVec, *prometheus.HistogramVec) {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: prefix + "_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: prefix + "_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8),
		}, []string{"route"})
}

// CheckBaseURL reports an error unless u is an absolute http(s) URL with a
// host: the public URL a server builds its links from.
func CheckBaseURL(u string) error {
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", u)
	}
	return nil
}

// Route mounts h at pattern on mux, counting requests by pattern and status
// code in requests and timing them by pattern in latency. Server.Route is
// the usual way; Route is for servers not yet built on NewServer.
func Route(mux *http.ServeMux, pattern string, h http.HandlerFunc, requests *prometheus.CounterVec, latency *prometheus.HistogramVec) {
	route(mux, pattern, h, requests, latency)
}

// route is Route, returning the route's series.
func route(mux *http.ServeMux, pattern string, h http.HandlerFunc, requests *prometheus.CounterVec, latency *prometheus.HistogramVec) *routeMetrics {
	// The route's series are looked up once (by code, on the code's first
	// request), not per request: a lookup hashes the label values.
	rm := &routeMetrics{pattern: pattern, requests: requests, latency: latency.WithLabelValues(pattern)}
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &codeRecorder{ResponseWriter: w, code: http.StatusOK}
		h(sw, r)
		rm.counter(sw.code).Inc()
		rm.latency.Observe(time.Since(start).Seconds())
	})
	return rm
}

// routeMetrics holds one route's series of RequestMetrics.
type routeMetrics struct {
	pattern  string
	requests *prometheus.CounterVec
	latency  prometheus.Observer
	codes    [500]atomic.Pointer[prometheus.Counter] // by code - 100, for 100..599
}

// counter returns the route's request counter of code.
func (m *routeMetrics) counter(code int) prometheus.Counter {
	if code < 100 || code > 599 {
		return m.requests.WithLabelValues(m.pattern, strconv.Itoa(code))
	}
	slot := &m.codes[code-100]
	if c := slot.Load(); c != nil {
		return *c
	}
	c := m.requests.WithLabelValues(m.pattern, strconv.Itoa(code))
	slot.Store(&c)
	return c
}

type codeRecorder struct {
	http.ResponseWriter
	code int
}

func (w *codeRecorder) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *codeRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

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
