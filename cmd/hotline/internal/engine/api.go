package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/agentapi"
)

// buildAPI makes the agent desktop's WebSocket API over the ACD, with the
// engine as its call control.
func (e *Engine) buildAPI() error {
	p := e.plan.Load()
	key, err := e.sessionKey()
	if err != nil {
		e.log.Error("desktop sessions will not survive a restart", "err", err)
	}
	var calls agentapi.CallControl = e.ctl
	if e.cluster != nil {
		calls = clusterControl{e.ctl, e}
	}
	cfg := agentapi.Config{
		ACD: e.acd, Calls: calls, Accounts: p.accounts(), Auditor: auditor{e},
		// A consultation or a supervisor's monitoring answers once the
		// other phone does: allow for the whole ring.
		CallTimeout: e.cfg.ACD.RingTimeout.D() + 5*time.Second,
		Queues:      p.queues, BreakReasons: p.breaks, NotReadyReasons: []string{"meeting", "training", "paperwork", "no answer"},
		Logger: e.log, Metrics: e.metrics.reg, Guard: e.guard, Extensions: e.extensions(),
		SessionKey: key, SessionState: filepath.Join(e.stateDir(), "sessions.json"),
	}
	e.desktopConfig(&cfg)
	api, err := agentapi.New(cfg)
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
			if id := a.e.ctl.CallOf(who); id != "" {
				r.CallID = id
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
