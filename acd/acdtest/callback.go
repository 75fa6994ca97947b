package acdtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
)

// A caller third in line asks for a callback: the callback keeps the
// caller's place and enqueue time, so it is served before a caller who
// arrived later, and its wait (for the service level) counts from the
// original arrival.
func (su suite) testCallbackKeepsPlace(t *testing.T) {
	// Every caller is served within the gold threshold, so that the
	// order is first come, first served under any policy.
	h := su.newHarness(t, func(c *acd.Config) { c.WrapUp = 500 * time.Millisecond })
	h.login(t, "a", map[string]int{"general": 1})
	must(t, h.acd.SetNotReady("a", "meeting"))
	var tickets []*acd.Ticket
	for _, id := range []string{"c1", "c2", "c3"} {
		tickets = append(tickets, h.enqueue(t, context.Background(), id, "general", "gold"))
		h.clock.Advance(time.Second)
	}
	cb, err := h.acd.KeepPlace("c3", "c3-cb", "13900000003")
	must(t, err)
	if o := outcome(t, tickets[2]); o.Kind != acd.Overflowed || o.Reason != acd.OverflowCallback {
		t.Fatalf("waiting call's ticket after KeepPlace: %+v", o)
	}
	// Parked while the caller confirms: a caller arriving now queues
	// behind it all the same once confirmed.
	h.clock.Advance(5 * time.Second)
	later := h.enqueue(t, context.Background(), "c4", "general", "gold")
	must(t, h.acd.ConfirmCallback("c3-cb", "13900000099"))
	if p := cb.Position(); p.Place != 3 {
		t.Fatalf("callback place = %d, want 3 (the caller's)", p.Place)
	}
	if p := later.Position(); p.Place != 4 {
		t.Fatalf("later caller place = %d, want 4", p.Place)
	}

	must(t, h.acd.SetReady("a"))
	for i, tk := range []*acd.Ticket{tickets[0], tickets[1], cb} {
		o := outcome(t, tk)
		if o.Kind != acd.Connected {
			t.Fatalf("call %d: %+v", i, o)
		}
		if tk == cb && o.Wait != 8*time.Second {
			t.Fatalf("callback wait = %v, want 8s from the original arrival", o.Wait)
		}
		h.acd.Release(tk.CallID(), "agent")
		h.waitState(t, "a", acd.WrapUp)
		h.clock.Advance(time.Second)
		h.acd.Tick()
	}
	if o := outcome(t, later); o.Kind != acd.Connected {
		t.Fatalf("later caller: %+v", o)
	}
	hist := h.phone.historyCopy()
	want := []string{"a:c1", "a:c2", "a:c3-cb", "a:c4"}
	if len(hist) != len(want) {
		t.Fatalf("ring order %v, want %v", hist, want)
	}
	for i := range want {
		if hist[i] != want[i] {
			t.Fatalf("ring order %v, want %v", hist, want)
		}
	}
	// Offered once: the callback is the waiting call, not a new one.
	h.storeSL(t, "4 offered, 4 answered (the callback counted once, as its call)", slIs("general", "gold", 4, 4))
	if bad := h.acd.CheckInvariants(); len(bad) > 0 {
		t.Fatal(bad)
	}
}

