package callctl

import "fmt"

// State is where a caller's call stands. One owner goroutine per call
// moves it; every move is one of the transitions below, made by the
// handler the event table names for (state, event).
type State int

// Call states.
const (
	// IVR: the flow has the caller (prompts, menus, survey); no agent.
	IVR State = iota
	// Queued: the ACD has the caller: waiting, or an agent's phone rings.
	Queued
	// Answered: an agent's phone answered; the owner holds the agent leg
	// and waits for the ACD to confirm the connection (it may still give
	// the call back to the queue, e.g. the agent was signed out).
	Answered
	// Announcing: the ACD connected the agent; the flow tells the caller
	// the agent's id before the audio is joined. To the desktop this is
	// the call: hang-up, hold and mute work and apply when joined.
	Announcing
	// Talking: caller and agent (or an outside party) are bridged.
	Talking
	// Held: the caller hears music; the agent side hears nothing.
	Held
	// Consulting: the caller is on hold while the agent rings or talks to
	// a third party (colleague or number).
	Consulting
	// Conference: caller, agent and the consulted party are mixed.
	Conference
	// Monitored: a supervisor is mixed in (listen, whisper or barge).
	Monitored
	// Transferring: the agent has left (blind transfer); the caller hears
	// music while the named agent or number rings.
	Transferring
	// AfterAgent: the conversation is over and the caller is back in the
	// flow (survey, or the flow of a transfer to a queue or IVR).
	AfterAgent
	// Ended: the caller is gone; every leg the call owned is released.
	Ended
)

