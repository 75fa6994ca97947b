package acdtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/routing"
)

var t0 = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// phoneBehaviour says what an agent's phone does when rung.
type phoneBehaviour int

const (
	phoneAnswer       phoneBehaviour = iota // answers at once
	phoneHold                               // rings until the test answers/rejects or ctx ends
	phoneNoAnswer                           // returns ErrNoAnswer at once
	phoneBusy                               // returns ErrBusy at once
	phoneAnswerLate                         // answers just as the ring is cancelled
	phoneCustomerAway                       // the agent answers, the customer does not (callback)
)

type ring struct {
	agent, call string
	result      chan error
}

// fakePhone implements acd.Phone and checks the offer invariants: one ring per
// agent and one ring per call at a time.
type fakePhone struct {
	mu         sync.Mutex
	behaviour  map[string]phoneBehaviour
	active     map[string]*ring // by agent
	activeCall map[string]string
	history    []string // "agent:call" in ring order
	cancelled  []string // calls whose ring ctx ended
	released   []string // answered offers the ACD handed back
	violations []string
	ringing    chan ring
}

func newFakePhone() *fakePhone {
	return &fakePhone{behaviour: map[string]phoneBehaviour{}, active: map[string]*ring{}, activeCall: map[string]string{}, ringing: make(chan ring, 1024)}
}

func (p *fakePhone) set(agent string, b phoneBehaviour) {
	p.mu.Lock()
	p.behaviour[agent] = b
	p.mu.Unlock()
}

func (p *fakePhone) Ring(ctx context.Context, o acd.Offer) error {
	r := &ring{agent: o.AgentID, call: o.Call.ID, result: make(chan error, 1)}
	p.mu.Lock()
	if p.active[o.AgentID] != nil {
		p.violations = append(p.violations, fmt.Sprintf("agent %s rung for %s while ringing", o.AgentID, o.Call.ID))
	}
	if a, ok := p.activeCall[o.Call.ID]; ok {
		p.violations = append(p.violations, fmt.Sprintf("call %s offered to %s while ringing %s", o.Call.ID, o.AgentID, a))
	}
	p.active[o.AgentID] = r
	p.activeCall[o.Call.ID] = o.AgentID
	p.history = append(p.history, o.AgentID+":"+o.Call.ID)
	b := p.behaviour[o.AgentID]
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.active, o.AgentID)
		delete(p.activeCall, o.Call.ID)
		p.mu.Unlock()
	}()
	switch b {
	case phoneAnswer:
		return nil
	case phoneNoAnswer:
		return acd.ErrNoAnswer
	case phoneBusy:
		return acd.ErrBusy
	case phoneCustomerAway:
		return &acd.CustomerError{Reason: "no_answer"}
	case phoneAnswerLate:
		p.ringing <- *r
		<-ctx.Done()
		return nil
	}
	p.ringing <- *r
	select {
	case err := <-r.result:
		return err
	case <-ctx.Done():
		p.mu.Lock()
		p.cancelled = append(p.cancelled, o.Call.ID)
		p.mu.Unlock()
		return ctx.Err()
	}
}

// ReleaseAnswered implements acd.AnswerReleaser.
func (p *fakePhone) ReleaseAnswered(o acd.Offer) {
	p.mu.Lock()
	p.released = append(p.released, o.AgentID+":"+o.Call.ID)
	p.mu.Unlock()
}

// answer completes the pending ring of agent with err (nil = answered).
func (p *fakePhone) answer(t *testing.T, agent string, err error) {
	t.Helper()
	p.mu.Lock()
	r := p.active[agent]
	p.mu.Unlock()
	if r == nil {
		t.Fatalf("agent %s is not ringing", agent)
	}
	r.result <- err
}

func (p *fakePhone) historyCopy() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.history...)
}

func (p *fakePhone) violationsCopy() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.violations...)
}

func demoRouting() routing.Config {
	return routing.Config{
		Tiers: []routing.Tier{
			{Name: "diamond", Target: 0.95, Threshold: 10 * time.Second},
			{Name: "gold", Target: 0.90, Threshold: 15 * time.Second},
			{Name: "silver", Target: 0.85, Threshold: 20 * time.Second},
			{Name: "normal", Target: 0.80, Threshold: 20 * time.Second},
		},
		Queues: []routing.Queue{{Name: "general"}, {Name: "billing"}, {Name: "technical"}},
	}
}

type harness struct {
	acd   *acd.ACD
	phone *fakePhone
	clock *fakeClock
	log   *acd.MemoryLog
	sub   *acd.Subscription
	store acd.Store
}

// newHarness starts an ACD on a fresh store from the suite's factory, with
// the demo routing, a fake phone and a fake clock at t0.
func (su suite) newHarness(t *testing.T, mod func(*acd.Config)) *harness {
	t.Helper()
	h := &harness{phone: newFakePhone(), clock: &fakeClock{now: t0}, log: &acd.MemoryLog{}, store: su.newStore(t)}
	cfg := acd.Config{
		Routing: demoRouting(), RingTimeout: 15 * time.Second, WrapUp: 5 * time.Second,
		Queues:       map[string]acd.QueueSettings{"general": {MaxWait: 120 * time.Second}},
		BreakReasons: map[string]time.Duration{"lunch": 30 * time.Minute, "toilet": 5 * time.Minute},
		AdjustWarn:   3 * time.Minute,
		Now:          h.clock.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	bus := acd.NewBus(0)
	h.sub = bus.Subscribe("test", 4096)
	a, err := acd.New(cfg, acd.Deps{Phone: h.phone, Store: h.store, Bus: bus, Log: h.log})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.acd = a
	t.Cleanup(func() { _ = a.Close() })
	return h
}

func (h *harness) login(t *testing.T, id string, skills map[string]int, mod ...func(*acd.AgentProfile)) {
	t.Helper()
	p := acd.AgentProfile{ID: id, Skills: skills, CanAdjust: true, CanExtendWrapUp: true}
	for _, m := range mod {
		m(&p)
	}
	if err := h.acd.Login(p); err != nil {
		t.Fatalf("login %s: %v", id, err)
	}
}

func (h *harness) state(t *testing.T, id string) acd.State {
	t.Helper()
	s, err := h.acd.Agent(id)
	if errors.Is(err, acd.ErrUnknownAgent) {
		return acd.LoggedOut
	}
	if err != nil {
		t.Fatal(err)
	}
	return s.State
}

// eventually waits for cond, which depends on ring goroutines finishing.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (h *harness) waitState(t *testing.T, id string, want acd.State) {
	t.Helper()
	eventually(t, fmt.Sprintf("agent %s %s", id, want), func() bool { return h.state(t, id) == want })
}

func (h *harness) enqueue(t *testing.T, ctx context.Context, id, queue, tier string) *acd.Ticket {
	t.Helper()
	tk, err := h.acd.Enqueue(ctx, acd.Call{ID: id, Caller: "138" + id, Queue: queue, Tier: tier})
	if err != nil {
		t.Fatalf("enqueue %s: %v", id, err)
	}
	return tk
}

func outcome(t *testing.T, tk *acd.Ticket) acd.Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o, err := tk.Wait(ctx)
	if err != nil {
		t.Fatalf("ticket %s: %v", tk.CallID(), err)
	}
	return o
}

// waitEvent reads the bus until an event matching pred arrives.
func (h *harness) waitEvent(t *testing.T, pred func(acd.Event) bool) acd.Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-h.sub.C:
			if pred(e) {
				return e
			}
		case <-timeout:
			t.Fatal("timed out waiting for event")
		}
	}
}
