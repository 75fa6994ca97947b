package acdtest

import (
	"context"
	"errors"
	"testing"

	"github.com/hotlinecc/hotline/acd"
)

func (su suite) testTransitionTable(t *testing.T) {
	legal := map[[2]acd.State]bool{}
	for _, p := range [][2]acd.State{
		{acd.LoggedOut, acd.Ready},
		{acd.Ready, acd.Reserved}, {acd.Ready, acd.NotReady}, {acd.Ready, acd.Break}, {acd.Ready, acd.Adjust}, {acd.Ready, acd.Study}, {acd.Ready, acd.WrapUp}, {acd.Ready, acd.LoggedOut},
		{acd.Reserved, acd.Talking}, {acd.Reserved, acd.Ready}, {acd.Reserved, acd.NotReady}, {acd.Reserved, acd.LoggedOut},
		{acd.Talking, acd.Held}, {acd.Talking, acd.WrapUp},
		{acd.Held, acd.Talking}, {acd.Held, acd.WrapUp},
		{acd.WrapUp, acd.Ready}, {acd.WrapUp, acd.NotReady}, {acd.WrapUp, acd.Break}, {acd.WrapUp, acd.Adjust}, {acd.WrapUp, acd.Study}, {acd.WrapUp, acd.LoggedOut},
		{acd.NotReady, acd.Ready}, {acd.NotReady, acd.NotReady}, {acd.NotReady, acd.Break}, {acd.NotReady, acd.Adjust}, {acd.NotReady, acd.Study}, {acd.NotReady, acd.LoggedOut},
		{acd.Break, acd.Ready}, {acd.Break, acd.NotReady}, {acd.Break, acd.LoggedOut},
		{acd.Adjust, acd.Ready}, {acd.Adjust, acd.NotReady}, {acd.Adjust, acd.Break}, {acd.Adjust, acd.LoggedOut},
		{acd.Study, acd.Ready}, {acd.Study, acd.NotReady}, {acd.Study, acd.LoggedOut},
	} {
		legal[p] = true
	}
	for _, from := range acd.AllStates {
		for _, to := range acd.AllStates {
			if got := acd.CanTransition(from, to); got != legal[[2]acd.State{from, to}] {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, !got)
			}
		}
	}
}

