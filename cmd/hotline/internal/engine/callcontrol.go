package engine

import (
	"context"
	"path/filepath"
	"time"

	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/callctl"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/config"
	"github.com/hotlinecc/hotline/ivr"
	"github.com/hotlinecc/hotline/routing/crm"
)

// How often the running engine checks its calls' invariants, and how long
// an ended call's record may wait (for its agent's wrap-up) before it
// counts as missing.
const (
	integrityEvery       = 10 * time.Second
	integrityRecordGrace = 16 * time.Minute
)

// buildCallControl makes the call-control layer: the SIP handler, the
// ACD's phone, the flow's queue and the desktop's buttons.
func (e *Engine) buildCallControl(promptRoot string) error {
	cfg := e.cfg
	live := e.plan.Load().live
	interp := &ivr.Interpreter{
		Prompts:   ivr.PromptDir(promptRoot),
		Lookup:    crmLookup{e.crm},
		Flows:     e.flows,
		RecordDir: e.recDir,
		Logger:    e.log,
	}
	m := e.metrics
	e.ctl = callctl.New(callctl.Config{
		Logger: e.log, Flows: e.flows, Records: e.records.tracker, Recorder: e.recorder, RecordPolicy: live.RecordPolicy,
		Prompts: e.prompts, PromptRoot: promptRoot, Language: cfg.Language, RecDir: e.recDir,
		Agents:   func(id string) bool { _, ok := e.agent(id); return ok },
		Queues:   live.Queues,
		Outbound: live.Outbound, RingTimeout: cfg.ACD.RingTimeout.D(), RTPTimeout: cfg.SIP.RTPTimeout.D(),
		CustomerRing: live.CustomerRing,
		FreeAgents:   func(queues []string) []string { return campaignEngine{e}.FreeAgents(queues) },
		Browsers:     browserPhones{e},
		Hooks: callctl.Hooks{
			DigitLatency: func(d time.Duration) { m.digitLatency.Observe(d.Seconds()) },
			LegEnded:     m.call.countLeg,
			FlowEnded:    m.call.countTrace,
			Violation:    func(kind, _ string) { m.integrity.WithLabelValues(kind).Inc() },
			RTPTimeout:   m.rtpTimeouts.Inc,
			Event:        func(ev agentapi.Event) { e.api.Publish(ev) },
			CallEnded: func(end callctl.End) {
				if e.OnCallEnd != nil {
					e.OnCallEnd(end)
				}
			},
		},
	}, interp)
	return nil
}

// crmLookup adapts the customer resolver to the IVR's Lookup. A number the
// CRM does not know is ivr.ErrNotFound (traced "not_found"), not a find.
type crmLookup struct{ r *crm.Resolver }

func (l crmLookup) Lookup(ctx context.Context, key string) (ivr.Customer, error) {
	c, err := l.r.Lookup(ctx, key)
	cust := ivr.Customer{ID: c.ID, Name: c.Name, Tier: c.Tier, Region: c.Region, Blacklisted: c.Blacklisted, Attributes: c.Attributes}
	if err == nil && c.Source == crm.SourceDefault {
		return cust, ivr.ErrNotFound
	}
	return cust, err
}

// customerRing is how long a callback rings its customer: the longest a
// queue asks for (a per-queue figure the ACD applies to the whole offer).
func customerRing(qs []config.Queue) time.Duration {
	var d time.Duration
	for _, q := range qs {
		d = max(d, q.Callback.Ring.D())
	}
	return d
}

// callbackStore persists pending callbacks: this node's Redis hash in
// cluster mode, else a file in the state directory.
func (e *Engine) callbackStore() callctl.CallbackStore {
	if e.cluster != nil {
		return e.cluster.store.Hash("callbacks")
	}
	return callctl.FileCallbacks(filepath.Join(e.stateDir(), "callbacks.json"))
}
