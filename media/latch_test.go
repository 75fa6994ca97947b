package media

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// newPeerOn is a raw RTP endpoint on another loopback address (127.0.0.2
// etc. work on Linux's lo without setup): a different host to the session.
func newPeerOn(t *testing.T, ip string) *rawPeer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatalf("listen %s: %v", ip, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawPeer{t: t, conn: c}
}

// TestStrictLatching: the first packets come only from the SDP address's IP
// or the signalling IP; afterwards nobody else is heard, however long the
// peer is silent, except the same stream moving (NAT rebinding) or a
// re-INVITE naming a new address.
func TestStrictLatching(t *testing.T) {
	a := newTestAlloc(t, 8)
	s := newTestSession(t, a)
	s.latchTimeout.Store(int64(time.Millisecond)) // silence alone must not matter
	signalled := newRawPeer(t)                    // SDP address, 127.0.0.1
	natted := newRawPeer(t)                       // same IP, another port (NAT)
	intruder := newPeerOn(t, "127.0.0.2")
	viaSignalling := newPeerOn(t, "127.0.0.3")
	s.SetRemote(signalled.addr(), PCMU, 0)
	sink := newFrameSink()
	s.SetReceiver(sink.receive)
	s.Start()
	payload := make([]byte, FrameSamples)
	frame := make([]int16, FrameSamples)

	// An intruder first: refused, nothing delivered, nothing sent to it.
	intruder.send(s.LocalAddr(), rtpBytes(t, 0, 1, 160, 7, true, payload))
	waitFor(t, "intruder dropped", func() bool { return s.Stats().DroppedForeign == 1 })
	// The phone, from another port of the SDP's IP: latched.
	natted.send(s.LocalAddr(), rtpBytes(t, 0, 10, 1600, 1, true, payload))
	waitFor(t, "latch", func() bool { return s.Stats().Latched == natted.addr() })
	time.Sleep(20 * time.Millisecond) // the phone falls silent
	for i := uint16(0); i < 5; i++ {
		intruder.send(s.LocalAddr(), rtpBytes(t, 0, 11+i, 1760, 7, false, payload))
	}
	// Even a guess of the SSRC with a sequence far off is refused.
	intruder.send(s.LocalAddr(), rtpBytes(t, 0, 5000, 1760, 1, false, payload))
	waitFor(t, "intruder dropped", func() bool { return s.Stats().DroppedForeign == 7 })
	if err := s.WriteFrame(frame); err != nil {
		t.Fatal(err)
	}
	natted.read()
	if _, got := intruder.tryRead(100 * time.Millisecond); got {
		t.Fatal("the intruder received the call's audio")
	}
	if sink.count() != 1 || s.Stats().Latched != natted.addr() {
		t.Fatalf("frames %d latched %s", sink.count(), s.Stats().Latched)
	}

	// The phone's NAT rebinds: same SSRC, next sequence number, new port.
	rebound := newRawPeer(t)
	rebound.send(s.LocalAddr(), rtpBytes(t, 0, 11, 1760, 1, false, payload))
	waitFor(t, "move", func() bool { return s.Stats().Latched == rebound.addr() })
	if st := s.Stats(); st.Relatches != 1 || sink.count() != 2 {
		t.Fatalf("relatches %d frames %d", st.Relatches, sink.count())
	}

	// A re-INVITE to another host: the latch is dropped, and only that
	// host (or the signalling source) may start the stream again.
	other := newPeerOn(t, "127.0.0.4")
	s.SetRemote(other.addr(), PCMU, 0)
	rebound.send(s.LocalAddr(), rtpBytes(t, 0, 12, 1920, 1, false, payload))
	waitFor(t, "old address dropped", func() bool { return s.Stats().DroppedForeign == 8 })
	other.send(s.LocalAddr(), rtpBytes(t, 0, 1, 160, 9, false, payload))
	waitFor(t, "latch new", func() bool { return s.Stats().Latched == other.addr() })

	// Behind NAT: the SDP names a private address that never sends, the
	// packets come from the signalling source's IP.
	s2 := newTestSession(t, a)
	s2.SetRemote(netip.MustParseAddrPort("192.0.2.10:4000"), PCMU, 0)
	s2.SetSignalSource(netip.MustParseAddr("127.0.0.3"))
	s2.Start()
	intruder.send(s2.LocalAddr(), rtpBytes(t, 0, 1, 160, 7, true, payload))
	viaSignalling.send(s2.LocalAddr(), rtpBytes(t, 0, 1, 160, 3, true, payload))
	waitFor(t, "latch via signalling IP", func() bool { return s2.Stats().Latched == viaSignalling.addr() })
	if st := s2.Stats(); st.DroppedForeign != 1 {
		t.Fatalf("dropped %d, want the intruder's 1", st.DroppedForeign)
	}
}

