package media

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

func TestCodecRoundTrip(t *testing.T) {
	tone := Tone(1000, 100*time.Millisecond, 12000).Samples
	for _, c := range []Codec{PCMU, PCMA} {
		t.Run(c.Name, func(t *testing.T) {
			enc := encodeAll(t, c, tone)
			if len(enc) != len(tone) {
				t.Fatalf("encoded %d samples into %d bytes", len(tone), len(enc))
			}
			dec, err := c.Decode(nil, enc)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tone {
				// G.711 keeps ~12 bits of precision: error under 1/16 of the value, plus the step at zero.
				diff := int(tone[i]) - int(dec[i])
				if diff < 0 {
					diff = -diff
				}
				limit := int(abs16(tone[i]))/16 + 16
				if diff > limit {
					t.Fatalf("sample %d: %d -> %d (diff %d > %d)", i, tone[i], dec[i], diff, limit)
				}
			}
			if !hasTone(dec, 1000) || hasTone(dec, 1500) {
				t.Fatalf("decoded tone lost its frequency")
			}
		})
	}
	if _, err := (Codec{"G729", 18, 8000}).Encode(nil, tone); !errors.Is(err, ErrUnsupportedCodec) {
		t.Fatalf("G729 encode: got %v, want ErrUnsupportedCodec", err)
	}
}

func abs16(v int16) int32 {
	if v < 0 {
		return -int32(v)
	}
	return int32(v)
}

func TestSessionsTalkBothWays(t *testing.T) {
	for _, c := range []Codec{PCMU, PCMA} {
		t.Run(c.Name, func(t *testing.T) {
			s1, s2 := newPair(t, c, 0)
			in1, in2 := newFrameSink(), newFrameSink()
			s1.SetReceiver(in1.receive)
			s2.SetReceiver(in2.receive)
			toneA := Tone(440, 200*time.Millisecond, 10000).Samples
			toneB := Tone(1200, 200*time.Millisecond, 10000).Samples
			for off := 0; off < len(toneA); off += FrameSamples {
				if err := s1.WriteFrame(toneA[off : off+FrameSamples]); err != nil {
					t.Fatal(err)
				}
				if err := s2.WriteFrame(toneB[off : off+FrameSamples]); err != nil {
					t.Fatal(err)
				}
			}
			frames := len(toneA) / FrameSamples
			waitFor(t, "frames at both ends", func() bool { return in1.count() == frames && in2.count() == frames })

			wantAtB, _ := c.Decode(nil, encodeAll(t, c, toneA))
			wantAtA, _ := c.Decode(nil, encodeAll(t, c, toneB))
			if got := in2.all(); !equalPCM(got, wantAtB) {
				t.Errorf("s2 did not receive s1's audio exactly")
			}
			if got := in1.all(); !equalPCM(got, wantAtA) {
				t.Errorf("s1 did not receive s2's audio exactly")
			}
			st := s2.Stats()
			if st.PacketsIn != uint64(frames) || st.Lost != 0 || st.Latched != s1.LocalAddr() || st.Codec != c {
				t.Errorf("s2 stats = %+v", st)
			}
			if s1.Stats().PacketsOut != uint64(frames) {
				t.Errorf("s1 PacketsOut = %d, want %d", s1.Stats().PacketsOut, frames)
			}
		})
	}
}

