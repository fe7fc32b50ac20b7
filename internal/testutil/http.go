package testutil

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// Do sends a request to url with the given headers, as a test of a server
// wants it: no redirects followed, the identity representation unless the
// request asks for gzip (no transparent decompression), a 10 s timeout. It
// returns the response with its body read, and fails the test on a
// transport error.
func Do(tb testing.TB, method, url string, header map[string]string) (*http.Response, []byte) {
	tb.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	c := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{DisableCompression: true},
		Timeout:       10 * time.Second,
	}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, body
}
