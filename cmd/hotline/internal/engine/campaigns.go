package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/campaign"
	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/routing/crm"
)

// The engine's outbound campaigns (acd/campaign): loaded from the
// campaigns directory at start, run by Run, driven from the supervisor
// page (campaign.* requests) and /api/campaigns, their calls placed by
// call control (callctl.Dial) and shown to agents as previews.

// campaigns is the engine's dialler.
type campaigns struct {
	m     *campaign.Manager
	store *campaign.FileStore
	// specs are the campaigns loaded at start: a reload may not take
	// their queues, tiers or agents away.
	specs []*campaign.Spec
}

// buildCampaigns loads the campaign files and their lists.
func (e *Engine) buildCampaigns() error {
	if e.cfg.Campaigns == "" {
		return nil
	}
	specs, err := campaign.LoadDir(e.cfg.Resolve(e.cfg.Campaigns))
	if err != nil {
		return fmt.Errorf("engine: campaigns: %w", err)
	}
	names := e.plan.Load().names
	var errs []error
	for _, s := range specs {
		if err := s.CheckNames(names); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("engine: campaigns: %w", err)
	}
	store, err := campaign.NewFileStore(filepath.Join(e.stateDir(), "campaigns"), e.log)
	if err != nil {
		return fmt.Errorf("engine: campaigns: %w", err)
	}
	m, err := campaign.NewManager(campaign.ManagerConfig{
		Engine: campaignEngine{e}, Store: store, Plan: crm.NumberPlan{CountryCode: e.cfg.CRM.CountryCode},
		Tiers: names.Tiers, OnProgress: e.campaignProgress, Logger: e.log,
	})
	if err != nil {
		return fmt.Errorf("engine: campaigns: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, s := range specs {
		rep, err := m.Add(ctx, s)
		if err != nil {
			errs = append(errs, fmt.Errorf("campaign %s: %w", s.Name, err))
			continue
		}
		e.log.Info("campaign loaded", "campaign", s.Name, "mode", s.Mode, "queue", s.Queue, "contacts", rep.Loaded,
			"rejected", rep.RejectedCount, "dnc", rep.DNC, "enabled", s.Enabled)
		for _, r := range rep.Rejects {
			e.log.Warn("campaign list row rejected", "campaign", s.Name, "row", r.String())
		}
	}
	if err := errors.Join(errs...); err != nil {
		_ = store.Close()
		return fmt.Errorf("engine: campaigns: %w", err)
	}
	e.campaigns = &campaigns{m: m, store: store, specs: specs}
	return nil
}

// runCampaigns runs the dialler until ctx ends, feeding it the agents'
// changes: a ready agent may take a call now; one who took an inbound
// call, went not ready or signed out loses the preview on its desktop.
func (e *Engine) runCampaigns(ctx context.Context) {
	if e.campaigns == nil {
		return
	}
	m := e.campaigns.m
	sub := e.acd.Bus().Subscribe("campaigns", 1024)
	defer sub.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-sub.C:
				if !ok {
					return
				}
				if ev.Type != acd.EventAgentState {
					continue
				}
				if ev.State == acd.Ready {
					m.Nudge()
				} else if ev.Prev == acd.Ready {
					m.AgentUnavailable(ev.AgentID)
				}
			}
		}
	}()
	if err := m.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		e.log.Error("campaigns stopped", "err", err)
	}
	<-done
	if err := e.campaigns.store.Close(); err != nil {
		e.log.Error("campaign progress not saved at shutdown", "err", err)
	}
}

// campaignProgress pushes a campaign's figures to supervisors.
func (e *Engine) campaignProgress(p campaign.Progress) {
	if e.api == nil {
		return
	}
	e.api.Publish(agentapi.Event{Event: "campaign.progress", At: time.Now(), Data: p, Reason: p.Campaign})
}

// campaignEngine is what the dialler asks of the engine.
type campaignEngine struct{ e *Engine }

// FreeAgents are the ready agents of queues with no call, longest idle
// first, leaving out — blending — any agent one of whose queues has an
// inbound caller (or a callback) waiting, or a tier behind its
// service-level target: inbound work always wins a free agent. None while
// the engine drains.
func (ce campaignEngine) FreeAgents(queues []string) []string {
	if ce.e.Draining() {
		return nil // no new calls while the engine drains
	}
	a := ce.e.acd
	busyQueue := map[string]bool{}
	for _, c := range a.Calls() {
		if c.State == "queued" && c.Call.Customer["campaign"] == "" {
			busyQueue[c.Call.Queue] = true
		}
	}
	for _, sl := range a.ServiceLevels() {
		if sl.Queue != "" && sl.Answered+sl.Abandoned+sl.OverdueWaiting > 0 && sl.Actual < sl.Target {
			busyQueue[sl.Queue] = true
		}
	}
	type idle struct {
		id    string
		since time.Time
	}
	var out []idle
	for _, ag := range a.Agents() {
		if ag.State != acd.Ready || ag.CallID != "" || ag.Node != "" || !servesAny(ag.Profile.Skills, queues) {
			continue
		}
		free := true
		for q := range ag.Profile.Skills {
			if busyQueue[q] {
				free = false
				break
			}
		}
		if free {
			out = append(out, idle{ag.Profile.ID, ag.Since})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].since.Before(out[j].since) })
	ids := make([]string, len(out))
	for i, x := range out {
		ids[i] = x.id
	}
	return ids
}

