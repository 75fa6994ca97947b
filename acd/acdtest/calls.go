package acdtest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
)

// Two tiers wait in one queue; two agents become ready one after the
// other. The diamond caller, already past its 10 s threshold (a certain
// miss, so its tier is furthest behind), goes to the first agent although
// the normal caller has waited longer; the second agent then gets the
// normal caller.
func (su suite) testDistributionTwoTiers(t *testing.T) {
	h := su.newHarness(t, nil)
	h.login(t, "1001", map[string]int{"billing": 1, "general": 2})
	h.login(t, "1003", map[string]int{"general": 1, "technical": 2})
	must(t, h.acd.SetNotReady("1001", "meeting"))
	must(t, h.acd.SetNotReady("1003", "meeting"))
	norm := h.enqueue(t, context.Background(), "normal-1", "general", "normal")
	h.clock.Advance(2 * time.Second)
	dia := h.enqueue(t, context.Background(), "diamond-1", "general", "diamond")
	h.clock.Advance(11 * time.Second)

	must(t, h.acd.SetReady("1003"))
	if o := outcome(t, dia); o.Kind != acd.Connected || o.AgentID != "1003" {
		t.Fatalf("diamond caller: %+v", o)
	}
	must(t, h.acd.SetReady("1001"))
	if o := outcome(t, norm); o.Kind != acd.Connected || o.AgentID != "1001" {
		t.Fatalf("normal caller: %+v", o)
	}
	if got := h.phone.historyCopy(); !slices.Equal(got, []string{"1003:diamond-1", "1001:normal-1"}) {
		t.Fatalf("ring order %v", got)
	}
}

// An arriving call goes to the first-skill agent even when a second-skill
// agent has been idle longer.
func (su suite) testCallArrivalSkillLevel(t *testing.T) {
	h := su.newHarness(t, nil)
	h.login(t, "1001", map[string]int{"billing": 1, "general": 2})
	h.clock.Advance(time.Minute)
	h.login(t, "1003", map[string]int{"general": 1, "technical": 2})
	tk := h.enqueue(t, context.Background(), "c1", "general", "normal")
	if o := outcome(t, tk); o.AgentID != "1003" {
		t.Fatalf("got agent %s, want first-skill agent 1003", o.AgentID)
	}
	tk = h.enqueue(t, context.Background(), "c2", "general", "normal")
	if o := outcome(t, tk); o.AgentID != "1001" {
		t.Fatalf("got agent %s, want second-skill agent 1001 while 1003 talks", o.AgentID)
	}
}

func (su suite) testRONARequeuesAtHead(t *testing.T) {
	tests := []struct {
		name   string
		phone  phoneBehaviour
		reason string
	}{
		{"no answer", phoneNoAnswer, "no answer"},
		{"busy", phoneBusy, "busy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := su.newHarness(t, nil)
			h.login(t, "a", map[string]int{"general": 1})
			h.login(t, "b", map[string]int{"general": 1})
			must(t, h.acd.SetNotReady("b", "meeting"))
			must(t, h.acd.SetNotReady("a", "meeting"))
			h.phone.set("a", tc.phone)
			first := h.enqueue(t, context.Background(), "first", "general", "gold")
			h.clock.Advance(time.Second)
			second := h.enqueue(t, context.Background(), "second", "general", "gold")
			h.clock.Advance(time.Second)

			must(t, h.acd.SetReady("a")) // a is offered "first" and fails
			e := h.waitEvent(t, func(e acd.Event) bool { return e.Type == acd.EventCallRONA })
			if e.AgentID != "a" || e.CallID != "first" || e.Reason != tc.reason {
				t.Fatalf("RONA event %+v", e)
			}
			h.waitState(t, "a", acd.NotReady)
			if s, _ := h.acd.Agent("a"); s.Reason != "no answer" {
				t.Fatalf("agent reason %q, want \"no answer\"", s.Reason)
			}
			calls := h.acd.Calls()
			if len(calls) != 2 || calls[0].Call.ID != "first" || !calls[0].Call.EnqueuedAt.Equal(t0) || calls[0].State != "queued" {
				t.Fatalf("after RONA calls = %+v", calls)
			}
			must(t, h.acd.SetReady("b"))
			if o := outcome(t, first); o.AgentID != "b" || o.Wait != 2*time.Second {
				t.Fatalf("re-queued call: %+v, want agent b with wait from original enqueue", o)
			}
			select {
			case o := <-second.Done():
				t.Fatalf("second caller jumped the re-queued call: %+v", o)
			default:
			}
		})
	}
}

