package campaign

import "fmt"

// ContactState is where one contact of a campaign stands. The runner
// moves it, under its lock, only along the transitions below.
type ContactState string

// Contact states.
const (
	// Pending: due now (never tried, or back after a withdrawn preview, an
	// agent that could not be reserved, or a retry whose time came).
	Pending ContactState = "pending"
	// Previewing: shown to one agent, who dials or skips it.
	Previewing ContactState = "previewing"
	// Dialling: one attempt is in progress (ringing, talking, wrap-up).
	Dialling ContactState = "dialling"
	// RetryWait: tried, may be tried again from NextAt.
	RetryWait ContactState = "retry-wait"
	// Done: finished, never dialled again (completed, out of retries,
	// do-not-call).
	Done ContactState = "done"
)

// contactTransitions is the contact state machine. A move not listed is a
// bug: it is refused and logged.
var contactTransitions = map[ContactState][]ContactState{
	// Offered to an agent (preview) or dialled (progressive); marked
	// do-not-call.
	Pending: {Previewing, Dialling, Done},
	// The agent dials, skips (retry or done), or the offer is taken back
	// (paused agent, stop, sign-out, timeout: pending again).
	Previewing: {Dialling, RetryWait, Done, Pending},
	// The result: finished, try again later, or no agent could be
	// reserved (pending again, the attempt not counted).
	Dialling: {Done, RetryWait, Pending},
	// Its time came (pending), or marked do-not-call meanwhile.
	RetryWait: {Pending, Done},
	Done:      {},
}

// canMoveContact reports whether the contact state machine allows from → to.
func canMoveContact(from, to ContactState) bool {
	for _, s := range contactTransitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// dialable reports whether a contact in state s may still be dialled
// some day (the campaign is not completed while one is).
func (s ContactState) dialable() bool { return s != Done }

// validContactState reports whether s is one of the states (saved files).
func validContactState(s ContactState) bool {
	_, ok := contactTransitions[s]
	return ok
}

// TransitionError is a refused state move.
type TransitionError struct {
	What     string // "contact c17" or "campaign renewals"
	From, To string
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("%s: illegal transition %s → %s", e.What, e.From, e.To)
}
