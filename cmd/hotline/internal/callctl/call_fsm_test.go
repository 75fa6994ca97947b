package callctl

import (
	"strings"
	"testing"
)

var allStates = []State{IVR, Queued, Answered, Announcing, Talking, Held, Consulting, Conference, Monitored, Transferring, AfterAgent, Ended}

// The state machine is whole: every state has its transitions and its
// event handlers, every state can reach the end, and the end leads
// nowhere.
func TestTransitionTableIsWhole(t *testing.T) {
	for _, s := range allStates {
		if _, ok := transitions[s]; !ok {
			t.Errorf("state %s has no transitions", s)
		}
		if _, ok := table[s]; !ok {
			t.Errorf("state %s has no event table", s)
		}
		if name := s.String(); name == "" || strings.HasPrefix(name, "state(") {
			t.Errorf("state %d has no name", int(s))
		}
	}
	if len(transitions[Ended]) != 0 || len(table[Ended]) != 0 {
		t.Error("the end is not final")
	}
	// Every state reaches Ended, and every state is reached from IVR.
	reach := func(from State) map[State]bool {
		seen := map[State]bool{from: true}
		todo := []State{from}
		for len(todo) > 0 {
			s := todo[0]
			todo = todo[1:]
			for _, n := range transitions[s] {
				if !seen[n] {
					seen[n] = true
					todo = append(todo, n)
				}
			}
		}
		return seen
	}
	fromIVR := reach(IVR)
	for _, s := range allStates {
		if !fromIVR[s] {
			t.Errorf("state %s cannot be reached from the IVR", s)
		}
		if !reach(s)[Ended] {
			t.Errorf("state %s cannot reach the end", s)
		}
	}
}

// A caller hanging up is handled in every live state, and so are the flow
// ending and the engine's shutdown: no state can leave a call (and its
// agent) hanging.
func TestEveryLiveStateHandlesTheEnd(t *testing.T) {
	for _, s := range allStates {
		if s == Ended {
			continue
		}
		for _, k := range []eventKind{evCallerGone, evFlowDone, evShutdown} {
			if table[s][k] == nil {
				t.Errorf("state %s does not handle %s", s, k)
			}
		}
		if !canMove(s, Ended) {
			t.Errorf("state %s cannot end", s)
		}
	}
}

// The desktop's buttons act in the states the desktop shows a call, and
// every state in which the flow waits for the conversation handles the
// agent side leaving.
func TestConversationStatesHandleActionsAndLegs(t *testing.T) {
	for _, s := range []State{Announcing, Talking, Held, Consulting, Conference, Monitored, Transferring} {
		if table[s][evAction] == nil {
			t.Errorf("state %s refuses desktop actions", s)
		}
		if table[s][evLegGone] == nil {
			t.Errorf("state %s ignores a leg ending", s)
		}
		if s.conversing() == (s == Transferring) {
			t.Errorf("state %s: conversing() = %v", s, s.conversing())
		}
	}
	for _, s := range []State{Queued, Answered} {
		if table[s][evOutcome] == nil {
			t.Errorf("state %s ignores the ACD's verdict", s)
		}
	}
}

func TestDirectTransitionTable(t *testing.T) {
	for _, s := range []directState{directRingingAgent, directRingingFar, directTalking, directHeld} {
		if !canMoveDirect(s, directEnded) {
			t.Errorf("direct state %s cannot end", s)
		}
	}
	if canMoveDirect(directEnded, directTalking) || canMoveDirect(directRingingAgent, directTalking) {
		t.Error("the direct call skips or revives states")
	}
}

func TestBaseCallID(t *testing.T) {
	for in, want := range map[string]string{"abc": "abc", "abc~c1": "abc", "": ""} {
		if got := baseCallID(in); got != want {
			t.Errorf("baseCallID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMailboxTransitions(t *testing.T) {
	tests := []struct {
		from, to mailboxState
		ok       bool
	}{
		{boxNew, boxIdle, true},
		{boxNew, boxOwned, true},
		{boxNew, boxClosed, false}, // a call never started has no owner to close it
		{boxIdle, boxNew, false},
		{boxIdle, boxOwned, true},
		{boxIdle, boxClosed, false}, // only the owner closes
		{boxOwned, boxIdle, true},
		{boxOwned, boxClosed, true},
		{boxOwned, boxOwned, false}, // never two owners
		{boxClosed, boxOwned, false},
		{boxClosed, boxIdle, false},
	}
	for _, tt := range tests {
		s := tt.from
		if got := s.to(tt.to); got != tt.ok {
			t.Errorf("%s → %s: moved %v, want %v", tt.from, tt.to, got, tt.ok)
		}
		if want := map[bool]mailboxState{true: tt.to, false: tt.from}[tt.ok]; s != want {
			t.Errorf("%s → %s: state %s, want %s", tt.from, tt.to, s, want)
		}
	}
}
