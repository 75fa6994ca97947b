package routing

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// propWorld drives a router through a random multi-skill day (arrivals,
// agents freeing up, abandons, answered/abandoned history so that tiers go
// behind and recover) and checks every AgentFreed decision against the
// documented rules by brute force over all waiting calls — no use of the
// router's indexes in the check.
type propWorld struct {
	t       *testing.T
	r       *Router
	cfg     Config
	rng     *rand.Rand
	agents  []Agent
	busy    map[string]bool
	waiting map[string]Call
	now     time.Time
	seq     int
	// counts of checked decisions and of the cases each property covered,
	// so the test can show it exercised them.
	decisions, savedOverOverdue, escalatedWins, behindWins, levelWins, tierOrderWins int
}

func newPropWorld(t *testing.T, seed uint64, mod func(*Config)) *propWorld {
	tiers := demoTiers()
	tiers[0].PreferredGroups, tiers[0].WidenAfter = []string{"senior"}, 4*time.Second
	cfg := Config{
		Tiers:  tiers,
		Queues: []Queue{{Name: "general"}, {Name: "billing", RegionWiden: 8 * time.Second}, {Name: "technical"}},
		Window: 10 * time.Minute, Buckets: 10,
	}
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := &propWorld{t: t, r: r, cfg: r.Config(), rng: rand.New(rand.NewPCG(seed, 7)), busy: map[string]bool{}, waiting: map[string]Call{}, now: t0}
	queues := []string{"general", "billing", "technical"}
	for i := 0; i < 24; i++ {
		a := Agent{ID: fmt.Sprintf("a%02d", i), Skills: map[string]int{}, Region: []string{"north", "south"}[i%2]}
		for _, q := range queues {
			if w.rng.IntN(3) > 0 {
				a.Skills[q] = 1 + w.rng.IntN(3)
			}
		}
		if len(a.Skills) == 0 {
			a.Skills["general"] = 1
		}
		if i%4 == 0 {
			a.Groups = []string{"senior"}
		}
		if err := r.SetAgent(a); err != nil {
			t.Fatal(err)
		}
		w.agents = append(w.agents, a)
		w.busy[a.ID] = true
	}
	return w
}

func (w *propWorld) age(c Call) time.Duration {
	return w.now.Sub(c.EnqueuedAt.Add(-time.Duration(c.Priority) * w.cfg.PriorityStep))
}

func (w *propWorld) tier(name string) (int, Tier) {
	for i, t := range w.cfg.Tiers {
		if t.Name == name {
			return i, t
		}
	}
	w.t.Fatalf("tier %s", name)
	return 0, Tier{}
}

func (w *propWorld) eligible(a Agent, c Call) bool {
	if _, ok := a.Skills[c.Queue]; !ok {
		return false
	}
	for _, q := range w.cfg.Queues {
		if q.Name == c.Queue && c.Region != "" && c.Region != a.Region && w.age(c) < q.RegionWiden {
			return false
		}
	}
	_, t := w.tier(c.Tier)
	if len(t.PreferredGroups) > 0 && w.age(c) < t.WidenAfter {
		for _, g := range a.Groups {
			if slices.Contains(t.PreferredGroups, g) {
				return true
			}
		}
		return false
	}
	return true
}

func (w *propWorld) escalated(c Call) (bool, time.Duration) {
	_, t := w.tier(c.Tier)
	if t.EscalateAfter < 0 || w.age(c) < t.EscalateAfter {
		return false, 0
	}
	return true, w.age(c) - t.EscalateAfter
}

func (w *propWorld) saveable(c Call) bool {
	_, t := w.tier(c.Tier)
	return w.now.Sub(c.EnqueuedAt) < t.Threshold
}

func (w *propWorld) gap(tier string) float64 {
	sl, err := w.r.ServiceLevel(tier, w.now)
	if err != nil {
		w.t.Fatal(err)
	}
	return sl.Gap
}

