package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wptfeed/wptfeed/store"
)

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"store not found", fmt.Errorf("read x: %w", store.ErrNotFound), 404},
		{"file not found", &fs.PathError{Op: "open", Path: "x", Err: fs.ErrNotExist}, 404},
		{"invalid", fmt.Errorf("bad: %w", store.ErrInvalid), 400},
		{"temporary", &store.TemporaryError{Err: errors.New("throttled")}, 503},
		{"deadline", fmt.Errorf("list: %w", context.DeadlineExceeded), 503},
		{"other", errors.New("boom"), 500},
		{"canceled", context.Canceled, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Status(tc.err); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestError(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		code    int
		logged  bool
		jsonMsg string
	}{
		{"4xx", fmt.Errorf("run x: %w", store.ErrNotFound), 404, false, "run x: store: not found"},
		{"5xx", errors.New("secret key k: boom"), 500, true, "Internal Server Error"},
		{"503", &store.TemporaryError{Err: errors.New("slow down")}, 503, true, "Service Unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := NewLogger(&logs)

			rec := httptest.NewRecorder()
			rec.Header().Set("Content-Length", "999") // of content no longer sent
			Error(rec, httptest.NewRequest("GET", "/x/y", nil), log, tc.err)
			if rec.Code != tc.code {
				t.Errorf("text: got %d, want %d", rec.Code, tc.code)
			}
			if got, want := rec.Body.String(), http.StatusText(tc.code)+"\n"; got != want {
				t.Errorf("text body: got %q, want %q", got, want)
			}
			if got := rec.Header().Get("Content-Type"); got != "text/plain; charset=utf-8" {
				t.Errorf("text Content-Type: got %q", got)
			}
			checkLogged(t, &logs, tc.logged, tc.err)

			rec = httptest.NewRecorder()
			rec.Header().Set("Content-Length", "999")
			ErrorJSON(rec, httptest.NewRequest("GET", "/x/y", nil), log, tc.err)
			if rec.Code != tc.code {
				t.Errorf("JSON: got %d, want %d", rec.Code, tc.code)
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body) != 1 || body["error"] != tc.jsonMsg {
				t.Errorf("JSON body: got %s (%v), want {\"error\": %q}", rec.Body.Bytes(), err, tc.jsonMsg)
			}
			for k, want := range map[string]string{
				"Content-Type":           "application/json",
				"Cache-Control":          "no-cache",
				"X-Content-Type-Options": "nosniff",
				"Content-Length":         "",
			} {
				if got := rec.Header().Get(k); got != want {
					t.Errorf("JSON %s: got %q, want %q", k, got, want)
				}
			}
			checkLogged(t, &logs, tc.logged, tc.err)
		})
	}
}

func TestError_NilLogger(t *testing.T) {
	rec := httptest.NewRecorder()
	Error(rec, httptest.NewRequest("GET", "/", nil), nil, errors.New("boom"))
	ErrorJSON(rec, httptest.NewRequest("GET", "/", nil), nil, errors.New("boom"))
	if rec.Code != 500 {
		t.Errorf("got %d, want 500", rec.Code)
	}
}

// checkLogged checks that the log has one error line for err and the path
// when logged, else nothing, and empties it.
func checkLogged(t *testing.T, logs *bytes.Buffer, logged bool, err error) {
	t.Helper()
	out := logs.String()
	logs.Reset()
	if !logged {
		if out != "" {
			t.Errorf("logged %q, want nothing", out)
		}
		return
	}
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "path=/x/y") || !strings.Contains(out, err.Error()) {
		t.Errorf("log: got %q, want one error line with the path and the error", out)
	}
}

func ExampleStatus() {
	notFound := fmt.Errorf("dashboard: run 20260101T000000Z-x: %w", store.ErrNotFound)
	invalid := fmt.Errorf("dashboard: bad parameter: %w", store.ErrInvalid)
	throttled := &store.TemporaryError{Err: errors.New("store: list: rate limited")}
	fmt.Println(Status(notFound), Status(invalid), Status(throttled), Status(errors.New("boom")))
	// Output: 404 400 503 500
}
