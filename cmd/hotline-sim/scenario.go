package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/hotlinecc/hotline/routing"
)

// tierSpec is a tier plus its share of traffic and caller patience.
type tierSpec struct {
	routing.Tier
	share    float64
	patience time.Duration // mean of an exponential
}

type queueSpec struct {
	routing.Queue
	share float64
}

type agentSpec struct {
	routing.Agent
}

// arrival is one pre-drawn caller, identical for every strategy.
type arrival struct {
	at       time.Duration
	tier     int
	queue    int
	region   string
	patience time.Duration
	handle   time.Duration // at skill level 1
}

type scenario struct {
	seed       uint64
	day        time.Duration
	peakStart  time.Duration
	peakEnd    time.Duration
	wrapUp     time.Duration
	levelSlow  float64 // handle time grows by this share per skill level below 1
	meanHandle time.Duration
	tiers      []tierSpec
	queues     []queueSpec
	agents     []agentSpec
	arrivals   []arrival
	profile    func(time.Duration) float64
	baseRate   float64 // calls per second at profile 1
	load, peak float64
}

// defaultScenario: an 8-hour day, 60 agents with first/second/third skills
// in three queues, four tiers, arrivals at `load` of capacity rising to
// `peak` × that in hour 4 (an overload), lognormal handle times, impatient
// callers.
// params are the scenario's knobs (command-line flags).
type params struct {
	seed        uint64
	agents      int
	load, peak  float64
	handle      time.Duration // mean handle time at skill level 1
	handleSigma float64       // lognormal sigma of handle time
	patience    float64       // multiplies every tier's mean patience
}

func defaultParams() params {
	return params{seed: 1, agents: 60, load: 0.85, peak: 1.3, handle: 200 * time.Second, handleSigma: 0.5, patience: 1}
}

func defaultScenario(p params) *scenario {
	seed, nAgents, load, peak := p.seed, p.agents, p.load, p.peak
	sc := &scenario{
		seed: seed, day: 8 * time.Hour, peakStart: 3 * time.Hour, peakEnd: 4 * time.Hour,
		wrapUp: 10 * time.Second, levelSlow: 0.15, meanHandle: p.handle,
		load: load, peak: peak,
		tiers: []tierSpec{
			{routing.Tier{Name: "diamond", Target: 0.95, Threshold: 10 * time.Second, PreferredGroups: []string{"senior"}}, 0.10, 150 * time.Second},
			{routing.Tier{Name: "gold", Target: 0.90, Threshold: 15 * time.Second}, 0.15, 120 * time.Second},
			{routing.Tier{Name: "silver", Target: 0.85, Threshold: 20 * time.Second}, 0.25, 100 * time.Second},
			{routing.Tier{Name: "normal", Target: 0.80, Threshold: 20 * time.Second}, 0.50, 80 * time.Second},
		},
		queues: []queueSpec{
			{routing.Queue{Name: "general"}, 0.45},
			{routing.Queue{Name: "billing"}, 0.35},
			{routing.Queue{Name: "technical"}, 0.20},
		},
	}
	// Day profile: a morning ramp, the peak hour [3h, 4h), an afternoon lull.
	sc.profile = func(t time.Duration) float64 {
		h := t.Hours()
		switch {
		case h < 1:
			return 0.85 + 0.15*h
		case h < 2.5:
			return 1
		case h < 3:
			return 1 + (peak-1)*(h-2.5)*2
		case h < 4:
			return peak
		case h < 4.5:
			return peak - (peak-1)*(h-4)*2
		default:
			return 1 - 0.1*(h-4.5)/3.5
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0xCA11))
	regions := []string{"north", "south"}
	for i := 0; i < nAgents; i++ {
		a := routing.Agent{ID: fmt.Sprintf("%04d", 1001+i), Region: regions[i%2], Skills: map[string]int{}}
		switch f := float64(i) / float64(nAgents); {
		case f < 0.40:
			a.Skills["general"], a.Skills["billing"] = 1, 2
		case f < 0.67:
			a.Skills["billing"], a.Skills["general"] = 1, 2
		case f < 0.87:
			a.Skills["technical"], a.Skills["general"], a.Skills["billing"] = 1, 2, 3
		default:
			a.Skills["general"], a.Skills["billing"], a.Skills["technical"] = 1, 1, 2
			a.Groups = []string{"senior"}
		}
		if i%5 == 0 {
			a.Groups = []string{"senior"}
		}
		sc.agents = append(sc.agents, agentSpec{a})
	}
	// Capacity in calls per second if every call were handled at level 1.
	capacity := float64(nAgents) / (sc.meanHandle + sc.wrapUp).Seconds()
	sc.baseRate = load * capacity
	maxRate := sc.baseRate * math.Max(peak, 1)
	// Non-homogeneous Poisson arrivals by thinning.
	for t := time.Duration(0); ; {
		t += time.Duration(rng.ExpFloat64() / maxRate * float64(time.Second))
		if t >= sc.day {
			break
		}
		if rng.Float64() > sc.baseRate*sc.profile(t)/maxRate {
			continue
		}
		a := arrival{at: t, tier: pick(rng, len(sc.tiers), func(i int) float64 { return sc.tiers[i].share }),
			queue: pick(rng, len(sc.queues), func(i int) float64 { return sc.queues[i].share })}
		switch r := rng.Float64(); {
		case r < 0.4:
			a.region = "north"
		case r < 0.8:
			a.region = "south"
		}
		a.patience = time.Duration(rng.ExpFloat64() * p.patience * float64(sc.tiers[a.tier].patience))
		// Lognormal handle time with mean meanHandle.
		sigma := p.handleSigma
		mu := math.Log(sc.meanHandle.Seconds()) - sigma*sigma/2
		a.handle = time.Duration(math.Exp(mu+sigma*rng.NormFloat64()) * float64(time.Second))
		sc.arrivals = append(sc.arrivals, a)
	}
	return sc
}

