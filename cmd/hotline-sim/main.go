// Command hotline-sim is a discrete-event simulator of a call centre that
// runs the real routing package (not a copy) to compare tier rules on the
// same callers. A scenario (agents and skills, tiers and targets, queues and
// traffic shares, hourly load curve, handle time, patience and wrap-up) is
// a YAML file; six ship embedded. Every rule sees the same pre-drawn callers
// per seed, and the tables are means over many such paired seeds with 95 %
// confidence intervals: per tier the service level over the day and in the
// peak hour, the share of seeds meeting every day target, the worst tier's
// peak shortfall in points and in miss budgets, abandons and the longest
// answered wait. -sweep repeats a scenario over base load levels.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		slog.Error("hotline-sim", "err", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("hotline-sim", flag.ContinueOnError)
	fs.SetOutput(out)
	scen := fs.String("scenario", "", "comma-separated shipped scenario names or YAML paths (default: every shipped scenario)")
	seed := fs.Uint64("seed", 1, "first seed")
	nSeeds := fs.Int("seeds", 100, "number of paired seeds")
	only := fs.String("strategies", "rules", `"rules" (the selectable acd.policy rules), "all" (rules and variants of the default) or a comma-separated list`)
	load := fs.Float64("load", 0, "override the scenarios' base load (share of capacity, e.g. 0.9)")
	sweep := fs.String("sweep", "", "comma-separated base loads to sweep, e.g. 0.8,0.85,0.9,0.95,1.1 (prints a matrix per scenario)")
	detail := fs.Bool("detail", false, "also print the first seed's per-tier counts (day and peak hour)")
	svg := fs.String("svg", "", "write a chart of each tier's SL over the first seed's day of the first scenario")
	list := fs.Bool("list", false, "list the shipped scenarios and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *list {
		for _, n := range shippedNames() {
			m, err := loadScenario(n)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%-20s %s\n", n, firstLine(m.desc))
		}
		return nil
	}
	if *nSeeds < 1 || *nSeeds > 100000 {
		return fmt.Errorf("-seeds: %d not in 1..100000", *nSeeds)
	}
	if *load < 0 {
		return fmt.Errorf("-load: must be positive")
	}
	sts, err := selectStrategies(*only)
	if err != nil {
		return err
	}
	names := shippedNames()
	if *scen != "" {
		names = strings.Split(*scen, ",")
	}
	var models []*model
	for _, n := range names {
		m, err := loadScenario(strings.TrimSpace(n))
		if err != nil {
			return err
		}
		if *load > 0 {
			m = m.withLoad(*load)
		}
		models = append(models, m)
	}
	var loads []float64
	if *sweep != "" {
		for _, s := range strings.Split(*sweep, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil || v <= 0 || v >= 10 {
				return fmt.Errorf("-sweep: bad load %q", s)
			}
			loads = append(loads, v)
		}
	}
	seeds := make([]uint64, *nSeeds)
	for i := range seeds {
		seeds[i] = *seed + uint64(i)
	}
	for k, m := range models {
		if loads == nil {
			aggs, first, err := runSeeds(m, seeds, sts)
			if err != nil {
				return err
			}
			printTable(out, m, seeds, aggs)
			if *detail {
				printDetail(out, first.sc, first.results)
			}
			if k == 0 && *svg != "" {
				if err := writeSVGFile(*svg, first.sc, first.results); err != nil {
					return err
				}
				fmt.Fprintf(out, "chart: %s\n", *svg)
			}
			continue
		}
		var rows []sweepRow
		for _, l := range loads {
			ml := m.withLoad(l)
			aggs, _, err := runSeeds(ml, seeds, sts)
			if err != nil {
				return err
			}
			rows = append(rows, sweepRow{load: l, aggs: aggs, goal: evalGoal(ml, aggs)})
		}
		printSweep(out, m, seeds, rows)
	}
	return nil
}

// firstLine is the first sentence of a description.
func firstLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

// firstSeed keeps the first seed's full results for -detail and -svg.
type firstSeed struct {
	sc      *scenario
	results []*result
}

// runSeeds simulates every strategy on every seed (same callers for every
// strategy within a seed) and collects the metrics.
func runSeeds(m *model, seeds []uint64, sts []strategy) ([]*agg, firstSeed, error) {
	aggs := make([]*agg, len(sts))
	for i, st := range sts {
		aggs[i] = &agg{st: st}
	}
	var first firstSeed
	for k, s := range seeds {
		sc := m.draw(s)
		for i, st := range sts {
			res, err := simulate(sc, st)
			if err != nil {
				return nil, first, fmt.Errorf("%s seed %d strategy %s: %w", m.name, s, st.name, err)
			}
			aggs[i].runs = append(aggs[i].runs, measure(sc, res))
			if k == 0 {
				first.sc = sc
				first.results = append(first.results, res)
			}
		}
	}
	return aggs, first, nil
}

func writeSVGFile(path string, sc *scenario, results []*result) error {
	for _, r := range results {
		r.sample(sc)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create svg: %w", err)
	}
	if err := writeSVG(f, sc, results); err != nil {
		f.Close()
		return fmt.Errorf("write svg: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close svg: %w", err)
	}
	return nil
}
