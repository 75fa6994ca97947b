package routing

import (
	"fmt"
	"time"
)

// CallArrived chooses an idle agent for c (which need not be added with
// AddCall). It does not change any state: the caller claims the agent with
// SetBusy and Assigned. The order is: best skill level first; within a
// level, same-region agents, then (once the region hold is over) any region;
// within that, the tier's preferred groups, then (once the group hold is
// over) any group; within that, the queue's strategy.
func (r *Router) CallArrived(c Call, now time.Time) (string, bool, error) {
	q, t, err := r.lookup(c)
	if err != nil {
		return "", false, fmt.Errorf("call arrived: %w", err)
	}
	a := r.pickAgent(q, t, c.Region, now.Sub(r.effectiveSince(c)))
	if a == nil {
		return "", false, nil
	}
	return a.ID, true, nil
}

func (r *Router) pickAgent(q *queueState, t *tierState, region string, age time.Duration) *agentState {
	if q.idleCount == 0 {
		return nil
	}
	regionHold := region != "" && age < q.cfg.RegionWiden
	pref := t.cfg.PreferredGroups
	groupHold := len(pref) > 0 && age < t.cfg.WidenAfter
	var regions [2]string
	nreg := 0
	if region != "" {
		regions[nreg] = region
		nreg++
	}
	if !regionHold {
		regions[nreg] = anyKey
		nreg++
	}
	for _, lvl := range q.levels {
		for _, rg := range regions[:nreg] {
			if len(pref) > 0 {
				var best *idleEntry
				for _, g := range pref {
					if h := q.idle[idleKey{lvl, rg, g}]; h != nil {
						if e, ok := h.Top(); ok && (best == nil || idleBefore(e, best)) {
							best = e
						}
					}
				}
				if best != nil {
					return best.a
				}
				if groupHold {
					continue
				}
			}
			if h := q.idle[idleKey{lvl, rg, anyKey}]; h != nil {
				if e, ok := h.Top(); ok {
					return e.a
				}
			}
		}
	}
	return nil
}

type candidate struct {
	w     *waiting
	level int
	esc   bool
	over  time.Duration
	gap   float64
	save  bool // still inside its tier's threshold
}

// AgentFreed chooses the waiting call a free agent should take, among the
// queues it serves. It does not remove the call: the caller does with
// RemoveCall. See the package doc for the rule (escalation, then skill
// level and tier order per Config.SkillRule and Config.Policy, then within
// the tier per Config.Within).
func (r *Router) AgentFreed(agentID string, now time.Time) (Call, bool, error) {
	a, ok := r.agents[agentID]
	if !ok {
		return Call{}, false, fmt.Errorf("agent freed %s: %w", agentID, ErrUnknownAgent)
	}
	r.refreshOverdue(now)
	g := r.newGapCache(now)
	var best candidate
	for _, s := range a.skills {
		if s.q.waiting == 0 {
			continue
		}
		for _, tq := range s.q.tiers {
			if tq.n == 0 {
				continue
			}
			w := r.pickInTier(tq, a, now)
			if w == nil {
				continue
			}
			c := r.candidateOf(w, s.level, now, g.gap(tq.t))
			if best.w == nil || r.better(c, best) {
				best = c
			}
		}
	}
	if best.w == nil {
		return Call{}, false, nil
	}
	return best.w.Call, true, nil
}

// gapCache computes each tier's gap at most once per decision.
type gapCache struct {
	r    *Router
	now  time.Time
	gaps [16]float64
	done [16]bool
}

func (r *Router) newGapCache(now time.Time) *gapCache { return &gapCache{r: r, now: now} }

func (g *gapCache) gap(t *tierState) float64 {
	if t.idx < len(g.gaps) && g.done[t.idx] {
		return g.gaps[t.idx]
	}
	v := g.r.level(t, t.sl, t.overdue, "", g.now).Gap
	if t.idx < len(g.gaps) {
		g.gaps[t.idx], g.done[t.idx] = v, true
	}
	return v
}

func (r *Router) candidateOf(w *waiting, level int, now time.Time, gap float64) candidate {
	c := candidate{w: w, level: level, gap: gap, save: !w.overdue}
	age := now.Sub(w.since)
	if esc := w.tq.t.cfg.EscalateAfter; esc >= 0 && age >= esc {
		c.esc, c.over = true, age-esc
	}
	return c
}

func (r *Router) escalated(w *waiting, now time.Time) bool {
	esc := w.tq.t.cfg.EscalateAfter
	return esc >= 0 && now.Sub(w.since) >= esc
}

// pickInTier is the call of tq that agent a should take under
// Config.Within: the oldest eligible call, or with the saveable rules the
// oldest eligible call still inside the threshold unless the oldest one
// has escalated. Two heap tops per set, no scan.
func (r *Router) pickInTier(tq *tierQueue, a *agentState, now time.Time) *waiting {
	ws := r.eligibleIn(&tq.save, tq, a, now)
	if ws != nil && r.cfg.Within != WithinOldest {
		// An overdue caller goes first only if escalated, and if the
		// oldest overdue caller has not escalated, none has.
		if top, ok := tq.over.all.Top(); !ok || !r.escalated(top, now) {
			return ws
		}
	}
	wo := r.eligibleIn(&tq.over, tq, a, now)
	oldest := ws
	if wo != nil && (oldest == nil || waitingBefore(wo, oldest)) {
		oldest = wo
	}
	if ws == nil || r.cfg.Within == WithinOldest || r.escalated(oldest, now) {
		return oldest
	}
	return ws
}

