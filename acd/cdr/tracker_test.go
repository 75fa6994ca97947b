package cdr

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/routing"
)

// memWriter collects records like a Writer would write them.
type memWriter struct {
	mu   sync.Mutex
	recs []Record
}

func (m *memWriter) Write(r Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append(m.recs, r)
	return nil
}

func (m *memWriter) all() []Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Record(nil), m.recs...)
}

func at(sec int) time.Time { return hour(9).Add(time.Duration(sec) * time.Second) }

func TestTrackerBuildsRecordsFromACDEvents(t *testing.T) {
	type step struct {
		ev  *acd.Event
		end *Disposition // End(call, endAt, *end)
	}
	ev := func(e acd.Event) step { e.CallID = cond(e.CallID == "", "c1", e.CallID); return step{ev: &e} }
	end := func(d Disposition) step { return step{end: &d} }
	const endAt = 200
	tests := []struct {
		name  string
		steps []step
		want  func(t *testing.T, r Record)
	}{
		{"answered after a ring-no-answer, with hold and wrap-up", []step{
			ev(acd.Event{Type: acd.EventCallQueued, At: at(20), Queue: "sales", Tier: "gold"}),
			ev(acd.Event{Type: acd.EventCallOffered, At: at(21), AgentID: "a1"}),
			ev(acd.Event{Type: acd.EventCallRONA, At: at(36), AgentID: "a1", Reason: "no answer", Wait: 16 * time.Second}),
			ev(acd.Event{Type: acd.EventCallQueued, At: at(36), Queue: "sales", Tier: "gold", Reason: "requeued: no answer", Wait: 16 * time.Second}),
			ev(acd.Event{Type: acd.EventCallOffered, At: at(37), AgentID: "a2"}),
			ev(acd.Event{Type: acd.EventCallAnswered, At: at(40), AgentID: "a2", Wait: 20 * time.Second}),
			ev(acd.Event{Type: acd.EventCallHeld, At: at(100), AgentID: "a2"}),
			ev(acd.Event{Type: acd.EventCallRetrieved, At: at(130), AgentID: "a2"}),
			ev(acd.Event{Type: acd.EventCallEnded, At: at(190), AgentID: "a2", Wait: 150 * time.Second}),
			ev(acd.Event{Type: acd.EventAgentState, At: at(190), AgentID: "a2", State: acd.WrapUp, Prev: acd.Talking}),
			end(""),
			ev(acd.Event{Type: acd.EventAgentState, At: at(235), AgentID: "a2", CallID: "-", State: acd.Ready, Prev: acd.WrapUp}),
		}, func(t *testing.T, r Record) {
			check.Equal(t, Answered, r.Disposition)
			check.Equal(t, "a2", r.Agent)
			check.Equal(t, "sales", r.Queue)
			check.Equal(t, at(20), *r.Times.Enqueued, "a requeue keeps the first enqueue time")
			check.Equal(t, at(21), *r.Times.Offered)
			check.Equal(t, at(40), *r.Times.Answered)
			check.Equal(t, []Offer{{Agent: "a1", At: at(21), Outcome: OfferNoAnswer, RingMS: 15000},
				{Agent: "a2", At: at(37), Outcome: OfferAnswered, RingMS: 3000}}, r.Offers)
			check.Equal(t, int64(20000), r.WaitMS)
			check.Equal(t, int64(30000), r.HoldMS)
			check.Equal(t, int64(120000), r.TalkMS, "150 s connected − 30 s hold")
			check.Equal(t, int64(45000), r.WrapUpMS)
		}},
		{"caller hangs up before the ACD hears of the release", []step{
			ev(acd.Event{Type: acd.EventCallQueued, At: at(20), Queue: "sales", Tier: "gold"}),
			ev(acd.Event{Type: acd.EventCallOffered, At: at(21), AgentID: "a1"}),
			ev(acd.Event{Type: acd.EventCallAnswered, At: at(25), AgentID: "a1", Wait: 5 * time.Second}),
			end(""), // not written yet: a1 is still on the call
			ev(acd.Event{Type: acd.EventCallEnded, At: at(200), AgentID: "a1", Wait: 175 * time.Second}),
			ev(acd.Event{Type: acd.EventAgentState, At: at(200), AgentID: "a1", CallID: "c1", State: acd.WrapUp, Prev: acd.Talking}),
			ev(acd.Event{Type: acd.EventAgentState, At: at(210), AgentID: "a1", State: acd.Ready, Prev: acd.WrapUp}),
		}, func(t *testing.T, r Record) {
			check.Equal(t, Answered, r.Disposition)
			check.Equal(t, int64(175000), r.TalkMS)
			check.Equal(t, int64(10000), r.WrapUpMS)
		}},
		{"transferred back to a queue and answered again", []step{
			ev(acd.Event{Type: acd.EventCallQueued, At: at(20), Queue: "sales", Tier: "gold"}),
			ev(acd.Event{Type: acd.EventCallOffered, At: at(21), AgentID: "a1"}),
			ev(acd.Event{Type: acd.EventCallAnswered, At: at(25), AgentID: "a1", Wait: 5 * time.Second}),
			ev(acd.Event{Type: acd.EventCallEnded, At: at(85), AgentID: "a1", Wait: 60 * time.Second}),
			ev(acd.Event{Type: acd.EventAgentState, At: at(85), AgentID: "a1", CallID: "c1", State: acd.WrapUp, Prev: acd.Talking}),
			ev(acd.Event{Type: acd.EventCallQueued, At: at(86), Queue: "support", Tier: "gold"}),
			ev(acd.Event{Type: acd.EventAgentState, At: at(95), AgentID: "a1", State: acd.Ready, Prev: acd.WrapUp}),
			ev(acd.Event{Type: acd.EventCallOffered, At: at(96), AgentID: "a2"}),
			ev(acd.Event{Type: acd.EventCallAnswered, At: at(100), AgentID: "a2", Wait: 14 * time.Second}),
			ev(acd.Event{Type: acd.EventCallEnded, At: at(200), AgentID: "a2", Wait: 100 * time.Second}),
			ev(acd.Event{Type: acd.EventAgentState, At: at(200), AgentID: "a2", CallID: "c1", State: acd.WrapUp, Prev: acd.Talking}),
			end(""), // a2 still wrapping up: not written yet
			ev(acd.Event{Type: acd.EventAgentState, At: at(220), AgentID: "a2", State: acd.Ready, Prev: acd.WrapUp}),
		}, func(t *testing.T, r Record) {
			check.Equal(t, "a1", r.Agent, "the answering agent is the first")
			check.Equal(t, "sales", r.Queue, "the queue the caller chose")
			check.Equal(t, int64(5000), r.WaitMS)
			check.Equal(t, int64(160000), r.TalkMS, "60 s with a1 + 100 s with a2")
			check.Equal(t, int64(30000), r.WrapUpMS, "10 s by a1 + 20 s by a2")
			check.Equal(t, []OfferOutcome{OfferAnswered, OfferAnswered}, []OfferOutcome{r.Offers[0].Outcome, r.Offers[1].Outcome})
		}},
		{"caller hangs up while an agent rings", []step{
			ev(acd.Event{Type: acd.EventCallQueued, At: at(20), Queue: "support", Tier: "normal"}),
			ev(acd.Event{Type: acd.EventCallOffered, At: at(50), AgentID: "a3"}),
			ev(acd.Event{Type: acd.EventCallAbandoned, At: at(55), AgentID: "a3", Wait: 35 * time.Second}),
			end(""),
		}, func(t *testing.T, r Record) {
			check.Equal(t, AbandonedQueue, r.Disposition)
			check.True(t, !r.ShortAbandon)
			check.Equal(t, int64(35000), r.WaitMS)
			check.Equal(t, []Offer{{Agent: "a3", At: at(50), Outcome: OfferCancelled, RingMS: 5000}}, r.Offers)
		}},
		{"short abandon", []step{
			ev(acd.Event{Type: acd.EventCallQueued, At: at(20), Queue: "support", Tier: "normal"}),
			ev(acd.Event{Type: acd.EventCallAbandoned, At: at(23), Wait: 3 * time.Second}),
			end(""),
		}, func(t *testing.T, r Record) {
			check.Equal(t, AbandonedQueue, r.Disposition)
			check.True(t, r.ShortAbandon, "3 s < 5 s")
		}},
		{"overflow", []step{
			ev(acd.Event{Type: acd.EventCallQueued, At: at(20), Queue: "support", Tier: "normal"}),
			ev(acd.Event{Type: acd.EventCallOverflow, At: at(140), Reason: "max-wait", Wait: 120 * time.Second}),
			end(""),
		}, func(t *testing.T, r Record) {
			check.Equal(t, Overflowed, r.Disposition)
			check.Equal(t, "max-wait", r.Reason)
			check.Equal(t, int64(120000), r.WaitMS)
		}},
		{"hung up in the IVR", []step{end("")}, func(t *testing.T, r Record) {
			check.Equal(t, AbandonedIVR, r.Disposition)
			check.Equal(t, int64(0), r.WaitMS)
		}},
		{"engine's disposition wins", []step{end(Blacklisted)}, func(t *testing.T, r Record) {
			check.Equal(t, Blacklisted, r.Disposition)
		}},
		{"events of other calls are ignored", []step{
			ev(acd.Event{Type: acd.EventCallQueued, CallID: "other", At: at(20), Queue: "sales"}),
			end(""),
		}, func(t *testing.T, r Record) {
			check.Equal(t, "", r.Queue)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := &memWriter{}
			tr := NewTracker(out, nil, TrackerOptions{Node: "n1", Now: func() time.Time { return at(300) }})
			tr.Start("c1", Record{Times: Times{Arrival: at(0)}, Caller: "+861380000", Dialled: "4001", AccessNumber: "4001",
				Customer: Customer{Tier: "gold"}})
			check.True(t, tr.Update("c1", func(r *Record) { r.IVRFlow = "main" }))
			for i, s := range tc.steps {
				if s.ev != nil {
					tr.Event(*s.ev)
					continue
				}
				tr.End("c1", at(endAt), *s.end)
				if i < len(tc.steps)-1 {
					check.Len(t, out.all(), 0, "written before the agents were done")
				}
			}
			recs := out.all()
			must.Len(t, recs, 1)
			r := recs[0]
			check.Equal(t, "c1", r.CallID)
			check.Equal(t, "n1", r.Node)
			check.Equal(t, "main", r.IVRFlow)
			check.Equal(t, at(endAt), r.Times.Ended)
			check.NoError(t, r.Validate())
			tc.want(t, r)
			check.Equal(t, 0, tr.Open())
			check.True(t, !tr.Update("c1", func(*Record) {}), "a written record is closed")
		})
	}
}