func equalPCM(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWriteFrameHeaders(t *testing.T) {
	a := newTestAlloc(t, 8)
	s := newTestSession(t, a)
	peer := newRawPeer(t)
	s.SetRemote(peer.addr(), PCMA, 101)
	frame := make([]int16, FrameSamples)
	// A stalled test machine must not look like a talk-spurt gap.
	s.gapThreshold = time.Hour

	const burst = 5
	for range burst {
		if err := s.WriteFrame(frame); err != nil {
			t.Fatal(err)
		}
	}
	first := peer.read()
	if first.Version != 2 || first.PayloadType != PCMA.PayloadType || first.SSRC != s.SSRC() || !first.Marker {
		t.Fatalf("first packet header = %+v, want v2 PT8 marker SSRC %d", first.Header, s.SSRC())
	}
	if len(first.Payload) != FrameSamples {
		t.Fatalf("payload %d bytes, want %d", len(first.Payload), FrameSamples)
	}
	prev := first
	for i := 1; i < burst; i++ {
		p := peer.read()
		if p.SSRC != first.SSRC || p.Marker || p.SequenceNumber != prev.SequenceNumber+1 || p.Timestamp != prev.Timestamp+FrameSamples {
			t.Fatalf("packet %d header = %+v after %+v", i, p.Header, prev.Header)
		}
		prev = p
	}

	// A pause starts a new talk spurt: marker, timestamp covers the silence.
	s.gapThreshold = defaultGapThreshold
	time.Sleep(10 * FrameDuration)
	if err := s.WriteFrame(frame); err != nil {
		t.Fatal(err)
	}
	p := peer.read()
	gap := p.Timestamp - prev.Timestamp
	if !p.Marker || p.SequenceNumber != prev.SequenceNumber+1 || gap%FrameSamples != 0 || gap < 10*FrameSamples {
		t.Fatalf("after pause: header %+v, timestamp step %d; want marker, seq+1, step >= 1600 in whole frames", p.Header, gap)
	}
}

func TestWriteFrameErrors(t *testing.T) {
	a := newTestAlloc(t, 8)
	s := newTestSession(t, a)
	frame := make([]int16, FrameSamples)
	if err := s.WriteFrame(frame); !errors.Is(err, ErrNoRemote) {
		t.Fatalf("before SetRemote: %v, want ErrNoRemote", err)
	}
	s.SetRemote(newRawPeer(t).addr(), PCMU, 0)
	if err := s.WriteFrame(make([]int16, 2000)); err == nil {
		t.Fatal("oversized frame accepted")
	}
	if err := s.SendDTMF(context.Background(), '1'); !errors.Is(err, ErrNoTelephoneEvent) {
		t.Fatalf("DTMF without telephone-event: %v", err)
	}
	s.SetRemote(newRawPeer(t).addr(), PCMU, 101)
	if err := s.SendDTMF(context.Background(), 'x'); !errors.Is(err, ErrInvalidDigit) {
		t.Fatalf("DTMF 'x': %v", err)
	}
	_ = s.Close()
	if err := s.WriteFrame(frame); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}

func TestPlaySendsPromptExactly(t *testing.T) {
	tone := Tone(800, 300*time.Millisecond, 9000)
	odd := &Prompt{Name: "odd", Samples: tone.Samples[:1000]} // 6.25 frames
	tests := []struct {
		name    string
		prompts []*Prompt
		want    []int16 // audio expected on the wire, tail padded with silence
	}{
		{"whole frames", []*Prompt{tone}, tone.Samples},
		{"padded tail", []*Prompt{odd}, append(append([]int16{}, odd.Samples...), make([]int16, 7*FrameSamples-1000)...)},
		{"two prompts", []*Prompt{tone, tone}, append(append([]int16{}, tone.Samples...), tone.Samples...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAlloc(t, 8)
			s := newTestSession(t, a)
			peer := newRawPeer(t)
			s.SetRemote(peer.addr(), PCMU, 0)
			start := time.Now()
			if err := s.Play(context.Background(), tc.prompts...); err != nil {
				t.Fatalf("Play: %v", err)
			}
			wantPackets := len(tc.want) / FrameSamples
			// Played means heard to the end: the last frame's 20 ms are
			// over before Play returns (a hang-up may follow at once).
			if took, least := time.Since(start), time.Duration(wantPackets)*FrameDuration; took < least {
				t.Fatalf("Play of %d frames returned after %v, before they could be heard (%v)", wantPackets, took, least)
			}
			var payload []byte
			var prevSeq uint16
			var prevTS uint32
			for i := range wantPackets {
				p := peer.read()
				if i == 0 && !p.Marker || i > 0 && (p.Marker || p.SequenceNumber != prevSeq+1 || p.Timestamp != prevTS+FrameSamples) {
					t.Fatalf("packet %d: header %+v", i, p.Header)
				}
				prevSeq, prevTS = p.SequenceNumber, p.Timestamp
				payload = append(payload, p.Payload...)
			}
			if extra, ok := peer.tryRead(100 * time.Millisecond); ok {
				t.Fatalf("extra packet after %d: %+v", wantPackets, extra.Header)
			}
			if !bytes.Equal(payload, encodeAll(t, PCMU, tc.want)) {
				t.Fatal("payload is not the encoded prompt")
			}
			if got := s.Stats().PacketsOut; got != uint64(wantPackets) {
				t.Fatalf("PacketsOut = %d, want %d", got, wantPackets)
			}
		})
	}
}

func TestPlayCancelAndLoop(t *testing.T) {
	a := newTestAlloc(t, 8)
	s := newTestSession(t, a)
	peer := newRawPeer(t)
	s.SetRemote(peer.addr(), PCMU, 0)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Play(ctx, Tone(400, time.Second, 8000)); err != context.Canceled {
		t.Fatalf("Play with cancelled ctx = %v, want context.Canceled", err)
	}

	short := Tone(400, 2*FrameDuration, 8000) // loops every 2 packets
	ctx, cancel = context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.PlayLoop(ctx, short) }()
	var markers int
	for range 7 {
		if peer.read().Marker {
			markers++
		}
	}
	cancel()
	if err := <-errc; err != context.Canceled {
		t.Fatalf("PlayLoop = %v, want context.Canceled", err)
	}
	if markers != 1 {
		t.Fatalf("%d marker bits in a looping stream, want 1", markers)
	}
	if err := s.PlayLoop(context.Background(), &Prompt{Name: "empty"}); !errors.Is(err, ErrEmptyPrompt) {
		t.Fatalf("PlayLoop(empty) = %v", err)
	}

	// Closing the session ends playback.
	go func() { errc <- s.Play(context.Background(), Tone(400, 10*time.Second, 8000)) }()
	peer.read()
	_ = s.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("Play after Close = %v, want ErrClosed", err)
	}
}

