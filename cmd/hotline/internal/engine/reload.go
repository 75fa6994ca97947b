package engine

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sort"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/config"
)

// Hot reload (SIGHUP, POST /admin/reload). The configuration file and the
// flows are read again and everything that can change without dropping a
// call changes at once: agents (added, removed, skills and levels, passwords
// or their hashes and HA1s, SRTP policies, phone: sip, browser or auto),
// queues (with their callback tries and wrap-up codes), tiers and their
// targets, the tier policy, wrap-up and ring times, break reasons and
// limits, access numbers, their languages and flows, trunks (sources, TLS
// names, SRTP policies, and the guard's exemptions), media.srtp,
// media.webrtc_grace, recording policies, the desktop's card attributes and
// languages. Calls in progress keep what they started with (their flow,
// their agent, their recording). Only new or changed clear passwords are
// hashed. Everything is checked before anything changes: a bad file or flow
// changes nothing and the error says where (file:line, or file and key).
// Keys that need a restart — addresses and ports (media.webrtc_port too),
// TLS, the store and Redis, directories, prompts and language, the customer
// source, the guard's limits, the campaigns — are reported as such and take
// effect at the next start.

// ReloadResult says what a reload did.
type ReloadResult struct {
	FlowsVersion int64    `json:"flows_version"`
	Flows        []string `json:"flows"`
	Agents       []string `json:"agents_added,omitempty"`
	Removed      []string `json:"agents_removed,omitempty"`
	// SessionsEnded are desktops signed out because their account's
	// password or role changed or the account went.
	SessionsEnded []string `json:"sessions_ended,omitempty"`
	// PasswordsHashed counts the new or changed clear passwords hashed
	// (an unchanged one keeps its hash).
	PasswordsHashed int              `json:"passwords_hashed"`
	ACD             acd.Reconfigured `json:"acd"`
	// Restart lists changed keys that take effect at the next start.
	Restart []string `json:"needs_restart,omitempty"`
}

// agent is the configured agent (or supervisor) with this id.
func (e *Engine) agent(id string) (config.Agent, bool) {
	a, ok := e.plan.Load().agents[id]
	return a, ok
}

// conf is the configuration in force (the last reload's).
func (e *Engine) conf() *config.Config { return e.plan.Load().cfg }

// configPath names the file Reload reads in logs.
func (e *Engine) configPath() string {
	if e.ConfigPath != "" {
		return e.ConfigPath
	}
	return e.cfg.File + " (flows only: the engine was built from a configuration in memory)"
}

// ReloadFlows re-reads the flows and the configuration (Reload).
func (e *Engine) ReloadFlows() error { _, err := e.Reload(); return err }

// Reload re-reads the configuration file and its flows and applies them;
// on error nothing changes.
func (e *Engine) Reload() (ReloadResult, error) {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	res, err := e.reload()
	if err != nil {
		e.log.Error("configuration reload refused; the running configuration stays in service", "file", e.configPath(), "err", err)
		return res, err
	}
	e.log.Info("configuration and flows reloaded", "flows_version", res.FlowsVersion, "agents_added", res.Agents,
		"agents_removed", res.Removed, "overflowed", res.ACD.Overflowed, "leaving", res.ACD.Leaving)
	if len(res.Restart) > 0 {
		e.log.Warn("changed keys that take effect at the next restart", "keys", res.Restart)
	}
	return res, nil
}

