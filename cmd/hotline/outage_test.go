package main

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd/redisstore/redistest"
)

// Two nodes; n2's agents take n1's callers; Redis stops while they talk.
// When the calls end on n1 (the agents hang up), n2 — cut off from Redis
// and from the bus — hears it straight from n1 and frees its agents within
// seconds, not at the end of the outage, and they take n2's own callers
// during the outage. After Redis returns, n2 is killed: n1 reaps it and
// releases its agents within the lease.
func TestClusterOutageFreesAgentsOfOtherNodesCalls(t *testing.T) {
	srv := redistest.Start(t)
	bin := binary(t)
	cfg := clusterConfig(t, srv.Addr)
	n1 := startNode(t, bin, cfg, "n1", 30000)
	n2 := startNode(t, bin, cfg, "n2", 30200)
	agentPhone(t, n2, "1003", 9000)
	agentPhone(t, n2, "1001", 9000)
	for _, n := range []*node{n1, n2} {
		eventually(t, n.name+" to see both agents ready", 20*time.Second, func() bool {
			a := n.agents(t)
			return a["1003"].State == "ready" && a["1001"].State == "ready"
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	var cross sync.WaitGroup
	placeCall(t, ctx, &cross, n1, "13900000001")
	placeCall(t, ctx, &cross, n1, "13900000002")
	eventually(t, "n2's agents talking on n1's calls", 20*time.Second, func() bool {
		a := n2.agents(t)
		return a["1003"].State == "talking" && a["1001"].State == "talking" && a["1003"].CallNode == "n1" && a["1001"].CallNode == "n1"
	})

	srv.Stop()
	for _, n := range []*node{n1, n2} {
		eventually(t, n.name+" degraded", 15*time.Second, func() bool { return n.metric(t, "hotline_cluster_degraded") == "1" })
	}
	// The agents hang up (9 s into their calls); the callers get n1's BYE.
	cross.Wait()
	ended := time.Now()
	eventually(t, "n2 to free its agents", 20*time.Second, func() bool {
		a := n2.agents(t)
		return a["1003"].State != "talking" && a["1001"].State != "talking"
	})
	t.Logf("n2's agents freed %v after their calls on n1 ended (Redis down)", time.Since(ended).Round(100*time.Millisecond))
	// And they serve n2's own callers during the outage.
	var local sync.WaitGroup
	placeCall(t, ctx, &local, n2, "13910000001")
	placeCall(t, ctx, &local, n2, "13910000002")
	local.Wait()
	answered := 0
	eventually(t, "n2's callers recorded", 20*time.Second, func() bool {
		answered = 0
		for _, r := range n2.callRecords(t) {
			if r.Times.Answered != nil && (r.Caller == "13910000001" || r.Caller == "13910000002") {
				answered++
			}
		}
		return answered == 2
	})

	srv.Restart(t)
	for _, n := range []*node{n1, n2} {
		eventually(t, n.name+" rejoined", 20*time.Second, func() bool {
			a := n.agents(t)
			return n.metric(t, "hotline_cluster_degraded") == "0" && a["1003"].State == "ready" && a["1001"].State == "ready"
		})
	}
	n2.proc.kill()
	killed := time.Now()
	eventually(t, "n1 to reap n2", 10*time.Second, func() bool {
		a := n1.agents(t)
		_, ok1 := a["1001"]
		_, ok3 := a["1003"]
		return !ok1 && !ok3
	})
	t.Logf("n2 reaped by n1 %v after SIGKILL (lease_ttl 1.5 s)", time.Since(killed).Round(100*time.Millisecond))
}
