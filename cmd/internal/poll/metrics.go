package poll

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	ingested *prometheus.CounterVec
	duration prometheus.Histogram
	lag      prometheus.Histogram
	polls    *prometheus.CounterVec
	bytes    prometheus.Counter
	archives prometheus.Counter
}

// newMetrics registers the poller's metrics in reg.
func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		ingested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingester_runs_ingested_total", Help: "Runs processed, by resulting state.",
		}, []string{"state"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ingester_ingest_duration_seconds", Help: "Time to ingest one run.",
			Buckets: prometheus.ExponentialBuckets(0.01, 3, 10),
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ingester_lag_seconds", Help: "Time from a run's upload to its status record.",
			Buckets: prometheus.ExponentialBuckets(0.1, 3, 12),
		}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingester_polls_total", Help: "Feed polls by outcome (200, 304, error).",
		}, []string{"outcome"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ingester_enclosure_bytes_total", Help: "Enclosure bytes fetched.",
		}),
		archives: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ingester_archive_pages_walked_total", Help: "Archive documents fetched while catching up.",
		}),
	}
	reg.MustRegister(m.ingested, m.duration, m.lag, m.polls, m.bytes, m.archives)
	return m
}

// listen serves POST /api/notify (a push that triggers a poll now),
// /metrics and /healthz on Config.Listen until the returned func is
// called.
func (ing *Poller) listen(ctx context.Context) (func(), error) {
	ln, err := net.Listen("tcp", ing.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("run: --listen: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := ing.srv.Serve(ctx, ln); err != nil {
			ing.log.Error("listener failed", "err", err)
		}
	}()
	ing.log.Info("listening", "addr", ln.Addr().String())
	return func() { cancel(); <-done }, nil
}

func (ing *Poller) serveNotify(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if ing.cfg.NotifyToken == "" || !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(ing.cfg.NotifyToken)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ingester"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	for _, s := range ing.feeds {
		select {
		case s.notify <- struct{}{}:
		default: // a poll is already due
		}
	}
	w.WriteHeader(http.StatusAccepted)
}
