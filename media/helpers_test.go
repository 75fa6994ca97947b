package media

import (
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// testShared: the tests run with legs sharing ports (the engine's default
// layout); TestPortPerLegMode runs them again with a port per leg.
var testShared = os.Getenv("HOTLINE_MEDIA_PORTS") != "own"

// newTestAlloc returns an allocator over a random slice of 10000-19999
// in the run's layout (shared ports or a port per leg).
func newTestAlloc(t testing.TB, size int) *PortAllocator {
	t.Helper()
	a := newOwnAlloc(t, size)
	if testShared {
		if err := a.ShareSockets(min(4, size)); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// newOwnAlloc returns an allocator handing out a port per leg over a
// random slice of 10000-19999: below the engine's default RTP range
// (20000-29999, used by end-to-end runs), the sip tests' range (30000+)
// and the Linux ephemeral ports, so parallel test binaries rarely meet;
// busy ports are skipped by design anyway.
func newOwnAlloc(t testing.TB, size int) *PortAllocator {
	t.Helper()
	const lo, hi = 10000, 20000
	if 2*size > hi-lo {
		t.Fatalf("test port range of %d ports does not fit %d-%d", size, lo, hi)
	}
	base := lo + 2*rand.IntN((hi-lo-2*size)/2+1)
	a, err := NewPortAllocator(base, base+2*size-1)
	if err != nil {
		t.Fatalf("NewPortAllocator: %v", err)
	}
	return a
}

func newTestSession(t testing.TB, a *PortAllocator) *Session {
	t.Helper()
	s, err := NewSession(a, loopback, nil)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newPair returns two started sessions sending to each other.
func newPair(t testing.TB, codec Codec, dtmfPT uint8) (*Session, *Session) {
	t.Helper()
	a := newTestAlloc(t, 64)
	s1, s2 := newTestSession(t, a), newTestSession(t, a)
	s1.SetRemote(s2.LocalAddr(), codec, dtmfPT)
	s2.SetRemote(s1.LocalAddr(), codec, dtmfPT)
	s1.Start()
	s2.Start()
	return s1, s2
}

// frameSink collects frames handed to a receiver.
type frameSink struct {
	mu     sync.Mutex
	frames [][]int16
	notify chan struct{}
}

func newFrameSink() *frameSink { return &frameSink{notify: make(chan struct{}, 1)} }

func (f *frameSink) receive(pcm []int16) {
	c := append([]int16(nil), pcm...)
	f.mu.Lock()
	f.frames = append(f.frames, c)
	f.mu.Unlock()
	select {
	case f.notify <- struct{}{}:
	default:
	}
}

func (f *frameSink) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.frames)
}

func (f *frameSink) all() []int16 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int16
	for _, fr := range f.frames {
		out = append(out, fr...)
	}
	return out
}

// waitFor polls cond until it holds or a generous deadline passes; the
// deadline is a hang guard, not a timing assertion.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// rawPeer is a plain UDP socket standing in for a phone.
type rawPeer struct {
	t    testing.TB
	conn *net.UDPConn
}

func newRawPeer(t testing.TB) *rawPeer {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawPeer{t: t, conn: c}
}

func (p *rawPeer) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *rawPeer) send(to netip.AddrPort, b []byte) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDPAddrPort(b, to); err != nil {
		p.t.Fatalf("raw send: %v", err)
	}
}

// read returns the next RTP packet, failing the test after a hang guard.
func (p *rawPeer) read() *rtp.Packet {
	p.t.Helper()
	pkt, ok := p.tryRead(10 * time.Second)
	if !ok {
		p.t.Fatalf("no RTP packet received at %s", p.addr())
	}
	return pkt
}

func (p *rawPeer) tryRead(wait time.Duration) (*rtp.Packet, bool) {
	p.t.Helper()
	buf := make([]byte, 2048)
	_ = p.conn.SetReadDeadline(time.Now().Add(wait))
	n, _, err := p.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		return nil, false
	}
	pkt := &rtp.Packet{}
	if err := pkt.Unmarshal(buf[:n]); err != nil {
		p.t.Fatalf("peer got non-RTP datagram: %v", err)
	}
	return pkt, true
}

func rtpBytes(t testing.TB, pt uint8, seq uint16, ts, ssrc uint32, marker bool, payload []byte) []byte {
	t.Helper()
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq,
		Timestamp: ts, SSRC: ssrc, Marker: marker}, Payload: payload}
	b, err := pkt.Marshal()
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

func encodeAll(t testing.TB, c Codec, pcm []int16) []byte {
	t.Helper()
	b, err := c.Encode(nil, pcm)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return b
}

// goertzel returns the power of freq in pcm, normalised so a full-scale
// sine scores about 1 and silence 0.
func goertzel(pcm []int16, freq float64) float64 {
	if len(pcm) == 0 {
		return 0
	}
	k := 2 * math.Cos(2*math.Pi*freq/8000)
	var s1, s2 float64
	for _, x := range pcm {
		s0 := float64(x)/32768 + k*s1 - s2
		s2, s1 = s1, s0
	}
	p := s1*s1 + s2*s2 - k*s1*s2
	n := float64(len(pcm))
	return 4 * p / (n * n)
}

// hasTone reports whether freq is clearly present (amplitude above ~5% of
// full scale).
func hasTone(pcm []int16, freq float64) bool { return goertzel(pcm, freq) > 0.0025 }
