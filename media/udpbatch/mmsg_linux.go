//go:build linux && (amd64 || arm64)

package udpbatch

import (
	"net"
	"net/netip"
	"syscall"
	"unsafe"
)

const batched = true

// mmsghdr is struct mmsghdr on 64-bit Linux: a msghdr and the length the
// kernel moved for it.
type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
	_   [4]byte
}

// IO is one goroutine's scratch space for batches of up to its size: the
// kernel's message headers, I/O vectors and address buffers, reused for
// every call so that a batch allocates nothing.
type IO struct {
	hs    []mmsghdr
	iov   []syscall.Iovec
	names []syscall.RawSockaddrInet6
	// ctl is one UDP_SEGMENT control message per header, for trains.
	ctl []byte

	// The call in progress, for the RawConn callbacks below (built once:
	// a closure per call would allocate).
	cur     int // first message for the kernel
	end     int // one past the last
	got     int
	errno   syscall.Errno
	readFn  func(fd uintptr) bool
	writeFn func(fd uintptr) bool
}

// NewIO returns scratch space for batches of up to n messages.
func NewIO(n int) *IO {
	n = max(n, 1)
	io := &IO{hs: make([]mmsghdr, n), iov: make([]syscall.Iovec, n), names: make([]syscall.RawSockaddrInet6, n), ctl: make([]byte, n*segCtlSpace)}
	io.readFn = io.recv
	io.writeFn = io.send
	return io
}

// Size is the largest batch the IO takes.
func (io *IO) Size() int { return len(io.hs) }

