package acdtest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/routing"
)

// settings is the harness's configuration as Reconfigure settings, for a
// test to change.
func settings(profiles map[string]acd.AgentProfile) acd.Settings {
	return acd.Settings{
		Routing: demoRouting(), RingTimeout: 15 * time.Second, WrapUp: 5 * time.Second,
		Queues:       map[string]acd.QueueSettings{"general": {MaxWait: 120 * time.Second}},
		BreakReasons: map[string]time.Duration{"lunch": 30 * time.Minute, "toilet": 5 * time.Minute},
		AdjustWarn:   3 * time.Minute, Profiles: profiles, DefaultTier: "normal",
	}
}

func withoutSilver(s acd.Settings) acd.Settings {
	s.Routing.Tiers = slices.DeleteFunc(slices.Clone(s.Routing.Tiers), func(t routing.Tier) bool { return t.Name == "silver" })
	return s
}

func serviceLevel(t *testing.T, a *acd.ACD, tier string) routing.ServiceLevel {
	t.Helper()
	for _, sl := range a.ServiceLevels() {
		if sl.Tier == tier {
			return sl
		}
	}
	t.Fatalf("no service level for tier %s", tier)
	return routing.ServiceLevel{}
}

// A reconfiguration while calls are up: a new queue and a changed target
// take effect at once, the talking agent's call is untouched, the waiting
// callers keep their order, the service-level window is carried over
// (judged by the new threshold), a removed free agent signs out, a removed
// busy one after its call and wrap-up (and is offered nothing meanwhile),
// callers of a removed tier are routed as the default tier, callers of a
// removed queue overflow, and a bad configuration changes nothing.
func (su suite) testReconfigure(t *testing.T) {
	h := su.newHarness(t, nil)
	h.login(t, "a1", map[string]int{"general": 1})
	h.login(t, "a2", map[string]int{"billing": 1})
	// a1 answers a diamond caller after 12 s: a miss under diamond's 10 s.
	must(t, h.acd.SetNotReady("a1", "meeting"))
	c1 := h.enqueue(t, context.Background(), "c1", "general", "diamond")
	h.clock.Advance(12 * time.Second)
	must(t, h.acd.SetReady("a1"))
	if o := outcome(t, c1); o.AgentID != "a1" {
		t.Fatalf("c1: %+v", o)
	}
	if sl := serviceLevel(t, h.acd, "diamond"); sl.Answered != 1 || sl.AnsweredWithin != 0 {
		t.Fatalf("diamond before: %+v", sl)
	}
	// Two callers wait behind the busy a1, one of a tier about to go;
	// one waits in billing (a2 not ready).
	must(t, h.acd.SetNotReady("a2", "meeting"))
	w1 := h.enqueue(t, context.Background(), "w1", "general", "normal")
	h.clock.Advance(time.Second)
	w2 := h.enqueue(t, context.Background(), "w2", "general", "silver")
	w3 := h.enqueue(t, context.Background(), "w3", "billing", "gold")

	// A bad configuration (queue settings for a queue routing lacks)
	// changes nothing.
	bad := settings(nil)
	bad.Queues["nowhere"] = acd.QueueSettings{}
	if _, err := h.acd.Reconfigure(bad); err == nil {
		t.Fatal("bad settings accepted")
	}
	bad = settings(map[string]acd.AgentProfile{"a1": {Skills: map[string]int{"nowhere": 1}}})
	if _, err := h.acd.Reconfigure(bad); err == nil {
		t.Fatal("a profile with an unknown queue accepted")
	}
	if sl := serviceLevel(t, h.acd, "diamond"); sl.Target != 0.95 {
		t.Fatalf("a refused reconfiguration changed the target: %+v", sl)
	}

	// New: queue vip, diamond 50 % within 15 s (the 12 s answer is now a
	// hit), silver gone, a2 gone, a1 also on vip.
	s := settings(map[string]acd.AgentProfile{"a1": {Skills: map[string]int{"general": 1, "vip": 1}}, "a3": {Skills: map[string]int{"vip": 1}}})
	s.Routing.Queues = append(s.Routing.Queues, routing.Queue{Name: "vip"})
	s = withoutSilver(s)
	s.Routing.Tiers[0].Target, s.Routing.Tiers[0].Threshold = 0.5, 15*time.Second
	done, err := h.acd.Reconfigure(s)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(done.SignedOut, []string{"a2"}) || len(done.Leaving) != 0 || !slices.Equal(done.Retiered, []string{"w2"}) || len(done.Overflowed) != 0 {
		t.Fatalf("reconfigured: %+v", done)
	}
	if st := h.state(t, "a2"); st != acd.LoggedOut {
		t.Fatalf("removed free agent a2 is %s", st)
	}
	if sl := serviceLevel(t, h.acd, "diamond"); sl.Target != 0.5 || sl.Answered != 1 || sl.AnsweredWithin != 1 {
		t.Fatalf("diamond after: %+v (want target 0.5, the answer replayed as a hit)", sl)
	}
	if st := h.state(t, "a1"); st != acd.Talking {
		t.Fatalf("a1 on its call is %s after the reconfiguration", st)
	}
	// w3's queue lost its last agent: it overflows (no agents).
	if o := outcome(t, w3); o.Kind != acd.Overflowed {
		t.Fatalf("w3 in a queue nobody serves: %+v", o)
	}
	// The new queue takes callers and agents.
	h.login(t, "a3", map[string]int{"vip": 1})
	if o := outcome(t, h.enqueue(t, context.Background(), "v1", "vip", "gold")); o.AgentID != "a3" {
		t.Fatalf("call in the new queue: %+v", o)
	}

	// a1 is removed while talking: it finishes the call and its wrap-up,
	// then signs out, and w1/w2 are never offered to it.
	done, err = h.acd.Reconfigure(withoutSilver(settings(map[string]acd.AgentProfile{"a3": {Skills: map[string]int{"general": 2}}})))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(done.Leaving, []string{"a1"}) {
		t.Fatalf("reconfigured: %+v (want a1 leaving after its call)", done)
	}
	if st := h.state(t, "a1"); st != acd.Talking {
		t.Fatalf("a1 is %s; removed agents keep their call", st)
	}
	must(t, h.acd.CallEnded("c1", "caller"))
	h.clock.Advance(6 * time.Second)
	h.acd.Tick()
	if st := h.state(t, "a1"); st != acd.LoggedOut {
		t.Fatalf("a1 after its call and wrap-up: %s", st)
	}
	// a3 (vip removed, now general) took the waiting callers in order:
	// w1 first, the caller of the removed tier after.
	must(t, h.acd.CallEnded("v1", "caller"))
	h.clock.Advance(6 * time.Second)
	h.acd.Tick()
	if o := outcome(t, w1); o.AgentID != "a3" {
		t.Fatalf("w1: %+v", o)
	}
	must(t, h.acd.CallEnded("w1", "caller"))
	h.clock.Advance(6 * time.Second)
	h.acd.Tick()
	if o := outcome(t, w2); o.AgentID != "a3" {
		t.Fatalf("w2 (tier removed): %+v", o)
	}
	for _, line := range h.phone.historyCopy() {
		if line == "a1:w1" || line == "a1:w2" {
			t.Fatalf("a leaving agent was offered a call: %v", h.phone.historyCopy())
		}
	}

	// A queue removed with a caller waiting: the caller overflows.
	must(t, h.acd.CallEnded("w2", "caller"))
	must(t, h.acd.SetNotReady("a3", "meeting"))
	w4 := h.enqueue(t, context.Background(), "w4", "general", "gold")
	s = withoutSilver(settings(map[string]acd.AgentProfile{"a3": {Skills: map[string]int{"billing": 1}}}))
	s.Routing.Queues = slices.DeleteFunc(s.Routing.Queues, func(q routing.Queue) bool { return q.Name == "general" })
	s.Queues = nil
	done, err = h.acd.Reconfigure(s)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(done.Overflowed, []string{"w4"}) {
		t.Fatalf("reconfigured: %+v", done)
	}
	if o := outcome(t, w4); o.Kind != acd.Overflowed || o.Reason != acd.OverflowQueueRemoved {
		t.Fatalf("w4 in a removed queue: %+v", o)
	}
	if v := h.phone.violationsCopy(); len(v) > 0 {
		t.Fatalf("phone saw: %v", v)
	}
	if v := h.acd.CheckInvariants(); len(v) > 0 {
		t.Fatalf("invariants: %v", v)
	}
}
