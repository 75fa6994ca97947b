package main

import (
	"container/heap"
	"fmt"
	"strconv"
	"time"

	"github.com/hotlinecc/hotline/routing"
)

var epoch = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

type evKind int

const (
	evArrival evKind = iota
	evAbandon
	evFree // agent finished talk + wrap-up
	evTick
)

type event struct {
	at   time.Duration
	kind evKind
	id   int
	seq  int
}

type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// outcome of one caller.
type outcome struct {
	arrived  time.Duration
	ended    time.Duration
	tier     int
	answered bool
	counted  bool // answered, or abandoned after the short-abandon threshold
	within   bool
	wait     time.Duration
}

type result struct {
	st       strategy
	outcomes []outcome
	// series[tier][i]: SL over the trailing window at sample i.
	series   [][]float64
	sampleAt []time.Duration
	maxQueue int
}

const (
	sampleEvery = 5 * time.Minute
	chartWindow = 30 * time.Minute
)

// simulate runs one strategy over the scenario's pre-drawn arrivals.
func simulate(sc *scenario, st strategy) (*result, error) {
	cfg := sc.routingConfig(st)
	cfg.Seed = sc.seed
	r, err := routing.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("routing: %w", err)
	}
	for _, a := range sc.agents {
		if err := r.SetAgent(a); err != nil {
			return nil, fmt.Errorf("agent: %w", err)
		}
		if err := r.SetIdle(a.ID, epoch); err != nil {
			return nil, err
		}
	}
	agentIdx := map[string]int{}
	for i, a := range sc.agents {
		agentIdx[a.ID] = i
	}
	res := &result{st: st, outcomes: make([]outcome, len(sc.arrivals))}
	waiting := 0
	var q eventQueue
	seq := 0
	push := func(at time.Duration, k evKind, id int) {
		seq++
		heap.Push(&q, event{at: at, kind: k, id: id, seq: seq})
	}
	for i, a := range sc.arrivals {
		push(a.at, evArrival, i)
	}
	push(time.Second, evTick, 0)
	call := func(i int) routing.Call {
		a := sc.arrivals[i]
		return routing.Call{ID: strconv.Itoa(i), Queue: sc.queues[a.queue].Name, Tier: sc.tiers[a.tier].Name, Region: a.region, EnqueuedAt: epoch.Add(a.at)}
	}
	callIdx := func(id string) int {
		n, _ := strconv.Atoi(id)
		return n
	}
	// serve connects call i to agent ag at now.
	serve := func(i int, agentID string, now time.Duration) error {
		a := sc.arrivals[i]
		if err := r.SetBusy(agentID); err != nil {
			return err
		}
		_ = r.Assigned(agentID, sc.queues[a.queue].Name)
		wait := now - a.at
		if err := r.Answered(sc.queues[a.queue].Name, sc.tiers[a.tier].Name, wait, epoch.Add(now)); err != nil {
			return err
		}
		level := sc.agents[agentIdx[agentID]].Skills[sc.queues[a.queue].Name]
		handle := time.Duration(float64(a.handle) * (1 + sc.levelSlow*float64(level-1)))
		res.outcomes[i] = outcome{arrived: a.at, ended: now, tier: a.tier, answered: true, counted: true,
			within: wait <= sc.tiers[a.tier].Threshold, wait: wait}
		push(now+handle+sc.wrapUp, evFree, agentIdx[agentID])
		return nil
	}
	state := make([]int8, len(sc.arrivals)) // 0 pending, 1 waiting, 2 done
	pending := len(sc.arrivals)
	for q.Len() > 0 {
		e := heap.Pop(&q).(event)
		now := e.at
		tnow := epoch.Add(now)
		switch e.kind {
		case evArrival:
			c := call(e.id)
			if id, ok, err := r.CallArrived(c, tnow); err != nil {
				return nil, err
			} else if ok {
				state[e.id] = 2
				pending--
				if err := serve(e.id, id, now); err != nil {
					return nil, err
				}
				continue
			}
			if err := r.AddCall(c); err != nil {
				return nil, err
			}
			state[e.id] = 1
			waiting++
			if waiting > res.maxQueue {
				res.maxQueue = waiting
			}
			push(now+sc.arrivals[e.id].patience, evAbandon, e.id)
		case evAbandon:
			if state[e.id] != 1 {
				continue
			}
			if _, err := r.RemoveCall(strconv.Itoa(e.id)); err != nil {
				return nil, err
			}
			state[e.id] = 2
			pending--
			waiting--
			a := sc.arrivals[e.id]
			counted, err := r.Abandoned(sc.queues[a.queue].Name, sc.tiers[a.tier].Name, now-a.at, tnow)
			if err != nil {
				return nil, err
			}
			res.outcomes[e.id] = outcome{arrived: a.at, ended: now, tier: a.tier, counted: counted, wait: now - a.at}
		case evFree:
			id := sc.agents[e.id].ID
			c, ok, err := r.AgentFreed(id, tnow)
			if err != nil {
				return nil, err
			}
			if !ok {
				if err := r.SetIdle(id, tnow); err != nil {
					return nil, err
				}
				continue
			}
			i := callIdx(c.ID)
			if _, err := r.RemoveCall(c.ID); err != nil {
				return nil, err
			}
			state[i] = 2
			pending--
			waiting--
			if err := serve(i, id, now); err != nil {
				return nil, err
			}
		case evTick:
			// Region and preferred-group holds run out between events.
			for {
				m, ok := r.NextMatch(tnow)
				if !ok {
					break
				}
				i := callIdx(m.CallID)
				if _, err := r.RemoveCall(m.CallID); err != nil {
					return nil, err
				}
				state[i] = 2
				pending--
				waiting--
				if err := serve(i, m.AgentID, now); err != nil {
					return nil, err
				}
			}
			if pending > 0 {
				push(now+time.Second, evTick, 0)
			}
		}
	}
	return res, nil
}

