package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd/redisstore/redistest"
)

// pendingMetrics are named by the operator's kit but exported by work not
// merged on this branch yet: hotline_bans_active comes with the brute-force
// bans (issue #13). Remove an entry once its metric is exported.
var pendingMetrics = map[string]string{"hotline_bans_active": "issue #13 (brute-force bans)"}

var metricName = regexp.MustCompile(`\bhotline_[a-z0-9_]+`)

// The operator's kit (cmd/hotline/ops): the alert rules pass promtool's
// check and their unit tests (alerts_test.yml: they fire when they should,
// and a tier with no data never does), the Grafana dashboard is a
// dashboard, and every metric the rules and the dashboard name is exported
// by a running engine (cluster mode, so that the cluster metrics are
// there) — with names and help promtool accepts.
func TestOpsKit(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool (Debian package prometheus) is needed: go run ./cmd/hotline-testsuite installs it: %v", err)
	}
	for _, args := range [][]string{{"check", "rules", "ops/alerts.yml"}, {"test", "rules", "ops/alerts_test.yml"}} {
		if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	named := map[string]string{} // metric → where
	rules, err := os.ReadFile("ops/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(rules), "\n") {
		if expr, ok := strings.CutPrefix(strings.TrimSpace(line), "expr:"); ok {
			for _, m := range metricName.FindAllString(expr, -1) {
				named[m] = "alerts.yml"
			}
		}
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	b, err := os.ReadFile("ops/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	graphs := 0
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		graphs++
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range metricName.FindAllString(tg.Expr, -1) {
				named[m] = "grafana-dashboard.json"
			}
		}
	}
	if dash.Title == "" || graphs < 10 {
		t.Fatalf("dashboard %q with %d panels", dash.Title, graphs)
	}

	srv := redistest.Start(t)
	bin := binary(t)
	n := startNode(t, bin, clusterConfig(t, srv.Addr), "n1", 30600)
	eventually(t, "joined", 15*time.Second, func() bool { return n.metric(t, "hotline_cluster_degraded") == "0" })
	// One answered call, so that a service level exists (without calls it
	// is absent by design).
	agentPhone(t, n, "1003", 500)
	eventually(t, "1003 ready", 20*time.Second, func() bool { return n.agents(t)["1003"].State == "ready" })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	placeCall(t, ctx, &wg, n, "13800000001")
	wg.Wait()
	eventually(t, "a service level", 20*time.Second, func() bool { return hasSeries(t, n, "hotline_service_level_ratio{") })
	resp, err := http.Get("http://" + n.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	exposition, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(exposition))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		exported[name] = true
	}
	var missing []string
	for m, where := range named {
		if exported[m] {
			continue
		}
		if why, ok := pendingMetrics[m]; ok {
			t.Logf("%s (named in %s) comes with %s", m, where, why)
			continue
		}
		missing = append(missing, m+" ("+where+")")
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("named by the kit but not exported: %v", missing)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	var problems []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "hotline_") {
			problems = append(problems, l)
		}
	}
	if len(problems) > 0 {
		t.Fatalf("promtool check metrics on the engine's metrics (%v):\n%s", err, strings.Join(problems, "\n"))
	}
}

// hasSeries reports whether /metrics has a line starting with prefix.
func hasSeries(t *testing.T, n *node, prefix string) bool {
	t.Helper()
	resp, err := http.Get("http://" + n.http + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			return true
		}
	}
	return false
}
