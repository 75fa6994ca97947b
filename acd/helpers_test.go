package acd

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hotlinecc/hotline/routing"
)

// The behaviour tests live in acdtest and run on every store
// (suite_test.go); what is here serves the tests that need the ACD's
// internals, which acdtest cannot reach without an import cycle.

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
	phoneAnswer   phoneBehaviour = iota // answers at once
	phoneHold                           // rings until ctx ends
	phoneNoAnswer                       // returns ErrNoAnswer at once
	phoneBusy                           // returns ErrBusy at once
)

// fakePhone implements Phone and checks the offer invariants: one ring per
// agent and one ring per call at a time.
type fakePhone struct {
	mu         sync.Mutex
	behaviour  map[string]phoneBehaviour
	active     map[string]bool   // agents ringing
	activeCall map[string]string // call → agent ringing for it
	history    []string          // "agent:call" in ring order
	violations []string
}

func newFakePhone() *fakePhone {
	return &fakePhone{behaviour: map[string]phoneBehaviour{}, active: map[string]bool{}, activeCall: map[string]string{}}
}

func (p *fakePhone) set(agent string, b phoneBehaviour) {
	p.mu.Lock()
	p.behaviour[agent] = b
	p.mu.Unlock()
}

func (p *fakePhone) Ring(ctx context.Context, o Offer) error {
	p.mu.Lock()
	if p.active[o.AgentID] {
		p.violations = append(p.violations, fmt.Sprintf("agent %s rung for %s while ringing", o.AgentID, o.Call.ID))
	}
	if a, ok := p.activeCall[o.Call.ID]; ok {
		p.violations = append(p.violations, fmt.Sprintf("call %s offered to %s while ringing %s", o.Call.ID, o.AgentID, a))
	}
	p.active[o.AgentID] = true
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
		return ErrNoAnswer
	case phoneBusy:
		return ErrBusy
	}
	<-ctx.Done()
	return ctx.Err()
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