// check verifies one decision of AgentFreed for agent a.
func (w *propWorld) check(a Agent, got Call, ok bool) {
	t := w.t
	t.Helper()
	var elig []Call
	for _, c := range w.waiting {
		if w.eligible(a, c) {
			elig = append(elig, c)
		}
	}
	if ok != (len(elig) > 0) {
		t.Fatalf("%s at %s: found=%v with %d eligible calls", a.ID, w.now.Format("15:04:05"), ok, len(elig))
	}
	if !ok {
		return
	}
	w.decisions++
	if !w.eligible(a, got) {
		t.Fatalf("%s took %s, which it may not take yet", a.ID, got.ID)
	}
	xEsc, xOver := w.escalated(got)
	xSave := w.saveable(got)
	xGap := w.gap(got.Tier)
	xIdx, _ := w.tier(got.Tier)
	xLvl := a.Skills[got.Queue]
	for _, c := range elig {
		if c.ID == got.ID {
			continue
		}
		esc, over := w.escalated(c)
		// Escalation: an escalated caller is passed over only for one
		// further past the bound.
		if esc && (!xEsc || over > xOver) {
			t.Fatalf("%s took %s (escalated %v, over %s) over escalated %s (over %s)", a.ID, got.ID, xEsc, xOver, c.ID, over)
		}
		if esc && !xEsc {
			continue
		}
		if xEsc {
			if !esc {
				w.escalatedWins++
			}
			continue
		}
		// Neither is escalated from here on.
		sameTQ := c.Queue == got.Queue && c.Tier == got.Tier
		if w.cfg.Within != WithinOldest && sameTQ {
			// A saveable caller is never passed over for an overdue one of
			// the same queue and tier, nor for a younger saveable one.
			if w.saveable(c) && !xSave {
				t.Fatalf("%s took overdue %s (waited %s) over saveable %s (waited %s) of the same tier and queue",
					a.ID, got.ID, w.now.Sub(got.EnqueuedAt), c.ID, w.now.Sub(c.EnqueuedAt))
			}
			if w.saveable(c) == xSave && w.age(c) > w.age(got) {
				t.Fatalf("%s took %s over the longer-waiting %s of the same kind (saveable %v)", a.ID, got.ID, c.ID, xSave)
			}
			if xSave && !w.saveable(c) {
				w.savedOverOverdue++
			}
			continue
		}
		if w.cfg.Within == WithinSaveableAnyTier && w.saveable(c) != xSave {
			if w.saveable(c) {
				t.Fatalf("%s took overdue %s over saveable %s of another tier (saveable-any-tier)", a.ID, got.ID, c.ID)
			}
			continue
		}
		if sameTQ && w.age(c) > w.age(got) {
			t.Fatalf("%s took %s over the longer-waiting %s of the same tier and queue", a.ID, got.ID, c.ID)
		}
		if w.cfg.SkillRule != SkillUnlessBehind || !w.cfg.Policy.gap() {
			continue
		}
		// Skill-unless-behind with the gap order.
		gap := w.gap(c.Tier)
		lvl := a.Skills[c.Queue]
		idx, _ := w.tier(c.Tier)
		switch {
		case xGap <= 0 && gap > 0:
			t.Fatalf("%s took %s of an on-target tier (gap %.3f) over %s of a tier behind (gap %.3f)", a.ID, got.ID, xGap, c.ID, gap)
		case xGap > 0 && gap > xGap:
			t.Fatalf("%s took %s (gap %.3f) over %s of a tier further behind (gap %.3f)", a.ID, got.ID, xGap, c.ID, gap)
		case xGap <= 0 && gap <= 0 && lvl < xLvl:
			t.Fatalf("%s took %s at level %d over %s at level %d with every tier involved on target", a.ID, got.ID, xLvl, c.ID, lvl)
		case xGap <= 0 && gap <= 0 && lvl == xLvl && w.cfg.OnTarget == OnTargetTierOrder && idx < xIdx:
			t.Fatalf("%s took %s of tier %d over %s of the higher on-target tier %d at the same level", a.ID, got.ID, xIdx, c.ID, idx)
		case xGap > 0 && gap <= 0:
			w.behindWins++
		case xGap <= 0 && gap <= 0 && lvl > xLvl:
			w.levelWins++
		case xGap <= 0 && gap <= 0 && lvl == xLvl && idx > xIdx:
			w.tierOrderWins++
		}
	}
}

// checkPositions: the announced positions of one queue's callers are a
// permutation of 1..n (one consistent order).
func (w *propWorld) checkPositions(queue string) {
	var pos []int
	for id, c := range w.waiting {
		if c.Queue != queue {
			continue
		}
		p, err := w.r.Position(id, w.now)
		if err != nil {
			w.t.Fatal(err)
		}
		pos = append(pos, p)
	}
	slices.Sort(pos)
	for i, p := range pos {
		if p != i+1 {
			w.t.Fatalf("positions in %s at %s are %v, not 1..%d", queue, w.now.Format("15:04:05"), pos, len(pos))
		}
	}
}

func (w *propWorld) serve(c Call) {
	if _, err := w.r.RemoveCall(c.ID); err != nil {
		w.t.Fatal(err)
	}
	delete(w.waiting, c.ID)
	if err := w.r.Answered(c.Queue, c.Tier, w.now.Sub(c.EnqueuedAt), w.now); err != nil {
		w.t.Fatal(err)
	}
}

