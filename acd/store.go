package acd

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// AgentRecord is what the store keeps per logged-in agent.
type AgentRecord struct {
	Profile AgentProfile
	State   State
	Reason  string
	Since   time.Time
	CallID  string
}

// CallRecord is what the store keeps per call in the ACD.
type CallRecord struct {
	Call    Call
	State   string // queued, ringing, talking
	AgentID string
}

// SLDelta adds to the cumulative per queue+tier counters.
type SLDelta struct {
	Queue, Tier    string
	Offered        int
	Answered       int
	AnsweredWithin int
	Abandoned      int // after the short-abandon threshold
	Overflowed     int
}

// Store holds the shared state of queues, agents and service-level
// counters. The in-memory implementation serves one node; a Redis one
// (cluster issue) maps agents and calls to hashes, queues to sorted sets by
// enqueue time and Claim to one Lua script (or WATCH/MULTI) that sets both
// claim keys only if neither exists, so that two nodes can never give one
// call to two agents or two calls to one agent.
type Store interface {
	SaveAgent(ctx context.Context, r AgentRecord) error
	DeleteAgent(ctx context.Context, id string) error
	Agents(ctx context.Context) ([]AgentRecord, error)
	SaveCall(ctx context.Context, r CallRecord) error
	DeleteCall(ctx context.Context, id string) error
	// Calls returns the calls of a queue ("" = all) by enqueue time.
	Calls(ctx context.Context, queue string) ([]CallRecord, error)
	// Claim atomically binds callID to agentID; ErrClaimed if either is
	// already bound.
	Claim(ctx context.Context, callID, agentID string) error
	// Release undoes a claim (answered call ended, RONA, abandon).
	Release(ctx context.Context, callID, agentID string) error
	AddSL(ctx context.Context, d SLDelta) error
	SLTotals(ctx context.Context) ([]SLDelta, error)
}

// MemoryStore is the single-node Store.
type MemoryStore struct {
	mu         sync.Mutex
	agents     map[string]AgentRecord
	calls      map[string]CallRecord
	callClaim  map[string]string
	agentClaim map[string]string
	sl         map[[2]string]*SLDelta
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		agents: map[string]AgentRecord{}, calls: map[string]CallRecord{},
		callClaim: map[string]string{}, agentClaim: map[string]string{},
		sl: map[[2]string]*SLDelta{},
	}
}

// SaveAgent implements Store.
func (s *MemoryStore) SaveAgent(_ context.Context, r AgentRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.agents[r.Profile.ID] = r
	return nil
}

// DeleteAgent implements Store.
func (s *MemoryStore) DeleteAgent(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.agents, id)
	return nil
}

// Agents implements Store.
func (s *MemoryStore) Agents(context.Context) ([]AgentRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]AgentRecord, 0, len(s.agents))
	for _, r := range s.agents {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b AgentRecord) int { return compareStrings(a.Profile.ID, b.Profile.ID) })
	return out, nil
}

// SaveCall implements Store.
func (s *MemoryStore) SaveCall(_ context.Context, r CallRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[r.Call.ID] = r
	return nil
}

// DeleteCall implements Store.
func (s *MemoryStore) DeleteCall(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.calls, id)
	return nil
}

// Calls implements Store.
func (s *MemoryStore) Calls(_ context.Context, queue string) ([]CallRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []CallRecord
	for _, r := range s.calls {
		if queue == "" || r.Call.Queue == queue {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b CallRecord) int { return a.Call.EnqueuedAt.Compare(b.Call.EnqueuedAt) })
	return out, nil
}

// Claim implements Store.
func (s *MemoryStore) Claim(_ context.Context, callID, agentID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.callClaim[callID]; ok {
		return fmt.Errorf("claim call %s for %s: held by agent %s: %w", callID, agentID, a, ErrCallTaken)
	}
	if c, ok := s.agentClaim[agentID]; ok {
		return fmt.Errorf("claim agent %s for %s: holds call %s: %w", agentID, callID, c, ErrAgentTaken)
	}
	s.callClaim[callID] = agentID
	s.agentClaim[agentID] = callID
	return nil
}

// Release implements Store.
func (s *MemoryStore) Release(_ context.Context, callID, agentID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.callClaim[callID] == agentID {
		delete(s.callClaim, callID)
	}
	if s.agentClaim[agentID] == callID {
		delete(s.agentClaim, agentID)
	}
	return nil
}

// AddSL implements Store.
func (s *MemoryStore) AddSL(_ context.Context, d SLDelta) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{d.Queue, d.Tier}
	t := s.sl[k]
	if t == nil {
		t = &SLDelta{Queue: d.Queue, Tier: d.Tier}
		s.sl[k] = t
	}
	t.Offered += d.Offered
	t.Answered += d.Answered
	t.AnsweredWithin += d.AnsweredWithin
	t.Abandoned += d.Abandoned
	t.Overflowed += d.Overflowed
	return nil
}

// SLTotals implements Store.
func (s *MemoryStore) SLTotals(context.Context) ([]SLDelta, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SLDelta, 0, len(s.sl))
	for _, t := range s.sl {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b SLDelta) int {
		if c := compareStrings(a.Queue, b.Queue); c != 0 {
			return c
		}
		return compareStrings(a.Tier, b.Tier)
	})
	return out, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