// reach drives agent "a" (general level 1) into state s through the public API.
func reach(t *testing.T, h *harness, s acd.State) {
	t.Helper()
	if s == acd.LoggedOut {
		return
	}
	h.login(t, "a", map[string]int{"general": 1})
	switch s {
	case acd.Ready:
	case acd.NotReady:
		must(t, h.acd.SetNotReady("a", "meeting"))
	case acd.Break:
		must(t, h.acd.StartBreak("a", "lunch"))
	case acd.Adjust:
		must(t, h.acd.StartAdjust("a"))
	case acd.Study:
		must(t, h.acd.StartStudy("a"))
	case acd.Reserved:
		h.phone.set("a", phoneHold)
		h.enqueue(t, context.Background(), "c1", "general", "gold")
		<-h.phone.ringing
	case acd.Talking, acd.Held, acd.WrapUp:
		h.enqueue(t, context.Background(), "c1", "general", "gold")
		h.waitState(t, "a", acd.Talking)
		if s == acd.Held {
			must(t, h.acd.Hold("a"))
		}
		if s == acd.WrapUp {
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
func (su suite) testAgentActionsEveryState(t *testing.T) {
	actions := []struct {
		name string
		to   acd.State
		only acd.State // if set, legal only from this state
		do   func(a *acd.ACD) error
	}{
		{"SetReady", acd.Ready, "", func(a *acd.ACD) error { return a.SetReady("a") }},
		{"SetNotReady", acd.NotReady, "", func(a *acd.ACD) error { return a.SetNotReady("a", "other") }},
		{"StartBreak", acd.Break, "", func(a *acd.ACD) error { return a.StartBreak("a", "toilet") }},
		{"StartAdjust", acd.Adjust, "", func(a *acd.ACD) error { return a.StartAdjust("a") }},
		{"StartStudy", acd.Study, "", func(a *acd.ACD) error { return a.StartStudy("a") }},
		{"EnterWrapUp", acd.WrapUp, acd.Ready, func(a *acd.ACD) error { return a.EnterWrapUp("a") }},
		{"Hold", acd.Held, acd.Talking, func(a *acd.ACD) error { return a.Hold("a") }},
		{"Unhold", acd.Talking, acd.Held, func(a *acd.ACD) error { return a.Unhold("a") }},
		{"Logout", acd.LoggedOut, "", func(a *acd.ACD) error { return a.Logout("a") }},
		{"ForceReady", acd.Ready, "", func(a *acd.ACD) error { return a.ForceReady("9001", "a") }},
		{"ForceNotReady", acd.NotReady, "", func(a *acd.ACD) error { return a.ForceNotReady("9001", "a", "") }},
		{"ForceSignOut", acd.LoggedOut, "", func(a *acd.ACD) error { return a.ForceSignOut("9001", "a") }},
	}
	for _, from := range acd.AllStates {
		for _, act := range actions {
			t.Run(string(from)+"/"+act.name, func(t *testing.T) {
				h := su.newHarness(t, nil)
				reach(t, h, from)
				err := act.do(h.acd)
				// Out of Reserved only sign-out is an action; the rest are
				// the offer life cycle's (answer, abandon, no answer).
				legal := acd.CanTransition(from, act.to) && (from != acd.Reserved || act.to == acd.LoggedOut)
				if act.only != "" {
					legal = from == act.only
				}
				if from == acd.LoggedOut {
					if !errors.Is(err, acd.ErrUnknownAgent) {
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
				var te *acd.TransitionError
				if !errors.As(err, &te) || !errors.Is(err, acd.ErrIllegalTransition) || te.From != from {
					t.Fatalf("illegal %s → %s: err %v, want *TransitionError from %s", from, act.to, err, from)
				}
				if got := h.state(t, "a"); got != from {
					t.Fatalf("refused action changed state to %s", got)
				}
			})
		}
	}
}

func (su suite) testLoginErrors(t *testing.T) {
	h := su.newHarness(t, nil)
	h.login(t, "1001", map[string]int{"billing": 1, "general": 2})
	tests := []struct {
		name string
		p    acd.AgentProfile
		want error
	}{
		{"twice", acd.AgentProfile{ID: "1001"}, acd.ErrAlreadyLoggedIn},
		{"seat taken", acd.AgentProfile{ID: "1002", Seat: "1001"}, acd.ErrSeatBusy},
		{"unknown queue", acd.AgentProfile{ID: "1003", Skills: map[string]int{"sales": 1}}, nil},
		{"bad mode", acd.AgentProfile{ID: "1004", Mode: "psychic"}, acd.ErrInvalidConfig},
		{"no id", acd.AgentProfile{}, acd.ErrInvalidConfig},
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

func (su suite) testPermissions(t *testing.T) {
	h := su.newHarness(t, nil)
	h.login(t, "a", map[string]int{"general": 1}, func(p *acd.AgentProfile) { p.CanAdjust, p.CanExtendWrapUp = false, false })
	if err := h.acd.StartAdjust("a"); !errors.Is(err, acd.ErrNotPermitted) {
		t.Errorf("adjust without permission: %v", err)
	}
	if err := h.acd.EnterWrapUp("a"); !errors.Is(err, acd.ErrNotPermitted) {
		t.Errorf("wrap-up by hand without permission: %v", err)
	}
	if err := h.acd.StartBreak("a", "nap"); !errors.Is(err, acd.ErrUnknownReason) {
		t.Errorf("unknown break reason: %v", err)
	}
	if got := h.state(t, "a"); got != acd.Ready {
		t.Errorf("state %s after refusals", got)
	}
}
