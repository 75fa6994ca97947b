package acd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hotlinecc/hotline/routing"
)

// OutcomeKind is how a caller's time in the ACD ended.
type OutcomeKind string

// Outcome kinds.
const (
	// Connected: an agent answered; bridge the caller to the agent leg.
	Connected OutcomeKind = "connected"
	// Overflowed: take the queue's overflow action (IVR overflow node).
	Overflowed OutcomeKind = "overflow"
	// Abandoned: the caller hung up (the Enqueue context was cancelled).
	Abandoned OutcomeKind = "abandoned"
	// Unanswered: a call offered to one named agent (OfferTo) was not
	// answered (no answer, busy, unreachable, the agent signed out); it
	// is not re-queued: the engine decides where the caller goes.
	Unanswered OutcomeKind = "unanswered"
)

// OverflowReason says why a call overflowed.
type OverflowReason string

// Overflow reasons.
const (
	OverflowMaxWait   OverflowReason = "max-wait"
	OverflowNoAgents  OverflowReason = "no-agents"
	OverflowQueueFull OverflowReason = "queue-full"
	OverflowShutdown  OverflowReason = "shutdown"
	// OverflowCallerChoice: the caller left the queue for another path (voicemail).
	OverflowCallerChoice OverflowReason = "caller-choice"
)

// Outcome is delivered once per ticket.
type Outcome struct {
	Kind    OutcomeKind
	CallID  string
	AgentID string // Connected
	Seat    string // Connected
	Reason  OverflowReason
	Wait    time.Duration // enqueue to outcome
}

// Ticket is the caller's handle on a queued call.
type Ticket struct {
	id   string
	acd  *ACD
	done chan Outcome
}

// CallID is the ACD's id of the call.
func (t *Ticket) CallID() string { return t.id }

// Done delivers the single outcome.
func (t *Ticket) Done() <-chan Outcome { return t.done }

// Wait blocks until the outcome or ctx is done. Cancelling this ctx does not
// abandon the call; cancelling the ctx given to Enqueue does.
func (t *Ticket) Wait(ctx context.Context) (Outcome, error) {
	select {
	case o := <-t.done:
		return o, nil
	case <-ctx.Done():
		return Outcome{}, fmt.Errorf("wait for call %s: %w", t.id, ctx.Err())
	}
}

// Position is what the caller may be told while waiting.
type Position struct {
	Waiting bool // false once offered or finished
	Place   int  // 1 = next, in routing order (routing.Router.Position)
	// EstimatedWait is place × mean handle time ÷ logged-in agents: a rough
	// figure for announcements, not a promise.
	EstimatedWait time.Duration
}

// Position reports the caller's place in the queue.
func (t *Ticket) Position() Position {
	a := t.acd
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.calls[t.id]
	if c == nil || c.state != callQueued {
		return Position{}
	}
	place, err := a.router.Position(t.id, a.now())
	if err != nil {
		return Position{}
	}
	ht := a.handle[c.info.Queue]
	if ht == 0 {
		ht = 3 * time.Minute
	}
	n := a.loggedIn[c.info.Queue]
	if n < 1 {
		n = 1
	}
	return Position{Waiting: true, Place: place, EstimatedWait: time.Duration(place) * ht / time.Duration(n)}
}

func (c *call) routingCall() routing.Call {
	return routing.Call{ID: c.info.ID, Queue: c.info.Queue, Tier: c.info.Tier, Region: c.info.Region, Priority: c.info.Priority, EnqueuedAt: c.info.EnqueuedAt}
}

