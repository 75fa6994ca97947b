package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// printDetail prints one seed's counts per strategy and tier (whole day and
// peak hour): what a supervisor's report would show for that day.
func printDetail(w io.Writer, sc *scenario, results []*result) {
	fmt.Fprintf(w, "\n-- detail of seed %d: %d callers, SL = answered within n s ÷ (answered + abandoned after %s), by arrival period --\n",
		sc.seed, len(sc.arrivals), sc.shortAbandon)
	for _, period := range []struct {
		name     string
		from, to time.Duration
	}{{"whole day", 0, sc.day}, {"peak hour " + sc.clock(sc.peakStart) + "–" + sc.clock(sc.peakEnd), sc.peakStart, sc.peakEnd}} {
		fmt.Fprintf(w, "%s:\n", period.name)
		fmt.Fprintf(w, "  %-26s %-10s %7s %7s %7s %7s %7s %7s %8s\n", "strategy", "tier", "offered", "answer", "abandon", "SL", "target", "ASA", "max wait")
		for _, r := range results {
			for i, s := range r.stats(sc, period.from, period.to) {
				name := ""
				if i == 0 {
					name = r.st.name
				}
				mark := " "
				if s.sl() < sc.tiers[i].Target {
					mark = "✗"
				}
				fmt.Fprintf(w, "  %-26s %-10s %7d %7d %7d %6s%s %6s %7s %7.0fs\n", name, sc.tiers[i].Name, s.offered, s.answered, s.abandonedAll,
					pct(s.sl()), mark, pct(sc.tiers[i].Target), secs(s.asa()), s.maxWait.Seconds())
			}
		}
	}
}

func (m *model) header() string {
	callers := m.baseRate * 3600 * sum(m.curve)
	return fmt.Sprintf("%s — base load %.0f%% of capacity, peak hour %s–%s at %.0f%%; %d agents, %d tiers, %d queues, ~%.0f callers/day",
		m.name, 100*m.load, m.clock(m.peakStart), m.clock(m.peakEnd), 100*m.peakLoad(), len(m.agents), len(m.tiers), len(m.queues), callers)
}

func sum(xs []float64) float64 {
	var t float64
	for _, x := range xs {
		t += x
	}
	return t
}

// printTable prints the per-scenario table over all seeds: per tier the
// mean SL over the day and at the peak; the share of seeds meeting every
// day target; the worst tier's peak shortfall in points (mean ± 95 % CI,
// and paired against the default) and in miss budgets; abandons; the
// longest answered wait per tier over all seeds.
func printTable(w io.Writer, m *model, seeds []uint64, aggs []*agg) {
	fmt.Fprintf(w, "\n== %s ==\n", m.header())
	fmt.Fprintf(w, "%d paired seeds (%d..%d), mean ± 95%% CI; SL %% day|peak per tier; Δ = paired difference to %s\n",
		len(seeds), seeds[0], seeds[len(seeds)-1], aggs[0].st.name)
	fmt.Fprintf(w, "%-27s", "rule")
	for _, t := range m.tiers {
		fmt.Fprintf(w, " %13s", fmt.Sprintf("%s %.0f/%.0fs", trunc(t.Name, 7), 100*t.Target, t.Threshold.Seconds()))
	}
	fmt.Fprintf(w, " %7s %13s %13s %9s %7s  %s\n", "day met", "peak worst", "Δ", "×budget", "abandon", "longest answered wait per tier")
	def := aggs[0]
	for _, a := range aggs {
		fmt.Fprintf(w, "%-27s", a.st.name)
		for t := range m.tiers {
			d := a.field(func(r runMetrics) float64 { return r.daySL[t] }).mean()
			p := a.field(func(r runMetrics) float64 { return r.peakSL[t] }).mean()
			fmt.Fprintf(w, " %13s", fmt.Sprintf("%.1f|%.1f", 100*d, 100*p))
		}
		pp := a.peakPts()
		delta := "—"
		if a != def {
			d := diff(pp, def.peakPts())
			delta = fmt.Sprintf("%+.1f±%.1f", 100*d.mean(), 100*d.ci())
		}
		var waits []string
		for t := range m.tiers {
			waits = append(waits, fmt.Sprintf("%.0f", a.maxWait(t).Seconds()))
		}
		fmt.Fprintf(w, " %6.0f%% %13s %13s %9.2f %6.1f%%  %ss\n", 100*a.metShare(), fmt.Sprintf("%+.1f±%.1f", 100*pp.mean(), 100*pp.ci()), delta,
			a.field(func(r runMetrics) float64 { return r.peakBud }).mean(),
			100*a.field(func(r runMetrics) float64 { return r.abandon }).mean(), strings.Join(waits, "/"))
	}
	var bounds []string
	for _, t := range m.tiers {
		bounds = append(bounds, fmt.Sprintf("%.0f", escalationBound(t.Threshold, t.EscalateAfter).Seconds()))
	}
	fmt.Fprintf(w, "(escalation bounds per tier: %ss; \"peak worst\" = the worst tier's target − peak SL in points, negative = every tier above target)\n", strings.Join(bounds, "/"))
	for _, a := range aggs {
		if a != def && a.st.name != "strict" {
			continue
		}
		var per []string
		for t, ts := range m.tiers {
			n := 0
			for _, r := range a.runs {
				if r.daySL[t] >= ts.Target {
					n++
				}
			}
			per = append(per, fmt.Sprintf("%s %.0f%%", ts.Name, 100*float64(n)/float64(len(a.runs))))
		}
		fmt.Fprintf(w, "seeds meeting each tier's day target, %s: %s\n", a.st.name, strings.Join(per, ", "))
	}
	g := evalGoal(m, aggs)
	fmt.Fprintf(w, "goal for %s: %s\n", def.st.name, g.String(def.st.name))
}

