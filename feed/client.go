package feed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// Client defaults.
const (
	DefaultTimeout      = 60 * time.Second
	DefaultMaxFeedBytes = 64 << 20
)

// ErrTooLarge is wrapped by Fetch's error when a feed body exceeds
// ClientConfig.MaxFeedBytes. It is permanent: retrying gives the same body.
var ErrTooLarge = errors.New("feed: body too large")

// ClientConfig configures a Client; zero fields take defaults.
type ClientConfig struct {
	UserAgent    string        // default "wptfeed-ingester/<module version or dev>"
	Timeout      time.Duration // default 60s per request, body included
	MaxFeedBytes int64         // default 64 MiB, after transfer decoding
	// Transport, when set, replaces the default transport (a clone of
	// http.DefaultTransport), e.g. for an httptest TLS server.
	Transport http.RoundTripper
	// CheckRedirect, when set, decides whether to follow a redirect, as
	// http.Client.CheckRedirect does (e.g. to refuse other origins).
	CheckRedirect func(req *http.Request, via []*http.Request) error
}

// Client is the one HTTP client for feeds and enclosures: timeouts, a
// User-Agent, a cap on feed bodies, conditional GET. It wraps its own
// *http.Client (never http.DefaultClient) and is safe for concurrent use.
// It asks for gzip and decompresses transparently (net/http's transport).
type Client struct {
	hc           *http.Client
	userAgent    string
	maxFeedBytes int64
	now          func() time.Time // for Retry-After dates; tests replace it
}