// Enqueue puts a caller in queue. The call is offered to agents until one
// answers; the ticket then delivers the outcome. Cancelling ctx means the
// caller hung up: the call is removed (a ringing agent is cancelled) and
// counted as abandoned. Overflow (no agent logged in to the queue, queue
// full, max wait) is an outcome, not an error; errors are for bad input.
func (a *ACD) Enqueue(ctx context.Context, req Call) (*Ticket, error) {
	if req.Queue == "" || req.Tier == "" {
		return nil, fmt.Errorf("enqueue: %w: queue and tier are required", ErrInvalidCall)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, fmt.Errorf("enqueue: %w", ErrClosed)
	}
	now := a.now()
	if req.ID == "" {
		a.seq++
		req.ID = fmt.Sprintf("call-%d", a.seq)
	}
	if _, dup := a.calls[req.ID]; dup {
		return nil, fmt.Errorf("enqueue %s: %w: duplicate call id", req.ID, ErrInvalidCall)
	}
	restored := req.Callback != "" && !req.EnqueuedAt.IsZero()
	if !restored {
		req.EnqueuedAt = now
	}
	c := &call{info: req}
	rc := c.routingCall()
	// Validate queue and tier before anything is published.
	if _, _, err := a.router.CallArrived(rc, now); err != nil {
		return nil, fmt.Errorf("enqueue: %w", err)
	}
	t := &Ticket{id: req.ID, acd: a, done: make(chan Outcome, 1)}
	c.ticket = t
	a.calls[req.ID] = c
	if restored {
		// A callback back after a restart: offered (and counted) then.
		a.restoreCallback(c, now)
		return t, nil
	}
	a.storeErr("add sl", a.store.AddSL(a.ctx, SLDelta{Queue: req.Queue, Tier: req.Tier, Offered: 1}))
	a.publish(Event{Type: EventCallQueued, At: now, CallID: req.ID, Caller: req.Caller, Queue: req.Queue, Tier: req.Tier})

	qs := a.cfg.Queues[req.Queue]
	switch {
	case a.loggedIn[req.Queue] == 0 && req.Callback == "":
		a.overflowLocked(c, OverflowNoAgents, now)
		return t, nil
	case qs.MaxSize > 0 && a.router.Waiting(req.Queue) >= qs.MaxSize:
		a.overflowLocked(c, OverflowQueueFull, now)
		return t, nil
	}
	a.saveCall(c)
	c.stopAbandon = context.AfterFunc(ctx, func() { a.abandon(req.ID) })
	a.dispatchCall(c, now)
	return t, nil
}

// dispatchCall offers a queued (or re-queued) call to an idle agent, or
// leaves it waiting in the router.
func (a *ACD) dispatchCall(c *call, now time.Time) {
	rc := c.routingCall()
	// Another node may have claimed the chosen agent an instant ago (the
	// news is on its way): try the next best few rather than leave the
	// caller waiting for the next tick.
	var passed []*agent
	defer func() {
		for _, ag := range passed {
			if ag.state == Ready && a.agents[ag.profile.ID] == ag {
				_ = a.router.SetIdle(ag.profile.ID, ag.since)
			}
		}
	}()
	for range maxClaimTries {
		start := time.Now()
		id, ok, _ := a.router.CallArrived(rc, now)
		a.observeDecision("call_arrived", start)
		ag := a.agents[id]
		if !ok || ag == nil {
			break
		}
		err := a.offer(ag, c, now)
		if err == nil {
			return
		}
		if a.cluster == nil || !errors.Is(err, ErrAgentTaken) {
			break // the caller itself was taken (its offer is on its way), or no cluster
		}
		if ag.home == "" {
			_ = a.router.SetBusy(id)
			passed = append(passed, ag)
		} // a mirror stays out of the idle pool until its home speaks
	}
	if !a.router.HasCall(rc.ID) {
		if err := a.router.AddCall(rc); err != nil {
			a.logger.Error("acd: queue call", "call", rc.ID, "err", err)
		}
	}
}

// maxClaimTries bounds the candidates tried for one decision when claims
// are refused (cluster races).
const maxClaimTries = 4

// offer reserves ag for c and starts ringing. It fails (ErrClaimed) if the
// store refused the claim (the agent or call is taken elsewhere).
func (a *ACD) offer(ag *agent, c *call, now time.Time) error {
	if err := a.store.Claim(a.ctx, c.info.ID, ag.profile.ID); err != nil {
		if errors.Is(err, ErrClaimed) || ag.home != "" {
			// Taken elsewhere (or, for another node's agent, not provably
			// free): leave the agent out of this node's idle pool until its
			// home reports it again.
			a.logger.Info("acd: claim refused", "call", c.info.ID, "agent", ag.profile.ID, "err", err)
			if ag.home != "" {
				_ = a.router.SetBusy(ag.profile.ID)
			}
			if !errors.Is(err, ErrClaimed) {
				// Not provably free: not offered, and no point trying the
				// next one through the same unreachable store.
				err = fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
			}
			return err
		}
		// The shared store is unreachable: keep calls flowing on this
		// node's own decision (the requirement's "simplest local ACD").
		if !errors.Is(err, ErrStoreUnavailable) {
			a.logger.Warn("acd: state store unavailable, routing locally", "call", c.info.ID, "agent", ag.profile.ID, "err", err)
		}
	}
	a.ringClaimed(ag, c, now)
	return nil
}

