package sip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/media/sdp"
)

// echoHandler answers, plays a 600 Hz tone, then sends back what it hears;
// it keeps a copy of the caller's audio for the test.
type echoHandler struct {
	mu    sync.Mutex
	heard []int16
	legs  chan *Leg
}

func (h *echoHandler) Admit(CallInfo) int { return 0 }

func (h *echoHandler) Serve(ctx context.Context, leg *Leg) {
	if err := leg.Answer(ctx); err != nil {
		return
	}
	h.legs <- leg
	m := leg.Media()
	m.SetReceiver(func(pcm []int16) {
		h.mu.Lock()
		h.heard = append(h.heard, pcm...)
		h.mu.Unlock()
	})
	if err := m.Play(ctx, media.Tone(600, 400*time.Millisecond, 6000)); err != nil {
		return
	}
	<-ctx.Done()
}

func (h *echoHandler) audio() []int16 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int16(nil), h.heard...)
}

// mediaPhone is a phone's audio end for these tests: a real media.Session
// (SRTP-capable) with a sink.
type mediaPhone struct {
	sess  *media.Session
	mu    sync.Mutex
	heard []int16
}

func newMediaPhone(t *testing.T) *mediaPhone {
	t.Helper()
	ports, err := media.NewPortAllocator(30000+2*(int(time.Now().UnixNano()/1000)%400), 30998)
	if err != nil {
		t.Fatal(err)
	}
	s, err := media.NewSession(ports, netip.MustParseAddr("127.0.0.1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	p := &mediaPhone{sess: s}
	s.SetReceiver(func(pcm []int16) {
		p.mu.Lock()
		p.heard = append(p.heard, pcm...)
		p.mu.Unlock()
	})
	return p
}

func (p *mediaPhone) audio() []int16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int16(nil), p.heard...)
}

func (p *mediaPhone) talk(t *testing.T, freq float64, d time.Duration) {
	tone := media.Tone(freq, d, 6000)
	if err := p.sess.Play(context.Background(), tone); err != nil {
		t.Fatal(err)
	}
}

var cryptoRe = regexp.MustCompile(`a=crypto:(\d+) (\S+) inline:(\S+)`)

func offerSDP(port int, proto, extra string) string {
	return fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d %s 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n%s", port, proto, extra)
}

func dialUAC(t *testing.T, addr string) *uac {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &uac{t: t, c: c, local: c.LocalAddr().String(), addr: addr}
}

func (u *uac) ackWith(body string) {
	msg := fmt.Sprintf("ACK sip:hotline@%s SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=z9hG4bKack%d\r\nFrom: <sip:13800000001@127.0.0.1>;tag=uac1\r\nTo: <sip:10010@127.0.0.1>;tag=%s\r\nCall-ID: %s\r\nCSeq: %d ACK\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
		u.addr, u.viaT(), u.local, time.Now().UnixNano(), u.toTag, u.cid(), u.cseq, len(body), body)
	if _, err := u.c.Write([]byte(msg)); err != nil {
		u.t.Fatal(err)
	}
}

func sdpBody(resp string) string {
	_, b, _ := strings.Cut(resp, "\r\n\r\n")
	return b
}