// A customer not reached sends the agent back to ready (not at fault) and
// parks the callback until its next try; out of tries it ends Unanswered
// and counts as abandoned for its tier.
func (su suite) testCallbackRetriesThenFails(t *testing.T) {
	h := su.newHarness(t, func(c *acd.Config) {
		c.Queues = map[string]acd.QueueSettings{"general": {CallbackAttempts: 2, CallbackRetry: time.Minute}}
	})
	h.login(t, "a", map[string]int{"general": 1})
	must(t, h.acd.SetNotReady("a", "meeting"))
	h.enqueue(t, context.Background(), "c1", "general", "silver")
	cb, err := h.acd.KeepPlace("c1", "c1-cb", "13900000001")
	must(t, err)
	must(t, h.acd.ConfirmCallback("c1-cb", "13900000001"))
	h.phone.set("a", phoneCustomerAway)
	must(t, h.acd.SetReady("a"))
	e := h.waitEvent(t, func(e acd.Event) bool { return e.Type == acd.EventCallUnreached })
	if e.CallID != "c1-cb" || e.Reason != "no_answer" {
		t.Fatalf("unreached event %+v", e)
	}
	h.waitState(t, "a", acd.Ready)
	calls := h.acd.Calls()
	if len(calls) != 1 || calls[0].State != "parked" || calls[0].Call.CallbackAttempts != 1 {
		t.Fatalf("after a missed try: %+v", calls)
	}
	// Not before its retry time, even with a ready agent.
	h.clock.Advance(30 * time.Second)
	h.acd.Tick()
	if n := len(h.phone.historyCopy()); n != 1 {
		t.Fatalf("rung %d times before the retry was due", n)
	}
	h.clock.Advance(31 * time.Second)
	h.acd.Tick()
	o := outcome(t, cb)
	if o.Kind != acd.Unanswered || o.Reason != "no_answer" {
		t.Fatalf("after the last try: %+v", o)
	}
	h.waitState(t, "a", acd.Ready)
	h.storeSL(t, "the failed callback counted abandoned", func(all []acd.SLDelta) bool {
		for _, d := range all {
			if d.Queue == "general" && d.Tier == "silver" {
				return d.Offered == 1 && d.Abandoned == 1 && d.Answered == 0
			}
		}
		return false
	})
	for _, sl := range h.acd.ServiceLevels() {
		if sl.Tier == "silver" && sl.Queue == "" && sl.Abandoned != 1 {
			t.Fatalf("silver window: %+v, want the failed callback as an abandon", sl)
		}
	}
	if n := len(h.acd.Calls()); n != 0 {
		t.Fatalf("%d calls left", n)
	}
}

// A caller being rung for cannot switch to a callback (the agent is about
// to answer); a parked or waiting callback can be withdrawn (the customer
// called again); a hang-up before confirming abandons it.
func (su suite) testCallbackRefusalsAndWithdraw(t *testing.T) {
	h := su.newHarness(t, nil)
	h.login(t, "a", map[string]int{"general": 1})
	h.phone.set("a", phoneHold)
	h.enqueue(t, context.Background(), "r", "general", "gold")
	<-h.phone.ringing
	if _, err := h.acd.KeepPlace("r", "r-cb", "1"); !errors.Is(err, acd.ErrCallNotActive) {
		t.Fatalf("KeepPlace while ringing: %v, want ErrCallNotActive", err)
	}
	if _, err := h.acd.KeepPlace("nope", "nope-cb", "1"); !errors.Is(err, acd.ErrUnknownCall) {
		t.Fatalf("KeepPlace unknown: %v", err)
	}
	h.phone.answer(t, "a", nil)
	h.waitState(t, "a", acd.Talking)

	h.enqueue(t, context.Background(), "w", "general", "gold")
	cb, err := h.acd.KeepPlace("w", "w-cb", "13900000002")
	must(t, err)
	if err := h.acd.ConfirmCallback("w-cb", ""); !errors.Is(err, acd.ErrInvalidCall) {
		t.Fatalf("confirm without a number: %v", err)
	}
	must(t, h.acd.ConfirmCallback("w-cb", "13900000002"))
	must(t, h.acd.Withdraw("w-cb", "customer called again"))
	if o := outcome(t, cb); o.Kind != acd.Overflowed || o.Reason != "customer called again" {
		t.Fatalf("withdrawn callback: %+v", o)
	}

	h.enqueue(t, context.Background(), "u", "general", "gold")
	ucb, err := h.acd.KeepPlace("u", "u-cb", "13900000003")
	must(t, err)
	h.acd.Release("u-cb", "caller") // hung up before confirming
	if o := outcome(t, ucb); o.Kind != acd.Abandoned {
		t.Fatalf("unconfirmed callback after hang-up: %+v", o)
	}
	if bad := h.acd.CheckInvariants(); len(bad) > 0 {
		t.Fatal(bad)
	}
}

