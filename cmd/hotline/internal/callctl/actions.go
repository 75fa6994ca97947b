package callctl

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/ivr"
	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/sip"
)

// The conversation's handlers: desktop and supervisor actions, the other
// legs coming and going, transfers, consultations and monitoring.

// errNotYours refuses an action by an agent who is not on the call.
var errNotYours = fmt.Errorf("call not this agent's: %w", agentapi.ErrUnknownCall)

// act (Announcing and the conversation states) carries out a desktop or
// supervisor action.
func (c *Call) act(ev *event) {
	a := ev.action
	cv := c.conv
	if a.Op == agentapi.OpMonitor {
		c.monitorAction(a, ev) // answers when the supervisor's phone does
		return
	}
	if cv == nil || a.Agent == "" || (a.Agent != cv.agentID && a.Agent != cv.party) {
		ev.replyErr <- fmt.Errorf("%s %s by %s: %w", a.Op, c.id, a.Agent, errNotYours)
		return
	}
	var err error
	switch a.Op {
	case agentapi.OpHangup:
		err = c.agentHangsUp()
	case agentapi.OpHold, agentapi.OpUnhold:
		err = c.hold(a.Op == agentapi.OpHold)
	case agentapi.OpMute, agentapi.OpUnmute:
		cv.muted = a.Op == agentapi.OpMute
		if cv.bridge != nil {
			cv.bridge.Mute(cv.muted)
		}
	case agentapi.OpPauseRecording, agentapi.OpResumeRecording:
		err = c.pauseRecording(a.Op == agentapi.OpPauseRecording, a.Agent)
	case agentapi.OpDTMF:
		err = c.sendDTMF(a.Digits)
	case agentapi.OpTransfer:
		err = c.blindTransfer(a)
	case agentapi.OpConsult:
		c.consult(a, ev) // answers when the party answers or cannot
		return
	case agentapi.OpCompleteTransfer:
		err = c.completeTransfer(a.Agent)
	case agentapi.OpConference:
		err = c.conference()
	case agentapi.OpReturnToCaller:
		err = c.returnToCaller()
	default:
		err = fmt.Errorf("%s: %w", a.Op, errors.ErrUnsupported)
	}
	ev.replyErr <- err
}

func wrongState(op agentapi.CallOp, s State) error {
	return fmt.Errorf("%s while %s: %w", op, s, agentapi.ErrCallState)
}

// agentHangsUp is the agent's hang-up from the desktop (its phone's BYE
// takes the same path through legGone).
func (c *Call) agentHangsUp() error {
	switch c.state {
	case Announcing:
		c.finishConversation(ivr.EndAgentHangup, "agent")
		c.move(AfterAgent, "agent hung up during the announcement")
	case Talking, Held, Monitored:
		c.finishConversation(ivr.EndAgentHangup, "agent")
		c.move(AfterAgent, "agent hung up")
	case Consulting:
		if cs := c.conv.consult; cs != nil && cs.leg != nil {
			return c.completeTransfer(c.conv.agentID) // leaving a connected consultation hands the caller over
		}
		c.endConsultation("the agent hung up")
		c.finishConversation(ivr.EndAgentHangup, "agent")
		c.move(AfterAgent, "agent hung up while consulting")
	case Conference:
		return c.completeTransfer(c.conv.agentID)
	default:
		return wrongState(agentapi.OpHangup, c.state)
	}
	return nil
}

// hold puts the caller on music (ACD: held) or takes them back. During
// the announcement it takes effect when the audio is joined.
func (c *Call) hold(on bool) error {
	cv := c.conv
	op := agentapi.OpUnhold
	if on {
		op = agentapi.OpHold
	}
	switch {
	case c.state == Announcing:
		if cv.holdOnJoin == on {
			return nil
		}
		if err := c.acdHold(on); err != nil {
			return err
		}
		cv.holdOnJoin = on
		return nil
	case on && c.state == Talking:
		if err := c.acdHold(true); err != nil {
			return err
		}
		cv.bridge.Hold(c.ctx, c.moh())
		c.move(Held, "hold")
		return nil
	case !on && c.state == Held:
		if err := c.acdHold(false); err != nil {
			return err
		}
		cv.bridge.Unhold()
		c.move(Talking, "retrieve")
		return nil
	case on && c.state == Held, !on && c.state == Talking:
		return nil // already so
	}
	return wrongState(op, c.state)
}

