//go:build !linux

package httpx

import "net"

// setCork does nothing where TCP_CORK does not exist.
func setCork(net.Conn, bool) bool { return false }
