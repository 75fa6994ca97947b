package sip

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/media/sdp"
	"github.com/hotlinecc/hotline/sip/tlstest"
)

func withTLS(ca *tlstest.CA, p tlstest.Pair) func(*Config) {
	return func(c *Config) {
		c.TLSAddr, c.TLSCert, c.TLSKey, c.TLSClientCA = "127.0.0.1:0", p.Cert, p.Key, ca.File
	}
}

func dialTLS(t *testing.T, addr string, conf *tls.Config) *uac {
	t.Helper()
	c, err := tls.Dial("tcp", addr, conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &uac{t: t, c: c, local: c.LocalAddr().String(), addr: addr, via: "TLS"}
}

// TestSIPOverTLSWithSRTP: a phone calls over TLS with an RTP/SAVP offer;
// the answer is SAVP with crypto, our Contact is a TLS one, and two-way
// audio is encrypted. The certificate is reloaded from the same files.
func TestSIPOverTLSWithSRTP(t *testing.T) {
	ca := tlstest.NewCA(t)
	pair := ca.Server("hotline-1")
	h := &echoHandler{legs: make(chan *Leg, 1)}
	env := newTestEnv(t, withTLS(ca, pair), h)
	if env.srv.TLSAddr() == "" {
		t.Fatal("no TLS listener")
	}
	// Without the CA the phone refuses our certificate: it really is TLS.
	if _, err := tls.Dial("tcp", env.srv.TLSAddr(), &tls.Config{}); err == nil {
		t.Fatal("TLS handshake succeeded without trusting the test CA")
	}
	u := dialTLS(t, env.srv.TLSAddr(), &tls.Config{RootCAs: ca.Pool})
	phone := newMediaPhone(t)
	phoneKey := mustKey(t, media.SuiteAES128SHA1_80)
	r := u.send("INVITE", "", offerSDP(int(phone.sess.LocalAddr().Port()), "RTP/SAVP", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"+phoneKey.Inline()+"\r\n"))
	if !strings.HasPrefix(r, "SIP/2.0 200") {
		t.Fatalf("INVITE over TLS: %q", r)
	}
	if !strings.Contains(r, "transport=tls") {
		t.Fatalf("Contact is not a TLS contact:\n%s", r)
	}
	u.toTag = toTagRe.FindStringSubmatch(r)[1]
	u.ack()
	m := cryptoRe.FindStringSubmatch(sdpBody(r))
	if m == nil {
		t.Fatalf("no crypto in answer:\n%s", sdpBody(r))
	}
	engineKey, err := media.ParseSRTPKey(m[2], m[3])
	if err != nil {
		t.Fatal(err)
	}
	d, _ := sdp.Parse([]byte(sdpBody(r)))
	if err := phone.sess.SetSRTP(phoneKey, engineKey); err != nil {
		t.Fatal(err)
	}
	phone.sess.SetRemote(netip.AddrPortFrom(d.Streams[0].Addr, uint16(d.Streams[0].Port)), media.PCMU, 101)
	phone.sess.Start()
	leg := <-h.legs
	checkTwoWay(t, h, phone)
	if st := leg.Media().Stats(); !st.SRTP || st.DroppedAuth != 0 {
		t.Fatalf("leg srtp %v auth failures %d", st.SRTP, st.DroppedAuth)
	}
	if leg.Info.Transport != "TLS" {
		t.Fatalf("transport %q", leg.Info.Transport)
	}
	if r := u.send("BYE", "", ""); !strings.HasPrefix(r, "SIP/2.0 200") {
		t.Fatalf("BYE: %q", r)
	}

	// SIGHUP: a renewed certificate in the same files is served to new
	// connections.
	renewed := ca.Server("hotline-2")
	tlstest.Install(t, renewed, pair)
	if err := env.srv.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	c, err := tls.Dial("tcp", env.srv.TLSAddr(), &tls.Config{RootCAs: ca.Pool})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "hotline-2" {
		t.Fatalf("after reload the server presents %q", cn)
	}
	// A broken file keeps the certificate in use.
	if err := writeFile(pair.Key, "junk"); err != nil {
		t.Fatal(err)
	}
	if err := env.srv.ReloadTLS(); err == nil {
		t.Fatal("reload of a broken key succeeded")
	}
	c2, err := tls.Dial("tcp", env.srv.TLSAddr(), &tls.Config{RootCAs: ca.Pool})
	if err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}
	c2.Close()
}

// TestTrunkClientCertificate: a trunk with a TLS name is admitted (no
// digest challenge) only over TLS with a client certificate naming it.
func TestTrunkClientCertificate(t *testing.T) {
	ca := tlstest.NewCA(t)
	h := &echoHandler{legs: make(chan *Leg, 2)}
	env := newTestEnv(t, func(c *Config) {
		withTLS(ca, ca.Server("hotline"))(c)
		c.Trunks = []Trunk{{Name: "carrier", TLSName: "carrier.example", Sources: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}
	}, h)
	// No client certificate: treated as a phone, challenged.
	u := dialTLS(t, env.srv.TLSAddr(), &tls.Config{RootCAs: ca.Pool})
	if r := u.send("INVITE", "", offerSDP(4000, "RTP/AVP", "")); !strings.HasPrefix(r, "SIP/2.0 401") {
		t.Fatalf("trunk without certificate: %q", r)
	}
	// Another name's certificate: challenged too.
	other := ca.Client("someone.else")
	u2 := dialTLS(t, env.srv.TLSAddr(), &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{other.TLS}})
	if r := u2.send("INVITE", "", offerSDP(4000, "RTP/AVP", "")); !strings.HasPrefix(r, "SIP/2.0 401") {
		t.Fatalf("wrong certificate: %q", r)
	}
	// Plain UDP from the trunk's addresses: challenged.
	if r := dialUAC(t, env.addr).send("INVITE", "", offerSDP(4000, "RTP/AVP", "")); !strings.HasPrefix(r, "SIP/2.0 401") {
		t.Fatalf("trunk over UDP: %q", r)
	}
	good := ca.Client("carrier.example")
	u3 := dialTLS(t, env.srv.TLSAddr(), &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{good.TLS}})
	if r := u3.send("INVITE", "", offerSDP(4000, "RTP/AVP", "")); !strings.HasPrefix(r, "SIP/2.0 200") {
		t.Fatalf("trunk with its certificate: %q", r)
	}
}

// TestSlowlorisStreamConnectionsCut: 300 TCP connections that send half a
// SIP message and stall are closed at the first-message deadline, and
// plain TCP connections that never send are too; meanwhile a normal
// REGISTER over UDP and an OPTIONS over TCP are answered. A source that is
// no trunk may hold only MaxConnsPerSource connections.
func TestSlowlorisStreamConnectionsCut(t *testing.T) {
	env := newTestEnv(t, func(c *Config) {
		c.FirstMessageTimeout = 2 * time.Second
		c.MaxConnsPerSource = 20
		c.Trunks = []Trunk{{Name: "carrier", Sources: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}}
	}, &bridgeHandler{})
	tcp := env.srv.TCPAddr()
	var conns []net.Conn
	for i := 0; i < 300; i++ {
		// Spread over 127.0.0.1 (a trunk: no per-source cap) and 127.0.1.x.
		laddr := &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+i/15))}
		if i%2 == 0 {
			laddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
		}
		c, err := (&net.Dialer{LocalAddr: laddr}).Dial("tcp", tcp)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if i%3 != 0 {
			_, _ = c.Write([]byte("INVITE sip:10010@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP x;branch=z9hG4bKslow\r\nFrom: <sip"))
		}
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	waitUntil(t, "300 connections open", func() bool { return env.srv.OpenConns() == 300 })
	// The edge still serves: a phone registers over UDP, a probe over TCP.
	phone := newTestPhone(t, "127.0.0.1", env.addr, "1001", "pass1001")
	if c := phone.register(300); c != 200 {
		t.Fatalf("REGISTER during the attack: %d", c)
	}
	probe, err := net.Dial("tcp", tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	u := &uac{t: t, c: probe, local: probe.LocalAddr().String(), addr: tcp, via: "TCP"}
	if r := u.send("OPTIONS", "", ""); !strings.HasPrefix(r, "SIP/2.0 200") {
		t.Fatalf("OPTIONS over TCP during the attack: %q", r)
	}
	// Every stalled connection is closed by the server.
	var wg sync.WaitGroup
	closed := make(chan int, len(conns))
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.ReadAll(c); err == nil || strings.Contains(err.Error(), "reset") {
				closed <- i
			}
		}()
	}
	wg.Wait()
	if n := len(closed); n != len(conns) {
		t.Fatalf("%d of %d stalled connections closed by the server", n, len(conns))
	}
	waitUntil(t, "only the probe open", func() bool { return env.srv.OpenConns() == 1 })
	if n := env.srv.conns.timedOut.Load(); n < 300 {
		t.Fatalf("%d connections counted as cut", n)
	}

	// The per-source cap: a non-trunk source gets 20 connections, no more.
	var extra []net.Conn
	for i := 0; i < 25; i++ {
		c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 2, 1)}}).Dial("tcp", tcp)
		if err != nil {
			t.Fatal(err)
		}
		extra = append(extra, c)
	}
	defer func() {
		for _, c := range extra {
			c.Close()
		}
	}()
	waitUntil(t, "cap applied", func() bool { return env.srv.conns.refused.Load() == 5 })
	if n := env.srv.OpenConns(); n != 21 {
		t.Fatalf("%d connections open, want 20 from the capped source and the probe", n)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOutboundTrunkOverTLS: calls to a trunk whose outbound address says
// transport=tls go over TLS, checked against the configured CA, and with
// the trunk's SRTP required the media is RTP/SAVP end to end.
func TestOutboundTrunkOverTLS(t *testing.T) {
	ca := tlstest.NewCA(t)
	carrier := &echoHandler{legs: make(chan *Leg, 1)}
	far := newTestEnv(t, withTLS(ca, ca.Server("carrier")), carrier)
	_, port, _ := strings.Cut(far.srv.TLSAddr(), ":")
	outbound := "127.0.0.1:" + port + ";transport=tls"
	dialer := &uriDialer{uri: "sip:13800000001@" + outbound, result: make(chan dialResult, 2)}
	us := newTestEnv(t, func(c *Config) {
		c.TLSRootCA = ca.File
		c.Trunks = []Trunk{
			{Name: "inbound", Sources: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
			{Name: "carrier", Sources: []netip.Prefix{netip.MustParsePrefix("127.0.0.9/32")}, Outbound: outbound, SRTP: sdp.SRTPRequired},
		}
	}, dialer)
	dialer.mu.Lock()
	dialer.srv = us.srv
	dialer.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// A call into us makes us call out through the trunk, as the engine does.
	u := dialUAC(t, us.addr)
	if r := u.send("INVITE", "", offerSDP(4000, "RTP/AVP", "")); !strings.HasPrefix(r, "SIP/2.0 200") {
		t.Fatalf("call into us: %q", r)
	}
	u.toTag = toTagRe.FindStringSubmatch(u.lastFinal)[1]
	u.ack()
	var r dialResult
	select {
	case r = <-dialer.result:
	case <-ctx.Done():
		t.Fatal("the dial through the trunk never ended")
	}
	leg, err := r.leg, r.err
	if err != nil {
		t.Fatalf("dial the trunk over TLS: %v", err)
	}
	defer leg.Close() // the caller owns a dialled leg
	in := <-carrier.legs
	if in.Info.Transport != "TLS" {
		t.Fatalf("the carrier got the call over %s", in.Info.Transport)
	}
	if !leg.Media().SRTP() || !in.Media().SRTP() {
		t.Fatalf("SRTP: ours %v, carrier's %v", leg.Media().SRTP(), in.Media().SRTP())
	}
	// Audio from our leg reaches the carrier, decrypted.
	leg.Media().Start()
	if err := leg.Media().Play(ctx, media.Tone(1000, 400*time.Millisecond, 6000)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "carrier hears us", func() bool { return len(carrier.audio()) >= 15*160 })
	if a := carrier.audio(); goertzel(a, 1000) < 100*goertzel(a, 600) {
		t.Fatal("carrier did not hear our 1 kHz")
	}
	// A carrier whose certificate we do not trust is not called.
	other := tlstest.NewCA(t)
	stranger := newTestEnv(t, withTLS(other, other.Server("evil")), &echoHandler{legs: make(chan *Leg, 1)})
	_, sport, _ := strings.Cut(stranger.srv.TLSAddr(), ":")
	dialer.mu.Lock()
	dialer.uri = "sip:13800000001@127.0.0.1:" + sport + ";transport=tls"
	dialer.mu.Unlock()
	u2 := dialUAC(t, us.addr)
	u2.callID = "untrusted"
	if r := u2.send("INVITE", "", offerSDP(4002, "RTP/AVP", "")); !strings.HasPrefix(r, "SIP/2.0 200") {
		t.Fatalf("second call into us: %q", r)
	}
	u2.toTag = toTagRe.FindStringSubmatch(u2.lastFinal)[1]
	u2.ack()
	select {
	case r := <-dialer.result:
		if r.err == nil {
			r.leg.Close()
			t.Fatal("dialled a TLS peer with an untrusted certificate")
		}
	case <-ctx.Done():
		t.Fatal("the dial to an untrusted peer never ended")
	}
}

type dialResult struct {
	leg *Leg
	err error
}

// uriDialer answers a call and dials uri from the call's goroutine (as the
// engine places outbound calls), reporting the outcome.
type uriDialer struct {
	srv    *Server
	mu     sync.Mutex
	uri    string
	result chan dialResult
}

func (d *uriDialer) Admit(CallInfo) int { return 0 }

func (d *uriDialer) Serve(ctx context.Context, leg *Leg) {
	if err := leg.Answer(ctx); err != nil {
		return
	}
	d.mu.Lock()
	uri, srv := d.uri, d.srv
	d.mu.Unlock()
	out, err := srv.Dial(ctx, DialRequest{URI: uri, CallerID: "1001"})
	d.result <- dialResult{out, err}
	<-ctx.Done()
}