// TestLooseLatching is the mode for odd NATs: any first source, and a new
// source replaces a peer silent past the timeout.
func TestLooseLatching(t *testing.T) {
	a := newTestAlloc(t, 8)
	s := newTestSession(t, a)
	s.SetLatchMode(LatchLoose)
	signalled := newRawPeer(t)
	relay := newPeerOn(t, "127.0.0.5")
	stranger := newPeerOn(t, "127.0.0.6")
	s.SetRemote(signalled.addr(), PCMU, 0)
	sink := newFrameSink()
	s.SetReceiver(sink.receive)
	s.Start()
	payload := make([]byte, FrameSamples)
	relay.send(s.LocalAddr(), rtpBytes(t, 0, 1, 160, 1, true, payload))
	waitFor(t, "latch", func() bool { return s.Stats().Latched == relay.addr() })
	stranger.send(s.LocalAddr(), rtpBytes(t, 0, 1, 160, 2, true, payload))
	waitFor(t, "stranger dropped", func() bool { return s.Stats().DroppedForeign == 1 })
	s.latchTimeout.Store(int64(50 * time.Millisecond))
	time.Sleep(100 * time.Millisecond)
	stranger.send(s.LocalAddr(), rtpBytes(t, 0, 2, 320, 2, false, payload))
	waitFor(t, "re-latch", func() bool { return s.Stats().Latched == stranger.addr() })
	if st := s.Stats(); st.Relatches != 1 || sink.count() != 2 {
		t.Fatalf("relatches %d frames %d", st.Relatches, sink.count())
	}
	// A re-INVITE with the same address keeps the latch; a new address
	// forgets it.
	s.SetRemote(signalled.addr(), PCMA, 0)
	if st := s.Stats(); st.Latched != stranger.addr() {
		t.Fatalf("codec change dropped the latch: %s", st.Latched)
	}
	s.SetRemote(relay.addr(), PCMU, 0)
	if st := s.Stats(); st.Latched.IsValid() {
		t.Fatalf("still latched to %s after SetRemote to a new address", st.Latched)
	}
}