// RONA by the ring timeout: the phone never answers, the ACD gives up.
func (su suite) testRingTimeout(t *testing.T) {
	h := su.newHarness(t, func(c *acd.Config) { c.RingTimeout = 20 * time.Millisecond })
	h.login(t, "a", map[string]int{"general": 1})
	h.login(t, "b", map[string]int{"general": 1})
	h.phone.set("a", phoneHold)
	tk := h.enqueue(t, context.Background(), "c", "general", "gold")
	if o := outcome(t, tk); o.AgentID != "b" {
		t.Fatalf("outcome %+v, want agent b after a timed out", o)
	}
	h.waitState(t, "a", acd.NotReady)
}

func (su suite) testAbandonWhileRinging(t *testing.T) {
	h := su.newHarness(t, nil)
	h.login(t, "a", map[string]int{"general": 1})
	h.phone.set("a", phoneHold)
	ctx, hangup := context.WithCancel(context.Background())
	tk := h.enqueue(t, ctx, "c", "general", "gold")
	<-h.phone.ringing
	h.clock.Advance(8 * time.Second)
	hangup()
	o := outcome(t, tk)
	if o.Kind != acd.Abandoned {
		t.Fatalf("outcome %+v", o)
	}
	h.waitState(t, "a", acd.Ready)
	eventually(t, "ring cancelled", func() bool {
		h.phone.mu.Lock()
		defer h.phone.mu.Unlock()
		return slices.Contains(h.phone.cancelled, "c")
	})
	if n := len(h.acd.Calls()); n != 0 {
		t.Fatalf("%d calls left", n)
	}
	sl := h.acd.ServiceLevels()
	if sl[1].Tier != "gold" || sl[1].Abandoned != 1 {
		t.Fatalf("gold SL %+v, want one abandon", sl[1])
	}
	// The freed agent takes the next caller.
	h.phone.set("a", phoneAnswer)
	if o := outcome(t, h.enqueue(t, context.Background(), "d", "general", "gold")); o.AgentID != "a" {
		t.Fatalf("next call %+v", o)
	}
}

// The phone reports an answer in the same instant the caller hangs up: the
// caller's abandon stands, the agent is freed and the answered agent leg is
// handed back to the engine to hang up.
func (su suite) testAbandonRacesAnswer(t *testing.T) {
	h := su.newHarness(t, nil)
	h.login(t, "a", map[string]int{"general": 1})
	h.phone.set("a", phoneAnswerLate)
	ctx, hangup := context.WithCancel(context.Background())
	tk := h.enqueue(t, ctx, "c", "general", "gold")
	<-h.phone.ringing
	hangup()
	if o := outcome(t, tk); o.Kind != acd.Abandoned {
		t.Fatalf("outcome %+v", o)
	}
	h.waitState(t, "a", acd.Ready)
	eventually(t, "answered leg released", func() bool {
		h.phone.mu.Lock()
		defer h.phone.mu.Unlock()
		return slices.Equal(h.phone.released, []string{"a:c"})
	})
}

func (su suite) testAbandonWhileQueued(t *testing.T) {
	h := su.newHarness(t, nil)
	h.login(t, "a", map[string]int{"general": 1})
	must(t, h.acd.SetNotReady("a", "meeting"))
	ctx, hangup := context.WithCancel(context.Background())
	tk := h.enqueue(t, ctx, "c", "general", "normal")
	h.clock.Advance(2 * time.Second) // shorter than the short-abandon threshold
	hangup()
	if o := outcome(t, tk); o.Kind != acd.Abandoned {
		t.Fatalf("outcome %+v", o)
	}
	must(t, h.acd.SetReady("a"))
	if got := h.phone.historyCopy(); len(got) != 0 {
		t.Fatalf("abandoned call was offered: %v", got)
	}
	if sl := h.acd.ServiceLevels()[3]; sl.Abandoned != 0 {
		t.Fatalf("short abandon counted: %+v", sl)
	}
}

