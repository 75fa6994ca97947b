package engine

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/agentapi/apitest"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/callctl"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/config"
	"github.com/hotlinecc/hotline/sip/uatest"
	"github.com/hotlinecc/hotline/sip/webrtc"
	"github.com/hotlinecc/hotline/sip/webrtc/webrtctest"
)

// pagePhone is a desktop connection registered as its user's phone, with
// pion peer connections standing in for the browser's.
type pagePhone struct {
	t    *testing.T
	id   string
	desk *apitest.Client
}

func (d *demo) pagePhone(t *testing.T, ctx context.Context, id string) *pagePhone {
	t.Helper()
	desk := d.desk(t, ctx, id)
	if _, err := desk.Must(ctx, "webrtc.register", nil); err != nil {
		t.Fatal(err)
	}
	return &pagePhone{t: t, id: id, desk: desk}
}

// signal waits for the next webrtc.<kind> event.
func (p *pagePhone) signal(ctx context.Context, kind string) webrtc.Signal {
	p.t.Helper()
	ev, err := p.desk.WaitEvent(ctx, apitest.Is("webrtc."+kind, p.id, ""))
	if err != nil {
		p.t.Fatalf("%s: no webrtc.%s: %v", p.id, kind, err)
	}
	var s webrtc.Signal
	b, _ := json.Marshal(ev.Data)
	if err := json.Unmarshal(b, &s); err != nil {
		p.t.Fatal(err)
	}
	return s
}

// answer answers the next offer with a new peer connection.
func (p *pagePhone) answer(ctx context.Context) (*webrtctest.Client, webrtc.Signal) {
	p.t.Helper()
	off := p.signal(ctx, "offer")
	c, err := webrtctest.NewClient()
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(c.Close)
	sdp, err := c.Answer(off.SDP)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.desk.Must(ctx, "webrtc.answer", map[string]any{"leg": off.Leg, "sdp": sdp}); err != nil {
		p.t.Fatal(err)
	}
	if err := c.Connected(10 * time.Second); err != nil {
		p.t.Fatal(err)
	}
	return c, off
}

// talk has the caller send a 2 kHz tone and the page 1 kHz for a second;
// it returns what each heard meanwhile.
func talk(t *testing.T, c *caller, page *webrtctest.Client) (callerHeard, pageHeard []int16) {
	cm, pm := c.mediaEar.mark(), len(page.Heard())
	done := make(chan struct{})
	go func() { defer close(done); _ = page.SendTone(1000, time.Second) }()
	sendTone(t, c.media, c.engineMedia(), 2000, time.Second, 0xc1)
	<-done
	time.Sleep(150 * time.Millisecond)
	return c.mediaEar.since(cm), page.Heard()[pm:]
}

func settledOK(t *testing.T, d *demo, ctx context.Context, step string) {
	t.Helper()
	if v := d.e.ctl.CheckSettled(ctx, 3*time.Second); len(v) > 0 {
		t.Fatalf("%s: invariants: %v", step, v)
	}
}