func (e *Engine) reload() (ReloadResult, error) {
	var res ReloadResult
	var cfg *config.Config
	if e.ConfigPath == "" {
		// Built from a configuration in memory (tests, embedders): there
		// is no file to read again, only the flows. Its agents carry their
		// hashes and HA1s by now (hashPasswords).
		cp := *e.conf()
		cp.Agents = slices.Clone(cp.Agents)
		cfg = &cp
	} else {
		var err error
		if cfg, err = config.Load(e.ConfigPath); err != nil {
			return res, err
		}
		cfg.File = e.cfg.File // the name errors and logs use
	}
	p, err := newPlan(cfg)
	if err != nil {
		return res, err
	}
	if err := e.campaignNamesOK(p.names); err != nil {
		return res, err
	}
	// Flows are checked against the prompts in service (prompts: restart).
	prep, err := e.flows.Prepare(cfg.Resolve(cfg.Flows), cfg.AccessNumbers, cfg.AccessLanguages)
	if err != nil {
		return res, fmt.Errorf("flows: %w", err)
	}
	// Only new and changed passwords are hashed; then the clear ones are
	// forgotten, as at start-up.
	old := e.plan.Load()
	if res.PasswordsHashed, err = p.hashPasswords(old); err != nil {
		return res, err
	}
	// The ACD checks its part before changing anything; from here on
	// nothing can fail.
	if res.ACD, err = e.acd.Reconfigure(p.acd); err != nil {
		return res, err
	}
	e.flows.Commit(prep)
	if res.SessionsEnded, err = e.api.SetAccounts(p.accounts()); err != nil {
		// Cannot happen for a configuration that validated; said loudly if it does.
		e.log.Error("desktop accounts not reloaded", "err", err)
	}
	e.api.SetLists(p.queues, p.breaks)
	e.api.SetDesk(p.desk)
	e.ctl.Reconfigure(p.live)
	// Phones authenticate against the new credentials (the SIP server
	// reads the plan in service), trunks are admitted by the new list, and
	// the guard stops rate-capping removed trunks.
	e.plan.Store(p)
	e.sip.SetTrunks(p.trunks)
	e.guard.SetExempt(p.exempt)
	// Browser phones: each agent's phone setting is read from the plan at
	// every ring; the re-attach grace applies to pages that go from now on.
	e.webrtc.SetGrace(cfg.Media.WebRTCGrace.D())
	e.pres.SetAgents(p.phone)
	e.metrics.zeroLabels(p)
	e.zeroFlows()

	res.FlowsVersion, res.Flows = e.flows.Version(), e.flows.Names()
	for id := range p.agents {
		if _, ok := old.agents[id]; !ok {
			res.Agents = append(res.Agents, id)
		}
	}
	for id := range old.agents {
		if _, ok := p.agents[id]; !ok {
			res.Removed = append(res.Removed, id)
		}
	}
	sort.Strings(res.Agents)
	sort.Strings(res.Removed)
	res.Restart = restartKeys(e.cfg, cfg)
	return res, nil
}

// restartKeys names the keys that differ between the start-up
// configuration and a reloaded one and only take effect at a start.
func restartKeys(was, now *config.Config) []string {
	var out []string
	for key, pair := range map[string][2]any{
		"sip":       {was.SIP, now.SIP},
		"http":      {was.HTTP, now.HTTP},
		"store":     {was.Store, now.Store},
		"redis":     {was.Redis, now.Redis},
		"records":   {was.Records, now.Records},
		"recording": {was.Recording, now.Recording},
		"prompts":   {was.Prompts, now.Prompts},
		"language":  {was.Language, now.Language},
		"crm":       {was.CRM, now.CRM},
		"state_dir": {was.StateDir, now.StateDir},
		// The guard keeps its bans and counts; its limits are set at start
		// (the trunks it exempts follow a reload).
		"security":  {was.Security, now.Security},
		"campaigns": {was.Campaigns, now.Campaigns},
		// The browser phones' shared ICE socket is bound at start.
		"media.webrtc_port": {was.Media.WebRTCPort, now.Media.WebRTCPort},
		// The customer card's history depth sizes the history at start.
		"desktop.history": {was.Desktop.History, now.Desktop.History},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			out = append(out, key)
		}
	}
	slices.Sort(out)
	return out
}

// reloadHandler is POST /admin/reload.
func (e *Engine) reloadHandler(w http.ResponseWriter, _ *http.Request) {
	res, err := e.Reload()
	if err != nil {
		http.Error(w, "reload refused, the running configuration stays in service:\n"+err.Error(), http.StatusUnprocessableEntity)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}
