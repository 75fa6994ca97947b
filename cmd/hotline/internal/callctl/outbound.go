package callctl

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/campaign"
	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/ivr"
	"github.com/hotlinecc/hotline/sip"
)

// Calls the engine places to customers: a queued callback's and a
// campaign's. Either way the ACD offers the call to an agent (Ring); the
// customer's answered leg then becomes a Call like a caller's, whose flow
// says "connecting you to an agent" and joins the agent the ACD connected
// — so hold, transfer, recording, wrap-up and the record work as for any
// call. A callback or a preview rings the agent first, then the customer;
// a progressive call dials the customer first with the agent reserved, and
// rings the agent (asking its phone to answer by itself) once the customer
// answers: a customer left without an agent for the campaign's
// abandon_after hears the apology and the call counts as abandoned.

// CustomerRing bounds ringing a customer when nothing says otherwise.
const defaultCustomerRing = 30 * time.Second

// ringCallback rings the agent for a callback, then the customer.
func (ctl *Control) ringCallback(ctx context.Context, o acd.Offer) error {
	cb := ctl.callbacks.get(o.Call.ID)
	if cb == nil {
		return fmt.Errorf("callback %s: not held here: %w", o.Call.ID, acd.ErrWithdrawn)
	}
	agent, err := ctl.ringAgent(ctx, o, nil)
	if err != nil {
		return err
	}
	callerID := o.Call.Customer["dialled"]
	cust, err := ctl.dialCustomer(ctx, agent, o.Call.Callback, callerID, ctl.current().CustomerRing)
	if err != nil {
		ctl.releaseAgent(agent, "customer not reached")
		return err
	}
	vars := maps.Clone(o.Call.Customer)
	if vars == nil {
		vars = map[string]string{}
	}
	vars["callback_number"] = o.Call.Callback
	c := ctl.startOutbound(o, cust, agent, cb.ticket, vars)
	cb.setConn(c)
	return nil
}

// dialCustomer calls a customer through the outbound trunk. An agent leg
// given, the dial stops when the agent hangs up (acd.ErrWithdrawn: the
// agent goes back to ready and the call keeps its place). Not reached
// returns an *acd.CustomerError with no_answer, busy or failed.
func (ctl *Control) dialCustomer(ctx context.Context, agent *sip.Leg, number, callerID string, ring time.Duration) (*sip.Leg, error) {
	uri, err := ctl.externalURI(number)
	if err != nil {
		ctl.log.Warn("customer cannot be called", "number", number, "err", err)
		return nil, &acd.CustomerError{Reason: "failed"}
	}
	if ring <= 0 {
		ring = defaultCustomerRing
	}
	dctx, cancel := context.WithTimeout(ctx, ring)
	defer cancel()
	if agent != nil {
		stop := context.AfterFunc(agent.Context(), cancel)
		defer stop()
	}
	leg, err := ctl.sip.Dial(dctx, sip.DialRequest{URI: uri, CallerID: callerID})
	if err == nil {
		return leg, nil
	}
	if agent != nil && agent.Context().Err() != nil {
		return nil, fmt.Errorf("customer %s: the agent hung up first: %w", number, acd.ErrWithdrawn)
	}
	reason := customerReason(err, dctx.Err() != nil)
	ctl.log.Info("customer not reached", "number", number, "reason", reason, "err", err)
	return nil, &acd.CustomerError{Reason: reason}
}

// customerReason classifies a failed dial to a customer.
func customerReason(err error, timedOut bool) string {
	var de *sip.DialError
	switch {
	case errors.As(err, &de) && (de.Status == 486 || de.Status == 600 || de.Status == 603):
		return string(campaign.Busy)
	case errors.As(err, &de) && (de.Status == 408 || de.Status == 480 || de.Status == 487):
		return string(campaign.NoAnswer)
	case timedOut:
		return string(campaign.NoAnswer)
	}
	return string(campaign.Failed)
}

