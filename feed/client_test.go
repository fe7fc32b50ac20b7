package feed_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/feed"
)

// fakePublisher serves the subscription document with feed.Serve and records
// the User-Agent of the requests it sees.
type fakePublisher struct {
	*httptest.Server
	doc *feed.Document

	mu         sync.Mutex
	userAgents []string
}

func newFakePublisher(t *testing.T, f *feed.Feed) *fakePublisher {
	t.Helper()
	doc, err := feed.NewDocument(f, "public, max-age=10")
	if err != nil {
		t.Fatal(err)
	}
	p := &fakePublisher{doc: doc}
	mux := http.NewServeMux()
	mux.HandleFunc("/feed.atom", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.userAgents = append(p.userAgents, r.UserAgent())
		p.mu.Unlock()
		feed.Serve(w, r, p.doc)
	})
	mux.Handle("/old.atom", http.RedirectHandler("/feed.atom", http.StatusMovedPermanently))
	p.Server = httptest.NewServer(mux)
	t.Cleanup(p.Close)
	return p
}

func TestClient_Fetch(t *testing.T) {
	p := newFakePublisher(t, subscriptionFeed())
	c := feed.NewClient(feed.ClientConfig{})
	ctx := context.Background()

	res, err := c.Fetch(ctx, p.URL+"/old.atom", feed.Validators{})
	if err != nil {
		t.Fatal(err)
	}
	if res.NotModified || res.Feed == nil {
		t.Fatalf("got NotModified=%v Feed=%v, want a feed", res.NotModified, res.Feed)
	}
	if d := diff(res.Feed, subscriptionFeed()); len(d) > 0 {
		t.Errorf("handler -> Client -> Parse differs:\n%s", strings.Join(d, "\n"))
	}
	if got, want := res.URL.String(), p.URL+"/feed.atom"; got != want {
		t.Errorf("URL: got %s, want %s (after redirect)", got, want)
	}
	if res.MaxAge != 10*time.Second {
		t.Errorf("MaxAge: got %v, want 10s", res.MaxAge)
	}
	if res.Validators.ETag == "" || res.Validators.LastModified == "" {
		t.Fatalf("Validators: got %+v, want ETag and Last-Modified", res.Validators)
	}

	tests := []struct {
		name string
		v    feed.Validators
	}{
		{"both validators", res.Validators},
		{"ETag only", feed.Validators{ETag: res.Validators.ETag}},
		{"Last-Modified only", feed.Validators{LastModified: res.Validators.LastModified}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res2, err := c.Fetch(ctx, p.URL+"/feed.atom", tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if !res2.NotModified || res2.Feed != nil {
				t.Errorf("got NotModified=%v Feed=%v, want NotModified", res2.NotModified, res2.Feed != nil)
			}
			if res2.Validators.ETag == "" && tt.v.ETag != "" || res2.Validators.LastModified != tt.v.LastModified {
				t.Errorf("Validators: got %+v, want %+v kept", res2.Validators, tt.v)
			}
			if res2.MaxAge != 10*time.Second {
				t.Errorf("MaxAge: got %v, want 10s", res2.MaxAge)
			}
		})
	}

	t.Run("stale validators", func(t *testing.T) {
		res3, err := c.Fetch(ctx, p.URL+"/feed.atom", feed.Validators{ETag: `"stale"`})
		if err != nil || res3.NotModified || res3.Feed == nil {
			t.Errorf("got %+v, %v, want a fresh feed", res3, err)
		}
	})
}

func TestClient_UserAgent(t *testing.T) {
	tests := []struct {
		name, ua, want string
	}{
		{"default", "", feed.DefaultUserAgent()},
		{"configured", "wptfeed-test/1.2", "wptfeed-test/1.2"},
	}
	if ua := feed.DefaultUserAgent(); !strings.HasPrefix(ua, "wptfeed-ingester/") {
		t.Errorf("DefaultUserAgent: got %q, want wptfeed-ingester/<version>", ua)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newFakePublisher(t, subscriptionFeed())
			c := feed.NewClient(feed.ClientConfig{UserAgent: tt.ua})
			if _, err := c.Fetch(context.Background(), p.URL+"/feed.atom", feed.Validators{}); err != nil {
				t.Fatal(err)
			}
			resp, err := c.Get(context.Background(), p.URL+"/feed.atom")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			p.mu.Lock()
			defer p.mu.Unlock()
			for _, got := range p.userAgents {
				if got != tt.want {
					t.Errorf("User-Agent: got %q, want %q", got, tt.want)
				}
			}
		})
	}
}

