package acd_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/routing"
)

// memNet delivers cluster messages between ACDs of one test process, in
// the order they were sent, as the Redis transport does.
type memNet struct {
	mu    sync.Mutex
	nodes map[string]*acd.ACD
	ch    chan acd.ClusterMsg
	done  chan struct{}
}

func newMemNet(t *testing.T) *memNet {
	n := &memNet{nodes: map[string]*acd.ACD{}, ch: make(chan acd.ClusterMsg, 4096), done: make(chan struct{})}
	go func() {
		defer close(n.done)
		for m := range n.ch {
			n.mu.Lock()
			var to []*acd.ACD
			for name, a := range n.nodes {
				if name != m.From {
					to = append(to, a)
				}
			}
			n.mu.Unlock()
			for _, a := range to {
				a.Receive(m)
			}
		}
	}()
	t.Cleanup(func() { close(n.ch); <-n.done })
	return n
}

type memLink struct {
	net  *memNet
	node string
}

func (l memLink) Node() string             { return l.node }
func (l memLink) Send(m acd.ClusterMsg)    { l.net.ch <- m }
func (n *memNet) link(node string) memLink { return memLink{n, node} }

// ringLog is a phone that answers at once and remembers who rang whom.
type ringLog struct {
	node string
	mu   *sync.Mutex
	log  *[]string
}

// rings is the shared log of the phones of a pair of nodes.
type rings struct {
	mu  sync.Mutex
	log []string
}

func (r *rings) copy() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.log)
}

// startPair starts nodes A and B on one memory store, linked in memory.
func startPair(t *testing.T) (a, b clusterNode, store *acd.MemoryStore, rl *rings) {
	n := newMemNet(t)
	store = acd.NewMemoryStore()
	rl = &rings{}
	a = startNode(t, n, "A", store, ringLog{"A", &rl.mu, &rl.log})
	b = startNode(t, n, "B", store, ringLog{"B", &rl.mu, &rl.log})
	return a, b, store, rl
}

func (p ringLog) Ring(_ context.Context, o acd.Offer) error {
	p.mu.Lock()
	*p.log = append(*p.log, fmt.Sprintf("%s:%s:%s", p.node, o.AgentID, o.Call.ID))
	p.mu.Unlock()
	return nil
}

func clusterRouting() routing.Config {
	return routing.Config{
		Tiers: []routing.Tier{
			// A diamond caller misses its target after 20 ms: the test can
			// make the diamond tier the furthest behind by waiting.
			{Name: "diamond", Target: 0.95, Threshold: 20 * time.Millisecond},
			{Name: "normal", Target: 0.80, Threshold: 30 * time.Second},
		},
		Queues: []routing.Queue{{Name: "general"}},
	}
}

type clusterNode struct {
	acd *acd.ACD
	bus *acd.Subscription
}

func startNode(t *testing.T, n *memNet, name string, store acd.Store, phone acd.Phone) clusterNode {
	t.Helper()
	bus := acd.NewBus(0)
	a, err := acd.New(acd.Config{Routing: clusterRouting(), WrapUp: time.Hour, Tick: 20 * time.Millisecond},
		acd.Deps{Phone: phone, Store: store, Bus: bus, Cluster: n.link(name)})
	if err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	n.nodes[name] = a
	n.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; a.Close() })
	return clusterNode{acd: a, bus: bus.Subscribe("test", 1024)}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second) // hang guard, not a timing assertion
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func agentState(a *acd.ACD, id string) acd.State {
	s, err := a.Agent(id)
	if err != nil {
		return ""
	}
	return s.State
}