// acdHold moves the agent held/talking in the ACD (hold time, seat map);
// an outside party or a supervisor has no ACD state.
func (c *Call) acdHold(on bool) error {
	id := c.conv.agentID
	if id == "" {
		return nil
	}
	var err error
	if on {
		err = c.ctl.acd.Hold(id)
	} else {
		err = c.ctl.acd.Unhold(id)
	}
	if errors.Is(err, acd.ErrIllegalTransition) {
		c.log.Warn("ACD hold state out of step with the call; call state wins", "agent", id, "hold", on, "err", err)
		return nil
	}
	return err
}

// phoneHold (Announcing and the conversation states): the agent's phone
// put the caller on hold (re-INVITE sendonly/inactive) or resumed: the
// same as the desktop's hold. A caller's phone holding us changes nothing.
func (c *Call) phoneHold(ev *event) {
	cv := c.conv
	if cv == nil || ev.leg != cv.leg {
		return
	}
	if err := c.hold(ev.on); err != nil {
		c.log.Info("phone hold not applied", "hold", ev.on, "err", err)
	}
}

func (c *Call) pauseRecording(on bool, by string) error {
	rec := c.conv.rec
	if rec == nil {
		return fmt.Errorf("call %s is not being recorded: %w", c.id, agentapi.ErrCallState)
	}
	if on {
		rec.Pause("agent " + by)
	} else {
		rec.Resume()
	}
	return nil
}

// sendDTMF plays digits to the caller (second-stage dialling) without
// holding the owner up.
func (c *Call) sendDTMF(digits string) error {
	if c.state != Talking && c.state != Monitored {
		return wrongState(agentapi.OpDTMF, c.state)
	}
	s := c.caller.Media()
	c.goOwned(func() {
		for _, d := range digits {
			if err := s.SendDTMF(c.ctx, d); err != nil {
				c.log.Info("dtmf to the caller", "digit", string(d), "err", err)
				return
			}
		}
	})
	return nil
}

// finishConversation ends the caller's time with the agent side: the
// supervisor, consultation and transfer in progress are dropped, the agent
// side is released (the ACD gives its agent wrap-up), the recording is
// closed and the flow's Bridge is answered.
func (c *Call) finishConversation(end ivr.BridgeEnd, by string) {
	cv := c.conv
	if cv == nil {
		return
	}
	if m := cv.monitor; m != nil {
		cv.monitor = nil
		m.mixer.halt()
		c.releaseLeg(m.leg, "the conversation ended")
		if m.reply != nil {
			m.reply <- fmt.Errorf("monitor: %w", ErrCallEnded)
		}
	}
	c.endConsultation("the conversation ended")
	if tr := cv.transfer; tr != nil {
		cv.transfer = nil
		if tr.pending != nil {
			c.releaseLeg(tr.pending.leg, "the conversation ended")
		}
	}
	c.disconnect()
	c.closeRecording()
	if cv.leg != nil {
		silent := cv.leg.Media().Stats().PacketsIn == 0
		c.mu.Lock()
		c.silent = silent
		c.mu.Unlock()
		c.releaseLeg(cv.leg, "the conversation ended")
		cv.leg = nil
	}
	// The ACD frees the agent (wrap-up), or abandons a transfer still ringing.
	c.ctl.acd.Release(c.id, by)
	c.mu.Lock()
	c.unbridged = time.Now()
	c.mu.Unlock()
	res := ivr.BridgeResult{AgentID: cv.party, End: end}
	if cv.reply != nil {
		cv.reply <- res
	}
	c.after = &res
	c.conv = nil
}

