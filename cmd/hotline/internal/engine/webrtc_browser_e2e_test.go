package engine

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/agentapi/browsertest"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/callctl"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/config"
)

// phonePage is a headless Chromium whose microphone is a sox-made tone,
// signed in to the desktop with "This browser" as the phone.
func phonePage(t *testing.T, d *demo, id string, hz int) *browsertest.Page {
	t.Helper()
	wav := filepath.Join(t.TempDir(), "tone.wav")
	if out, err := exec.Command("sox", "-n", "-r", "48000", "-c", "1", "-b", "16", wav, "synth", "30", "sine", strconv.Itoa(hz), "vol", "0.5").CombinedOutput(); err != nil {
		t.Fatalf("sox: %v\n%s", err, out)
	}
	b := browsertest.ChromiumWith(t, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
		"--use-file-for-fake-audio-capture="+wav, "--allow-loopback-in-peer-connection",
		"--autoplay-policy=no-user-gesture-required", "--disable-features=WebRtcHideLocalIpsWithMdns")
	b.Navigate("http://" + d.e.HTTPAddr() + "/")
	b.Until("login form", `!document.getElementById("login-view").hidden && document.getElementById("conn").classList.contains("on")`)
	b.Eval(`document.getElementById("login-agent").value = "` + id + `";
		document.getElementById("login-password").value = "pass` + id + `";
		document.getElementById("login-form").requestSubmit(); true`)
	b.Until("phone panel", `!document.getElementById("phone").hidden`)
	b.Eval(`const s = document.getElementById("phone-mode"); s.value = "browser"; s.dispatchEvent(new Event("change")); true`)
	b.Until("registered as the phone", `HotlinePhone.state().registered && document.getElementById("phone-status").textContent.includes("this browser is your phone")`)
	return b
}

// hearsHz: what the page hears is loud and peaks near hz.
const hearsHz = `((hz) => { const s = HotlinePhone.state().speaker; return !!s && s.level > 0.05 && Math.abs(s.peakHz - hz) < 120; })`

