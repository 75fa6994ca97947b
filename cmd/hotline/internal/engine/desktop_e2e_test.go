package engine

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/agentapi/apitest"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/config"
	"github.com/hotlinecc/hotline/sip/sipptest"
)

// heardIn counts the RTP packets the caller receives during d.
func (c *caller) heardIn(d time.Duration) int {
	before := c.packets()
	time.Sleep(d)
	return c.packets() - before
}

// hears reports whether n more packets reach the caller within limit
// (music playing: a loaded machine only makes it slower, not wrong).
func (c *caller) hears(n int, limit time.Duration) bool {
	want := c.packets() + n
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c.packets() >= want {
			return true
		}
	}
	return false
}

// A caller reaches agent 1001, whose desktop sees the offer with the
// customer's tier and IVR trace, holds (the caller hears music, then the
// agent again), and hangs up from the desktop: the caller goes to the survey.
func TestDesktopSeesOfferHoldsAndHangsUp(t *testing.T) {
	t.Parallel()
	d := startDemo(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	phone := d.agentPhone(t, "1001", sipptest.Agent{RingMs: 100}, 1) // waits for the engine's BYE

	desk := d.desk(t, ctx, "1001")
	c := d.call(t, "13800000002", ctx)
	c.waitAudio(greetingFrames + 25)
	c.press('1')

	offer, err := desk.WaitEvent(ctx, apitest.Is("call.offered", "1001", ""))
	if err != nil {
		t.Fatal(err)
	}
	if offer.Tier != "gold" || offer.Queue != "billing" || offer.Caller != "13800000002" {
		t.Fatalf("offer %+v", offer)
	}
	if offer.Call == nil || offer.Call.Customer["name"] != "Demo Gold" || offer.Call.Trace == nil {
		t.Fatalf("offer lacks the customer record or IVR trace: %+v", offer.Call)
	}
	callID := offer.CallID
	if _, err := desk.WaitEvent(ctx, apitest.Is("call.answered", "1001", callID)); err != nil {
		t.Fatal(err)
	}
	// Wait for the bridge (after "agent 1001" is said): the caller then hears
	// the agent's phone, which sends no audio.
	d.bridged(t, ctx, "1001")
	time.Sleep(200 * time.Millisecond)
	if n := c.heardIn(500 * time.Millisecond); n > 3 {
		t.Fatalf("caller hears %d packets from a silent agent", n)
	}
	if _, err := desk.Must(ctx, "hold", nil); err != nil {
		t.Fatal(err)
	}
	if a, _ := d.e.ACD().Agent("1001"); a.State != acd.Held {
		t.Fatalf("agent state %s while holding", a.State)
	}
	if !c.hears(20, 5*time.Second) {
		t.Fatal("caller on hold hears no music")
	}
	if _, err := desk.Must(ctx, "unhold", nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := c.heardIn(500 * time.Millisecond); n > 3 {
		t.Fatalf("music still playing after unhold: %d packets", n)
	}
	// A paused stretch of the recording (a card number read out).
	if _, err := desk.Must(ctx, "pause_recording", nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := desk.Must(ctx, "resume_recording", nil); err != nil {
		t.Fatal(err)
	}
	// Unsupported operations say so with a stable code.
	r, err := desk.Do(ctx, "transfer", map[string]any{"target": map[string]string{"kind": "external", "value": "+8613800000000"}})
	if err != nil || r.Code() != "unsupported" {
		t.Fatalf("transfer reply %+v (%v)", r, err)
	}
	if _, err := desk.Must(ctx, "hangup", map[string]any{"call": callID}); err != nil {
		t.Fatal(err)
	}
	if code, err := phone.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("agent phone did not get the BYE: exit %d (%v)\n%s", code, err, phone.Output())
	}
	c.waitAudio(c.packets() + 25) // the survey
	c.press('4')
	c.finished(ctx)
	end := d.end(t, ctx)
	res := end.Result
	if res.Agent != "1001" || res.SurveyScore != 4 {
		t.Fatalf("agent %q survey %d; trace %s", res.Agent, res.SurveyScore, traceString(res))
	}
	if end.Recording == nil || len(end.Recording.Pauses) != 1 || end.Recording.Pauses[0].Reason != "agent 1001" {
		t.Fatalf("recording pauses %+v", end.Recording)
	}
	if _, err := desk.WaitEvent(ctx, func(e agentapi.Event) bool {
		return e.Event == "agent.state" && e.Agent == "1001" && strings.Contains(e.State, "wrap")
	}); err != nil {
		t.Fatalf("no wrap-up after the call: %v", err)
	}
}

// Agent 1001 takes a billing call and blind-transfers it to the technical
// queue: 1001 is released to wrap-up, 1002 (technical, first skill) gets the
// caller, and the call record keeps the transfer.
func TestDesktopBlindTransferToQueue(t *testing.T) {
	t.Parallel()
	d := startDemo(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	first := d.agentPhone(t, "1001", sipptest.Agent{RingMs: 100}, 1)
	second := d.agentPhone(t, "1002", sipptest.Agent{RingMs: 100, TalkMs: 5000}, 1)
	// 1002 holds billing as a second skill: keep it out of the first offer.
	if err := d.e.ACD().SetNotReady("1002", "meeting"); err != nil {
		t.Fatal(err)
	}
	desk := d.desk(t, ctx, "1001")
	c := d.call(t, "13800000002", ctx)
	c.waitAudio(greetingFrames + 25)
	c.press('1')
	offer, err := desk.WaitEvent(ctx, apitest.Is("call.answered", "1001", ""))
	if err != nil {
		t.Fatal(err)
	}
	d.bridged(t, ctx, "1001")
	if err := d.e.ACD().SetReady("1002"); err != nil {
		t.Fatal(err)
	}
	if _, err := desk.Must(ctx, "transfer", map[string]any{"target": map[string]string{"kind": "queue", "value": "technical"}}); err != nil {
		t.Fatal(err)
	}
	if code, err := first.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("1001's phone not released: exit %d (%v)\n%s", code, err, first.Output())
	}
	if code, err := second.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("1002 did not take the transferred caller: exit %d (%v)\n%s", code, err, second.Output())
	}
	c.waitAudio(c.packets() + 25) // survey
	c.press('3')
	c.finished(ctx)
	res := d.result(t, ctx)
	if res.Agent != "1002" || res.Queue != "technical" || res.SurveyScore != 3 || !traceHas(res, "queue-billing", "queued", "") || !traceHas(res, "q", "queued", "") {
		t.Fatalf("after transfer: agent %q queue %q survey %d trace %s", res.Agent, res.Queue, res.SurveyScore, traceString(res))
	}
	rec := d.record(t, offer.CallID)
	if len(rec.Transfers) != 1 || rec.Transfers[0].By != "1001" || rec.Transfers[0].Kind != "queue" || rec.Transfers[0].Target != "technical" {
		t.Fatalf("record transfers %+v", rec.Transfers)
	}
}

// From the desktop: an internal call from 1001 to 1002, then an outbound
// call from 1001 to a customer through the trunk. The agent's phone rings
// first, then the far end; the engine bridges them.
func TestDesktopInternalAndOutboundCalls(t *testing.T) {
	t.Parallel()
	carrierPort := sipptest.FreeUDPPort(t)
	d := startDemo(t, func(c *config.Config) { c.Trunks[0].Outbound = "127.0.0.1:" + strconv.Itoa(carrierPort) })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	phone1001 := d.agentPhone(t, "1001", sipptest.Agent{RingMs: 100}, 2) // answers both calls, waits for BYE
	phone1002 := d.agentPhone(t, "1002", sipptest.Agent{RingMs: 100, TalkMs: 1500}, 1)
	carrier := sipptest.Start(t, sipptest.Options{
		Scenario:  sipptest.Render(t, sipptest.AgentTemplate, sipptest.Agent{RingMs: 300, TalkMs: 1500}),
		LocalPort: carrierPort, Timeout: 50 * time.Second,
	})
	desk := d.desk(t, ctx, "1001")
	if _, err := desk.Must(ctx, "internal_call", map[string]any{"agent": "1002"}); err != nil {
		t.Fatal(err)
	}
	if code, err := phone1002.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("1002's phone: exit %d (%v)\n%s", code, err, phone1002.Output())
	}
	// The internal call is over once 1002 hung up; now a customer.
	for len(d.e.ctl.Calls()) > 0 {
		if ctx.Err() != nil {
			t.Fatal("internal call never ended")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := desk.Must(ctx, "outbound", map[string]any{"number": "13800000002"}); err != nil {
		t.Fatal(err)
	}
	if code, err := carrier.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("the carrier never got the outbound call: exit %d (%v)\n%s", code, err, carrier.Output())
	}
	if code, err := phone1001.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("1001's phone: exit %d (%v)\n%s", code, err, phone1001.Output())
	}
}