// ringClaimed rings ag for c once the claim on both is held.
func (a *ACD) ringClaimed(ag *agent, c *call, now time.Time) {
	if a.router.HasCall(c.info.ID) {
		if _, err := a.router.RemoveCall(c.info.ID); err != nil {
			a.logger.Error("acd: dequeue", "call", c.info.ID, "err", err)
		}
	}
	_ = a.router.Assigned(ag.profile.ID, c.info.Queue)
	ag.requested = false
	ag.callID, ag.caller = c.info.ID, c.info.Caller
	a.setState(ag, Reserved, "offer", now)
	c.state, c.agentID = callRinging, ag.profile.ID
	c.offers++
	a.saveCall(c)
	a.publish(Event{Type: EventCallOffered, At: now, AgentID: ag.profile.ID, CallID: c.info.ID, Caller: c.info.Caller,
		Queue: c.info.Queue, Tier: c.info.Tier, Wait: now.Sub(c.info.EnqueuedAt), Direct: c.direct()})
	a.inflight[ag.profile.ID]++
	ringTimeout := a.cfg.RingTimeout
	switch {
	case c.info.RingTimeout > 0:
		ringTimeout = c.info.RingTimeout
	case c.info.Callback != "":
		ringTimeout = a.callbackRing(c)
	}
	ringCtx, cancel := context.WithTimeout(a.ctx, ringTimeout)
	c.ringCancel = cancel
	o := Offer{AgentID: ag.profile.ID, Seat: ag.profile.Seat, Call: cloneCall(c.info)}
	a.wg.Add(1)
	go a.ring(ringCtx, cancel, ag, c, o)
}

func cloneCall(c Call) Call {
	if c.Customer != nil {
		m := make(map[string]string, len(c.Customer))
		for k, v := range c.Customer {
			m[k] = v
		}
		c.Customer = m
	}
	return c
}

func (a *ACD) ring(ctx context.Context, cancel context.CancelFunc, ag *agent, c *call, o Offer) {
	defer a.wg.Done()
	defer cancel()
	var err error
	if a.cfg.Announce != nil {
		if aerr := a.cfg.Announce(ctx, o.Call, o.AgentID); aerr != nil && ctx.Err() == nil {
			a.logger.Warn("acd: announce agent id", "call", o.Call.ID, "agent", o.AgentID, "err", aerr)
		}
	}
	if ctx.Err() != nil {
		err = ctx.Err()
	} else {
		err = a.phone.Ring(ctx, o)
	}
	a.mu.Lock()
	id := ag.profile.ID
	if a.inflight[id]--; a.inflight[id] <= 0 {
		delete(a.inflight, id)
	}
	orphan := a.ringDone(ag, c, err)
	// A new login under the same id waited for this ring to unwind.
	if cur := a.agents[id]; cur != nil && cur != ag && a.inflight[id] == 0 {
		a.makeAvailable(cur, a.now())
	}
	a.mu.Unlock()
	if orphan {
		if r, ok := a.phone.(AnswerReleaser); ok {
			r.ReleaseAnswered(o)
		}
	}
}

// AnswerReleaser is optionally implemented by a Phone. When Ring returned
// nil (the agent answered) but the call can no longer be connected — the
// caller hung up, the agent was signed out or the ACD closed in the same
// instant — the ACD calls ReleaseAnswered so the engine hangs up the agent
// leg it set up. It is called without the ACD lock held.
type AnswerReleaser interface {
	ReleaseAnswered(o Offer)
}

