package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/redisstore/redistest"
)

// Two nodes, two racing goroutines per agent (one on each node), every
// goroutine walking every call: each agent must end with exactly one call and
// each call with exactly one agent. An agent only fails on a call another
// agent holds, so anything short of a perfect matching is a lost claim and
// anything more is a double claim.
func TestTwoNodesNeverDoubleClaim(t *testing.T) {
	srv := redistest.Start(t)
	nodes := []*Store{newTestStore(t, srv, "n1", "race:"), newTestStore(t, srv, "n2", "race:")}
	const n = 40
	ctx := context.Background()
	var mu sync.Mutex
	byCall := map[string][]string{}
	byAgent := map[string][]string{}
	var wg sync.WaitGroup
	for a := range n {
		for ni, s := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				agent := fmt.Sprintf("a%d", a)
				for c := range n {
					// Node 2 walks backwards so the nodes collide from both ends.
					idx := (a + c) % n
					if ni == 1 {
						idx = (a + n - c) % n
					}
					call := fmt.Sprintf("c%d", idx)
					err := s.Claim(ctx, call, agent)
					if errors.Is(err, acd.ErrClaimed) {
						continue
					}
					if err != nil {
						t.Errorf("node %s claim: %v", s.Node(), err)
						return
					}
					mu.Lock()
					byCall[call] = append(byCall[call], agent+"@"+s.Node())
					byAgent[agent] = append(byAgent[agent], call+"@"+s.Node())
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	for c := range n {
		if got := byCall[fmt.Sprintf("c%d", c)]; len(got) != 1 {
			t.Errorf("call c%d claimed by %v, want exactly one agent", c, got)
		}
	}
	for a := range n {
		if got := byAgent[fmt.Sprintf("a%d", a)]; len(got) != 1 {
			t.Errorf("agent a%d claimed %v, want exactly one call", a, got)
		}
	}
	// Whatever each node won, the other node now sees as taken.
	for call, as := range byCall {
		for _, s := range nodes {
			if err := s.Claim(ctx, call, "latecomer"); !errors.Is(err, acd.ErrClaimed) {
				t.Errorf("node %s: call %s (held by %v) claimable: %v", s.Node(), call, as, err)
			}
		}
	}
}

// A node that stops renewing its lease loses its claims, its queued calls
// and its agents to the reaper on a live node; the live node's own claims
// stay, and a late release from the dead node cannot undo a new claim.
func TestLeaseExpiryReleasesDeadNodeClaims(t *testing.T) {
	srv := redistest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dead := newTestStore(t, srv, "dead", "lease:")
	live, err := New(Options{Addr: srv.Socket, Prefix: "lease:", Node: "live", LeaseTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()

	var loops sync.WaitGroup
	loops.Add(1)
	go func() { defer loops.Done(); _ = live.RunLease(ctx) }()
	deadCtx, kill := context.WithCancel(ctx)
	var deadErr error
	deadDone := make(chan struct{})
	go func() { defer close(deadDone); deadErr = dead.RunLease(deadCtx) }()
	defer func() { kill(); <-deadDone }()

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = live.Renew(ctx)
	must(err)
	_, err = dead.Renew(ctx)
	must(err)
	must(dead.Claim(ctx, "c1", "a1"))
	must(dead.SaveCall(ctx, acd.CallRecord{Call: acd.Call{ID: "c2", Queue: "general"}, State: "queued"}))
	must(dead.SaveAgent(ctx, acd.AgentRecord{Profile: acd.AgentProfile{ID: "a9"}, State: acd.Ready}))
	must(live.SaveAgent(ctx, acd.AgentRecord{Profile: acd.AgentProfile{ID: "a1"}, State: acd.Reserved, CallID: "c1"}))
	must(live.Claim(ctx, "c3", "a3"))

	if _, err := dead.ReapNode(ctx, "live"); !errors.Is(err, ErrNodeAlive) {
		t.Fatalf("reaping a node with a lease: %v, want ErrNodeAlive", err)
	}

	// The dead node stops renewing (as if SIGKILLed); the reaper on the
	// live node must notice within the lease time.
	kill()
	<-deadDone
	if !errors.Is(deadErr, context.Canceled) {
		t.Fatalf("RunLease returned %v", deadErr)
	}
	reaped := make(chan Reaped, 1)
	loops.Add(1)
	go func() {
		defer loops.Done()
		_ = live.RunReaper(ctx, 50*time.Millisecond, func(r Reaped) { reaped <- r })
	}()
	defer func() { cancel(); loops.Wait() }()
	var r Reaped
	select {
	case r = <-reaped:
	case <-time.After(20 * time.Second): // hang guard only
		t.Fatal("dead node never reaped")
	}
	want := Reaped{Node: "dead", Claims: [][2]string{{"c1", "a1"}}, Calls: []string{"c2"}, Agents: []string{"a9"}}
	if fmt.Sprint(r) != fmt.Sprint(want) {
		t.Fatalf("reaped %+v, want %+v", r, want)
	}

	must(live.Claim(ctx, "c1", "a2")) // call freed
	must(live.Claim(ctx, "c4", "a1")) // agent freed
	if err := live.Claim(ctx, "c3", "a5"); !errors.Is(err, acd.ErrClaimed) {
		t.Fatalf("live node's claim was reaped: %v", err)
	}
	must(dead.Release(ctx, "c1", "a1")) // late release from the dead node
	if err := live.Claim(ctx, "c1", "a7"); !errors.Is(err, acd.ErrClaimed) {
		t.Fatalf("stale release freed a new claim: %v", err)
	}
	if calls, err := live.Calls(ctx, "general"); err != nil || len(calls) != 0 {
		t.Fatalf("dead node's queued calls left: %+v, %v", calls, err)
	}
	agents, err := live.Agents(ctx)
	must(err)
	if len(agents) != 1 || agents[0].Profile.ID != "a1" {
		t.Fatalf("agents after reap %+v, want only a1 (saved by the live node)", agents)
	}
	if exp, err := live.Expired(ctx); err != nil || slices.Contains(exp, "dead") {
		t.Fatalf("dead node still listed: %v, %v", exp, err)
	}
}

// A node that claims without ever taking a lease is dead as far as the
// others know, so its claims cannot stay reserved forever.
func TestExpiredListsNodesWithoutLease(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	ghost := newTestStore(t, srv, "ghost", "exp:")
	live, err := New(Options{Addr: srv.Socket, Prefix: "exp:", Node: "live", LeaseTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if _, err := live.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ghost.Claim(ctx, "c1", "a1"); err != nil {
		t.Fatal(err)
	}
	exp, err := live.Expired(ctx)
	if err != nil || !slices.Equal(exp, []string{"ghost"}) {
		t.Fatalf("expired %v, %v; want [ghost]", exp, err)
	}
	rs, err := live.Reap(ctx)
	if err != nil || len(rs) != 1 || rs[0].Node != "ghost" || len(rs[0].Claims) != 1 {
		t.Fatalf("reap %+v, %v", rs, err)
	}
	if err := live.Claim(ctx, "c1", "a2"); err != nil {
		t.Fatalf("ghost's call still claimed: %v", err)
	}
}

// Claims and releases churn on two nodes; the test's own ledger is marked
// after a claim succeeds and cleared before the release is sent, so a
// correct store never lets a claim succeed while the ledger shows a holder.
func TestTwoNodesChurnKeepsClaimsExclusive(t *testing.T) {
	srv := redistest.Start(t)
	nodes := []*Store{newTestStore(t, srv, "n1", "churn:"), newTestStore(t, srv, "n2", "churn:")}
	const calls, agents, workers, rounds = 6, 6, 8, 150
	ctx := context.Background()
	var mu sync.Mutex
	callHolder := map[string]string{}
	agentHolder := map[string]string{}
	wins := 0
	var wg sync.WaitGroup
	for w := range workers {
		s := nodes[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				call := fmt.Sprintf("c%d", (w+i)%calls)
				agent := fmt.Sprintf("a%d", (w*7+i*3)%agents)
				err := s.Claim(ctx, call, agent)
				if errors.Is(err, acd.ErrClaimed) {
					continue
				}
				if err != nil {
					t.Errorf("claim: %v", err)
					return
				}
				mu.Lock()
				if h, ok := callHolder[call]; ok {
					t.Errorf("call %s given to %s while %s holds it", call, agent, h)
				}
				if h, ok := agentHolder[agent]; ok {
					t.Errorf("agent %s given %s while holding %s", agent, call, h)
				}
				callHolder[call], agentHolder[agent] = agent, call
				wins++
				mu.Unlock()
				// Hold the claim across a Redis round trip so that other
				// workers race against it.
				if _, err := s.Calls(ctx, ""); err != nil {
					t.Errorf("calls: %v", err)
				}
				mu.Lock()
				delete(callHolder, call)
				delete(agentHolder, agent)
				mu.Unlock()
				if err := s.Release(ctx, call, agent); err != nil {
					t.Errorf("release: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if wins == 0 {
		t.Fatal("no claim ever succeeded")
	}
	// Everything was released: every pair is claimable again.
	for c := range calls {
		if err := nodes[c%2].Claim(ctx, fmt.Sprintf("c%d", c), fmt.Sprintf("a%d", c)); err != nil {
			t.Errorf("after churn: %v", err)
		}
	}
}

// A node whose lease lapsed (here: removed, as expiry would) hears about it
// on its next renewal so it can write its state again; the first renewal
// and ordinary renewals say nothing.
func TestLeaseLapseIsReported(t *testing.T) {
	srv := redistest.Start(t)
	lost := make(chan struct{}, 10)
	s, err := New(Options{Addr: srv.Socket, Prefix: "lapse:", Node: "n1", LeaseTTL: time.Minute,
		OnLeaseLost: func() { lost <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i, want := range []bool{false, true} {
		held, err := s.Renew(ctx)
		if err != nil || held != want {
			t.Fatalf("renewal %d: held=%v err=%v, want held=%v", i, held, err, want)
		}
	}

	// RunLease with a short TTL; drop the lease behind its back.
	short, err := New(Options{Addr: srv.Socket, Prefix: "lapse:", Node: "n2", LeaseTTL: 90 * time.Millisecond,
		OnLeaseLost: func() { lost <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	defer short.Close()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = short.RunLease(runCtx) }()
	defer func() { stop(); <-done }()
	deadline := time.Now().Add(20 * time.Second) // hang guard
	for {
		if n, err := short.rdb.Del(ctx, short.key("lease", "n2")).Result(); err != nil {
			t.Fatal(err)
		} else if n == 1 {
			break // RunLease had taken the lease; now it is gone
		}
		if time.Now().After(deadline) {
			t.Fatal("RunLease never took its lease")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-lost:
	case <-time.After(20 * time.Second): // hang guard
		t.Fatal("lapsed lease not reported")
	}
}