// NewClient returns a Client configured by cfg.
func NewClient(cfg ClientConfig) *Client {
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent()
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxFeedBytes <= 0 {
		cfg.MaxFeedBytes = DefaultMaxFeedBytes
	}
	tr := cfg.Transport
	if tr == nil {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	return &Client{
		hc:           &http.Client{Transport: tr, Timeout: cfg.Timeout, CheckRedirect: cfg.CheckRedirect},
		userAgent:    cfg.UserAgent,
		maxFeedBytes: cfg.MaxFeedBytes,
		now:          time.Now,
	}
}

// DefaultUserAgent returns "wptfeed-ingester/" followed by the main module's
// version, or "dev" when the binary carries none.
func DefaultUserAgent() string {
	v := "dev"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	return "wptfeed-ingester/" + v
}

// Validators are what a conditional GET sends: the ETag and Last-Modified
// values of the last response, verbatim.
type Validators struct{ ETag, LastModified string }

// FetchResult is the outcome of a successful Fetch.
type FetchResult struct {
	Feed        *Feed // nil when NotModified
	NotModified bool
	// Validators come from the response; on 304 the request's, updated by
	// any the response carries.
	Validators Validators
	MaxAge     time.Duration // from Cache-Control max-age, 0 if none (or no-cache/no-store)
	URL        *url.URL      // final URL after redirects
}

// Fetch GETs a feed with If-None-Match/If-Modified-Since from v and parses
// it. A 304 gives NotModified and no Feed. Errors: *TemporaryError for
// network errors, timeouts, 5xx and 429 (with Retry-After); *StatusError for
// other non-2xx statuses; an error wrapping ErrTooLarge when the body exceeds
// MaxFeedBytes; Parse's error for a body that is not a feed; the context's
// error (wrapped, not temporary) when ctx ends.
func (c *Client) Fetch(ctx context.Context, rawURL string, v Validators) (*FetchResult, error) {
	const op = "fetch feed"
	req, err := c.newRequest(ctx, op, rawURL)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/atom+xml, application/xml;q=0.9, */*;q=0.1")
	if v.ETag != "" {
		req.Header.Set("If-None-Match", v.ETag)
	}
	if v.LastModified != "" {
		req.Header.Set("If-Modified-Since", v.LastModified)
	}
	resp, err := c.do(req, op)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()

	res := &FetchResult{URL: resp.Request.URL, MaxAge: maxAge(resp.Header)}
	got := Validators{ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
	if resp.StatusCode == http.StatusNotModified {
		res.NotModified = true
		res.Validators = v
		if got.ETag != "" {
			res.Validators.ETag = got.ETag
		}
		if got.LastModified != "" {
			res.Validators.LastModified = got.LastModified
		}
		return res, nil
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.statusError(op, rawURL, resp)
	}
	if resp.ContentLength > c.maxFeedBytes {
		return nil, fmt.Errorf("feed: %s %s: %w: Content-Length %d > %d", op, rawURL, ErrTooLarge, resp.ContentLength, c.maxFeedBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxFeedBytes+1))
	if err != nil {
		return nil, c.transportError(ctx, op, fmt.Errorf("read body of %s: %w", rawURL, err))
	}
	if int64(len(body)) > c.maxFeedBytes {
		return nil, fmt.Errorf("feed: %s %s: %w: more than %d bytes", op, rawURL, ErrTooLarge, c.maxFeedBytes)
	}
	f, err := Parse(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("feed: %s %s: %w", op, rawURL, err)
	}
	res.Feed = f
	res.Validators = got
	return res, nil
}

// Get GETs any resource (an enclosure) and returns the 2xx response with its
// body, which the caller reads and closes; the body is not capped. Errors are
// classified as for Fetch: *TemporaryError or *StatusError for non-2xx.
func (c *Client) Get(ctx context.Context, rawURL string) (*http.Response, error) {
	const op = "get resource"
	req, err := c.newRequest(ctx, op, rawURL)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(req, op)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, c.statusError(op, rawURL, resp)
	}
	return resp, nil
}

func (c *Client) newRequest(ctx context.Context, op, rawURL string) (*http.Request, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("feed: %s: %w", op, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("feed: %s: %q is not an absolute http(s) URL", op, rawURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("feed: %s: %w", op, err)
	}
	req.Header.Set("User-Agent", c.userAgent)
	return req, nil
}

func (c *Client) do(req *http.Request, op string) (*http.Response, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.transportError(req.Context(), op, err)
	}
	return resp, nil
}

// transportError classifies a network or body-read failure: temporary,
// unless the caller's context ended.
func (c *Client) transportError(ctx context.Context, op string, err error) error {
	err = fmt.Errorf("feed: %s: %w", op, err)
	if ctx.Err() != nil {
		return err
	}
	return &TemporaryError{Err: err}
}

// statusError classifies a non-2xx, non-304 response and drains a little
// of its body so the connection can be reused.
func (c *Client) statusError(op, rawURL string, resp *http.Response) error {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	code := resp.StatusCode
	if code == http.StatusTooManyRequests || code >= 500 {
		return &TemporaryError{
			Err:        fmt.Errorf("feed: %s %s: %d %s", op, rawURL, code, http.StatusText(code)),
			StatusCode: code,
			RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), c.now()),
		}
	}
	return &StatusError{URL: rawURL, StatusCode: code}
}

// parseRetryAfter reads Retry-After (RFC 9110 §10.2.3): delay-seconds or an
// HTTP-date. Invalid or past values give 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > math.MaxInt64/int64(time.Second) {
			return time.Duration(math.MaxInt64)
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// maxAge reads max-age from Cache-Control (RFC 9111 §5.2.2.1); no-cache and
// no-store give 0.
func maxAge(h http.Header) time.Duration {
	var age time.Duration
	for _, v := range h.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			k, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "no-cache", "no-store":
				return 0
			case "max-age":
				n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(val), `"`), 10, 64)
				if err == nil && n > 0 && n <= math.MaxInt64/int64(time.Second) {
					age = time.Duration(n) * time.Second
				}
			}
		}
	}
	return age
}

// TemporaryError marks a failure worth retrying: network errors, timeouts,
// 5xx, 429.
type TemporaryError struct {
	Err        error
	StatusCode int           // 0 for network errors
	RetryAfter time.Duration // from Retry-After (seconds or HTTP date), 0 if none
}

func (e *TemporaryError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("%v (retry after %v)", e.Err, e.RetryAfter)
	}
	return e.Err.Error()
}

func (e *TemporaryError) Unwrap() error { return e.Err }

// StatusError is a permanent HTTP failure (4xx other than 429), e.g. 404.
type StatusError struct {
	URL        string
	StatusCode int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("feed: GET %s: %d %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
}

// IsTemporary reports whether err is, or wraps, a *TemporaryError.
func IsTemporary(err error) bool {
	var te *TemporaryError
	return errors.As(err, &te)
}
