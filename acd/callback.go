package acd

import (
	"fmt"
	"time"
)

// Queued callback ("virtual hold"): a caller tired of waiting leaves a
// number and hangs up, keeping its place. KeepPlace turns the waiting call
// into a callback with the same queue, tier, customer and enqueue time —
// the router orders it, and its tier's service level counts it, like the
// waiting call it replaced — parked while the caller confirms the number;
// ConfirmCallback puts it back in routing. When an agent is matched, the
// offer rings the agent and then the customer (Phone.Ring for a Call with
// Callback set). A customer not reached sends the agent back to ready and
// parks the callback for QueueSettings.CallbackRetry, up to
// CallbackAttempts tries; then the ticket delivers Unanswered and the tier
// counts it as abandoned. Callbacks never overflow: they wait for agents
// however long it takes.

// DirectOutbound: a campaign's call to a customer, made with this agent
// (reserved while the customer is dialled, talking once connected, wrap-up
// after). Its Phone.Ring returns a CustomerError when the customer was not
// reached: the agent goes back to ready, not to not-ready.
const DirectOutbound DirectKind = 3

// OverflowCallback ends a waiting call's ticket when the caller chose a
// callback: the callback's own ticket carries on.
const OverflowCallback OverflowReason = "callback"

// KeepPlace parks the waiting call callID as the callback callbackID to
// number (the caller's number until ConfirmCallback says otherwise). The
// waiting call's ticket delivers Overflowed with OverflowCallback; nothing
// is counted, the callback was offered as the waiting call. It fails with
// ErrCallNotActive while an agent rings for the call (the caller is about
// to be answered).
func (a *ACD) KeepPlace(callID, callbackID, number string) (*Ticket, error) {
	if callbackID == "" || callbackID == callID {
		return nil, fmt.Errorf("keep place %s: %w: callback id %q", callID, ErrInvalidCall, callbackID)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, fmt.Errorf("keep place %s: %w", callID, ErrClosed)
	}
	c := a.calls[callID]
	if c == nil || c.owner != "" || c.direct() || c.info.Callback != "" {
		return nil, fmt.Errorf("keep place %s: %w", callID, ErrUnknownCall)
	}
	if c.state != callQueued {
		return nil, fmt.Errorf("keep place %s: %w", callID, ErrCallNotActive)
	}
	if _, dup := a.calls[callbackID]; dup {
		return nil, fmt.Errorf("keep place %s: %w: callback id %s in use", callID, ErrInvalidCall, callbackID)
	}
	now := a.now()
	if a.router.HasCall(callID) {
		_, _ = a.router.RemoveCall(callID)
	}
	if c.stopAbandon != nil {
		c.stopAbandon()
		c.stopAbandon = nil
	}
	a.deleteCall(callID)
	delete(a.calls, callID)
	c.ticket.deliver(Outcome{Kind: Overflowed, CallID: callID, Reason: OverflowCallback, Wait: now.Sub(c.info.EnqueuedAt)})

	info := c.info
	info.ID, info.Callback = callbackID, number
	cb := &call{info: info, state: callParked}
	cb.ticket = &Ticket{id: callbackID, acd: a, done: make(chan Outcome, 1)}
	a.calls[callbackID] = cb
	a.saveCall(cb)
	a.publish(Event{Type: EventCallbackRequested, At: now, CallID: callbackID, Caller: info.Caller, Queue: info.Queue,
		Tier: info.Tier, Reason: "requested by " + callID, Wait: now.Sub(info.EnqueuedAt)})
	return cb.ticket, nil
}

// RequestCallback takes a callback request from a caller who was not
// waiting (a menu's "call me back"): counted as offered now, parked until
// ConfirmCallback, then routed like a caller who arrived now.
func (a *ACD) RequestCallback(req Call, number string) (*Ticket, error) {
	if req.ID == "" || req.Queue == "" || req.Tier == "" || number == "" {
		return nil, fmt.Errorf("request callback: %w: id, queue, tier and number are required", ErrInvalidCall)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, fmt.Errorf("request callback: %w", ErrClosed)
	}
	if _, dup := a.calls[req.ID]; dup {
		return nil, fmt.Errorf("request callback %s: %w: duplicate call id", req.ID, ErrInvalidCall)
	}
	now := a.now()
	req.EnqueuedAt, req.Callback = now, number
	c := &call{info: req, state: callParked}
	if _, _, err := a.router.CallArrived(c.routingCall(), now); err != nil {
		return nil, fmt.Errorf("request callback: %w", err)
	}
	c.ticket = &Ticket{id: req.ID, acd: a, done: make(chan Outcome, 1)}
	a.calls[req.ID] = c
	a.storeErr("add sl", a.store.AddSL(a.ctx, SLDelta{Queue: req.Queue, Tier: req.Tier, Offered: 1}))
	a.saveCall(c)
	a.publish(Event{Type: EventCallbackRequested, At: now, CallID: req.ID, Caller: req.Caller, Queue: req.Queue, Tier: req.Tier})
	return c.ticket, nil
}