func (r *Router) better(a, b candidate) bool {
	if a.esc != b.esc {
		return a.esc
	}
	if a.esc {
		if a.over != b.over {
			return a.over > b.over
		}
		return waitingBefore(a.w, b.w)
	}
	if r.cfg.Within == WithinSaveableAnyTier && a.save != b.save {
		return a.save
	}
	switch r.cfg.SkillRule {
	case SkillFirst:
		if a.level != b.level {
			return a.level < b.level
		}
	case SkillUnlessBehind:
		if !r.cfg.Policy.gap() {
			// FIFO and strict know no targets: plain skill first.
			if a.level != b.level {
				return a.level < b.level
			}
			break
		}
		// A tier behind its target wins over on-target tiers whatever the
		// level; among on-target tiers the better level wins; among
		// behind tiers the policy (gap) decides.
		aBehind, bBehind := a.gap > 0, b.gap > 0
		if aBehind != bBehind {
			return aBehind
		}
		if !aBehind && a.level != b.level {
			return a.level < b.level
		}
	}
	if c := r.tierCmp(a.w.tq.t, b.w.tq.t, a.gap, b.gap); c != 0 {
		return c < 0
	}
	if a.level != b.level {
		return a.level < b.level
	}
	if !a.w.since.Equal(b.w.since) {
		return a.w.since.Before(b.w.since)
	}
	if a.w.tq.t.idx != b.w.tq.t.idx {
		return a.w.tq.t.idx < b.w.tq.t.idx
	}
	return a.w.seq < b.w.seq
}

// tierCmp orders two tiers under the policy: negative if x goes first, 0 if
// the policy does not tell them apart.
func (r *Router) tierCmp(x, y *tierState, gx, gy float64) int {
	switch {
	case r.cfg.Policy.gap():
		xb, yb := gx > 0, gy > 0
		switch {
		case xb && !yb:
			return -1
		case yb && !xb:
			return 1
		case !xb && r.cfg.OnTarget == OnTargetTierOrder:
			return x.idx - y.idx
		case gx > gy:
			return -1
		case gx < gy:
			return 1
		}
	case r.cfg.Policy == PolicyStrict:
		return x.idx - y.idx
	}
	return 0
}

// eligibleIn is the longest-waiting call of set s (part of tq) that agent a
// may take now. Region: a call is held for its own region until
// RegionWiden; since the heaps are ordered by age, if the oldest call of
// the set is from another region and not yet widened, no other foreign call
// is either, so looking at the tops of the agent's region, of the no-region
// calls and of the whole set is enough. Preferred groups: eligibility only
// grows with age, so the oldest region-eligible call decides.
func (r *Router) eligibleIn(s *waitSet, tq *tierQueue, a *agentState, now time.Time) *waiting {
	top, ok := s.all.Top()
	if !ok {
		return nil
	}
	var best *waiting
	if a.Region != "" {
		best = s.regionTop(a.Region)
	}
	if w := s.regionTop(""); w != nil && (best == nil || waitingBefore(w, best)) {
		best = w
	}
	if now.Sub(top.since) >= tq.q.cfg.RegionWiden {
		best = top
	}
	if best == nil {
		return nil
	}
	if !a.groupOK[tq.t.idx] && now.Sub(best.since) < tq.t.cfg.WidenAfter {
		return nil
	}
	return best
}

// Match pairs a waiting call with an idle agent.
type Match struct {
	CallID  string
	AgentID string
}

// NextMatch finds a waiting call and an idle agent that may now be paired
// although neither event (arrival, agent freed) happened: a region or
// preferred-group hold ran out, or an agent was made idle without
// AgentFreed. Call it periodically (e.g. every second) and apply matches
// one at a time until it reports false. The call chosen for the agent is
// AgentFreed's choice, so the tier policy still applies. Cost: the queues
// that have both waiting calls and idle agents, a few heap tops each.
func (r *Router) NextMatch(now time.Time) (Match, bool) {
	for _, q := range r.queues {
		if q.waiting == 0 || q.idleCount == 0 {
			continue
		}
		for _, tq := range q.tiers {
			if tq.n == 0 {
				continue
			}
			for _, rg := range tq.regions {
				w := tq.save.regionTop(rg)
				if o := tq.over.regionTop(rg); o != nil && (w == nil || waitingBefore(o, w)) {
					w = o
				}
				if w == nil {
					continue
				}
				a := r.pickAgent(q, tq.t, w.Region, now.Sub(w.since))
				if a == nil {
					continue
				}
				if c, ok, _ := r.AgentFreed(a.ID, now); ok {
					return Match{CallID: c.ID, AgentID: a.ID}, true
				}
			}
		}
	}
	return Match{}, false
}
