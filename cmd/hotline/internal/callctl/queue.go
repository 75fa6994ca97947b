package callctl

import (
	"fmt"
	"maps"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/ivr"
	"github.com/hotlinecc/hotline/sip"
)

// The handlers of the flow's side of a call: the caller in the IVR, in a
// queue, connected to an agent while the flow announces the agent's id,
// and the end of it all. The conversation's handlers are in actions.go.

// enqueue (IVR, AfterAgent): the flow's queue node hands the caller to the ACD.
func (c *Call) enqueue(ev *event) {
	req := ev.req
	customer := maps.Clone(req.Vars)
	if customer == nil {
		customer = map[string]string{}
	}
	call := acd.Call{
		ID: c.id, Caller: req.CallerNumber, Queue: req.Queue, Tier: req.Tier, Region: req.Region,
		Priority: req.Priority, Customer: customer, Trace: req.Trace,
	}
	t, err := c.ctl.acd.Enqueue(c.ctx, call)
	if err != nil {
		ev.replyQueue <- enqueueReply{err: fmt.Errorf("enqueue %s in %s: %w", c.id, req.Queue, err)}
		return
	}
	qc := &queuedCall{c: c, ticket: t, queue: req.Queue, tier: req.Tier, req: call, result: make(chan ivr.QueueOutcome, 1)}
	c.wait, c.ticket = qc, t
	c.watchTicket(t)
	c.move(Queued, "enqueued")
	ev.replyQueue <- enqueueReply{qc: qc}
}

// leaveIgnored (IVR, AfterAgent): the flow leaves a queue the ACD already
// let go of.
func (c *Call) leaveIgnored(*event) {}

// leaveQueue (Queued, Answered): the flow takes the caller out of the
// queue: its own max wait or the caller's voicemail digit are overflows,
// a hang-up an abandon. An agent who answered in the same instant is
// released: the flow has moved on.
func (c *Call) leaveQueue(ev *event) {
	c.dropPending("the caller left the queue")
	switch ev.reason {
	case ivr.LeaveOverflow, ivr.LeaveVoicemail:
		why := acd.OverflowMaxWait
		if ev.reason == ivr.LeaveVoicemail {
			why = acd.OverflowCallerChoice
		}
		if err := c.ctl.acd.Overflow(c.id, why); err != nil {
			c.ctl.acd.Release(c.id, "caller") // ringing: a withdrawal is an abandon
		}
	default:
		c.ctl.acd.Release(c.id, "caller")
	}
	c.finishWait(ivr.QueueOutcome{Reason: string(ev.reason)})
	c.move(IVR, "left the queue")
}

// finishWait settles the flow's wait and forgets the queue.
func (c *Call) finishWait(o ivr.QueueOutcome) {
	if c.wait != nil {
		c.wait.settle(o)
	}
}

// agentAnswered (Queued): an offered agent's phone answered. The owner
// takes the leg; the ACD's verdict (connect, or give the call back to the
// queue) follows as an outcome or a withdrawal.
func (c *Call) agentAnswered(ev *event) {
	if c.ticket == nil || ev.offer.Call.ID != c.id || c.pending != nil {
		c.releaseLeg(ev.leg, "answer for an offer this call did not make")
		ev.replyBool <- false
		return
	}
	c.pending = &pendingAnswer{offer: ev.offer, leg: ev.leg}
	c.watchLeg(ev.leg)
	c.move(Answered, "agent "+ev.offer.AgentID+" answered")
	ev.replyBool <- true
}

// dropPending releases an answered agent leg the call will not use.
func (c *Call) dropPending(why string) {
	if p := c.pending; p != nil {
		c.pending = nil
		c.releaseLeg(p.leg, why)
	}
}

// answerWithdrawn (Answered): the ACD gives the call back to the queue
// (the agent was signed out as the phone answered).
func (c *Call) answerWithdrawn(ev *event) {
	p := c.pending
	if p == nil || p.offer.AgentID != ev.offer.AgentID {
		return
	}
	c.dropPending("the ACD withdrew the offer")
	c.move(Queued, "offer withdrawn")
}

// answeredAgentGone (Answered): the agent hung up before the ACD's
// verdict. The verdict still comes: queueOutcome settles it.
func (c *Call) answeredAgentGone(ev *event) {
	if p := c.pending; p != nil && p.leg == ev.leg {
		p.gone = true
	}
}

// queueOutcome (Queued, Answered): the ACD is done with the caller's wait.
func (c *Call) queueOutcome(ev *event) {
	if ev.ticket != c.ticket {
		return // an earlier wait's
	}
	o := ev.outcome
	switch o.Kind {
	case acd.Connected:
		p := c.pending
		if p == nil || p.offer.AgentID != o.AgentID {
			// Cannot happen: the ACD connects only an answer we took.
			c.ctl.violation("connect_without_answer", fmt.Sprintf("call %s: ACD connected agent %s with no answered leg", c.id, o.AgentID))
			c.ctl.acd.Release(c.id, "engine")
			c.requeue()
			return
		}
		c.pending = nil
		if p.gone {
			// Answered and hung up in the same breath: that agent had the
			// call (wrap-up); the caller keeps waiting.
			c.ctl.acd.Release(c.id, "agent")
			c.releaseLeg(p.leg, "agent left before the join")
			c.requeue()
			return
		}
		c.conv = &conversation{agentID: o.AgentID, party: o.AgentID, leg: p.leg, queue: c.wait.queue, tier: c.wait.tier, started: time.Now()}
		c.armWatch()
		c.move(Announcing, "ACD connected "+o.AgentID)
		c.finishWait(ivr.QueueOutcome{AgentID: o.AgentID})
	case acd.Overflowed:
		c.dropPending("the queue overflowed")
		c.finishWait(ivr.QueueOutcome{Overflow: true, Reason: string(o.Reason)})
		c.move(IVR, "overflow")
	default: // abandoned (our own release), unanswered (not for a queue call)
		c.dropPending("the caller left")
		c.finishWait(ivr.QueueOutcome{Reason: string(o.Kind)})
		c.move(IVR, string(o.Kind))
	}
}

