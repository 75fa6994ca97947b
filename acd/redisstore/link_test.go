package redisstore

import (
	"context"
	"errors"
	"maps"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/redisstore/redistest"
	"github.com/hotlinecc/hotline/routing"
)

// recordingPhone answers at once and remembers which node rang which call.
type recordingPhone struct {
	node string
	mu   *sync.Mutex
	log  map[string]string // call → node that rang it
	dup  *[]string
}

func (p recordingPhone) Ring(_ context.Context, o acd.Offer) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, seen := p.log[o.Call.ID]; seen {
		*p.dup = append(*p.dup, o.Call.ID)
	}
	p.log[o.Call.ID] = p.node + ":" + o.AgentID
	return nil
}

type linkedNode struct {
	acd  *acd.ACD
	link *Link
	stop func()
}

func startLinked(t *testing.T, srv *redistest.Server, node, prefix string, phone acd.Phone) *linkedNode {
	t.Helper()
	s, err := New(Options{Addr: srv.Socket, Prefix: prefix, Node: node, LeaseTTL: 600 * time.Millisecond, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	l := NewLink(s, nil)
	a, err := acd.New(acd.Config{
		Routing: routing.Config{Tiers: []routing.Tier{{Name: "normal", Target: 0.8, Threshold: 20 * time.Second}}, Queues: []routing.Queue{{Name: "general"}}},
		WrapUp:  0, Tick: 20 * time.Millisecond,
	}, acd.Deps{Phone: phone, Store: l.Store(), Cluster: l})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = l.Run(ctx, a) }()
	go func() { defer wg.Done(); _ = a.Run(ctx) }()
	n := &linkedNode{acd: a, link: l}
	var once sync.Once
	n.stop = func() { once.Do(func() { cancel(); wg.Wait(); a.Close(); s.Close() }) }
	t.Cleanup(n.stop)
	return n
}

// ringLog is what the recording phones of a pair of nodes saw.
type ringLog struct {
	mu   sync.Mutex
	rung map[string]string
	dups []string
}

// check fails the test if a call was rung twice and returns who rang what.
func (l *ringLog) check(t *testing.T) map[string]string {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.dups) > 0 {
		t.Fatalf("calls rung twice: %v", l.dups)
	}
	return maps.Clone(l.rung)
}

// startPair links nodes A and B under prefix, with agent 1001 signed in on
// A and 1002 on B, both in queue general.
func startPair(t *testing.T, srv *redistest.Server, prefix string) (a, b *linkedNode, rings *ringLog) {
	t.Helper()
	rings = &ringLog{rung: map[string]string{}}
	a = startLinked(t, srv, "A", prefix, recordingPhone{"A", &rings.mu, rings.rung, &rings.dups})
	b = startLinked(t, srv, "B", prefix, recordingPhone{"B", &rings.mu, rings.rung, &rings.dups})
	must(t, a.acd.Login(acd.AgentProfile{ID: "1001", Skills: map[string]int{"general": 1}}))
	must(t, b.acd.Login(acd.AgentProfile{ID: "1002", Skills: map[string]int{"general": 1}}))
	return a, b, rings
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second) // hang guard
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func stateOf(a *acd.ACD, id string) acd.State {
	s, err := a.Agent(id)
	if err != nil {
		return ""
	}
	return s.State
}