// ConfirmCallback sets a parked callback's number and puts it back in
// routing at its place.
func (a *ACD) ConfirmCallback(callbackID, number string) error {
	if number == "" {
		return fmt.Errorf("confirm callback %s: %w: no number", callbackID, ErrInvalidCall)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.calls[callbackID]
	if c == nil || c.owner != "" || c.info.Callback == "" {
		return fmt.Errorf("confirm callback %s: %w", callbackID, ErrUnknownCall)
	}
	if c.state != callParked || !c.notBefore.IsZero() {
		return fmt.Errorf("confirm callback %s: %w: not waiting for confirmation", callbackID, ErrCallNotActive)
	}
	c.info.Callback = number
	a.unpark(c, "callback confirmed", a.now())
	return nil
}

// unpark puts a parked callback back in routing.
func (a *ACD) unpark(c *call, why string, now time.Time) {
	c.state, c.notBefore = callQueued, time.Time{}
	a.saveCall(c)
	a.publish(Event{Type: EventCallQueued, At: now, CallID: c.info.ID, Caller: c.info.Caller, Queue: c.info.Queue,
		Tier: c.info.Tier, Reason: requeuedPrefix + why, Wait: now.Sub(c.info.EnqueuedAt)})
	a.dispatchCall(c, now)
}

// restoreCallback takes back a callback persisted before a restart: it was
// offered (and counted) then; it keeps its enqueue time, its tries, and
// waits for its next try when one was due later.
func (a *ACD) restoreCallback(c *call, now time.Time) {
	if c.info.CallbackAt.After(now) {
		c.state, c.notBefore = callParked, c.info.CallbackAt
		a.saveCall(c)
		return
	}
	a.unpark(c, "callback restored", now)
}

// Withdraw takes a callback out of the ACD without a try (the customer
// called again, or a supervisor cancelled it): the ticket delivers
// Overflowed with reason. It fails with ErrCallNotActive while the
// callback rings an agent or the customer.
func (a *ACD) Withdraw(callbackID string, reason OverflowReason) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.calls[callbackID]
	if c == nil || c.owner != "" || c.info.Callback == "" {
		return fmt.Errorf("withdraw %s: %w", callbackID, ErrUnknownCall)
	}
	if c.state != callQueued && c.state != callParked {
		return fmt.Errorf("withdraw %s: %w", callbackID, ErrCallNotActive)
	}
	a.overflowLocked(c, reason, a.now())
	return nil
}

// callbackRing bounds one offer of a callback: the agent's ring, then the
// customer's.
func (a *ACD) callbackRing(c *call) time.Duration {
	d := a.cfg.Queues[c.info.Queue].CallbackRing
	if d <= 0 {
		d = 30 * time.Second
	}
	return a.cfg.RingTimeout + d
}

// shutdownCallback lets a callback go at Close without forgetting it: it
// stays in the store (a journal keeps it for the next start).
func (a *ACD) shutdownCallback(c *call, now time.Time) {
	if a.router.HasCall(c.info.ID) {
		_, _ = a.router.RemoveCall(c.info.ID)
	}
	delete(a.calls, c.info.ID)
	c.ticket.deliver(Outcome{Kind: Overflowed, CallID: c.info.ID, Reason: OverflowShutdown, Wait: now.Sub(c.info.EnqueuedAt)})
}

// callbackMissed settles a try that did not reach the customer: a direct
// offer ends, a callback is parked for its next try or, out of tries,
// ends Unanswered and counts as abandoned for its tier.
func (a *ACD) callbackMissed(c *call, reason string, now time.Time) {
	if c.direct() {
		a.unanswered(c, reason, now)
		return
	}
	qs := a.cfg.Queues[c.info.Queue]
	tries, retry := qs.CallbackAttempts, qs.CallbackRetry
	if tries <= 0 {
		tries = 3
	}
	if retry <= 0 {
		retry = 2 * time.Minute
	}
	c.info.CallbackAttempts++
	if c.info.CallbackAttempts >= tries {
		wait := now.Sub(c.info.EnqueuedAt)
		if counted, _ := a.router.Abandoned(c.info.Queue, c.info.Tier, wait, now); counted {
			a.storeErr("add sl", a.store.AddSL(a.ctx, SLDelta{Queue: c.info.Queue, Tier: c.info.Tier, Abandoned: 1}))
		}
		a.shareSample(slAbandoned, c, wait)
		a.unanswered(c, reason, now)
		return
	}
	c.state, c.agentID = callParked, ""
	c.notBefore = now.Add(retry)
	c.info.CallbackAt = c.notBefore
	a.saveCall(c)
}