// Two nodes share one store. A caller on node A is rung by A to an agent
// signed in on node B; B's desktop sees the offer and the call's life, and
// the agent's state (owned by B) follows the call held on A. When the agent
// is free again, B picks the best of A's waiting callers — diamond before
// normal although normal waited longer — and A rings it.
func TestClusterCallsCrossNodes(t *testing.T) {
	a, b, store, rl := startPair(t)

	must(t, b.acd.Login(acd.AgentProfile{ID: "1001", Skills: map[string]int{"general": 1}}))
	waitFor(t, "node A to see agent 1001", func() bool { return agentState(a.acd, "1001") == acd.Ready })
	if s, _ := a.acd.Agent("1001"); s.Node != "B" {
		t.Fatalf("A's view of 1001: node %q, want B", s.Node)
	}
	if err := a.acd.SetReady("1001"); err == nil {
		t.Fatal("node A changed the state of an agent B serves")
	}

	tk, err := a.acd.Enqueue(context.Background(), acd.Call{ID: "c1", Caller: "100", Queue: "general", Tier: "normal"})
	must(t, err)
	out := waitOutcome(t, tk)
	if out.Kind != acd.Connected || out.AgentID != "1001" {
		t.Fatalf("c1 outcome %+v, want connected to 1001", out)
	}
	waitFor(t, "B to see 1001 talking on c1", func() bool {
		s, _ := b.acd.Agent("1001")
		return s.State == acd.Talking && s.CallID == "c1" && s.CallNode == "A"
	})
	offered := waitEvent(t, b.bus, func(e acd.Event) bool { return e.Type == acd.EventCallOffered && e.CallID == "c1" })
	if offered.Node != "A" || offered.AgentID != "1001" {
		t.Fatalf("B's offer event %+v, want agent 1001, node A", offered)
	}
	if err := store.Claim(context.Background(), "other", "1001"); err == nil {
		t.Fatal("agent 1001 was claimable while talking")
	}

	// Two callers wait on A while 1001 talks: normal first, diamond 50 ms
	// later; by the time 1001 is free the diamond caller is past its
	// threshold, so its tier is furthest behind.
	tkN, err := a.acd.Enqueue(context.Background(), acd.Call{ID: "n1", Caller: "101", Queue: "general", Tier: "normal"})
	must(t, err)
	time.Sleep(50 * time.Millisecond)
	tkD, err := a.acd.Enqueue(context.Background(), acd.Call{ID: "d1", Caller: "102", Queue: "general", Tier: "diamond"})
	must(t, err)
	waitFor(t, "B to mirror both callers", func() bool {
		var ids []string
		for _, c := range b.acd.Calls() {
			if c.Node == "A" && c.State == "queued" {
				ids = append(ids, c.Call.ID)
			}
		}
		return slices.Contains(ids, "n1") && slices.Contains(ids, "d1")
	})

	time.Sleep(60 * time.Millisecond)
	must(t, a.acd.CallEnded("c1", "caller"))
	waitFor(t, "1001 in wrap-up on B", func() bool { return agentState(b.acd, "1001") == acd.WrapUp })
	must(t, b.acd.SetReady("1001")) // the desktop ends wrap-up early
	if out := waitOutcome(t, tkD); out.Kind != acd.Connected || out.AgentID != "1001" {
		t.Fatalf("diamond caller: %+v", out)
	}
	select {
	case out := <-tkN.Done():
		t.Fatalf("normal caller served before diamond: %+v", out)
	default:
	}
	got := rl.copy()
	if want := []string{"A:1001:c1", "A:1001:d1"}; !slices.Equal(got, want) {
		t.Fatalf("rings %v, want %v (the call's node rings)", got, want)
	}
}

