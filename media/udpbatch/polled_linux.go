//go:build linux && (amd64 || arm64)

package udpbatch

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"unsafe"
)

// Polled is a UDP socket outside Go's network poller, read by draining it
// now and then instead of waiting for each datagram. Nobody waits on its
// queues, so neither an arriving datagram nor a sent one being freed wakes
// anything: with many datagrams a second per socket those wake-ups (and
// the epoll work behind them, which Go's poller asks for on every socket)
// cost as much as the rest of the kernel's work. With SO_TIMESTAMPNS the
// arrival times stay exact however late the drain.
//
// Drain, Send and Close may be called concurrently: Close waits for the
// calls in progress, later ones fail with net.ErrClosed.
type Polled struct {
	mu     sync.RWMutex
	fd     int
	closed bool
	v6     bool
	local  netip.AddrPort
}

// ListenPolled binds a non-blocking UDP socket on addr (port 0: any), with
// buffers of buf bytes (forced past rmem_max/wmem_max when allowed) and
// kernel receive timestamps. An IPv6 address (or ::) gives a dual-stack
// socket.
func ListenPolled(addr netip.AddrPort, buf int) (*Polled, error) {
	v6 := !addr.Addr().Is4()
	family := syscall.AF_INET
	if v6 {
		family = syscall.AF_INET6
	}
	fd, err := syscall.Socket(family, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("udpbatch: socket: %w", err)
	}
	fail := func(what string, err error) (*Polled, error) {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("udpbatch: %s: %w", what, err)
	}
	for _, o := range []int{syscall.SO_RCVBUF, syscall.SO_SNDBUF, syscall.SO_RCVBUFFORCE, syscall.SO_SNDBUFFORCE} {
		_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, o, buf)
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1); err != nil {
		return fail("SO_TIMESTAMPNS", err)
	}
	var sa syscall.Sockaddr = &syscall.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}
	if v6 {
		_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 0)
		sa = &syscall.SockaddrInet6{Port: int(addr.Port()), Addr: addr.Addr().As16()}
	}
	if err := syscall.Bind(fd, sa); err != nil {
		return fail("bind "+addr.String(), err)
	}
	got, err := syscall.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	p := &Polled{fd: fd, v6: v6}
	switch a := got.(type) {
	case *syscall.SockaddrInet4:
		p.local = netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *syscall.SockaddrInet6:
		p.local = netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return p, nil
}

// LocalAddr is the bound address.
func (p *Polled) LocalAddr() netip.AddrPort { return p.local }

// SetGSO turns on UDP segmentation offload for sends (UDP_SEGMENT): a
// datagram longer than size leaves as consecutive datagrams of size bytes
// (the last one shorter), up to 64 of them, for the cost of one trip
// through the stack. All go to the one destination: it only helps a
// sender with many packets for the same address and port.
func (p *Polled) SetGSO(size int) error {
	const solUDP, udpSegment = 17, 103
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return net.ErrClosed
	}
	if err := syscall.SetsockoptInt(p.fd, solUDP, udpSegment, size); err != nil {
		return fmt.Errorf("udpbatch: UDP_SEGMENT: %w", err)
	}
	return nil
}

// Control calls f with the socket's descriptor (for options this package
// does not set), unless the socket is closed.
func (p *Polled) Control(f func(fd uintptr)) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return net.ErrClosed
	}
	f(uintptr(p.fd))
	return nil
}

// Close closes the socket once the calls in progress are done.
func (p *Polled) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	return syscall.Close(p.fd)
}

// Drain receives what is queued, up to min(len(ms), io.Size()), without
// waiting: 0 when nothing is.
func (io *IO) Drain(p *Polled, ms []Message) (int, error) {
	k := min(len(ms), len(io.hs))
	if k == 0 {
		return 0, ErrEmpty
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return 0, net.ErrClosed
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
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		for i := range ms {
			ms[i].Failed = true
		}
		return len(ms), net.ErrClosed
	}
	for len(ms) > 0 {
		k := min(len(ms), len(io.hs))
		io.prepareWrite(ms[:k], p.v6)
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
