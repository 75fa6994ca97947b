package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/rtp"

	"github.com/hotlinecc/hotline/media/udpbatch"
)

// An endpoint is one local UDP socket and the goroutine reading it with
// batched receives. It carries either one leg (a port of its own, the
// classic layout) or many legs sharing the port, told apart by the
// peer's address and SSRC (demux.go).
type endpoint struct {
	alloc  *PortAllocator
	uc     *net.UDPConn
	bc     *udpbatch.Conn
	local  netip.AddrPort
	port   int
	shared bool
	// loop is the clock loop pacing this socket's legs, so that one
	// loop's batch goes out in few sendmmsg calls.
	loop *loop

	mu    sync.Mutex // the demux tables and legs
	legs  int
	only  *Session // a port of its own: its one leg
	dm    demux
	dmSet map[*Session]struct{}

	// current is the leg whose packet the reader is dispatching, so that
	// Close can wait until its last callback returns.
	current atomic.Pointer[Session]

	// Packets no leg could be given (shared sockets only).
	foreign, ambiguous, junk atomic.Uint64

	startOnce sync.Once
	done      chan struct{}
	wg        sync.WaitGroup
	rxBatch   int
	txSize    int
}

// openEndpoint binds a socket on ip with a port from alloc.
func openEndpoint(alloc *PortAllocator, ip netip.Addr, shared bool, loopIndex int) (*endpoint, error) {
	uc, port, err := alloc.bind(ip)
	if err != nil {
		return nil, err
	}
	ep, err := newEndpoint(alloc, uc, port, ip, shared, loopIndex)
	if err != nil {
		alloc.release(port)
	}
	return ep, err
}

// newEndpoint wraps a socket bound on port (closed on error; the caller
// gives the port back).
func newEndpoint(alloc *PortAllocator, uc *net.UDPConn, port int, ip netip.Addr, shared bool, loopIndex int) (*endpoint, error) {
	bc, err := udpbatch.NewConn(uc)
	if err != nil {
		_ = uc.Close()
		return nil, err
	}
	ep := &endpoint{
		alloc: alloc, uc: uc, bc: bc, port: port, shared: shared,
		local: netip.AddrPortFrom(ip, uint16(port)),
		loop:  theClock.pick(loopIndex),
		done:  make(chan struct{}),
	}
	if shared {
		// A shared socket takes everybody's packets: a deep queue rides
		// out a scheduling hiccup without loss.
		ep.rxBatch, ep.txSize = 32, txBatchSize
		setBuffers(uc, 4<<20)
		ep.dmSet = make(map[*Session]struct{})
		ep.dm.init()
	} else {
		ep.rxBatch, ep.txSize = 2, 2
	}
	return ep, nil
}

// setBuffers raises a socket's kernel buffers, past rmem_max/wmem_max
// when the process may (CAP_NET_ADMIN); failures leave the defaults.
func setBuffers(uc *net.UDPConn, n int) {
	_ = uc.SetReadBuffer(n)
	_ = uc.SetWriteBuffer(n)
	if rc, err := uc.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, n)
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUFFORCE, n)
		})
	}
}

// start launches the reader (idempotent).
func (ep *endpoint) start() {
	ep.startOnce.Do(func() {
		select {
		case <-ep.done:
			return
		default:
		}
		ep.wg.Add(1)
		go ep.readLoop()
	})
}

// close stops the reader, closes the socket and gives the port back.
func (ep *endpoint) close() error {
	ep.startOnce.Do(func() {})
	close(ep.done)
	var err error
	if cerr := ep.uc.Close(); cerr != nil {
		err = fmt.Errorf("close rtp socket %s: %w", ep.local, cerr)
	}
	ep.wg.Wait()
	ep.alloc.release(ep.port)
	return err
}

// closeLocked closes a shared socket that never started (allocator's mu
// held: the port is released in place).
func (ep *endpoint) closeLocked() {
	ep.startOnce.Do(func() {})
	close(ep.done)
	_ = ep.uc.Close()
	delete(ep.alloc.inUse, ep.port)
}

// load is the number of legs on the socket.
func (ep *endpoint) load() int {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.legs
}

// attach adds a leg to the socket.
func (ep *endpoint) attach(s *Session) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	ep.legs++
	if !ep.shared {
		ep.only = s
		return
	}
	ep.dmSet[s] = struct{}{}
	ep.dm.index(s)
}

