package acd

import (
	"context"
	"errors"
	"testing"
)

func TestTransitionTable(t *testing.T) {
	legal := map[[2]State]bool{}
	for _, p := range [][2]State{
		{LoggedOut, Ready},
		{Ready, Reserved}, {Ready, NotReady}, {Ready, Break}, {Ready, Adjust}, {Ready, Study}, {Ready, WrapUp}, {Ready, LoggedOut},
		{Reserved, Talking}, {Reserved, Ready}, {Reserved, NotReady}, {Reserved, LoggedOut},
		{Talking, Held}, {Talking, WrapUp},
		{Held, Talking}, {Held, WrapUp},
		{WrapUp, Ready}, {WrapUp, NotReady}, {WrapUp, Break}, {WrapUp, Adjust}, {WrapUp, Study}, {WrapUp, LoggedOut},
		{NotReady, Ready}, {NotReady, NotReady}, {NotReady, Break}, {NotReady, Adjust}, {NotReady, Study}, {NotReady, LoggedOut},
		{Break, Ready}, {Break, NotReady}, {Break, LoggedOut},
		{Adjust, Ready}, {Adjust, NotReady}, {Adjust, Break}, {Adjust, LoggedOut},
		{Study, Ready}, {Study, NotReady}, {Study, LoggedOut},
	} {
		legal[p] = true
	}
	for _, from := range AllStates {
		for _, to := range AllStates {
			if got := CanTransition(from, to); got != legal[[2]State{from, to}] {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, !got)
			}
		}
	}
}

// reach drives agent "a" (general level 1) into state s through the public API.
func reach(t *testing.T, h *harness, s State) {
	t.Helper()
	if s == LoggedOut {
		return
	}
	h.login(t, "a", map[string]int{"general": 1})
	switch s {
	case Ready:
	case NotReady:
		must(t, h.acd.SetNotReady("a", "meeting"))
	case Break:
		must(t, h.acd.StartBreak("a", "lunch"))
	case Adjust:
		must(t, h.acd.StartAdjust("a"))
	case Study:
		must(t, h.acd.StartStudy("a"))
	case Reserved:
		h.phone.set("a", phoneHold)
		h.enqueue(t, context.Background(), "c1", "general", "gold")
		<-h.phone.ringing
	case Talking, Held, WrapUp:
		h.enqueue(t, context.Background(), "c1", "general", "gold")
		h.waitState(t, "a", Talking)
		if s == Held {
			must(t, h.acd.Hold("a"))
		}
		if s == WrapUp {
			must(t, h.acd.CallEnded("c1", "caller"))
		}
	}
	if got := h.state(t, "a"); got != s {
		t.Fatalf("reached %s, want %s", got, s)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestAgentActionsEveryState tries every agent and supervisor action in
// every state: the action succeeds exactly when the state machine allows
// it, and a refusal is a typed *TransitionError that changes nothing.
func TestAgentActionsEveryState(t *testing.T) {
	actions := []struct {
		name string
		to   State
		only State // if set, legal only from this state
		do   func(a *ACD) error
	}{
		{"SetReady", Ready, "", func(a *ACD) error { return a.SetReady("a") }},
		{"SetNotReady", NotReady, "", func(a *ACD) error { return a.SetNotReady("a", "other") }},
		{"StartBreak", Break, "", func(a *ACD) error { return a.StartBreak("a", "toilet") }},
		{"StartAdjust", Adjust, "", func(a *ACD) error { return a.StartAdjust("a") }},
		{"StartStudy", Study, "", func(a *ACD) error { return a.StartStudy("a") }},
		{"EnterWrapUp", WrapUp, Ready, func(a *ACD) error { return a.EnterWrapUp("a") }},
		{"Hold", Held, Talking, func(a *ACD) error { return a.Hold("a") }},
		{"Unhold", Talking, Held, func(a *ACD) error { return a.Unhold("a") }},
		{"Logout", LoggedOut, "", func(a *ACD) error { return a.Logout("a") }},
		{"ForceReady", Ready, "", func(a *ACD) error { return a.ForceReady("9001", "a") }},
		{"ForceNotReady", NotReady, "", func(a *ACD) error { return a.ForceNotReady("9001", "a", "") }},
		{"ForceSignOut", LoggedOut, "", func(a *ACD) error { return a.ForceSignOut("9001", "a") }},
	}
	for _, from := range AllStates {
		for _, act := range actions {
			t.Run(string(from)+"/"+act.name, func(t *testing.T) {
				h := newHarness(t, nil)
				reach(t, h, from)
				err := act.do(h.acd)
				// Out of Reserved only sign-out is an action; the rest are
				// the offer life cycle's (answer, abandon, no answer).
				legal := CanTransition(from, act.to) && (from != Reserved || act.to == LoggedOut)
				if act.only != "" {
					legal = from == act.only
				}
				if from == LoggedOut {
					if !errors.Is(err, ErrUnknownAgent) {
						t.Fatalf("logged-out agent: err %v, want ErrUnknownAgent", err)
					}
					return
				}
				if legal {
					if err != nil {
						t.Fatalf("legal %s → %s refused: %v", from, act.to, err)
					}
					if got := h.state(t, "a"); got != act.to {
						t.Fatalf("state %s, want %s", got, act.to)
					}
					return
				}
				var te *TransitionError
				if !errors.As(err, &te) || !errors.Is(err, ErrIllegalTransition) || te.From != from {
					t.Fatalf("illegal %s → %s: err %v, want *TransitionError from %s", from, act.to, err, from)
				}
				if got := h.state(t, "a"); got != from {
					t.Fatalf("refused action changed state to %s", got)
				}
			})
		}
	}
}

func TestLoginErrors(t *testing.T) {
	h := newHarness(t, nil)
	h.login(t, "1001", map[string]int{"billing": 1, "general": 2})
	tests := []struct {
		name string
		p    AgentProfile
		want error
	}{
		{"twice", AgentProfile{ID: "1001"}, ErrAlreadyLoggedIn},
		{"seat taken", AgentProfile{ID: "1002", Seat: "1001"}, ErrSeatBusy},
		{"unknown queue", AgentProfile{ID: "1003", Skills: map[string]int{"sales": 1}}, nil},
		{"bad mode", AgentProfile{ID: "1004", Mode: "psychic"}, ErrInvalidConfig},
		{"no id", AgentProfile{}, ErrInvalidConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := h.acd.Login(tc.p)
			if err == nil {
				t.Fatal("login accepted")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func TestPermissions(t *testing.T) {
	h := newHarness(t, nil)
	h.login(t, "a", map[string]int{"general": 1}, func(p *AgentProfile) { p.CanAdjust, p.CanExtendWrapUp = false, false })
	if err := h.acd.StartAdjust("a"); !errors.Is(err, ErrNotPermitted) {
		t.Errorf("adjust without permission: %v", err)
	}
	if err := h.acd.EnterWrapUp("a"); !errors.Is(err, ErrNotPermitted) {
		t.Errorf("wrap-up by hand without permission: %v", err)
	}
	if err := h.acd.StartBreak("a", "nap"); !errors.Is(err, ErrUnknownReason) {
		t.Errorf("unknown break reason: %v", err)
	}
	if got := h.state(t, "a"); got != Ready {
		t.Errorf("state %s after refusals", got)
	}
}
