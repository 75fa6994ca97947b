package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/redisstore/redistest"
	"github.com/hotlinecc/hotline/routing"
)

type answeringPhone struct{}

func (answeringPhone) Ring(context.Context, acd.Offer) error { return nil }

// The ACD running on the Redis store: a call is queued, offered, answered
// and ended, and another node reading the same Redis sees the agent, the
// claim and the service-level counters the first node wrote.
func TestACDOnRedisStore(t *testing.T) {
	srv := redistest.Start(t)
	store := newTestStore(t, srv, "n1", "acd:")
	other := newTestStore(t, srv, "n2", "acd:")
	a, err := acd.New(acd.Config{
		Routing: routing.Config{
			Tiers:  []routing.Tier{{Name: "normal", Target: 0.80, Threshold: 20 * time.Second}},
			Queues: []routing.Queue{{Name: "general"}},
		},
		RingTimeout: 15 * time.Second,
		WrapUp:      5 * time.Second,
	}, acd.Deps{Phone: answeringPhone{}, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Login(acd.AgentProfile{ID: "1003", Skills: map[string]int{"general": 1}}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ticket, err := a.Enqueue(ctx, acd.Call{ID: "call-1", Caller: "13800000001", Queue: "general", Tier: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 20*time.Second) // hang guard
	defer cancel()
	out, err := ticket.Wait(waitCtx)
	if err != nil || out.Kind != acd.Connected || out.AgentID != "1003" {
		t.Fatalf("outcome %+v, %v; want connected to 1003", out, err)
	}

	// While talking, the other node cannot offer the call or the agent.
	if err := other.Claim(ctx, "call-1", "1004"); !errors.Is(err, acd.ErrClaimed) {
		t.Errorf("other node claimed the talking call: %v", err)
	}
	if err := other.Claim(ctx, "call-2", "1003"); !errors.Is(err, acd.ErrClaimed) {
		t.Errorf("other node claimed the talking agent: %v", err)
	}
	agents, err := other.Agents(ctx)
	if err != nil || len(agents) != 1 || agents[0].State != acd.Talking || agents[0].CallID != "call-1" {
		t.Errorf("other node sees agents %+v, %v; want 1003 talking on call-1", agents, err)
	}

	if err := a.CallEnded("call-1", "caller"); err != nil {
		t.Fatal(err)
	}
	if err := other.Claim(ctx, "call-2", "1003"); err != nil {
		t.Errorf("agent still claimed after the call ended: %v", err)
	}
	sl, err := other.SLTotals(ctx)
	if err != nil || len(sl) != 1 || sl[0].Offered != 1 || sl[0].Answered != 1 || sl[0].AnsweredWithin != 1 {
		t.Errorf("SL totals %+v, %v; want one offered, answered within threshold", sl, err)
	}
	if calls, err := other.Calls(ctx, ""); err != nil || len(calls) != 0 {
		t.Errorf("ended call still stored: %+v, %v", calls, err)
	}
}