// Agent 1001 has only the page: its desktop registers as the phone, a
// caller's offer rings there and the page answers; caller and page hear
// each other, hold gives the caller music and the page nothing, and the
// recording has the caller left and the page right.
func TestBrowserPhoneTakesCallHoldsAndIsRecorded(t *testing.T) {
	t.Parallel()
	d := startDemo(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p := d.pagePhone(t, ctx, "1001")
	d.waitAgent(t, "1001", acd.Ready)

	c := d.call(t, "13800000002", ctx)
	c.waitAudio(greetingFrames + 25)
	c.press('1')
	// The desktop's Answer button while the page rings: the engine offers
	// again, asking the page to answer by itself.
	first := p.signal(ctx, "offer")
	if first.Caller != "13800000002" || first.Reattach || first.AutoAnswer {
		t.Fatalf("offer %+v", first)
	}
	if _, err := p.desk.Must(ctx, "answer", nil); err != nil {
		t.Fatal(err)
	}
	if h := p.signal(ctx, "hangup"); h.Leg != first.Leg {
		t.Fatalf("hangup %+v, want leg %s", h, first.Leg)
	}
	pc, off := p.answer(ctx)
	if !off.AutoAnswer || off.Leg == first.Leg {
		t.Fatalf("offer after the desktop's answer %+v", off)
	}
	v := d.bridged(t, ctx, "1001")
	settledOK(t, d, ctx, "bridged")
	callerHeard, pageHeard := talk(t, c, pc)
	if goertzel(callerHeard, 1000) < 20*goertzel(callerHeard, 2000) {
		t.Fatal("the caller does not hear the page")
	}
	if goertzel(pageHeard, 2000) < 20*goertzel(pageHeard, 1000) {
		t.Fatal("the page does not hear the caller")
	}

	if _, err := p.desk.Must(ctx, "hold", nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := c.heardIn(500 * time.Millisecond); n < 20 {
		t.Fatalf("caller on hold heard %d packets of music in 0.5 s", n)
	}
	_, pageHeard = talk(t, c, pc)
	if goertzel(pageHeard, 2000) > 1 {
		t.Fatalf("the page hears the caller on hold (%v)", goertzel(pageHeard, 2000))
	}
	if _, err := p.desk.Must(ctx, "unhold", nil); err != nil {
		t.Fatal(err)
	}
	settledOK(t, d, ctx, "after hold")

	// The agent hangs up in the page: the caller goes to the survey.
	if _, err := p.desk.Must(ctx, "webrtc.hangup", map[string]any{"leg": off.Leg}); err != nil {
		t.Fatal(err)
	}
	d.waitAgent(t, "1001", acd.WrapUp)
	c.waitAudio(c.packets() + 25)
	c.press('5')
	c.finished(ctx)
	end := d.end(t, ctx)
	if end.CallID != v.ID || end.Recording == nil || end.Recording.Agent != "1001" {
		t.Fatalf("call end %+v", end)
	}
	path := end.Recording.File
	if !filepath.IsAbs(path) {
		path = filepath.Join(d.e.recDir, path)
	}
	if out, err := exec.Command("sox", "--i", path).CombinedOutput(); err != nil {
		t.Fatalf("sox --i rejects %s: %v\n%s", path, err, out)
	}
	left, right := readStereoWAV(t, path)
	if goertzel(left, 2000) < 50*goertzel(left, 1000) {
		t.Fatal("left (caller) channel lacks the caller's 2 kHz tone")
	}
	if goertzel(right, 1000) < 50*goertzel(right, 2000) {
		t.Fatal("right (agent) channel lacks the page's 1 kHz tone")
	}
	settledOK(t, d, ctx, "after the call")
}

// The page reloads mid-call: the call stays, the new page re-attaches
// within the grace and audio flows again. Then the page's connection
// fails and no page comes back: after the grace the agent's leg ends as a
// phone that vanished (the agent wraps up, the caller goes on to the
// survey), and nobody is left talking without audio.
func TestBrowserPhoneReloadReattachesAndICELossEndsAfterGrace(t *testing.T) {
	t.Parallel()
	d := startDemo(t, func(c *config.Config) { c.Media.WebRTCGrace = config.Duration(3 * time.Second) })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p := d.pagePhone(t, ctx, "1001")
	d.waitAgent(t, "1001", acd.Ready)
	c := d.call(t, "13800000002", ctx)
	c.waitAudio(greetingFrames + 25)
	c.press('1')
	pc, off := p.answer(ctx)
	v := d.bridged(t, ctx, "1001")

	// Reload: the desktop's connection and the peer connection go.
	p.desk.Close()
	pc.Close()
	p2 := d.pagePhone(t, ctx, "1001")
	pc2, off2 := p2.answer(ctx)
	if !off2.Reattach || off2.Leg != off.Leg {
		t.Fatalf("re-attach offer %+v (first leg %s)", off2, off.Leg)
	}
	callerHeard, pageHeard := talk(t, c, pc2)
	if goertzel(callerHeard, 1000) < 20*goertzel(callerHeard, 2000) || goertzel(pageHeard, 2000) < 20*goertzel(pageHeard, 1000) {
		t.Fatal("no two-way audio after the re-attach")
	}
	if cur := d.bridged(t, ctx, "1001"); cur.ID != v.ID || cur.State != callctl.Talking {
		t.Fatalf("call after reload %+v", cur)
	}
	settledOK(t, d, ctx, "re-attached")

	// ICE lost: the page stays but its packets stop and it does not re-register.
	pc2.Close()
	d.waitAgent(t, "1001", acd.WrapUp)
	if h := p2.signal(ctx, "hangup"); h.Leg != off.Leg {
		t.Fatalf("hangup %+v", h)
	}
	c.waitAudio(c.packets() + 25) // the caller is in the survey
	c.press('5')
	c.finished(ctx)
	settledOK(t, d, ctx, "after the grace")
	m := scrape(t, d)
	for event, want := range map[string]float64{"answered": 1, "detached": 2, "reattached": 1, "vanished": 1} {
		if got := m[`hotline_webrtc_leg_events_total{event="`+event+`"}`]; got != want {
			t.Errorf("hotline_webrtc_leg_events_total{event=%q} = %v, want %v", event, got, want)
		}
	}
	if m["hotline_webrtc_legs"] != 0 || m["hotline_webrtc_pages"] != 1 {
		t.Errorf("legs %v, pages %v after the call (the second page is still a phone)", m["hotline_webrtc_legs"], m["hotline_webrtc_pages"])
	}
}

// Three pages and no SIP phone: 1001 consults 1002 and completes the
// transfer (1001's page is hung up, the caller talks with 1002's page);
// supervisor 9001 barges in from its page, then takes the call over
// (1002 released), and hangs up from the page.
func TestBrowserPhonesConsultTransferAndTakeover(t *testing.T) {
	t.Parallel()
	d := startDemo(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	p1001, p1002, p9001 := d.pagePhone(t, ctx, "1001"), d.pagePhone(t, ctx, "1002"), d.pagePhone(t, ctx, "9001")
	d.waitAgent(t, "1002", acd.Ready)
	if err := d.e.ACD().SetNotReady("1002", "meeting"); err != nil {
		t.Fatal(err)
	}
	d.waitAgent(t, "1001", acd.Ready)
	c := d.call(t, "13800000002", ctx)
	c.waitAudio(greetingFrames + 25)
	c.press('1')
	_, off1 := p1001.answer(ctx)
	d.bridged(t, ctx, "1001")
	if err := d.e.ACD().SetReady("1002"); err != nil {
		t.Fatal(err)
	}
	consulted := make(chan error, 1) // answered once 1002's page answers
	go func() {
		_, err := p1001.desk.Must(ctx, "consult", map[string]any{"target": map[string]string{"kind": "agent", "value": "1002"}})
		consulted <- err
	}()
	pc2, _ := p1002.answer(ctx)
	if err := <-consulted; err != nil {
		t.Fatal(err)
	}
	d.view(t, ctx, "consulting", func(v callctl.View) bool { return v.Agent == "1001" && v.State == callctl.Consulting })
	if _, err := p1001.desk.Must(ctx, "complete_transfer", nil); err != nil {
		t.Fatal(err)
	}
	if h := p1001.signal(ctx, "hangup"); h.Leg != off1.Leg {
		t.Fatalf("1001's hangup %+v", h)
	}
	d.bridged(t, ctx, "1002")
	callerHeard, pageHeard := talk(t, c, pc2)
	if goertzel(callerHeard, 1000) < 20*goertzel(callerHeard, 2000) || goertzel(pageHeard, 2000) < 20*goertzel(pageHeard, 1000) {
		t.Fatal("caller and 1002's page do not hear each other after the transfer")
	}
	settledOK(t, d, ctx, "transferred")

	// The supervisor barges in: its page answers by itself.
	monitor := func(mode string) chan error {
		out := make(chan error, 1)
		go func() {
			_, err := p9001.desk.Must(ctx, "monitor", map[string]any{"agent": "1002", "mode": mode})
			out <- err
		}()
		return out
	}
	res := monitor("barge")
	pc9, off9 := p9001.answer(ctx)
	if !off9.AutoAnswer || off9.CallerName != "monitor" {
		t.Fatalf("supervisor's offer %+v", off9)
	}
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	mark := c.mediaEar.mark()
	if err := pc9.SendTone(3000, time.Second); err != nil {
		t.Fatal(err)
	}
	if heard := c.mediaEar.since(mark); goertzel(heard, 3000) < 1 {
		t.Fatal("barge: the caller does not hear the supervisor")
	}
	off2 := d.view(t, ctx, "monitored", func(v callctl.View) bool { return v.Agent == "1002" && v.State == callctl.Monitored })
	if err := <-monitor("takeover"); err != nil {
		t.Fatal(err)
	}
	if h := p1002.signal(ctx, "hangup"); h.Leg == "" {
		t.Fatalf("1002's hangup %+v", h)
	}
	d.waitAgent(t, "1002", acd.WrapUp)
	callerHeard, pageHeard = talk(t, c, pc9)
	if goertzel(callerHeard, 1000) < 20*goertzel(callerHeard, 2000) || goertzel(pageHeard, 2000) < 20*goertzel(pageHeard, 1000) {
		t.Fatal("caller and the supervisor's page do not hear each other after the take-over")
	}
	if v := d.view(t, ctx, "taken over", func(v callctl.View) bool { return v.ID == off2.ID }); v.State != callctl.Talking {
		t.Fatalf("after take-over %+v", v)
	}
	settledOK(t, d, ctx, "taken over")
	if _, err := p9001.desk.Must(ctx, "webrtc.hangup", map[string]any{"leg": off9.Leg}); err != nil {
		t.Fatal(err)
	}
	c.waitAudio(c.packets() + 25)
	c.press('5')
	c.finished(ctx)
	settledOK(t, d, ctx, "after the call")
}

// A reload carries the browser phone's settings: agent 1001, whose page
// is registered as the phone, is set to phone: sip — its SIP phone rings
// for the next call and the page may not register again; set back to
// auto, the next call rings the page. media.webrtc_grace changes at once,
// media.webrtc_port is reported as needing a restart.
func TestBrowserPhoneFollowsReload(t *testing.T) {
	t.Parallel()
	file, _, text := demoFile(t)
	d := startDemo(t, nil)
	d.e.ConfigPath = file
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	phone1 := uatest.New(t, d.e.SIPAddr())
	if err := phone1.Register("1001", "pass1001", 300); err != nil {
		t.Fatal(err)
	}
	p := d.pagePhone(t, ctx, "1001")
	d.waitAgent(t, "1001", acd.Ready)

	sipOnly := replaceAll(t, text, `{id: "1001", name: Agent 1001, password: pass1001,`, `{id: "1001", name: Agent 1001, password: pass1001, phone: sip,`) +
		"\nmedia: {webrtc_grace: 3s, webrtc_port: 40999}\n"
	if err := os.WriteFile(file, []byte(sipOnly), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := d.e.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.Restart, "media.webrtc_port") || slices.Contains(res.Restart, "media.webrtc_grace") {
		t.Fatalf("needs_restart %v: want media.webrtc_port (a bound socket), not media.webrtc_grace", res.Restart)
	}
	if g := d.e.webrtc.Grace(); g != 3*time.Second {
		t.Fatalf("re-attach grace after the reload: %v, want 3s", g)
	}
	if r, err := p.desk.Do(ctx, "webrtc.register", nil); err != nil || r.OK || r.Code() != "bad_request" {
		t.Fatalf("webrtc.register with phone: sip: ok %v code %q (err %v), want bad_request", r.OK, r.Code(), err)
	}

	trunk := uatest.New(t, d.e.SIPAddr())
	c1, err := trunk.Call("10010", uatest.CallOptions{From: "13800000001"}) // diamond → general → 1001
	if err != nil {
		t.Fatal(err)
	}
	in, err := phone1.NextInvite(20 * time.Second)
	if err != nil {
		t.Fatalf("1001's SIP phone did not ring with phone: sip: %v", err)
	}
	if err := in.Answer(); err != nil {
		t.Fatal(err)
	}
	d.bridged(t, ctx, "1001")
	if n := d.e.webrtc.Legs(); n != 0 {
		t.Fatalf("%d browser legs while the SIP phone has the call", n)
	}
	if _, err := c1.Bye(); err != nil {
		t.Fatal(err)
	}
	d.waitAgent(t, "1001", acd.WrapUp)
	if _, err := p.desk.Must(ctx, "set_state", map[string]any{"state": "ready"}); err != nil {
		t.Fatal(err)
	}
	d.waitAgent(t, "1001", acd.Ready)

	// Back to auto: the page (still registered) is the phone again.
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := d.e.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.desk.Must(ctx, "webrtc.register", nil); err != nil {
		t.Fatalf("webrtc.register with phone: auto: %v", err)
	}
	c2, err := trunk.Call("10010", uatest.CallOptions{From: "13800000001"})
	if err != nil {
		t.Fatal(err)
	}
	p.answer(ctx)
	if v := d.bridged(t, ctx, "1001"); v.State != callctl.Talking {
		t.Fatalf("call in the page after the reload: %+v", v)
	}
	if _, err := c2.Bye(); err != nil {
		t.Fatal(err)
	}
	d.waitAgent(t, "1001", acd.WrapUp)
	settledOK(t, d, ctx, "after the page's call")
}