// ringDone settles an offer. It reports true when the phone answered but
// the call cannot be connected any more (see AnswerReleaser).
func (a *ACD) ringDone(ag *agent, c *call, err error) (orphan bool) {
	now := a.now()
	c.ringCancel = nil
	agentHere := ag.state == Reserved && ag.callID == c.info.ID && a.agents[ag.profile.ID] == ag
	release := func() { a.storeErr("release", a.store.Release(a.ctx, c.info.ID, ag.profile.ID)) }
	switch {
	case c.abandoned:
		// Abandon already delivered and counted; free the agent.
		orphan = err == nil
		release()
		if agentHere {
			ag.callID, ag.caller = "", ""
			a.setState(ag, Ready, "caller abandoned", now)
			a.makeAvailable(ag, now)
		}
	case a.closed:
		orphan = err == nil
		release()
		c.ticket.deliver(Outcome{Kind: Overflowed, CallID: c.info.ID, Reason: OverflowShutdown, Wait: now.Sub(c.info.EnqueuedAt)})
		if c.stopAbandon != nil {
			c.stopAbandon()
		}
		delete(a.calls, c.info.ID)
	case !agentHere:
		// The agent was signed out while ringing: back to the queue head
		// (a direct offer has no queue place: the engine decides).
		orphan = err == nil
		release()
		if c.direct() {
			a.unanswered(c, "agent signed out", now)
			break
		}
		a.requeue(c, now, "agent signed out")
	case err == nil:
		if c.stopAbandon != nil {
			c.stopAbandon()
		}
		wait := now.Sub(c.info.EnqueuedAt)
		if !c.direct() {
			_ = a.router.Answered(c.info.Queue, c.info.Tier, wait, now)
			a.noteSample(Sample{Kind: slAnswered, Queue: c.info.Queue, Tier: c.info.Tier, Wait: wait, At: now})
			a.shareSample(slAnswered, c, wait)
			within := 0
			if tl, ok := a.tierThreshold(c.info.Tier); ok && wait <= tl {
				within = 1
			}
			a.storeErr("add sl", a.store.AddSL(a.ctx, SLDelta{Queue: c.info.Queue, Tier: c.info.Tier, Answered: 1, AnsweredWithin: within}))
		}
		c.state, c.answeredAt = callTalking, now
		a.setState(ag, Talking, "answered", now)
		a.saveCall(c)
		a.publish(Event{Type: EventCallAnswered, At: now, AgentID: ag.profile.ID, CallID: c.info.ID, Caller: c.info.Caller,
			Queue: c.info.Queue, Tier: c.info.Tier, Wait: wait, Direct: c.direct()})
		c.ticket.deliver(Outcome{Kind: Connected, CallID: c.info.ID, AgentID: ag.profile.ID, Seat: ag.profile.Seat, Wait: wait})
	case errors.Is(err, ErrCustomerUnreached):
		// The agent answered (or waited reserved); the customer did not.
		release()
		reason := "no_answer"
		var ce *CustomerError
		if errors.As(err, &ce) {
			reason = ce.Reason
		}
		a.publish(Event{Type: EventCallUnreached, At: now, AgentID: ag.profile.ID, CallID: c.info.ID, Caller: c.info.Caller,
			Queue: c.info.Queue, Tier: c.info.Tier, Reason: reason, Wait: now.Sub(c.info.EnqueuedAt), Direct: c.direct()})
		ag.callID, ag.caller = "", ""
		a.setState(ag, Ready, "customer not reached", now)
		a.makeAvailable(ag, now)
		a.callbackMissed(c, reason, now)
	case errors.Is(err, ErrWithdrawn):
		release()
		ag.callID, ag.caller = "", ""
		a.setState(ag, Ready, "offer withdrawn", now)
		a.makeAvailable(ag, now)
		if c.direct() {
			a.unanswered(c, "withdrawn", now)
			break
		}
		a.requeue(c, now, "offer withdrawn")
	default:
		// Ring-no-answer, busy or unreachable.
		release()
		reason := "no answer"
		switch {
		case errors.Is(err, ErrBusy):
			reason = "busy"
		case errors.Is(err, ErrUnreachable):
			reason = "unreachable"
		}
		a.publish(Event{Type: EventCallRONA, At: now, AgentID: ag.profile.ID, CallID: c.info.ID, Caller: c.info.Caller,
			Queue: c.info.Queue, Tier: c.info.Tier, Reason: reason, Wait: now.Sub(c.info.EnqueuedAt), Direct: c.direct()})
		ag.callID, ag.caller = "", ""
		a.setState(ag, NotReady, "no answer", now)
		if c.direct() {
			a.unanswered(c, reason, now)
			break
		}
		a.requeue(c, now, reason)
	}
	return orphan
}

// unanswered ends a direct offer nobody took.
func (a *ACD) unanswered(c *call, reason string, now time.Time) {
	if c.stopAbandon != nil {
		c.stopAbandon()
	}
	a.deleteCall(c.info.ID)
	delete(a.calls, c.info.ID)
	c.ticket.deliver(Outcome{Kind: Unanswered, CallID: c.info.ID, Reason: OverflowReason(reason), Wait: now.Sub(c.info.EnqueuedAt)})
}

