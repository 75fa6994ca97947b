package media

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestNewPortAllocatorRejectsBadRanges(t *testing.T) {
	tests := []struct {
		name     string
		min, max int
		ok       bool
		size     int
	}{
		{"normal", 10000, 10009, true, 5},
		{"odd bounds", 10001, 10009, true, 4},
		{"single even port", 10000, 10000, true, 1},
		{"single odd port", 10001, 10001, false, 0},
		{"reversed", 20000, 10000, false, 0},
		{"zero", 0, 100, false, 0},
		{"too high", 60000, 70000, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewPortAllocator(tc.min, tc.max)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && a.Size() != tc.size {
				t.Fatalf("Size = %d, want %d", a.Size(), tc.size)
			}
		})
	}
}

func TestPortAllocatorExhaustionAndRelease(t *testing.T) {
	a := newOwnAlloc(t, 6)
	var sessions []*Session
	for {
		s, err := NewSession(a, loopback, nil)
		if err != nil {
			if !errors.Is(err, ErrNoPorts) {
				t.Fatalf("exhaustion error = %v, want ErrNoPorts", err)
			}
			break
		}
		sessions = append(sessions, s)
		if len(sessions) > a.Size() {
			t.Fatalf("allocated %d sessions from %d ports", len(sessions), a.Size())
		}
	}
	// Another process may hold a port of the random range; we need some.
	if len(sessions) == 0 {
		t.Fatal("no port at all could be allocated")
	}
	if a.InUse() != len(sessions) {
		t.Fatalf("InUse = %d, want %d", a.InUse(), len(sessions))
	}
	seen := map[uint16]bool{}
	for _, s := range sessions {
		p := s.LocalAddr().Port()
		if p%2 != 0 || seen[p] || int(p) < a.min || int(p) > a.max {
			t.Fatalf("bad port %d (range %d-%d, seen %v)", p, a.min, a.max, seen)
		}
		seen[p] = true
	}
	freed := sessions[0].LocalAddr().Port()
	if err := sessions[0].Close(); err != nil {
		t.Fatal(err)
	}
	if err := sessions[0].Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	s, err := NewSession(a, loopback, nil)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	if s.LocalAddr().Port() != freed {
		t.Fatalf("got port %d, want the released %d", s.LocalAddr().Port(), freed)
	}
	sessions[0] = s
	for _, s := range sessions {
		_ = s.Close()
	}
	if a.InUse() != 0 {
		t.Fatalf("InUse = %d after closing all", a.InUse())
	}
}

func TestPortAllocatorSkipsPortBusyInOS(t *testing.T) {
	a := newOwnAlloc(t, 4)
	// Occupy an even port of the range outside the allocator, as another
	// process would.
	var busy *net.UDPConn
	busyPort := 0
	for p := a.min; p <= a.max && busy == nil; p += 2 {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(p))))
		if err == nil {
			busy, busyPort = c, p
		}
	}
	if busy == nil {
		t.Fatalf("no port of %d-%d could be bound", a.min, a.max)
	}
	defer busy.Close()
	got := 0
	for range 3 * a.Size() {
		s, err := NewSession(a, loopback, nil)
		if err != nil {
			if errors.Is(err, ErrNoPorts) {
				continue
			}
			t.Fatal(err)
		}
		got++
		if int(s.LocalAddr().Port()) == busyPort {
			t.Fatalf("allocator handed out port %d that is busy in the OS", busyPort)
		}
		_ = s.Close()
	}
	if got == 0 {
		t.Fatal("no session could be allocated around the busy port")
	}
}

// TestNoLeakAfterThousandsOfSessions: sessions opened and closed in a
// loop from a small range never run it dry, and leave no socket, port
// or goroutine behind.
func TestNoLeakAfterThousandsOfSessions(t *testing.T) {
	const calls = 5000
	a := newOwnAlloc(t, 50) // 50 ports: any leak exhausts it quickly
	fdsBefore := openFDs(t)
	goroutinesBefore := runtime.NumGoroutine()
	for i := range calls {
		s, err := NewSession(a, loopback, nil)
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		s.SetRemote(netip.AddrPortFrom(loopback, 9), PCMU, 101)
		s.Start()
		if err := s.Close(); err != nil {
			t.Fatalf("close %d: %v", i, err)
		}
	}
	if a.InUse() != 0 {
		t.Fatalf("InUse = %d after %d calls", a.InUse(), calls)
	}
	if fds := openFDs(t); fds > fdsBefore+2 {
		t.Fatalf("open fds %d -> %d", fdsBefore, fds)
	}
	waitFor(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= goroutinesBefore })
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("count fds: %v", err)
	}
	return len(ents)
}

func TestCloseConcurrentAndStartAfterClose(t *testing.T) {
	a := newOwnAlloc(t, 4)
	s := newTestSession(t, a)
	s.Start()
	done := make(chan error, 8)
	for range 8 {
		go func() { done <- s.Close() }()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	s.Start() // no-op, must not start a loop on a closed socket
	select {
	case <-s.Done():
	case <-time.After(time.Second):
		t.Fatal("Done not closed")
	}
	if a.InUse() != 0 {
		t.Fatalf("InUse = %d", a.InUse())
	}
}

func TestNewSessionBadArguments(t *testing.T) {
	a := newOwnAlloc(t, 4)
	tests := []struct {
		name  string
		alloc *PortAllocator
		ip    netip.Addr
		want  string
	}{
		{"nil allocator", nil, loopback, "nil port allocator"},
		{"no IP", a, netip.Addr{}, "no local media IP"},
		{"IP not on this host", a, netip.MustParseAddr("192.0.2.1"), "not an address of this host"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSession(tc.alloc, tc.ip, nil)
			if err == nil {
				_ = s.Close()
				t.Fatal("NewSession succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
			if a.InUse() != 0 {
				t.Fatalf("failed NewSession left %d ports in use", a.InUse())
			}
		})
	}
}