// SignedIn are the signed-in agents of queues.
func (ce campaignEngine) SignedIn(queues []string) []string {
	var out []string
	for _, ag := range ce.e.acd.Agents() {
		if ag.State != acd.LoggedOut && servesAny(ag.Profile.Skills, queues) {
			out = append(out, ag.Profile.ID)
		}
	}
	return out
}

func servesAny(skills map[string]int, queues []string) bool {
	for _, q := range queues {
		if _, ok := skills[q]; ok {
			return true
		}
	}
	return false
}

// Dial places one attempt through call control.
func (ce campaignEngine) Dial(ctx context.Context, a campaign.Attempt) campaign.Result {
	return ce.e.ctl.Dial(ctx, a)
}

// Preview shows the contact on the agent's desktop.
func (ce campaignEngine) Preview(agentID string, p campaign.PreviewOffer) error {
	ce.e.api.Publish(agentapi.Event{Event: "campaign.preview", At: time.Now(), Agent: agentID, Reason: p.Campaign, Data: p})
	return nil
}

// Withdraw takes the preview back from the desktop.
func (ce campaignEngine) Withdraw(agentID, name, contactID string) {
	ce.e.api.Publish(agentapi.Event{Event: "campaign.preview_withdrawn", At: time.Now(), Agent: agentID, Reason: name,
		Data: map[string]string{"campaign": name, "contact": contactID}})
}

// campaignRequest is the body of every campaign.* request.
type campaignRequest struct {
	Campaign string            `json:"campaign"`
	Contact  string            `json:"contact"`
	Call     string            `json:"call"`
	Answers  map[string]string `json:"answers"`
	// Outcome lets the agent mark the call (machine: an answering machine).
	Outcome string `json:"outcome"`
	DNC     bool   `json:"dnc"`
}

// campaignExtensions are the desktop's campaign requests.
func (e *Engine) campaignExtensions() map[string]agentapi.Extension {
	if e.campaigns == nil {
		return nil
	}
	m := e.campaigns.m
	decode := func(body json.RawMessage) (campaignRequest, error) {
		var r campaignRequest
		if err := json.Unmarshal(body, &r); err != nil {
			return r, fmt.Errorf("campaign request: %v: %w", err, agentapi.ErrBadRequest)
		}
		return r, nil
	}
	bad := func(err error) error {
		if err == nil {
			return nil
		}
		return fmt.Errorf("%w: %w", err, agentapi.ErrBadRequest)
	}
	agent := func(fn func(who agentapi.Caller, r campaignRequest) (any, error)) agentapi.Extension {
		return agentapi.Extension{Fn: func(_ context.Context, who agentapi.Caller, body json.RawMessage) (any, error) {
			r, err := decode(body)
			if err != nil {
				return nil, err
			}
			return fn(who, r)
		}}
	}
	supervisor := func(fn func(r campaignRequest) (any, error)) agentapi.Extension {
		return agentapi.Extension{Supervisor: true, Fn: func(_ context.Context, _ agentapi.Caller, body json.RawMessage) (any, error) {
			r, err := decode(body)
			if err != nil {
				return nil, err
			}
			return fn(r)
		}}
	}
	control := func(name string, op func(string) error) agentapi.Extension {
		return agentapi.Extension{Supervisor: true, Fn: func(_ context.Context, who agentapi.Caller, body json.RawMessage) (any, error) {
			r, err := decode(body)
			if err != nil {
				return nil, err
			}
			if err := op(r.Campaign); err != nil {
				return nil, bad(err)
			}
			e.records.audit.Write(cdr.AuditRecord{At: time.Now(), Supervisor: who.ID, Action: "campaign_" + name, Target: r.Campaign, Detail: "desktop"})
			return m.Progress(r.Campaign)
		}}
	}
	return map[string]agentapi.Extension{
		"campaign.dial": agent(func(who agentapi.Caller, r campaignRequest) (any, error) {
			return nil, bad(m.DialPreview(who.ID, r.Campaign, r.Contact))
		}),
		"campaign.skip": agent(func(who agentapi.Caller, r campaignRequest) (any, error) {
			return nil, bad(m.SkipPreview(who.ID, r.Campaign, r.Contact))
		}),
		"campaign.answers": agent(func(who agentapi.Caller, r campaignRequest) (any, error) {
			return nil, e.campaignAnswers(who.ID, r)
		}),
		"campaign.script": agent(func(_ agentapi.Caller, r campaignRequest) (any, error) {
			run, err := m.Campaign(r.Campaign)
			if err != nil {
				return nil, bad(err)
			}
			return run.Spec().Script, nil
		}),
		// The preview on this agent's desktop, for a page (re)loaded after
		// it was offered.
		"campaign.current": agent(func(who agentapi.Caller, _ campaignRequest) (any, error) {
			for _, name := range m.Names() {
				run, err := m.Campaign(name)
				if err != nil {
					continue
				}
				for _, cv := range run.Contacts() {
					if cv.Progress.State == campaign.Previewing && cv.Progress.Agent == who.ID {
						return campaign.PreviewOffer{Campaign: name, Contact: cv.Contact, Script: run.Spec().Script,
							Attempt: cv.Progress.Attempts + 1}, nil
					}
				}
			}
			return nil, nil
		}),
		"campaign.list":  supervisor(func(campaignRequest) (any, error) { return m.All(), nil }),
		"campaign.start": control("start", m.Start),
		"campaign.pause": control("pause", m.Pause),
		"campaign.stop":  control("stop", m.Stop),
	}
}

