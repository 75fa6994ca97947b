package sip

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/sip/baresiptest"
	"github.com/hotlinecc/hotline/sip/sipptest"
	"github.com/hotlinecc/hotline/sip/tlstest"
)

// TestBaresipOverTLSWithSRTP: baresip, a real softphone, calls over SIP/TLS
// with SRTP mandatory (RTP/SAVP, SDES). The engine answers SAVP with crypto,
// hears baresip's 1 kHz tone through SRTP and baresip hears (decrypts) the
// engine's 600 Hz prompt: two-way audio, encrypted on the wire.
func TestBaresipOverTLSWithSRTP(t *testing.T) {
	ca := tlstest.NewCA(t)
	h := &echoHandler{legs: make(chan *Leg, 1)}
	env := newTestEnv(t, withTLS(ca, ca.Server("hotline")), h)
	_, tlsPort, _ := strings.Cut(env.srv.TLSAddr(), ":")
	phone := baresiptest.Start(t, baresiptest.Options{
		Account:    "<sip:13800000001@127.0.0.1;transport=tls>;mediaenc=srtp-mand;regint=0",
		ListenPort: sipptest.FreeUDPPort(t), CA: ca.File, ToneHz: 1000, Seconds: 6, RTPPorts: "30100-30199",
		Commands: []string{"/dial sip:10010@127.0.0.1:" + tlsPort},
	})
	var leg *Leg
	select {
	case leg = <-h.legs:
	case <-time.After(20 * time.Second):
		t.Fatalf("baresip's call never reached the handler:\n%s", phone.Output())
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) && len(h.audio()) < 100*160 {
		time.Sleep(50 * time.Millisecond)
	}
	st := leg.Media().Stats()
	heard := h.audio()
	_ = leg.Hangup(context.Background())
	_ = phone.Wait()
	if leg.Info.Transport != "TLS" || !st.SRTP {
		t.Fatalf("transport %s srtp %v:\n%s", leg.Info.Transport, st.SRTP, phone.Output())
	}
	if st.DroppedAuth != 0 || st.PacketsIn < 100 {
		t.Fatalf("%d SRTP packets in, %d failed authentication:\n%s", st.PacketsIn, st.DroppedAuth, phone.Output())
	}
	if len(heard) < 100*160 || goertzel(heard, 1000) < 100*goertzel(heard, 600) {
		t.Fatalf("engine did not hear baresip's 1 kHz (%d samples)\n%s", len(heard), phone.Output())
	}
	if !strings.Contains(phone.Output(), "SRTP is Enabled") {
		t.Fatalf("baresip did not enable SRTP:\n%s", phone.Output())
	}
	// What baresip decrypted and decoded: the engine's prompt comes first.
	pcm := phone.Heard(t)
	if len(pcm) < 8000*3/10 {
		t.Fatalf("baresip decoded %d samples", len(pcm))
	}
	pcm = pcm[:8000*3/10]
	if goertzel(pcm, 600) < 100*goertzel(pcm, 1000) {
		t.Fatal("baresip did not hear the engine's 600 Hz prompt")
	}
}