// step advances one second: arrivals (to an idle agent when CallArrived
// finds one), abandons, agents freeing up, holds running out (NextMatch).
func (w *propWorld) step(arrivalP, freeP float64) {
	w.now = w.now.Add(time.Second)
	queues := []string{"general", "billing", "technical"}
	for p := arrivalP; w.rng.Float64() < p; p-- {
		w.seq++
		c := Call{ID: fmt.Sprintf("c%05d", w.seq), Queue: queues[w.rng.IntN(3)], Tier: w.cfg.Tiers[w.rng.IntN(4)].Name,
			Region: []string{"", "north", "south"}[w.rng.IntN(3)], EnqueuedAt: w.now}
		if w.rng.IntN(20) == 0 {
			c.Priority = 1
		}
		id, ok, err := w.r.CallArrived(c, w.now)
		if err != nil {
			w.t.Fatal(err)
		}
		if ok {
			w.claim(id)
			continue
		}
		if err := w.r.AddCall(c); err != nil {
			w.t.Fatal(err)
		}
		w.waiting[c.ID] = c
	}
	for id, c := range w.waiting {
		if w.rng.Float64() < 0.008 {
			if _, err := w.r.RemoveCall(id); err != nil {
				w.t.Fatal(err)
			}
			delete(w.waiting, id)
			if _, err := w.r.Abandoned(c.Queue, c.Tier, w.now.Sub(c.EnqueuedAt), w.now); err != nil {
				w.t.Fatal(err)
			}
		}
	}
	for _, a := range w.agents {
		if !w.busy[a.ID] || w.rng.Float64() > freeP {
			continue
		}
		got, ok, err := w.r.AgentFreed(a.ID, w.now)
		if err != nil {
			w.t.Fatal(err)
		}
		w.check(a, got, ok)
		if ok {
			w.serve(got)
			continue
		}
		w.busy[a.ID] = false
		if err := w.r.SetIdle(a.ID, w.now); err != nil {
			w.t.Fatal(err)
		}
	}
	for {
		m, ok := w.r.NextMatch(w.now)
		if !ok {
			break
		}
		var a Agent
		for _, x := range w.agents {
			if x.ID == m.AgentID {
				a = x
			}
		}
		w.check(a, w.waiting[m.CallID], true)
		w.claim(a.ID)
		w.serve(w.waiting[m.CallID])
	}
}

func (w *propWorld) claim(agentID string) {
	if err := w.r.SetBusy(agentID); err != nil {
		w.t.Fatal(err)
	}
	w.busy[agentID] = true
}

func runProperty(t *testing.T, name string, mod func(*Config)) *propWorld {
	t.Helper()
	w := newPropWorld(t, 42, mod)
	// Half-hours of overload (queues build, tiers fall behind, callers
	// escalate) alternate with half-hours under capacity (tiers recover
	// and go on target), for eight hours.
	for i := 0; i < 8*3600; i++ {
		arr := 0.13
		if (i/1800)%2 == 1 {
			arr = 0.19
		}
		w.step(arr, 1.0/150)
		if i%300 == 0 {
			for _, q := range []string{"general", "billing", "technical"} {
				w.checkPositions(q)
			}
		}
	}
	t.Logf("%s: %d decisions checked; saveable over overdue %d, escalated first %d, behind tier first %d, better level first %d, tier order %d",
		name, w.decisions, w.savedOverOverdue, w.escalatedWins, w.behindWins, w.levelWins, w.tierOrderWins)
	return w
}

// The default rule on a multi-skill day: every decision obeys escalation,
// saveable-first within a (queue, tier), skill-unless-behind and the tier
// order among on-target tiers — zero violations — and each rule was
// actually exercised.
func TestPropertyDefaultRule(t *testing.T) {
	w := runProperty(t, "default", nil)
	if w.decisions < 1000 || w.savedOverOverdue == 0 || w.escalatedWins == 0 || w.behindWins == 0 || w.levelWins == 0 || w.tierOrderWins == 0 {
		t.Fatal("the run did not exercise every rule")
	}
}

// The same checks under the other gap configurations that keep
// skill-unless-behind.
func TestPropertyVariants(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"gap-relative", func(c *Config) { c.Policy = PolicyGapRelative }},
		{"saveable, on-target gap", func(c *Config) { c.OnTarget = OnTargetGap }},
		{"saveable-any-tier", func(c *Config) { c.Within = WithinSaveableAnyTier }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := runProperty(t, tc.name, tc.mod)
			if w.decisions < 1000 {
				t.Fatalf("only %d decisions", w.decisions)
			}
		})
	}
}
