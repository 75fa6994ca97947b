package callctl

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/hotlinecc/hotline/acd"
)

// Presence lets a registered phone stand in for the desktop's sign-in
// (phone-only agents, like Asterisk's dynamic members) without ever
// overriding a state the agent or a supervisor chose:
//
//   - a phone registering signs its agent in (ready) if the agent is not
//     signed in; a registration or refresh of an agent already signed in
//     changes nothing (an agent on a lunch break stays on it);
//   - a phone unregistering signs out an agent its phone signed in, unless
//     a desktop holds a session for the agent; an agent with a desktop
//     stays signed in, and if it was ready it goes not ready with reason
//     "phone unregistered" (no call could reach it);
//   - an agent its phone signed in and that was then signed out (from a
//     desktop, or by a supervisor) is not signed back in while the phone
//     stays registered: the next registration after an unregister is.
//
// A sign-out refused because the agent is on a call is retried.
type Presence struct {
	ACD *acd.ACD
	// Registered reports whether the agent's phone has a live contact.
	Registered func(agentID string) bool
	// Desktop reports whether the agent holds a desktop session.
	Desktop func(agentID string) bool
	// Agents are the phone-only candidates: configured agents (not
	// supervisors) with their profiles.
	Agents []acd.AgentProfile
	Log    *slog.Logger

	byPhone    map[string]bool // signed in by its phone (until it unregisters)
	registered map[string]bool // last seen registration

	mu     sync.Mutex         // guards agents (reload.go)
	agents []acd.AgentProfile // set by SetAgents; nil: Agents
}

// Run applies the rules every 200 ms until ctx ends.
func (p *Presence) Run(ctx context.Context) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.Step()
		}
	}
}

// Step applies the rules once (tests call it directly).
func (p *Presence) Step() {
	if p.byPhone == nil {
		p.byPhone, p.registered = map[string]bool{}, map[string]bool{}
	}
	for _, prof := range p.candidates() {
		id := prof.ID
		reg := p.Registered(id)
		was := p.registered[id]
		p.registered[id] = reg
		snap, err := p.ACD.Agent(id)
		signedIn := err == nil
		if signedIn && snap.Node != "" {
			continue // signed in on another node (cluster): that node serves it
		}
		switch {
		case reg && !signedIn && !p.byPhone[id]:
			if err := p.ACD.Login(prof); err != nil && !errors.Is(err, acd.ErrAlreadyLoggedIn) {
				p.Log.Warn("sign-in on phone registration", "agent", id, "err", err)
				continue
			}
			p.byPhone[id] = true
		case !reg && was && signedIn && p.Desktop(id):
			if snap.State == acd.Ready {
				if err := p.ACD.SetNotReady(id, "phone unregistered"); err != nil {
					p.Log.Info("not ready on phone unregistration", "agent", id, "err", err)
				}
			}
			delete(p.byPhone, id)
		case !reg && p.byPhone[id] && signedIn:
			if err := p.ACD.Logout(id); err != nil {
				p.Log.Info("sign-out on phone unregistration deferred", "agent", id, "err", err)
				continue
			}
			delete(p.byPhone, id)
		case !reg && !signedIn:
			delete(p.byPhone, id)
		}
	}
}
