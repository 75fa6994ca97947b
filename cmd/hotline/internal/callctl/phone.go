package callctl

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/sip"
)

// Control is the ACD's Phone: it rings the agent's registered phone and
// hands an answer to the call's owner, which alone decides whether the
// call still wants it. A leg the owner refuses is already released.

// Ring rings the offered agent's phone (acd.Phone). It returns nil only
// when the call's owner took the answered leg.
func (ctl *Control) Ring(ctx context.Context, o acd.Offer) error {
	switch {
	case o.Call.Callback != "":
		return ctl.ringCallback(ctx, o)
	case ctl.attempt(o.Call.ID) != nil:
		return ctl.ringOutbound(ctx, o)
	}
	c := ctl.call(baseCallID(o.Call.ID))
	if c == nil {
		return fmt.Errorf("ring %s: call %s gone: %w", o.AgentID, o.Call.ID, acd.ErrUnreachable)
	}
	leg, err := ctl.ringAgent(ctx, o, nil)
	if err != nil {
		return err
	}
	return ctl.handAnswer(c, o, leg)
}

// handAnswer gives an answered agent leg to the call's owner; nil when
// the owner took it.
func (ctl *Control) handAnswer(c *Call, o acd.Offer, leg *sip.Leg) error {
	ev := &event{kind: evAgentAnswered, offer: o, leg: leg, replyBool: make(chan bool, 1)}
	if !c.post(ev) {
		c.releaseLeg(leg, "the call ended while the phone rang")
		return fmt.Errorf("ring %s: call %s ended: %w", o.AgentID, o.Call.ID, acd.ErrWithdrawn)
	}
	if !<-ev.replyBool {
		return fmt.Errorf("ring %s: call %s no longer wants an agent: %w", o.AgentID, o.Call.ID, acd.ErrWithdrawn)
	}
	return nil
}

// ringAgent rings the offered agent's phone (with extra headers, e.g.
// auto-answer) and returns the answered leg, or the ACD's reason.
func (ctl *Control) ringAgent(ctx context.Context, o acd.Offer, headers map[string]string) (*sip.Leg, error) {
	seat := o.Seat
	if seat == "" {
		seat = o.AgentID
	}
	req := sip.DialRequest{User: seat, CallerID: o.Call.Caller, CallerName: o.Call.Tier, Headers: headers}
	if o.Call.Callback != "" {
		req.CallerID, req.CallerName = o.Call.Callback, "callback"
	}
	r := ctl.startRinging(o.AgentID, o.Call.ID)
	defer ctl.stopRinging(o.AgentID, r)
	leg, err := ctl.dialAgent(ctx, req, r)
	if err == nil {
		return leg, nil
	}
	ctl.log.Info("agent phone did not take the call", "agent", o.AgentID, "seat", seat, "call", o.Call.ID, "err", err)
	var de *sip.DialError
	switch {
	case errors.Is(err, sip.ErrNotRegistered):
		return nil, fmt.Errorf("ring %s: %w: %v", seat, acd.ErrUnreachable, err)
	case errors.As(err, &de) && (de.Status == 486 || de.Status == 600 || de.Status == 603):
		return nil, fmt.Errorf("ring %s: %w: %v", seat, acd.ErrBusy, err)
	case ctx.Err() != nil:
		return nil, fmt.Errorf("ring %s: %w: %v", seat, acd.ErrNoAnswer, err)
	case errors.As(err, &de) && de.Status == 0:
		return nil, fmt.Errorf("ring %s: %w: %v", seat, acd.ErrUnreachable, err)
	}
	return nil, fmt.Errorf("ring %s: %w: %v", seat, acd.ErrNoAnswer, err)
}

// ReleaseAnswered implements acd.AnswerReleaser: the ACD cannot connect an
// answer the owner took (the agent was signed out, the caller left, the
// ACD closed); the owner hangs the leg up if it still holds it.
func (ctl *Control) ReleaseAnswered(o acd.Offer) {
	if c := ctl.call(baseCallID(o.Call.ID)); c != nil {
		c.post(&event{kind: evReleaseAnswered, offer: o})
	}
}

// baseCallID is the caller's call id of an ACD call id (a consultation's
// is "<call>~c<n>").
func baseCallID(id string) string {
	base, _, _ := strings.Cut(id, "~")
	return base
}

// autoAnswer asks a phone to pick up by itself (the common header forms).
var autoAnswer = map[string]string{
	"Call-Info":  "<sip:hotline>;answer-after=0",
	"Alert-Info": "<http://hotline/autoanswer>;info=alert-autoanswer",
}

// dialAgent rings the agent's phone; when the desktop presses answer
// meanwhile, the ringing INVITE is cancelled and a new one asks the phone
// to answer by itself (phones that support auto-answer pick up at once).
func (ctl *Control) dialAgent(ctx context.Context, req sip.DialRequest, r *ringing) (*sip.Leg, error) {
	type result struct {
		leg *sip.Leg
		err error
	}
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := make(chan result, 1)
	go func() { l, err := ctl.dialPhone(dctx, req, false); res <- result{l, err} }()
	select {
	case out := <-res:
		return out.leg, out.err
	case <-r.answer:
	}
	cancel()
	if out := <-res; out.err == nil {
		return out.leg, nil // it answered in the same instant
	}
	req.Headers = autoAnswer
	return ctl.dialPhone(ctx, req, true)
}

// ringing is an offer ringing an agent's phone.
type ringing struct {
	callID string
	answer chan struct{}
	once   sync.Once
}

type rings struct {
	mu sync.Mutex
	m  map[string]*ringing // agent id → its ringing offer
}

func (ctl *Control) startRinging(agentID, callID string) *ringing {
	r := &ringing{callID: callID, answer: make(chan struct{})}
	ctl.rings.mu.Lock()
	ctl.rings.m[agentID] = r
	ctl.rings.mu.Unlock()
	return r
}

func (ctl *Control) stopRinging(agentID string, r *ringing) {
	ctl.rings.mu.Lock()
	if ctl.rings.m[agentID] == r {
		delete(ctl.rings.m, agentID)
	}
	ctl.rings.mu.Unlock()
}

// answerFromDesktop picks up a ringing offer from the desktop: the engine
// re-rings the agent's phone asking it to answer by itself (Call-Info
// answer-after=0, Alert-Info auto-answer), which phones with auto-answer
// do at once.
func (ctl *Control) answerFromDesktop(agentID, callID string) error {
	ctl.rings.mu.Lock()
	r := ctl.rings.m[agentID]
	ctl.rings.mu.Unlock()
	if r == nil || (callID != "" && r.callID != callID) {
		return fmt.Errorf("answer: nothing ringing for agent %s: %w", agentID, agentapi.ErrUnknownCall)
	}
	r.once.Do(func() { close(r.answer) })
	return nil
}
