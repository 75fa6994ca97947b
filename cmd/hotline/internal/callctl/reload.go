package callctl

import (
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/ivr"
	"github.com/hotlinecc/hotline/recording"
)

// Live is the part of call control's configuration a reload changes. A
// call in progress reads it when it needs it: a transfer to a queue checks
// the queues of the moment, a conversation starting is recorded by the
// policy of the moment, one already recording goes on.
type Live struct {
	Queues       []string                    // transfer targets
	RecordPolicy map[string]recording.Policy // per queue; missing = always
	Outbound     string                      // host:port of the outbound trunk; "" refuses numbers
	CustomerRing time.Duration               // how long a callback rings its customer (0: default)
}

// Reconfigure applies a reloaded configuration's live part.
func (ctl *Control) Reconfigure(l Live) {
	ctl.live.Store(&l)
	ctl.mu.Lock()
	ctl.xfer = map[string]*ivr.Flow{} // transfer flows name queues: rebuilt on demand
	ctl.mu.Unlock()
}

// current is the live configuration: the last Reconfigure, else Config's.
func (ctl *Control) current() Live {
	if l := ctl.live.Load(); l != nil {
		return *l
	}
	return Live{Queues: ctl.cfg.Queues, RecordPolicy: ctl.cfg.RecordPolicy, Outbound: ctl.cfg.Outbound, CustomerRing: ctl.cfg.CustomerRing}
}

// SetAgents replaces the phone-only candidates (configured agents, a
// reload). An agent no longer configured is the ACD's to sign out.
func (p *Presence) SetAgents(agents []acd.AgentProfile) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.agents = append([]acd.AgentProfile{}, agents...)
}

func (p *Presence) candidates() []acd.AgentProfile {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.agents != nil {
		return p.agents
	}
	return p.Agents
}

// Adopt marks agents as signed in by their phones (restored after a
// restart with their registrations), so that unregistering signs them out
// as it would have before.
func (p *Presence) Adopt(ids []string) {
	if p.byPhone == nil {
		p.byPhone, p.registered = map[string]bool{}, map[string]bool{}
	}
	for _, id := range ids {
		p.byPhone[id] = true
	}
}
