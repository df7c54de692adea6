//go:build unix

package egress

import (
	"errors"
	"net"
	"syscall"
)

// open reports whether an idle connection is still usable: the peer has
// not closed it and has sent nothing unasked. One non-blocking peek.
func open(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	usable := false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// EAGAIN: nothing to read, still open. A byte (unasked data) or
		// EOF (n == 0, no error) or an error: not usable.
		usable = errors.Is(rerr, syscall.EAGAIN)
		return true
	})
	return err == nil && usable
}
