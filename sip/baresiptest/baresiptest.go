// Package baresiptest runs baresip (Debian package baresip), a real
// softphone, in tests: as a caller or as an auto-answering agent phone,
// over SIP/TLS with SRTP when asked. Debian's SIPp has neither TLS nor
// SRTP, so this is the test suite's peer for both.
//
// baresip plays a WAV file as its microphone (module aufile) and dumps
// what it decodes from the far end to WAV files (module sndfile), so a
// test can check both directions of the audio.
package baresiptest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Phone is one baresip process.
type Phone struct {
	Dir string // config and dumps
	cmd *exec.Cmd
	out *syncBuf
	ctx context.Context
}

// Options configure a Phone.
type Options struct {
	// Account is baresip's account line, e.g.
	// "<sip:1001@127.0.0.1:5061;transport=tls>;auth_pass=pass1001;mediaenc=srtp-mand;answermode=auto".
	Account string
	// ListenPort is where baresip listens for SIP (UDP, TCP and, with
	// Cert, TLS on the same port number).
	ListenPort int
	// CA is the PEM file of the CA baresip trusts for TLS.
	CA string
	// Cert is a PEM file holding baresip's certificate and key, needed to
	// accept calls over TLS.
	Cert string
	// ToneHz is the tone baresip sends (a WAV of Seconds seconds).
	ToneHz  float64
	Seconds int
	// Commands run at start-up, e.g. "/dial sip:10010@127.0.0.1:5061".
	Commands []string
	// RTPPorts is baresip's RTP range, e.g. "30100-30199".
	RTPPorts string
}

// Start writes the configuration and starts baresip; it quits after
// Seconds (and is killed at the end of the test at the latest).
func Start(t testing.TB, o Options) *Phone {
	t.Helper()
	bin, err := exec.LookPath("baresip")
	if err != nil {
		t.Fatalf("baresip not found (Debian package baresip; the test suite installs it): %v", err)
	}
	dir := t.TempDir()
	tone := filepath.Join(dir, "tone.wav")
	WriteToneWAV(t, tone, o.ToneHz, time.Duration(o.Seconds+5)*time.Second)
	conf := fmt.Sprintf(`poll_method poll
sip_listen 127.0.0.1:%d
net_interface 127.0.0.1
audio_source aufile,%s
audio_player aufile,/dev/null
audio_srate 8000
audio_channels 1
rtp_ports %s
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module sndfile.so
module srtp.so
module_app account.so
module_app menu.so
snd_path %s
call_max_calls 4
`, o.ListenPort, tone, o.RTPPorts, dir)
	if o.CA != "" {
		conf += "sip_cafile " + o.CA + "\n"
	}
	if o.Cert != "" {
		conf += "sip_certificate " + o.Cert + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(o.Account+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-f", dir, "-t", fmt.Sprint(o.Seconds)}
	for _, c := range o.Commands {
		args = append(args, "-e", c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(o.Seconds+30)*time.Second)
	p := &Phone{Dir: dir, out: &syncBuf{}, ctx: ctx}
	p.cmd = exec.CommandContext(ctx, bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = p.cmd.Wait()
	})
	return p
}

// Wait waits for baresip to quit (after Seconds).
func (p *Phone) Wait() error { return p.cmd.Wait() }

// Output is what baresip printed so far.
func (p *Phone) Output() string { return p.out.String() }

// Heard returns the samples (8 kHz) baresip decoded from its first call.
func (p *Phone) Heard(t testing.TB) []int16 {
	t.Helper()
	dumps, _ := filepath.Glob(filepath.Join(p.Dir, "dump-*-dec.wav"))
	if len(dumps) == 0 {
		t.Fatalf("baresip wrote no decoded-audio dump:\n%s", p.Output())
	}
	pcm, rate := ReadWAV16(t, dumps[0])
	if rate != 8000 {
		t.Fatalf("dump %s at %d Hz", dumps[0], rate)
	}
	return pcm
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// WriteToneWAV writes d of a tone at 8 kHz, 16-bit mono.
func WriteToneWAV(t testing.TB, path string, freq float64, d time.Duration) {
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

// ReadWAV16 returns the samples and rate of a 16-bit PCM mono WAV file.
func ReadWAV16(t testing.TB, path string) ([]int16, int) {
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
