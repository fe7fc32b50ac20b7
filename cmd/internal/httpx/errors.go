package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"

	"github.com/wptfeed/wptfeed/store"
)

// Status maps an error to its HTTP status: the servers' one table.
//
//	store.ErrNotFound, os.ErrNotExist                    404 Not Found
//	store.ErrInvalid                                     400 Bad Request
//	store.IsTemporary, context.DeadlineExceeded          503 Service Unavailable
//	anything else                                        500 Internal Server Error
//
// A handler with errors of its own (an upload's refusals) checks them first
// and falls back to Status.
func Status(err error) int {
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, os.ErrNotExist):
		return http.StatusNotFound
	case errors.Is(err, store.ErrInvalid):
		return http.StatusBadRequest
	case store.IsTemporary(err), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Error answers err with its Status and, as text/plain, that status's text
// only: the error's message may name keys and paths of the bucket. An error
// of status 500 or more is logged to log (nil logs nothing) with the
// request's path.
func Error(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code := Status(err)
	logFailure(log, r, code, err)
	http.Error(w, http.StatusText(code), code)
}

// ErrorJSON answers err for a JSON API: {"error": "<message>"} with its
// Status, Cache-Control: no-cache and X-Content-Type-Options: nosniff. The
// message of a 4xx is the error's (it says what was wrong with the
// request); of a 5xx, the status text only, and the error is logged as
// Error logs it.
func ErrorJSON(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code := Status(err)
	msg := err.Error()
	if code >= 500 {
		logFailure(log, r, code, err)
		msg = http.StatusText(code)
	}
	h := w.Header()
	h.Del("Content-Length") // it may be of other content, as http.Error knows
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg}) // a failed write is the client's
}

func logFailure(log *slog.Logger, r *http.Request, code int, err error) {
	if code >= 500 && log != nil {
		log.Error("request failed", "path", r.URL.Path, "err", err)
	}
}
