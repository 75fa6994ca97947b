package media

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// sharedAlloc returns an allocator whose legs all share one port.
func sharedAlloc(t *testing.T) *PortAllocator {
	t.Helper()
	a := newOwnAlloc(t, 8)
	if err := a.ShareSockets(1); err != nil {
		t.Fatal(err)
	}
	return a
}

// idFrame is a frame whose samples all carry one leg's id (µ-law code
// points survive the round trip exactly).
func idFrame(id int) []int16 {
	f := make([]int16, FrameSamples)
	for i := range f {
		f[i] = ulawDecode[id%127]
	}
	return f
}

// idSink records which ids a leg heard.
type idSink struct {
	mu    sync.Mutex
	heard map[int16]int
}

func (s *idSink) receive(pcm []int16) {
	s.mu.Lock()
	s.heard[pcm[0]]++
	s.mu.Unlock()
}

func (s *idSink) count(id int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.heard[ulawDecode[id%127]]
}

func (s *idSink) others(id int) map[int16]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int16]int{}
	for k, v := range s.heard {
		if k != ulawDecode[id%127] {
			out[k] = v
		}
	}
	return out
}

// TestSharedPortNeverCrossesCalls: legs on one local port each hear only
// their own peer, and their peers only them, whatever the peers have in
// common: the same IP (told apart by port), one address for two calls
// (told apart by a=ssrc), a phone behind NAT (its signalling IP), an
// intruder guessing SSRCs, and two NATed phones whose first packets could
// be either's (dropped, never guessed).
func TestSharedPortNeverCrossesCalls(t *testing.T) {
	a := sharedAlloc(t)
	type legCase struct {
		name   string
		leg    *Session
		peer   *rawPeer
		ssrc   uint32
		sink   *idSink
		expect bool
	}
	mk := func(name string, peer *rawPeer, sdp netip.AddrPort, sig string, ssrc uint32, expect bool) *legCase {
		s := newTestSession(t, a)
		s.SetRemote(sdp, PCMU, 0)
		if sig != "" {
			s.SetSignalSource(netip.MustParseAddr(sig))
		}
		if expect {
			s.ExpectSSRC(ssrc)
		}
		c := &legCase{name: name, leg: s, peer: peer, ssrc: ssrc, sink: &idSink{heard: map[int16]int{}}, expect: expect}
		s.SetReceiver(c.sink.receive)
		s.Start()
		return c
	}
	pA, pB := newRawPeer(t), newRawPeer(t) // same IP, different ports
	pShared := newRawPeer(t)               // one address, two calls (a=ssrc)
	pNAT := newPeerOn(t, "127.0.0.3")      // behind NAT: SDP names a private address
	cases := []*legCase{
		mk("A", pA, pA.addr(), "", 1001, false),
		mk("B", pB, pB.addr(), "", 1002, false),
		mk("C", pShared, pShared.addr(), "", 1003, true),
		mk("D", pShared, pShared.addr(), "", 1004, true),
		mk("E", pNAT, netip.MustParseAddrPort("192.0.2.10:4000"), "127.0.0.3", 1005, false),
	}
	port := cases[0].leg.LocalAddr()
	for _, c := range cases {
		if c.leg.LocalAddr() != port || !c.leg.Stats().SharedPort {
			t.Fatalf("leg %s on %s, want the shared %s", c.name, c.leg.LocalAddr(), port)
		}
	}
	intruder := newPeerOn(t, "127.0.0.2")

	const frames = 30
	for k := range frames {
		for i, c := range cases {
			c.peer.send(port, rtpBytes(t, 0, uint16(k), uint32(k*FrameSamples), c.ssrc, k == 0, encodeAll(t, PCMU, idFrame(i+1))))
			// The intruder knows each leg's SSRC (a=ssrc is in the SDP)
			// but not where its sequence is: never heard, never latched.
			intruder.send(port, rtpBytes(t, 0, uint16(k+1000), uint32(k*FrameSamples), c.ssrc, false, encodeAll(t, PCMU, idFrame(99))))
			intruder.send(port, rtpBytes(t, 0, uint16(k), uint32(k*FrameSamples), 4242, false, encodeAll(t, PCMU, idFrame(99))))
		}
		time.Sleep(time.Millisecond)
	}
	for i, c := range cases {
		deadline := time.Now().Add(10 * time.Second)
		for c.sink.count(i+1) != frames {
			if time.Now().After(deadline) {
				t.Fatalf("leg %s heard %d of its %d frames (others %v); stats %+v; shared drops %+v", c.name, c.sink.count(i+1), frames, c.sink.others(i+1), c.leg.Stats(), a.SharedDrops())
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	time.Sleep(50 * time.Millisecond) // anything misrouted would have landed by now
	for i, c := range cases {
		if o := c.sink.others(i + 1); len(o) > 0 {
			t.Errorf("leg %s heard other calls' audio: %v", c.name, o)
		}
		if st := c.leg.Stats(); st.Latched != c.peer.addr() {
			t.Errorf("leg %s latched %s, want %s", c.name, st.Latched, c.peer.addr())
		}
	}

	// Each leg answers on the shared port: its peer gets it with its
	// SSRC, and nobody else's.
	for i, c := range cases {
		if err := c.leg.WriteFrame(idFrame(50 + i)); err != nil {
			t.Fatal(err)
		}
	}
	got := map[*rawPeer]map[uint32]int16{}
	for _, p := range []*rawPeer{pA, pB, pShared, pShared, pNAT} {
		pkt := p.read()
		if got[p] == nil {
			got[p] = map[uint32]int16{}
		}
		got[p][pkt.SSRC] = ulawDecode[pkt.Payload[0]]
	}
	for i, c := range cases {
		if id, ok := got[c.peer][c.leg.SSRC()]; !ok || id != ulawDecode[50+i] {
			t.Errorf("peer of %s got %v, want leg %s's audio", c.name, got[c.peer], c.name)
		}
	}
	if _, leaked := intruder.tryRead(100 * time.Millisecond); leaked {
		t.Error("the intruder received a call's audio")
	}

	// Two phones behind one NAT, neither latched yet: their first packets
	// could belong to either leg, so they are dropped, not guessed.
	f := mk("F", nil, netip.MustParseAddrPort("192.0.2.20:4000"), "127.0.0.4", 0, false)
	g := mk("G", nil, netip.MustParseAddrPort("192.0.2.21:4000"), "127.0.0.4", 0, false)
	before := a.SharedDrops().Ambiguous
	newPeerOn(t, "127.0.0.4").send(port, rtpBytes(t, 0, 1, 160, 77, true, encodeAll(t, PCMU, idFrame(7))))
	waitFor(t, "ambiguous packet dropped", func() bool { return a.SharedDrops().Ambiguous > before })
	if f.sink.count(7)+g.sink.count(7) != 0 || f.leg.Stats().Latched.IsValid() || g.leg.Stats().Latched.IsValid() {
		t.Fatal("an ambiguous packet was given to a leg")
	}
}

// TestSharedPortManyCalls: 200 calls on two shared ports, every peer
// sending its own id concurrently; no leg ever hears a frame of another.
func TestSharedPortManyCalls(t *testing.T) {
	a := newOwnAlloc(t, 8)
	if err := a.ShareSockets(2); err != nil {
		t.Fatal(err)
	}
	const calls, frames = 200, 25
	legs := make([]*Session, calls)
	peers := make([]*rawPeer, calls)
	sinks := make([]*idSink, calls)
	for i := range legs {
		peers[i] = newRawPeer(t)
		legs[i] = newTestSession(t, a)
		legs[i].SetRemote(peers[i].addr(), PCMU, 0)
		sinks[i] = &idSink{heard: map[int16]int{}}
		legs[i].SetReceiver(sinks[i].receive)
		legs[i].Start()
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range frames {
				for i := w; i < calls; i += 4 {
					peers[i].send(legs[i].LocalAddr(), rtpBytes(t, 0, uint16(k), uint32(k*FrameSamples), uint32(5000+i), k == 0, encodeAll(t, PCMU, idFrame(i))))
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	for i := range legs {
		waitFor(t, fmt.Sprintf("call %d's frames", i), func() bool { return legs[i].Stats().PacketsIn == frames })
	}
	for i := range legs {
		// ids repeat every 127 calls: a frame of call i+127 would look
		// like i's own, so compare against the peers' true sources too.
		if o := sinks[i].others(i); len(o) > 0 {
			t.Fatalf("call %d heard others: %v", i, o)
		}
		if st := legs[i].Stats(); st.Latched != peers[i].addr() || st.DroppedForeign != 0 {
			t.Fatalf("call %d latched %s (want %s), foreign drops %d", i, st.Latched, peers[i].addr(), st.DroppedForeign)
		}
	}
	if d := a.SharedDrops(); d.Ambiguous != 0 || d.Foreign != 0 {
		t.Fatalf("shared drops %+v, want none", d)
	}
}
