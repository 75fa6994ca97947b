package ivr

import (
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
	// Keys pressed before the queue mean nothing here.
	r.typeahead = nil

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
	mohOK := nd.MOH != ""
	current := r.startPlay(nd.Prompts)
	if current.done == nil && mohOK {
		current = r.startPlay([]string{nd.MOH})
	}
	defer func() { current.stop() }()
	var last QueueUpdate
	updates := qc.Updates()
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

		case <-announceC:
			if last.Position <= 0 {
				continue
			}
			words, _ := sayNumber(strconv.Itoa(last.Position))
			words = concat(concat([]string{promptPosition}, words), []string{promptInQueue})
			detail := map[string]string{"position": strconv.Itoa(last.Position)}
			if nd.AnnounceWait && last.EstimatedWait > 0 {
				mins := int((last.EstimatedWait + time.Minute - 1) / time.Minute)
				n, _ := sayNumber(strconv.Itoa(mins))
				words = concat(concat(concat(words, []string{promptWait}), n), []string{promptMinutes})
				detail["wait_minutes"] = strconv.Itoa(mins)
			}
			current.stop()
			r.traceAdd(nd, EvAnnounce, "", detail)
			current = r.startPlay(words)

		case u, ok := <-updates:
			if !ok {
				current.stop()
				qc.Leave(LeaveClosed)
				return r.queueFailed(nd, fmt.Errorf("ACD closed the call in queue %q", req.Queue))
			}
			if u.AgentID == "" {
				last = u
				continue
			}
			current.stop()
			return r.connect(nd, qc, u.AgentID)
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
		words, _ := sayDigits(agent)
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