// sample builds each tier's SL over a trailing chartWindow, by outcome time.
func (res *result) sample(sc *scenario) {
	res.series = make([][]float64, len(sc.tiers))
	for t := chartWindow; t <= sc.day; t += sampleEvery {
		res.sampleAt = append(res.sampleAt, t)
		within := make([]int, len(sc.tiers))
		den := make([]int, len(sc.tiers))
		for _, o := range res.outcomes {
			if o.ended > t-chartWindow && o.ended <= t && o.counted {
				den[o.tier]++
				if o.within {
					within[o.tier]++
				}
			}
		}
		for i := range sc.tiers {
			v := 1.0
			if den[i] > 0 {
				v = float64(within[i]) / float64(den[i])
			}
			res.series[i] = append(res.series[i], v)
		}
	}
}

// tierStats summarises the callers of one tier who arrived in [from, to).
type tierStats struct {
	offered, answered, within int
	abandoned                 int // after the short-abandon threshold (counted in SL)
	abandonedAll              int
	waitSum, maxWait          time.Duration
}

func (s tierStats) sl() float64 {
	if d := s.answered + s.abandoned; d > 0 {
		return float64(s.within) / float64(d)
	}
	return 1
}

func (s tierStats) asa() time.Duration {
	if s.answered == 0 {
		return 0
	}
	return s.waitSum / time.Duration(s.answered)
}

func (res *result) stats(sc *scenario, from, to time.Duration) []tierStats {
	out := make([]tierStats, len(sc.tiers))
	for _, o := range res.outcomes {
		if o.arrived < from || o.arrived >= to {
			continue
		}
		s := &out[o.tier]
		s.offered++
		switch {
		case o.answered:
			s.answered++
			s.waitSum += o.wait
			if o.wait > s.maxWait {
				s.maxWait = o.wait
			}
			if o.within {
				s.within++
			}
		case o.counted:
			s.abandoned++
			s.abandonedAll++
		default:
			s.abandonedAll++
		}
	}
	return out
}
