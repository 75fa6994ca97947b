package acdtest

import (
	"context"
	"errors"
	"testing"

	"github.com/hotlinecc/hotline/acd"
)

// Release ends a caller's time in the ACD whatever its state, and twice
// is harmless: waiting → abandoned, ringing → abandoned with the agent
// freed, connected → ended with the agent in wrap-up.
func (su suite) testReleaseEveryState(t *testing.T) {
	h := su.newHarness(t, nil)
	h.login(t, "a", map[string]int{"general": 1})

	// Connected.
	tk := h.enqueue(t, context.Background(), "c1", "general", "gold")
	if o := outcome(t, tk); o.Kind != acd.Connected {
		t.Fatalf("c1: %+v", o)
	}
	h.acd.Release("c1", "caller")
	h.acd.Release("c1", "caller")
	h.waitState(t, "a", acd.WrapUp)
	must(t, h.acd.SetReady("a"))

	// Ringing: the agent is freed, the ring cancelled.
	h.phone.set("a", phoneHold)
	tk = h.enqueue(t, context.Background(), "c2", "general", "gold")
	<-h.phone.ringing
	h.acd.Release("c2", "caller")
	if o := outcome(t, tk); o.Kind != acd.Abandoned {
		t.Fatalf("c2: %+v", o)
	}
	h.waitState(t, "a", acd.Ready)

	// Waiting.
	must(t, h.acd.SetNotReady("a", "meeting"))
	tk = h.enqueue(t, context.Background(), "c3", "general", "gold")
	h.acd.Release("c3", "caller")
	if o := outcome(t, tk); o.Kind != acd.Abandoned {
		t.Fatalf("c3: %+v", o)
	}
	if n := len(h.acd.Calls()); n != 0 {
		t.Fatalf("%d calls left", n)
	}
	h.acd.Release("unknown", "caller")
	if bad := h.acd.CheckInvariants(); len(bad) > 0 {
		t.Fatal(bad)
	}
}

// A transfer or consultation to a named agent reserves that agent, then
// makes it talking, outside every queue statistic; a busy agent is
// refused; a consulted agent who takes the caller over (Handover) gets
// the call and its wrap-up, the consulting agent goes to wrap-up at once.
func (su suite) testDirectOfferAndHandover(t *testing.T) {
	h := su.newHarness(t, nil)
	h.login(t, "a", map[string]int{"general": 1})
	h.login(t, "b", map[string]int{"billing": 1})
	must(t, h.acd.SetNotReady("b", "meeting"))
	tk := h.enqueue(t, context.Background(), "c", "general", "gold")
	if o := outcome(t, tk); o.AgentID != "a" {
		t.Fatalf("queue call: %+v", o)
	}
	call := acd.Call{ID: "c~1", Caller: "a", Queue: "general", Tier: "gold"}
	if _, err := h.acd.OfferTo(context.Background(), call, "b", acd.DirectConsult); !errors.Is(err, acd.ErrAgentUnavailable) {
		t.Fatalf("offer to a not-ready agent: %v", err)
	}
	must(t, h.acd.SetReady("b"))
	h.phone.set("b", phoneHold)
	ctk, err := h.acd.OfferTo(context.Background(), call, "b", acd.DirectConsult)
	must(t, err)
	<-h.phone.ringing
	h.waitState(t, "b", acd.Reserved)
	// While reserved, b is offered no queue call.
	qtk := h.enqueue(t, context.Background(), "other", "billing", "gold")
	h.phone.answer(t, "b", nil)
	if o := outcome(t, ctk); o.Kind != acd.Connected || o.AgentID != "b" {
		t.Fatalf("consult: %+v", o)
	}
	h.waitState(t, "b", acd.Talking)
	select {
	case o := <-qtk.Done():
		t.Fatalf("a talking agent was given a queue call: %+v", o)
	default:
	}
	must(t, h.acd.Handover("c~1", "c"))
	h.waitState(t, "a", acd.WrapUp)
	if s, _ := h.acd.Agent("b"); s.State != acd.Talking || s.CallID != "c" {
		t.Fatalf("after handover b: %+v", s)
	}
	e := h.waitEvent(t, func(e acd.Event) bool { return e.Type == acd.EventCallTransferred })
	if e.CallID != "c" || e.AgentID != "b" {
		t.Fatalf("transfer event %+v", e)
	}
	must(t, h.acd.CallEnded("c", "agent"))
	h.waitState(t, "b", acd.WrapUp)
	h.acd.Release("other", "caller")
	if bad := h.acd.CheckInvariants(); len(bad) > 0 {
		t.Fatal(bad)
	}
}

// A consultation that ends without a take-over gives the consulted agent
// no wrap-up; an unanswered direct offer is not re-queued.
func (su suite) testDirectOfferEnds(t *testing.T) {
	h := su.newHarness(t, nil)
	h.login(t, "b", map[string]int{"general": 1})
	ctk, err := h.acd.OfferTo(context.Background(), acd.Call{ID: "x~1", Caller: "a", Queue: "general", Tier: "gold"}, "b", acd.DirectConsult)
	must(t, err)
	if o := outcome(t, ctk); o.Kind != acd.Connected {
		t.Fatalf("consult: %+v", o)
	}
	h.acd.Release("x~1", "agent")
	h.waitState(t, "b", acd.Ready)

	h.phone.set("b", phoneNoAnswer)
	ttk, err := h.acd.OfferTo(context.Background(), acd.Call{ID: "y", Caller: "13800000001", Queue: "general", Tier: "gold"}, "b", acd.DirectTransfer)
	must(t, err)
	if o := outcome(t, ttk); o.Kind != acd.Unanswered {
		t.Fatalf("unanswered transfer: %+v", o)
	}
	h.waitState(t, "b", acd.NotReady)
	if n := len(h.acd.Calls()); n != 0 {
		t.Fatalf("an unanswered direct offer stayed in the ACD: %d calls", n)
	}
}

// A supervisor frees an agent the ACD still shows talking on a call that
// no longer exists for the engine.
func (su suite) testClearStaleCall(t *testing.T) {
	h := su.newHarness(t, nil)
	h.login(t, "a", map[string]int{"general": 1})
	tk := h.enqueue(t, context.Background(), "lost", "general", "gold")
	if o := outcome(t, tk); o.Kind != acd.Connected {
		t.Fatalf("%+v", o)
	}
	if err := h.acd.ForceReady("sup", "a"); !errors.Is(err, acd.ErrIllegalTransition) {
		t.Fatalf("force ready while talking: %v", err)
	}
	id, err := h.acd.ClearStaleCall("a", "sup")
	must(t, err)
	if id != "lost" {
		t.Fatalf("cleared %q", id)
	}
	must(t, h.acd.ForceReady("sup", "a"))
	h.waitState(t, "a", acd.Ready)
}