func connect(t *testing.T, a *acd.ACD, id string) acd.Outcome {
	t.Helper()
	tk, err := a.Enqueue(context.Background(), acd.Call{ID: id, Queue: "general", Tier: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := tk.Wait(ctx)
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	return out
}

// Two nodes over one real Redis: a caller on A reaches B's agent; Redis
// stops and each node answers its own callers with its own agents; Redis
// restarts empty and the nodes rejoin, replay their service-level counters
// and route across again; a node that stops renewing its lease is reaped
// and its agent leaves the other node's routing.
func TestLinkCrossNodeDegradedRejoinAndDeadNode(t *testing.T) {
	srv := redistest.Start(t)
	a, b, rings := startPair(t, srv, "lk:")
	must(t, a.acd.SetNotReady("1001", "lunch"))
	until(t, "A to see B's agent ready", func() bool { return stateOf(a.acd, "1002") == acd.Ready })

	out := connect(t, a.acd, "x1")
	if out.Kind != acd.Connected || out.AgentID != "1002" {
		t.Fatalf("x1: %+v, want B's agent 1002", out)
	}
	until(t, "B to see 1002 talking on A's call", func() bool {
		s, _ := b.acd.Agent("1002")
		return s.State == acd.Talking && s.CallNode == "A"
	})
	must(t, a.acd.CallEnded("x1", "caller"))
	until(t, "1002 ready again", func() bool { return stateOf(b.acd, "1002") == acd.Ready && stateOf(a.acd, "1002") == acd.Ready })

	// Redis goes away: both nodes go degraded and serve locally.
	srv.Stop()
	until(t, "both nodes degraded", func() bool { return a.link.Down() && b.link.Down() && a.acd.Degraded() && b.acd.Degraded() })
	if _, err := a.acd.Agent("1002"); !errors.Is(err, acd.ErrUnknownAgent) {
		t.Fatalf("degraded A still routes to B's agent: %v", err)
	}
	must(t, a.acd.SetReady("1001"))
	if out := connect(t, a.acd, "local-a"); out.Kind != acd.Connected || out.AgentID != "1001" {
		t.Fatalf("local-a: %+v", out)
	}
	if out := connect(t, b.acd, "local-b"); out.Kind != acd.Connected || out.AgentID != "1002" {
		t.Fatalf("local-b: %+v", out)
	}
	must(t, a.acd.CallEnded("local-a", "agent"))
	must(t, b.acd.CallEnded("local-b", "agent"))

	// Redis is back, empty: the nodes rejoin and write their state again.
	srv.Restart(t)
	until(t, "both nodes rejoined", func() bool {
		return !a.link.Down() && !b.link.Down() && stateOf(a.acd, "1002") == acd.Ready && stateOf(b.acd, "1001") == acd.Ready
	})
	until(t, "counters replayed", func() bool {
		sl, err := a.link.Store().SLTotals(context.Background())
		return err == nil && len(sl) == 1 && sl[0].Offered == 3 && sl[0].Answered == 3
	})
	must(t, a.acd.SetNotReady("1001", "meeting"))
	until(t, "B to see 1001 not ready", func() bool { return stateOf(b.acd, "1001") == acd.NotReady })
	if out := connect(t, a.acd, "x2"); out.Kind != acd.Connected || out.AgentID != "1002" {
		t.Fatalf("x2 after rejoin: %+v, want B's agent", out)
	}
	must(t, a.acd.CallEnded("x2", "caller"))

	// B dies without a word: A reaps it within the lease time.
	b.stop()
	until(t, "A to forget B's agent", func() bool {
		_, err := a.acd.Agent("1002")
		return errors.Is(err, acd.ErrUnknownAgent)
	})
	rung := rings.check(t)
	for call, want := range map[string]string{"x1": "A:1002", "local-a": "A:1001", "local-b": "B:1002", "x2": "A:1002"} {
		if rung[call] != want {
			t.Errorf("call %s rung by %q, want %q", call, rung[call], want)
		}
	}
}

// A node restarted under the same name while its lease still runs clears
// the claims its predecessor died with, so its agents are not stuck
// reserved until the lease would have lapsed (it never would: the new
// process renews it).
func TestLinkRestartUnderSameNameClearsOldClaims(t *testing.T) {
	srv := redistest.Start(t)
	old := newTestStore(t, srv, "R", "rs:")
	ctx := context.Background()
	if _, err := old.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if err := old.Claim(ctx, "call-before-crash", "1001"); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	n := startLinked(t, srv, "R", "rs:", recordingPhone{"R", &mu, map[string]string{}, new([]string)})
	other := newTestStore(t, srv, "S", "rs:")
	until(t, "the old claim on 1001 cleared", func() bool {
		err := other.Claim(ctx, "new-call", "1001")
		if err == nil {
			_ = other.Release(ctx, "new-call", "1001")
		}
		return err == nil
	})
	n.stop()
}

// Redis freezes (SIGSTOP) while an agent talks and the call ends during the
// freeze, so its release never reaches Redis. After Redis thaws the node
// rejoins and clears what it missed: another node can claim the agent.
func TestLinkFrozenRedisLeavesNoStaleClaim(t *testing.T) {
	srv := redistest.Start(t)
	a, b, rings := startPair(t, srv, "fz:")
	must(t, b.acd.SetNotReady("1002", "lunch"))
	until(t, "B to see 1001 ready", func() bool { return stateOf(b.acd, "1001") == acd.Ready })
	if out := connect(t, a.acd, "before"); out.AgentID != "1001" {
		t.Fatalf("before: %+v", out)
	}
	must(t, srv.Signal(syscall.SIGSTOP))
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			_ = srv.Signal(syscall.SIGCONT)
		}
	}
	defer thaw()
	until(t, "A degraded", func() bool { return a.link.Down() })
	must(t, a.acd.CallEnded("before", "caller")) // the release cannot reach Redis
	thaw()
	until(t, "both rejoined and B sees 1001 ready", func() bool {
		return !a.link.Down() && !b.link.Down() && stateOf(b.acd, "1001") == acd.Ready
	})
	if out := connect(t, b.acd, "after"); out.Kind != acd.Connected || out.AgentID != "1001" {
		t.Fatalf("after the freeze B's caller got %+v; want A's agent 1001 (its old claim cleared)", out)
	}
	rings.check(t)
}
