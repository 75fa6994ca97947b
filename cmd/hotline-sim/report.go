package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// shortfall is how far the worst tier is below target, in SL points and
// as a share of its miss budget.
func shortfall(sc *scenario, st []tierStats) (points float64, worst string, budget float64) {
	points, budget = math.Inf(-1), math.Inf(-1)
	for i, s := range st {
		p := sc.tiers[i].Target - s.sl()
		if p > points {
			points, worst = p, sc.tiers[i].Name
		}
		if b := p / (1 - sc.tiers[i].Target); b > budget {
			budget = b
		}
	}
	return points, worst, budget
}

func printReport(w io.Writer, sc *scenario, results []*result) {
	fmt.Fprintf(w, "hotline-sim: seed %d, %d agents, %d callers over %s, base load %.0f%% of capacity, peak ×%.2f in [%s, %s)\n",
		sc.seed, len(sc.agents), len(sc.arrivals), sc.day, 100*sc.load, sc.peak, sc.peakStart, sc.peakEnd)
	fmt.Fprintf(w, "SL = answered within n s ÷ (answered + abandoned after 5 s), by arrival period\n")
	for _, period := range []struct {
		name     string
		from, to time.Duration
	}{{"WHOLE DAY", 0, sc.day}, {"PEAK HOUR", sc.peakStart, sc.peakEnd}} {
		fmt.Fprintf(w, "\n== %s ==\n", period.name)
		fmt.Fprintf(w, "%-20s %-8s %7s %7s %7s %7s %7s %7s\n", "strategy", "tier", "offered", "answer", "abandon", "SL", "target", "ASA")
		for _, r := range results {
			st := r.stats(sc, period.from, period.to)
			for i, s := range st {
				name := ""
				if i == 0 {
					name = r.st.name
				}
				mark := " "
				if s.sl() < sc.tiers[i].Target {
					mark = "✗"
				}
				fmt.Fprintf(w, "%-20s %-8s %7d %7d %7d %6s%s %6s %7s\n", name, sc.tiers[i].Name, s.offered, s.answered, s.abandoned,
					pct(s.sl()), mark, pct(sc.tiers[i].Target), secs(s.asa()))
			}
		}
	}
	fmt.Fprintf(w, "\n== SUMMARY: SL per tier (whole day | peak hour) and worst tier's shortfall ==\n")
	fmt.Fprintf(w, "%-20s", "strategy")
	for _, t := range sc.tiers {
		fmt.Fprintf(w, " %15s", fmt.Sprintf("%s %.0f%%", t.Name, 100*t.Target))
	}
	fmt.Fprintf(w, " %26s %14s\n", "peak worst shortfall", "peak worst/bud")
	for _, r := range results {
		day := r.stats(sc, 0, sc.day)
		pk := r.stats(sc, sc.peakStart, sc.peakEnd)
		fmt.Fprintf(w, "%-20s", r.st.name)
		for i := range sc.tiers {
			fmt.Fprintf(w, " %15s", strings.TrimSpace(pct(day[i].sl()))+" | "+strings.TrimSpace(pct(pk[i].sl())))
		}
		p, worst, b := shortfall(sc, pk)
		fmt.Fprintf(w, " %26s %14s\n", fmt.Sprintf("%s %+.1f pts", worst, 100*p), fmt.Sprintf("%.2f", b))
	}
	fmt.Fprintf(w, "\nstrategies:\n")
	for _, r := range results {
		fmt.Fprintf(w, "  %-20s %s\n", r.st.name, r.st.desc)
	}
}

// printAverages reruns every strategy on n seeds and prints the mean
// per-tier SL (day | peak) and the mean peak worst-tier shortfall, so the
// choice of default does not rest on one lucky seed.
func printAverages(w io.Writer, p params, n int, only string) error {
	seed := p.seed
	type acc struct {
		name          string
		day, pk       []float64
		pts, bud, asa float64
		maxWait       []time.Duration
	}
	var accs []*acc
	var sc *scenario
	for k := 0; k < n; k++ {
		ps := p
		ps.seed = seed + uint64(k)
		sc = defaultScenario(ps)
		i := 0
		for _, st := range strategies() {
			if only != "" && !contains(strings.Split(only, ","), st.name) {
				continue
			}
			r, err := simulate(sc, st)
			if err != nil {
				return fmt.Errorf("seed %d strategy %s: %w", seed+uint64(k), st.name, err)
			}
			if k == 0 {
				accs = append(accs, &acc{name: st.name, day: make([]float64, len(sc.tiers)), pk: make([]float64, len(sc.tiers)), maxWait: make([]time.Duration, len(sc.tiers))})
			}
			a := accs[i]
			i++
			day, pk := r.stats(sc, 0, sc.day), r.stats(sc, sc.peakStart, sc.peakEnd)
			for t := range sc.tiers {
				a.day[t] += day[t].sl() / float64(n)
				a.pk[t] += pk[t].sl() / float64(n)
				if day[t].maxWait > a.maxWait[t] {
					a.maxWait[t] = day[t].maxWait
				}
			}
			p, _, b := shortfall(sc, pk)
			a.pts += p / float64(n)
			a.bud += b / float64(n)
		}
	}
	fmt.Fprintf(w, "\n== MEAN OVER SEEDS %d..%d: SL per tier (whole day | peak hour), longest answered wait, peak worst shortfall ==\n", seed, seed+uint64(n)-1)
	fmt.Fprintf(w, "%-22s", "strategy")
	for _, t := range sc.tiers {
		fmt.Fprintf(w, " %22s", fmt.Sprintf("%s %.0f%%/%.0fs", t.Name, 100*t.Target, t.Threshold.Seconds()))
	}
	fmt.Fprintf(w, " %10s %10s\n", "worst pts", "worst/bud")
	for _, a := range accs {
		fmt.Fprintf(w, "%-22s", a.name)
		for t := range sc.tiers {
			fmt.Fprintf(w, " %22s", fmt.Sprintf("%.1f|%.1f%% max%4.0fs", 100*a.day[t], 100*a.pk[t], a.maxWait[t].Seconds()))
		}
		fmt.Fprintf(w, " %10s %10s\n", fmt.Sprintf("%+.1f", 100*a.pts), fmt.Sprintf("%.2f", a.bud))
	}
	return nil
}