// legGone (conversation states): a leg other than the caller's ended.
func (c *Call) legGone(ev *event) {
	cv := c.conv
	switch {
	case cv == nil:
	case ev.leg == cv.leg:
		if err := c.agentHangsUp(); err != nil {
			c.log.Warn("agent leg ended in an unexpected state", "state", c.state, "err", err)
			c.finishConversation(ivr.EndAgentHangup, "agent")
			c.move(AfterAgent, "agent leg gone")
		}
	case cv.consult != nil && ev.leg == cv.consult.leg:
		c.partyLeft()
	case cv.consult != nil && cv.consult.pending != nil && ev.leg == cv.consult.pending.leg:
		cv.consult.pending.gone = true
	case cv.transfer != nil && cv.transfer.pending != nil && ev.leg == cv.transfer.pending.leg:
		cv.transfer.pending.gone = true
	case cv.monitor != nil && ev.leg == cv.monitor.leg:
		c.supervisorLeft()
	}
}

// partyAnswered (conversation states): the phone of the agent a transfer
// or consultation rings answered; the ACD's verdict follows.
func (c *Call) partyAnswered(ev *event) {
	cv := c.conv
	var slot **pendingAnswer
	switch {
	case cv != nil && cv.consult != nil && cv.consult.acdID == ev.offer.Call.ID && cv.consult.leg == nil:
		slot = &cv.consult.pending
	case cv != nil && cv.transfer != nil && ev.offer.Call.ID == c.id:
		slot = &cv.transfer.pending
	}
	if slot == nil || *slot != nil {
		c.releaseLeg(ev.leg, "answer for an offer this call did not make")
		ev.replyBool <- false
		return
	}
	*slot = &pendingAnswer{offer: ev.offer, leg: ev.leg}
	c.watchLeg(ev.leg)
	ev.replyBool <- true
}

// partyOutcome (conversation states): the ACD's verdict on a transfer or
// consultation offer.
func (c *Call) partyOutcome(ev *event) {
	cv := c.conv
	switch {
	case cv == nil:
	case cv.consult != nil && ev.ticket == cv.consult.ticket:
		c.consultOutcome(ev.outcome)
	case cv.transfer != nil && ev.ticket == cv.transfer.ticket:
		c.transferOutcome(ev.outcome)
	}
}

// blindTransfer sends the caller on without consultation: to a queue or a
// flow (the flow takes over), to a named agent (reserved and rung in the
// ACD) or to a number; the transferring agent goes to wrap-up at once.
func (c *Call) blindTransfer(a agentapi.CallAction) error {
	switch c.state {
	case Talking, Held:
	default:
		return wrongState(agentapi.OpTransfer, c.state)
	}
	to := a.Target
	if to == nil {
		return fmt.Errorf("transfer without a target: %w", agentapi.ErrBadRequest)
	}
	kind := "blind" // to a named agent or a number
	if to.Kind == agentapi.TargetQueue || to.Kind == agentapi.TargetFlow {
		kind = string(to.Kind)
	}
	c.noteTransfer(cdr.Transfer{At: time.Now(), By: a.Agent, Kind: kind, Target: to.Value})
	cv := c.conv
	switch to.Kind {
	case agentapi.TargetQueue, agentapi.TargetFlow:
		flow, err := c.ctl.transferFlow(*to)
		if err != nil {
			return err
		}
		c.sendToFlow(flow)
		return nil
	case agentapi.TargetAgent:
		if err := c.ctl.agentAvailable(to.Value); err != nil {
			return err
		}
	case agentapi.TargetExternal:
		if _, err := c.ctl.externalURI(to.Value); err != nil {
			return err
		}
	default:
		return fmt.Errorf("transfer to %s: %w", to.Kind, errors.ErrUnsupported)
	}
	// The agent is released now; the caller waits on music for the target.
	from := cv.agentID
	cv.bridge.Close()
	cv.bridge = nil
	c.releaseLeg(cv.leg, "blind transfer")
	cv.leg = nil
	c.ctl.acd.Release(c.id, "transfer")
	c.move(Transferring, "blind transfer to "+to.Value)
	cv.agentID, cv.party = "", to.Value
	cv.transfer = &transferAttempt{target: *to, by: from}
	c.startMusic()
	if to.Kind == agentapi.TargetExternal {
		c.dial(dialTransfer, to.Value)
		return nil
	}
	t, err := c.ctl.acd.OfferTo(c.ctx, acd.Call{ID: c.id, Caller: c.caller.Info.Caller, Queue: cv.queue, Tier: cv.tier,
		Customer: c.customer()}, to.Value, acd.DirectTransfer)
	if err != nil {
		// Taken in between: the caller goes back to the queue, never dropped.
		c.log.Info("transfer target no longer available; caller back to the queue", "agent", to.Value, "err", err)
		c.transferFailed()
		return nil
	}
	cv.transfer.ticket = t
	c.watchTicket(t)
	return nil
}