// A callback persisted before a restart comes back with its enqueue time
// (ahead of callers who arrived after it) and is not offered twice.
func (su suite) testCallbackRestored(t *testing.T) {
	h := su.newHarness(t, nil)
	h.login(t, "a", map[string]int{"general": 1})
	must(t, h.acd.SetNotReady("a", "meeting"))
	h.clock.Advance(time.Minute)
	newer := h.enqueue(t, context.Background(), "new", "general", "gold")
	cb, err := h.acd.Enqueue(context.Background(), acd.Call{ID: "old-cb", Caller: "13800000009", Queue: "general", Tier: "gold",
		Callback: "13800000009", EnqueuedAt: t0, CallbackAttempts: 1})
	must(t, err)
	if p := cb.Position(); p.Place != 1 {
		t.Fatalf("restored callback place %d, want 1", p.Place)
	}
	if p := newer.Position(); p.Place != 2 {
		t.Fatalf("newer caller place %d, want 2", p.Place)
	}
	// A restored callback between tries waits for its time.
	future := h.clock.Now().Add(time.Hour)
	later, err := h.acd.Enqueue(context.Background(), acd.Call{ID: "later-cb", Caller: "1", Queue: "general", Tier: "gold",
		Callback: "1", EnqueuedAt: t0, CallbackAt: future})
	must(t, err)
	if p := later.Position(); p.Place != 0 {
		t.Fatalf("parked restored callback has place %d", p.Place)
	}
	// Restored callbacks were counted before the restart.
	h.storeSL(t, "1 offered", slIs("general", "gold", 1, 0))
	must(t, h.acd.SetReady("a"))
	if o := outcome(t, cb); o.Kind != acd.Connected {
		t.Fatalf("restored callback: %+v", o)
	}
}

// A campaign's call to a customer who does not answer: the reserved agent
// goes back to ready (not at fault) and the offer ends Unanswered.
func (su suite) testDirectOutboundCustomerAway(t *testing.T) {
	h := su.newHarness(t, nil)
	h.login(t, "a", map[string]int{"general": 1})
	h.phone.set("a", phoneCustomerAway)
	tk, err := h.acd.OfferTo(context.Background(), acd.Call{ID: "out-1", Caller: "13800000010", Queue: "general", Tier: "normal"}, "a", acd.DirectOutbound)
	must(t, err)
	if o := outcome(t, tk); o.Kind != acd.Unanswered || o.Reason != "no_answer" {
		t.Fatalf("outbound to an absent customer: %+v", o)
	}
	h.waitState(t, "a", acd.Ready)
	h.phone.set("a", phoneAnswer)
	tk, err = h.acd.OfferTo(context.Background(), acd.Call{ID: "out-2", Caller: "13800000011", Queue: "general", Tier: "normal"}, "a", acd.DirectOutbound)
	must(t, err)
	if o := outcome(t, tk); o.Kind != acd.Connected {
		t.Fatalf("outbound answered: %+v", o)
	}
	h.waitState(t, "a", acd.Talking)
	h.acd.Release("out-2", "agent")
	h.waitState(t, "a", acd.WrapUp)
}

// slIs matches the store's counters of queue and tier.
func slIs(queue, tier string, offered, answered int) func([]acd.SLDelta) bool {
	return func(all []acd.SLDelta) bool {
		for _, d := range all {
			if d.Queue == queue && d.Tier == tier {
				return d.Offered == offered && d.Answered == answered
			}
		}
		return offered == 0 && answered == 0
	}
}
