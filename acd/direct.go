package acd

import (
	"context"
	"errors"
	"fmt"
)

// DirectKind says why a call is offered to one named agent rather than
// routed: the agent is chosen by a colleague, not by the router.
type DirectKind int

// Direct offers.
const (
	// DirectTransfer: the caller moves to this agent (a blind transfer to
	// a named agent); the agent gets wrap-up when the call ends.
	DirectTransfer DirectKind = iota + 1
	// DirectConsult: the agent is asked to help a colleague whose caller
	// waits on hold. It ends without wrap-up unless the agent takes the
	// caller over (Handover).
	DirectConsult
)

// ErrAgentUnavailable refuses a direct offer to an agent who is not ready.
var ErrAgentUnavailable = errors.New("agent not available")

// OfferTo reserves agentID for a call outside the queues and rings it,
// so that an agent reached by a transfer or a consultation is reserved,
// then talking, in the ACD like any agent: never offered a queue call
// meanwhile, shown on the seat map, given wrap-up when the call ends.
// The agent must be ready (ErrAgentUnavailable otherwise). The ticket
// delivers Connected, Unanswered (no answer, busy, unreachable — the agent
// goes not ready as after any ring-no-answer — or signed out), or
// Abandoned when ctx is cancelled first. Direct offers count in no queue
// statistics or service level: their events carry Direct.
//
// req.ID names the call in the ACD: the caller's own id for a transfer
// (its previous conversation must have ended), a new one for a
// consultation (the caller's conversation goes on meanwhile).
func (a *ACD) OfferTo(ctx context.Context, req Call, agentID string, kind DirectKind) (*Ticket, error) {
	if req.ID == "" || req.Queue == "" || req.Tier == "" {
		return nil, fmt.Errorf("offer to %s: %w: id, queue and tier are required", agentID, ErrInvalidCall)
	}
	if kind != DirectTransfer && kind != DirectConsult && kind != DirectOutbound {
		return nil, fmt.Errorf("offer to %s: %w: kind %d", agentID, ErrInvalidCall, kind)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, fmt.Errorf("offer to %s: %w", agentID, ErrClosed)
	}
	if _, dup := a.calls[req.ID]; dup {
		return nil, fmt.Errorf("offer %s to %s: %w: call id in use", req.ID, agentID, ErrInvalidCall)
	}
	if !hasQueue(a.cfg.Routing, req.Queue) {
		return nil, fmt.Errorf("offer %s to %s: %w: queue %q", req.ID, agentID, ErrInvalidCall, req.Queue)
	}
	ag, err := a.agentLocked(agentID)
	if err != nil {
		return nil, fmt.Errorf("offer %s: %w", req.ID, err)
	}
	if ag.state != Ready || a.inflight[agentID] > 0 {
		return nil, fmt.Errorf("offer %s to %s: %w (%s)", req.ID, agentID, ErrAgentUnavailable, ag.state)
	}
	now := a.now()
	req.EnqueuedAt = now
	c := &call{info: req, kind: kind}
	t := &Ticket{id: req.ID, acd: a, done: make(chan Outcome, 1)}
	c.ticket = t
	a.calls[req.ID] = c
	if err := a.offer(ag, c, now); err != nil {
		delete(a.calls, req.ID)
		return nil, fmt.Errorf("offer %s to %s: %w", req.ID, agentID, err)
	}
	c.stopAbandon = context.AfterFunc(ctx, func() { a.abandon(req.ID) })
	return t, nil
}

// Handover completes an attended transfer: the consulted agent's call
// (consultID, from OfferTo with DirectConsult, connected) becomes the
// caller's call callID. The agent who consulted is released to wrap-up
// (call.ended, reason "transferred"); the consulted agent stays talking,
// now on callID (call.transferred), and gets the wrap-up when it ends.
func (a *ACD) Handover(consultID, callID string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	cons, main := a.calls[consultID], a.calls[callID]
	if cons == nil || cons.owner != "" || cons.kind != DirectConsult {
		return fmt.Errorf("handover %s: %w: no consultation", consultID, ErrUnknownCall)
	}
	if cons.state != callTalking && cons.state != callHeld {
		return fmt.Errorf("handover %s: %w", consultID, ErrCallNotActive)
	}
	if main != nil && main.owner != "" {
		return fmt.Errorf("handover to %s: %w", callID, ErrUnknownCall)
	}
	now := a.now()
	if main != nil {
		switch main.state {
		case callTalking, callHeld:
			a.endLocked(main, "transferred", now)
		default:
			return fmt.Errorf("handover to %s: %w", callID, ErrCallNotActive)
		}
	}
	x := a.agents[cons.agentID]
	a.storeErr("release", a.store.Release(a.ctx, consultID, cons.agentID))
	a.deleteCall(consultID)
	delete(a.calls, consultID)
	if err := a.store.Claim(a.ctx, callID, cons.agentID); err != nil && !errors.Is(err, ErrStoreUnavailable) {
		a.logger.Warn("acd: handover claim", "call", callID, "agent", cons.agentID, "err", err)
	}
	cons.info.ID, cons.kind = callID, DirectTransfer
	a.calls[callID] = cons
	a.saveCall(cons)
	if x != nil && x.callID == consultID {
		x.callID = callID
		x.stateCall = callID
		a.storeErr("save agent", a.store.SaveAgent(a.ctx, x.record()))
	}
	a.publish(Event{Type: EventCallTransferred, At: now, CallID: callID, AgentID: cons.agentID, Caller: cons.info.Caller,
		Queue: cons.info.Queue, Tier: cons.info.Tier, Reason: "attended transfer", Direct: true})
	return nil
}

// ClearStaleCall frees an agent the ACD still shows reserved, talking or
// on hold for a call the engine no longer has (the supervisor's remedy,
// audited by the caller): the call is released as by Release, and an
// agent left holding a call id the ACD does not know goes to wrap-up. It
// reports the call id cleared ("" when the agent held none).
func (a *ACD) ClearStaleCall(agentID, by string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ag, err := a.localAgentLocked(agentID)
	if err != nil {
		return "", err
	}
	callID := ag.callID
	if callID == "" {
		return "", nil
	}
	now := a.now()
	if c := a.calls[callID]; c != nil && c.owner == "" && c.agentID == agentID {
		switch c.state {
		case callQueued, callRinging:
			a.abandonLocked(c, now)
			return callID, nil
		default:
			a.endLocked(c, by, now)
			return callID, nil
		}
	}
	// The ACD lost the call but not the agent: settle the agent alone.
	ag.callID, ag.caller = "", ""
	switch ag.state {
	case Reserved:
		a.setState(ag, NotReady, "stale offer cleared by "+by, now)
	case Talking, Held:
		ag.wrapUntil, ag.wrapExtended = now, 0
		a.setState(ag, WrapUp, "stale call cleared by "+by, now)
	}
	return callID, nil
}