// releaseAgent hangs up an agent leg no call took.
func (ctl *Control) releaseAgent(leg *sip.Leg, why string) {
	ctl.log.Debug("releasing agent leg", "leg", leg.ID, "why", why)
	ctl.wg.Add(1)
	go func() {
		defer ctl.wg.Done()
		_ = leg.Hangup(context.Background())
		ctl.countLeg(leg)
		leg.Close()
	}()
}

// startOutbound makes the customer's answered leg a call: its owner runs
// and the connect flow starts. With the agent's answered leg the call
// waits for the ACD's verdict (Answered); without, for the agent's phone
// (Queued). t's outcomes reach the call through whoever reads t.
func (ctl *Control) startOutbound(o acd.Offer, cust, agent *sip.Leg, t *acd.Ticket, vars map[string]string) *Call {
	c := newCall(ctl, o.Call.ID, cust)
	qc := &queuedCall{c: c, ticket: t, queue: o.Call.Queue, tier: o.Call.Tier, req: o.Call, result: make(chan ivr.QueueOutcome, 1)}
	c.wait, c.ticket, c.preset = qc, t, qc
	c.state = Queued
	if agent != nil {
		c.pending = &pendingAnswer{offer: o, leg: agent}
		c.watchLeg(agent)
		c.state = Answered
	}
	vars["queue"] = o.Call.Queue
	if vars["tier"] == "" {
		vars["tier"] = o.Call.Tier
	}
	in := ivr.Call{ID: c.id, Language: vars["language"], Vars: vars}
	if tr, ok := o.Call.Trace.([]ivr.TraceEntry); ok {
		in.Trace = tr
	}
	ctl.serveCustomer(c, ctl.connectFlow, in)
	return c
}

// serveCustomer runs the call of a customer's answered leg (its owner and
// its flow) until it ends; the leg is the call's caller and is freed after.
func (ctl *Control) serveCustomer(c *Call, flow func() (*ivr.Flow, error), in ivr.Call) {
	ctl.mu.Lock()
	ctl.calls[c.id] = c
	ctl.mu.Unlock()
	c.start()
	ctl.wg.Add(1)
	go func() {
		defer ctl.wg.Done()
		defer func() {
			ctl.mu.Lock()
			delete(ctl.calls, c.id)
			ctl.mu.Unlock()
			c.caller.Close()
		}()
		f, err := flow()
		if err != nil {
			c.log.Error("no flow for the customer's call", "err", err)
			c.post(&event{kind: evFlowDone})
			<-c.done
			return
		}
		ctl.runCall(c.caller.Context(), c, f, in)
	}()
}

// takePreset hands the flow the wait an outbound call starts with: its
// queue node joins the agent the ACD connects instead of queueing again.
func (c *Call) takePreset() *queuedCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	qc := c.preset
	c.preset = nil
	return qc
}

// connectFlow is the flow an outbound call's customer runs: "connecting
// you to an agent", the join, and the apology when no agent came.
func (ctl *Control) connectFlow() (*ivr.Flow, error) {
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	if f := ctl.xfer[connectFlowName]; f != nil {
		return f, nil
	}
	src := fmt.Sprintf(`name: %s
language: %s
start: hello
nodes:
  hello:
    type: play
    prompt: connecting
    barge_in: false
    next: agent
  agent:
    type: queue
    queue: ${queue}
    moh: moh
    announce_agent: ""
    failure: sorry
    next: bye
  sorry:
    type: hangup
    prompt: sorry-abandon
    reason: no agent
  bye:
    type: hangup
    reason: done
`, connectFlowName, ctl.cfg.Language)
	f, err := ivr.ParseFlow(connectFlowName+".yaml", []byte(src), ivr.LoadOptions{PromptRoot: ctl.cfg.PromptRoot})
	if err != nil {
		return nil, fmt.Errorf("connect flow: %w", err)
	}
	ctl.xfer[connectFlowName] = f
	return f, nil
}

const connectFlowName = "outbound-connect"

// ---- campaigns ----

// outboundAttempt is one campaign call in progress (Dial).
type outboundAttempt struct {
	a      campaign.Attempt
	ticket *acd.Ticket

	// cust is the customer's answered leg of a call dialled before any
	// agent was reserved (ratio above 1): Ring then only rings the agent.
	cust *sip.Leg
	// offered is closed once ticket is set: the ACD may ring before
	// OfferTo has returned it.
	offered chan struct{}

	mu     sync.Mutex
	call   *Call           // the customer's call once answered
	record chan cdr.Record // the attempt's record, once written
}

