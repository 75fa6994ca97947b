package sip

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/sip/sipptest"
	"github.com/hotlinecc/hotline/sip/tlstest"
)

// writeToneWAV writes d of a tone at 8 kHz, 16-bit mono.
func writeToneWAV(t *testing.T, path string, freq float64, d time.Duration) {
	t.Helper()
	n := int(d.Seconds() * 8000)
	var b bytes.Buffer
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(36+2*n))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(8000), uint32(16000), uint16(2), uint16(16)} {
		_ = binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	_ = binary.Write(&b, binary.LittleEndian, uint32(2*n))
	for i := 0; i < n; i++ {
		_ = binary.Write(&b, binary.LittleEndian, int16(8000*math.Sin(2*math.Pi*freq*float64(i)/8000)))
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readWAV16 returns the samples of a 16-bit PCM WAV file (any rate).
func readWAV16(t *testing.T, path string) ([]int16, int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 44 || string(b[:4]) != "RIFF" {
		t.Fatalf("%s is not a WAV file", path)
	}
	rate := int(binary.LittleEndian.Uint32(b[24:28]))
	i := 12
	for i+8 <= len(b) {
		id, size := string(b[i:i+4]), int(binary.LittleEndian.Uint32(b[i+4:i+8]))
		if id == "data" {
			data := b[i+8 : min(len(b), i+8+size)]
			out := make([]int16, len(data)/2)
			for j := range out {
				out[j] = int16(binary.LittleEndian.Uint16(data[2*j:]))
			}
			return out, rate
		}
		i += 8 + size
	}
	t.Fatalf("%s has no data chunk", path)
	return nil, 0
}

// TestBaresipOverTLSWithSRTP: baresip, a real softphone, calls over SIP/TLS
// with SRTP mandatory (RTP/SAVP, SDES). The engine answers SAVP with crypto,
// hears baresip's 1 kHz tone through SRTP and baresip hears (decrypts) the
// engine's 600 Hz prompt: two-way audio, encrypted on the wire.
func TestBaresipOverTLSWithSRTP(t *testing.T) {
	bin, err := exec.LookPath("baresip")
	if err != nil {
		t.Fatalf("baresip not found (Debian package baresip; the test suite installs it): %v", err)
	}
	ca := tlstest.NewCA(t)
	h := &echoHandler{legs: make(chan *Leg, 1)}
	env := newTestEnv(t, withTLS(ca, ca.Server("hotline")), h)
	dir := t.TempDir()
	tone := filepath.Join(dir, "tone.wav")
	writeToneWAV(t, tone, 1000, 20*time.Second)
	port := sipptest.FreeUDPPort(t)
	conf := fmt.Sprintf(`poll_method poll
sip_listen 127.0.0.1:%d
sip_cafile %s
net_interface 127.0.0.1
audio_source aufile,%s
audio_player aufile,/dev/null
audio_srate 8000
audio_channels 1
rtp_ports 30100-30199
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module sndfile.so
module srtp.so
module_app account.so
module_app menu.so
snd_path %s
call_max_calls 2
`, port, ca.File, tone, dir)
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	acct := "<sip:13800000001@127.0.0.1;transport=tls>;mediaenc=srtp-mand;regint=0\n"
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(acct), 0o644); err != nil {
		t.Fatal(err)
	}
	_, tlsPort, _ := strings.Cut(env.srv.TLSAddr(), ":")
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-f", dir, "-t", "6", "-e", "/dial sip:10010@127.0.0.1:"+tlsPort)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var leg *Leg
	select {
	case leg = <-h.legs:
	case <-time.After(20 * time.Second):
		cancel()
		_ = cmd.Wait()
		t.Fatalf("baresip's call never reached the handler:\n%s", out.String())
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) && len(h.audio()) < 100*160 {
		time.Sleep(50 * time.Millisecond)
	}
	st := leg.Media().Stats()
	heard := h.audio()
	_ = leg.Hangup(context.Background())
	_ = cmd.Wait()
	if leg.Info.Transport != "TLS" || !st.SRTP {
		t.Fatalf("transport %s srtp %v:\n%s", leg.Info.Transport, st.SRTP, out.String())
	}
	if st.DroppedAuth != 0 || st.PacketsIn < 100 {
		t.Fatalf("%d SRTP packets in, %d failed authentication:\n%s", st.PacketsIn, st.DroppedAuth, out.String())
	}
	if len(heard) < 100*160 || goertzel(heard, 1000) < 100*goertzel(heard, 600) {
		t.Fatalf("engine did not hear baresip's 1 kHz (%d samples)\n%s", len(heard), out.String())
	}
	if !strings.Contains(out.String(), "SRTP is Enabled") {
		t.Fatalf("baresip did not enable SRTP:\n%s", out.String())
	}
	// What baresip decrypted and decoded: the engine's prompt.
	dumps, _ := filepath.Glob(filepath.Join(dir, "dump-*-dec.wav"))
	if len(dumps) == 0 {
		t.Fatalf("baresip wrote no decoded-audio dump:\n%s", out.String())
	}
	pcm, rate := readWAV16(t, dumps[0])
	if rate != 8000 || len(pcm) < 8000*3/10 {
		t.Fatalf("dump %s: %d samples at %d Hz", dumps[0], len(pcm), rate)
	}
	pcm = pcm[:8000*3/10] // the 400 ms prompt comes first
	if goertzel(pcm, 600) < 100*goertzel(pcm, 1000) {
		t.Fatalf("baresip did not hear the engine's 600 Hz prompt (%d samples, %s)", len(pcm), strconv.Itoa(rate))
	}
}
