package acd

import (
	"errors"
	"fmt"
)

// State is an agent state.
type State string

// Agent states.
const (
	LoggedOut State = "logged-out"
	Ready     State = "ready"    // idle, may be offered calls
	Reserved  State = "reserved" // chosen for a call, phone ringing
	Talking   State = "talking"
	Held      State = "held" // on a call, caller on hold
	WrapUp    State = "wrap-up"
	NotReady  State = "not-ready" // busy, with a reason code
	Break     State = "break"     // leave/break with a reason and time limit
	Adjust    State = "adjust"    // "take a breath", permission, warning threshold
	Study     State = "study"
)

// AllStates lists every state, for tables and the desktop.
var AllStates = []State{LoggedOut, Ready, Reserved, Talking, Held, WrapUp, NotReady, Break, Adjust, Study}

// transitions is the agent state machine. Anything not listed is refused.
var transitions = map[State][]State{
	LoggedOut: {Ready},
	Ready:     {Reserved, NotReady, Break, Adjust, Study, WrapUp, LoggedOut},
	// Reserved → Ready: the caller abandoned while ringing. → NotReady:
	// ring-no-answer. → LoggedOut: forced sign-out while ringing (call
	// re-queued).
	Reserved: {Talking, Ready, NotReady, LoggedOut},
	Talking:  {Held, WrapUp},
	Held:     {Talking, WrapUp},
	WrapUp:   {Ready, NotReady, Break, Adjust, Study, LoggedOut},
	NotReady: {Ready, NotReady, Break, Adjust, Study, LoggedOut},
	Break:    {Ready, NotReady, LoggedOut},
	Adjust:   {Ready, NotReady, Break, LoggedOut},
	Study:    {Ready, NotReady, LoggedOut},
}

// CanTransition reports whether the state machine allows from → to.
// Moves out of Reserved other than to LoggedOut are made only by the offer
// life cycle, never by agent or supervisor actions.
func CanTransition(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Errors. Refusals are *TransitionError values that match
// ErrIllegalTransition with errors.Is.
var (
	ErrIllegalTransition = errors.New("illegal agent state transition")
	ErrUnknownAgent      = errors.New("unknown agent")
	ErrAlreadyLoggedIn   = errors.New("agent already logged in")
	ErrSeatBusy          = errors.New("seat in use by another agent")
	ErrNotPermitted      = errors.New("not permitted for this agent")
	ErrUnknownReason     = errors.New("unknown reason code")
	ErrUnknownCall       = errors.New("unknown call")
	ErrCallNotActive     = errors.New("call not connected to an agent")
	ErrClosed            = errors.New("acd closed")
	ErrInvalidCall       = errors.New("invalid call")
	ErrClaimed           = errors.New("already claimed")
	// ErrCallTaken and ErrAgentTaken say which side of a claim was held
	// (both match ErrClaimed).
	ErrCallTaken  = fmt.Errorf("call %w", ErrClaimed)
	ErrAgentTaken = fmt.Errorf("agent %w", ErrClaimed)
	// ErrRemoteAgent: the agent is signed in on another node, which alone
	// changes its state (cluster).
	ErrRemoteAgent = errors.New("agent served by another node")
	// ErrStoreUnavailable is what a shared Store returns while it knows
	// the shared state is unreachable (degraded mode): the ACD goes on
	// locally without logging every refused write.
	ErrStoreUnavailable = errors.New("shared state store unavailable")
)

// TransitionError explains a refused state change.
type TransitionError struct {
	Agent  string
	From   State
	To     State
	Reason string
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("agent %s: %s → %s refused: %s", e.Agent, e.From, e.To, e.Reason)
}

// Is makes errors.Is(err, ErrIllegalTransition) true.
func (e *TransitionError) Is(target error) bool { return target == ErrIllegalTransition }

// AnswerMode is how an agent receives calls.
type AnswerMode string

// Answer modes.
const (
	// AutoMode: calls are offered as soon as the agent is ready.
	AutoMode AnswerMode = "auto"
	// ManualMode: the agent asks for each call with RequestCall.
	ManualMode AnswerMode = "manual"
)
