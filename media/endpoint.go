package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/hotlinecc/hotline/media/udpbatch"
)

// An endpoint is one local UDP socket. It carries either one leg (a port
// of its own, the classic layout: read by its own goroutine through Go's
// poller) or many legs sharing the port, told apart by the peer's address
// and SSRC (demux.go): a shared socket is polled (udpbatch.Polled), drained
// every millisecond by one of the pool's readers, so that neither arriving
// nor sent packets wake anything (see pool.go).
type endpoint struct {
	alloc  *PortAllocator
	uc     *net.UDPConn     // own port
	bc     *udpbatch.Conn   // own port
	pc     *udpbatch.Polled // shared port
	local  netip.AddrPort
	port   int
	shared bool
	// loop is the clock loop pacing this socket's legs, so that one
	// loop's batch goes out in few sendmmsg calls.
	loop *loop

	mu    sync.Mutex // the demux tables and legs
	legs  int
	legsN atomic.Int32 // legs, for the pool's choice
	only  *Session     // a port of its own: its one leg
	dm    demux
	dmSet map[*Session]struct{}

	// current is the leg whose packet the reader is dispatching, so that
	// Close can wait until its last callback returns.
	current atomic.Pointer[Session]

	// noTrains is set once the kernel refused a train (train.go);
	// trained counts the datagrams that left in trains.
	noTrains atomic.Bool
	trained  atomic.Uint64

	// Packets no leg could be given (shared sockets only).
	foreign, ambiguous, junk atomic.Uint64

	startOnce sync.Once
	done      chan struct{}
	wg        sync.WaitGroup
}

// openEndpoint binds a socket for a leg of its own on ip with a port from
// alloc.
func openEndpoint(alloc *PortAllocator, ip netip.Addr, loopIndex int) (*endpoint, error) {
	uc, port, err := alloc.bind(ip)
	if err != nil {
		return nil, err
	}
	ep, err := newEndpoint(alloc, uc, port, ip, loopIndex)
	if err != nil {
		alloc.release(port)
	}
	return ep, err
}

// newEndpoint wraps a socket bound on port for a leg of its own (closed on
// error; the caller gives the port back).
func newEndpoint(alloc *PortAllocator, uc *net.UDPConn, port int, ip netip.Addr, loopIndex int) (*endpoint, error) {
	bc, err := udpbatch.NewConn(uc)
	if err != nil {
		_ = uc.Close()
		return nil, err
	}
	return &endpoint{
		alloc: alloc, uc: uc, bc: bc, port: port,
		local: netip.AddrPortFrom(ip, uint16(port)),
		loop:  theClock.pick(loopIndex),
		done:  make(chan struct{}),
	}, nil
}

// newSharedEndpoint wraps a polled socket bound on port.
func newSharedEndpoint(alloc *PortAllocator, pc *udpbatch.Polled, port int, ip netip.Addr, loopIndex int) *endpoint {
	ep := &endpoint{
		alloc: alloc, pc: pc, port: port, shared: true,
		local: netip.AddrPortFrom(ip, uint16(port)),
		loop:  theClock.pick(loopIndex),
		done:  make(chan struct{}),
		dmSet: make(map[*Session]struct{}),
	}
	ep.dm.init()
	return ep
}

// sharedBuffer is a shared socket's kernel buffers: it takes everybody's
// packets between two drains, and a deep queue rides out a scheduling
// hiccup without loss.
const sharedBuffer = 4 << 20

// send sends a group of packets of this socket.
func (ep *endpoint) send(io *udpbatch.IO, ms []udpbatch.Message) (int, error) {
	if ep.pc != nil {
		return io.Send(ep.pc, ms)
	}
	return io.Write(ep.bc, ms)
}

// start launches the reader of a port of its own (idempotent; a shared
// port is read by its pool).
func (ep *endpoint) start() {
	if ep.shared {
		return
	}
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
	var cerr error
	if ep.pc != nil {
		cerr = ep.pc.Close()
	} else {
		cerr = ep.uc.Close()
	}
	ep.wg.Wait()
	ep.alloc.release(ep.port)
	if cerr != nil {
		return fmt.Errorf("close rtp socket %s: %w", ep.local, cerr)
	}
	return nil
}

// load is the number of legs on the socket (read without ep.mu: the
// pool weighs its sockets while holding its own lock, and must not wait
// on a reader's).
func (ep *endpoint) load() int { return int(ep.legsN.Load()) }

// attach adds a leg to the socket.
func (ep *endpoint) attach(s *Session) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	ep.legs++
	ep.legsN.Add(1)
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
	ep.legsN.Add(-1)
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
	pkt     rtp.Packet
	frame   [FrameSamples]int16
	targets []*Session
}

// newReadBuffers returns n receive messages with room for the largest
// packet taken plus one byte (a longer datagram is seen as such, Trunc,
// and dropped unparsed), and control room for a kernel timestamp.
func newReadBuffers(n int, oob bool) []udpbatch.Message {
	ms := make([]udpbatch.Message, n)
	buf := make([]byte, n*(maxPacket+1))
	for i := range ms {
		ms[i].Buf = buf[i*(maxPacket+1) : (i+1)*(maxPacket+1)]
		if oob {
			ms[i].OOB = make([]byte, 64)
		}
	}
	return ms
}

// readLoop reads a port of its own through Go's poller.
func (ep *endpoint) readLoop() {
	defer ep.wg.Done()
	n := 2
	io := udpbatch.NewIO(n)
	ms := newReadBuffers(n, false)
	tx := newTxBatch(2, pktRoom)
	rx := rxScratch{targets: make([]*Session, n)}
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
		ep.dispatch(ms[:k], &rx, tx, now, false)
		tx.flush()
	}
}

// dispatch hands each received datagram to its leg; with kernelTime, each
// datagram's arrival time comes from its SO_TIMESTAMPNS control message
// (a polled socket is read up to a millisecond late).
func (ep *endpoint) dispatch(ms []udpbatch.Message, rx *rxScratch, tx *txBatch, now time.Time, kernelTime bool) {
	ep.mu.Lock()
	for i := range ms {
		rx.targets[i] = ep.lookupLocked(ms[i].Buf[:ms[i].N], ms[i].Addr)
	}
	ep.mu.Unlock()
	for i := range ms {
		s := rx.targets[i]
		rx.targets[i] = nil
		if s == nil {
			continue
		}
		m := &ms[i]
		at := now
		if kernelTime {
			if ns, ok := udpbatch.KernelStamp(m.OOB[:m.NOOB]); ok {
				at = time.Unix(0, ns)
			}
		}
		ep.current.Store(s)
		if !s.closed.Load() {
			if m.Trunc || m.N > maxPacket {
				s.st.dropOversize.Add(1)
			} else {
				s.handlePacket(rx, m.Buf[:m.N], m.Addr, at, tx)
			}
		}
		ep.current.Store(nil)
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