// 1001 consults 1002 with the caller on hold and completes the transfer;
// then supervisor 9001 takes the call over from 1002. Each handover drops
// the previous phone with a BYE and the caller stays on the line throughout.
func TestConsultCompleteThenTakeover(t *testing.T) {
	t.Parallel()
	d := startDemo(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p1001 := d.agentPhone(t, "1001", sipptest.Agent{RingMs: 100}, 1)
	p1002 := d.agentPhone(t, "1002", sipptest.Agent{RingMs: 100}, 1)
	if err := d.e.ACD().SetNotReady("1002", "meeting"); err != nil {
		t.Fatal(err)
	}
	supPort := sipptest.FreeUDPPort(t)
	p9001 := sipptest.Start(t, sipptest.Options{Scenario: sipptest.Render(t, sipptest.AgentTemplate, sipptest.Agent{RingMs: 100, TalkMs: 1500}),
		LocalPort: supPort, Timeout: 80 * time.Second})
	sipptest.RegisterPhone(t, d.e.SIPAddr(), "9001", "pass9001", supPort, 300)

	desk := d.desk(t, ctx, "1001")
	c := d.call(t, "13800000002", ctx)
	c.waitAudio(greetingFrames + 25)
	c.press('1')
	d.bridged(t, ctx, "1001")
	// A consultation reaches a ready colleague (reserved, then talking, in the ACD).
	if err := d.e.ACD().SetReady("1002"); err != nil {
		t.Fatal(err)
	}
	if _, err := desk.Must(ctx, "consult", map[string]any{"target": map[string]string{"kind": "agent", "value": "1002"}}); err != nil {
		t.Fatal(err)
	}
	if !c.hears(15, 5*time.Second) {
		t.Fatal("caller on hold during the consultation hears no music")
	}
	if _, err := desk.Must(ctx, "complete_transfer", nil); err != nil {
		t.Fatal(err)
	}
	if code, err := p1001.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("1001 not released after the transfer: exit %d (%v)\n%s", code, err, p1001.Output())
	}
	d.bridged(t, ctx, "1002")
	sup := d.desk(t, ctx, "9001")
	if _, err := sup.Must(ctx, "monitor", map[string]any{"agent": "1002", "mode": "takeover"}); err != nil {
		t.Fatal(err)
	}
	if code, err := p1002.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("1002 not dropped by the take-over: exit %d (%v)\n%s", code, err, p1002.Output())
	}
	if code, err := p9001.Wait(ctx); err != nil || code != 0 { // the supervisor talks, then hangs up
		t.Fatalf("supervisor phone: exit %d (%v)\n%s", code, err, p9001.Output())
	}
	c.waitAudio(c.packets() + 25) // the survey
	c.press('5')
	c.finished(ctx)
	res := d.result(t, ctx)
	if res.Agent != "9001" || res.SurveyScore != 5 {
		t.Fatalf("after take-over: agent %q survey %d", res.Agent, res.SurveyScore)
	}
	rec := d.record(t, res.CallID)
	if len(rec.Transfers) != 1 || rec.Transfers[0].Kind != "attended" || rec.Transfers[0].Target != "1002" || len(rec.Consultations) != 1 {
		t.Fatalf("record transfers %+v consultations %+v", rec.Transfers, rec.Consultations)
	}
	if len(rec.SupervisorActions) == 0 || rec.SupervisorActions[0].Supervisor != "9001" {
		t.Fatalf("record supervisor actions %+v", rec.SupervisorActions)
	}
}

