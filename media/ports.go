package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
)

// PortAllocator hands out even RTP ports from [min,max] and binds the UDP
// socket itself, so a port taken by another process is simply skipped. The
// odd port above each RTP port is left for RTCP by convention and never
// handed out.
//
// Ports are handed out round-robin rather than lowest-first so a port that
// was just released is not reused at once: late packets from the previous
// call would otherwise be latched as the new call's peer.
type PortAllocator struct {
	min, max int // both even, min <= max

	mu     sync.Mutex
	inUse  map[int]struct{}
	cursor int
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
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
		if err != nil {
			if errors.Is(err, syscall.EADDRNOTAVAIL) {
				return nil, 0, fmt.Errorf("media IP %s is not an address of this host: %w", ip, err)
			}
			// Busy in the OS (another process) or similar: try the next one.
			lastErr = err
			continue
		}
		a.inUse[port] = struct{}{}
		return conn, port, nil
	}
	if lastErr != nil {
		return nil, 0, fmt.Errorf("rtp ports %d-%d on %s (%d in use here, last bind error: %v): %w",
			a.min, a.max, ip, len(a.inUse), lastErr, ErrNoPorts)
	}
	return nil, 0, fmt.Errorf("rtp ports %d-%d on %s (%d in use): %w", a.min, a.max, ip, len(a.inUse), ErrNoPorts)
}

func (a *PortAllocator) release(port int) {
	a.mu.Lock()
	delete(a.inUse, port)
	a.mu.Unlock()
}