// Both nodes race for one agent with callers of their own: every caller is
// answered exactly once and the agent never has two calls.
func TestClusterClaimsNeverDoubleOffer(t *testing.T) {
	a, b, _, rl := startPair(t)
	must(t, a.acd.Login(acd.AgentProfile{ID: "2001", Skills: map[string]int{"general": 1}}))
	must(t, b.acd.Login(acd.AgentProfile{ID: "2002", Skills: map[string]int{"general": 1}}))
	waitFor(t, "both nodes to see both agents", func() bool {
		return agentState(a.acd, "2002") == acd.Ready && agentState(b.acd, "2001") == acd.Ready
	})
	const perNode = 20
	type ticket struct {
		node *acd.ACD
		tk   *acd.Ticket
	}
	var tickets []ticket
	for i := range perNode {
		for _, nd := range []struct {
			name string
			a    *acd.ACD
		}{{"A", a.acd}, {"B", b.acd}} {
			tk, err := nd.a.Enqueue(context.Background(), acd.Call{ID: fmt.Sprintf("%s-%d", nd.name, i), Queue: "general", Tier: "normal"})
			must(t, err)
			tickets = append(tickets, ticket{nd.a, tk})
		}
	}
	// Agents end each call at once and become ready; callers drain.
	answered := map[string]string{}
	for len(answered) < len(tickets) {
		progressed := false
		for _, tk := range tickets {
			if _, done := answered[tk.tk.CallID()]; done {
				continue
			}
			select {
			case out := <-tk.tk.Done():
				if out.Kind != acd.Connected {
					t.Fatalf("%s: %+v", tk.tk.CallID(), out)
				}
				answered[tk.tk.CallID()] = out.AgentID
				must(t, tk.node.CallEnded(out.CallID, "agent"))
				home := a.acd
				if out.AgentID == "2002" {
					home = b.acd
				}
				waitFor(t, out.AgentID+" in wrap-up", func() bool { return agentState(home, out.AgentID) == acd.WrapUp })
				must(t, home.SetReady(out.AgentID))
				progressed = true
			default:
			}
		}
		if !progressed {
			time.Sleep(2 * time.Millisecond)
		}
	}
	rings := rl.copy()
	seen := map[string]bool{}
	for _, r := range rings {
		var node, agentID, callID string
		fmt.Sscanf(r, "%1s:%4s:%s", &node, &agentID, &callID)
		if seen[callID] {
			t.Errorf("call %s rung twice: %v", callID, rings)
		}
		seen[callID] = true
		if node != callID[:1] {
			t.Errorf("call %s rung from node %s", callID, node)
		}
	}
	if len(rings) != len(tickets) {
		t.Errorf("%d rings for %d callers", len(rings), len(tickets))
	}
}

func waitOutcome(t *testing.T, tk *acd.Ticket) acd.Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // hang guard
	defer cancel()
	out, err := tk.Wait(ctx)
	if err != nil {
		t.Fatalf("waiting for %s: %v", tk.CallID(), err)
	}
	return out
}

func waitEvent(t *testing.T, sub *acd.Subscription, pred func(acd.Event) bool) acd.Event {
	t.Helper()
	timeout := time.After(10 * time.Second) // hang guard
	for {
		select {
		case e := <-sub.C:
			if pred(e) {
				return e
			}
		case <-timeout:
			t.Fatal("timed out waiting for an event")
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A supervisor on node A forces an agent served by node B: the force goes
// to B, which alone changes the agent, and A sees the result.
func TestClusterForceAcrossNodes(t *testing.T) {
	a, b, _, _ := startPair(t)
	must(t, b.acd.Login(acd.AgentProfile{ID: "1001", Skills: map[string]int{"general": 1}}))
	waitFor(t, "A to see 1001", func() bool { return agentState(a.acd, "1001") == acd.Ready })

	must(t, a.acd.ForceNotReady("9001", "1001", "meeting"))
	waitFor(t, "1001 not ready on B", func() bool {
		s, err := b.acd.Agent("1001")
		return err == nil && s.State == acd.NotReady && s.Reason == "meeting"
	})
	waitFor(t, "A to see it", func() bool { return agentState(a.acd, "1001") == acd.NotReady })
	must(t, a.acd.ForceReady("9001", "1001"))
	waitFor(t, "1001 ready on B", func() bool { return agentState(b.acd, "1001") == acd.Ready })
	must(t, a.acd.ForceSignOut("9001", "1001"))
	waitFor(t, "1001 signed out on both nodes", func() bool {
		return agentState(b.acd, "1001") == "" && agentState(a.acd, "1001") == ""
	})
}