// The agent answers from the desktop: the engine re-rings the phone with an
// auto-answer request and the phone picks up.
func TestDesktopAnswerWithAutoAnswerPhone(t *testing.T) {
	t.Parallel()
	d := startDemo(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	port := sipptest.FreeUDPPort(t)
	// The phone rings until cancelled unless the INVITE asks it to answer by itself.
	phone := sipptest.Start(t, sipptest.Options{Scenario: sipptest.Render(t, sipptest.AgentTemplate, sipptest.Agent{AutoAnswerOnly: true}),
		LocalPort: port, Calls: 2, Timeout: 50 * time.Second})
	sipptest.RegisterPhone(t, d.e.SIPAddr(), "1001", "pass1001", port, 300)
	d.waitAgent(t, "1001", "ready")
	desk := d.desk(t, ctx, "1001")
	c := d.call(t, "13800000002", ctx)
	c.waitAudio(greetingFrames + 25)
	c.press('1')
	offer, err := desk.WaitEvent(ctx, apitest.Is("call.offered", "1001", ""))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the phone is ringing
	if _, err := desk.Must(ctx, "answer", map[string]any{"call": offer.CallID}); err != nil {
		t.Fatal(err)
	}
	d.bridged(t, ctx, "1001")
	if _, err := desk.Must(ctx, "hangup", map[string]any{"call": offer.CallID}); err != nil {
		t.Fatal(err)
	}
	if code, err := phone.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("phone: exit %d (%v)\n%s", code, err, phone.Output())
	}
}

// desk signs a desktop in over the WebSocket API as id (password pass<id>).
func (d *demo) desk(t *testing.T, ctx context.Context, id string) *apitest.Client {
	t.Helper()
	c, err := apitest.Dial(ctx, "ws://"+d.e.HTTPAddr()+"/ws")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Login(ctx, id, "pass"+id, id); err != nil {
		t.Fatal(err)
	}
	return c
}
