// Command hotline-sim is a discrete-event simulator of the call centre that
// runs the real routing package (not a copy) to compare tier strategies on
// the same random seed: FIFO, strict tier priority and the service-level gap
// (absolute and relative), plus variants of the default. It prints, per
// strategy and tier, offered / answered / abandoned / service level against
// target / average speed of answer for the whole day and for the peak hour,
// the worst tier's shortfall, and writes an SVG chart of each tier's service
// level over the day.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		slog.Error("hotline-sim", "err", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("hotline-sim", flag.ContinueOnError)
	d := defaultParams()
	var p params
	fs.Uint64Var(&p.seed, "seed", d.seed, "random seed (same arrivals for every strategy)")
	fs.Float64Var(&p.peak, "peak", d.peak, "arrival rate at the peak relative to the base rate")
	fs.Float64Var(&p.load, "load", d.load, "base offered load as a share of agent capacity")
	fs.IntVar(&p.agents, "agents", d.agents, "number of agents")
	fs.DurationVar(&p.handle, "handle", d.handle, "mean handle time at skill level 1 (lognormal)")
	fs.Float64Var(&p.handleSigma, "handle-sigma", d.handleSigma, "lognormal sigma of the handle time (0 = constant)")
	fs.Float64Var(&p.patience, "patience", d.patience, "scale of the callers' mean patience (exponential; 150/120/100/80 s per tier at 1)")
	svg := fs.String("svg", "hotline-sim.svg", "SVG chart output (empty: none)")
	only := fs.String("strategies", "", "comma-separated strategy names to run (default all)")
	seeds := fs.Int("seeds", 10, "also average the summary over this many seeds starting at -seed (1 = off)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if p.agents < 1 || p.load <= 0 || p.peak <= 0 || p.handle <= 0 || p.handleSigma < 0 || p.patience <= 0 {
		return fmt.Errorf("agents, load, peak, handle and patience must be positive")
	}
	sc := defaultScenario(p)
	var results []*result
	for _, st := range strategies() {
		if *only != "" && !contains(strings.Split(*only, ","), st.name) {
			continue
		}
		r, err := simulate(sc, st)
		if err != nil {
			return fmt.Errorf("strategy %s: %w", st.name, err)
		}
		results = append(results, r)
	}
	if len(results) == 0 {
		return fmt.Errorf("no strategy selected from %q", *only)
	}
	printReport(out, sc, results)
	if *seeds > 1 {
		if err := printAverages(out, p, *seeds, *only); err != nil {
			return err
		}
	}
	if *svg != "" {
		f, err := os.Create(*svg)
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
		fmt.Fprintf(out, "\nchart: %s\n", *svg)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}

func pct(x float64) string { return fmt.Sprintf("%5.1f%%", 100*x) }

func secs(d time.Duration) string { return fmt.Sprintf("%5.1fs", d.Seconds()) }