// checkTwoWay: the phone hears the engine's 600 Hz prompt, the engine hears
// the phone's 1 kHz.
func checkTwoWay(t *testing.T, h *echoHandler, phone *mediaPhone) {
	t.Helper()
	phone.talk(t, 1000, 400*time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && (len(phone.audio()) < 15*160 || len(h.audio()) < 15*160) {
		time.Sleep(20 * time.Millisecond)
	}
	got, sent := phone.audio(), h.audio()
	if len(got) < 15*160 || goertzel(got, 600) < 100*goertzel(got, 1000) {
		t.Fatalf("phone did not hear the engine's 600 Hz (%d samples)", len(got))
	}
	if len(sent) < 15*160 || goertzel(sent, 1000) < 100*goertzel(sent, 600) {
		t.Fatalf("engine did not hear the phone's 1 kHz (%d samples)", len(sent))
	}
}

// TestSRTPCall: an RTP/SAVP offer with an SDES key is answered RTP/SAVP with
// one crypto line of the offered tag and the engine's own key; audio both
// ways is encrypted (each side authenticates every packet it accepts).
func TestSRTPCall(t *testing.T) {
	h := &echoHandler{legs: make(chan *Leg, 1)}
	env := newTestEnv(t, nil, h)
	phone := newMediaPhone(t)
	phoneKey, _ := media.NewSRTPKey(media.SuiteAES128SHA1_80)
	u := dialUAC(t, env.addr)
	offer := offerSDP(int(phone.sess.LocalAddr().Port()), "RTP/SAVP",
		"a=crypto:3 AES_CM_128_HMAC_SHA1_32 inline:"+mustKey(t, media.SuiteAES128SHA1_32).Inline()+"\r\na=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:"+phoneKey.Inline()+"|2^31\r\n")
	r := u.send("INVITE", "", offer)
	if !strings.HasPrefix(r, "SIP/2.0 200") {
		t.Fatalf("SAVP INVITE: %q", r)
	}
	u.toTag = toTagRe.FindStringSubmatch(r)[1]
	u.ack()
	ans := sdpBody(r)
	if !strings.Contains(ans, "RTP/SAVP 0 101") || strings.Count(ans, "a=crypto:") != 1 {
		t.Fatalf("answer is not RTP/SAVP with one crypto line:\n%s", ans)
	}
	m := cryptoRe.FindStringSubmatch(ans)
	if m == nil || m[1] != "7" || m[2] != media.SuiteAES128SHA1_80 {
		t.Fatalf("answer's crypto %q, want tag 7 %s", m, media.SuiteAES128SHA1_80)
	}
	engineKey, err := media.ParseSRTPKey(m[2], m[3])
	if err != nil || engineKey.Inline() == phoneKey.Inline() {
		t.Fatalf("engine key %v (must be its own)", err)
	}
	d, _ := sdp.Parse([]byte(ans))
	if err := phone.sess.SetSRTP(phoneKey, engineKey); err != nil {
		t.Fatal(err)
	}
	phone.sess.SetRemote(netip.AddrPortFrom(d.Streams[0].Addr, uint16(d.Streams[0].Port)), media.PCMU, 101)
	phone.sess.Start()
	leg := <-h.legs
	checkTwoWay(t, h, phone)
	if st := leg.Media().Stats(); !st.SRTP || st.DroppedAuth != 0 || st.PacketsIn < 15 {
		t.Fatalf("engine leg: srtp %v, %d packets in, %d failed authentication", st.SRTP, st.PacketsIn, st.DroppedAuth)
	}
	if st := phone.sess.Stats(); st.DroppedAuth != 0 || st.PacketsIn < 15 {
		t.Fatalf("phone: %d packets in, %d failed authentication", st.PacketsIn, st.DroppedAuth)
	}
	// A re-INVITE dropping the crypto is refused: no silent downgrade.
	if r := u.send("INVITE", "", offerSDP(int(phone.sess.LocalAddr().Port()), "RTP/AVP", "")); !strings.HasPrefix(r, "SIP/2.0 488") {
		t.Fatalf("plain re-INVITE on an SRTP call: %q", r)
	}
	// Hold on the SRTP leg keeps the keys.
	if r := u.send("INVITE", "", strings.Replace(offer, "a=sendrecv", "a=sendonly", 1)); !strings.HasPrefix(r, "SIP/2.0 200") || !strings.Contains(r, "a=recvonly") || !strings.Contains(r, "RTP/SAVP") {
		t.Fatalf("hold re-INVITE on SRTP: %q", r)
	}
	u.ack()
	if r := u.send("BYE", "", ""); !strings.HasPrefix(r, "SIP/2.0 200") {
		t.Fatalf("BYE: %q", r)
	}
}

func mustKey(t *testing.T, suite string) media.SRTPKey {
	k, err := media.NewSRTPKey(suite)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSAVPRefusedWhenSRTPOff: with media.srtp off for the trunk, an
// RTP/SAVP offer gets 488 with a Warning, never a plain RTP/AVP answer.
func TestSAVPRefusedWhenSRTPOff(t *testing.T) {
	h := &echoHandler{legs: make(chan *Leg, 1)}
	env := newTestEnv(t, func(c *Config) { c.Trunks[0].SRTP = sdp.SRTPOff }, h)
	u := dialUAC(t, env.addr)
	r := u.send("INVITE", "", offerSDP(4000, "RTP/SAVP", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"+mustKey(t, media.SuiteAES128SHA1_80).Inline()+"\r\n"))
	if !strings.HasPrefix(r, "SIP/2.0 488") || !strings.Contains(r, "Warning: 399") {
		t.Fatalf("SAVP with SRTP off: %q", r)
	}
	if env.srv.Stats.LegsOpened.Load() != 0 {
		t.Fatal("a leg was opened")
	}
}

// TestLateOffer: an INVITE without SDP gets our offer in the 200 OK, the
// phone's answer comes in the ACK, and audio flows both ways.
func TestLateOffer(t *testing.T) {
	h := &echoHandler{legs: make(chan *Leg, 1)}
	env := newTestEnv(t, nil, h)
	phone := newMediaPhone(t)
	u := dialUAC(t, env.addr)
	r := u.send("INVITE", "", "")
	if !strings.HasPrefix(r, "SIP/2.0 200") {
		t.Fatalf("offerless INVITE: %q", r)
	}
	u.toTag = toTagRe.FindStringSubmatch(r)[1]
	offer, err := sdp.Parse([]byte(sdpBody(r)))
	if err != nil || len(offer.Streams) != 1 || offer.Streams[0].Proto != "RTP/AVP" || len(offer.Streams[0].Formats) < 3 {
		t.Fatalf("our offer in the 200 OK: %v\n%s", err, sdpBody(r))
	}
	u.ackWith(offerSDP(int(phone.sess.LocalAddr().Port()), "RTP/AVP", ""))
	phone.sess.SetRemote(netip.AddrPortFrom(offer.Streams[0].Addr, uint16(offer.Streams[0].Port)), media.PCMU, 101)
	phone.sess.Start()
	leg := <-h.legs
	checkTwoWay(t, h, phone)
	if c := leg.Codec(); c.Name != "PCMU" {
		t.Fatalf("codec %s", c.Name)
	}
	if r := u.send("BYE", "", ""); !strings.HasPrefix(r, "SIP/2.0 200") {
		t.Fatalf("BYE: %q", r)
	}
}

// TestVideoDeclinedNotRefused: audio+video is answered with the audio
// stream and m=video port 0, and the call works.
func TestVideoDeclinedNotRefused(t *testing.T) {
	h := &echoHandler{legs: make(chan *Leg, 1)}
	env := newTestEnv(t, nil, h)
	phone := newMediaPhone(t)
	u := dialUAC(t, env.addr)
	r := u.send("INVITE", "", offerSDP(int(phone.sess.LocalAddr().Port()), "RTP/AVP", "")+"m=video 9000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n")
	if !strings.HasPrefix(r, "SIP/2.0 200") {
		t.Fatalf("audio+video INVITE: %q", r)
	}
	u.toTag = toTagRe.FindStringSubmatch(r)[1]
	u.ack()
	ans := sdpBody(r)
	if !strings.Contains(ans, "m=video 0 RTP/AVP 96") || !strings.Contains(ans, "a=fmtp:101 0-15") {
		t.Fatalf("answer:\n%s", ans)
	}
	d, _ := sdp.Parse([]byte(ans))
	phone.sess.SetRemote(netip.AddrPortFrom(d.Streams[0].Addr, uint16(d.Streams[0].Port)), media.PCMU, 101)
	phone.sess.Start()
	<-h.legs
	checkTwoWay(t, h, phone)
	_ = u.send("BYE", "", "")
}