func cond[T any](c bool, a, b T) T {
	if c {
		return a
	}
	return b
}

func TestTrackerWaitsForWrapUpThenSweeps(t *testing.T) {
	out := &memWriter{}
	clock := &fakeClock{t: at(0)}
	tr := NewTracker(out, nil, TrackerOptions{Now: clock.Now, MaxWrapWait: time.Minute, MaxOpen: time.Hour})
	tr.Start("c1", Record{})
	tr.Event(acd.Event{Type: acd.EventCallQueued, CallID: "c1", At: at(10), Queue: "sales", Tier: "gold"})
	tr.Event(acd.Event{Type: acd.EventCallOffered, CallID: "c1", At: at(11), AgentID: "a1"})
	tr.Event(acd.Event{Type: acd.EventCallAnswered, CallID: "c1", At: at(12), AgentID: "a1", Wait: 2 * time.Second})
	tr.Event(acd.Event{Type: acd.EventCallEnded, CallID: "c1", At: at(72), AgentID: "a1", Wait: time.Minute})
	tr.Event(acd.Event{Type: acd.EventAgentState, CallID: "c1", At: at(72), AgentID: "a1", State: acd.WrapUp})
	clock.Set(at(72))
	tr.End("c1", at(72), "")
	check.Len(t, out.all(), 0, "waits for the wrap-up to end")

	tr.Start("lost", Record{Times: Times{Arrival: at(0)}}) // its BYE never comes
	clock.Set(at(72 + 59))
	tr.Sweep()
	check.Len(t, out.all(), 0)
	clock.Set(at(72 + 60))
	tr.Sweep()
	recs := out.all()
	must.Len(t, recs, 1, "the wrap-up end was missed: written after MaxWrapWait")
	check.Equal(t, int64(60000), recs[0].WrapUpMS, "wrap-up counted up to the sweep")
	check.Equal(t, int64(60000), recs[0].TalkMS)

	clock.Set(at(3600))
	tr.Sweep()
	recs = out.all()
	must.Len(t, recs, 2)
	check.Equal(t, "lost", recs[1].CallID)
	check.True(t, recs[1].Dropped)
	check.Equal(t, "record timeout", recs[1].Reason)
}

