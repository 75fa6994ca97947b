package media

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"github.com/hotlinecc/hotline/media/udpbatch"
)

// PortAllocator hands out even RTP ports from [min,max] and binds the UDP
// socket itself, so a port taken by another process is simply skipped. The
// odd port above each RTP port is left for RTCP by convention and never
// handed out.
//
// Ports are handed out round-robin rather than lowest-first so a port that
// was just released is not reused at once: late packets from the previous
// call would otherwise be latched as the new call's peer.
//
// By default every session gets a port of its own. After ShareSockets(n),
// sessions share n ports of the range (opened with the first session,
// closed with the last), each port read by one goroutine with batched
// receives; sessions opened with Options.OwnPort still get their own.
type PortAllocator struct {
	min, max int // both even, min <= max

	mu     sync.Mutex
	inUse  map[int]struct{}
	cursor int
	shareN int
	pools  map[netip.Addr]*sharedPool
	logger *slog.Logger
	// closedDrops keeps the drop counts of shared sockets already closed.
	closedDrops SharedDrops
}

// NewPortAllocator returns an allocator for the even ports in [min,max].
func NewPortAllocator(min, max int) (*PortAllocator, error) {
	if min < 1 || max > 65535 || min > max {
		return nil, fmt.Errorf("rtp port range %d-%d: want 1 <= min <= max <= 65535", min, max)
	}
	lo := min + min%2
	hi := max - max%2
	if lo > hi {
		return nil, fmt.Errorf("rtp port range %d-%d: contains no even port", min, max)
	}
	return &PortAllocator{min: lo, max: hi, inUse: make(map[int]struct{}), cursor: lo}, nil
}

// ShareSockets makes sessions opened from now on share n ports of the
// range (n ≥ 1) instead of a port each; 0 returns to a port per session.
// n is capped at the range's size.
func (a *PortAllocator) ShareSockets(n int) error {
	if n < 0 {
		return fmt.Errorf("shared rtp sockets: %d, want ≥ 0", n)
	}
	a.mu.Lock()
	a.shareN = min(n, a.Size())
	a.mu.Unlock()
	return nil
}

// Shared is the number of shared ports sessions use (0: a port each).
func (a *PortAllocator) Shared() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.shareN
}

// SetLogger sets where socket-level problems are logged.
func (a *PortAllocator) SetLogger(l *slog.Logger) {
	a.mu.Lock()
	a.logger = l
	a.mu.Unlock()
}

func (a *PortAllocator) log() *slog.Logger {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.logger
}

// SharedDrops counts packets that reached a shared port but no leg: from
// sources no leg expects (foreign), claimable by several legs
// (ambiguous), or not RTP at all (junk). Legs count what was meant for
// them in their own Stats.
type SharedDrops struct{ Foreign, Ambiguous, Junk uint64 }

// SharedDrops returns the counts since the allocator was made.
func (a *PortAllocator) SharedDrops() SharedDrops {
	a.mu.Lock()
	defer a.mu.Unlock()
	d := a.closedDrops
	for _, p := range a.pools {
		for _, ep := range p.eps {
			d.Foreign += ep.foreign.Load()
			d.Ambiguous += ep.ambiguous.Load()
			d.Junk += ep.junk.Load()
		}
	}
	return d
}

// InUse reports how many ports are currently held by sessions.
func (a *PortAllocator) InUse() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.inUse)
}

// Size is the number of even ports in the range.
func (a *PortAllocator) Size() int { return (a.max-a.min)/2 + 1 }

// bind finds a free even port and binds a UDP socket to ip on it.
func (a *PortAllocator) bind(ip netip.Addr) (*net.UDPConn, int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.bindLocked(ip)
}

func (a *PortAllocator) bindLocked(ip netip.Addr) (*net.UDPConn, int, error) {
	var conn *net.UDPConn
	port, err := a.findPortLocked(ip, func(port int) error {
		var err error
		conn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
		return err
	})
	return conn, port, err
}

// bindPolledLocked is bindLocked for a polled (shared) socket.
func (a *PortAllocator) bindPolledLocked(ip netip.Addr) (*udpbatch.Polled, int, error) {
	var pc *udpbatch.Polled
	port, err := a.findPortLocked(ip, func(port int) error {
		var err error
		pc, err = udpbatch.ListenPolled(netip.AddrPortFrom(ip, uint16(port)), sharedBuffer)
		return err
	})
	return pc, port, err
}

// findPortLocked tries the range's free even ports round robin with bind
// until one binds.
func (a *PortAllocator) findPortLocked(ip netip.Addr, bind func(port int) error) (int, error) {
	n := a.Size()
	var lastErr error
	for range n {
		port := a.cursor
		a.cursor += 2
		if a.cursor > a.max {
			a.cursor = a.min
		}
		if _, busy := a.inUse[port]; busy {
			continue
		}
		if err := bind(port); err != nil {
			if errors.Is(err, syscall.EADDRNOTAVAIL) {
				return 0, fmt.Errorf("media IP %s is not an address of this host: %w", ip, err)
			}
			// Busy in the OS (another process) or similar: try the next one.
			lastErr = err
			continue
		}
		a.inUse[port] = struct{}{}
		return port, nil
	}
	if lastErr != nil {
		return 0, fmt.Errorf("rtp ports %d-%d on %s (%d in use here, last bind error: %v): %w",
			a.min, a.max, ip, len(a.inUse), lastErr, ErrNoPorts)
	}
	return 0, fmt.Errorf("rtp ports %d-%d on %s (%d in use): %w", a.min, a.max, ip, len(a.inUse), ErrNoPorts)
}

func (a *PortAllocator) release(port int) {
	a.mu.Lock()
	delete(a.inUse, port)
	a.mu.Unlock()
}