// transferOutcome: the agent a blind transfer rings answered (the caller
// is joined to it) or not (the caller goes back to the queue).
func (c *Call) transferOutcome(o acd.Outcome) {
	cv := c.conv
	tr := cv.transfer
	if o.Kind == acd.Connected && tr.pending != nil && !tr.pending.gone {
		c.stopMusic()
		cv.agentID, cv.party, cv.leg = o.AgentID, o.AgentID, tr.pending.leg
		cv.transfer = nil
		c.connect(cv.leg)
		c.move(Talking, "transfer answered by "+o.AgentID)
		return
	}
	if o.Kind == acd.Connected {
		c.ctl.acd.Release(c.id, "agent") // answered and gone at once
	}
	c.transferFailed()
}

// transferFailed takes the caller back to the queue the call came from.
func (c *Call) transferFailed() {
	cv := c.conv
	if tr := cv.transfer; tr != nil && tr.pending != nil {
		c.releaseLeg(tr.pending.leg, "transfer failed")
		tr.pending = nil
	}
	c.noteTransferResult("not answered")
	flow, err := c.ctl.transferFlow(agentapi.Target{Kind: agentapi.TargetQueue, Value: cv.queue})
	if err != nil {
		c.log.Error("no way back to the queue after a failed transfer; the flow decides", "err", err)
	}
	c.sendToFlow(flow)
}

// sendToFlow ends the conversation as a transfer: the flow runs next.
func (c *Call) sendToFlow(flow *ivr.Flow) {
	c.mu.Lock()
	c.transfer = flow
	c.mu.Unlock()
	c.finishConversation(ivr.EndTransferred, "transfer")
	c.move(AfterAgent, "transferred to a flow")
}

func (c *Call) noteTransfer(t cdr.Transfer) {
	c.ctl.cfg.Records.Update(c.id, func(r *cdr.Record) { r.Transfers = append(r.Transfers, t) })
}

func (c *Call) noteTransferResult(result string) {
	c.ctl.cfg.Records.Update(c.id, func(r *cdr.Record) {
		if n := len(r.Transfers); n > 0 {
			r.Transfers[n-1].Result = result
		}
	})
}

func (c *Call) customer() map[string]string {
	if c.wait != nil {
		return c.wait.req.Customer
	}
	return nil
}

// consult holds the caller and calls the target: a colleague (reserved
// and rung through the ACD) or a number. The desktop's request is
// answered when the party answers, or cannot be reached.
func (c *Call) consult(a agentapi.CallAction, ev *event) {
	cv := c.conv
	if c.state != Talking {
		ev.replyErr <- wrongState(agentapi.OpConsult, c.state)
		return
	}
	to := a.Target
	if to == nil {
		ev.replyErr <- fmt.Errorf("consult without a target: %w", agentapi.ErrBadRequest)
		return
	}
	cs := &consultation{target: *to, party: to.Value, started: time.Now(), reply: ev.replyErr}
	switch to.Kind {
	case agentapi.TargetAgent:
		if to.Value == a.Agent {
			ev.replyErr <- fmt.Errorf("consult yourself: %w", agentapi.ErrBadRequest)
			return
		}
		c.consults++
		cs.acdID = fmt.Sprintf("%s~c%d", c.id, c.consults)
		t, err := c.ctl.acd.OfferTo(c.ctx, acd.Call{ID: cs.acdID, Caller: a.Agent, Queue: cv.queue, Tier: cv.tier,
			Customer: c.customer()}, to.Value, acd.DirectConsult)
		if err != nil {
			ev.replyErr <- fmt.Errorf("consult %s: %w", to.Value, err)
			return
		}
		cs.ticket = t
		c.watchTicket(t)
	case agentapi.TargetExternal:
		if _, err := c.ctl.externalURI(to.Value); err != nil {
			ev.replyErr <- err
			return
		}
		c.dial(dialConsult, to.Value)
	default:
		ev.replyErr <- fmt.Errorf("consult a %s: %w", to.Kind, errors.ErrUnsupported)
		return
	}
	cv.consult = cs
	cv.bridge.Hold(c.ctx, c.moh()) // the caller hears music; the agent leg is free for the consultation
	c.move(Consulting, "consult "+to.Value)
}