func TestSetReceiverSwap(t *testing.T) {
	s1, s2 := newPair(t, PCMU, 0)
	first, second := newFrameSink(), newFrameSink()
	s2.SetReceiver(first.receive)
	frame := make([]int16, FrameSamples)
	_ = s1.WriteFrame(frame)
	waitFor(t, "first receiver", func() bool { return first.count() == 1 })
	s2.SetReceiver(second.receive)
	_ = s1.WriteFrame(frame)
	waitFor(t, "second receiver", func() bool { return second.count() == 1 })
	s2.SetReceiver(nil)
	_ = s1.WriteFrame(frame)
	waitFor(t, "third packet counted", func() bool { return s2.Stats().PacketsIn == 3 })
	if first.count() != 1 || second.count() != 1 {
		t.Fatalf("old receivers still called: %d, %d", first.count(), second.count())
	}
}

func TestReframesOtherPtimes(t *testing.T) {
	a := newTestAlloc(t, 8)
	s := newTestSession(t, a)
	peer := newRawPeer(t)
	s.SetRemote(peer.addr(), PCMU, 0)
	sink := newFrameSink()
	s.SetReceiver(sink.receive)
	s.Start()
	tone := Tone(600, 60*time.Millisecond, 8000).Samples // 480 samples
	enc := encodeAll(t, PCMU, tone)
	// 10 ms packets (80 samples): the receiver still gets 20 ms frames.
	for i := range 6 {
		peer.send(s.LocalAddr(), rtpBytes(t, 0, uint16(i), uint32(80*i), 7, i == 0, enc[80*i:80*(i+1)]))
	}
	waitFor(t, "three 20 ms frames", func() bool { return sink.count() == 3 })
	want, _ := PCMU.Decode(nil, enc)
	if !equalPCM(sink.all(), want) {
		t.Fatal("reframed audio differs")
	}
	for _, f := range sink.frames {
		if len(f) != FrameSamples {
			t.Fatalf("frame of %d samples", len(f))
		}
	}
}

