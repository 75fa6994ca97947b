package sip

import "fmt"

// legState is where a leg's dialog stands. The leg's mutex owns it: every
// move goes through (*Leg).moveLocked, which checks legTransitions, so a
// hang-up racing an answer, an ACK or the peer's BYE resolves in one place.
type legState uint8

const (
	// legSetup: inbound, the INVITE is in and not answered (it may ring);
	// outbound, our INVITE is out and no 2xx has been taken.
	legSetup legState = iota
	// legAnswering (inbound only): our 2xx is out and its ACK is not in.
	// Hanging up now takes a BYE (RFC 3261 §15: sent once the ACK arrives
	// or the 2xx gives up), never a non-2xx final response, which the
	// INVITE transaction could no longer carry.
	legAnswering
	// legAnswered: the dialog is confirmed (the ACK received or sent).
	legAnswered
	// legEnded: over; the leg's context is cancelled and its cause says
	// why. Who ended it first wins: our hang-up, the peer's BYE, a
	// CANCEL, a timer.
	legEnded
)

var legStateNames = [...]string{"setup", "answering", "answered", "ended"}

func (s legState) String() string {
	if int(s) < len(legStateNames) {
		return legStateNames[s]
	}
	return fmt.Sprintf("legState(%d)", int(s))
}

// legTransitions is the leg's state machine. A late-offer call goes from
// setup straight to answered only through answering (the ACK carries the
// answer); outbound legs and browser legs skip answering.
var legTransitions = [...][]legState{
	legSetup:     {legAnswering, legAnswered, legEnded},
	legAnswering: {legAnswered, legEnded},
	legAnswered:  {legEnded},
	legEnded:     nil,
}

// canMove reports whether the machine allows from → to.
func (s legState) canMove(to legState) bool {
	for _, t := range legTransitions[s] {
		if t == to {
			return true
		}
	}
	return false
}

// moveLocked makes one move; l.mu must be held. A move the table does not
// allow is refused (the leg stays where it is) and reported as an error:
// e.g. an ACK that arrives after the leg ended must not bring it back.
func (l *Leg) moveLocked(to legState) error {
	if !l.state.canMove(to) {
		return fmt.Errorf("sip: leg %s: no move from %s to %s", l.ID, l.state, to)
	}
	from := l.state
	l.state = to
	if (from == legSetup || from == legAnswering) && (to == legAnswered || to == legEnded) {
		close(l.settled) // once: neither answered nor ended leads back
	}
	return nil
}