func (su suite) testOverflow(t *testing.T) {
	t.Run("no agent logged in", func(t *testing.T) {
		h := su.newHarness(t, nil)
		h.login(t, "bill", map[string]int{"billing": 1})
		if o := outcome(t, h.enqueue(t, context.Background(), "c", "general", "gold")); o.Kind != acd.Overflowed || o.Reason != acd.OverflowNoAgents {
			t.Fatalf("%+v", o)
		}
	})
	t.Run("withdrawn by the IVR, not abandoned", func(t *testing.T) {
		h := su.newHarness(t, nil)
		h.login(t, "a", map[string]int{"general": 1})
		must(t, h.acd.SetNotReady("a", "meeting"))
		tk := h.enqueue(t, context.Background(), "c", "general", "gold")
		h.clock.Advance(30 * time.Second) // long past the short-abandon threshold
		must(t, h.acd.Overflow("c", acd.OverflowCallerChoice))
		if o := outcome(t, tk); o.Kind != acd.Overflowed || o.Reason != acd.OverflowCallerChoice {
			t.Fatalf("%+v", o)
		}
		if err := h.acd.Overflow("c", acd.OverflowCallerChoice); !errors.Is(err, acd.ErrUnknownCall) {
			t.Fatalf("second overflow: %v", err)
		}
		for _, sl := range h.acd.ServiceLevels() {
			if sl.Tier == "gold" && sl.Abandoned != 0 {
				t.Fatalf("an IVR overflow counted as abandon: %+v", sl)
			}
		}
	})
	t.Run("queue full", func(t *testing.T) {
		h := su.newHarness(t, func(c *acd.Config) { c.Queues["general"] = acd.QueueSettings{MaxSize: 1} })
		h.login(t, "a", map[string]int{"general": 1})
		must(t, h.acd.SetNotReady("a", "meeting"))
		first := h.enqueue(t, context.Background(), "c1", "general", "gold")
		if o := outcome(t, h.enqueue(t, context.Background(), "c2", "general", "gold")); o.Kind != acd.Overflowed || o.Reason != acd.OverflowQueueFull {
			t.Fatalf("%+v", o)
		}
		if p := first.Position(); !p.Waiting || p.Place != 1 {
			t.Fatalf("first caller position %+v", p)
		}
	})
	t.Run("max wait", func(t *testing.T) {
		h := su.newHarness(t, nil)
		h.login(t, "a", map[string]int{"general": 1})
		must(t, h.acd.SetNotReady("a", "meeting"))
		tk := h.enqueue(t, context.Background(), "c", "general", "gold")
		h.clock.Advance(119 * time.Second)
		h.acd.Tick()
		select {
		case o := <-tk.Done():
			t.Fatalf("overflowed early: %+v", o)
		default:
		}
		h.clock.Advance(time.Second)
		h.acd.Tick()
		if o := outcome(t, tk); o.Kind != acd.Overflowed || o.Reason != acd.OverflowMaxWait || o.Wait != 120*time.Second {
			t.Fatalf("%+v", o)
		}
	})
	t.Run("last agent logs out", func(t *testing.T) {
		h := su.newHarness(t, nil)
		h.login(t, "a", map[string]int{"general": 1})
		must(t, h.acd.SetNotReady("a", "meeting"))
		tk := h.enqueue(t, context.Background(), "c", "general", "gold")
		must(t, h.acd.Logout("a"))
		if o := outcome(t, tk); o.Kind != acd.Overflowed || o.Reason != acd.OverflowNoAgents {
			t.Fatalf("%+v", o)
		}
	})
}

func (su suite) testManualMode(t *testing.T) {
	h := su.newHarness(t, nil)
	h.login(t, "m", map[string]int{"general": 1}, func(p *acd.AgentProfile) { p.Mode = acd.ManualMode })
	tk := h.enqueue(t, context.Background(), "c1", "general", "gold")
	if got := h.phone.historyCopy(); len(got) != 0 {
		t.Fatalf("manual agent offered a call without asking: %v", got)
	}
	must(t, h.acd.RequestCall("m"))
	if o := outcome(t, tk); o.AgentID != "m" {
		t.Fatalf("%+v", o)
	}
	must(t, h.acd.CallEnded("c1", "agent"))
	h.clock.Advance(5 * time.Second)
	h.acd.Tick()
	h.waitState(t, "m", acd.Ready)
	// Asking with nothing waiting: the next arrival is offered.
	must(t, h.acd.RequestCall("m"))
	if o := outcome(t, h.enqueue(t, context.Background(), "c2", "general", "gold")); o.AgentID != "m" {
		t.Fatalf("%+v", o)
	}
	if err := h.acd.RequestCall("m"); !errors.Is(err, acd.ErrIllegalTransition) {
		t.Fatalf("request while talking: %v", err)
	}
	must(t, h.acd.CallEnded("c2", "agent"))
	h.clock.Advance(5 * time.Second)
	h.acd.Tick()
	// A request does not survive a not-ready spell.
	must(t, h.acd.RequestCall("m"))
	must(t, h.acd.SetNotReady("m", "meeting"))
	must(t, h.acd.SetReady("m"))
	h.enqueue(t, context.Background(), "c3", "general", "gold")
	if got := h.phone.historyCopy(); len(got) != 2 {
		t.Fatalf("rings %v: stale request honoured", got)
	}
}