func TestTrackerRunFlushesOnShutdown(t *testing.T) {
	out := &memWriter{}
	events := make(chan acd.Event, 8)
	tr := NewTracker(out, events, TrackerOptions{Now: func() time.Time { return at(500) }})
	tr.Start("c1", Record{Times: Times{Arrival: at(0)}})
	tr.Start("c2", Record{Times: Times{Arrival: at(5)}})
	events <- acd.Event{Type: acd.EventCallQueued, CallID: "c2", At: at(20), Queue: "sales", Tier: "gold"}
	events <- acd.Event{Type: acd.EventCallAnswered, CallID: "c2", At: at(30), AgentID: "a1", Wait: 10 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	must.NoError(t, tr.Run(ctx))
	recs := out.all()
	must.Len(t, recs, 2, "no record lost on a clean shutdown")
	byID := map[string]Record{recs[0].CallID: recs[0], recs[1].CallID: recs[1]}
	check.True(t, byID["c1"].Dropped && byID["c1"].Reason == "shutdown")
	check.Equal(t, Answered, byID["c2"].Disposition, "queued events are applied before the flush")
	check.Equal(t, at(500), byID["c2"].Times.Ended)
}

// ringPhone is the SIP side for the ACD: agent a1's phone is busy, the
// others answer at once.
type ringPhone struct{}

func (ringPhone) Ring(_ context.Context, o acd.Offer) error {
	if o.AgentID == "a1" {
		return acd.ErrBusy
	}
	return nil
}

// TestTrackerWithACD runs a call through the real ACD and checks the record
// against what happened: busy first agent, answer by the second, hold,
// release, wrap-up ended by the agent; the agent state log gets the spells.
func TestTrackerWithACD(t *testing.T) {
	dir := t.TempDir()
	states, err := NewAgentStateWriter(WriterOptions{Dir: dir})
	must.NoError(t, err)
	a, err := acd.New(acd.Config{
		Routing: routing.Config{
			Tiers:  []routing.Tier{{Name: "gold", Target: 0.8, Threshold: 20 * time.Second}},
			Queues: []routing.Queue{{Name: "sales"}},
		},
		RingTimeout: 15 * time.Second,
		WrapUp:      time.Minute,
	}, acd.Deps{Phone: ringPhone{}, Log: AgentStateLog{W: states}})
	must.NoError(t, err)
	defer a.Close()

	out := &memWriter{}
	sub := a.Bus().Subscribe("cdr", 256)
	tr := NewTracker(out, sub.C, TrackerOptions{})
	watch := a.Bus().Subscribe("test", 256)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()

	tr.Start("call-1", Record{Caller: "+8613800000001", Dialled: "4001", AccessNumber: "4001", Customer: Customer{Tier: "gold"}})
	must.NoError(t, a.Login(acd.AgentProfile{ID: "a1", Skills: map[string]int{"sales": 1}}))
	ticket, err := a.Enqueue(context.Background(), acd.Call{ID: "call-1", Caller: "+8613800000001", Queue: "sales", Tier: "gold"})
	must.NoError(t, err)
	for e := range watch.C { // a1 is busy; only then does a2 log in
		if e.Type == acd.EventCallRONA {
			break
		}
	}
	must.NoError(t, a.Login(acd.AgentProfile{ID: "a2", Skills: map[string]int{"sales": 1}}))
	res, err := ticket.Wait(context.Background())
	must.NoError(t, err)
	must.Equal(t, acd.Connected, res.Kind)
	must.NoError(t, a.Hold("a2"))
	must.NoError(t, a.Unhold("a2"))
	must.NoError(t, a.CallEnded("call-1", "caller"))
	tr.End("call-1", time.Now(), "")
	must.NoError(t, a.SetReady("a2")) // wrap-up done early
	eventually(t, func() bool { return len(out.all()) == 1 })
	stop()
	must.NoError(t, <-done)

	r := out.all()[0]
	check.NoError(t, r.Validate())
	check.Equal(t, Answered, r.Disposition)
	check.Equal(t, "a2", r.Agent)
	check.Equal(t, "sales", r.Queue)
	must.Len(t, r.Offers, 2, fmt.Sprintf("%+v", r))
	check.Equal(t, OfferBusy, r.Offers[0].Outcome)
	check.Equal(t, "a1", r.Offers[0].Agent)
	check.Equal(t, OfferAnswered, r.Offers[1].Outcome)
	check.True(t, r.Times.Enqueued != nil && r.Times.Offered != nil && r.Times.Answered != nil)
	check.True(t, !r.Times.Answered.Before(*r.Times.Enqueued))
	check.True(t, r.WaitMS >= 0 && r.TalkMS >= 0 && r.HoldMS >= 0 && r.WrapUpMS >= 0)

	must.NoError(t, a.Close())
	must.NoError(t, states.Close())
	spells := map[string]bool{}
	for s, err := range ReadLog[AgentStateRecord](dir, AgentStatesPrefix, time.Time{}, time.Time{}, nil) {
		must.NoError(t, err)
		spells[s.Agent+" "+s.State] = true
		check.True(t, !s.End.Before(s.Start))
	}
	for _, want := range []string{"a1 reserved", "a2 reserved", "a2 talking", "a2 held", "a2 wrap-up"} {
		check.True(t, spells[want], "agent state log has "+want)
	}
}
