package udpbatch

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// Message is one datagram of a batch.
type Message struct {
	// Buf is the datagram to send, or the room to receive into.
	Buf []byte
	// Segs, when it has more than one buffer, is sent instead of Buf as a
	// train: datagrams Segs[0], Segs[1], … to Addr for one trip through
	// the network stack (UDP generic segmentation offload, UDP_SEGMENT).
	// Every buffer but the last must be len(Segs[0]) bytes, and there are
	// at most MaxSegments. A kernel or device without segmentation
	// offload refuses the train as a whole (the message is Failed): the
	// caller then sends the datagrams one by one. Where the platform has
	// no offload the datagrams go one per call.
	Segs [][]byte
	// Addr is the destination when sending, the source after receiving.
	Addr netip.AddrPort
	// N is the received datagram's length (at most len(Buf)).
	N int
	// Trunc reports a received datagram longer than Buf (cut to len(Buf)).
	Trunc bool
	// OOB is room for control messages when receiving (e.g.
	// SO_TIMESTAMPNS); nil receives none. NOOB is how much was filled.
	OOB  []byte
	NOOB int
	// Failed is set by Write on messages the kernel refused (counted in
	// Write's result; the others were sent).
	Failed bool
}

// Conn is a UDP socket with batch I/O.
type Conn struct {
	uc *net.UDPConn
	rc syscall.RawConn
	// v6 is true for an AF_INET6 socket, whose IPv4 destinations must be
	// written as v4-mapped addresses.
	v6 bool
}

// NewConn wraps uc. The socket stays owned by the caller (close uc to
// close it; batches in progress then fail with net.ErrClosed).
func NewConn(uc *net.UDPConn) (*Conn, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("udpbatch: %w", err)
	}
	c := &Conn{uc: uc, rc: rc}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		var sa syscall.Sockaddr
		sa, serr = syscall.Getsockname(int(fd))
		_, c.v6 = sa.(*syscall.SockaddrInet6)
	}); err != nil {
		return nil, fmt.Errorf("udpbatch: %w", err)
	}
	if serr != nil {
		return nil, fmt.Errorf("udpbatch: getsockname: %w", serr)
	}
	return c, nil
}

// UDPConn is the wrapped socket.
func (c *Conn) UDPConn() *net.UDPConn { return c.uc }

// MaxSegments is the most datagrams one train (Message.Segs) carries: the
// kernel's UDP_MAX_SEGMENTS before Linux 6.9 (newer kernels take 128).
const MaxSegments = 64

// ErrEmpty is returned by Read when given no messages.
var ErrEmpty = errors.New("udpbatch: no messages to read into")

// Batched reports whether this build moves several datagrams per system
// call (false: the one-datagram-per-call fallback).
func Batched() bool { return batched }

// unmap turns a v4-mapped IPv6 source back into IPv4, as netip does not.
func unmap(a netip.AddrPort) netip.AddrPort {
	if a.Addr().Is4In6() {
		return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	}
	return a
}