func (su suite) testWrapUpThenReady(t *testing.T) {
	h := su.newHarness(t, func(c *acd.Config) { c.Queues["billing"] = acd.QueueSettings{WrapUp: 30 * time.Second} })
	h.login(t, "a", map[string]int{"general": 1, "billing": 1})
	outcome(t, h.enqueue(t, context.Background(), "c1", "billing", "gold"))
	h.clock.Advance(time.Minute)
	must(t, h.acd.CallEnded("c1", "caller"))
	if s, _ := h.acd.Agent("a"); s.State != acd.WrapUp || !s.WrapUntil.Equal(t0.Add(90*time.Second)) {
		t.Fatalf("after hang-up %+v, want wrap-up for billing's 30 s", s)
	}
	waiting := h.enqueue(t, context.Background(), "c2", "general", "gold")
	must(t, h.acd.ExtendWrapUp("a", 10*time.Second))
	h.clock.Advance(35 * time.Second)
	h.acd.Tick()
	if st := h.state(t, "a"); st != acd.WrapUp {
		t.Fatalf("state %s before extended wrap-up ends", st)
	}
	h.clock.Advance(5 * time.Second)
	h.acd.Tick()
	if o := outcome(t, waiting); o.AgentID != "a" {
		t.Fatalf("waiting call after wrap-up: %+v", o)
	}
	if err := h.acd.CallEnded("c1", "caller"); !errors.Is(err, acd.ErrUnknownCall) {
		t.Fatalf("ending a finished call: %v", err)
	}
}

