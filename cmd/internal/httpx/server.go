package httpx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is the skeleton of an HTTP server: a logger, a mux whose routes
// are counted and timed, and a Prometheus registry. It is an http.Handler.
// It is the one skeleton of the publisher's and the ingester's servers.
type Server struct {
	// Log is the server's logger; never nil.
	Log *slog.Logger
	// Registry holds the Go and process collectors and the request metrics
	// of RequestMetrics; the server registers its own metrics in it. It is
	// served at GET /metrics.
	Registry *prometheus.Registry
	// Timeouts bound how long Serve waits on clients; NewServer sets
	// DefaultTimeouts. Change them before Serve.
	Timeouts Timeouts

	mux      *http.ServeMux
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	routes   map[string]*routeMetrics // by pattern
	fast     map[string]*fastRoute    // by path (Fast)
}

// NewServer returns a Server whose request metrics are named after prefix
// (see RequestMetrics), with GET /metrics (its Registry) and GET /healthz
// ("ok") mounted. A nil log discards.
func NewServer(prefix string, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{Log: log, Registry: prometheus.NewRegistry(), Timeouts: DefaultTimeouts(), mux: http.NewServeMux(), routes: map[string]*routeMetrics{}}
	s.requests, s.latency = RequestMetrics(prefix)
	s.Registry.MustRegister(s.requests, s.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.Route("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	s.Route("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}).ServeHTTP)
	return s
}

// Route mounts h at pattern (an http.ServeMux pattern), counting requests
// by pattern and status code and timing them by pattern. It panics, as
// http.ServeMux does, if pattern is invalid or conflicts with a mounted one.
func (s *Server) Route(pattern string, h http.HandlerFunc) {
	s.routes[pattern] = route(s.mux, pattern, h, s.requests, s.latency)
}

// ServeHTTP dispatches r to the route its pattern matches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Error is the package's Error, logging to s.Log.
func (s *Server) Error(w http.ResponseWriter, r *http.Request, err error) {
	Error(w, r, s.Log, err)
}

// ErrorJSON is the package's ErrorJSON, logging to s.Log.
func (s *Server) ErrorJSON(w http.ResponseWriter, r *http.Request, err error) {
	ErrorJSON(w, r, s.Log, err)
}

// shutdownTimeout bounds how long Serve waits for requests in flight once
// its context ends.
const shutdownTimeout = 5 * time.Second

// Serve serves s on ln until ctx ends, then shuts down gracefully (waiting
// up to 5 s for requests in flight, whose contexts derive from ctx) and
// returns nil. It closes ln. It returns the error of http.Server.Serve when
// serving fails first. It waits on clients as s.Timeouts allow (see
// Timeouts): a stalled header, body or reader, or an idle connection, is
// cut; a slow but steady transfer never is. With routes on the fast path
// (Fast), Serve reads each connection's requests itself until one is not
// for it, and then hands the connection to net/http.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := s.Timeouts.server(s)
	srv.BaseContext = func(net.Listener) context.Context { return ctx }
	var fl *fastListener
	if len(s.fast) > 0 {
		fl = newFastListener(ctx, ln, s.fast, s.Timeouts)
		ln = fl
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if fl != nil {
			fl.Close()
			sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			fl.wait(sctx)
			cancel()
		}
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		_ = srv.Shutdown(sctx) // past the timeout, requests in flight are cut
		if fl != nil {
			fl.wait(sctx)
		}
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

// NewLogger returns the commands' logger: text lines at level Info on w.
func NewLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// ErrEmptyToken is returned (wrapped) by ReadToken for a file that holds
// nothing but white space.
var ErrEmptyToken = errors.New("empty token")

// ReadToken reads a secret (a bearer token) from the file at path, trimming
// white space around it. It returns the error of reading the file (which
// names it; os.ErrNotExist for a missing one), or an error wrapping
// ErrEmptyToken and naming the file when the token is empty: a server must
// not run with an empty secret.
func ReadToken(path string) (string, error) {
	p, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	tok := strings.TrimSpace(string(p))
	if tok == "" {
		return "", fmt.Errorf("read token file %s: %w (the file is empty or white space)", path, ErrEmptyToken)
	}
	return tok, nil
}