func (g goal) String(def string) string {
	mark := func(ok bool) string {
		if ok {
			return "✓"
		}
		return "✗"
	}
	met := fmt.Sprintf("day targets met in %d of the %d seeds where strict met them %s", g.bothMet, g.strictMet, mark(g.metOK))
	peak := "lowest peak worst shortfall ✓"
	if g.lowest != def {
		peak = fmt.Sprintf("peak worst shortfall %+.1f±%.1f pts vs the lowest (%s) %s", 100*g.peakDelta, 100*g.peakCI, g.lowest, mark(g.peakOK))
	}
	starve := "no starvation check (fifo not run)"
	if g.starveChecked {
		starve = fmt.Sprintf("longest answered wait %.0f s vs escalation bound + FIFO's longest %.0f s (closest tier) %s", g.worstWait.Seconds(), g.worstLimit.Seconds(), mark(g.starveOK))
	}
	return met + "; " + peak + "; " + starve
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// sweepRow is one load level of a sweep.
type sweepRow struct {
	load float64
	aggs []*agg
	goal goal
}

// printSweep prints, per scenario, a matrix rules × load levels of the
// worst tier's peak shortfall with the share of seeds meeting every day
// target, then the goal check per load.
func printSweep(w io.Writer, m *model, seeds []uint64, rows []sweepRow) {
	fmt.Fprintf(w, "\n== sweep: %s (%d paired seeds) ==\n", m.name, len(seeds))
	fmt.Fprintf(w, "worst tier's peak shortfall in points (mean) [share of seeds meeting every day target]\n")
	fmt.Fprintf(w, "%-27s", "rule \\ base load")
	for _, r := range rows {
		fmt.Fprintf(w, " %15s", fmt.Sprintf("%.0f%%", 100*r.load))
	}
	fmt.Fprintln(w)
	for i, a := range rows[0].aggs {
		fmt.Fprintf(w, "%-27s", a.st.name)
		for _, r := range rows {
			b := r.aggs[i]
			fmt.Fprintf(w, " %15s", fmt.Sprintf("%+.1f [%3.0f%%]", 100*b.peakPts().mean(), 100*b.metShare()))
		}
		fmt.Fprintln(w)
	}
	for _, r := range rows {
		fmt.Fprintf(w, "  %3.0f%%: %s\n", 100*r.load, r.goal.String(rows[0].aggs[0].st.name))
	}
}

func pct(x float64) string { return fmt.Sprintf("%5.1f%%", 100*x) }

func secs(d time.Duration) string { return fmt.Sprintf("%5.1fs", d.Seconds()) }
