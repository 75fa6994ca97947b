// Package storetest is the contract every acd.Store implementation must
// pass (the in-memory one now, the Redis one with the cluster issue): most of
// all that Claim is atomic — under concurrent claims one call goes to one
// agent and one agent takes one call.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
)

// Run runs the contract against stores made by newStore (a fresh, empty
// store per call).
func Run(t *testing.T, newStore func(t *testing.T) acd.Store) {
	t.Run("ClaimIsExclusive", func(t *testing.T) { claimIsExclusive(t, newStore(t)) })
	t.Run("ConcurrentClaims", func(t *testing.T) { concurrentClaims(t, newStore(t)) })
	t.Run("AgentsAndCalls", func(t *testing.T) { agentsAndCalls(t, newStore(t)) })
	t.Run("SLTotals", func(t *testing.T) { slTotals(t, newStore(t)) })
}

func claimIsExclusive(t *testing.T, s acd.Store) {
	ctx := context.Background()
	if err := s.Claim(ctx, "c1", "a1"); err != nil {
		t.Fatalf("first claim: %v", err)
	}
	if err := s.Claim(ctx, "c1", "a2"); !errors.Is(err, acd.ErrClaimed) {
		t.Fatalf("call claimed twice: %v", err)
	}
	if err := s.Claim(ctx, "c2", "a1"); !errors.Is(err, acd.ErrClaimed) {
		t.Fatalf("agent claimed twice: %v", err)
	}
	// Releasing with the wrong pair changes nothing.
	if err := s.Release(ctx, "c1", "a2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Claim(ctx, "c1", "a2"); !errors.Is(err, acd.ErrClaimed) {
		t.Fatalf("foreign release freed the call: %v", err)
	}
	if err := s.Release(ctx, "c1", "a1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Claim(ctx, "c2", "a1"); err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	if err := s.Claim(ctx, "c1", "a2"); err != nil {
		t.Fatalf("claim of released call: %v", err)
	}
}

func concurrentClaims(t *testing.T, s acd.Store) {
	ctx := context.Background()
	const calls, agents = 20, 20
	var mu sync.Mutex
	byCall := map[string][]string{}
	byAgent := map[string][]string{}
	var wg sync.WaitGroup
	for a := 0; a < agents; a++ {
		wg.Add(1)
		go func(a int) {
			defer wg.Done()
			agent := fmt.Sprintf("a%d", a)
			for c := 0; c < calls; c++ {
				call := fmt.Sprintf("c%d", (c+a)%calls)
				err := s.Claim(ctx, call, agent)
				if err == nil {
					mu.Lock()
					byCall[call] = append(byCall[call], agent)
					byAgent[agent] = append(byAgent[agent], call)
					mu.Unlock()
					continue
				}
				if !errors.Is(err, acd.ErrClaimed) {
					t.Errorf("claim: %v", err)
				}
			}
		}(a)
	}
	wg.Wait()
	for c, as := range byCall {
		if len(as) > 1 {
			t.Errorf("call %s claimed by %v", c, as)
		}
	}
	for a, cs := range byAgent {
		if len(cs) > 1 {
			t.Errorf("agent %s claimed %v", a, cs)
		}
	}
	if len(byCall) == 0 {
		t.Error("no claim succeeded")
	}
}

func agentsAndCalls(t *testing.T, s acd.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	for _, id := range []string{"1002", "1001"} {
		if err := s.SaveAgent(ctx, acd.AgentRecord{Profile: acd.AgentProfile{ID: id}, State: acd.Ready, Since: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SaveAgent(ctx, acd.AgentRecord{Profile: acd.AgentProfile{ID: "1001"}, State: acd.Talking, CallID: "c1", Since: t0}); err != nil {
		t.Fatal(err)
	}
	as, err := s.Agents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 2 || as[0].Profile.ID != "1001" || as[0].State != acd.Talking || as[1].Profile.ID != "1002" {
		t.Fatalf("agents %+v", as)
	}
	if err := s.DeleteAgent(ctx, "1002"); err != nil {
		t.Fatal(err)
	}
	if as, _ := s.Agents(ctx); len(as) != 1 {
		t.Fatalf("after delete %+v", as)
	}
	calls := []acd.Call{
		{ID: "late", Queue: "general", Tier: "gold", EnqueuedAt: t0.Add(time.Second)},
		{ID: "early", Queue: "general", Tier: "normal", EnqueuedAt: t0},
		{ID: "other", Queue: "billing", Tier: "gold", EnqueuedAt: t0},
	}
	for _, c := range calls {
		if err := s.SaveCall(ctx, acd.CallRecord{Call: c, State: "queued"}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Calls(ctx, "general")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Call.ID != "early" || got[1].Call.ID != "late" {
		t.Fatalf("general calls %+v, want early then late", got)
	}
	if err := s.DeleteCall(ctx, "early"); err != nil {
		t.Fatal(err)
	}
	if all, _ := s.Calls(ctx, ""); len(all) != 2 {
		t.Fatalf("all calls after delete: %+v", all)
	}
}

func slTotals(t *testing.T, s acd.Store) {
	ctx := context.Background()
	for _, d := range []acd.SLDelta{
		{Queue: "general", Tier: "gold", Offered: 1},
		{Queue: "general", Tier: "gold", Answered: 1, AnsweredWithin: 1},
		{Queue: "general", Tier: "gold", Offered: 1},
		{Queue: "general", Tier: "gold", Abandoned: 1},
		{Queue: "billing", Tier: "normal", Offered: 1, Overflowed: 1},
	} {
		if err := s.AddSL(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.SLTotals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []acd.SLDelta{
		{Queue: "billing", Tier: "normal", Offered: 1, Overflowed: 1},
		{Queue: "general", Tier: "gold", Offered: 2, Answered: 1, AnsweredWithin: 1, Abandoned: 1},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("totals %+v, want %+v", got, want)
	}
}
