package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/agentapi/apitest"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/callctl"
	"github.com/hotlinecc/hotline/sip/uatest"
)

// One test per defect the call-integrity work fixed (issue #12), each
// over real sockets: the engine, its SIP stack, and test phones (uatest)
// or SIPp, with the desktop's WebSocket where the defect showed there.

// waitState waits for an agent.state event of agent with state st.
func waitState(t *testing.T, ctx context.Context, desk *apitest.Client, agent, st string) {
	t.Helper()
	if _, err := desk.WaitEvent(ctx, func(e agentapi.Event) bool {
		return e.Event == "agent.state" && e.Agent == agent && e.State == st
	}); err != nil {
		t.Fatalf("no agent.state %s for %s: %v", st, agent, err)
	}
}

// A transfer's recipient is reserved, then talking, in the ACD, its
// desktop hears every state, it gets the wrap-up at the end, and it is
// never offered a queue call while on the transferred one. The record
// says blind or attended, as it was.
func TestTransferRecipientReservedTalkingWrappedUp(t *testing.T) {
	for _, blind := range []bool{true, false} {
		name := "attended"
		if blind {
			name = "blind"
		}
		t.Run(name, func(t *testing.T) {
			d, lanes := startTorture(t)
			l := lanes[0]
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			desk := d.desk(t, ctx, l.spare)
			c, in := l.call(t, l.phone)
			_ = in.Answer()
			v := d.bridged(t, ctx, l.agent)
			x, done := l.transfer(t, ctx, d, v.ID, blind)
			waitState(t, ctx, desk, l.spare, "reserved")
			l.handOver(t, ctx, d, v.ID, blind, in, x, done)
			waitState(t, ctx, desk, l.spare, "talking")
			d.waitAgent(t, l.agent, acd.Ready) // through its wrap-up

			// A second caller for the recipient's queue waits: the
			// recipient is talking.
			other, err := l.trunk.Call("20020", uatest.CallOptions{From: "13900000077"})
			if err != nil {
				t.Fatal(err)
			}
			if extra, err := l.spareP.NextInvite(time.Second); err == nil {
				t.Fatalf("the recipient was offered a second call while talking: %s", extra.CallID)
			}
			if _, err := x.Bye(); err != nil {
				t.Fatal(err)
			}
			waitState(t, ctx, desk, l.spare, "wrap-up")
			// After its wrap-up the recipient gets the waiting caller.
			next, err := l.spareP.NextInvite(10 * time.Second)
			if err != nil {
				t.Fatalf("the waiting caller never reached the recipient after its wrap-up: %v", err)
			}
			_ = next.Reject(486, "Busy Here")
			other.SendBye()
			if !c.Byed(10 * time.Second) {
				c.SendBye()
			}
			rec := d.record(t, v.ID)
			switch {
			case len(rec.Transfers) != 1:
				t.Fatalf("record transfers %+v", rec.Transfers)
			case blind && (rec.Transfers[0].Kind != "blind" || rec.Transfers[0].Target != l.spare || len(rec.Consultations) != 0):
				t.Fatalf("blind transfer recorded as %+v, consultations %+v", rec.Transfers, rec.Consultations)
			case !blind && (rec.Transfers[0].Kind != "attended" || len(rec.Consultations) != 1):
				t.Fatalf("attended transfer recorded as %+v, consultations %+v", rec.Transfers, rec.Consultations)
			}
			if rec.WrapUpMS <= 0 {
				t.Fatalf("no wrap-up in the record: %+v", rec)
			}
			if viol := d.e.ctl.CheckSettled(ctx, 3*time.Second); len(viol) > 0 {
				t.Fatal(viol)
			}
		})
	}
}