func TestDirection(t *testing.T) {
	tests := []struct {
		dir            Direction
		sends, hearsIn bool
	}{
		{SendRecv, true, true},
		{SendOnly, true, false},
		{RecvOnly, false, true},
		{Inactive, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.dir.String(), func(t *testing.T) {
			a := newTestAlloc(t, 8)
			s := newTestSession(t, a)
			peer := newRawPeer(t)
			s.SetRemote(peer.addr(), PCMU, 0)
			sink := newFrameSink()
			s.SetReceiver(sink.receive)
			s.Start()
			s.SetDirection(tc.dir)
			frame := make([]int16, FrameSamples)
			if err := s.WriteFrame(frame); err != nil {
				t.Fatal(err)
			}
			_, got := peer.tryRead(200 * time.Millisecond)
			if got != tc.sends {
				t.Errorf("packet sent: %v, want %v", got, tc.sends)
			}
			peer.send(s.LocalAddr(), rtpBytes(t, 0, 1, 160, 3, true, make([]byte, FrameSamples)))
			waitFor(t, "packet counted", func() bool { return s.Stats().PacketsIn == 1 })
			time.Sleep(20 * time.Millisecond)
			if got := sink.count() == 1; got != tc.hearsIn {
				t.Errorf("frame delivered: %v, want %v", got, tc.hearsIn)
			}
			// Back to sendrecv: sequence numbers count only packets sent,
			// and a resumed stream starts with the marker bit.
			s.sendMu.Lock()
			nextSeq := s.seq
			s.sendMu.Unlock()
			s.SetDirection(SendRecv)
			if err := s.WriteFrame(frame); err != nil {
				t.Fatal(err)
			}
			p := peer.read()
			if p.SequenceNumber != nextSeq || (!tc.sends && !p.Marker) {
				t.Errorf("after resume: %+v, want seq %d (marker if nothing was sent before)", p.Header, nextSeq)
			}
		})
	}
}

func TestJitterStat(t *testing.T) {
	tests := []struct {
		name     string
		arrival  func(i int) time.Duration // arrival offset of packet i
		wantMin  float64
		wantMax  float64
		wantLate uint64
	}{
		{"perfectly paced", func(i int) time.Duration { return time.Duration(i) * FrameDuration }, 0, 0.01, 0},
		{"alternating ±5 ms", func(i int) time.Duration {
			return time.Duration(i)*FrameDuration + time.Duration(5*(i%2*2-1))*time.Millisecond
		}, 5, 10.5, 0},
		{"two packets held 100 ms", func(i int) time.Duration {
			d := time.Duration(i) * FrameDuration
			if i == 50 || i == 120 {
				d += 100 * time.Millisecond
			}
			return d
		}, 0, 20, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAlloc(t, 4)
			s := newTestSession(t, a)
			from := netip.MustParseAddrPort("127.0.0.1:4000")
			s.SetRemote(from, PCMU, 0)
			s.started.Store(true) // fed directly, no reader
			var rs rxScratch
			tx := newTxBatch(4, pktRoom)
			base := rxEpoch.Add(time.Second)
			for i := range 200 {
				b := rtpBytes(t, 0, uint16(i), uint32(i*FrameSamples), 1, i == 0, make([]byte, FrameSamples))
				s.handlePacket(&rs, b, from, base.Add(tc.arrival(i)), tx)
			}
			if j := s.Stats().JitterMs; j < tc.wantMin || j > tc.wantMax {
				t.Fatalf("JitterMs = %.3f, want %.1f..%.1f", j, tc.wantMin, tc.wantMax)
			}
			if l := s.Stats().Late; l != tc.wantLate {
				t.Fatalf("Late = %d, want %d", l, tc.wantLate)
			}
		})
	}
}