func TestClient_Fetch_BodyCap(t *testing.T) {
	big := subscriptionFeed()
	big.Subtitle = strings.Repeat("x", 100_000)
	p := newFakePublisher(t, big)
	c := feed.NewClient(feed.ClientConfig{MaxFeedBytes: 50_000})
	identity := feed.NewClient(feed.ClientConfig{MaxFeedBytes: 50_000, Transport: &http.Transport{DisableCompression: true}})
	tests := []struct {
		name string
		c    *feed.Client
	}{
		{"gzip, no Content-Length", c},
		{"identity, Content-Length", identity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.c.Fetch(context.Background(), p.URL+"/feed.atom", feed.Validators{})
			if !errors.Is(err, feed.ErrTooLarge) {
				t.Errorf("got %v, want ErrTooLarge", err)
			}
			if feed.IsTemporary(err) {
				t.Errorf("IsTemporary(%v): got true, want false", err)
			}
		})
	}
	t.Run("under the cap", func(t *testing.T) {
		c := feed.NewClient(feed.ClientConfig{MaxFeedBytes: int64(len(p.doc.Body))})
		if _, err := c.Fetch(context.Background(), p.URL+"/feed.atom", feed.Validators{}); err != nil {
			t.Errorf("got %v, want the feed (body exactly at the cap)", err)
		}
	})
}

func TestClient_Errors(t *testing.T) {
	retryDate := time.Now().Add(90 * time.Second).UTC()
	mux := http.NewServeMux()
	status := func(code int, retryAfter string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			http.Error(w, http.StatusText(code), code)
		}
	}
	mux.Handle("/404", status(404, ""))
	mux.Handle("/410", status(410, "120"))
	mux.Handle("/429", status(429, "120"))
	mux.Handle("/503-date", status(503, retryDate.Format(http.TimeFormat)))
	mux.Handle("/503-past", status(503, "Mon, 02 Jan 2006 15:04:05 GMT"))
	mux.Handle("/503-garbage", status(503, "soon"))
	mux.Handle("/500", status(500, ""))
	mux.HandleFunc("/not-a-feed", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>no</html>") })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	closed := httptest.NewServer(mux)
	closed.Close()

	c := feed.NewClient(feed.ClientConfig{Timeout: 200 * time.Millisecond})
	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name           string
		ctx            context.Context
		url            string
		wantStatus     int // *StatusError code, or 0
		wantTemporary  bool
		wantTempStatus int
		retryMin       time.Duration
		retryMax       time.Duration
	}{
		{name: "404", url: srv.URL + "/404", wantStatus: 404},
		{name: "410 ignores Retry-After", url: srv.URL + "/410", wantStatus: 410},
		{name: "429 seconds", url: srv.URL + "/429", wantTemporary: true, wantTempStatus: 429, retryMin: 120 * time.Second, retryMax: 120 * time.Second},
		{name: "503 HTTP date", url: srv.URL + "/503-date", wantTemporary: true, wantTempStatus: 503, retryMin: 85 * time.Second, retryMax: 90 * time.Second},
		{name: "503 past date", url: srv.URL + "/503-past", wantTemporary: true, wantTempStatus: 503},
		{name: "503 garbage", url: srv.URL + "/503-garbage", wantTemporary: true, wantTempStatus: 503},
		{name: "500", url: srv.URL + "/500", wantTemporary: true, wantTempStatus: 500},
		{name: "connection refused", url: closed.URL + "/feed.atom", wantTemporary: true},
		{name: "timeout", url: srv.URL + "/slow", wantTemporary: true},
		{name: "not a feed", url: srv.URL + "/not-a-feed"},
		{name: "canceled context", ctx: canceled, url: srv.URL + "/404"},
		{name: "not http", url: "ftp://example.org/feed.atom"},
		{name: "relative URL", url: "/feed.atom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			_, err := c.Fetch(ctx, tt.url, feed.Validators{})
			if err == nil {
				t.Fatal("got nil, want an error")
			}
			var se *feed.StatusError
			if got := errors.As(err, &se); got != (tt.wantStatus != 0) || got && se.StatusCode != tt.wantStatus {
				t.Errorf("StatusError: got %v (%v), want status %d", got, err, tt.wantStatus)
			}
			if got := feed.IsTemporary(err); got != tt.wantTemporary {
				t.Errorf("IsTemporary(%v): got %v, want %v", err, got, tt.wantTemporary)
			}
			var te *feed.TemporaryError
			if errors.As(err, &te) {
				if te.StatusCode != tt.wantTempStatus {
					t.Errorf("TemporaryError.StatusCode: got %d, want %d", te.StatusCode, tt.wantTempStatus)
				}
				if te.RetryAfter < tt.retryMin || te.RetryAfter > tt.retryMax {
					t.Errorf("RetryAfter: got %v, want between %v and %v", te.RetryAfter, tt.retryMin, tt.retryMax)
				}
				if te.Unwrap() == nil || te.Error() == "" {
					t.Errorf("TemporaryError: got empty Err or message")
				}
			}
			if tt.ctx != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("got %v, want context.Canceled", err)
			}
		})
	}

	t.Run("Get", func(t *testing.T) {
		_, err := c.Get(context.Background(), srv.URL+"/404")
		var se *feed.StatusError
		if !errors.As(err, &se) || se.StatusCode != 404 || se.URL != srv.URL+"/404" {
			t.Errorf("got %v, want StatusError 404", err)
		}
		if _, err := c.Get(context.Background(), srv.URL+"/429"); !feed.IsTemporary(err) {
			t.Errorf("got %v, want a TemporaryError", err)
		}
		resp, err := c.Get(context.Background(), srv.URL+"/not-a-feed")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if b, _ := io.ReadAll(resp.Body); string(b) != "<html>no</html>" {
			t.Errorf("body: got %q, want the resource", b)
		}
	})
}