// Write sends every message of ms (at most Size at a time; longer slices
// are sent in several calls). It never waits for buffer space: a datagram
// the kernel refuses (full send buffer, no route) is marked Failed and the
// rest still go. It returns how many failed and the first error.
func (io *IO) Write(c *Conn, ms []Message) (failed int, err error) {
	for len(ms) > 0 {
		k := min(len(ms), len(io.hs))
		io.prepareWrite(ms[:k], c.v6)
		for sent := 0; sent < k; {
			io.cur, io.end, io.got, io.errno = sent, k, 0, 0
			if cerr := c.rc.Write(io.writeFn); cerr != nil {
				for i := sent; i < k; i++ {
					ms[i].Failed = true
				}
				return failed + k - sent, cerr
			}
			if io.errno != 0 {
				// The message at io.cur was refused; skip it.
				ms[sent].Failed = true
				failed++
				if err == nil {
					err = &net.OpError{Op: "sendmmsg", Net: "udp", Addr: net.UDPAddrFromAddrPort(ms[sent].Addr), Err: io.errno}
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

// segCtlSpace is CMSG_SPACE(sizeof(uint16)): a control message header
// (length, level, type) and the segment size, padded to 8 bytes.
const segCtlSpace = 24

const (
	solUDP     = 17  // SOL_UDP
	udpSegment = 103 // UDP_SEGMENT
)

// prepareWrite fills the kernel headers for sending ms.
func (io *IO) prepareWrite(ms []Message, v6 bool) {
	// A train takes an I/O vector per datagram: grow the vectors once to
	// the batch's need (trains are few and short, so this settles early).
	need := 0
	for i := range ms {
		need += max(len(ms[i].Segs), 1)
	}
	if need > len(io.iov) {
		io.iov = make([]syscall.Iovec, need)
	}
	v := 0
	for i := range ms {
		m := &ms[i]
		m.Failed = false
		h := &io.hs[i]
		h.hdr = syscall.Msghdr{}
		iov := io.iov[v:]
		if len(m.Segs) > 1 {
			for k, seg := range m.Segs {
				iov[k] = syscall.Iovec{}
				if len(seg) > 0 {
					iov[k].Base = &seg[0]
				}
				iov[k].SetLen(len(seg))
			}
			h.hdr.Iovlen = uint64(len(m.Segs))
			c := io.ctl[i*segCtlSpace : (i+1)*segCtlSpace]
			clear(c)
			ch := (*syscall.Cmsghdr)(unsafe.Pointer(&c[0]))
			ch.Level, ch.Type = solUDP, udpSegment
			ch.SetLen(syscall.CmsgLen(2))
			*(*uint16)(unsafe.Pointer(&c[syscall.CmsgLen(0)])) = uint16(len(m.Segs[0]))
			h.hdr.Control = &c[0]
			h.hdr.SetControllen(segCtlSpace)
		} else {
			buf := m.Buf
			if len(m.Segs) == 1 {
				buf = m.Segs[0]
			}
			iov[0] = syscall.Iovec{}
			if len(buf) > 0 {
				iov[0].Base = &buf[0]
			}
			iov[0].SetLen(len(buf))
			h.hdr.Iovlen = 1
		}
		h.hdr.Iov = &iov[0]
		v += max(len(m.Segs), 1)
		h.hdr.Name = (*byte)(unsafe.Pointer(&io.names[i]))
		h.hdr.Namelen = encodeAddr(&io.names[i], m.Addr, v6)
	}
}

func (io *IO) send(fd uintptr) bool {
	hs := io.hs[io.cur:io.end]
	n := len(hs)
	for {
		r, _, e := syscall.Syscall6(sysSENDMMSG, fd, uintptr(unsafe.Pointer(&hs[0])), uintptr(n), syscall.MSG_DONTWAIT, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			io.errno = e
			return true
		}
		io.got = int(r)
		return true
	}
}

// Read waits for at least one datagram and receives as many as are queued,
// up to min(len(ms), Size). Each message's Buf must have room; N, Addr,
// Trunc and NOOB are filled in. Errors from a closed socket wrap
// net.ErrClosed.
func (io *IO) Read(c *Conn, ms []Message) (int, error) {
	k := min(len(ms), len(io.hs))
	if k == 0 {
		return 0, ErrEmpty
	}
	io.prepareRead(ms[:k])
	io.cur, io.end, io.got, io.errno = 0, k, 0, 0
	if err := c.rc.Read(io.readFn); err != nil {
		return 0, err
	}
	if io.errno != 0 {
		return 0, &net.OpError{Op: "recvmmsg", Net: "udp", Err: io.errno}
	}
	io.finishRead(ms)
	return io.got, nil
}

// prepareRead fills the kernel headers for receiving into ms.
func (io *IO) prepareRead(ms []Message) {
	for i := range ms {
		m := &ms[i]
		h := &io.hs[i]
		h.hdr = syscall.Msghdr{}
		h.n = 0
		if len(m.Buf) > 0 {
			io.iov[i].Base = &m.Buf[0]
		} else {
			io.iov[i].Base = nil
		}
		io.iov[i].SetLen(len(m.Buf))
		h.hdr.Iov = &io.iov[i]
		h.hdr.Iovlen = 1
		h.hdr.Name = (*byte)(unsafe.Pointer(&io.names[i]))
		h.hdr.Namelen = syscall.SizeofSockaddrInet6
		if len(m.OOB) > 0 {
			h.hdr.Control = &m.OOB[0]
			h.hdr.SetControllen(len(m.OOB))
		}
	}
}

// finishRead copies what the kernel reported for the io.got messages.
func (io *IO) finishRead(ms []Message) {
	for i := range io.got {
		m := &ms[i]
		h := &io.hs[i]
		m.N = int(h.n)
		m.Trunc = h.hdr.Flags&syscall.MSG_TRUNC != 0
		m.NOOB = int(h.hdr.Controllen)
		m.Addr = decodeAddr(&io.names[i])
	}
}

func (io *IO) recv(fd uintptr) bool {
	for {
		r, _, e := syscall.Syscall6(sysRECVMMSG, fd, uintptr(unsafe.Pointer(&io.hs[0])), uintptr(io.end), syscall.MSG_DONTWAIT, 0, 0)
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			return false // nothing queued: let the poller wait
		case e != 0:
			io.errno = e
			return true
		}
		io.got = int(r)
		return true
	}
}

// encodeAddr writes a into sa as the socket's family expects and returns
// the address length.
func encodeAddr(sa *syscall.RawSockaddrInet6, a netip.AddrPort, v6 bool) uint32 {
	ip := a.Addr()
	port := a.Port()
	if !v6 && ip.Is4In6() {
		ip = ip.Unmap()
	}
	// An IPv6 destination on an IPv4 socket is written as such: the
	// kernel refuses it (that message fails), as sendto would.
	if !v6 && ip.Is4() {
		s4 := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		*s4 = syscall.RawSockaddrInet4{Family: syscall.AF_INET}
		p := (*[2]byte)(unsafe.Pointer(&s4.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		s4.Addr = ip.As4()
		return syscall.SizeofSockaddrInet4
	}
	*sa = syscall.RawSockaddrInet6{Family: syscall.AF_INET6}
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	sa.Addr = ip.As16()
	return syscall.SizeofSockaddrInet6
}

func decodeAddr(sa *syscall.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case syscall.AF_INET:
		s4 := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		p := (*[2]byte)(unsafe.Pointer(&s4.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(s4.Addr), uint16(p[0])<<8|uint16(p[1]))
	case syscall.AF_INET6:
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return unmap(netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(p[0])<<8|uint16(p[1])))
	}
	return netip.AddrPort{}
}
