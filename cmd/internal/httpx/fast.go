package httpx

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/wptfeed/wptfeed/feed"
)

// Fast serves GET and HEAD of path, a route already mounted with Route as
// pattern, straight from the bytes of the document doc returns, without
// net/http, on the connections Serve accepts: a feed document polled by
// many readers then costs a header parse and one write per request, as a
// static file does in nginx.
//
// Only the plainest requests take this path: HTTP/1.1, GET or HEAD of path
// exactly (no query), with one Host field and no field but those that do
// not change the answer (User-Agent, Accept, Cookie, …) and those
// feed.Document.RawAnswer evaluates (Accept-Encoding, If-None-Match,
// If-Modified-Since, once each), the whole header within 4 KiB. Any other
// request, or a nil document (doc failed: net/http's route answers the
// error), hands its connection, with the bytes already read, to net/http
// for good: the answers of both paths are the same (the route's handler
// must serve doc's document with feed.Serve), and so are the route's
// metrics and the Timeouts. doc is called per request, with Serve's
// context; it must be cheap when the document has not changed.
func (s *Server) Fast(pattern, path string, doc func(context.Context) *feed.Document) {
	rm := s.routes[pattern]
	if rm == nil {
		panic("httpx: Fast of " + pattern + ", which is not a route")
	}
	if s.fast == nil {
		s.fast = map[string]*fastRoute{}
	}
	s.fast[path] = &fastRoute{doc: doc, metrics: rm}
}

// fastRoute is a route of Fast.
type fastRoute struct {
	doc     func(context.Context) *feed.Document
	metrics *routeMetrics
}

// fastBufSize is the read buffer of a connection on the fast path: a
// request whose header does not fit goes to net/http.
const fastBufSize = 4 << 10

// fastListener accepts the connections of Serve: it serves each on the
// fast path, and its Accept returns (to net/http) those handed over.
type fastListener struct {
	net.Listener
	ctx     context.Context
	routes  map[string]*fastRoute
	t       Timeouts
	handoff chan net.Conn
	errc    chan error
	closed  chan struct{}
	once    sync.Once
	mu      sync.Mutex
	conns   map[net.Conn]struct{} // on the fast path
	wg      sync.WaitGroup
}

func newFastListener(ctx context.Context, ln net.Listener, routes map[string]*fastRoute, t Timeouts) *fastListener {
	l := &fastListener{
		Listener: ln, ctx: ctx, routes: routes, t: t,
		handoff: make(chan net.Conn), errc: make(chan error), closed: make(chan struct{}),
		conns: map[net.Conn]struct{}{},
	}
	go l.acceptLoop()
	return l
}

// acceptLoop accepts connections and serves each on the fast path. An
// accept error goes to net/http's next Accept (which backs off after a
// temporary one, and stops on any other) before the loop accepts again.
func (l *fastListener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			select {
			case l.errc <- err:
				continue
			case <-l.closed:
				return
			}
		}
		l.mu.Lock()
		if l.isClosed() {
			l.mu.Unlock()
			c.Close()
			return
		}
		l.conns[c] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go l.serve(c)
	}
}

// Accept returns the next connection handed over by the fast path.
func (l *fastListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.handoff:
		return c, nil
	case err := <-l.errc:
		return nil, err
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close closes the listener and cuts the fast path's connections that
// wait for a request (those answering finish their answer first).
func (l *fastListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() {
		l.mu.Lock()
		close(l.closed)
		for c := range l.conns {
			c.SetReadDeadline(time.Now())
		}
		l.mu.Unlock()
	})
	return err
}

func (l *fastListener) isClosed() bool {
	select {
	case <-l.closed:
		return true
	default:
		return false
	}
}

// wait waits for the fast path's connections to end, and closes those
// left when ctx ends.
func (l *fastListener) wait(ctx context.Context) {
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		l.mu.Lock()
		for c := range l.conns {
			c.Close()
		}
		l.mu.Unlock()
		<-done
	}
}

// fastConn is a connection on the fast path.
type fastConn struct {
	l  *fastListener
	c  net.Conn
	br *bufio.Reader
	// out is the answer's header, rebuilt per request; bufs writes it and
	// the body in one writev.
	out   []byte
	bufs  [2][]byte
	wbufs net.Buffers
	// date is the Date field of second dateSec, formatted once a second.
	date    []byte
	dateSec int64
	// writeDeadline is the write deadline last set.
	writeDeadline stallDeadline
}

// serve answers c's requests until one is not for the fast path (c then
// goes to net/http), c fails or closes, or the listener closes.
func (l *fastListener) serve(c net.Conn) {
	fc := &fastConn{l: l, c: c, br: bufio.NewReaderSize(c, fastBufSize)}
	handed := false
	defer func() {
		l.mu.Lock()
		delete(l.conns, c)
		l.mu.Unlock()
		if !handed {
			c.Close()
		}
		l.wg.Done()
	}()
	for first := true; ; first = false {
		// A new connection must send its first request within the header
		// timeout, as net/http's; a kept-alive one waits for its next
		// request up to the idle timeout.
		if !first && fc.br.Buffered() == 0 {
			if !fc.setReadDeadline(l.t.Idle) {
				return
			}
			if _, err := fc.br.Peek(1); err != nil {
				return
			}
		}
		if !fc.setReadDeadline(l.t.Header) {
			return
		}
		n, err := fc.readHeader()
		if err != nil {
			return
		}
		if n > 0 {
			if answered, closing := fc.answer(n); answered {
				if closing {
					return
				}
				continue
			}
		}
		handed = fc.handOver()
		return
	}
}