// dialling reports whether id is a callback or a campaign call the engine
// is placing (its customer's call does not exist yet).
func (ctl *Control) dialling(id string) bool {
	return ctl.callbacks.get(id) != nil || ctl.attempt(id) != nil
}

func (ctl *Control) attempt(id string) *outboundAttempt {
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	return ctl.attempts[id]
}

// Dial places one campaign attempt (campaign.Engine): the agent named is
// reserved in the ACD while the customer is dialled. It returns once the
// customer was not reached, or once the conversation's record is written
// (after wrap-up: the code and the script's answers are in it).
func (ctl *Control) Dial(ctx context.Context, a campaign.Attempt) campaign.Result {
	if ctl.draining.Load() {
		// A new call while the engine drains: the contact goes back to the
		// list uncounted, like an agent that could not be reserved.
		return campaign.Result{Outcome: campaign.NoAgent, Cause: "draining"}
	}
	if a.ID == "" {
		a.ID = "o-" + newCallID()
	}
	att := &outboundAttempt{a: a, record: make(chan cdr.Record, 1), offered: make(chan struct{})}
	ctl.mu.Lock()
	if ctl.attempts[a.ID] != nil {
		ctl.mu.Unlock()
		return campaign.Result{Outcome: campaign.Failed, Cause: "duplicate attempt id " + a.ID}
	}
	ctl.attempts[a.ID] = att
	ctl.mu.Unlock()
	defer func() {
		ctl.mu.Lock()
		delete(ctl.attempts, a.ID)
		ctl.mu.Unlock()
	}()
	tier := a.Tier
	if tier == "" {
		tier = "normal"
	}
	vars := map[string]string{"campaign": a.Campaign, "contact_id": a.Contact.ID, "name": a.Contact.Name,
		"region": a.Contact.Region, "tier": tier, "dialled": a.Contact.Number}
	for k, v := range a.Contact.Fields {
		if _, taken := vars[k]; !taken {
			vars[k] = v
		}
	}
	call := acd.Call{ID: a.ID, Caller: a.Contact.Number, Queue: a.Queue, Tier: tier, Region: a.Contact.Region, Customer: vars,
		RingTimeout: outboundRing(a, ctl.cfg.RingTimeout)}
	// The record opens before the ACD's events about it.
	ctl.cfg.Records.Start(a.ID, cdr.Record{Direction: "outbound", Caller: a.Contact.Number, Dialled: a.Contact.Number, Queue: a.Queue,
		Customer: cdr.Customer{ID: a.Contact.ID, Tier: tier, Region: a.Contact.Region, Name: a.Contact.Name},
		Campaign: &cdr.CampaignAttempt{Name: a.Campaign, ContactID: a.Contact.ID, Attempt: a.Attempt}})
	var t *acd.Ticket
	var err error
	if a.AgentID == "" {
		// Dialled ahead of the free agents (ratio above 1): the customer
		// first, then whichever agent frees up within AbandonAfter.
		t, err = ctl.dialAhead(ctx, att, call)
		if err != nil {
			return ctl.unreached(a, err)
		}
		if t == nil {
			return ctl.awaitRecord(ctx, att, "")
		}
	} else if t, err = ctl.acd.OfferTo(context.Background(), call, a.AgentID, acd.DirectOutbound); err != nil {
		ctl.cfg.Records.Update(a.ID, func(r *cdr.Record) { r.Campaign.Outcome = string(campaign.NoAgent) })
		ctl.cfg.Records.End(a.ID, time.Now(), cdr.Failed)
		return campaign.Result{Outcome: campaign.NoAgent, Cause: err.Error(), Ended: time.Now()}
	}
	att.ticket = t
	close(att.offered)
	var o acd.Outcome
	select {
	case o = <-t.Done():
	case <-ctx.Done():
		// The dialler stopped: the call, if up, goes on; its outcome is
		// still written in the record.
		return campaign.Result{Outcome: campaign.Failed, Cause: "dialler stopped", Ended: time.Now()}
	}
	att.mu.Lock()
	c := att.call
	att.mu.Unlock()
	if c == nil {
		// Not reached: no call, the record ends here.
		return ctl.unreached(a, &acd.CustomerError{Reason: string(o.Reason)})
	}
	c.post(&event{kind: evOutcome, outcome: o, ticket: t})
	return ctl.awaitRecord(ctx, att, a.AgentID)
}