// consultOutcome: the consulted colleague answered (agent and colleague
// are bridged) or not (the agent is back with the caller).
func (c *Call) consultOutcome(o acd.Outcome) {
	cs := c.conv.consult
	if o.Kind == acd.Connected && cs.pending != nil && !cs.pending.gone && c.state == Consulting {
		c.consultConnected(cs.pending.leg)
		cs.pending = nil
		return
	}
	if o.Kind == acd.Connected {
		c.ctl.acd.Release(cs.acdID, "agent")
	}
	c.consultFailed(fmt.Errorf("consult %s: %s: %w", cs.party, o.Kind, agentapi.ErrAgentBusy))
}

func (c *Call) consultConnected(leg *sip.Leg) {
	cs := c.conv.consult
	cs.leg = leg
	cs.bridge = media.NewBridge(c.conv.leg.Media(), leg.Media())
	if cs.reply != nil {
		cs.reply <- nil
		cs.reply = nil
	}
}

// consultFailed: nobody took the consultation; the agent has the caller back.
func (c *Call) consultFailed(err error) {
	cs := c.conv.consult
	if cs.reply != nil {
		cs.reply <- err
		cs.reply = nil
	}
	c.endConsultation("consultation not answered")
	if c.state == Consulting {
		c.conv.bridge.Unhold()
		c.move(Talking, "consultation failed")
	}
}

// endConsultation drops the consulted party (and its ACD reservation) and
// records the consultation.
func (c *Call) endConsultation(why string) {
	cv := c.conv
	cs := cv.consult
	if cs == nil {
		return
	}
	cv.consult = nil
	cs.mixer.halt()
	if cs.bridge != nil {
		cs.bridge.Close()
	}
	if cs.pending != nil {
		c.releaseLeg(cs.pending.leg, why)
	}
	c.releaseLeg(cs.leg, why)
	if cs.acdID != "" {
		c.ctl.acd.Release(cs.acdID, "agent")
	}
	if cs.reply != nil {
		cs.reply <- fmt.Errorf("consultation ended: %s: %w", why, agentapi.ErrCallState)
	}
	c.noteConsultation(cs)
}

func (c *Call) noteConsultation(cs *consultation) {
	by := c.conv.agentID
	c.ctl.cfg.Records.Update(c.id, func(r *cdr.Record) {
		r.Consultations = append(r.Consultations, cdr.Consultation{At: cs.started, By: by, Target: cs.party, DurationMS: time.Since(cs.started).Milliseconds()})
	})
}

// partyLeft: the consulted party hung up; the agent has the caller back
// (a conference goes on as the two of them).
func (c *Call) partyLeft() {
	c.endConsultation("the consulted party hung up")
	switch c.state {
	case Consulting:
		c.conv.bridge.Unhold()
		c.move(Talking, "consulted party left")
	case Conference:
		c.connect(c.conv.leg)
		c.move(Talking, "consulted party left the conference")
	}
}