// setReadDeadline sets the read deadline d from now (none for 0), and
// reports false if the listener closed: Close's deadline, set after
// closed was, then prevails over this one.
func (fc *fastConn) setReadDeadline(d time.Duration) bool {
	var t time.Time
	if d > 0 {
		t = time.Now().Add(d)
	}
	fc.c.SetReadDeadline(t)
	return !fc.l.isClosed()
}

// readHeader reads until the buffer holds a whole request header, and
// returns its length (blank line included); 0 if it does not fit in the
// buffer. It returns the read's error (a timeout, the client gone).
func (fc *fastConn) readHeader() (int, error) {
	for {
		buf, _ := fc.br.Peek(fc.br.Buffered())
		if n := headerEnd(buf); n > 0 {
			return n, nil
		}
		if len(buf) == fc.br.Size() {
			return 0, nil
		}
		if _, err := fc.br.Peek(len(buf) + 1); err != nil {
			return 0, err
		}
	}
}

// answer answers the request whose header is the buffer's first n bytes,
// if it is for the fast path, and reports whether it did (false: nothing
// was read or written), and whether the connection must then close
// (Connection: close, a failed write, the listener closed).
func (fc *fastConn) answer(n int) (answered, closing bool) {
	hdr, _ := fc.br.Peek(n)
	// One allocation: the fields' values are substrings of this copy.
	req, route, closeConn, ok := parseFast(string(hdr), fc.l.routes)
	if !ok {
		return false, false
	}
	start := time.Now()
	doc := route.doc(fc.l.ctx)
	if doc == nil {
		return false, false
	}
	code, head, body := doc.RawAnswer(req)
	fc.br.Discard(n)
	if fc.l.isClosed() {
		closeConn = true // as net/http while shutting down
	}
	fc.out = append(fc.out[:0], head...)
	fc.out = fc.appendDate(fc.out, start)
	if closeConn {
		fc.out = append(fc.out, "Connection: close\r\n"...)
	}
	fc.out = append(fc.out, "\r\n"...)
	if fc.write(body) != nil {
		closeConn = true
	}
	route.metrics.counter(code).Inc()
	route.metrics.latency.Observe(time.Since(start).Seconds())
	return true, closeConn
}

// write writes the answer's header (fc.out) and body, in one writev when
// the body fits in a write chunk, each chunk under the write deadline as
// progressWriter's.
func (fc *fastConn) write(body []byte) error {
	first := body
	if fc.l.t.Write > 0 && len(first) > writeChunk {
		first = first[:writeChunk]
	}
	fc.extendWrite()
	fc.bufs = [2][]byte{fc.out, first}
	fc.wbufs = fc.bufs[:] // a field: a local would escape, an allocation per answer
	if _, err := fc.wbufs.WriteTo(fc.c); err != nil {
		return err
	}
	for rest := body[len(first):]; len(rest) > 0; {
		c := min(len(rest), writeChunk)
		fc.extendWrite()
		if _, err := fc.c.Write(rest[:c]); err != nil {
			return err
		}
		rest = rest[c:]
	}
	return nil
}

// extendWrite moves the write deadline to t.Write from now, if there is
// one (see stallDeadline).
func (fc *fastConn) extendWrite() {
	if w := fc.l.t.Write; w > 0 {
		if d, ok := fc.writeDeadline.next(w); ok {
			fc.c.SetWriteDeadline(d)
		}
	}
}

// appendDate appends the Date field of now, as net/http sends it.
func (fc *fastConn) appendDate(b []byte, now time.Time) []byte {
	if sec := now.Unix(); sec != fc.dateSec || fc.date == nil {
		fc.dateSec = sec
		fc.date = append(fc.date[:0], "Date: "...)
		fc.date = now.UTC().AppendFormat(fc.date, http.TimeFormat)
		fc.date = append(fc.date, "\r\n"...)
	}
	return append(b, fc.date...)
}

// handOver gives the connection, with the bytes read and not answered, to
// net/http's Accept, and reports whether it did (not once the listener
// closed).
func (fc *fastConn) handOver() bool {
	// net/http sets its own deadlines as it reads and writes.
	fc.c.SetReadDeadline(time.Time{})
	fc.c.SetWriteDeadline(time.Time{})
	var pc net.Conn = fc.c
	if fc.br.Buffered() > 0 {
		pc = &prefixConn{Conn: fc.c, br: fc.br}
	}
	select {
	case fc.l.handoff <- pc:
		return true
	case <-fc.l.closed:
		return false
	}
}

// prefixConn is a connection whose reads return the bytes its reader holds
// before any more of the connection's.
type prefixConn struct {
	net.Conn
	br *bufio.Reader // nil once drained
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if c.br != nil {
		if c.br.Buffered() > 0 {
			return c.br.Read(p)
		}
		c.br = nil
	}
	return c.Conn.Read(p)
}

// NetConn returns the connection underneath (for TCP_CORK).
func (c *prefixConn) NetConn() net.Conn { return c.Conn }
