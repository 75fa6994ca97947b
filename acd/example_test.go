package acd_test

import (
	"context"
	"fmt"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/routing"
)

// answeringPhone stands in for the SIP side: every agent answers at once.
type answeringPhone struct{}

func (answeringPhone) Ring(ctx context.Context, o acd.Offer) error { return nil }

// The engine's view of one call: the IVR's queue node enqueues the caller
// and waits; the SIP side rings through Phone; when the talk ends the engine
// reports it and the agent goes to wrap-up.
func Example() {
	a, err := acd.New(acd.Config{
		Routing: routing.Config{
			Tiers:  []routing.Tier{{Name: "diamond", Target: 0.95, Threshold: 10 * time.Second}, {Name: "normal", Target: 0.80, Threshold: 20 * time.Second}},
			Queues: []routing.Queue{{Name: "general"}, {Name: "billing"}},
		},
		RingTimeout: 15 * time.Second,
		WrapUp:      5 * time.Second,
	}, acd.Deps{Phone: answeringPhone{}})
	if err != nil {
		panic(err)
	}
	defer a.Close()
	events := a.Bus().Subscribe("example", 64)

	_ = a.Login(acd.AgentProfile{ID: "1001", Skills: map[string]int{"billing": 1, "general": 2}})
	_ = a.Login(acd.AgentProfile{ID: "1003", Skills: map[string]int{"general": 1}})

	callerCtx, hangup := context.WithCancel(context.Background()) // cancel = caller hung up
	defer hangup()
	ticket, err := a.Enqueue(callerCtx, acd.Call{ID: "call-1", Caller: "13800000001", Queue: "general", Tier: "diamond"})
	if err != nil {
		panic(err)
	}
	out, _ := ticket.Wait(context.Background())
	fmt.Println(out.Kind, "to agent", out.AgentID) // bridge caller and agent legs here

	_ = a.CallEnded("call-1", "caller")
	s, _ := a.Agent("1003")
	fmt.Println("agent 1003 is", s.State)

	for len(events.C) > 0 {
		e := <-events.C
		if e.Type != acd.EventAgentState {
			fmt.Println("event", e.Type, e.CallID)
		}
	}
	// Output:
	// connected to agent 1003
	// agent 1003 is wrap-up
	// event call.queued call-1
	// event call.offered call-1
	// event call.answered call-1
	// event call.ended call-1
}
