package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/redisstore"
	"github.com/hotlinecc/hotline/acd/redisstore/redistest"
	"github.com/hotlinecc/hotline/sip/sipptest"
)

// clusterFlow sends every caller straight to the general queue after the
// customer lookup, so the tests time the ACD, not prompts.
const clusterFlow = `name: main
start: identify
nodes:
  identify: {type: lookup, by: caller, timeout: 300ms, default_tier: normal, next: q}
  q: {type: queue, queue: general, max_wait: 90s, overflow: bye, next: bye}
  bye: {type: hangup, reason: done}
`

// clusterConfig writes the demo configuration with absolute paths, the
// short flow above, 1 s wrap-up, a diamond target of 80 % within 1 s (a
// diamond caller waiting longer drags its tier behind at once) and the
// Redis store.
func clusterConfig(t *testing.T, redisAddr string, extra ...string) string {
	t.Helper()
	src, err := os.ReadFile("../../testdata/hotline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	testdata, err := filepath.Abs("../../testdata")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "flows"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "flows", "main.yaml"), []byte(clusterFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := string(src)
	for i := 0; i+1 < len(extra); i += 2 {
		if !strings.Contains(cfg, extra[i]) {
			t.Fatalf("demo configuration lacks %q", extra[i])
		}
		cfg = strings.ReplaceAll(cfg, extra[i], extra[i+1])
	}
	for from, to := range map[string]string{
		"flows: flows":                             "flows: " + filepath.Join(dir, "flows"),
		"prompts: prompts":                         "prompts: " + filepath.Join(testdata, "prompts"),
		"campaigns: campaigns":                     "campaigns: " + filepath.Join(testdata, "campaigns"),
		"file: crm/customers.csv":                  "file: " + filepath.Join(testdata, "crm", "customers.csv"),
		"wrap_up: 5s":                              "wrap_up: 1s",
		"{name: diamond, target: 95, within: 10s}": "{name: diamond, target: 80, within: 1s}",
		"ring_timeout: 15s":                        "ring_timeout: 4s",
	} {
		if !strings.Contains(cfg, from) {
			t.Fatalf("demo configuration lacks %q", from)
		}
		cfg = strings.ReplaceAll(cfg, from, to)
	}
	cfg += fmt.Sprintf("\nstore: redis\nredis:\n  addr: %s\n  prefix: \"cl:\"\n  lease_ttl: 1500ms\n  timeout: 300ms\n", redisAddr)
	path := filepath.Join(dir, "hotline.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// node is one engine process of the cluster under test.
type node struct {
	name    string
	proc    *proc
	sip     string
	http    string
	records string
}

func startNode(t *testing.T, bin, cfg, name string, rtpBase int) *node {
	t.Helper()
	sipPort := sipptest.FreeUDPPort(t)
	httpPort := freeTCPPort(t)
	n := &node{name: name, sip: fmt.Sprintf("127.0.0.1:%d", sipPort), http: fmt.Sprintf("127.0.0.1:%d", httpPort), records: t.TempDir()}
	n.proc = startConfig(t, bin, cfg, []string{
		"HOTLINE_SIP_UDP=" + n.sip, "HOTLINE_SIP_TCP=" + n.sip, "HOTLINE_HTTP_LISTEN=" + n.http,
		fmt.Sprintf("HOTLINE_RTP_PORTS=%d-%d", rtpBase, rtpBase+199),
		"HOTLINE_NODE=" + name, "HOTLINE_RECORDS=" + n.records, "HOTLINE_RECORDINGS=" + t.TempDir(),
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node %s log:\n%s", name, n.proc.logText())
		}
	})
	return n
}

// agents is GET /api/agents as a supervisor sees it.
func (n *node) agents(t *testing.T) map[string]struct{ State, Node, CallNode string } {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+n.http+"/api/agents", nil)
	req.SetBasicAuth("9001", "pass9001")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var list []struct {
		Profile        struct{ ID string }
		State          string
		Node, CallNode string
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatalf("%s /api/agents: %v", n.name, err)
	}
	out := map[string]struct{ State, Node, CallNode string }{}
	for _, a := range list {
		out[a.Profile.ID] = struct{ State, Node, CallNode string }{a.State, a.Node, a.CallNode}
	}
	return out
}

// metric reads one unlabelled gauge or counter from /metrics.
func (n *node) metric(t *testing.T, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + n.http + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return v
		}
	}
	return ""
}

