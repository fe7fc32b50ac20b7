package httpx

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"
)

// Timeouts bound how long a server waits on a client. None bounds the
// total time of a request: a 1 GiB upload or download on a slow link takes
// as long as it takes, but a client that stops sending or reading is cut.
// A zero field sets no bound.
type Timeouts struct {
	// Header bounds the time to read a request's header, from the
	// connection's first byte (or the next request's).
	Header time.Duration
	// Idle is how long a keep-alive connection may wait for its next
	// request before the server closes it.
	Idle time.Duration
	// Read bounds each wait for more of a request body: a body that sends
	// no byte for that long is cut (the handler's read fails).
	Read time.Duration
	// Write bounds each wait for a response write to progress: a client
	// that reads nothing for that long is cut (the handler's write fails).
	Write time.Duration
}

// DefaultTimeouts returns the servers' defaults: headers within 10 s, idle
// connections closed after 2 minutes, bodies and responses cut after 60 s
// without progress.
func DefaultTimeouts() Timeouts {
	return Timeouts{Header: 10 * time.Second, Idle: 2 * time.Minute, Read: time.Minute, Write: time.Minute}
}

// AddTimeoutFlags adds --header-timeout, --idle-timeout, --read-timeout
// and --write-timeout to fs, bound to t's fields, with t's values as their
// defaults.
func AddTimeoutFlags(fs *pflag.FlagSet, t *Timeouts) {
	fs.DurationVar(&t.Header, "header-timeout", t.Header, "longest a client may take to send a request's header (0: no limit)")
	fs.DurationVar(&t.Idle, "idle-timeout", t.Idle, "how long an idle keep-alive connection stays open (0: no limit)")
	fs.DurationVar(&t.Read, "read-timeout", t.Read, "longest a request body may send nothing before the request is cut; not a limit on its total time (0: no limit)")
	fs.DurationVar(&t.Write, "write-timeout", t.Write, "longest a response may make no progress (the client reads nothing) before it is cut; not a limit on its total time (0: no limit)")
}

// Validate reports a negative timeout, naming its flag.
func (t Timeouts) Validate() error {
	for _, f := range []struct {
		flag string
		d    time.Duration
	}{{"--header-timeout", t.Header}, {"--idle-timeout", t.Idle}, {"--read-timeout", t.Read}, {"--write-timeout", t.Write}} {
		if f.d < 0 {
			return fmt.Errorf("%s %v is negative", f.flag, f.d)
		}
	}
	return nil
}

// server returns an http.Server serving h with the timeouts t.
func (t Timeouts) server(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           t.handler(h),
		ConnContext:       withConn,
		ReadHeaderTimeout: t.Header,
		// Zero, either falls back to ReadTimeout: zero too, no limit, as
		// documented. ReadTimeout and WriteTimeout bound a request's total
		// time; handler bounds its stalls instead.
		IdleTimeout: t.Idle,
	}
}

// lingerTimeout is how long the server goes on reading a body its handler
// did not read, after the answer, before it closes the connection: enough
// for the client to receive the answer before the close (closing with
// unread bytes sends a reset, which may make the client drop the answer),
// as net/http's own lingering close waits 500 ms.
const lingerTimeout = 500 * time.Millisecond

// writeChunk is the largest piece of a response written under one write
// deadline: a client reading slowly but steadily (1 KiB/s at the default
// 60 s) makes progress within it.
const writeChunk = 64 << 10

// handler wraps h for the timeouts of request bodies and responses, which
// net/http has only as bounds on a request's total time:
//
//   - each read of the request body must get a byte within t.Read, and
//     each write of the response (in pieces of 64 KiB) must be taken by
//     the client within t.Write: deadlines set before each read and write
//     through http.ResponseController, so that only a stall is cut;
//   - an answer that starts before the body was read to its end (a 401, a
//     refusal) says Connection: close: net/http would otherwise read up to
//     256 KiB of the body, at the client's pace, before answering, to keep
//     the connection; after the handler, the server reads the rest for
//     500 ms at most before it closes the connection.
//
// The handler gets a shallow copy of the request with the body wrapped;
// net/http's own view of the body is unchanged.
func (t Timeouts) handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// One allocation per request for both.
		st := &struct {
			p  progress
			pw progressWriter
		}{p: progress{t: t, rc: *http.NewResponseController(w), conn: connOf(r.Context())}}
		p, pw := &st.p, &st.pw
		*pw = progressWriter{ResponseWriter: w, p: p}
		r2 := r
		if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
			p.hasBody = true
			r2 = r.WithContext(r.Context())
			r2.Body = &progressBody{ReadCloser: r.Body, p: p}
		}
		defer func() {
			if r2 != r && r2.MultipartForm != nil && r2.MultipartForm != r.MultipartForm {
				r2.MultipartForm.RemoveAll() // net/http removes only its own request's
			}
		}()
		h.ServeHTTP(pw, r2)
		pw.answer() // net/http answers 200 if the handler wrote nothing
		if p.hasBody && !p.bodyDone.Load() {
			// net/http reads what is left of the body (up to 256 KiB)
			// after flushing the answer: briefly.
			p.rc.SetReadDeadline(time.Now().Add(lingerTimeout))
		}
		if t.Write > 0 {
			// The answer's last bytes are flushed after the handler; not
			// to a client that already let a write time out.
			if p.writeFailed.Load() {
				p.rc.SetWriteDeadline(time.Now())
			} else {
				p.extendWrite()
			}
		}
		if p.corked {
			// The answer's end, out now: net/http would flush it only
			// after this, with the cork still in.
			p.rc.Flush()
			p.uncork()
		}
	})
}

