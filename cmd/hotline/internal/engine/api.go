package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/agentapi"
)

// buildAPI makes the agent desktop's WebSocket API over the ACD, with the
// engine as its call control.
func (e *Engine) buildAPI() error {
	var accounts []agentapi.Account
	for _, a := range e.cfg.Agents {
		accounts = append(accounts, agentapi.Account{
			ID: a.ID, Name: a.Name, Role: agentapi.Role(a.Role), PasswordHash: a.PasswordHash, // hashed at load (edge.go)
			Profile:    acd.AgentProfile{ID: a.ID, Skills: a.Skills, Groups: a.Groups, Region: a.Region, Mode: acd.AnswerMode(a.Mode)},
			Supervises: nil, // supervisors watch every agent until groups are configured
		})
	}
	var queues, breaks []string
	for _, q := range e.cfg.Queues {
		queues = append(queues, q.Name)
	}
	for r := range e.cfg.ACD.BreakReasons {
		breaks = append(breaks, r)
	}
	sort.Strings(breaks)
	var calls agentapi.CallControl = callControl{e}
	if e.cluster != nil {
		calls = clusterControl{callControl{e}}
	}
	api, err := agentapi.New(agentapi.Config{
		ACD: e.acd, Calls: calls, Accounts: accounts, Auditor: auditor{e},
		Queues: queues, BreakReasons: breaks, NotReadyReasons: []string{"meeting", "training", "paperwork", "no answer"},
		Logger: e.log, Metrics: e.metrics.reg, Guard: e.guard,
	})
	if err != nil {
		return fmt.Errorf("engine: agent API: %w", err)
	}
	e.api = api
	return nil
}

// auditor writes supervisor actions to the audit log.
type auditor struct{ e *Engine }

func (a auditor) Audit(_ context.Context, r agentapi.AuditRecord) {
	detail := r.Detail
	if r.Result != "" && r.Result != "ok" {
		detail += " (" + r.Result + ": " + r.Error + ")"
	}
	target := r.Agent
	if r.CallID != "" {
		target += "/" + r.CallID
	}
	a.e.records.audit.Write(cdr.AuditRecord{At: r.At, Supervisor: r.Actor, Action: r.Action, Target: target, Detail: detail})
	if r.CallID == "" && r.Agent != "" {
		// Monitoring names the agent; the action belongs to its call (which,
		// after a take-over, the supervisor now holds).
		for _, who := range []string{r.Agent, r.Actor} {
			if c := a.e.callOfAgent(who); c != nil {
				r.CallID = c.id
				break
			}
		}
	}
	if r.CallID != "" {
		a.e.records.tracker.Update(r.CallID, func(rec *cdr.Record) {
			action := r.Action
			if r.Detail != "" {
				action += " " + r.Detail
			}
			rec.SupervisorActions = append(rec.SupervisorActions, cdr.SupervisorAction{At: r.At, Supervisor: r.Actor, Action: action})
		})
	}
}

// callControl is the engine's side of the desktop's call buttons.
type callControl struct{ e *Engine }

var errNotYours = errors.New("no such call for this agent")

