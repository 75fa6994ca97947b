package ivr

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"time"
)

// queue hands the call to the ACD and keeps the caller company until an
// agent answers: music on hold, position announcements, the leave digit and
// the max-wait overflow. When the agent answers it says the agent's id, then
// bridges; if the agent hangs up first the flow continues at nd.Next.
func (r *run) queue(nd *Node) (string, error) {
	req := QueueRequest{
		CallID: r.call.ID, Queue: r.expand(nd.Queue), Tier: r.expand(nd.Tier), Region: r.expand(nd.Region),
		Priority: nd.Priority, CallerNumber: r.vars["caller"], Dialled: r.vars["dialled"],
	}
	r.res.Queue = req.Queue
	if r.in.Queuer == nil {
		return r.queueFailed(nd, fmt.Errorf("no ACD configured"))
	}
	r.traceAdd(nd, EvQueued, "", map[string]string{"queue": req.Queue, "tier": req.Tier, "priority": strconv.Itoa(req.Priority)})
	req.Vars, req.Trace = maps.Clone(r.vars), r.snapshot()
	qc, err := r.in.Queuer.Enqueue(r.ctx, req)
	if err != nil {
		if r.ctx.Err() != nil {
			return "", errCallerGone
		}
		return r.queueFailed(nd, fmt.Errorf("enqueue %q: %w", req.Queue, err))
	}
	// Keys pressed before the queue mean nothing here (a stray leave
	// digit must not send a caller to voicemail the moment they queue).
	r.typeahead = nil
	r.drainDuringPrompt("")

	var overflowC, announceC <-chan time.Time
	if nd.MaxWait > 0 {
		t := time.NewTimer(nd.MaxWait)
		defer t.Stop()
		overflowC = t.C
	}
	if nd.AnnounceEvery > 0 {
		t := time.NewTicker(nd.AnnounceEvery)
		defer t.Stop()
		announceC = t.C
	}
	// The callback offer: at CallbackAfter, or when a check finds the
	// expected wait over CallbackWaitOver; the digit works once offered.
	var offerC, waitCheckC <-chan time.Time
	offered := false
	queuedAt := time.Now()
	if nd.CallbackAfter > 0 {
		t := time.NewTimer(nd.CallbackAfter)
		defer t.Stop()
		offerC = t.C
	}
	if nd.CallbackWaitOver > 0 {
		t := time.NewTicker(callbackWaitCheck)
		defer t.Stop()
		waitCheckC = t.C
	}
	// The ACD's answer arrives on its own goroutine so the caller's keys,
	// the music and the timers are served meanwhile; waitCtx ends it.
	waitCtx, stopWait := context.WithCancel(r.ctx)
	defer stopWait()
	outcomeC := make(chan QueueOutcome, 1)
	waitErrC := make(chan error, 1)
	go func() {
		o, err := qc.Wait(waitCtx)
		if err != nil {
			waitErrC <- err
			return
		}
		outcomeC <- o
	}()

	mohOK := nd.MOH != ""
	current := r.startPlay(nd.Prompts)
	if current.done == nil && mohOK {
		current = r.startPlay([]string{nd.MOH})
	}
	defer func() { current.stop() }()
	for {
		select {
		case <-r.ctx.Done():
			current.stop()
			qc.Leave(LeaveCallerHangup)
			return "", errCallerGone

		case <-current.done:
			// A prompt or one pass of the music ended: loop the music. If
			// it fails to play, stay silent rather than spin on it.
			if current.err != nil && mohOK {
				r.log.Warn("ivr: music on hold failed; waiting in silence", "moh", nd.MOH, "err", current.err)
				mohOK = false
			}
			current = &playback{cancel: func() {}}
			if mohOK {
				current = r.startPlay([]string{nd.MOH})
			}

		case k, ok := <-r.digits:
			if !ok {
				r.digits = nil
				continue
			}
			if offered && k == rune(nd.CallbackDigit[0]) {
				if next, ok := r.offerCallback(nd, qc, k); ok {
					current.stop()
					return next, nil
				}
				continue
			}
			if nd.LeaveDigit != "" && k == rune(nd.LeaveDigit[0]) {
				current.stop()
				qc.Leave(LeaveVoicemail)
				r.moved(keyAt(k))
				r.traceAdd(nd, EvLeftQueue, nd.LeaveDigit, map[string]string{"goto": nd.Voicemail})
				return nd.Voicemail, nil
			}

		case <-overflowC:
			current.stop()
			qc.Leave(LeaveOverflow)
			r.traceAdd(nd, EvOverflow, "", map[string]string{"after": nd.MaxWait.String(), "goto": nd.Overflow})
			return nd.Overflow, nil

		case <-offerC:
			offerC = nil
			if !offered {
				offered = true
				current.stop()
				r.traceAdd(nd, EvCallbackOffer, "", map[string]string{"after": time.Since(queuedAt).Round(time.Second).String()})
				current = r.startPlay([]string{nd.CallbackOffer})
			}

		case <-waitCheckC:
			if pos := qc.Position(); !offered && callbackOfferDue(nd, time.Since(queuedAt), pos.EstimatedWait) {
				offered, waitCheckC = true, nil
				current.stop()
				r.traceAdd(nd, EvCallbackOffer, "", map[string]string{"expected_wait": pos.EstimatedWait.Round(time.Second).String()})
				current = r.startPlay([]string{nd.CallbackOffer})
			}

		case <-announceC:
			pos := qc.Position()
			if pos.Place <= 0 {
				continue
			}
			words, _ := r.speaker().number(strconv.Itoa(pos.Place))
			words = concat(concat([]string{promptPosition}, words), []string{promptInQueue})
			detail := map[string]string{"position": strconv.Itoa(pos.Place)}
			if nd.AnnounceWait && pos.EstimatedWait > 0 {
				mins := int((pos.EstimatedWait + time.Minute - 1) / time.Minute)
				n := r.speaker().count(int64(mins))
				words = concat(concat(concat(words, []string{promptWait}), n), []string{promptMinutes})
				detail["wait_minutes"] = strconv.Itoa(mins)
			}
			current.stop()
			r.traceAdd(nd, EvAnnounce, "", detail)
			current = r.startPlay(words)

		case err := <-waitErrC:
			current.stop()
			qc.Leave(LeaveFailed)
			if r.ctx.Err() != nil {
				return "", errCallerGone
			}
			return r.queueFailed(nd, fmt.Errorf("queue %q: %w", req.Queue, err))

		case o := <-outcomeC:
			current.stop()
			switch {
			case o.AgentID != "":
				return r.connect(nd, qc, o.AgentID)
			case o.Overflow && nd.Overflow != "":
				qc.Leave(LeaveOverflow)
				r.traceAdd(nd, EvOverflow, "", map[string]string{"reason": o.Reason, "goto": nd.Overflow})
				return nd.Overflow, nil
			}
			qc.Leave(LeaveFailed)
			return r.queueFailed(nd, fmt.Errorf("ACD ended the wait in queue %q without an agent (%s)", req.Queue, o.Reason))
		}
	}
}

