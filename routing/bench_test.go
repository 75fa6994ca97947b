package routing

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// benchRouter builds the performance scenario of the requirements: 10,000
// agents (5 skills each, levels 1–3, 3 regions, 20 % seniors), 500 queues,
// 5,000 waiting calls, half the agents idle.
func benchRouter(b *testing.B) (*Router, []string, []Call) {
	b.Helper()
	const nAgents, nQueues, nCalls = 10000, 500, 5000
	rng := rand.New(rand.NewPCG(1, 2))
	tiers := demoTiers()
	tiers[0].PreferredGroups, tiers[0].WidenAfter = []string{"senior"}, 5*time.Second
	var queues []Queue
	strategies := []Strategy{LongestIdle, FewestCalls, RoundRobin, Random}
	for i := 0; i < nQueues; i++ {
		queues = append(queues, Queue{Name: fmt.Sprintf("q%03d", i), Strategy: strategies[i%4], RegionWiden: 30 * time.Second})
	}
	r, err := New(Config{Tiers: tiers, Queues: queues})
	if err != nil {
		b.Fatal(err)
	}
	regions := []string{"north", "south", "west"}
	var ids []string
	for i := 0; i < nAgents; i++ {
		a := Agent{ID: fmt.Sprintf("a%05d", i), Skills: map[string]int{}, Region: regions[rng.IntN(3)]}
		for len(a.Skills) < 5 {
			a.Skills[queues[rng.IntN(nQueues)].Name] = 1 + rng.IntN(3)
		}
		if rng.IntN(5) == 0 {
			a.Groups = []string{"senior"}
		}
		if err := r.SetAgent(a); err != nil {
			b.Fatal(err)
		}
		if i%2 == 0 {
			if err := r.SetIdle(a.ID, t0.Add(time.Duration(rng.IntN(600))*time.Second)); err != nil {
				b.Fatal(err)
			}
		}
		ids = append(ids, a.ID)
	}
	now := t0.Add(time.Hour)
	var calls []Call
	for i := 0; i < nCalls; i++ {
		c := Call{
			ID: fmt.Sprintf("c%05d", i), Queue: queues[rng.IntN(nQueues)].Name,
			Tier: tiers[rng.IntN(len(tiers))].Name, Region: regions[rng.IntN(3)],
			EnqueuedAt: now.Add(-time.Duration(rng.IntN(120)) * time.Second),
		}
		if err := r.AddCall(c); err != nil {
			b.Fatal(err)
		}
		calls = append(calls, c)
	}
	for i := 0; i < 2000; i++ {
		_ = r.Answered(queues[rng.IntN(nQueues)].Name, tiers[rng.IntN(4)].Name, time.Duration(rng.IntN(40))*time.Second, now)
	}
	return r, ids, calls
}

func report(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	b.ReportMetric(float64(sum.Nanoseconds())/float64(len(lat)), "mean-ns/decision")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns/decision")
}

// BenchmarkAgentFreed: a random agent is freed and chooses among the calls
// waiting in its queues.
func BenchmarkAgentFreed(b *testing.B) {
	r, ids, _ := benchRouter(b)
	now := t0.Add(time.Hour)
	lat := make([]time.Duration, 0, b.N)
	found := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := ids[(i*7919)%len(ids)]
		st := time.Now()
		_, ok, err := r.AgentFreed(id, now)
		lat = append(lat, time.Since(st))
		if err != nil {
			b.Fatal(err)
		}
		if ok {
			found++
		}
	}
	b.StopTimer()
	report(b, lat)
	b.ReportMetric(float64(found)/float64(b.N), "found/decision")
}

// BenchmarkCallArrived: a new call looks for an idle agent.
func BenchmarkCallArrived(b *testing.B) {
	r, _, calls := benchRouter(b)
	now := t0.Add(time.Hour)
	lat := make([]time.Duration, 0, b.N)
	found := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := calls[(i*7919)%len(calls)]
		c.EnqueuedAt = now.Add(-time.Duration(i%40) * time.Second)
		st := time.Now()
		_, ok, err := r.CallArrived(c, now)
		lat = append(lat, time.Since(st))
		if err != nil {
			b.Fatal(err)
		}
		if ok {
			found++
		}
	}
	b.StopTimer()
	report(b, lat)
	b.ReportMetric(float64(found)/float64(b.N), "found/decision")
}

// BenchmarkClaimCycle measures a full decision plus claim and release:
// agent freed → call removed → agent busy → call re-added → agent idle,
// so the indexes are mutated on every iteration.
func BenchmarkClaimCycle(b *testing.B) {
	r, ids, _ := benchRouter(b)
	now := t0.Add(time.Hour)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := ids[(i*7919)%len(ids)]
		st := time.Now()
		c, ok, _ := r.AgentFreed(id, now)
		if ok {
			_, _ = r.RemoveCall(c.ID)
			_ = r.SetBusy(id)
			_ = r.Assigned(id, c.Queue)
		}
		lat = append(lat, time.Since(st))
		if ok {
			_ = r.AddCall(c)
			_ = r.SetIdle(id, now)
		}
	}
	b.StopTimer()
	report(b, lat)
}

// BenchmarkPosition: the announced place of a waiting caller (O(queue
// length), for announcements only).
func BenchmarkPosition(b *testing.B) {
	r, _, calls := benchRouter(b)
	now := t0.Add(time.Hour)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := calls[(i*7919)%len(calls)]
		st := time.Now()
		if _, err := r.Position(c.ID, now); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(st))
	}
	b.StopTimer()
	report(b, lat)
}