func (a *ACD) tierThreshold(tier string) (time.Duration, bool) {
	for _, t := range a.cfg.Routing.Tiers {
		if t.Name == tier {
			return t.Threshold, true
		}
	}
	return 0, false
}

// requeue puts a call back at the head of its queue: it keeps its original
// enqueue time, which is the router's ordering key.
func (a *ACD) requeue(c *call, now time.Time, reason string) {
	c.state, c.agentID = callQueued, ""
	a.saveCall(c)
	a.publish(Event{Type: EventCallQueued, At: now, CallID: c.info.ID, Caller: c.info.Caller, Queue: c.info.Queue,
		Tier: c.info.Tier, Reason: requeuedPrefix + reason, Wait: now.Sub(c.info.EnqueuedAt)})
	if a.loggedIn[c.info.Queue] == 0 {
		a.overflowLocked(c, OverflowNoAgents, now)
		return
	}
	a.dispatchCall(c, now)
}

func (t *Ticket) deliver(o Outcome) {
	select {
	case t.done <- o:
	default: // already delivered: the first outcome stands
	}
}

// abandon runs when the caller's Enqueue context is cancelled.
func (a *ACD) abandon(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.calls[id]
	if c == nil || (c.state != callQueued && c.state != callRinging && c.state != callParked) {
		return
	}
	a.abandonLocked(c, a.now())
}

func (a *ACD) abandonLocked(c *call, now time.Time) {
	id := c.info.ID
	wait := now.Sub(c.info.EnqueuedAt)
	if c.state == callQueued || c.state == callParked {
		if a.router.HasCall(id) {
			_, _ = a.router.RemoveCall(id)
		}
	} else {
		c.abandoned = true
		if c.ringCancel != nil {
			c.ringCancel() // CANCEL towards the agent; ringDone frees the agent
		}
	}
	if c.stopAbandon != nil {
		c.stopAbandon()
	}
	if !c.direct() {
		a.noteSample(Sample{Kind: slAbandoned, Queue: c.info.Queue, Tier: c.info.Tier, Wait: wait, At: now})
		if counted, _ := a.router.Abandoned(c.info.Queue, c.info.Tier, wait, now); counted {
			a.storeErr("add sl", a.store.AddSL(a.ctx, SLDelta{Queue: c.info.Queue, Tier: c.info.Tier, Abandoned: 1}))
		}
		a.shareSample(slAbandoned, c, wait)
	}
	a.deleteCall(id)
	delete(a.calls, id)
	a.publish(Event{Type: EventCallAbandoned, At: now, CallID: id, AgentID: c.agentID, Caller: c.info.Caller,
		Queue: c.info.Queue, Tier: c.info.Tier, Wait: wait, Direct: c.direct()})
	c.ticket.deliver(Outcome{Kind: Abandoned, CallID: id, Wait: wait})
}

// Release ends a caller's time in the ACD at once, whatever its state,
// and is a no-op for a call the ACD no longer has: a waiting or ringing
// call is abandoned (a ringing agent is cancelled and freed), a connected
// one ends as with CallEnded. It is the engine's single way out for a
// caller, so that no race between a hang-up and an answer can leave an
// agent reserved or talking on a call that is gone.
func (a *ACD) Release(callID, releasedBy string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.calls[callID]
	if c == nil || c.owner != "" {
		return
	}
	now := a.now()
	switch c.state {
	case callQueued, callRinging, callParked:
		a.abandonLocked(c, now)
	default:
		a.endLocked(c, releasedBy, now)
	}
}

// Overflow takes a waiting call out of its queue as an overflow, not an
// abandon: the IVR's own max wait ran out, or the caller chose another path
// (voicemail). It fails with ErrCallNotActive once an agent is being rung;
// the caller then cancels the Enqueue context instead.
func (a *ACD) Overflow(callID string, reason OverflowReason) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.calls[callID]
	if c == nil || c.owner != "" {
		return fmt.Errorf("overflow %s: %w", callID, ErrUnknownCall)
	}
	if c.state != callQueued {
		return fmt.Errorf("overflow %s: %w", callID, ErrCallNotActive)
	}
	a.overflowLocked(c, reason, a.now())
	return nil
}