// Agent 1001 and supervisor 9001 work with nothing but the page: the
// agent's page rings and answers a SIPp caller, both hear each other (the
// engine hears the page's tone on the caller's leg, the page's analyser
// the caller's); hold gives the caller music and the page silence; the
// supervisor whispers from the wallboard (the agent's page hears it, the
// caller does not) and hangs up; the agent reloads the page mid-call and
// it re-attaches; then the page's network goes and, after the grace, the
// call goes on as if the agent's phone vanished. The recording has the
// caller left and the page right.
func TestBrowserPhoneInChromium(t *testing.T) {
	t.Parallel()
	d := startDemo(t, func(c *config.Config) { c.Media.WebRTCGrace = config.Duration(2 * time.Second) })
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	agent := phonePage(t, d, "1001", 1000)
	d.waitAgent(t, "1001", acd.Ready)

	c := d.call(t, "13800000002", ctx)
	c.waitAudio(greetingFrames + 25)
	c.press('1')
	agent.Until("the page rings", `HotlinePhone.state().ringing !== "" && !document.getElementById("phone-answer").hidden && document.getElementById("phone-ring").textContent.includes("13800000002")`)
	agent.Shot("browser-phone-ringing")
	agent.Eval(`document.getElementById("phone-answer").click(); true`)
	agent.Until("call up", `HotlinePhone.state().legs.some((l) => l.state === "up")`)
	v := d.bridged(t, ctx, "1001")
	settledOK(t, d, ctx, "answered in the page")

	// Both ways: the caller's 2 kHz reaches the page, the page's 1 kHz the caller.
	mark := c.mediaEar.mark()
	sent := make(chan struct{})
	go func() { defer close(sent); sendTone(t, c.media, c.engineMedia(), 2000, 3*time.Second, 0xc1) }()
	agent.Until("the page hears the caller's 2 kHz", hearsHz+`(2000)`)
	<-sent
	heard := c.mediaEar.since(mark)
	if goertzel(heard, 1000) < 20*goertzel(heard, 2000) || goertzel(heard, 1000) < 1 {
		t.Fatalf("the caller does not hear the page's 1 kHz (1k %.1f, 2k %.1f)", goertzel(heard, 1000), goertzel(heard, 2000))
	}
	agent.Until("call quality in words", `document.getElementById("phone-quality").textContent.startsWith("Call quality: good")`)
	agent.Shot("browser-phone-call")

	// Hold: music for the caller, nothing for the page.
	agent.Eval(`document.getElementById("hold").click(); true`)
	d.view(t, ctx, "held", func(x callctl.View) bool { return x.ID == v.ID && x.State == callctl.Held })
	if n := c.heardIn(500 * time.Millisecond); n < 20 {
		t.Fatalf("caller on hold heard %d packets of music in 0.5 s", n)
	}
	sent = make(chan struct{})
	go func() { defer close(sent); sendTone(t, c.media, c.engineMedia(), 2000, 1500*time.Millisecond, 0xc2) }()
	time.Sleep(700 * time.Millisecond)
	if got := agent.Eval(`(() => { const s = HotlinePhone.state().speaker; return s ? s.level : 0; })()`); got != "0" {
		if f, _ := strconv.ParseFloat(got, 64); f > 0.02 {
			t.Fatalf("the page hears something while the caller is held (level %s)", got)
		}
	}
	<-sent
	agent.Eval(`document.getElementById("hold").click(); true`)
	d.view(t, ctx, "retrieved", func(x callctl.View) bool { return x.ID == v.ID && x.State == callctl.Talking })
	settledOK(t, d, ctx, "after hold")

	// A key on the page's keypad reaches the caller as RFC 4733 (the
	// desktop's dtmf request, as with a SIP phone).
	// The keypad is live only once the page shows the call retrieved.
	agent.Until("keypad enabled", `!document.querySelector('#dtmf-pad [aria-label="DTMF 5"]').disabled`)
	agent.Eval(`document.querySelector('#dtmf-pad [aria-label="DTMF 5"]').click(); true`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c.mu.Lock()
		got := slices.Contains(c.events, 5)
		c.mu.Unlock()
		if got {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the caller never received the page's digit 5")
		}
	}

	// The supervisor whispers from the wallboard with the page as phone.
	sup := phonePage(t, d, "9001", 3000)
	sup.Until("seat row", `(() => { const b = document.querySelector('[aria-label="Whisper agent 1001"]'); return !!b && !b.disabled; })()`)
	sup.Eval(`document.querySelector('[aria-label="Whisper agent 1001"]').click(); true`)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("supervisor page: %s\nlog: %s", sup.Eval(`JSON.stringify(HotlinePhone.state())`), sup.Eval(`document.getElementById("log").innerText`))
			t.Logf("agent page: %s\nlog: %s", agent.Eval(`JSON.stringify(HotlinePhone.state())`), agent.Eval(`document.getElementById("log").innerText`))
		}
	})
	sup.Until("supervisor's call up", `HotlinePhone.state().legs.some((l) => l.state === "up")`)
	d.view(t, ctx, "monitored", func(x callctl.View) bool { return x.ID == v.ID && x.State == callctl.Monitored })
	agent.Until("the agent's page hears the whisper", hearsHz+`(3000)`)
	mark = c.mediaEar.mark()
	time.Sleep(time.Second)
	heard = c.mediaEar.since(mark)
	if goertzel(heard, 3000) > 0.05*goertzel(heard, 1000) || goertzel(heard, 1000) < 1 {
		t.Fatalf("whisper: the caller hears the supervisor (3k %.2f, 1k %.2f)", goertzel(heard, 3000), goertzel(heard, 1000))
	}
	sup.Eval(`document.getElementById("phone-hangup").click(); true`)
	d.view(t, ctx, "supervisor left", func(x callctl.View) bool { return x.ID == v.ID && x.State == callctl.Talking })
	settledOK(t, d, ctx, "after the whisper")

	// Reload mid-call: the page resumes its session and re-attaches the call.
	agent.Navigate("http://" + d.e.HTTPAddr() + "/")
	agent.Until("re-attached", `!!window.HotlinePhone && HotlinePhone.state().legs.some((l) => l.reattach && l.state === "up")`)
	sent = make(chan struct{})
	go func() { defer close(sent); sendTone(t, c.media, c.engineMedia(), 2000, 3*time.Second, 0xc3) }()
	agent.Until("the reloaded page hears the caller", hearsHz+`(2000)`)
	<-sent
	if x := d.bridged(t, ctx, "1001"); x.ID != v.ID || x.State != callctl.Talking {
		t.Fatalf("call after the reload %+v", x)
	}
	settledOK(t, d, ctx, "after the reload")

	// The page's network goes: after the grace the agent's leg ends as a
	// phone that vanished; the agent wraps up, the caller has the survey.
	agent.Eval(`HotlinePhone._loseNetwork(); true`)
	d.waitAgent(t, "1001", acd.WrapUp)
	agent.Until("the page knows the call ended", `HotlinePhone.state().legs.length === 0`)
	c.waitAudio(c.packets() + 25)
	c.press('5')
	c.finished(ctx)
	end := d.end(t, ctx)
	if end.CallID != v.ID || end.Recording == nil {
		t.Fatalf("call end %+v", end)
	}
	path := end.Recording.File
	if !filepath.IsAbs(path) {
		path = filepath.Join(d.e.recDir, path)
	}
	left, right := readStereoWAV(t, path)
	if goertzel(left, 2000) < 10*goertzel(left, 1000) {
		t.Fatal("left (caller) channel lacks the caller's 2 kHz tone")
	}
	if goertzel(right, 1000) < 10*goertzel(right, 2000) {
		t.Fatal("right (agent) channel lacks the page's 1 kHz tone")
	}
	settledOK(t, d, ctx, "after the call")
	for _, p := range []*browsertest.Page{agent, sup} {
		for _, x := range p.Errors() {
			t.Errorf("page error: %s", x)
		}
	}
}