// agentCall finds the call an agent is talking on.
func (cc callControl) agentCall(agentID, callID string) (*call, error) {
	e := cc.e
	e.mu.Lock()
	c := e.calls[callID]
	e.mu.Unlock()
	if c == nil {
		return nil, fmt.Errorf("call %s: %w", callID, errNotYours)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.agent != agentID || c.bridge == nil {
		return nil, fmt.Errorf("call %s of agent %s: %w", callID, agentID, errNotYours)
	}
	return c, nil
}

func unsupported(op string) error { return fmt.Errorf("%s: %w", op, errors.ErrUnsupported) }

// Answer picks up a ringing offer from the desktop: the engine re-rings the
// agent's phone asking it to answer by itself (Call-Info answer-after=0,
// Alert-Info auto-answer), which phones with auto-answer do at once.
func (cc callControl) Answer(ctx context.Context, agentID, callID string) error {
	cc.e.mu.Lock()
	r := cc.e.rings[agentID]
	cc.e.mu.Unlock()
	if r == nil || (callID != "" && r.callID != callID) {
		return fmt.Errorf("answer: nothing ringing for agent %s: %w", agentID, errNotYours)
	}
	r.once.Do(func() { close(r.answer) })
	return nil
}

func (cc callControl) Hangup(ctx context.Context, agentID, callID string) error {
	if cc.e.hangupDirect(agentID, callID) {
		return nil
	}
	c, err := cc.agentCall(agentID, callID)
	if err != nil {
		return err
	}
	c.mu.Lock()
	leg := c.agentLegCur
	c.mu.Unlock()
	if leg == nil {
		return fmt.Errorf("hang up %s: %w", callID, errNotYours)
	}
	// The bridge sees the agent leave first: the caller goes to the survey.
	return leg.Hangup(ctx)
}

func (cc callControl) Hold(ctx context.Context, agentID, callID string, on bool) error {
	c, err := cc.agentCall(agentID, callID)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.monitor != nil {
		return fmt.Errorf("hold %s: a supervisor is on the call: %w", callID, errNotYours)
	}
	switch {
	case on && !c.held:
		moh, err := cc.e.prompts.get(filepath.Join(cc.e.cfg.Resolve(cc.e.cfg.Prompts), cc.e.cfg.Language, "moh.wav"))
		if err != nil {
			return fmt.Errorf("hold %s: music on hold: %w", callID, err)
		}
		// The music runs until Unhold or the bridge closes, not for this request.
		c.bridge.Hold(c.ctx, moh)
		c.held, c.heldAt = true, time.Now()
	case !on && c.held:
		c.bridge.Unhold()
		c.held = false
		c.holdTotal += time.Since(c.heldAt)
	}
	return nil
}

func (cc callControl) Mute(ctx context.Context, agentID, callID string, on bool) error {
	c, err := cc.agentCall(agentID, callID)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bridge.Mute(on)
	c.muted = on
	return nil
}

func (cc callControl) PauseRecording(ctx context.Context, agentID, callID string, on bool) error {
	c, err := cc.agentCall(agentID, callID)
	if err != nil {
		return err
	}
	c.mu.Lock()
	rec := c.rec
	c.mu.Unlock()
	if rec == nil {
		return fmt.Errorf("call %s is not being recorded: %w", callID, errNotYours)
	}
	if on {
		rec.Pause("agent " + agentID)
	} else {
		rec.Resume()
	}
	return nil
}

func (cc callControl) SendDTMF(ctx context.Context, agentID, callID, digits string) error {
	c, err := cc.agentCall(agentID, callID)
	if err != nil {
		return err
	}
	for _, d := range digits {
		if err := c.leg.Media().SendDTMF(ctx, d); err != nil {
			return fmt.Errorf("dtmf %q to %s: %w", d, callID, err)
		}
	}
	return nil
}

func (cc callControl) Transfer(ctx context.Context, agentID, callID string, to agentapi.Target, blind bool) error {
	if !blind {
		return unsupported("attended transfer")
	}
	if to.Kind == agentapi.TargetAgent || to.Kind == agentapi.TargetExternal {
		// Blind to a person: ring them with the caller on hold, then hand over.
		if err := cc.Consult(ctx, agentID, callID, to); err != nil {
			return err
		}
		if err := cc.CompleteTransfer(ctx, agentID, callID); err != nil {
			return err
		}
		cc.e.records.tracker.Update(callID, func(r *cdr.Record) {
			r.Transfers = append(r.Transfers, cdr.Transfer{At: time.Now(), By: agentID, Kind: string(to.Kind), Target: to.Value})
		})
		return nil
	}
	c, err := cc.agentCall(agentID, callID)
	if err != nil {
		return err
	}
	flow, err := cc.e.transferTarget(to)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.xfer == nil || c.transferTo != nil {
		c.mu.Unlock()
		return fmt.Errorf("transfer %s: already transferring: %w", callID, errNotYours)
	}
	c.transferTo = flow
	close(c.xfer)
	c.xfer = nil
	c.mu.Unlock()
	cc.e.records.tracker.Update(callID, func(r *cdr.Record) {
		r.Transfers = append(r.Transfers, cdr.Transfer{At: time.Now(), By: agentID, Kind: string(to.Kind), Target: to.Value})
	})
	return nil
}

func (cc callControl) Disposition(ctx context.Context, agentID, callID, code string) error {
	if !cc.e.records.tracker.Update(callID, func(r *cdr.Record) { r.WrapUpCode = code }) {
		return fmt.Errorf("disposition for %s: %w", callID, errNotYours)
	}
	return nil
}

func (cc callControl) Calls() []agentapi.CallInfo {
	e := cc.e
	e.mu.Lock()
	calls := make([]*call, 0, len(e.calls))
	for _, c := range e.calls {
		calls = append(calls, c)
	}
	e.mu.Unlock()
	out := e.directCalls()
	for _, c := range calls {
		c.mu.Lock()
		if c.bridge != nil {
			state := "talking"
			if c.held {
				state = "held"
			}
			ci := agentapi.CallInfo{
				ID: c.id, AgentID: c.agent, Direction: "inbound", Caller: c.leg.Info.Caller, Callee: c.leg.Info.Dialled,
				Queue: c.queue, Tier: c.tier, State: state, Held: c.held, Muted: c.muted, Started: c.bridgedAt,
			}
			if m := c.monitor; m != nil {
				ci.Monitors = map[string]agentapi.MonitorMode{m.supervisor: m.mode}
			}
			out = append(out, ci)
		}
		c.mu.Unlock()
	}
	return out
}
