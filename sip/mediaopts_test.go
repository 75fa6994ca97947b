package sip

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/media/sdp"
)

// TestTrunkCallsShareRTPPort: with shared RTP ports, two trunk calls whose
// media comes from one gateway address and port get the same local port
// and each engine leg hears only its own call, told apart by the SSRCs
// the SDP announced (a=ssrc); the gateway hears each leg on its call.
func TestTrunkCallsShareRTPPort(t *testing.T) {
	h := &echoHandler{legs: make(chan *Leg, 2)}
	env := newTestEnv(t, func(c *Config) { _ = c.Ports.ShareSockets(1) }, h)
	gw, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	gwPort := gw.LocalAddr().(*net.UDPAddr).Port
	type call struct {
		u    *uac
		ssrc uint32
		leg  *Leg
		at   netip.AddrPort
	}
	calls := []*call{{ssrc: 1111}, {ssrc: 2222}}
	for i, c := range calls {
		c.u = dialUAC(t, env.addr)
		c.u.callID = fmt.Sprintf("shared-port-%d-%d", i, time.Now().UnixNano())
		r := c.u.send("INVITE", "", offerSDP(gwPort, "RTP/AVP", fmt.Sprintf("a=ssrc:%d cname:gw\r\n", c.ssrc)))
		if !strings.HasPrefix(r, "SIP/2.0 200") {
			t.Fatalf("INVITE %d: %q", i, r)
		}
		c.u.toTag = toTagRe.FindStringSubmatch(r)[1]
		c.u.ack()
		d, err := sdp.Parse([]byte(sdpBody(r)))
		if err != nil {
			t.Fatal(err)
		}
		c.at = netip.AddrPortFrom(d.Streams[0].Addr, uint16(d.Streams[0].Port))
		c.leg = <-h.legs
		if !c.leg.Media().Stats().SharedPort {
			t.Fatalf("trunk call %d got a port of its own", i)
		}
	}
	if calls[0].at != calls[1].at {
		t.Fatalf("calls answered on %s and %s, want one shared port", calls[0].at, calls[1].at)
	}
	// The gateway sends both calls' audio from one socket.
	for k := range 20 {
		for i, c := range calls {
			pcm := media.Tone(float64(500+500*i), media.FrameDuration, 6000).Samples
			payload, _ := media.PCMU.Encode(nil, pcm)
			hdr := []byte{0x80, 0, byte(k >> 8), byte(k), 0, 0, byte(k >> 8), byte(k), byte(c.ssrc >> 24), byte(c.ssrc >> 16), byte(c.ssrc >> 8), byte(c.ssrc)}
			if _, err := gw.WriteToUDPAddrPort(append(hdr, payload...), c.at); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && (calls[0].leg.Media().Stats().PacketsIn < 20 || calls[1].leg.Media().Stats().PacketsIn < 20) {
		time.Sleep(10 * time.Millisecond)
	}
	for i, c := range calls {
		st := c.leg.Media().Stats()
		if st.PacketsIn != 20 || st.Latched.Port() != uint16(gwPort) {
			t.Fatalf("call %d's leg: %d packets in (want 20, its own only), latched %s", i, st.PacketsIn, st.Latched)
		}
	}
	for _, c := range calls {
		if r := c.u.send("BYE", "", ""); !strings.HasPrefix(r, "SIP/2.0 200") {
			t.Fatalf("BYE: %q", r)
		}
	}
}

// TestOwnRTPPortWhenNeeded: a trunk configured with OwnRTPPort, and a
// phone whose SDP names another address than it signals from (behind
// NAT), get a port of their own even though legs share ports; a phone
// registered from the address in its Contact is dialled on a shared
// port, one whose Contact names another address gets its own.
func TestOwnRTPPortWhenNeeded(t *testing.T) {
	h := &echoHandler{legs: make(chan *Leg, 2)}
	env := newTestEnv(t, func(c *Config) {
		_ = c.Ports.ShareSockets(2)
		c.Trunks[0].OwnRTPPort = true
	}, h)
	u := dialUAC(t, env.addr)
	u.callID = fmt.Sprintf("own-port-%d", time.Now().UnixNano())
	r := u.send("INVITE", "", offerSDP(4000, "RTP/AVP", ""))
	if !strings.HasPrefix(r, "SIP/2.0 200") {
		t.Fatalf("INVITE: %q", r)
	}
	u.toTag = toTagRe.FindStringSubmatch(r)[1]
	u.ack()
	if leg := <-h.legs; leg.Media().Stats().SharedPort {
		t.Fatal("a trunk with OwnRTPPort got a shared port")
	}
	if r := u.send("BYE", "", ""); !strings.HasPrefix(r, "SIP/2.0 200") {
		t.Fatalf("BYE: %q", r)
	}

	// Registrations: 1001 from where its Contact says, 1002 behind NAT.
	for _, p := range []struct {
		user, src, contact string
		own                bool
	}{{"1001", "127.0.0.2", "", false}, {"1002", "127.0.0.3", "192.0.2.7:5060", true}} {
		ph := newTestPhone(t, p.src, env.addr, p.user, "pass"+p.user)
		if p.contact != "" {
			ph.contact = p.contact
		}
		if code := ph.register(300); code != 200 {
			t.Fatalf("register %s: %d", p.user, code)
		}
		uris, err := env.srv.userTargets(t.Context(), p.user)
		if err != nil || len(uris) != 1 {
			t.Fatalf("targets of %s: %v %v", p.user, uris, err)
		}
		o := env.srv.phoneMedia(p.user, uris[0])
		if o.OwnPort != p.own || o.Peer != netip.MustParseAddr(p.src) {
			t.Fatalf("%s: media options %+v, want own port %v, peer %s", p.user, o, p.own, p.src)
		}
	}
}
