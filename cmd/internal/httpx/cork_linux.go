package httpx

import (
	"net"
	"syscall"
)

// setCork sets or clears TCP_CORK on c if it is (or wraps) a TCP connection, and
// reports whether it could.
func setCork(c net.Conn, on bool) bool {
	if pc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = pc.NetConn() // a connection the fast path handed over
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	v := 0
	if on {
		v = 1
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, v)
	}); err != nil {
		return false
	}
	return serr == nil
}
