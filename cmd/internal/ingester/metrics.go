package ingester

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type metrics struct {
	reg      *prometheus.Registry
	ingested *prometheus.CounterVec
	duration prometheus.Histogram
	lag      prometheus.Histogram
	polls    *prometheus.CounterVec
	bytes    prometheus.Counter
	archives prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
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
	m.reg.MustRegister(m.ingested, m.duration, m.lag, m.polls, m.bytes, m.archives,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// listen serves POST /api/notify (a push that triggers a poll now) and
// /metrics on Config.Listen until ctx ends.
func (ing *Ingester) listen(ctx context.Context) (func(), error) {
	ln, err := net.Listen("tcp", ing.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("run: --listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/notify", ing.serveNotify)
	mux.Handle("GET /metrics", promhttp.HandlerFor(ing.m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			ing.log.Error("listener failed", "err", err)
		}
	}()
	ing.log.Info("listening", "addr", ln.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}, nil
}

func (ing *Ingester) serveNotify(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if ing.cfg.NotifyToken == "" || !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(ing.cfg.NotifyToken)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ingester"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	select {
	case ing.notify <- struct{}{}:
	default: // a poll is already due
	}
	w.WriteHeader(http.StatusAccepted)
}
