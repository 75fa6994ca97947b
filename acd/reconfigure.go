package acd

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/hotlinecc/hotline/routing"
)

// Reconfiguration at run time (configuration reload): queues, tiers and
// their targets, the tier policy, wrap-up and ring times, break reasons and
// the agents' profiles change without a restart and without touching a
// call in progress.
//
// The router is pure decision code with no way to change its queues or
// tiers in place, so Reconfigure builds a new one from the new settings and
// moves the live state into it under the ACD lock: every signed-in agent
// (with its new skills, idle agents staying idle with their idle time),
// every waiting caller (keeping its enqueue time, which is its place), and
// the service-level window, replayed from the answers and abandons the ACD
// keeps for the window (so a changed target or threshold is judged on the
// same calls). The swap is atomic: routing decisions before it use the old
// router, after it the new. What cannot carry over is said in Reconfigured:
// callers waiting in a queue that no longer exists overflow (their flow's
// overflow branch takes them; their queue has no agents any more), callers
// of a removed tier are routed as the default tier, and agents removed from
// the configuration sign out — at once when free, after their call and its
// wrap-up otherwise (no new call is offered to them meanwhile).

// Settings are what Reconfigure may change.
type Settings struct {
	Routing      routing.Config
	RingTimeout  time.Duration
	WrapUp       time.Duration
	Queues       map[string]QueueSettings
	BreakReasons map[string]time.Duration
	AdjustWarn   time.Duration
	// Profiles are the configured agents by id: a signed-in agent takes
	// its new profile (skills and levels, groups, region, answer mode; its
	// seat stays); one missing here leaves. nil leaves every profile as it
	// is.
	Profiles map[string]AgentProfile
	// DefaultTier routes the callers of a removed tier ("" = the last tier
	// of Routing.Tiers).
	DefaultTier string
}

// Reconfigured says what a Reconfigure did to live callers and agents.
type Reconfigured struct {
	// Overflowed are callers waiting in a removed queue (overflow reason
	// OverflowQueueRemoved).
	Overflowed []string `json:"overflowed,omitempty"`
	// Retiered are waiting callers of a removed tier, now routed as the
	// default tier.
	Retiered []string `json:"retiered,omitempty"`
	// SignedOut are agents removed from the configuration and signed out.
	SignedOut []string `json:"signed_out,omitempty"`
	// Leaving are removed agents still on a call: they sign out after it.
	Leaving []string `json:"leaving,omitempty"`
}

// OverflowQueueRemoved: the caller's queue was removed by a reconfiguration.
const OverflowQueueRemoved OverflowReason = "queue-removed"

// Sample log bound: the answers and abandons kept for replay. At 100 calls
// a second (far above a centre's rate) an hour's window is 360,000.
const maxSamples = 1 << 20

// noteSample keeps an answer or abandon fed to the router, for a replay
// into the next router. Called with the lock held.
func (a *ACD) noteSample(s Sample) {
	a.samples = append(a.samples, s)
	window := a.router.Config().Window
	cut := 0
	for cut < len(a.samples) && s.At.Sub(a.samples[cut].At) > window {
		cut++
	}
	if n := len(a.samples) - maxSamples; n > cut {
		cut = n
	}
	if cut > 0 {
		a.samples = slices.Delete(a.samples, 0, cut)
	}
}