func TestDropsBadPackets(t *testing.T) {
	valid := func(pt uint8) []byte { return rtpBytes(t, pt, 1, 160, 9, true, make([]byte, FrameSamples)) }
	withCSRCCount := valid(0)
	withCSRCCount[0] |= 0x0f // claims 15 CSRCs it does not have
	badPadding := valid(0)
	badPadding[0] |= 0x20
	badPadding[len(badPadding)-1] = 0
	tests := []struct {
		name  string
		data  []byte
		field func(Stats) uint64
	}{
		{"empty datagram", []byte{}, func(s Stats) uint64 { return s.DroppedJunk }},
		{"text junk", []byte("OPTIONS sip:hotline SIP/2.0\r\n\r\n"), func(s Stats) uint64 { return s.DroppedJunk }},
		{"short header", []byte{0x80, 0, 0, 1}, func(s Stats) uint64 { return s.DroppedJunk }},
		{"version 1", append([]byte{0x40}, valid(0)[1:]...), func(s Stats) uint64 { return s.DroppedJunk }},
		{"CSRC count beyond packet", withCSRCCount[:16], func(s Stats) uint64 { return s.DroppedJunk }},
		{"zero padding length", badPadding, func(s Stats) uint64 { return s.DroppedJunk }},
		{"wrong payload type", valid(18), func(s Stats) uint64 { return s.DroppedPayloadType }},
		{"oversized", append(valid(0), make([]byte, 3000)...), func(s Stats) uint64 { return s.DroppedOversize }},
		{"just over 1500", append(valid(0), make([]byte, 1501-len(valid(0)))...), func(s Stats) uint64 { return s.DroppedOversize }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAlloc(t, 8)
			s := newTestSession(t, a)
			peer := newRawPeer(t)
			s.SetRemote(peer.addr(), PCMU, 101)
			sink := newFrameSink()
			s.SetReceiver(sink.receive)
			s.Start()
			peer.send(s.LocalAddr(), tc.data)
			waitFor(t, "drop counted", func() bool { return tc.field(s.Stats()) == 1 })
			// The session is unharmed: a good packet still gets through
			// and is the one that latches.
			peer.send(s.LocalAddr(), valid(0))
			waitFor(t, "good frame", func() bool { return sink.count() == 1 })
			if st := s.Stats(); st.PacketsIn != 1 || st.Latched != peer.addr() {
				t.Fatalf("stats after good packet: %+v", st)
			}
		})
	}
}

func TestDropsBeforeSetRemote(t *testing.T) {
	a := newTestAlloc(t, 8)
	s := newTestSession(t, a)
	s.Start()
	peer := newRawPeer(t)
	peer.send(s.LocalAddr(), rtpBytes(t, 0, 1, 160, 9, true, make([]byte, FrameSamples)))
	waitFor(t, "early drop", func() bool { return s.Stats().DroppedEarly == 1 })
	if st := s.Stats(); st.PacketsIn != 0 || st.Latched.IsValid() {
		t.Fatalf("early packet accepted: %+v", st)
	}
}

func TestLossAccounting(t *testing.T) {
	a := newTestAlloc(t, 8)
	s := newTestSession(t, a)
	peer := newRawPeer(t)
	s.SetRemote(peer.addr(), PCMU, 0)
	s.Start()
	payload := make([]byte, FrameSamples)
	// 65534, 65535, (0 lost), 1, (2, 3 lost), 4: sequence wraps, 3 lost.
	for _, seq := range []uint16{65534, 65535, 1, 4} {
		peer.send(s.LocalAddr(), rtpBytes(t, 0, seq, uint32(seq)*160, 5, false, payload))
	}
	waitFor(t, "4 packets", func() bool { return s.Stats().PacketsIn == 4 })
	if lost := s.Stats().Lost; lost != 3 {
		t.Fatalf("Lost = %d, want 3", lost)
	}
}

// FuzzHandlePacket feeds arbitrary datagrams through the receive path:
// whatever arrives, nothing panics and the receiver only sees whole frames.
func FuzzHandlePacket(f *testing.F) {
	f.Add(rtpBytes(f, 0, 1, 160, 9, true, make([]byte, FrameSamples)))
	f.Add(rtpBytes(f, 101, 1, 160, 9, true, []byte{1, 0x80, 3, 32}))
	f.Add([]byte{0x80})
	f.Add([]byte{0xbf, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff})
	a := newTestAlloc(f, 4)
	s := newTestSession(f, a)
	s.SetRemote(netip.MustParseAddrPort("127.0.0.1:4000"), PCMU, 101)
	s.SetReceiver(func(pcm []int16) {
		if len(pcm) != FrameSamples {
			panic("partial frame delivered")
		}
	})
	s.started.Store(true) // fed directly, no reader
	from := netip.MustParseAddrPort("127.0.0.1:4000")
	tx := newTxBatch(4, pktRoom)
	f.Fuzz(func(t *testing.T, b []byte) {
		var rs rxScratch
		if len(b) > maxPacket {
			return
		}
		s.handlePacket(&rs, b, from, time.Now(), tx)
		tx.flush()
	})
}
