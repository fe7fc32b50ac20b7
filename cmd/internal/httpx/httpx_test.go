package httpx

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestList(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
	}{
		{nil, nil},
		{[]string{"b,a", " a ", ""}, []string{"a", "b"}},
		{[]string{"x", "y,,x"}, []string{"x", "y"}},
	} {
		if got := List(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRoute(t *testing.T) {
	req := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "r"}, []string{"route", "code"})
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "l"}, []string{"route"})
	mux := http.NewServeMux()
	Route(mux, "GET /x", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusTeapot) }, req, lat)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := testutil.ToFloat64(req.WithLabelValues("GET /x", "418")); got != 1 {
		t.Errorf("got %v requests counted with code 418, want 1", got)
	}
}

func TestCheckBaseURL(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"https://results.example.org", true},
		{"http://127.0.0.1:8080/prefix", true},
		{"ftp://x", false},
		{"http://", false},
		{"results.example.org", false},
	} {
		if err := CheckBaseURL(tc.in); (err == nil) != tc.ok {
			t.Errorf("CheckBaseURL(%q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}
