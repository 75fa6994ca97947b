package engine

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/agentapi/apitest"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/config"
	"github.com/hotlinecc/hotline/media/mediatest"
	"github.com/hotlinecc/hotline/sip/sipptest"
)

var (
	sendTone = mediatest.SendTone
	goertzel = mediatest.Goertzel
)

// readStereoWAV returns the left and right channels of a 16-bit stereo WAV.
func readStereoWAV(t *testing.T, path string) (left, right []int16) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 44 || string(data[0:4]) != "RIFF" || binary.LittleEndian.Uint16(data[22:24]) != 2 {
		t.Fatalf("%s is not a stereo WAV", path)
	}
	// Find the data chunk.
	off := 12
	for off+8 <= len(data) {
		id, size := string(data[off:off+4]), int(binary.LittleEndian.Uint32(data[off+4:off+8]))
		off += 8
		if id == "data" {
			pcm := data[off:min(off+size, len(data))]
			for i := 0; i+4 <= len(pcm); i += 4 {
				left = append(left, int16(binary.LittleEndian.Uint16(pcm[i:])))
				right = append(right, int16(binary.LittleEndian.Uint16(pcm[i+2:])))
			}
			return left, right
		}
		off += size
	}
	t.Fatalf("%s has no data chunk", path)
	return nil, nil
}

func TestBridgedCallIsRecordedCallerLeftAgentRight(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("sox"); err != nil {
		t.Fatalf("sox missing (Debian package sox; the test suite installs it): %v", err)
	}
	d := startDemo(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	agentMedia, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer agentMedia.Close()
	go func() { // drain what the engine relays to the agent
		buf := make([]byte, 2048)
		for {
			if _, err := agentMedia.Read(buf); err != nil {
				return
			}
		}
	}()
	port := sipptest.FreeUDPPort(t)
	agent := sipptest.Start(t, sipptest.Options{
		Scenario:  sipptest.Render(t, sipptest.AgentTemplate, sipptest.Agent{RingMs: 100, TalkMs: 6000}),
		LocalPort: port, Timeout: 60 * time.Second, Keys: map[string]string{"rtp_port": strconv.Itoa(agentMedia.LocalAddr().(*net.UDPAddr).Port)},
	})
	sipptest.RegisterPhone(t, d.e.SIPAddr(), "1001", "pass1001", port, 300)
	d.waitAgent(t, "1001", "ready")

	c := d.call(t, "13800000002", ctx)
	c.waitAudio(greetingFrames + 25)
	c.press('1')
	// Wait for the bridge, then talk: the caller a 2 kHz tone, the agent 1 kHz.
	agentAddr := d.bridged(t, ctx, "1001").AgentMedia
	done := make(chan struct{})
	go func() { sendTone(t, agentMedia, agentAddr, 1000, 2*time.Second, 0xa6e47); close(done) }()
	sendTone(t, c.media, c.engineMedia(), 2000, 2*time.Second, 0xca11e7)
	<-done
	if code, err := agent.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("agent: exit %d (%v)\n%s", code, err, agent.Output())
	}
	c.waitAudio(c.packets() + 25)
	c.press('5')
	c.finished(ctx)
	end := d.end(t, ctx)
	if end.Recording == nil {
		t.Fatal("bridged call has no recording")
	}
	m := end.Recording
	if m.Failed || m.State != "complete" || m.Agent != "1001" || m.Queue != "billing" || m.Caller != "13800000002" {
		t.Fatalf("recording meta %+v", m)
	}
	path := m.File
	if !filepath.IsAbs(path) {
		path = filepath.Join(d.e.recDir, path)
	}
	if out, err := exec.Command("sox", "--i", path).CombinedOutput(); err != nil {
		t.Fatalf("sox --i rejects %s: %v\n%s", path, err, out)
	}
	left, right := readStereoWAV(t, path)
	if goertzel(left, 2000) < 50*goertzel(left, 1000) {
		t.Fatalf("left (caller) channel lacks the caller's 2 kHz tone")
	}
	if goertzel(right, 1000) < 50*goertzel(right, 2000) {
		t.Fatalf("right (agent) channel lacks the agent's 1 kHz tone")
	}
	got := time.Duration(len(left)) * time.Second / 8000
	want := end.Unbridged.Sub(end.Bridged)
	if diff := got - want; diff > 100*time.Millisecond || diff < -100*time.Millisecond {
		t.Fatalf("recording lasts %v, the conversation %v", got, want)
	}

	// Access over HTTP with the desktop's session token: the supervisor lists
	// and seeks in it; agent 1002 (not on the call) and strangers cannot.
	token := func(id string) string {
		cl, err := apitest.Dial(ctx, "ws://"+d.e.HTTPAddr()+"/ws")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		r, err := cl.Login(ctx, id, "pass"+id, id)
		if err != nil {
			t.Fatal(err)
		}
		var v struct{ Token string }
		if err := r.Decode(&v); err != nil || v.Token == "" {
			t.Fatalf("login reply without token: %v", err)
		}
		return v.Token
	}
	get := func(path, tok, rng string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+d.e.HTTPAddr()+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	sup, other := token("9001"), token("1002")
	day := m.Start.UTC().Format("2006-01-02")
	if code, body := get("/recordings/?date="+day+"&agent=1001", sup, ""); code != 200 || !strings.Contains(body, end.CallID) {
		t.Fatalf("supervisor listing: %d %s", code, body)
	}
	if code, body := get("/recordings/"+end.CallID+".wav", sup, "bytes=44-1043"); code != http.StatusPartialContent || len(body) != 1000 {
		t.Fatalf("range download: %d, %d bytes", code, len(body))
	}
	if code, _ := get("/recordings/"+end.CallID+".wav", other, ""); code != http.StatusNotFound {
		t.Fatalf("another agent's download: %d", code)
	}
	if code, _ := get("/recordings/"+end.CallID+".wav", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("anonymous download: %d", code)
	}
}

// A recording directory that cannot be written (here: below a regular file,
// which defeats even root) fails the recording, never the call.
func TestUnwritableRecordingDirLeavesCallAlone(t *testing.T) {
	t.Parallel()
	blocker := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(blocker, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDemo(t, func(c *config.Config) { c.Recording.Dir = filepath.Join(blocker, "recordings") })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	agent := d.agentPhone(t, "1003", sipptest.Agent{RingMs: 100, TalkMs: 4500}, 1)
	c := d.call(t, "13800000001", ctx) // diamond: straight to general
	if code, err := agent.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("agent: exit %d (%v)\n%s", code, err, agent.Output())
	}
	c.waitAudio(c.packets() + 25)
	c.press('4')
	if r := c.finished(ctx); r.ExitCode != 0 {
		t.Fatalf("caller: exit %d\n%s", r.ExitCode, sipptest.Logs(r.Dir))
	}
	end := d.end(t, ctx)
	if end.Result.Agent != "1003" || end.Result.SurveyScore != 4 {
		t.Fatalf("call affected by the recording failure: agent %q survey %d", end.Result.Agent, end.Result.SurveyScore)
	}
	if end.Recording == nil || !end.Recording.Failed || end.Recording.Error == "" {
		t.Fatalf("recording failure not recorded: %+v", end.Recording)
	}
	if got := testutilCounter(t, d, "hotline_recording_failures_total"); got < 1 {
		t.Fatalf("hotline_recording_failures_total = %v", got)
	}
}
