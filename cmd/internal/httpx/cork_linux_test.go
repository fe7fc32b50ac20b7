package httpx

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// corkOf reads TCP_CORK of c.
func corkOf(t *testing.T, c net.Conn) int {
	t.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	v := -1
	var gerr error
	rc.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK) })
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}

// A large write corks the connection, a flush uncorks it, and the answer
// is never left corked after the handler: the client gets every byte of
// each answer, on the same connection, and a small answer never corks.
func TestServer_Cork(t *testing.T) {
	type state struct{ afterSmall, afterWrite, afterFlush, afterSecond int }
	states := make(chan state, 1)
	after := make(chan int, 4)
	s := NewServer("test", nil)
	var last net.Conn
	s.Route("GET /big", func(w http.ResponseWriter, r *http.Request) {
		c := connOf(r.Context())
		last = c
		var st state
		w.Header().Set("Content-Length", fmt.Sprint(100+3*corkMin))
		w.Write(make([]byte, 100))
		st.afterSmall = corkOf(t, c)
		w.Write(make([]byte, corkMin))
		st.afterWrite = corkOf(t, c)
		http.NewResponseController(w).Flush()
		st.afterFlush = corkOf(t, c)
		w.Write(make([]byte, 2*corkMin))
		st.afterSecond = corkOf(t, c)
		states <- st
	})
	s.Route("GET /check", func(w http.ResponseWriter, r *http.Request) {
		after <- corkOf(t, last) // the previous answer's state, same connection
		io.WriteString(w, "ok")
	})
	conn := dial(t, serveTimeouts(t, s, testTimeouts))
	conn.SetDeadline(time.Now().Add(bound))
	br := bufio.NewReader(conn)
	get := func(path string) int64 {
		t.Helper()
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := get("/big"); n != 100+3*corkMin {
		t.Errorf("got %d bytes, want %d", n, 100+3*corkMin)
	}
	if got, want := <-states, (state{0, 1, 0, 1}); got != want {
		t.Errorf("TCP_CORK small write, large write, flush, large write = %+v, want %+v", got, want)
	}
	if n := get("/check"); n != 2 {
		t.Errorf("got %d bytes, want 2", n)
	}
	if v := <-after; v != 0 {
		t.Errorf("TCP_CORK after the handler = %d, want 0", v)
	}
}
