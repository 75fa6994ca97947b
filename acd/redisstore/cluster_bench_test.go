package redisstore

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/redisstore/redistest"
	"github.com/hotlinecc/hotline/routing"
)

// BenchmarkClusterRouting compares the ACD's throughput and latencies on one
// node over the memory store with the same centre split over nodes sharing
// one redis-server (issue 8's performance question, ACD layer only; the
// end-to-end SIP figure is cmd/hotline-load -scenario cluster).
//
// Every variant has the same 100 agents (phones answer at once, wrap-up 0)
// and 200 callers looping enqueue → connected → CallEnded, spread evenly
// over the nodes, so agents cycle as fast as the ACDs hand out calls and a
// queue is always waiting (both routing decision kinds occur). Metrics:
//
//	calls/s              connected-and-ended calls per second, all nodes
//	decide-p50/p99-µs    acd.Config.ObserveDecision (the router's pick only)
//	enqueue-p99-µs       wall time of ACD.Enqueue (lock wait, store writes,
//	                     decision and claim of an idle agent)
//	ended-p99-µs         wall time of ACD.CallEnded (release, the freed
//	                     agent's decision and claim of the next caller)
//	claims/call          Store.Claim calls per connected call
//	store-ops/call       Store calls of any kind per connected call; on
//	                     Redis each is one round trip made under the ACD lock
//	remote-%             calls answered by an agent of the other node
//
// Run: go test -run '^$' -bench BenchmarkClusterRouting -benchtime 20000x ./acd/redisstore/
func BenchmarkClusterRouting(b *testing.B) {
	srv := redistest.Start(b)
	variants := []struct {
		name  string
		nodes int
		addr  string // "" = memory store, one node
	}{
		{"memory-1node", 1, ""},
		{"redis-1node-tcp", 1, srv.Addr},
		{"redis-2nodes-tcp", 2, srv.Addr},
		{"redis-2nodes-unix", 2, srv.Socket},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			runClusterBench(b, v.nodes, v.addr, fmt.Sprintf("cb%d:", prefixes.Add(1)))
		})
	}
}

const (
	benchAgents  = 100 // in total, split over the nodes
	benchCallers = 200 // in total, split over the nodes
)

// countingStore counts the calls the ACD makes on its store.
type countingStore struct {
	acd.Store
	claims, ops *atomic.Int64
}

func (s countingStore) SaveAgent(ctx context.Context, r acd.AgentRecord) error {
	s.ops.Add(1)
	return s.Store.SaveAgent(ctx, r)
}

func (s countingStore) DeleteAgent(ctx context.Context, id string) error {
	s.ops.Add(1)
	return s.Store.DeleteAgent(ctx, id)
}

func (s countingStore) SaveCall(ctx context.Context, r acd.CallRecord) error {
	s.ops.Add(1)
	return s.Store.SaveCall(ctx, r)
}

func (s countingStore) DeleteCall(ctx context.Context, id string) error {
	s.ops.Add(1)
	return s.Store.DeleteCall(ctx, id)
}

func (s countingStore) Claim(ctx context.Context, callID, agentID string) error {
	s.ops.Add(1)
	s.claims.Add(1)
	return s.Store.Claim(ctx, callID, agentID)
}

func (s countingStore) Release(ctx context.Context, callID, agentID string) error {
	s.ops.Add(1)
	return s.Store.Release(ctx, callID, agentID)
}

func (s countingStore) AddSL(ctx context.Context, d acd.SLDelta) error {
	s.ops.Add(1)
	return s.Store.AddSL(ctx, d)
}

// answerPhone answers every offer at once.
type answerPhone struct{}

func (answerPhone) Ring(context.Context, acd.Offer) error { return nil }

// latencies collects durations from several goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) reset() {
	l.mu.Lock()
	l.d = l.d[:0]
	l.mu.Unlock()
}

// quantile returns the q-quantile in microseconds (0 if empty).
func (l *latencies) quantile(q float64) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	s := slices.Clone(l.d)
	slices.Sort(s)
	return float64(s[int(q*float64(len(s)-1))].Nanoseconds()) / 1e3
}

type benchNode struct {
	acd  *acd.ACD
	name string
}