// callRecord is the part of a call record these tests check.
type callRecord struct {
	CallID string `json:"call_id"`
	Node   string `json:"node"`
	Caller string `json:"caller"`
	Agent  string `json:"agent"`
	Times  struct {
		Enqueued *time.Time `json:"enqueued"`
		Answered *time.Time `json:"answered"`
		Ended    time.Time  `json:"ended"`
	} `json:"times"`
	Offers []struct {
		Agent   string `json:"agent"`
		Outcome string `json:"outcome"`
	} `json:"offers"`
	Disposition string `json:"disposition"`
	TalkMS      int64  `json:"talk_ms"`
	HoldMS      int64  `json:"hold_ms"`
}

func (n *node) callRecords(t *testing.T) []callRecord {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(n.records, "calls*"))
	var out []callRecord
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if line == "" {
				continue
			}
			var r callRecord
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("%s: bad record %q: %v", f, line, err)
			}
			out = append(out, r)
		}
	}
	return out
}

func eventually(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit) // hang guard, not a timing assertion
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// agentPhone is a SIPp phone answering after 100 ms and hanging up after
// talkMs, registered through the given node.
func agentPhone(t *testing.T, through *node, id string, talkMs int) {
	t.Helper()
	port := sipptest.FreeUDPPort(t)
	sipptest.Start(t, sipptest.Options{
		Scenario:  sipptest.Render(t, sipptest.AgentTemplate, sipptest.Agent{RingMs: 100, TalkMs: talkMs}),
		LocalPort: port, Calls: 20, Timeout: 170 * time.Second,
	})
	sipptest.RegisterPhone(t, through.sip, id, "pass"+id, port, 300)
}

// placeCall runs one caller into a node and waits for the engine's BYE
// (the agent hangs up) in the background.
func placeCall(t *testing.T, ctx context.Context, wg *sync.WaitGroup, into *node, from string) {
	t.Helper()
	wg.Add(1)
	go func() {
		defer wg.Done()
		sipptest.Run(t, ctx, sipptest.Options{
			Target: into.sip, Service: "10010",
			Scenario: sipptest.Render(t, sipptest.CallerTemplate, sipptest.Caller{Formats: "0 101", Body: true, WaitBye: true, From: from}),
			Timeout:  120 * time.Second,
		})
	}()
}

