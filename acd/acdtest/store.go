package acdtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
)

// The store is the state other nodes (and supervisors' views on them) read:
// an agent's state, the waiting and connected calls, the claims and the
// service-level counters must follow what the ACD does, in every store.
func (su suite) testStoreMirrorsACD(t *testing.T) {
	h := su.newHarness(t, nil)
	ctx := context.Background()
	h.login(t, "a", map[string]int{"general": 1})
	must(t, h.acd.SetNotReady("a", "meeting"))
	h.storeAgents(t, "not ready", func(rs []acd.AgentRecord) bool {
		return len(rs) == 1 && rs[0].Profile.ID == "a" && rs[0].State == acd.NotReady && rs[0].Reason == "meeting" &&
			rs[0].Since.Equal(t0) && rs[0].Profile.Skills["general"] == 1
	})

	h.clock.Advance(time.Second)
	tk := h.enqueue(t, ctx, "c1", "general", "gold")
	h.storeCalls(t, "general", "c1 queued", func(rs []acd.CallRecord) bool {
		return len(rs) == 1 && rs[0].Call.ID == "c1" && rs[0].State == "queued" && rs[0].AgentID == "" &&
			rs[0].Call.Caller == "138c1" && rs[0].Call.Tier == "gold" && rs[0].Call.EnqueuedAt.Equal(t0.Add(time.Second))
	})
	h.storeCalls(t, "billing", "no billing calls", func(rs []acd.CallRecord) bool { return len(rs) == 0 })

	h.clock.Advance(2 * time.Second)
	must(t, h.acd.SetReady("a"))
	if o := outcome(t, tk); o.Kind != acd.Connected || o.AgentID != "a" {
		t.Fatalf("outcome %+v", o)
	}
	h.storeCalls(t, "", "c1 talking to a", func(rs []acd.CallRecord) bool {
		return len(rs) == 1 && rs[0].Call.ID == "c1" && rs[0].State == "talking" && rs[0].AgentID == "a"
	})
	h.storeAgents(t, "a talking on c1", func(rs []acd.AgentRecord) bool {
		return len(rs) == 1 && rs[0].State == acd.Talking && rs[0].CallID == "c1"
	})
	// Another node can offer neither the connected call nor its agent.
	if err := h.store.Claim(ctx, "c1", "b"); !errors.Is(err, acd.ErrClaimed) {
		t.Fatalf("claim of the connected call: %v, want ErrClaimed", err)
	}
	if err := h.store.Claim(ctx, "c9", "a"); !errors.Is(err, acd.ErrClaimed) {
		t.Fatalf("claim of the talking agent: %v, want ErrClaimed", err)
	}

	h.clock.Advance(time.Minute)
	must(t, h.acd.CallEnded("c1", "caller"))
	h.storeCalls(t, "", "no calls after hang-up", func(rs []acd.CallRecord) bool { return len(rs) == 0 })
	h.storeAgents(t, "a in wrap-up", func(rs []acd.AgentRecord) bool {
		return len(rs) == 1 && rs[0].State == acd.WrapUp
	})
	if err := h.store.Claim(ctx, "probe", "a"); err != nil {
		t.Fatalf("agent still claimed after the call ended: %v", err)
	}
	must(t, h.store.Release(ctx, "probe", "a"))

	// A counted abandon and an overflow, with a not-ready agent so neither
	// call is offered.
	must(t, h.acd.SetNotReady("a", "meeting"))
	hangCtx, hangup := context.WithCancel(ctx)
	defer hangup()
	ab := h.enqueue(t, hangCtx, "c2", "general", "gold")
	ov := h.enqueue(t, ctx, "c3", "general", "gold")
	h.clock.Advance(10 * time.Second) // past the short-abandon threshold
	hangup()
	if o := outcome(t, ab); o.Kind != acd.Abandoned {
		t.Fatalf("c2 outcome %+v", o)
	}
	must(t, h.acd.Overflow("c3", acd.OverflowCallerChoice))
	if o := outcome(t, ov); o.Kind != acd.Overflowed {
		t.Fatalf("c3 outcome %+v", o)
	}
	h.storeCalls(t, "", "no calls after abandon and overflow", func(rs []acd.CallRecord) bool { return len(rs) == 0 })
	want := acd.SLDelta{Queue: "general", Tier: "gold", Offered: 3, Answered: 1, AnsweredWithin: 1, Abandoned: 1, Overflowed: 1}
	h.storeSL(t, fmt.Sprintf("%+v", want), func(rs []acd.SLDelta) bool {
		return len(rs) == 1 && rs[0] == want
	})

	must(t, h.acd.Logout("a"))
	h.storeAgents(t, "no agents after logout", func(rs []acd.AgentRecord) bool { return len(rs) == 0 })
}

// storeAgents waits until the store's agents satisfy ok: ring outcomes
// reach the store from the ACD's ring goroutines.
func (h *harness) storeAgents(t *testing.T, what string, ok func([]acd.AgentRecord) bool) {
	t.Helper()
	storeEventually(t, what, func() ([]acd.AgentRecord, error) { return h.store.Agents(context.Background()) }, ok)
}

// storeCalls waits until the store's calls of queue ("" = all) satisfy ok.
func (h *harness) storeCalls(t *testing.T, queue, what string, ok func([]acd.CallRecord) bool) {
	t.Helper()
	storeEventually(t, what, func() ([]acd.CallRecord, error) { return h.store.Calls(context.Background(), queue) }, ok)
}

// storeSL waits until the store's service-level totals satisfy ok.
func (h *harness) storeSL(t *testing.T, what string, ok func([]acd.SLDelta) bool) {
	t.Helper()
	storeEventually(t, what, func() ([]acd.SLDelta, error) { return h.store.SLTotals(context.Background()) }, ok)
}

func storeEventually[T any](t *testing.T, what string, read func() (T, error), ok func(T) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second) // hang guard
	for {
		got, err := read()
		if err != nil {
			t.Fatalf("store read for %s: %v", what, err)
		}
		if ok(got) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("store never showed %s; last read %+v", what, got)
		}
		time.Sleep(time.Millisecond)
	}
}
