package media

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// TestSRTPBothWays: two sessions keyed with SDES keys exchange a tone in
// both directions; what crosses the wire is not the clear G.711, a plain
// RTP packet or one replayed is dropped, and DTMF still arrives.
func TestSRTPBothWays(t *testing.T) {
	a := newTestAlloc(t, 8)
	x, y := newTestSession(t, a), newTestSession(t, a)
	kx, err := NewSRTPKey(SuiteAES128SHA1_80)
	if err != nil {
		t.Fatal(err)
	}
	ky, _ := NewSRTPKey(SuiteAES128SHA1_32)
	// Keys travel as SDES inline text.
	kxSeen, err := ParseSRTPKey(kx.Suite, kx.Inline()+"|2^31")
	if err != nil {
		t.Fatal(err)
	}
	kySeen, _ := ParseSRTPKey(ky.Suite, ky.Inline())
	if err := x.SetSRTP(kx, kySeen); err != nil {
		t.Fatal(err)
	}
	if err := y.SetSRTP(ky, kxSeen); err != nil {
		t.Fatal(err)
	}
	x.SetRemote(y.LocalAddr(), PCMU, 101)
	y.SetRemote(x.LocalAddr(), PCMU, 101)
	sx, sy := newFrameSink(), newFrameSink()
	x.SetReceiver(sx.receive)
	y.SetReceiver(sy.receive)
	x.Start()
	y.Start()
	tone := Tone(1000, 200*time.Millisecond, 8000)
	for i := 0; i+FrameSamples <= len(tone.Samples); i += FrameSamples {
		if err := x.WriteFrame(tone.Samples[i : i+FrameSamples]); err != nil {
			t.Fatal(err)
		}
		if err := y.WriteFrame(tone.Samples[i : i+FrameSamples]); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "frames both ways", func() bool { return sx.count() == 10 && sy.count() == 10 })
	if !equalPCM(sy.all(), decodedTone(t, tone)) || !equalPCM(sx.all(), decodedTone(t, tone)) {
		t.Fatal("decrypted audio differs from what was sent")
	}
	if err := x.SendDTMF(t.Context(), '5'); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-y.DTMF():
		if d != '5' {
			t.Fatalf("digit %q", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no DTMF over SRTP")
	}

	// On the wire: a snooper given x's packets sees no clear G.711, and its
	// replay or a forged plain packet is dropped by y.
	snoop := newRawPeer(t)
	x.SetRemote(snoop.addr(), PCMU, 101)
	if err := x.WriteFrame(tone.Samples[:FrameSamples]); err != nil {
		t.Fatal(err)
	}
	pkt := snoop.read()
	clear, _ := PCMU.Encode(nil, tone.Samples[:FrameSamples])
	if bytes.Contains(pkt.Payload, clear[:40]) || len(pkt.Payload) != FrameSamples+10 {
		t.Fatalf("SRTP payload looks clear or lacks the 80-bit tag (%d bytes)", len(pkt.Payload))
	}
	raw, _ := pkt.Marshal()
	before := y.Stats().DroppedAuth
	snoop.send(y.LocalAddr(), raw)                                                                            // genuine, new index: heard
	snoop.send(y.LocalAddr(), raw)                                                                            // the same again: a replay
	snoop.send(y.LocalAddr(), rtpBytes(t, 0, 999, 160, x.SSRC(), false, clear))                               // plain RTP
	snoop.send(y.LocalAddr(), append(rtpBytes(t, 0, 1000, 160, x.SSRC(), false, clear), make([]byte, 10)...)) // forged tag
	waitFor(t, "forged dropped", func() bool { return y.Stats().DroppedAuth == before+3 })
	if y.Stats().SRTP != true {
		t.Fatal("stats do not say SRTP")
	}
}

func TestParseSRTPKeyErrors(t *testing.T) {
	for _, tc := range []struct{ suite, inline string }{
		{"F8_128_HMAC_SHA1_80", "AAAA"},
		{SuiteAES128SHA1_80, "not base64!"},
		{SuiteAES128SHA1_80, "AAAA"},
	} {
		if _, err := ParseSRTPKey(tc.suite, tc.inline); err == nil {
			t.Fatalf("%s %q accepted", tc.suite, tc.inline)
		} else if tc.suite != SuiteAES128SHA1_80 && !errors.Is(err, ErrSRTPSuite) {
			t.Fatalf("%v", err)
		}
	}
}

func decodedTone(t *testing.T, p *Prompt) []int16 {
	enc, _ := PCMU.Encode(nil, p.Samples)
	dec, err := PCMU.Decode(nil, enc)
	if err != nil {
		t.Fatal(err)
	}
	return dec
}

// BenchmarkSRTPFrame measures what SRTP adds per 20 ms G.711 packet:
// one encryption (send) and one authentication + decryption (receive).
func BenchmarkSRTPFrame(b *testing.B) {
	k, _ := NewSRTPKey(SuiteAES128SHA1_80)
	var tx, rx srtpState
	s := &Session{}
	if err := s.SetSRTP(k, k); err != nil {
		b.Fatal(err)
	}
	st := s.srtp.Load()
	tx, rx = *st, *st
	pkt := rtpBytes(b, 0, 1, 160, 7, false, make([]byte, FrameSamples))
	var hdr rtp.Header
	buf := make([]byte, 0, len(pkt)+srtpMaxTag)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pkt[2], pkt[3] = byte(i>>8), byte(i)          // next sequence number
		if _, err := hdr.Unmarshal(pkt); err != nil { // the sender has its header already
			b.Fatal(err)
		}
		// In place, as the send batch and the receive buffer do.
		buf = append(buf[:0], pkt...)
		enc, err := tx.tx.EncryptRTP(buf[:0], buf, &hdr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := rx.rx.DecryptRTP(enc[:0], enc, &rx.rxHdr); err != nil {
			b.Fatal(err)
		}
	}
}