// Three engine processes share one Redis. Agents' phones register through
// different nodes; callers arrive on every node. The first-skill agent is
// chosen across nodes, the diamond caller behind its target is served
// before a normal caller who waited longer (on another node), every call is
// answered once with no double offer, a node killed with SIGKILL has its
// agent released by the others within the lease time, and the survivors go
// on distributing.
func TestClusterThreeNodes(t *testing.T) {
	srv := redistest.Start(t)
	bin := binary(t)
	cfg := clusterConfig(t, srv.Addr)
	n1 := startNode(t, bin, cfg, "n1", 30000)
	n2 := startNode(t, bin, cfg, "n2", 30200)
	n3 := startNode(t, bin, cfg, "n3", 30400)
	nodes := []*node{n1, n2, n3}

	// 1003 (general level 1) registers through n3, 1001 (general level 2)
	// through n2; every node must see both ready.
	agentPhone(t, n3, "1003", 2500)
	agentPhone(t, n2, "1001", 6000) // busy longer: 1003 is the first agent freed below
	for _, n := range nodes {
		eventually(t, n.name+" to see both agents ready", 20*time.Second, func() bool {
			a := n.agents(t)
			return a["1003"].State == "ready" && a["1001"].State == "ready"
		})
	}
	if a := n1.agents(t); a["1003"].Node != "n3" || a["1001"].Node != "n2" {
		t.Fatalf("n1 sees agents %+v; want 1003 on n3 and 1001 on n2", a)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	var wg sync.WaitGroup

	// Skill order across nodes: a caller on n1 goes to 1003 (level 1 on
	// n3), not 1001 (level 2 on n2).
	placeCall(t, ctx, &wg, n1, "13800000001")
	eventually(t, "1003 talking on n1's call", 20*time.Second, func() bool {
		a := n3.agents(t)["1003"]
		return a.State == "talking" && a.CallNode == "n1"
	})
	if s := n2.agents(t)["1001"].State; s != "ready" {
		t.Fatalf("1001 is %s; the first-skill agent should have taken the call", s)
	}

	// Tier order across nodes: 1001 takes the next call, so both agents
	// are busy; a normal caller then waits on n2 and, 1.5 s later, a
	// diamond caller on n3. When 1003 frees up the diamond caller is past
	// its 1 s threshold: its tier is furthest behind and it goes first.
	placeCall(t, ctx, &wg, n1, "13900000001")
	eventually(t, "1001 talking", 20*time.Second, func() bool { return n2.agents(t)["1001"].State == "talking" })
	placeCall(t, ctx, &wg, n2, "13900000002") // normal, waits first
	time.Sleep(1500 * time.Millisecond)
	placeCall(t, ctx, &wg, n3, "13800000001") // diamond, behind its 1 s target at once
	wg.Wait()

	var all []callRecord
	for _, n := range nodes {
		all = append(all, n.callRecords(t)...)
	}
	eventually(t, "four call records", 20*time.Second, func() bool {
		all = nil
		for _, n := range nodes {
			all = append(all, n.callRecords(t)...)
		}
		return len(all) == 4
	})
	byCaller := map[string][]callRecord{}
	for _, r := range all {
		byCaller[r.Caller] = append(byCaller[r.Caller], r)
		if r.Times.Answered == nil || len(r.Offers) != 1 {
			t.Errorf("call %s on %s: answered %v, offers %+v; want answered on its only offer", r.CallID, r.Node, r.Times.Answered, r.Offers)
		}
	}
	normal, diamond := byCaller["13900000002"], byCaller["13800000001"]
	if len(normal) != 1 || len(diamond) != 2 {
		t.Fatalf("records by caller: %+v", byCaller)
	}
	sort.Slice(diamond, func(i, j int) bool { return diamond[i].Times.Answered.Before(*diamond[j].Times.Answered) })
	if diamond[0].Node != "n1" || diamond[0].Agent != "1003" {
		t.Errorf("first diamond call: node %s agent %s; want n1 → 1003", diamond[0].Node, diamond[0].Agent)
	}
	late := diamond[1]
	if late.Node != "n3" || normal[0].Node != "n2" {
		t.Fatalf("calls landed on the wrong nodes: diamond %s, normal %s", late.Node, normal[0].Node)
	}
	if !late.Times.Answered.Before(*normal[0].Times.Answered) || !normal[0].Times.Enqueued.Before(*late.Times.Enqueued) {
		t.Errorf("normal caller (queued %v, answered %v) served before the diamond caller behind target (queued %v, answered %v)",
			normal[0].Times.Enqueued, normal[0].Times.Answered, late.Times.Enqueued, late.Times.Answered)
	}

	// SIGKILL n3: 1003 (served by n3) leaves the others' routing within the
	// lease time, and 1001 keeps taking calls on n1 and n2.
	n3.proc.kill()
	for _, n := range []*node{n1, n2} {
		eventually(t, n.name+" to release n3's agent", 10*time.Second, func() bool {
			_, ok := n.agents(t)["1003"]
			return !ok
		})
	}
	eventually(t, "1001 ready", 20*time.Second, func() bool { return n1.agents(t)["1001"].State == "ready" })
	placeCall(t, ctx, &wg, n1, "13800000002")
	wg.Wait()
	eventually(t, "the call after the kill recorded", 20*time.Second, func() bool {
		for _, r := range n1.callRecords(t) {
			if r.Caller == "13800000002" {
				if r.Agent != "1001" || r.Times.Answered == nil {
					t.Fatalf("call after the kill: %+v", r)
				}
				return true
			}
		}
		return false
	})
}

// Two nodes, and Redis stops in the middle: each node goes degraded (the
// alert metric says so) and answers its own callers with its own agents;
// Redis comes back empty: the nodes rejoin, write their state and service-
// level counters again (every call counted once), route across nodes
// again, and no call was offered twice.
func TestClusterRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	bin := binary(t)
	cfg := clusterConfig(t, srv.Addr)
	n1 := startNode(t, bin, cfg, "n1", 30000)
	n2 := startNode(t, bin, cfg, "n2", 30200)
	agentPhone(t, n1, "1003", 3000)
	agentPhone(t, n2, "1001", 3000)
	for _, n := range []*node{n1, n2} {
		eventually(t, n.name+" to see both agents ready", 20*time.Second, func() bool {
			a := n.agents(t)
			return a["1003"].State == "ready" && a["1001"].State == "ready"
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	var wg sync.WaitGroup

	srv.Stop()
	for _, n := range []*node{n1, n2} {
		eventually(t, n.name+" degraded", 15*time.Second, func() bool { return n.metric(t, "hotline_cluster_degraded") == "1" })
		if a := n.agents(t); len(a) != 1 {
			t.Fatalf("degraded %s still routes other nodes' agents: %+v", n.name, a)
		}
	}
	// Two callers on each node while Redis is down: both answered there.
	for i := range 2 {
		placeCall(t, ctx, &wg, n1, fmt.Sprintf("1370000000%d", i))
		placeCall(t, ctx, &wg, n2, fmt.Sprintf("1371000000%d", i))
	}
	wg.Wait()

	srv.Restart(t)
	for _, n := range []*node{n1, n2} {
		eventually(t, n.name+" rejoined", 15*time.Second, func() bool {
			a := n.agents(t)
			return n.metric(t, "hotline_cluster_degraded") == "0" && a["1003"].State == "ready" && a["1001"].State == "ready"
		})
	}
	// Cross-node routing is back: two callers on n1 at once reach 1003 on
	// n1 and 1001 on n2.
	placeCall(t, ctx, &wg, n1, "13720000000")
	placeCall(t, ctx, &wg, n1, "13720000001")
	wg.Wait()

	var recs []callRecord
	eventually(t, "six call records", 20*time.Second, func() bool {
		recs = append(n1.callRecords(t), n2.callRecords(t)...)
		return len(recs) == 6
	})
	after := map[string]bool{}
	for _, r := range recs {
		if r.Times.Answered == nil || len(r.Offers) != 1 {
			t.Errorf("call %s from %s on %s: answered %v, offers %+v; want answered on its only offer", r.CallID, r.Caller, r.Node, r.Times.Answered, r.Offers)
		}
		switch {
		case strings.HasPrefix(r.Caller, "1370") && (r.Node != "n1" || r.Agent != "1003"):
			t.Errorf("during the outage %s on %s went to %s; want n1's own agent 1003", r.Caller, r.Node, r.Agent)
		case strings.HasPrefix(r.Caller, "1371") && (r.Node != "n2" || r.Agent != "1001"):
			t.Errorf("during the outage %s on %s went to %s; want n2's own agent 1001", r.Caller, r.Node, r.Agent)
		case strings.HasPrefix(r.Caller, "1372"):
			after[r.Agent] = true
		}
	}
	if !after["1003"] || !after["1001"] {
		t.Errorf("after rejoining, n1's two callers went to %v; want 1003 and 1001 (across nodes)", after)
	}
	// The counters Redis lost were written again: six calls offered and
	// answered, each once.
	waitCounters(t, srv, 6)
}

// Three nodes under load, each agent's phone on a different node, callers
// on every node, and Redis stops for three seconds in the middle and comes
// back empty. Every caller is answered, on exactly one offer; no agent
// ever has two calls at once (talk spells from all nodes' records never
// overlap); the shared service-level counters count every call once.
func TestClusterUnderLoad(t *testing.T) {
	srv := redistest.Start(t)
	bin := binary(t)
	cfg := clusterConfig(t, srv.Addr, "skills: {technical: 1, billing: 2}", "skills: {technical: 1, billing: 2, general: 1}")
	nodes := []*node{startNode(t, bin, cfg, "n1", 30000), startNode(t, bin, cfg, "n2", 30200), startNode(t, bin, cfg, "n3", 30400)}
	for i, id := range []string{"1001", "1002", "1003"} {
		agentPhone(t, nodes[i], id, 800)
	}
	for _, n := range nodes {
		eventually(t, n.name+" to see three agents ready", 20*time.Second, func() bool {
			a := n.agents(t)
			return a["1001"].State == "ready" && a["1002"].State == "ready" && a["1003"].State == "ready"
		})
	}
	const perNode = 10
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sipptest.Run(t, ctx, sipptest.Options{
				Target: n.sip, Service: "10010", Calls: perNode, Rate: 2,
				Scenario: sipptest.Render(t, sipptest.CallerTemplate, sipptest.Caller{Formats: "0 101", Body: true, WaitBye: true, From: "13900000000"}),
				Timeout:  120 * time.Second,
			})
		}()
	}
	time.Sleep(3 * time.Second)
	srv.Stop()
	time.Sleep(3 * time.Second)
	srv.Restart(t)
	wg.Wait()

	var recs []callRecord
	eventually(t, "every call recorded", 30*time.Second, func() bool {
		recs = nil
		for _, n := range nodes {
			recs = append(recs, n.callRecords(t)...)
		}
		return len(recs) == 3*perNode
	})
	type spell struct {
		from, to time.Time
		call     string
	}
	talk := map[string][]spell{}
	for _, r := range recs {
		if r.Times.Answered == nil || len(r.Offers) != 1 || r.Offers[0].Outcome != "answered" {
			t.Errorf("call %s on %s: answered %v, offers %+v; want answered on its only offer", r.CallID, r.Node, r.Times.Answered, r.Offers)
			continue
		}
		// The agent's spell is answer → release (talk and hold): the caller
		// may stay longer (an agent who hangs up during the agent-id
		// announcement is free at once while the caller hears it out).
		end := r.Times.Answered.Add(time.Duration(r.TalkMS+r.HoldMS) * time.Millisecond)
		talk[r.Agent] = append(talk[r.Agent], spell{*r.Times.Answered, end, r.CallID})
	}
	for agent, ss := range talk {
		sort.Slice(ss, func(i, j int) bool { return ss[i].from.Before(ss[j].from) })
		for i := 1; i < len(ss); i++ {
			if ss[i].from.Before(ss[i-1].to) {
				t.Errorf("agent %s had two calls at once: %s until %v and %s from %v", agent, ss[i-1].call, ss[i-1].to, ss[i].call, ss[i].from)
			}
		}
	}
	waitCounters(t, srv, 3*perNode)
}

// waitCounters waits until the shared service-level counters in Redis say
// calls offered and as many answered, each counted once.
func waitCounters(t *testing.T, srv *redistest.Server, calls int) {
	t.Helper()
	probe, err := redisstore.New(redisstore.Options{Addr: srv.Addr, Prefix: "cl:", Node: "probe"})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	eventually(t, "service-level counters replayed", 15*time.Second, func() bool {
		sl, err := probe.SLTotals(context.Background())
		var total acd.SLDelta
		for _, d := range sl {
			total.Offered += d.Offered
			total.Answered += d.Answered
		}
		return err == nil && total.Offered == calls && total.Answered == calls
	})
}
