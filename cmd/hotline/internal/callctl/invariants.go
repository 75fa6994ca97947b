package callctl

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/sip"
)

// Violation is one broken invariant.
type Violation struct {
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

func (v Violation) String() string { return v.Kind + ": " + v.Detail }

// Invariant kinds.
const (
	// KindAgentWithoutCall: the ACD shows an agent of this node reserved,
	// talking or held for a call this node does not have (or that does
	// not name the agent): a stuck agent.
	KindAgentWithoutCall = "agent_without_call"
	// KindLegWithoutCall: an answered SIP leg no call owns: a phone left
	// connected to nobody.
	KindLegWithoutCall = "leg_without_call"
	// KindAgentInTwoCalls: one agent on two calls at once: double booking.
	KindAgentInTwoCalls = "agent_in_two_calls"
	// KindRecordMissing / KindRecordTwice: an ended call without its one
	// record, or with more than one.
	KindRecordMissing = "record_missing"
	KindRecordTwice   = "record_twice"
)

// ledger remembers recently ended calls and their records.
type ledger struct {
	mu    sync.Mutex
	ended map[string]*ledgerEntry
	order []string
}

type ledgerEntry struct {
	endedAt time.Time
	records int
}

const ledgerSize = 20000

func (l *ledger) entry(id string) *ledgerEntry {
	if l.ended == nil {
		l.ended = map[string]*ledgerEntry{}
	}
	e := l.ended[id]
	if e == nil {
		e = &ledgerEntry{}
		l.ended[id] = e
		l.order = append(l.order, id)
		if len(l.order) > ledgerSize {
			delete(l.ended, l.order[0])
			l.order = l.order[1:]
		}
	}
	return e
}

func (ctl *Control) noteEnded(callID string) {
	ctl.ledger.mu.Lock()
	ctl.ledger.entry(callID).endedAt = time.Now()
	ctl.ledger.mu.Unlock()
}

// Check states what must always hold between the calls, the legs, the
// ACD's agents and the records, and returns what does not:
//
//   - an agent of this node reserved, talking or held has a live call that
//     names it (as its agent, its answering agent, or the colleague it
//     consults);
//   - every answered SIP leg belongs to a call;
//   - no agent is on two calls;
//   - every call ended longer than recordGrace ago has exactly one record,
//     and none has two (recordGrace covers the wrap-up the record waits for).
//
// A check runs while calls change, so a moment's inconsistency (a leg
// answered an instant before its call takes it) can show; CheckSettled
// and the periodic checker report only what persists.
func (ctl *Control) Check(recordGrace time.Duration) []Violation {
	var out []Violation
	ctl.mu.Lock()
	calls := make(map[string]viewState, len(ctl.calls))
	for id, c := range ctl.calls {
		calls[id] = c.snapshot()
	}
	directs := make([]*directCall, 0, len(ctl.direct))
	for _, dc := range ctl.direct {
		directs = append(directs, dc)
	}
	ctl.mu.Unlock()

	owned := map[string]bool{}
	onCall := map[string][]string{} // agent → calls naming it
	for id, v := range calls {
		for _, l := range v.legs {
			owned[l] = true
		}
		if v.agent != "" {
			onCall[v.agent] = append(onCall[v.agent], id)
		}
		if v.consult != "" {
			onCall[v.consult] = append(onCall[v.consult], id+" (consulted)")
		}
	}
	for _, dc := range directs {
		dc.mu.Lock()
		for _, l := range []string{legID(dc.a), legID(dc.b)} {
			if l != "" {
				owned[l] = true
			}
		}
		dc.mu.Unlock()
	}

	if ctl.acd != nil {
		for _, a := range ctl.acd.Agents() {
			if a.Node != "" || a.CallNode != "" {
				continue // another node serves the agent or holds its call
			}
			switch a.State {
			case acd.Reserved, acd.Talking, acd.Held:
			default:
				continue
			}
			base := baseCallID(a.CallID)
			v, live := calls[base]
			if !live && a.State == acd.Reserved && ctl.dialling(a.CallID) {
				continue // a callback or campaign call ringing its agent or customer: no call yet
			}
			switch {
			case a.CallID == "" || !live:
				out = append(out, Violation{KindAgentWithoutCall, fmt.Sprintf("agent %s is %s on call %q, which does not exist", a.Profile.ID, a.State, a.CallID)})
			case a.State != acd.Reserved && v.agent != a.Profile.ID && v.consult != a.Profile.ID:
				out = append(out, Violation{KindAgentWithoutCall, fmt.Sprintf("agent %s is %s on call %s, which is %s with %q", a.Profile.ID, a.State, a.CallID, v.state, v.agent)})
			}
		}
	}
	for agent, ids := range onCall {
		if len(ids) > 1 {
			slices.Sort(ids)
			out = append(out, Violation{KindAgentInTwoCalls, fmt.Sprintf("agent %s is on calls %s", agent, strings.Join(ids, ", "))})
		}
	}
	if ctl.sip != nil {
		for _, l := range ctl.sip.Legs() {
			if l.Answered && !owned[l.ID] {
				out = append(out, Violation{KindLegWithoutCall, fmt.Sprintf("leg %s (user %q, inbound %v) is answered but no call owns it", l.ID, l.User, l.Inbound)})
			}
		}
	}
	now := time.Now()
	ctl.ledger.mu.Lock()
	for id, e := range ctl.ledger.ended {
		switch {
		case e.records > 1:
			out = append(out, Violation{KindRecordTwice, fmt.Sprintf("call %s has %d records", id, e.records)})
		case e.records == 0 && !e.endedAt.IsZero() && now.Sub(e.endedAt) > recordGrace:
			out = append(out, Violation{KindRecordMissing, fmt.Sprintf("call %s ended %s ago without a record", id, now.Sub(e.endedAt).Round(time.Second))})
		}
	}
	ctl.ledger.mu.Unlock()
	slices.SortFunc(out, func(a, b Violation) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// CheckSettled checks until two checks a moment apart agree on nothing,
// or until ctx ends; then it returns what persisted (tests call it after
// each step, when the calls should have settled).
func (ctl *Control) CheckSettled(ctx context.Context, recordGrace time.Duration) []Violation {
	prev := ctl.Check(recordGrace)
	for len(prev) > 0 {
		select {
		case <-ctx.Done():
			return prev
		case <-time.After(50 * time.Millisecond):
		}
		prev = persisting(prev, ctl.Check(recordGrace))
	}
	return nil
}

// persisting keeps the violations of now that were also seen before.
func persisting(before, now []Violation) []Violation {
	seen := map[Violation]bool{}
	for _, v := range before {
		seen[v] = true
	}
	var out []Violation
	for _, v := range now {
		if seen[v] {
			out = append(out, v)
		}
	}
	return out
}

// RunChecker checks every interval until ctx ends and reports (through
// Hooks.Violation) each violation that persisted over two checks.
func (ctl *Control) RunChecker(ctx context.Context, interval, recordGrace time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var prev []Violation
	reported := map[Violation]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := ctl.Check(recordGrace)
		next := map[Violation]bool{}
		for _, v := range persisting(prev, now) {
			if !reported[v] {
				ctl.violation(v.Kind, v.Detail)
			}
			next[v] = true
		}
		reported, prev = next, now
	}
}

func legID(l *sip.Leg) string {
	if l == nil {
		return ""
	}
	return l.ID
}
