//go:build !(linux && (amd64 || arm64))

package udpbatch

import (
	"errors"
	"net/netip"
)

const batched = false

// IO is one goroutine's scratch space for batches. This build has no
// batching system calls: every datagram is its own call.
type IO struct{ n int }

// NewIO returns scratch space for batches of up to n messages.
func NewIO(n int) *IO { return &IO{n: max(n, 1)} }

// Size is the largest batch the IO takes.
func (io *IO) Size() int { return io.n }

// Write sends every message of ms; see the Linux version.
func (io *IO) Write(c *Conn, ms []Message) (failed int, err error) {
	for i := range ms {
		m := &ms[i]
		m.Failed = false
		bufs := m.Segs
		if len(bufs) == 0 {
			bufs = [][]byte{m.Buf}
		}
		for _, b := range bufs {
			if _, werr := c.uc.WriteToUDPAddrPort(b, m.Addr); werr != nil {
				m.Failed = true
				if err == nil {
					err = werr
				}
			}
		}
		if m.Failed {
			failed++
		}
	}
	return failed, err
}

// Read receives one datagram into ms[0].
func (io *IO) Read(c *Conn, ms []Message) (int, error) {
	if len(ms) == 0 {
		return 0, ErrEmpty
	}
	m := &ms[0]
	n, noob, flags, from, err := c.uc.ReadMsgUDPAddrPort(m.Buf, m.OOB)
	if err != nil {
		return 0, err
	}
	m.N, m.NOOB, m.Addr = n, noob, unmap(from)
	m.Trunc = flags&0x20 != 0 // MSG_TRUNC on the BSDs and Linux
	return 1, nil
}

// Polled is not available on this platform; ListenPolled fails.
type Polled struct{}

// ListenPolled reports that polled sockets need Linux.
func ListenPolled(addr netip.AddrPort, rcvbuf int) (*Polled, error) {
	return nil, errors.New("udpbatch: polled sockets need Linux (amd64, arm64)")
}

// LocalAddr is the bound address.
func (p *Polled) LocalAddr() netip.AddrPort { return netip.AddrPort{} }

// Close closes the socket.
func (p *Polled) Close() error { return nil }

// Control is not available on this platform.
func (p *Polled) Control(f func(fd uintptr)) error { return errors.New("udpbatch: no polled sockets") }

// SetGSO is not available on this platform.
func (p *Polled) SetGSO(size int) error { return errors.New("udpbatch: no polled sockets") }

// Drain is not available on this platform.
func (io *IO) Drain(p *Polled, ms []Message) (int, error) {
	return 0, errors.New("udpbatch: no polled sockets")
}

// Send is not available on this platform.
func (io *IO) Send(p *Polled, ms []Message) (int, error) {
	return len(ms), errors.New("udpbatch: no polled sockets")
}