// connect says the agent's id, then bridges. The requirement books count
// this announcement as the caller's service time, so it happens after the
// agent answered and before the media is joined.
func (r *run) connect(nd *Node, qc QueuedCall, agent string) (string, error) {
	r.res.Agent = agent
	r.traceAdd(nd, EvAgent, "", map[string]string{"agent": agent})
	if nd.AnnounceAgent != "" {
		words, _ := r.speaker().digits(agent)
		if err := r.play(concat([]string{nd.AnnounceAgent}, words), ""); err != nil {
			qc.Leave(LeaveCallerHangup)
			return "", err
		}
	}
	br, err := qc.Bridge(r.ctx)
	if err != nil {
		if r.ctx.Err() != nil {
			return "", errCallerGone
		}
		qc.Leave(LeaveFailed)
		return r.queueFailed(nd, fmt.Errorf("bridge to agent %s: %w", agent, err))
	}
	if br.AgentID != "" {
		r.res.Agent = br.AgentID
	}
	r.traceAdd(nd, EvBridgeEnd, "", map[string]string{"end": string(br.End), "agent": r.res.Agent})
	switch {
	case br.End == EndTransferred:
		r.res.Outcome = OutcomeTransferred
		return "", nil
	case br.End == EndCallerHangup || r.ctx.Err() != nil:
		return "", errCallerGone
	}
	// The agent hung up first: the caller is still on the line. Keys
	// pressed while talking were meant for the agent, not for the survey.
	r.typeahead = nil
	r.drainDuringPrompt("")
	return nd.Next, nil
}

// queueFailed takes the failure path: failure, else overflow, else hang up.
func (r *run) queueFailed(nd *Node, err error) (string, error) {
	next := nd.Failure
	if next == "" {
		next = nd.Overflow
	}
	r.log.Warn("ivr: queue failed", "node", nd.ID, "err", err)
	r.traceAdd(nd, EvQueueFailed, "", map[string]string{"error": err.Error(), "goto": next})
	if next == "" {
		r.hangup(nd, "queue failed")
	}
	return next, nil
}