// progress is the state of one request under Timeouts.
type progress struct {
	t        Timeouts
	rc       http.ResponseController // of the server's writer
	hasBody  bool
	bodyDone atomic.Bool // the body was read to its end or closed
	// writeFailed: a write of the answer failed (timed out, or the
	// client went away).
	writeFailed atomic.Bool
	answered    sync.Once
	// writeDeadline is the write deadline last set for this request.
	// Only the handler's goroutine uses it, as corked.
	writeDeadline stallDeadline
	conn          net.Conn // the request's connection, nil if unknown
	corked        bool     // TCP_CORK is set on conn (see corkMin)
}

// cork sets TCP_CORK on the connection before a large write.
func (p *progress) cork() {
	if !p.corked && p.conn != nil {
		p.corked = setCork(p.conn, true)
	}
}

// uncork clears TCP_CORK: what the kernel holds leaves at once.
func (p *progress) uncork() {
	if p.corked {
		setCork(p.conn, false)
		p.corked = false
	}
}

// extendWrite moves the write deadline to t.Write from now (see
// stallDeadline).
func (p *progress) extendWrite() {
	if d, ok := p.writeDeadline.next(p.t.Write); ok {
		p.rc.SetWriteDeadline(d)
	}
}

// stallDeadline is a deadline that bounds a stall, moved forward as the
// transfer progresses: the deadline last set (zero: none yet).
type stallDeadline time.Time

// next returns the deadline to set for timeout d from now, and false when
// the one set less than d/16 ago may stay: setting a deadline costs a
// timer update, which a small answer would otherwise pay twice (its
// write, then a flush). A stall is thus cut after between 15/16 of d and
// d. d must be positive.
func (s *stallDeadline) next(d time.Duration) (time.Time, bool) {
	t := time.Now().Add(d)
	if t.Sub(time.Time(*s)) < d/16 {
		return time.Time{}, false
	}
	*s = stallDeadline(t)
	return t, true
}

// progressBody is a request body whose reads are cut after t.Read without
// a byte.
type progressBody struct {
	io.ReadCloser
	p *progress
}

func (b *progressBody) Read(p []byte) (int, error) {
	if b.p.bodyDone.Load() || b.p.t.Read <= 0 {
		n, err := b.ReadCloser.Read(p)
		if err == io.EOF {
			b.p.bodyDone.Store(true)
		}
		return n, err
	}
	b.p.rc.SetReadDeadline(time.Now().Add(b.p.t.Read))
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		// net/http now reads the connection in the background, to notice
		// a client that goes away; it must not time out.
		b.p.bodyDone.Store(true)
		b.p.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// Close closes the body. net/http reads what is left of it (up to 256
// KiB) to keep the connection: for 500 ms at most.
func (b *progressBody) Close() error {
	if b.p.bodyDone.Load() {
		return b.ReadCloser.Close()
	}
	b.p.rc.SetReadDeadline(time.Now().Add(lingerTimeout))
	err := b.ReadCloser.Close()
	b.p.bodyDone.Store(true)
	b.p.rc.SetReadDeadline(time.Time{})
	return err
}

// progressWriter is a response writer whose writes are cut after t.Write
// without progress.
type progressWriter struct {
	http.ResponseWriter
	p *progress
}

// answer runs once, before the answer's header is written: an answer that
// starts before the body was read to its end closes the connection.
func (w *progressWriter) answer() {
	w.p.answered.Do(func() {
		if w.p.hasBody && !w.p.bodyDone.Load() {
			w.Header().Set("Connection", "close")
		}
	})
}

func (w *progressWriter) WriteHeader(code int) {
	if code >= 200 {
		w.answer()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *progressWriter) Write(p []byte) (int, error) {
	w.answer()
	if len(p) >= corkMin {
		w.p.cork()
	}
	if w.p.t.Write <= 0 {
		return w.ResponseWriter.Write(p)
	}
	n := 0
	for len(p) > 0 {
		c := min(len(p), writeChunk)
		w.p.extendWrite()
		m, err := w.ResponseWriter.Write(p[:c])
		n += m
		if err != nil {
			w.p.writeFailed.Store(true)
			return n, err
		}
		p = p[c:]
	}
	return n, nil
}

// FlushError flushes the answer under a write deadline; http.Flusher and
// http.ResponseController find it.
func (w *progressWriter) FlushError() error {
	w.answer()
	if w.p.t.Write > 0 {
		w.p.extendWrite()
	}
	err := w.p.rc.Flush()
	w.p.uncork() // a flushed answer leaves now, not when the cork is out
	return err
}

// Flush is FlushError without the error.
func (w *progressWriter) Flush() { _ = w.FlushError() }

// Unwrap returns the server's writer, for http.ResponseController.
func (w *progressWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