func runClusterBench(b *testing.B, nodes int, addr, prefix string) {
	var decide, enqueue, ended latencies
	var claims, ops atomic.Int64
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()

	ns := make([]benchNode, nodes)
	for n := range ns {
		name := fmt.Sprintf("n%d", n+1)
		var store acd.Store = acd.NewMemoryStore()
		var link *Link
		if addr != "" {
			s, err := New(Options{Addr: addr, Prefix: prefix, Node: name})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			link = NewLink(s, quiet)
			store = link.Store()
		}
		deps := acd.Deps{Phone: answerPhone{}, Store: countingStore{store, &claims, &ops}}
		if link != nil && nodes > 1 {
			deps.Cluster = link
		}
		a, err := acd.New(acd.Config{
			Routing:         routing.Config{Tiers: []routing.Tier{{Name: "normal", Target: 0.8, Threshold: 20 * time.Second}}, Queues: []routing.Queue{{Name: "general"}}},
			WrapUp:          0,
			Logger:          quiet,
			ObserveDecision: func(_ string, d time.Duration) { decide.add(d) },
		}, deps)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { a.Close() })
		wg.Add(1)
		go func() { defer wg.Done(); _ = a.Run(ctx) }()
		if deps.Cluster != nil {
			wg.Add(1)
			go func() { defer wg.Done(); _ = link.Run(ctx, a) }()
		}
		ns[n] = benchNode{acd: a, name: name}
	}
	for i := range benchAgents {
		n := ns[i%nodes]
		if err := n.acd.Login(acd.AgentProfile{ID: fmt.Sprintf("%s-a%03d", n.name, i), Skills: map[string]int{"general": 1}}); err != nil {
			b.Fatal(err)
		}
	}
	// Every node must see every agent before the clock starts, or the
	// first calls only reach local agents.
	waitFor(b, "every node to see every agent", func() bool {
		for _, n := range ns {
			if len(n.acd.Agents()) != benchAgents {
				return false
			}
		}
		return true
	})

	var next, remote atomic.Int64
	next.Store(-1)
	errs := make(chan error, benchCallers)
	decide.reset()
	claims.Store(0)
	ops.Store(0)
	b.ResetTimer()
	start := time.Now()
	var callers sync.WaitGroup
	for c := range benchCallers {
		n := ns[c%nodes]
		callers.Add(1)
		go func() {
			defer callers.Done()
			for {
				i := next.Add(1)
				if i >= int64(b.N) {
					return
				}
				if err := benchCall(ctx, n, fmt.Sprintf("%s-c%d", n.name, i), &enqueue, &ended, &remote); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	callers.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
	b.ReportMetric(decide.quantile(0.5), "decide-p50-µs")
	b.ReportMetric(decide.quantile(0.99), "decide-p99-µs")
	b.ReportMetric(enqueue.quantile(0.99), "enqueue-p99-µs")
	b.ReportMetric(ended.quantile(0.99), "ended-p99-µs")
	b.ReportMetric(float64(claims.Load())/float64(b.N), "claims/call")
	b.ReportMetric(float64(ops.Load())/float64(b.N), "store-ops/call")
	b.ReportMetric(100*float64(remote.Load())/float64(b.N), "remote-%")
}

// benchCall is one caller: queue, get connected, hang up.
func benchCall(ctx context.Context, n benchNode, id string, enqueue, ended *latencies, remote *atomic.Int64) error {
	// A hang guard, not a latency expectation: a lost call fails the run.
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st := time.Now()
	tk, err := n.acd.Enqueue(cctx, acd.Call{ID: id, Queue: "general", Tier: "normal"})
	if err != nil {
		return fmt.Errorf("enqueue %s: %w", id, err)
	}
	enqueue.add(time.Since(st))
	out, err := tk.Wait(cctx)
	if err != nil {
		return fmt.Errorf("call %s: %w", id, err)
	}
	if out.Kind != acd.Connected {
		return fmt.Errorf("call %s: %+v, want connected", id, out)
	}
	if !strings.HasPrefix(out.AgentID, n.name+"-") {
		remote.Add(1)
	}
	st = time.Now()
	if err := n.acd.CallEnded(id, "caller"); err != nil {
		return fmt.Errorf("end %s: %w", id, err)
	}
	ended.add(time.Since(st))
	return nil
}

func waitFor(b *testing.B, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(15 * time.Second) // hang guard
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