// unreached ends the record of an attempt that did not reach its customer.
func (ctl *Control) unreached(a campaign.Attempt, err error) campaign.Result {
	reason := string(campaign.Failed)
	var ce *acd.CustomerError
	if errors.As(err, &ce) {
		reason = ce.Reason
	}
	out := campaign.Outcome(reason)
	switch out {
	case campaign.NoAnswer, campaign.Busy, campaign.Failed:
	default:
		out = campaign.Failed
	}
	ctl.cfg.Records.Update(a.ID, func(r *cdr.Record) {
		r.Campaign.Outcome, r.Reason = string(out), reason
	})
	ctl.cfg.Records.End(a.ID, time.Now(), cdr.Unreached)
	return campaign.Result{Outcome: out, Cause: reason, AgentID: a.AgentID, Ended: time.Now()}
}

// awaitRecord waits for the attempt's record: written after the wrap-up,
// it has the outcome, the talk time, the code and the script's answers.
func (ctl *Control) awaitRecord(ctx context.Context, att *outboundAttempt, agent string) campaign.Result {
	select {
	case r := <-att.record:
		return resultOf(r, agent)
	case <-ctx.Done():
		return campaign.Result{Outcome: campaign.Completed, Cause: "dialler stopped before the record", Ended: time.Now()}
	}
}

// dialAhead calls the customer of an attempt no agent was reserved for,
// then offers the answered call to the first free agent of the campaign's
// queue (inbound work first: Config.FreeAgents). It returns the offer's
// ticket; nil with no error when no agent came within AbandonAfter: the
// customer heard the apology (the call and its record end as abandoned).
func (ctl *Control) dialAhead(ctx context.Context, att *outboundAttempt, call acd.Call) (*acd.Ticket, error) {
	a := att.a
	cust, err := ctl.dialCustomer(ctx, nil, a.Contact.Number, a.CallerID, a.RingTimeout)
	if err != nil {
		return nil, err
	}
	att.cust = cust
	limit := a.AbandonAfter
	if limit <= 0 {
		limit = 2 * time.Second
	}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && cust.Context().Err() == nil {
		var free []string
		if f := ctl.cfg.FreeAgents; f != nil {
			free = f([]string{a.Queue})
		}
		for _, agent := range free {
			call.RingTimeout = max(time.Until(deadline), 100*time.Millisecond)
			if t, err := ctl.acd.OfferTo(context.Background(), call, agent, acd.DirectOutbound); err == nil {
				return t, nil
			}
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-cust.Context().Done():
		}
	}
	// Nobody: the apology, and the call ends.
	c := newCall(ctl, a.ID, cust)
	att.setCall(c)
	ctl.serveCustomer(c, ctl.apologyFlow, ivr.Call{ID: c.id, Language: call.Customer["language"], Vars: maps.Clone(call.Customer)})
	return nil, nil
}

// apologyFlow is what a customer no agent came for hears.
func (ctl *Control) apologyFlow() (*ivr.Flow, error) {
	const name = "outbound-apology"
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	if f := ctl.xfer[name]; f != nil {
		return f, nil
	}
	src := fmt.Sprintf("name: %s\nlanguage: %s\nstart: sorry\nnodes:\n  sorry: {type: hangup, prompt: sorry-abandon, reason: no agent}\n", name, ctl.cfg.Language)
	f, err := ivr.ParseFlow(name+".yaml", []byte(src), ivr.LoadOptions{PromptRoot: ctl.cfg.PromptRoot})
	if err != nil {
		return nil, fmt.Errorf("apology flow: %w", err)
	}
	ctl.xfer[name] = f
	return f, nil
}

