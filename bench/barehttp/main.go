//go:build linux

// Command barehttp serves one file's bytes, gzip-encoded as they are, at
// every path, with a bare net/http handler: the headers the publisher sends
// with its gzip representation, the body in one Write, TCP_CORK around it
// as the publisher's servers set it (-cork=false: none). bench/feed.sh runs
// it beside the publisher and nginx: it is the most a net/http server can
// do with the same bytes on the same machine, without the publisher's
// routing, metrics, timeouts or feed logic.
//
//	go run ./bench/barehttp -addr 127.0.0.1:8081 -file feed.atom.gz [-cork=false]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
)

type connKey struct{}

// setCork sets or clears TCP_CORK on c.
func setCork(c net.Conn, on int) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	if rc, err := tc.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, on) })
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "address to listen on")
	file := flag.String("file", "", "gzip bytes to serve")
	cork := flag.Bool("cork", true, "set TCP_CORK around each answer")
	flag.Parse()
	body, err := os.ReadFile(*file)
	if err != nil {
		log.Fatal(err)
	}
	hdr := http.Header{
		"Cache-Control":          {"public, max-age=1"},
		"Content-Encoding":       {"gzip"},
		"Content-Length":         {strconv.Itoa(len(body))},
		"Content-Type":           {"application/atom+xml; charset=utf-8"},
		"Etag":                   {fmt.Sprintf(`"%x-gz"`, len(body))},
		"Last-Modified":          {"Mon, 30 Nov 2026 00:00:00 GMT"},
		"Vary":                   {"Accept-Encoding"},
		"X-Content-Type-Options": {"nosniff"},
	}
	h := func(w http.ResponseWriter, r *http.Request) {
		for k, v := range hdr {
			w.Header()[k] = v
		}
		c, _ := r.Context().Value(connKey{}).(net.Conn)
		if *cork && c != nil {
			setCork(c, 1)
		}
		w.WriteHeader(http.StatusOK)
		w.Write(body)
		if *cork && c != nil {
			http.NewResponseController(w).Flush()
			setCork(c, 0)
		}
	}
	srv := &http.Server{
		Addr:        *addr,
		Handler:     http.HandlerFunc(h),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) },
	}
	log.Fatal(srv.ListenAndServe())
}
