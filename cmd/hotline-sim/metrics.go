package main

import (
	"math"
	"time"
)

// runMetrics are the figures of one strategy on one drawn day.
type runMetrics struct {
	daySL, peakSL []float64
	allDayMet     bool // every tier met its target over the whole day
	peakPts       float64
	peakBud       float64 // worst shortfall at the peak in multiples of the tier's miss budget
	abandon       float64 // share of all callers who hung up while waiting (short abandons included)
	maxWait       []time.Duration
}

func measure(sc *scenario, res *result) runMetrics {
	day, pk := res.stats(sc, 0, sc.day), res.stats(sc, sc.peakStart, sc.peakEnd)
	m := runMetrics{allDayMet: true, peakPts: math.Inf(-1), peakBud: math.Inf(-1)}
	offered, abandoned := 0, 0
	for i, t := range sc.tiers {
		m.daySL = append(m.daySL, day[i].sl())
		m.peakSL = append(m.peakSL, pk[i].sl())
		if day[i].sl() < t.Target {
			m.allDayMet = false
		}
		short := t.Target - pk[i].sl()
		m.peakPts = math.Max(m.peakPts, short)
		m.peakBud = math.Max(m.peakBud, short/(1-t.Target))
		offered += day[i].offered
		abandoned += day[i].abandonedAll
		m.maxWait = append(m.maxWait, day[i].maxWait)
	}
	if offered > 0 {
		m.abandon = float64(abandoned) / float64(offered)
	}
	return m
}

// escalationBound is the wait after which the default rule escalates a
// caller of a tier: the reference for "no tier starves".
func escalationBound(threshold, escalateAfter time.Duration) time.Duration {
	if escalateAfter > 0 {
		return escalateAfter
	}
	return 4 * threshold
}

// sample is a set of per-seed values with its mean and 95 % confidence
// half-width (normal approximation; the tables use ≥ 100 seeds).
type sample []float64

func (s sample) mean() float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	var t float64
	for _, v := range s {
		t += v
	}
	return t / float64(len(s))
}

func (s sample) ci() float64 {
	n := len(s)
	if n < 2 {
		return math.NaN()
	}
	m := s.mean()
	var ss float64
	for _, v := range s {
		ss += (v - m) * (v - m)
	}
	return 1.96 * math.Sqrt(ss/float64(n-1)/float64(n))
}

// diff is the paired per-seed difference a − b.
func diff(a, b sample) sample {
	out := make(sample, len(a))
	for i := range a {
		out[i] = a[i] - b[i]
	}
	return out
}

// agg collects one strategy's runs over the seeds, in seed order.
type agg struct {
	st   strategy
	runs []runMetrics
}

func (a *agg) field(f func(runMetrics) float64) sample {
	out := make(sample, len(a.runs))
	for i, r := range a.runs {
		out[i] = f(r)
	}
	return out
}

func (a *agg) peakPts() sample { return a.field(func(r runMetrics) float64 { return r.peakPts }) }

func (a *agg) metShare() float64 {
	n := 0
	for _, r := range a.runs {
		if r.allDayMet {
			n++
		}
	}
	return float64(n) / float64(len(a.runs))
}

// maxWait is the longest answered wait of tier t over all seeds.
func (a *agg) maxWait(t int) time.Duration {
	var m time.Duration
	for _, r := range a.runs {
		m = max(m, r.maxWait[t])
	}
	return m
}

// goal is the acceptance check of the default rule on one scenario at one
// load (README "Routing").
type goal struct {
	strictMet, bothMet int  // seeds where strict met every day target; of those, where the default did too
	metOK              bool // bothMet ≥ 95 % of strictMet (vacuous when strict never met them)
	lowest             string
	peakDelta, peakCI  float64 // default − lowest worst peak shortfall, paired, 95 % CI
	peakOK             bool    // default lowest or within the CI of the lowest
	// starvation: the default's longest answered wait per tier against the
	// tier's escalation bound plus the longest wait under FIFO.
	starveChecked bool
	worstWait     time.Duration // the default's longest answered wait, any tier
	worstLimit    time.Duration // that tier's limit
	starveOK      bool
}

// evalGoal checks the default (aggs[0]) against the other strategies:
//   - day targets: in the seeds where strict priority met every tier's day
//     target, the default met them too in at least 95 % of them;
//   - peak: the default's worst-tier peak shortfall is the lowest of all
//     strategies run, or the paired 95 % CI of its difference to the lowest
//     includes 0;
//   - no starvation: no tier's longest answered wait exceeds its escalation
//     bound plus the longest answered wait under FIFO. Once escalated a
//     caller is served oldest-first ahead of everyone; FIFO's longest wait
//     is what an oldest-first queue costs at this load, so a longer wait
//     would mean escalation did not bound it.
func evalGoal(sc *model, aggs []*agg) goal {
	var g goal
	def := aggs[0]
	find := func(name string) *agg {
		for _, a := range aggs {
			if a.st.name == name {
				return a
			}
		}
		return nil
	}
	if strict := find("strict"); strict != nil {
		for i := range def.runs {
			if strict.runs[i].allDayMet {
				g.strictMet++
				if def.runs[i].allDayMet {
					g.bothMet++
				}
			}
		}
	}
	g.metOK = g.strictMet == 0 || float64(g.bothMet) >= 0.95*float64(g.strictMet)
	low := def
	for _, a := range aggs {
		if a.peakPts().mean() < low.peakPts().mean() {
			low = a
		}
	}
	g.lowest = low.st.name
	d := diff(def.peakPts(), low.peakPts())
	g.peakDelta, g.peakCI = d.mean(), d.ci()
	g.peakOK = low == def || g.peakDelta-g.peakCI <= 0
	g.starveOK = true
	if fifo := find("fifo"); fifo != nil {
		g.starveChecked = true
		var fifoMax time.Duration
		for t := range sc.tiers {
			fifoMax = max(fifoMax, fifo.maxWait(t))
		}
		worst := time.Duration(math.MinInt64)
		for t, ts := range sc.tiers {
			limit := escalationBound(ts.Threshold, ts.EscalateAfter) + fifoMax
			if w := def.maxWait(t); w-limit > worst {
				worst, g.worstWait, g.worstLimit = w-limit, w, limit
			}
		}
		g.starveOK = worst <= 0
	}
	return g
}