// Reconfigure applies new settings; on error nothing changed.
func (a *ACD) Reconfigure(s Settings) (Reconfigured, error) {
	var done Reconfigured
	r2, err := routing.New(s.Routing)
	if err != nil {
		return done, fmt.Errorf("acd: reconfigure: routing: %w", err)
	}
	rc := r2.Config()
	for q := range s.Queues {
		if !hasQueue(rc, q) {
			return done, fmt.Errorf("acd: reconfigure: %w: queues.%s: not a routing queue", ErrInvalidConfig, q)
		}
	}
	for id, p := range s.Profiles {
		p.ID = id
		if err := validateProfileFor(rc, &p); err != nil {
			return done, fmt.Errorf("acd: reconfigure: %w", err)
		}
	}
	if s.RingTimeout <= 0 {
		s.RingTimeout = 15 * time.Second
	}
	defaultTier := s.DefaultTier
	if defaultTier == "" && len(rc.Tiers) > 0 {
		defaultTier = rc.Tiers[len(rc.Tiers)-1].Name
	}
	tiers := map[string]bool{}
	for _, t := range rc.Tiers {
		tiers[t.Name] = true
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return done, fmt.Errorf("acd: reconfigure: %w", ErrClosed)
	}
	now := a.now()

	// The service-level window, replayed in time order under the new
	// thresholds and short-abandon time.
	samples := slices.Clone(a.samples)
	sort.SliceStable(samples, func(i, j int) bool { return samples[i].At.Before(samples[j].At) })
	for _, sm := range samples {
		if now.Sub(sm.At) > rc.Window {
			continue
		}
		switch sm.Kind {
		case slAnswered:
			_ = r2.Answered(sm.Queue, sm.Tier, sm.Wait, sm.At)
		case slAbandoned:
			_, _ = r2.Abandoned(sm.Queue, sm.Tier, sm.Wait, sm.At)
		}
	}

	// Agents: new profiles, the same idle pool.
	loggedIn := map[string]int{}
	var signOut []*agent
	for _, ag := range a.sortedAgents() {
		id := ag.profile.ID
		if ag.home == "" && s.Profiles != nil {
			if p, ok := s.Profiles[id]; ok {
				p.ID, p.Seat = id, ag.profile.Seat
				_ = validateProfileFor(rc, &p) // fills the defaults; validated above
				p.Skills = cloneMap(p.Skills)
				ag.profile = p
				ag.leaving = false
			} else if !ag.leaving {
				ag.leaving = true
				if onCall(ag.state) || ag.state == WrapUp {
					done.Leaving = append(done.Leaving, id)
				}
			}
			if ag.leaving && !onCall(ag.state) && ag.state != WrapUp {
				signOut = append(signOut, ag)
			}
		}
		p := ag.profile
		p.Skills = knownSkills(rc, p.Skills) // a mirror's home may not have reloaded yet
		if err := r2.SetAgent(routingAgent(p)); err != nil {
			a.logger.Error("acd: reconfigure: agent left out of routing", "agent", id, "err", err)
			continue
		}
		for q := range p.Skills {
			loggedIn[q]++
		}
		if a.router.IsIdle(id) && !ag.leaving {
			_ = r2.SetIdle(id, ag.since)
		}
	}

	// Waiting callers keep their place (their enqueue time).
	var overflow []*call
	for _, c := range a.sortedCalls() {
		if !a.router.HasCall(c.info.ID) {
			continue // ringing or talking: not the router's
		}
		if !hasQueue(rc, c.info.Queue) {
			if c.owner == "" {
				overflow = append(overflow, c)
			}
			continue
		}
		rcall := c.routingCall()
		if !tiers[rcall.Tier] {
			rcall.Tier = defaultTier
			done.Retiered = append(done.Retiered, c.info.ID)
		}
		if err := r2.AddCall(rcall); err != nil {
			a.logger.Error("acd: reconfigure: caller left out of routing", "call", c.info.ID, "err", err)
		}
	}

	// The swap.
	a.router = r2
	a.loggedIn = loggedIn
	a.cfg.Routing = s.Routing
	a.cfg.RingTimeout = s.RingTimeout
	a.cfg.WrapUp = s.WrapUp
	a.cfg.Queues = maps.Clone(s.Queues)
	if a.cfg.Queues == nil {
		a.cfg.Queues = map[string]QueueSettings{}
	}
	a.cfg.BreakReasons = maps.Clone(s.BreakReasons)
	a.cfg.AdjustWarn = s.AdjustWarn

	for _, c := range overflow {
		done.Overflowed = append(done.Overflowed, c.info.ID)
		a.overflowLocked(c, OverflowQueueRemoved, now)
	}
	for _, ag := range signOut {
		if err := a.logoutLocked(ag.profile.ID, "removed from the configuration"); err != nil {
			a.logger.Warn("acd: reconfigure: sign-out of a removed agent", "agent", ag.profile.ID, "err", err)
			continue
		}
		done.SignedOut = append(done.SignedOut, ag.profile.ID)
	}
	// New skills may pair idle agents with waiting callers at once.
	a.matchLocked(now)
	return done, nil
}

// matchLocked offers waiting callers to idle agents while the router finds
// pairs no arrival or freed agent announced.
func (a *ACD) matchLocked(now time.Time) {
	for {
		m, ok := a.router.NextMatch(now)
		if !ok {
			return
		}
		ag, c := a.agents[m.AgentID], a.calls[m.CallID]
		if ag == nil || c == nil || a.match(ag, c, now) != nil {
			return
		}
	}
}

// leaveIfDone signs out an agent removed from the configuration once its
// call and wrap-up are over (Tick).
func (a *ACD) leaveIfDone(ag *agent) {
	if !ag.leaving || ag.home != "" || onCall(ag.state) || ag.state == WrapUp {
		return
	}
	if err := a.logoutLocked(ag.profile.ID, "removed from the configuration"); err != nil && !errors.Is(err, ErrUnknownAgent) {
		a.logger.Warn("acd: sign-out of a removed agent", "agent", ag.profile.ID, "err", err)
	}
}

func onCall(s State) bool { return s == Reserved || s == Talking || s == Held }

// knownSkills drops the skills of queues rc does not have.
func knownSkills(rc routing.Config, skills map[string]int) map[string]int {
	out := make(map[string]int, len(skills))
	for q, l := range skills {
		if hasQueue(rc, q) {
			out[q] = l
		}
	}
	return out
}

// validateProfileFor is validateProfile against a routing configuration.
func validateProfileFor(rc routing.Config, p *AgentProfile) error {
	if p.ID == "" {
		return fmt.Errorf("profile: %w: empty agent id", ErrInvalidConfig)
	}
	if p.Seat == "" {
		p.Seat = p.ID
	}
	switch p.Mode {
	case "":
		p.Mode = AutoMode
	case AutoMode, ManualMode:
	default:
		return fmt.Errorf("agent %s: %w: mode %q", p.ID, ErrInvalidConfig, p.Mode)
	}
	for q, l := range p.Skills {
		if !hasQueue(rc, q) {
			return fmt.Errorf("agent %s: skill %q: %w", p.ID, q, routing.ErrUnknownQueue)
		}
		if l < 1 {
			return fmt.Errorf("agent %s: skill %q: %w: level %d", p.ID, q, routing.ErrInvalidAgent, l)
		}
	}
	return nil
}
