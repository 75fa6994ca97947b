package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A labelled histogram (one child per decision kind) is read as the sum of
// its children, and two nodes' histograms add up bucket by bucket.
func TestSumHistogram(t *testing.T) {
	page := `# TYPE hotline_routing_decision_seconds histogram
hotline_routing_decision_seconds_bucket{kind="agent_freed",le="1e-06"} 1
hotline_routing_decision_seconds_bucket{kind="agent_freed",le="1e-05"} 3
hotline_routing_decision_seconds_bucket{kind="agent_freed",le="+Inf"} 4
hotline_routing_decision_seconds_sum{kind="agent_freed"} 0.0001
hotline_routing_decision_seconds_count{kind="agent_freed"} 4
hotline_routing_decision_seconds_bucket{kind="call_arrived",le="1e-06"} 0
hotline_routing_decision_seconds_bucket{kind="call_arrived",le="1e-05"} 6
hotline_routing_decision_seconds_bucket{kind="call_arrived",le="+Inf"} 6
hotline_routing_decision_seconds_sum{kind="call_arrived"} 0.00003
hotline_routing_decision_seconds_count{kind="call_arrived"} 6
other_bucket{le="1"} 9
`
	h, err := parseHistogram(page, decisionMetric)
	if err != nil {
		t.Fatal(err)
	}
	if h.Count != 10 || math.Abs(h.Sum-0.00013) > 1e-12 {
		t.Fatalf("count %v sum %v, want 10 and 0.00013", h.Count, h.Sum)
	}
	want := []float64{1, 9, 10}
	for i, c := range h.Counts {
		if c != want[i] {
			t.Fatalf("cumulative counts %v, want %v (bounds %v)", h.Counts, want, h.Bounds)
		}
	}
	if !math.IsInf(h.Bounds[2], 1) {
		t.Fatalf("bounds %v: +Inf must sort last", h.Bounds)
	}
	two := h.Add(h)
	if two.Count != 20 || two.Counts[1] != 18 {
		t.Fatalf("sum of two nodes: %+v", two)
	}
	if empty := (histogram{}).Add(h); empty.Count != 10 {
		t.Fatalf("empty + h = %+v", empty)
	}
}

// The cluster configuration keeps the load configuration but lists exactly
// the generated agents (plus the supervisor) with absolute paths.
func TestWriteClusterConfig(t *testing.T) {
	o, err := parseFlags([]string{"-scenario", "cluster", "-agents", "4", "-config", "../../testdata/load/hotline-load.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.rates) != 2 || o.rates[0] != 20 || o.rates[1] != 40 {
		t.Errorf("cluster default rates %v, want 20,40", o.rates)
	}
	o.workDir = t.TempDir()
	path, err := writeClusterConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for _, want := range []string{`id: "2001"`, `id: "2004"`, `id: "9001"`, "wrap_up: 10ms", "flows: " + filepath.Join(o.workDir, "cluster-config", "flows")} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q", want)
		}
	}
	for _, gone := range []string{`id: "1001"`, `id: "2005"`, "prompts: ../"} {
		if strings.Contains(cfg, gone) {
			t.Errorf("config still has %q", gone)
		}
	}
	if _, err := os.Stat(filepath.Join(o.workDir, "cluster-config", "flows", "main.yaml")); err != nil {
		t.Error(err)
	}
}
