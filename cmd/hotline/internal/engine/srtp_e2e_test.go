package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/cmd/hotline/internal/config"
	"github.com/hotlinecc/hotline/sip/baresiptest"
	"github.com/hotlinecc/hotline/sip/sipptest"
	"github.com/hotlinecc/hotline/sip/tlstest"
)

// TestSRTPAgentPhoneOverTLSIsBridgedAndRecorded: agent 1001's phone is
// baresip, registered over SIP/TLS with SRTP required (agents[].srtp). A
// plain-RTP caller of the demo presses 1 (billing) and is bridged to it:
// the engine rings the phone over TLS with RTP/SAVP, the agent hears the
// caller and the caller the agent through the engine, and the recording
// has the caller's tone on the left and the agent's on the right — SRTP
// changes nothing above the media session.
func TestSRTPAgentPhoneOverTLSIsBridgedAndRecorded(t *testing.T) {
	t.Parallel()
	ca := tlstest.NewCA(t)
	engineCert, phoneCert := ca.Server("hotline"), ca.Server("phone-1001")
	d := startDemo(t, func(c *config.Config) {
		c.SIP.TLS, c.SIP.TLSCert, c.SIP.TLSKey, c.SIP.TLSCA = "127.0.0.1:0", engineCert.Cert, engineCert.Key, ca.File
		for i := range c.Agents {
			if c.Agents[i].ID == "1001" {
				c.Agents[i].SRTP = "required"
			}
		}
	})
	// baresip wants its certificate and key in one PEM file.
	pem := filepath.Join(t.TempDir(), "phone.pem")
	crt, _ := os.ReadFile(phoneCert.Cert)
	key, _ := os.ReadFile(phoneCert.Key)
	if err := os.WriteFile(pem, append(crt, key...), 0o600); err != nil {
		t.Fatal(err)
	}
	_, tlsPort, _ := strings.Cut(d.e.sip.TLSAddr(), ":")
	phone := baresiptest.Start(t, baresiptest.Options{
		Account:    "<sip:1001@127.0.0.1:" + tlsPort + ";transport=tls>;auth_pass=pass1001;mediaenc=srtp-mand;answermode=auto;regint=60",
		ListenPort: sipptest.FreeUDPPort(t), CA: ca.File, Cert: pem, ToneHz: 1000, Seconds: 40, RTPPorts: "30200-30299",
	})
	d.waitAgent(t, "1001", "ready")

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := d.dial(t, ctx, "13800000002", "10010", 14*time.Second)
	c.waitAudio(greetingFrames + 25)
	c.press('1')
	// Wait for the bridge; the agent leg must be SRTP.
	if !d.bridged(t, ctx, "1001").AgentSRTP {
		t.Fatalf("the agent leg is not SRTP:\n%s", phone.Output())
	}
	time.Sleep(1500 * time.Millisecond) // past the agent id announcement
	sendTone(t, c.media, c.engineMedia(), 2000, 2*time.Second, 0xca11e7)
	if r := c.finished(ctx); r.ExitCode != 0 {
		t.Fatalf("caller: sipp exit %d\n%s", r.ExitCode, sipptest.Logs(r.Dir))
	}
	end := d.end(t, ctx)
	if end.Recording == nil || end.Recording.Failed {
		t.Fatalf("recording %+v", end.Recording)
	}
	path := end.Recording.File
	if !filepath.IsAbs(path) {
		path = filepath.Join(d.e.recDir, path)
	}
	left, right := readStereoWAV(t, path)
	if goertzel(left, 2000) < 50*goertzel(left, 1000) {
		t.Fatal("left (caller) channel lacks the caller's 2 kHz tone")
	}
	if goertzel(right, 1000) < 50*goertzel(right, 2000) {
		t.Fatal("right (agent, SRTP) channel lacks baresip's 1 kHz tone")
	}
	c.mediaEar.mu.Lock()
	callerHeard := append([]int16(nil), c.mediaEar.pcm...)
	c.mediaEar.mu.Unlock()
	if goertzel(callerHeard, 1000) < 10*goertzel(callerHeard, 2000) {
		t.Fatal("the caller did not hear the agent's 1 kHz")
	}
	heard := phone.Heard(t)
	if goertzel(heard, 2000) < 10*goertzel(heard, 1000) {
		t.Fatal("baresip (decrypting SRTP) did not hear the caller's 2 kHz")
	}
}