func pick(rng *rand.Rand, n int, share func(int) float64) int {
	r := rng.Float64()
	for i := 0; i < n-1; i++ {
		if r < share(i) {
			return i
		}
		r -= share(i)
	}
	return n - 1
}

// strategy is a routing configuration under test.
type strategy struct {
	name string
	desc string
	mod  func(*routing.Config)
}

func strategies() []strategy {
	return []strategy{
		// The baselines order callers across all the agent's queues (skill
		// level only breaks ties) so that only the tier order differs.
		{"fifo", "oldest caller first, tiers ignored", func(c *routing.Config) {
			c.Policy, c.SkillRule = routing.PolicyFIFO, routing.GapFirst
		}},
		{"strict", "strict tier priority", func(c *routing.Config) {
			c.Policy, c.SkillRule = routing.PolicyStrict, routing.GapFirst
		}},
		{"gap-abs", "SL gap, absolute (target − actual)", func(c *routing.Config) { c.Policy = routing.PolicyGapAbsolute }},
		{"gap-rel", "SL gap, relative to miss budget (DEFAULT)", func(c *routing.Config) {}},
		{"gap-rel/skill-first", "gap-rel, best skill level always first", func(c *routing.Config) { c.SkillRule = routing.SkillFirst }},
		{"gap-rel/gap-first", "gap-rel, gap before skill level", func(c *routing.Config) { c.SkillRule = routing.GapFirst }},
		{"gap-rel/no-waiting", "default, waiting callers past n s not counted", func(c *routing.Config) { c.IgnoreWaitingMisses = true }},
		{"gap-rel/window-15m", "default, 15-minute SL window", func(c *routing.Config) { c.Window, c.Buckets = 15*time.Minute, 15 }},
		{"gap-rel/no-escalate", "default, without age escalation", func(c *routing.Config) {
			for i := range c.Tiers {
				c.Tiers[i].EscalateAfter = -1
			}
		}},
	}
}

func (sc *scenario) routingConfig(st strategy) routing.Config {
	c := routing.Config{ShortAbandon: 5 * time.Second, Seed: sc.seed}
	for _, t := range sc.tiers {
		c.Tiers = append(c.Tiers, t.Tier)
	}
	for _, q := range sc.queues {
		c.Queues = append(c.Queues, q.Queue)
	}
	st.mod(&c)
	return c
}
