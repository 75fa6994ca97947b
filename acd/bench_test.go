package acd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/routing"
)

// blockingPhone rings until the ACD cancels (Close).
type blockingPhone struct{}

func (blockingPhone) Ring(ctx context.Context, o Offer) error {
	<-ctx.Done()
	return ctx.Err()
}

// BenchmarkACDAgentReady measures the whole ACD path for "agent becomes
// free → call chosen and offered" (routing decision, store claim, state
// change, state log, events) with 10,000 agents in 500 queues and 5,000
// waiting calls.
func BenchmarkACDAgentReady(b *testing.B) {
	const nAgents, nQueues, nCalls = 10000, 500, 5000
	rc := routing.Config{
		Tiers: []routing.Tier{
			{Name: "diamond", Target: 0.95, Threshold: 10 * time.Second},
			{Name: "gold", Target: 0.90, Threshold: 15 * time.Second},
			{Name: "silver", Target: 0.85, Threshold: 20 * time.Second},
			{Name: "normal", Target: 0.80, Threshold: 20 * time.Second},
		},
	}
	for i := 0; i < nQueues; i++ {
		rc.Queues = append(rc.Queues, routing.Queue{Name: fmt.Sprintf("q%03d", i)})
	}
	a, err := New(Config{Routing: rc, RingTimeout: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		Deps{Phone: blockingPhone{}, Log: &MemoryLog{}})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	sub := a.Bus().Subscribe("bench", 1<<20)
	defer sub.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	var ids []string
	for i := 0; i < nAgents; i++ {
		p := AgentProfile{ID: fmt.Sprintf("a%05d", i), Skills: map[string]int{}}
		for len(p.Skills) < 5 {
			p.Skills[rc.Queues[rng.IntN(nQueues)].Name] = 1 + rng.IntN(3)
		}
		if err := a.Login(p); err != nil {
			b.Fatal(err)
		}
		if err := a.SetNotReady(p.ID, "bench"); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	for i := 0; i < nCalls; i++ {
		if _, err := a.Enqueue(context.Background(), Call{Queue: rc.Queues[rng.IntN(nQueues)].Name, Tier: rc.Tiers[rng.IntN(4)].Name}); err != nil {
			b.Fatal(err)
		}
	}
	if b.N > nAgents {
		b.Fatalf("run with -benchtime ≤ %dx", nAgents)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st := time.Now()
		if err := a.SetReady(ids[i]); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(st))
	}
	b.StopTimer()
	offered := 0
	for _, s := range a.Agents() {
		if s.State == Reserved {
			offered++
		}
	}
	b.ReportMetric(float64(offered)/float64(b.N), "offered/ready")
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	b.ReportMetric(float64(sum.Nanoseconds())/float64(len(lat)), "mean-ns/ready")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns/ready")
}