// overflowLocked ends a queued call with an overflow outcome.
func (a *ACD) overflowLocked(c *call, reason OverflowReason, now time.Time) {
	id := c.info.ID
	if a.router.HasCall(id) {
		_, _ = a.router.RemoveCall(id)
	}
	if c.stopAbandon != nil {
		c.stopAbandon()
	}
	wait := now.Sub(c.info.EnqueuedAt)
	a.storeErr("add sl", a.store.AddSL(a.ctx, SLDelta{Queue: c.info.Queue, Tier: c.info.Tier, Overflowed: 1}))
	a.deleteCall(id)
	delete(a.calls, id)
	a.publish(Event{Type: EventCallOverflow, At: now, CallID: id, Caller: c.info.Caller, Queue: c.info.Queue,
		Tier: c.info.Tier, Reason: string(reason), Wait: wait})
	c.ticket.deliver(Outcome{Kind: Overflowed, CallID: id, Reason: reason, Wait: wait})
}

// CallEnded reports that a connected call was released (by "caller" or
// "agent"). The agent goes to wrap-up for the queue's wrap-up time.
func (a *ACD) CallEnded(callID, releasedBy string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.calls[callID]
	if c == nil || c.owner != "" {
		return fmt.Errorf("call ended %s: %w", callID, ErrUnknownCall)
	}
	if c.state != callTalking && c.state != callHeld {
		return fmt.Errorf("call ended %s: %w", callID, ErrCallNotActive)
	}
	a.endLocked(c, releasedBy, a.now())
	return nil
}

// endLocked ends a connected call: its agent goes to wrap-up (or straight
// back to ready after a consultation it did not take over).
func (a *ACD) endLocked(c *call, releasedBy string, now time.Time) {
	callID := c.info.ID
	ag := a.agents[c.agentID]
	delete(a.calls, callID)
	a.deleteCall(callID)
	a.storeErr("release", a.store.Release(a.ctx, callID, c.agentID))
	if c.stopAbandon != nil {
		c.stopAbandon()
	}
	talk := now.Sub(c.answeredAt)
	a.publish(Event{Type: EventCallEnded, At: now, CallID: callID, AgentID: c.agentID, Caller: c.info.Caller,
		Queue: c.info.Queue, Tier: c.info.Tier, Reason: releasedBy, Wait: talk, Direct: c.direct()})
	if ag == nil || ag.callID != callID {
		return
	}
	if c.kind == DirectConsult {
		// Helping a colleague is not a call of one's own: no wrap-up.
		ag.callID, ag.caller = "", ""
		a.setState(ag, WrapUp, "consultation ended", now)
		a.setState(ag, Ready, "consultation ended", now)
		a.makeAvailable(ag, now)
		return
	}
	wrap := a.cfg.WrapUp
	if w := a.cfg.Queues[c.info.Queue].WrapUp; w > 0 {
		wrap = w
	}
	// Mean handle time (talk + wrap-up) for wait estimates, EWMA 1/8.
	ht := talk + wrap
	if old := a.handle[c.info.Queue]; old > 0 {
		ht = old + (ht-old)/8
	}
	a.handle[c.info.Queue] = ht
	ag.wrapUntil, ag.wrapExtended = now.Add(wrap), 0
	a.setState(ag, WrapUp, "released by "+releasedBy, now)
	ag.callID, ag.caller = "", ""
	if wrap <= 0 {
		a.setState(ag, Ready, "no wrap-up", now)
		a.makeAvailable(ag, now)
	}
}

// Hold puts the agent's caller on hold (the engine plays music).
func (a *ACD) Hold(agentID string) error { return a.hold(agentID, true) }

// Unhold retrieves the caller.
func (a *ACD) Unhold(agentID string) error { return a.hold(agentID, false) }

func (a *ACD) hold(agentID string, on bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ag, err := a.agentLocked(agentID)
	if err != nil {
		return err
	}
	to, ev, st := Held, EventCallHeld, callHeld
	if !on {
		to, ev, st = Talking, EventCallRetrieved, callTalking
	}
	from := Talking
	if !on {
		from = Held
	}
	if ag.state != from {
		return &TransitionError{Agent: agentID, From: ag.state, To: to, Reason: "no call to " + map[bool]string{true: "hold", false: "retrieve"}[on]}
	}
	now := a.now()
	if c := a.calls[ag.callID]; c != nil {
		c.state = st
	}
	callID := ag.callID
	a.setState(ag, to, string(ev), now)
	a.publish(Event{Type: ev, At: now, AgentID: agentID, CallID: callID})
	return nil
}