func TestSendErrorsDoNotStopPlayback(t *testing.T) {
	a := newTestAlloc(t, 4)
	s := newTestSession(t, a)
	// An IPv6 peer cannot be reached from an IPv4 socket: every sendto fails.
	s.SetRemote(netip.MustParseAddrPort("[::1]:9"), PCMU, 0)
	if err := s.WriteFrame(make([]int16, FrameSamples)); !errors.Is(err, ErrSend) {
		t.Fatalf("WriteFrame = %v, want ErrSend", err)
	}
	if err := s.Play(context.Background(), Tone(400, 5*FrameDuration, 8000)); err != nil {
		t.Fatalf("Play gave up on send errors: %v", err)
	}
	if got := s.Stats().SendErrors; got != 6 {
		t.Fatalf("SendErrors = %d, want 6", got)
	}
}

// TestStartPlayTellsOnce: StartPlay returns at once and calls done exactly
// once with what Play would return — nil after the last frame's 20 ms,
// ctx.Err() when cancelled, ErrClosed when the session closes — with no
// goroutine of its own waiting meanwhile.
func TestStartPlayTellsOnce(t *testing.T) {
	a := newTestAlloc(t, 8)
	s := newTestSession(t, a)
	peer := newRawPeer(t)
	s.SetRemote(peer.addr(), PCMU, 0)
	start := func(ctx context.Context, p ...*Prompt) (<-chan error, *atomic.Int32) {
		var calls atomic.Int32
		res := make(chan error, 2)
		s.StartPlay(ctx, func(err error) { calls.Add(1); res <- err }, p...)
		return res, &calls
	}
	wait := func(res <-chan error) error {
		t.Helper()
		select {
		case err := <-res:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("done never called")
			return nil
		}
	}

	// Played to the end: every frame on the wire, done after their time.
	tone := Tone(500, 5*FrameDuration, 8000)
	began := time.Now()
	res, calls := start(context.Background(), tone)
	if err := wait(res); err != nil {
		t.Fatalf("done(%v), want nil", err)
	}
	if took := time.Since(began); took < 5*FrameDuration {
		t.Fatalf("done after %v, before the 5 frames could be heard", took)
	}
	for range 5 {
		peer.read()
	}
	time.Sleep(100 * time.Millisecond)
	if n := calls.Load(); n != 1 {
		t.Fatalf("done called %d times", n)
	}

	// Nothing to play: done(nil) at once.
	res, _ = start(context.Background())
	if err := wait(res); err != nil {
		t.Fatalf("empty: done(%v)", err)
	}

	// Cancelled mid-prompt: ctx.Err(), and no frame after the cancel.
	ctx, cancel := context.WithCancel(context.Background())
	res, calls = start(ctx, Tone(500, 10*time.Second, 8000))
	peer.read()
	cancel()
	if err := wait(res); err != context.Canceled {
		t.Fatalf("cancelled: done(%v), want context.Canceled", err)
	}
	for {
		if _, ok := peer.tryRead(60 * time.Millisecond); !ok {
			break
		}
	}
	if _, ok := peer.tryRead(100 * time.Millisecond); ok {
		t.Fatal("a frame after the cancel was told")
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("done called %d times after a cancel", n)
	}

	// The session closes under it: ErrClosed.
	res, _ = start(context.Background(), Tone(500, 10*time.Second, 8000))
	peer.read()
	_ = s.Close()
	if err := wait(res); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed: done(%v), want ErrClosed", err)
	}
}
