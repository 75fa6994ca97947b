package media

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func TestSymmetricRTPLatching(t *testing.T) {
	a := newTestAlloc(t, 8)
	s := newTestSession(t, a)
	signalled := newRawPeer(t) // address from SDP: never sends (phone behind NAT)
	real := newRawPeer(t)      // where the phone's packets really come from
	stranger := newRawPeer(t)
	s.SetRemote(signalled.addr(), PCMU, 0)
	sink := newFrameSink()
	s.SetReceiver(sink.receive)
	s.Start()
	payload := make([]byte, FrameSamples)
	frame := make([]int16, FrameSamples)

	// Before any packet arrives we send to the signalled address.
	if err := s.WriteFrame(frame); err != nil {
		t.Fatal(err)
	}
	signalled.read()

	real.send(s.LocalAddr(), rtpBytes(t, 0, 1, 160, 1, true, payload))
	waitFor(t, "latch", func() bool { return s.Stats().Latched == real.addr() })
	if err := s.WriteFrame(frame); err != nil {
		t.Fatal(err)
	}
	real.read()

	// A stranger is ignored while the latched peer is alive.
	stranger.send(s.LocalAddr(), rtpBytes(t, 0, 1, 160, 2, true, payload))
	waitFor(t, "stranger dropped", func() bool { return s.Stats().DroppedStranger == 1 })
	if sink.count() != 1 || s.Stats().Latched != real.addr() {
		t.Fatalf("stranger's packet used: frames %d latched %s", sink.count(), s.Stats().Latched)
	}

	// After the latched peer has been silent longer than the timeout, a
	// new source takes over (phone changed NAT binding).
	s.latchTimeout.Store(int64(50 * time.Millisecond))
	time.Sleep(100 * time.Millisecond)
	stranger.send(s.LocalAddr(), rtpBytes(t, 0, 2, 320, 2, false, payload))
	waitFor(t, "re-latch", func() bool { return s.Stats().Latched == stranger.addr() })
	if err := s.WriteFrame(frame); err != nil {
		t.Fatal(err)
	}
	stranger.read()
	if st := s.Stats(); st.Relatches != 1 || sink.count() != 2 {
		t.Fatalf("relatches %d frames %d", st.Relatches, sink.count())
	}

	// A re-INVITE with the same address keeps the latch; a new address
	// forgets it.
	s.SetRemote(signalled.addr(), PCMA, 0)
	if st := s.Stats(); st.Latched != stranger.addr() {
		t.Fatalf("codec change dropped the latch: %s", st.Latched)
	}
	s.SetRemote(real.addr(), PCMU, 0)
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
	from := netip.MustParseAddrPort("127.0.0.1:4000")
	f.Fuzz(func(t *testing.T, b []byte) {
		var pkt rtp.Packet
		if len(b) > maxPacket {
			return
		}
		s.handlePacket(&pkt, b, from, time.Now())
	})
}