// completeTransfer: the caller goes to the consulted party; the agent is
// released to wrap-up (attended transfer).
func (c *Call) completeTransfer(by string) error {
	cv := c.conv
	cs := cv.consult
	if (c.state != Consulting && c.state != Conference) || cs == nil || cs.leg == nil {
		return wrongState(agentapi.OpCompleteTransfer, c.state)
	}
	cs.mixer.halt()
	cs.mixer = nil
	if cs.bridge != nil {
		cs.bridge.Close()
	}
	c.disconnect()
	oldLeg, oldAgent := cv.leg, cv.agentID
	if cs.acdID != "" {
		if err := c.ctl.acd.Handover(cs.acdID, c.id); err != nil {
			c.log.Warn("ACD handover", "err", err)
		}
	} else {
		c.ctl.acd.Release(c.id, "transfer") // to a number: the agent's ACD call ends here
	}
	c.noteConsultation(cs)
	c.noteTransfer(cdr.Transfer{At: time.Now(), By: by, Kind: "attended", Target: cs.party})
	cv.consult = nil
	cv.leg, cv.party = cs.leg, cs.party
	cv.agentID = ""
	if cs.acdID != "" {
		cv.agentID = cs.party
	}
	c.releaseLeg(oldLeg, "attended transfer completed")
	c.log.Info("attended transfer", "from", oldAgent, "to", cs.party)
	c.connect(cv.leg)
	c.move(Talking, "attended transfer to "+cs.party)
	return nil
}

// conference joins caller, agent and consulted party.
func (c *Call) conference() error {
	cv := c.conv
	cs := cv.consult
	if c.state != Consulting || cs == nil || cs.leg == nil {
		return wrongState(agentapi.OpConference, c.state)
	}
	cs.bridge.Close()
	cs.bridge = nil
	c.disconnect()
	cs.mixer = c.startMixer(map[string]*media.Session{"caller": c.caller.Media(), "agent": cv.leg.Media(), "consult": cs.leg.Media()},
		media.ConferenceRoutes("caller", "agent", "consult"))
	c.move(Conference, "conference")
	return nil
}

// returnToCaller drops the consultation and retrieves the caller.
func (c *Call) returnToCaller() error {
	if c.state != Consulting {
		return wrongState(agentapi.OpReturnToCaller, c.state)
	}
	c.endConsultation("returned to the caller")
	c.conv.bridge.Unhold()
	c.move(Talking, "returned to the caller")
	return nil
}

// dial rings a number (through the outbound trunk) or a supervisor's
// phone off the owner's goroutine; the result comes back as evDialed.
func (c *Call) dial(purpose dialPurpose, to string) {
	req := sip.DialRequest{User: to, CallerID: c.caller.Info.Caller}
	switch purpose {
	case dialConsult, dialTransfer:
		uri, _ := c.ctl.externalURI(to)
		req = sip.DialRequest{URI: uri, CallerID: c.caller.Info.Caller}
	case dialSupervisor:
		req.CallerName = "monitor"
	}
	ctx, stop := context.WithTimeout(c.ctx, c.ctl.cfg.RingTimeout)
	c.goOwned(func() {
		defer stop()
		leg, err := c.ctl.dialPhone(ctx, req, purpose == dialSupervisor)
		if !c.post(&event{kind: evDialed, purpose: purpose, leg: leg, err: err}) && leg != nil {
			c.releaseLeg(leg, "call ended while dialling")
		}
	})
}

// dialed (conversation states): a number or supervisor answered or not.
func (c *Call) dialed(ev *event) {
	cv := c.conv
	switch ev.purpose {
	case dialConsult:
		if cv.consult == nil || cv.consult.acdID != "" || cv.consult.leg != nil || c.state != Consulting {
			c.releaseLeg(ev.leg, "consultation no longer wanted")
			return
		}
		if ev.err != nil {
			c.consultFailed(fmt.Errorf("consult %s: %w", cv.consult.party, ev.err))
			return
		}
		c.watchLeg(ev.leg)
		c.consultConnected(ev.leg)
	case dialTransfer:
		if c.state != Transferring || cv.transfer == nil {
			c.releaseLeg(ev.leg, "transfer no longer wanted")
			return
		}
		if ev.err != nil {
			c.log.Info("transfer to a number failed; caller back to the queue", "err", ev.err)
			c.transferFailed()
			return
		}
		c.watchLeg(ev.leg)
		c.stopMusic()
		cv.leg, cv.transfer = ev.leg, nil
		c.connect(cv.leg)
		c.move(Talking, "transfer answered by "+cv.party)
	case dialSupervisor:
		c.supervisorDialed(ev)
	}
}