var stateNames = [...]string{"ivr", "queued", "answered", "announcing", "talking", "held", "consulting", "conference",
	"monitored", "transferring", "after-agent", "ended"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// conversing reports whether an agent-side party is with the caller (the
// desktop's talking or held).
func (s State) conversing() bool {
	switch s {
	case Announcing, Talking, Held, Consulting, Conference, Monitored:
		return true
	}
	return false
}

// transitions is the call's state machine: every move a handler makes is
// checked against it. Anything not listed is a bug, logged and counted as
// an integrity violation (the move is still made, so the call ends).
var transitions = map[State][]State{
	// The flow queues the caller, or the caller/flow hangs up.
	IVR: {Queued, Ended},
	// An agent's phone answers; the queue overflows or the caller leaves
	// the queue (back to the flow); the caller hangs up.
	Queued: {Answered, IVR, Ended},
	// The ACD confirms (announce) or takes the call back (queue); the
	// agent hangs up before it is joined (queue); the ACD closes (flow).
	Answered: {Announcing, Queued, IVR, Ended},
	// Joined (talking, or held if the agent pressed hold meanwhile); the
	// agent hangs up first (survey); the caller hangs up.
	Announcing: {Talking, Held, AfterAgent, Ended},
	Talking:    {Held, Consulting, Monitored, Transferring, AfterAgent, Ended},
	Held:       {Talking, Consulting, Transferring, AfterAgent, Ended},
	// Back to the caller (returned, or the party left), joined
	// (conference), handed over (talking with the party), the agent left.
	Consulting: {Talking, Conference, AfterAgent, Ended},
	Conference: {Talking, AfterAgent, Ended},
	// The supervisor leaves (talking) or takes over (talking with the
	// supervisor); the agent leaves.
	Monitored: {Talking, AfterAgent, Ended},
	// The named agent or number answers (talking) or does not (the flow
	// takes the caller back to the queue).
	Transferring: {Talking, AfterAgent, Ended},
	// The flow queues the caller again (a transfer to a queue) or ends.
	AfterAgent: {Queued, Ended},
	Ended:      {},
}

func canMove(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// eventKind names what reaches a call's owner. Events come from the
// caller's SIP leg, the other legs, the media watch, the ACD (tickets and
// the phone), the flow (the IVR goroutine) and the desktops.
type eventKind int

const (
	evCallerGone      eventKind = iota // the caller's leg ended
	evFlowDone                         // the flow returned; hang up if the caller is still there
	evEnqueue                          // the flow's queue node
	evLeave                            // the flow takes the caller out of the queue
	evBridge                           // the flow joins caller and agent (after the announcement)
	evAgentAnswered                    // an offered agent's phone answered (from Phone.Ring)
	evReleaseAnswered                  // the ACD cannot connect an answered agent
	evOutcome                          // an ACD ticket's outcome
	evLegGone                          // a leg other than the caller's ended
	evPhoneHold                        // a leg's phone held or resumed (re-INVITE)
	evDialed                           // a dial the call started (number, supervisor) ended
	evInactive                         // a leg sent no RTP for the inactivity timeout
	evAction                           // a desktop or supervisor action
	evShutdown                         // the engine stops: end the call now (shutdown.go)
	evKeepPlace                        // the flow's callback digit: keep the place as a callback
	evRequestCallback                  // the flow's callback node, reached outside a queue
	evWatch                            // time to look at the legs' media (watch.go); the owner's own
)

var eventNames = [...]string{"caller-gone", "flow-done", "enqueue", "leave", "bridge", "agent-answered",
	"release-answered", "outcome", "leg-gone", "phone-hold", "dialed", "inactive", "action", "shutdown",
	"keep-place", "request-callback", "watch"}

func (k eventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return fmt.Sprintf("event(%d)", int(k))
}

// handler reacts to one event in one state; it makes the transitions.
type handler func(c *Call, ev *event)

// table says who handles what. A (state, event) missing here goes to
// defaults (Call.unhandled): legs are released, requests refused with
// ErrWrongState, outcomes and hold changes ignored. Every race the call
// can meet is decided by the order in which its events reach this table.
var table = map[State]map[eventKind]handler{
	IVR: {
		evCallerGone:      (*Call).end,
		evFlowDone:        (*Call).flowDone,
		evEnqueue:         (*Call).enqueue,
		evRequestCallback: (*Call).requestCallback,
		evLeave:           (*Call).leaveIgnored,
		evInactive:        (*Call).inactive,
		evShutdown:        (*Call).shutdown,
	},
	Queued: {
		evCallerGone:    (*Call).end,
		evFlowDone:      (*Call).flowDone,
		evLeave:         (*Call).leaveQueue,
		evAgentAnswered: (*Call).agentAnswered,
		evOutcome:       (*Call).queueOutcome,
		evInactive:      (*Call).inactive,
		evShutdown:      (*Call).shutdown,
		evKeepPlace:     (*Call).keepPlace,
	},
	Answered: {
		evCallerGone:      (*Call).end,
		evFlowDone:        (*Call).flowDone,
		evLeave:           (*Call).leaveQueue,
		evOutcome:         (*Call).queueOutcome,
		evReleaseAnswered: (*Call).answerWithdrawn,
		evLegGone:         (*Call).answeredAgentGone,
		evInactive:        (*Call).inactive,
		evShutdown:        (*Call).shutdown,
	},
	Announcing: {
		evCallerGone: (*Call).end,
		evFlowDone:   (*Call).flowDone,
		evLeave:      (*Call).leaveConnected,
		evBridge:     (*Call).join,
		evLegGone:    (*Call).agentLeft,
		evPhoneHold:  (*Call).phoneHold,
		evAction:     (*Call).act,
		evInactive:   (*Call).inactive,
		evShutdown:   (*Call).shutdown,
	},
	Talking:      conversationEvents,
	Held:         conversationEvents,
	Consulting:   conversationEvents,
	Conference:   conversationEvents,
	Monitored:    conversationEvents,
	Transferring: conversationEvents,
	AfterAgent: {
		evCallerGone:      (*Call).end,
		evFlowDone:        (*Call).flowDone,
		evEnqueue:         (*Call).enqueue,
		evRequestCallback: (*Call).requestCallback,
		evLeave:           (*Call).leaveIgnored,
		evBridge:          (*Call).bridgeAfterAgent,
		evInactive:        (*Call).inactive,
		evShutdown:        (*Call).shutdown,
	},
	Ended: {},
}

// conversationEvents serve every state in which the IVR waits in Bridge.
var conversationEvents = map[eventKind]handler{
	evCallerGone:    (*Call).end,
	evFlowDone:      (*Call).flowDone,
	evLeave:         (*Call).leaveConnected,
	evAgentAnswered: (*Call).partyAnswered,
	evOutcome:       (*Call).partyOutcome,
	evLegGone:       (*Call).legGone,
	evPhoneHold:     (*Call).phoneHold,
	evDialed:        (*Call).dialed,
	evAction:        (*Call).act,
	evInactive:      (*Call).inactive,
	evShutdown:      (*Call).shutdown,
}