// A phone registering (or refreshing) never changes the state of an agent
// already signed in; unregistering while the desktop is connected does not
// sign the agent out (a ready agent goes not ready: no call could reach
// it). A phone-only agent is signed in and out by its phone.
func TestRegistrationNeverOverridesState(t *testing.T) {
	d := startDemo(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	desk := d.desk(t, ctx, "1001")
	if _, err := desk.Must(ctx, "set_state", map[string]any{"state": "break", "reason": "lunch"}); err != nil {
		t.Fatal(err)
	}
	phone := uatest.New(t, d.e.SIPAddr())
	for i := 0; i < 3; i++ { // register, then refresh twice
		if err := phone.Register("1001", "pass1001", 300); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond) // the presence rules run every 200 ms
		if a, _ := d.e.ACD().Agent("1001"); a.State != acd.Break || a.Reason != "lunch" {
			t.Fatalf("after registration %d: %s (%s), want break (lunch)", i, a.State, a.Reason)
		}
	}
	if err := phone.Register("1001", "pass1001", 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if a, err := d.e.ACD().Agent("1001"); err != nil || a.State != acd.Break {
		t.Fatalf("unregistering with the desktop connected: %+v %v", a, err)
	}
	if _, err := desk.Must(ctx, "set_state", map[string]any{"state": "ready"}); err != nil {
		t.Fatal(err)
	}
	if err := phone.Register("1001", "pass1001", 300); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if err := phone.Register("1001", "pass1001", 0); err != nil {
		t.Fatal(err)
	}
	d.waitAgent(t, "1001", acd.NotReady)
	if a, _ := d.e.ACD().Agent("1001"); a.Reason != "phone unregistered" {
		t.Fatalf("ready agent whose phone unregistered: %s (%s)", a.State, a.Reason)
	}

	// Phone only: the phone signs 1002 in and out.
	p2 := uatest.New(t, d.e.SIPAddr())
	if err := p2.Register("1002", "pass1002", 300); err != nil {
		t.Fatal(err)
	}
	d.waitAgent(t, "1002", acd.Ready)
	if err := p2.Register("1002", "pass1002", 0); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := d.e.ACD().Agent("1002"); errors.Is(err, acd.ErrUnknownAgent) {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("a phone-only agent was not signed out when its phone unregistered")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// While the engine says the agent's id the desktop shows the call, and
// hold, mute and hang-up all work; a call that does not exist is
// unknown_call, not internal.
func TestDesktopButtonsDuringAnnouncement(t *testing.T) {
	d, lanes := startTorture(t)
	l := lanes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	desk := d.desk(t, ctx, l.agent)
	c, in := l.call(t, l.phone)
	_ = in.Answer()
	// The ACD's call.answered and the engine's call.state come by two
	// paths: either may be first.
	var ans agentapi.Event
	announcing := false
	for ans.CallID == "" || !announcing {
		ev, err := desk.WaitEvent(ctx, func(e agentapi.Event) bool {
			return (e.Event == "call.answered" && e.Agent == l.agent) || (e.Event == "call.state" && e.State == "announcing")
		})
		if err != nil {
			t.Fatalf("the desktop heard answered %v, announcing %v: %v", ans.CallID != "", announcing, err)
		}
		if ev.Event == "call.answered" {
			ans = ev
		} else {
			announcing = true
		}
	}
	for _, op := range []string{"hold", "mute", "unmute", "unhold", "hold"} {
		if _, err := desk.Must(ctx, op, map[string]any{"call": ans.CallID}); err != nil {
			t.Fatalf("%s during the announcement: %v", op, err)
		}
	}
	time.Sleep(50 * time.Millisecond) // a hold long enough to show in whole milliseconds
	if v := d.view(t, ctx, "announcing", func(v callctl.View) bool { return v.ID == ans.CallID }); v.State != callctl.Announcing {
		t.Fatalf("call moved on too soon (%s): the test needs the announcement", v.State)
	}
	if _, err := desk.Must(ctx, "hangup", map[string]any{"call": ans.CallID}); err != nil {
		t.Fatalf("hang-up during the announcement: %v", err)
	}
	if !in.Byed(5 * time.Second) {
		t.Fatal("the agent's phone was not hung up")
	}
	d.waitAgent(t, l.agent, acd.Ready)
	if !c.Byed(10 * time.Second) {
		t.Fatal("the caller was not let go after the agent hung up")
	}
	r, err := desk.Do(ctx, "hangup", map[string]any{"call": "no-such-call"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Code() != agentapi.CodeUnknownCall {
		t.Fatalf("hang-up of an unknown call: code %q, want %q", r.Code(), agentapi.CodeUnknownCall)
	}
	rec := d.record(t, ans.CallID)
	if rec.Disposition != cdr.Answered || rec.HoldMS <= 0 {
		t.Fatalf("record: disposition %s hold %d ms", rec.Disposition, rec.HoldMS)
	}
}

// A caller whose phone vanishes (no BYE, no more RTP) is cut after the
// RTP timeout and the agent freed; a caller that asked for session timers
// and stops refreshing is cut at the session's end; one that refreshes
// stays.
func TestDeadCallersAreCut(t *testing.T) {
	d, lanes := startTorture(t)
	l := lanes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	c, in := l.call(t, l.phone)
	_ = in.Answer()
	c.Media.StartTone(2000)
	in.Media.StartTone(1000)
	v := d.bridged(t, ctx, l.agent)
	c.Media.Close()
	if !in.Byed(8 * time.Second) {
		t.Fatal("the agent was not released from a vanished caller")
	}
	d.waitAgent(t, l.agent, acd.Ready)
	rec := d.record(t, v.ID)
	if rec.EndedBy != "rtp_timeout" || !rec.Dropped {
		t.Fatalf("vanished caller's record: ended_by %q dropped %v", rec.EndedBy, rec.Dropped)
	}

	// Session timer, 2 s, the caller refreshes: the call stays up.
	timer := []string{"Supported: timer", "Session-Expires: 2;refresher=uac"}
	caller := l.trunk.Invite(l.number, uatest.CallOptions{From: "13900000089", Headers: timer})
	<-caller.Established()
	if r := caller.Response(); r == nil || r.GetHeader("Session-Expires") == nil || !strings.Contains(r.GetHeader("Session-Expires").Value(), "refresher=uac") {
		t.Fatalf("the 200 OK does not carry the session timer: %v", r)
	}
	in2, err := l.phone.NextInvite(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = in2.Reject(486, "Busy Here") // keep the caller waiting in the queue
	for i := 0; i < 4; i++ {
		time.Sleep(time.Second)
		if code, err := caller.Refresh(); err != nil || code != 200 {
			t.Fatalf("refresh %d: %d %v", i, code, err)
		}
	}
	if caller.Byed(0) {
		t.Fatal("a caller that refreshed its session was cut")
	}
	// It stops refreshing: the engine ends the session.
	if !caller.Byed(5 * time.Second) {
		t.Fatal("a caller that stopped refreshing was not cut")
	}
	if err := d.e.ACD().SetReady(l.agent); err != nil {
		t.Fatal(err)
	}
}

// The agent's phone holding the call (re-INVITE sendonly) is the same as
// the desktop's hold: the agent is held in the ACD, the caller hears
// music, the record has hold time; resuming takes the caller back.
func TestPhoneHoldIsCallHold(t *testing.T) {
	d, lanes := startTorture(t)
	l := lanes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, in := l.call(t, l.phone)
	_ = in.Answer()
	v := d.bridged(t, ctx, l.agent)
	before := c.Media.Received()
	time.Sleep(400 * time.Millisecond)
	if n := c.Media.Received() - before; n > 5 {
		t.Fatalf("the caller hears %d packets from a silent agent", n)
	}
	if code, err := in.Hold(true); err != nil || code != 200 {
		t.Fatalf("phone hold: %d %v", code, err)
	}
	d.waitAgent(t, l.agent, acd.Held)
	heldSeen := time.Now()
	before = c.Media.Received()
	for deadline := time.Now().Add(5 * time.Second); c.Media.Received()-before < 15; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the caller on the phone's hold heard %d packets of music in 5 s", c.Media.Received()-before)
		}
	}
	resumeAsked := time.Now()
	if code, err := in.Hold(false); err != nil || code != 200 {
		t.Fatalf("phone resume: %d %v", code, err)
	}
	d.waitAgent(t, l.agent, acd.Talking)
	c.SendBye()
	if !in.Byed(5 * time.Second) {
		t.Fatal("agent not hung up")
	}
	// The engine held the call before the test saw it held and took it
	// back after the test asked: the record's hold covers at least that
	// span (whole ms, rounded down). 15 packets of music took ~300 ms,
	// so a fixed 300 ms would be a race with the engine's own clock.
	if rec, span := d.record(t, v.ID), resumeAsked.Sub(heldSeen).Milliseconds(); rec.HoldMS < span-1 {
		t.Fatalf("record hold %d ms, want the phone's hold (at least %d ms)", rec.HoldMS, span-1)
	}
}

// Records say what happened: a call the flow ends is completed in the
// IVR, not abandoned; a caller the CRM does not know is traced not_found;
// a re-offer after ring-no-answer is not a new offered call.
func TestRecordsSayWhatHappened(t *testing.T) {
	d, lanes := startTorture(t)
	l := lanes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	bye, err := l.trunk.Call("20029", uatest.CallOptions{From: "13900000055"})
	if err != nil {
		t.Fatal(err)
	}
	if !bye.Byed(10 * time.Second) {
		t.Fatal("the flow did not hang up")
	}
	res := d.end(t, ctx)
	if rec := d.record(t, res.CallID); rec.Disposition != cdr.CompletedIVR || rec.EndedBy != "ivr" {
		t.Fatalf("a call the flow ended: disposition %s ended_by %q", rec.Disposition, rec.EndedBy)
	}

	for _, tc := range []struct{ number, want string }{{"13912340000", "not_found"}, {"13800000002", "found"}} {
		lk, err := l.trunk.Call("20028", uatest.CallOptions{From: tc.number})
		if err != nil {
			t.Fatal(err)
		}
		if !lk.Byed(10 * time.Second) {
			t.Fatal("lookup flow did not hang up")
		}
		res := d.end(t, ctx)
		got := ""
		for _, e := range res.Result.Trace {
			if e.Event == "lookup" {
				got = e.Detail["result"]
			}
		}
		if got != tc.want {
			t.Fatalf("caller %s traced lookup result=%q, want %q", tc.number, got, tc.want)
		}
	}

	// Ring-no-answer, then the same caller answered: one offered call.
	c, in := l.call(t, l.phone)
	_ = in.Reject(486, "Busy Here")
	d.waitAgent(t, l.agent, acd.NotReady)
	if err := d.e.ACD().SetReady(l.agent); err != nil {
		t.Fatal(err)
	}
	in2, err := l.phone.NextInvite(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = in2.Answer()
	d.bridged(t, ctx, l.agent)
	c.SendBye()
	m := scrape(t, d)
	if got := m[`hotline_queue_calls_total{event="offered",queue="lane1",tier="normal"}`]; got != 1 {
		t.Fatalf("offered = %v after a ring-no-answer and a re-offer, want 1", got)
	}
	if got := m[`hotline_queue_calls_total{event="rona",queue="lane1",tier="normal"}`]; got != 1 {
		t.Fatalf("rona = %v, want 1", got)
	}
}
