package media

import (
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"
)

// collectDigits reads digits until n arrived, then checks nothing else
// follows for a short while.
func collectDigits(t *testing.T, s *Session, n int) string {
	t.Helper()
	var got []rune
	for len(got) < n {
		select {
		case d := <-s.DTMF():
			got = append(got, d)
		case <-time.After(10 * time.Second):
			t.Fatalf("got digits %q, waiting for %d", string(got), n)
		}
	}
	select {
	case d := <-s.DTMF():
		t.Fatalf("extra digit %q after %q", d, string(got))
	case <-time.After(100 * time.Millisecond):
	}
	return string(got)
}

func TestDTMFSendReceive(t *testing.T) {
	for _, digits := range []string{"5", "0123456789", "*#ABCD", "11"} {
		t.Run(digits, func(t *testing.T) {
			s1, s2 := newPair(t, PCMU, 101)
			for _, d := range digits {
				if err := s1.SendDTMF(context.Background(), d); err != nil {
					t.Fatal(err)
				}
			}
			if got := collectDigits(t, s2, len(digits)); got != digits {
				t.Fatalf("received %q, want %q", got, digits)
			}
		})
	}
}

func TestDTMFPacketsOnWire(t *testing.T) {
	a := newTestAlloc(t, 8)
	s := newTestSession(t, a)
	peer := newRawPeer(t)
	s.SetRemote(peer.addr(), PCMU, 96)
	frame := make([]int16, FrameSamples)
	if err := s.WriteFrame(frame); err != nil {
		t.Fatal(err)
	}
	audio := peer.read()
	if err := s.SendDTMF(context.Background(), '#'); err != nil {
		t.Fatal(err)
	}
	const n = dtmfEventPackets + dtmfEndRepeats
	prevSeq := audio.SequenceNumber
	var eventTS uint32
	for i := range n {
		p := peer.read()
		if p.PayloadType != 96 || p.SSRC != audio.SSRC || p.SequenceNumber != prevSeq+1 || len(p.Payload) != 4 {
			t.Fatalf("event packet %d: %+v payload %x", i, p.Header, p.Payload)
		}
		prevSeq = p.SequenceNumber
		if i == 0 {
			eventTS = p.Timestamp
			if !p.Marker || eventTS < audio.Timestamp+FrameSamples {
				t.Fatalf("first event packet: marker %v ts %d (audio ts %d)", p.Marker, eventTS, audio.Timestamp)
			}
		} else if p.Marker || p.Timestamp != eventTS {
			t.Fatalf("event packet %d: marker %v ts %d, want no marker, ts %d", i, p.Marker, p.Timestamp, eventTS)
		}
		end := p.Payload[1]&0x80 != 0
		dur := binary.BigEndian.Uint16(p.Payload[2:])
		wantEnd := i >= dtmfEventPackets
		wantDur := uint16(min(i+1, dtmfEventPackets) * FrameSamples)
		if p.Payload[0] != 11 || end != wantEnd || dur != wantDur {
			t.Fatalf("event packet %d: event %d end %v duration %d; want 11 %v %d", i, p.Payload[0], end, dur, wantEnd, wantDur)
		}
	}
	if err := s.WriteFrame(frame); err != nil {
		t.Fatal(err)
	}
	next := peer.read()
	if !next.Marker || next.SequenceNumber != prevSeq+1 || next.Timestamp < eventTS+dtmfEventPackets*FrameSamples {
		t.Fatalf("audio after event: %+v (event ts %d)", next.Header, eventTS)
	}
}

func TestDTMFReceiveDeduplicates(t *testing.T) {
	ev := func(event byte, end bool, dur uint16) []byte {
		b := []byte{event, 10, 0, 0}
		if end {
			b[1] |= 0x80
		}
		binary.BigEndian.PutUint16(b[2:], dur)
		return b
	}
	type pkt struct {
		ts      uint32
		payload []byte
	}
	tests := []struct {
		name string
		pkts []pkt
		want string
	}{
		{"full event with three ends", []pkt{{100, ev(1, false, 160)}, {100, ev(1, false, 320)}, {100, ev(1, true, 480)}, {100, ev(1, true, 480)}, {100, ev(1, true, 480)}}, "1"},
		{"only end packets survived", []pkt{{100, ev(9, true, 800)}, {100, ev(9, true, 800)}}, "9"},
		{"same key twice", []pkt{{100, ev(2, false, 160)}, {100, ev(2, true, 800)}, {2000, ev(2, false, 160)}, {2000, ev(2, true, 800)}}, "22"},
		{"star hash and letters", []pkt{{100, ev(10, true, 800)}, {900, ev(11, true, 800)}, {1700, ev(15, true, 800)}}, "*#D"},
		{"flash and short payload ignored", []pkt{{100, ev(16, true, 800)}, {900, []byte{3}}, {1700, ev(4, true, 800)}}, "4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAlloc(t, 8)
			s := newTestSession(t, a)
			peer := newRawPeer(t)
			s.SetRemote(peer.addr(), PCMU, 101)
			s.Start()
			for i, p := range tc.pkts {
				peer.send(s.LocalAddr(), rtpBytes(t, 101, uint16(i), p.ts, 42, i == 0, p.payload))
			}
			if got := collectDigits(t, s, len(tc.want)); got != tc.want {
				t.Fatalf("digits %q, want %q", got, tc.want)
			}
		})
	}
}