// outboundRing bounds the ACD's offer of a campaign call: the customer's
// ring plus the agent's.
func outboundRing(a campaign.Attempt, agentRing time.Duration) time.Duration {
	ring := a.RingTimeout
	if ring <= 0 {
		ring = defaultCustomerRing
	}
	return ring + agentRing + a.AbandonAfter
}

// resultOf reads an attempt's outcome from its record.
func resultOf(r cdr.Record, agent string) campaign.Result {
	res := campaign.Result{Cause: r.Reason, AgentID: agent, Ended: r.Times.Ended, Talk: time.Duration(r.TalkMS) * time.Millisecond,
		WrapUp: r.WrapUpCode}
	if r.Times.Answered != nil {
		res.Answered = *r.Times.Answered
	}
	if r.Agent != "" {
		res.AgentID = r.Agent
	}
	if cp := r.Campaign; cp != nil {
		res.Outcome, res.Answers = campaign.Outcome(cp.Outcome), cp.Answers
		res.DNC = cp.Answers["dnc"] == "true"
	}
	if res.Outcome == "" {
		res.Outcome = campaign.Failed
	}
	return res
}

// RecordWritten is told of every call record written: the engine's
// records count (invariants) and campaign attempts' results.
func (ctl *Control) RecordWritten(r cdr.Record) {
	ctl.ledger.mu.Lock()
	ctl.ledger.entry(r.CallID).records++
	ctl.ledger.mu.Unlock()
	if att := ctl.attempt(r.CallID); att != nil {
		select {
		case att.record <- r:
		default:
		}
	}
}

// ringOutbound serves the ACD's offer of a campaign call: a preview
// rings the agent, then the customer; a progressive call dials the
// customer, then rings the agent asking for auto-answer.
func (ctl *Control) ringOutbound(ctx context.Context, o acd.Offer) error {
	att := ctl.attempt(o.Call.ID)
	select {
	case <-att.offered:
	case <-ctx.Done():
		return fmt.Errorf("campaign call %s: %w", o.Call.ID, acd.ErrWithdrawn)
	}
	a := att.a
	vars := maps.Clone(o.Call.Customer)
	if att.cust != nil {
		// The customer answered already (dialled ahead): ring the agent.
		c := ctl.startOutbound(o, att.cust, nil, att.ticket, vars)
		att.setCall(c)
		agent, err := ctl.ringAgent(ctx, o, autoAnswer)
		if err != nil {
			if att.cust.Context().Err() != nil {
				return fmt.Errorf("customer hung up before the agent answered: %w", acd.ErrWithdrawn)
			}
			return err
		}
		return ctl.handAnswer(c, o, agent)
	}
	if a.Mode == campaign.Preview {
		agent, err := ctl.ringAgent(ctx, o, autoAnswer)
		if err != nil {
			return err
		}
		cust, err := ctl.dialCustomer(ctx, agent, a.Contact.Number, a.CallerID, a.RingTimeout)
		if err != nil {
			ctl.releaseAgent(agent, "customer not reached")
			return err
		}
		att.setCall(ctl.startOutbound(o, cust, agent, att.ticket, vars))
		return nil
	}
	cust, err := ctl.dialCustomer(ctx, nil, a.Contact.Number, a.CallerID, a.RingTimeout)
	if err != nil {
		return err
	}
	c := ctl.startOutbound(o, cust, nil, att.ticket, vars)
	att.setCall(c)
	limit := a.AbandonAfter
	if limit <= 0 {
		limit = 2 * time.Second
	}
	actx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	stop := context.AfterFunc(cust.Context(), cancel) // the customer hung up: stop ringing the agent
	defer stop()
	agent, err := ctl.ringAgent(actx, o, autoAnswer)
	if err != nil {
		if cust.Context().Err() != nil {
			return fmt.Errorf("customer hung up before the agent answered: %w", acd.ErrWithdrawn)
		}
		return err
	}
	return ctl.handAnswer(c, o, agent)
}

func (att *outboundAttempt) setCall(c *Call) {
	att.mu.Lock()
	att.call = c
	att.mu.Unlock()
}