// detach removes a leg and waits until the reader is no longer inside
// one of its callbacks: after Close nobody hears from the leg.
func (ep *endpoint) detach(s *Session) {
	ep.mu.Lock()
	ep.legs--
	if ep.shared {
		delete(ep.dmSet, s)
		ep.dm.unindex(s)
	} else if ep.only == s {
		ep.only = nil
	}
	ep.mu.Unlock()
	for i := 0; ep.current.Load() == s; i++ {
		if i < 100 {
			runtime.Gosched()
		} else {
			time.Sleep(100 * time.Microsecond)
		}
	}
}

// reindex refreshes a leg's demux keys after its peer, signalling source,
// signalled SSRC, latch or stream changed.
func (ep *endpoint) reindex(s *Session) {
	if !ep.shared {
		return
	}
	ep.mu.Lock()
	if _, ok := ep.dmSet[s]; ok {
		ep.dm.index(s)
	}
	ep.mu.Unlock()
}

// setStream records the SSRC a latched leg hears (for rule 1 and NAT
// rebinding, rule 5).
func (ep *endpoint) setStream(s *Session, ssrc uint32) {
	if !ep.shared {
		return
	}
	ep.mu.Lock()
	if _, ok := ep.dmSet[s]; ok {
		s.dk.rx, s.dk.hasRx = ssrc, true
		ep.dm.index(s)
	}
	ep.mu.Unlock()
}

// rxScratch is a reader's per-goroutine state.
type rxScratch struct {
	pkt   rtp.Packet
	frame [FrameSamples]int16
}

func (ep *endpoint) readLoop() {
	defer ep.wg.Done()
	n := ep.rxBatch
	io := udpbatch.NewIO(n)
	ms := make([]udpbatch.Message, n)
	buf := make([]byte, n*(maxPacket+1))
	for i := range ms {
		// One byte more than the largest packet taken: a longer datagram
		// is seen as such (Trunc) and dropped unparsed.
		ms[i].Buf = buf[i*(maxPacket+1) : (i+1)*(maxPacket+1)]
	}
	targets := make([]*Session, n)
	tx := newTxBatch(ep.txSize, pktRoom)
	var rx rxScratch
	errStreak := 0
	for {
		k, err := io.Read(ep.bc, ms)
		if err != nil {
			select {
			case <-ep.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// ICMP errors and the like are transient for an unconnected
			// socket; count and carry on, but never spin on an error that
			// keeps coming back.
			ep.junk.Add(1)
			if errStreak++; errStreak > 100 {
				ep.alloc.log().Warn("rtp read keeps failing", "local", ep.local.String(), "err", err)
				errStreak = 0
				select {
				case <-ep.done:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
			continue
		}
		errStreak = 0
		now := time.Now()
		tx.now = now
		ep.mu.Lock()
		for i := range k {
			targets[i] = ep.lookupLocked(ms[i].Buf[:ms[i].N], ms[i].Addr)
		}
		ep.mu.Unlock()
		for i := range k {
			s := targets[i]
			targets[i] = nil
			if s == nil {
				continue
			}
			m := &ms[i]
			ep.current.Store(s)
			if !s.closed.Load() {
				if m.Trunc || m.N > maxPacket {
					s.st.dropOversize.Add(1)
				} else {
					s.handlePacket(&rx, m.Buf[:m.N], m.Addr, now, tx)
				}
			}
			ep.current.Store(nil)
		}
		tx.flush()
	}
}

// lookupLocked finds the leg a datagram is for (nil: none, counted).
func (ep *endpoint) lookupLocked(b []byte, from netip.AddrPort) *Session {
	if !ep.shared {
		return ep.only
	}
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	var ssrc uint32
	hasSSRC := len(b) >= rtpHeaderLen && b[0]>>6 == 2
	if hasSSRC {
		ssrc = uint32(b[8])<<24 | uint32(b[9])<<16 | uint32(b[10])<<8 | uint32(b[11])
	}
	s, amb := ep.dm.lookup(from, ssrc, hasSSRC)
	if s != nil {
		return s
	}
	if !amb && ep.legs == 1 {
		// One leg on the socket: it judges the packet itself (and counts
		// it), exactly as on a port of its own.
		for only := range ep.dmSet {
			return only
		}
	}
	switch {
	case amb:
		ep.ambiguous.Add(1)
	case !hasSSRC:
		ep.junk.Add(1)
	default:
		ep.foreign.Add(1)
	}
	return nil
}
