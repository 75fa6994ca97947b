package webrtc

import "fmt"

// legState is where a browser leg is in its life.
type legState int

const (
	stRinging     legState = iota // offer sent, the page rings (or answers by itself)
	stConnecting                  // the page answered; ICE and DTLS are being set up
	stConnected                   // media flows between the page and the leg's session
	stDetached                    // the page or its connection went; the grace runs
	stReattaching                 // a new offer went to the agent's page within the grace
	stEnded                       // for good: the leg is (being) closed
)

func (s legState) String() string {
	switch s {
	case stRinging:
		return "ringing"
	case stConnecting:
		return "connecting"
	case stConnected:
		return "connected"
	case stDetached:
		return "detached"
	case stReattaching:
		return "reattaching"
	case stEnded:
		return "ended"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// legEvent is an input to a browser leg.
type legEvent int

const (
	evAnswer     legEvent = iota // the page sent its answer
	evConnected                  // the peer connection is connected (ICE + DTLS)
	evFailed                     // the peer connection failed or closed, the page went, or connecting timed out
	evReady                      // the agent's (new) page registered: re-attach
	evGrace                      // the grace after a detach ran out
	evPageHangup                 // the page hung up (or declined the ringing offer)
	evEngineDone                 // the engine ended the leg (Hangup/Close), or shut down
	evCancel                     // the dial gave up (ring timeout, the offer withdrawn)
)

func (e legEvent) String() string {
	return [...]string{"answer", "connected", "failed", "ready", "grace", "page-hangup", "engine-done", "cancel"}[e]
}

// transitions is every allowed move; anything else is ignored (a late
// event for a state already left). Ended absorbs everything.
var transitions = map[legState]map[legEvent]legState{
	stRinging: {
		evAnswer: stConnecting, evFailed: stEnded, evPageHangup: stEnded, evEngineDone: stEnded, evCancel: stEnded,
	},
	stConnecting: {
		evConnected: stConnected, evFailed: stEnded, evPageHangup: stEnded, evEngineDone: stEnded, evCancel: stEnded,
	},
	stConnected: {
		evFailed: stDetached, evReady: stReattaching, evPageHangup: stEnded, evEngineDone: stEnded,
	},
	stDetached: {
		evReady: stReattaching, evGrace: stEnded, evPageHangup: stEnded, evEngineDone: stEnded,
	},
	stReattaching: {
		evAnswer: stReattaching, evConnected: stConnected, evFailed: stDetached, evReady: stReattaching,
		evGrace: stEnded, evPageHangup: stEnded, evEngineDone: stEnded,
	},
	stEnded: {},
}

// next is the state ev leads to from s, and whether it is allowed.
func next(s legState, ev legEvent) (legState, bool) {
	to, ok := transitions[s][ev]
	return to, ok
}