// requeue puts the caller back in its queue after an agent left before
// the join: same queue, tier and customer; the flow's wait goes on.
func (c *Call) requeue() {
	qc := c.wait
	t, err := c.ctl.acd.Enqueue(c.ctx, qc.req)
	if err != nil {
		c.log.Warn("requeue after the agent left failed; the flow takes the caller", "err", err)
		c.finishWait(ivr.QueueOutcome{Reason: "requeue failed"})
		c.move(IVR, "requeue failed")
		return
	}
	qc.ticket, c.ticket = t, t
	c.watchTicket(t)
	c.move(Queued, "requeued")
}

// join (Announcing): the flow has announced the agent; caller and agent
// are bridged and the recording starts.
func (c *Call) join(ev *event) {
	cv := c.conv
	cv.reply = ev.replyBridge
	cv.rec = c.startRecording(cv.agentID, cv.leg)
	c.connect(cv.leg)
	c.mu.Lock()
	c.bridged = time.Now()
	c.mu.Unlock()
	if cv.holdOnJoin {
		cv.bridge.Hold(c.ctx, c.moh())
		c.move(Held, "hold pressed during the announcement")
		return
	}
	c.move(Talking, "joined")
}

// bridgeAfterAgent (AfterAgent): the flow asks to join a conversation
// that already ended (the agent hung up during the announcement).
func (c *Call) bridgeAfterAgent(ev *event) {
	res := ivr.BridgeResult{End: ivr.EndAgentHangup}
	if c.after != nil {
		res = *c.after
	}
	ev.replyBridge <- res
}

// agentLeft (Announcing): the agent hung up during the announcement.
func (c *Call) agentLeft(ev *event) {
	if ev.leg == c.conv.leg {
		_ = c.agentHangsUp()
	}
}

// leaveConnected (Announcing and the conversation states): the flow gives
// up on the join (the caller left during the announcement, or the bridge
// failed): the conversation ends as the caller's hang-up.
func (c *Call) leaveConnected(ev *event) {
	c.finishConversation(ivr.EndCallerHangup, "caller")
	c.move(AfterAgent, "the flow left the conversation")
}

// flowDone (any state): the flow returned. A caller still on the line is
// hung up; everything else ends with it.
func (c *Call) flowDone(*event) {
	c.setEndedBy("ivr")
	c.end(nil)
}

// end (any state): the caller is gone (or the flow let them go). Every leg
// the call owns is released, the ACD forgets the caller (the agent gets
// its wrap-up), and the flow's pending requests are answered.
func (c *Call) end(*event) {
	switch c.caller.EndCause() {
	case "":
		c.releaseCaller()
	case sip.SessionExpired:
		c.setEndedBy("session_expired")
	case sip.LocalHangup:
		c.setEndedBy("ivr") // the flow's hang-up node; the owner's own hang-ups set their cause first
	}
	c.setEndedBy("caller")
	c.dropPending("the caller left")
	if c.conv != nil {
		c.finishConversation(ivr.EndCallerHangup, "caller")
	}
	if c.ticket != nil {
		c.ctl.acd.Release(c.id, "caller")
	}
	c.finishWait(ivr.QueueOutcome{Reason: "caller_hangup"})
	c.move(Ended, "caller gone")
}

// releaseCaller hangs up the caller's leg; the SIP server frees it when
// Serve returns.
func (c *Call) releaseCaller() {
	leg := c.caller
	c.ctl.wg.Add(1)
	go func() {
		defer c.ctl.wg.Done()
		_ = leg.Hangup(c.ctl.runCtx())
	}()
}

func (c *Call) setEndedBy(by string) {
	c.mu.Lock()
	if c.endedBy == "" {
		c.endedBy = by
	}
	c.mu.Unlock()
}

// inactive (any state): a leg sent no RTP for the inactivity timeout: its
// phone vanished without a BYE. The caller's: the call ends; another's: it
// is hung up and its end handled as a hang-up.
func (c *Call) inactive(ev *event) {
	if ev.leg == c.caller {
		c.log.Info("caller sent no audio for the inactivity timeout; ending the call", "timeout", c.ctl.cfg.RTPTimeout)
		c.setEndedBy("rtp_timeout")
		c.end(nil)
		return
	}
	c.log.Info("a leg sent no audio for the inactivity timeout; hanging it up", "leg", ev.leg.ID, "timeout", c.ctl.cfg.RTPTimeout)
	c.ctl.countTimeout()
	c.hangupAsync(ev.leg) // its end arrives as leg-gone
}
