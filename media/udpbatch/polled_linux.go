//go:build linux && (amd64 || arm64)

package udpbatch

import (
	"fmt"
	"net/netip"
	"syscall"
	"unsafe"
)

// Polled is a UDP socket outside Go's network poller, read by draining it
// now and then instead of waiting for each datagram. Nobody waits on its
// queue, so an arriving datagram wakes no thread: on loopback the sender
// otherwise pays for the receiver's wake-ups, which a peer on another
// machine never costs it. With SO_TIMESTAMPNS the arrival times stay
// exact however late the drain. For load drivers, not for the engine.
type Polled struct {
	fd    int
	local netip.AddrPort
}

// ListenPolled binds a non-blocking IPv4 UDP socket on addr (port 0: any),
// with receive buffer rcvbuf (forced past rmem_max when allowed) and kernel
// receive timestamps.
func ListenPolled(addr netip.AddrPort, rcvbuf int) (*Polled, error) {
	if !addr.Addr().Is4() {
		return nil, fmt.Errorf("udpbatch: polled sockets are IPv4 only (%s)", addr)
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("udpbatch: socket: %w", err)
	}
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, rcvbuf)
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("udpbatch: SO_TIMESTAMPNS: %w", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("udpbatch: bind %s: %w", addr, err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("udpbatch: getsockname: %w", err)
	}
	s4 := sa.(*syscall.SockaddrInet4)
	return &Polled{fd: fd, local: netip.AddrPortFrom(netip.AddrFrom4(s4.Addr), uint16(s4.Port))}, nil
}

// LocalAddr is the bound address.
func (p *Polled) LocalAddr() netip.AddrPort { return p.local }

// Close closes the socket. Do not call it while a Drain or Send on it is
// in progress.
func (p *Polled) Close() error { return syscall.Close(p.fd) }

// Drain receives what is queued, up to min(len(ms), io.Size()), without
// waiting: 0 when nothing is.
func (io *IO) Drain(p *Polled, ms []Message) (int, error) {
	k := min(len(ms), len(io.hs))
	if k == 0 {
		return 0, ErrEmpty
	}
	io.prepareRead(ms[:k])
	for {
		r, _, e := syscall.Syscall6(sysRECVMMSG, uintptr(p.fd), uintptr(unsafe.Pointer(&io.hs[0])), uintptr(k), syscall.MSG_DONTWAIT, 0, 0)
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			return 0, nil
		case e != 0:
			return 0, fmt.Errorf("udpbatch: recvmmsg: %w", e)
		}
		io.got = int(r)
		io.finishRead(ms)
		return io.got, nil
	}
}

// Send sends every message of ms from p, without waiting; see Write.
func (io *IO) Send(p *Polled, ms []Message) (failed int, err error) {
	for len(ms) > 0 {
		k := min(len(ms), len(io.hs))
		io.prepareWrite(ms[:k], false)
		for sent := 0; sent < k; {
			io.cur, io.end, io.got, io.errno = sent, k, 0, 0
			io.send(uintptr(p.fd))
			if io.errno != 0 {
				ms[sent].Failed = true
				failed++
				if err == nil {
					err = fmt.Errorf("udpbatch: sendmmsg to %s: %w", ms[sent].Addr, io.errno)
				}
				sent++
				continue
			}
			sent += io.got
		}
		ms = ms[k:]
	}
	return failed, err
}