func (su suite) testBreakOverrunAndAdjustWarning(t *testing.T) {
	h := su.newHarness(t, nil)
	h.login(t, "a", map[string]int{"general": 1})
	h.login(t, "b", map[string]int{"general": 1})
	must(t, h.acd.StartBreak("a", "toilet"))
	must(t, h.acd.StartAdjust("b"))
	h.clock.Advance(4 * time.Minute)
	h.acd.Tick()
	h.clock.Advance(2 * time.Minute)
	h.acd.Tick()
	h.acd.Tick() // raised once only
	var got []string
	for {
		select {
		case e := <-h.sub.C:
			if e.Type == acd.EventBreakOverrun || e.Type == acd.EventAdjustWarning {
				got = append(got, string(e.Type)+":"+e.AgentID)
			}
			continue
		default:
		}
		break
	}
	want := []string{"agent.adjust_warning:b", "agent.break_overrun:a"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

func (su suite) testSupervisorSignOutWhileRinging(t *testing.T) {
	h := su.newHarness(t, nil)
	h.login(t, "a", map[string]int{"general": 1})
	h.login(t, "b", map[string]int{"general": 1})
	must(t, h.acd.SetNotReady("b", "meeting"))
	h.phone.set("a", phoneHold)
	tk := h.enqueue(t, context.Background(), "c", "general", "gold")
	<-h.phone.ringing
	must(t, h.acd.ForceSignOut("9001", "a"))
	h.waitEvent(t, func(e acd.Event) bool { return e.Type == acd.EventCallQueued && e.Reason != "" })
	must(t, h.acd.ForceReady("9001", "b"))
	if o := outcome(t, tk); o.AgentID != "b" {
		t.Fatalf("%+v", o)
	}
	if err := h.acd.ForceSignOut("9001", "b"); !errors.Is(err, acd.ErrIllegalTransition) {
		t.Fatalf("sign-out while talking: %v", err)
	}
	if err := h.acd.ForceReady("9001", "a"); !errors.Is(err, acd.ErrUnknownAgent) {
		t.Fatalf("force ready of signed-out agent: %v", err)
	}
}

func (su suite) testShiftChangeSameSeat(t *testing.T) {
	h := su.newHarness(t, nil)
	h.login(t, "day", map[string]int{"general": 1}, func(p *acd.AgentProfile) { p.Seat = "seat-7" })
	must(t, h.acd.SetNotReady("day", "meeting"))
	tk := h.enqueue(t, context.Background(), "c", "general", "gold")
	must(t, h.acd.ShiftChange("day", acd.AgentProfile{ID: "night", Skills: map[string]int{"general": 1}}))
	if o := outcome(t, tk); o.Kind != acd.Connected || o.AgentID != "night" || o.Seat != "seat-7" {
		t.Fatalf("call across the shift change: %+v", o)
	}
	if _, err := h.acd.Agent("day"); !errors.Is(err, acd.ErrUnknownAgent) {
		t.Fatalf("outgoing agent still logged in: %v", err)
	}
	var reasons []string
	for _, r := range h.log.Records() {
		if r.AgentID == "day" {
			reasons = append(reasons, string(r.State)+"/"+r.Reason)
		}
	}
	if !slices.Equal(reasons, []string{"ready/login", "not-ready/meeting"}) {
		t.Fatalf("outgoing log %v", reasons)
	}
}

func (su suite) testStateLog(t *testing.T) {
	h := su.newHarness(t, nil)
	h.login(t, "a", map[string]int{"general": 1})
	h.clock.Advance(10 * time.Second)
	outcome(t, h.enqueue(t, context.Background(), "c1", "general", "gold"))
	h.clock.Advance(60 * time.Second)
	must(t, h.acd.CallEnded("c1", "caller"))
	h.clock.Advance(5 * time.Second)
	h.acd.Tick()
	recs := h.log.Records()
	type row struct {
		state      acd.State
		call       string
		start, end time.Duration
	}
	var got []row
	for _, r := range recs {
		got = append(got, row{r.State, r.CallID, r.Start.Sub(t0), r.End.Sub(t0)})
	}
	want := []row{
		{acd.Ready, "", 0, 10 * time.Second},
		{acd.Reserved, "c1", 10 * time.Second, 10 * time.Second},
		{acd.Talking, "c1", 10 * time.Second, 70 * time.Second},
		{acd.WrapUp, "c1", 70 * time.Second, 75 * time.Second},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("log\n got %v\nwant %v", got, want)
	}
	if recs[2].Caller != "138c1" {
		t.Fatalf("caller number not logged: %+v", recs[2])
	}
}

func (su suite) testBusSlowSubscriber(t *testing.T) {
	b := acd.NewBus(3)
	fast := b.Subscribe("fast", 100)
	slow := b.Subscribe("slow", 1)
	for i := 0; i < 10; i++ {
		b.Publish(acd.Event{Type: acd.EventAgentState})
	}
	if fast.Dropped() != 0 || len(fast.C) != 10 {
		t.Fatalf("fast subscriber dropped %d, has %d", fast.Dropped(), len(fast.C))
	}
	if slow.Dropped() != 3 {
		t.Fatalf("slow dropped %d, want 3 then disconnected", slow.Dropped())
	}
	<-slow.C // the one buffered event
	if _, open := <-slow.C; open {
		t.Fatal("slow subscriber not disconnected")
	}
	fast.Close()
	fast.Close()
	b.Publish(acd.Event{})
}

func (su suite) testEnqueueBadInput(t *testing.T) {
	h := su.newHarness(t, nil)
	h.login(t, "a", map[string]int{"general": 1})
	if _, err := h.acd.Enqueue(context.Background(), acd.Call{Queue: "general", Tier: "platinum"}); err == nil {
		t.Fatal("unknown tier accepted")
	}
	if _, err := h.acd.Enqueue(context.Background(), acd.Call{Tier: "gold"}); !errors.Is(err, acd.ErrInvalidCall) {
		t.Fatalf("missing queue: %v", err)
	}
	must(t, h.acd.Close())
	if _, err := h.acd.Enqueue(context.Background(), acd.Call{Queue: "general", Tier: "gold"}); !errors.Is(err, acd.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

// failingStore is a shared store that cannot be reached.
type failingStore struct{ acd.Store }

var errStoreDown = errors.New("store unreachable")

func (failingStore) Claim(context.Context, string, string) error      { return errStoreDown }
func (failingStore) SaveCall(context.Context, acd.CallRecord) error   { return errStoreDown }
func (failingStore) SaveAgent(context.Context, acd.AgentRecord) error { return errStoreDown }

// With the shared store down, calls still reach agents on this node's own
// decisions.
func (su suite) testStoreDownFallsBackToLocalRouting(t *testing.T) {
	phone := newFakePhone()
	a, err := acd.New(acd.Config{Routing: demoRouting()}, acd.Deps{Phone: phone, Store: failingStore{su.newStore(t)}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Login(acd.AgentProfile{ID: "a", Skills: map[string]int{"general": 1}}); err != nil {
		t.Fatal(err)
	}
	tk, err := a.Enqueue(context.Background(), acd.Call{Queue: "general", Tier: "gold"})
	if err != nil {
		t.Fatal(err)
	}
	if o := outcome(t, tk); o.Kind != acd.Connected || o.AgentID != "a" {
		t.Fatalf("%+v", o)
	}
}