func TestInjectDTMF(t *testing.T) {
	a := newTestAlloc(t, 8)
	s := newTestSession(t, a)
	s.InjectDTMF('7')
	s.InjectDTMF('z') // ignored
	s.InjectDTMF('#')
	if got := collectDigits(t, s, 2); got != "7#" {
		t.Fatalf("got %q", got)
	}
	// Nobody reading: the channel fills, later digits are counted as dropped, nothing blocks.
	for range dtmfQueue + 5 {
		s.InjectDTMF('1')
	}
	if st := s.Stats(); st.DTMFDropped != 5 {
		t.Fatalf("DTMFDropped = %d, want 5", st.DTMFDropped)
	}
}

func TestSendDTMFCancelled(t *testing.T) {
	a := newTestAlloc(t, 4)
	s := newTestSession(t, a)
	peer := newRawPeer(t)
	s.SetRemote(peer.addr(), PCMU, 101)

	// Cancelled before it starts: nothing at all goes out.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.SendDTMF(ctx, '3'); err != context.Canceled {
		t.Fatalf("SendDTMF = %v, want context.Canceled", err)
	}
	if p, ok := peer.tryRead(100 * time.Millisecond); ok {
		t.Fatalf("packet sent for a cancelled key press: %+v", p.Header)
	}

	// Cancelled while the key is down: the event is closed with three end
	// packets at once, so the far end never hears a stuck tone.
	ctx, cancel = context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.SendDTMF(ctx, '4') }()
	first := peer.read()
	if !first.Marker || first.Payload[1]&0x80 != 0 {
		t.Fatalf("first event packet %+v payload %x", first.Header, first.Payload)
	}
	cancel()
	// nil only if a stalled machine let the key press finish first; the
	// end packets are checked the same way in both cases.
	if err := <-errc; err != context.Canceled && err != nil {
		t.Fatalf("SendDTMF = %v, want context.Canceled", err)
	}
	ends := 0
	for {
		p, ok := peer.tryRead(100 * time.Millisecond)
		if !ok {
			break
		}
		if p.Timestamp != first.Timestamp || p.Payload[0] != 4 {
			t.Fatalf("packet from another event: %+v", p.Header)
		}
		if p.Payload[1]&0x80 != 0 {
			ends++
		}
	}
	if ends != dtmfEndRepeats {
		t.Fatalf("%d end packets after cancel, want %d", ends, dtmfEndRepeats)
	}
	// Audio resumes afterwards.
	if err := s.WriteFrame(make([]int16, FrameSamples)); err != nil {
		t.Fatal(err)
	}
	if p := peer.read(); p.PayloadType != 0 || !p.Marker {
		t.Fatalf("audio after cancelled DTMF: %+v", p.Header)
	}
}

// TestOnDTMFTakesDigits: with a handler, digits go to it (those already
// queued first) and no longer to the channel; nil goes back to the channel.
func TestOnDTMFTakesDigits(t *testing.T) {
	a := newTestAlloc(t, 8)
	s := newTestSession(t, a)
	s.InjectDTMF('1') // before the handler: queued on the channel
	var mu sync.Mutex
	var got []rune
	s.OnDTMF(func(d rune) { mu.Lock(); got = append(got, d); mu.Unlock() })
	s.InjectDTMF('2')
	s.InjectDTMF('#')
	mu.Lock()
	if string(got) != "12#" {
		t.Fatalf("handler got %q, want \"12#\"", string(got))
	}
	mu.Unlock()
	select {
	case d := <-s.DTMF():
		t.Fatalf("digit %q also on the channel", d)
	default:
	}
	s.OnDTMF(nil)
	s.InjectDTMF('5')
	if d := collectDigits(t, s, 1); d != "5" {
		t.Fatalf("after OnDTMF(nil) the channel got %q", d)
	}
	if st := s.Stats(); st.DTMFIn != 4 {
		t.Fatalf("DTMFIn = %d, want 4", st.DTMFIn)
	}
}