// campaignAnswers stores the script's answers (and the agent's marks:
// answering machine, do not call) in the attempt's record, which the
// dialler reads when the record is written after wrap-up.
func (e *Engine) campaignAnswers(agentID string, r campaignRequest) error {
	if r.Call == "" {
		return fmt.Errorf("campaign answers: no call: %w", agentapi.ErrBadRequest)
	}
	if r.Outcome != "" && r.Outcome != string(campaign.Machine) && r.Outcome != string(campaign.Completed) {
		return fmt.Errorf("campaign answers: outcome %q (machine or completed): %w", r.Outcome, agentapi.ErrBadRequest)
	}
	ok := e.records.tracker.Update(r.Call, func(rec *cdr.Record) {
		if rec.Campaign == nil || (rec.Agent != "" && rec.Agent != agentID) {
			return
		}
		if rec.Campaign.Answers == nil {
			rec.Campaign.Answers = map[string]string{}
		}
		for k, v := range r.Answers {
			rec.Campaign.Answers[k] = v
		}
		if r.DNC {
			rec.Campaign.Answers["dnc"] = "true"
		}
		if r.Outcome != "" {
			rec.Campaign.Outcome = r.Outcome
		}
	})
	if !ok {
		return fmt.Errorf("campaign answers: call %s is not open: %w", r.Call, agentapi.ErrUnknownCall)
	}
	return nil
}

// campaignsHandler serves /api/campaigns: GET lists progress; GET
// /api/campaigns/{name} one; POST /api/campaigns/{name}/{start,pause,stop};
// GET /api/campaigns/{name}/results.csv and attempts.csv export.
func (e *Engine) campaignsHandler(w http.ResponseWriter, r *http.Request) {
	if e.campaigns == nil {
		http.Error(w, "no campaigns configured", http.StatusNotFound)
		return
	}
	m := e.campaigns.m
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/api/campaigns"), "/"), "/")
	writeJSON := func(v any, err error) {
		if err != nil {
			status := http.StatusBadRequest
			if errors.Is(err, campaign.ErrUnknownCampaign) {
				status = http.StatusNotFound
			}
			http.Error(w, err.Error(), status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	switch {
	case r.Method == http.MethodGet && parts[0] == "":
		writeJSON(m.All(), nil)
	case r.Method == http.MethodGet && len(parts) == 1:
		writeJSON(m.Progress(parts[0]))
	case r.Method == http.MethodPost && len(parts) == 2 && slices.Contains([]string{"start", "pause", "stop"}, parts[1]):
		op := map[string]func(string) error{"start": m.Start, "pause": m.Pause, "stop": m.Stop}[parts[1]]
		if err := op(parts[0]); err != nil {
			writeJSON(nil, err)
			return
		}
		e.audit(r, "campaign_"+parts[1], parts[0])
		writeJSON(m.Progress(parts[0]))
	case r.Method == http.MethodGet && len(parts) == 2 && (parts[1] == "results.csv" || parts[1] == "attempts.csv"):
		export := m.ExportResults
		if parts[1] == "attempts.csv" {
			export = m.ExportAttempts
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", parts[0]+"-"+parts[1]))
		if err := export(parts[0], w); err != nil {
			writeJSON(nil, err)
		}
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
}

// audit writes an HTTP supervisor action to the audit log.
func (e *Engine) audit(r *http.Request, action, target string) {
	who, _, _ := r.BasicAuth()
	e.records.audit.Write(cdr.AuditRecord{At: time.Now(), Supervisor: who, Action: action, Target: target, Detail: "http"})
}
