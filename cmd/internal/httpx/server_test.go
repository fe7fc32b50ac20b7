package httpx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestServer(t *testing.T) {
	s := NewServer("test", nil)
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "test_things", Help: "Things."})
	s.Registry.MustRegister(gauge)
	gauge.Set(3)
	s.Route("GET /boom", func(w http.ResponseWriter, r *http.Request) { s.Error(w, r, errors.New("boom")) })
	s.Route("GET /missing", func(w http.ResponseWriter, r *http.Request) {
		s.ErrorJSON(w, r, fmt.Errorf("no x: %w", os.ErrNotExist))
	})
	srv := httptest.NewServer(s)
	defer srv.Close()

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthz: got %d %q, want 200 ok", code, body)
	}
	if code, _ := get("/boom"); code != 500 {
		t.Errorf("boom: got %d, want 500", code)
	}
	if code, body := get("/missing"); code != 404 || body != `{"error":"no x: file does not exist"}`+"\n" {
		t.Errorf("missing: got %d %q, want 404 and the error as JSON", code, body)
	}
	if code, _ := get("/nowhere"); code != 404 {
		t.Errorf("unrouted: got %d, want 404", code)
	}
	code, body := get("/metrics")
	if code != 200 {
		t.Fatalf("metrics: got %d, want 200", code)
	}
	for _, want := range []string{
		`test_http_requests_total{code="200",route="GET /healthz"} 1`,
		`test_http_requests_total{code="500",route="GET /boom"} 1`,
		`test_http_request_duration_seconds_count{route="GET /boom"} 1`,
		"test_things 3",
		"go_goroutines ",
		"process_start_time_seconds ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestServer_Serve(t *testing.T) {
	s := NewServer("test", nil)
	started, release := make(chan struct{}), make(chan struct{})
	s.Route("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "done")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, ln) }()

	// A request in flight when ctx ends is answered before Serve returns.
	type result struct {
		body string
		err  error
	}
	resc := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/slow")
		if err != nil {
			resc <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		resc <- result{string(b), err}
	}()
	<-started
	cancel()
	select {
	case err := <-errc:
		t.Fatalf("Serve returned %v with a request in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if res := <-resc; res.err != nil || res.body != "done" {
		t.Errorf("request in flight: got %q, %v; want done", res.body, res.err)
	}
	if err := <-errc; err != nil {
		t.Errorf("Serve: got %v, want nil after ctx ended", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("listener still open after Serve returned")
	}
}

func TestServer_ServeFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := NewServer("test", nil).Serve(context.Background(), ln); err == nil {
		t.Error("Serve on a closed listener: got nil, want its error")
	}
}

func TestReadToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name    string
		path    string
		want    string
		wantErr error // nil: any error (when want is "")
	}{
		{"token", write("tok", "s3cret\n"), "s3cret", nil},
		{"trimmed", write("spaced", " \t s3cret \r\n"), "s3cret", nil},
		{"empty", write("empty", ""), "", ErrEmptyToken},
		{"white space", write("blank", " \n\t\r\n"), "", ErrEmptyToken},
		{"missing", filepath.Join(dir, "nope"), "", fs.ErrNotExist},
		{"directory", dir, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadToken(tc.path)
			if tc.want != "" {
				if err != nil || got != tc.want {
					t.Errorf("got %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %q, want an error", got)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("got %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name the file %s", err, tc.path)
			}
		})
	}
}

func TestNewLogger(t *testing.T) {
	var b bytes.Buffer
	log := NewLogger(&b)
	log.Debug("hidden")
	log.Info("shown", "k", "v")
	if got := b.String(); strings.Contains(got, "hidden") || !strings.Contains(got, "level=INFO msg=shown k=v") {
		t.Errorf("got %q, want the Info line only, as text", got)
	}
}
