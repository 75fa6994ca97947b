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
	seed := fs.Uint64("seed", 1, "random seed (same arrivals for every strategy)")
	peak := fs.Float64("peak", 1.3, "arrival rate at the peak relative to the base rate")
	load := fs.Float64("load", 0.85, "base offered load as a share of agent capacity")
	agents := fs.Int("agents", 60, "number of agents")
	svg := fs.String("svg", "hotline-sim.svg", "SVG chart output (empty: none)")
	only := fs.String("strategies", "", "comma-separated strategy names to run (default all)")
	seeds := fs.Int("seeds", 10, "also average the summary over this many seeds starting at -seed (1 = off)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sc := defaultScenario(*seed, *agents, *load, *peak)
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
		if err := printAverages(out, *seed, *seeds, *agents, *load, *peak, *only); err != nil {
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
