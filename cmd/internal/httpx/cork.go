package httpx

import (
	"context"
	"net"
)

// corkMin is the smallest write that corks the connection: net/http sends
// an answer through a 4 KiB connection buffer, so a larger one leaves in
// two or more writes, and without a cork each goes out as its own TCP
// segment (with TCP_NODELAY, as Go sets it) and wakes the client up once
// more. Corked, the kernel sends full segments only, until the answer is
// flushed and the cork taken out. On loopback this is a third more
// answers per second for a 27 KB feed document (bench/feed.sh).
const corkMin = 2 << 10

// connKey is the context key of the connection a request came on.
type connKey struct{}

// withConn is the servers' http.Server.ConnContext: it keeps the
// connection in each request's context, for cork.
func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// connOf returns the connection a request came on, nil if unknown.
func connOf(ctx context.Context) net.Conn {
	c, _ := ctx.Value(connKey{}).(net.Conn)
	return c
}
