package callctl

import "fmt"

// mailboxState is who holds a call's mailbox. The owner is a goroutine
// started when an event arrives at an idle mailbox and ending when the
// mailbox is empty again, so a call that waits (a prompt playing, a caller
// queued, a conversation going on) costs no goroutine; only one owner
// runs at a time, so the call's state still has exactly one writer. Moves
// are made under Call.mu.
//
//	new ──(start, queue empty)──▶ idle ──(post)──▶ owned ──(queue empty)──▶ idle
//	new ──(start, events queued)──▶ owned ──(call ended)──▶ closed
//
// new: the call is not open yet (its INVITE is being answered); events
// posted meanwhile wait, as they must not decide anything before the
// caller is on the line.
type mailboxState uint8

const (
	boxNew    mailboxState = iota // not started: posts queue, no owner runs
	boxIdle                       // no owner running; the next post starts one
	boxOwned                      // an owner drains the queue
	boxClosed                     // the call has ended; posts are refused
)

var mailboxTransitions = [...][]mailboxState{
	boxNew:    {boxIdle, boxOwned},
	boxIdle:   {boxOwned},
	boxOwned:  {boxIdle, boxClosed},
	boxClosed: nil,
}

var mailboxNames = [...]string{"new", "idle", "owned", "closed"}

func (s mailboxState) String() string {
	if int(s) < len(mailboxNames) {
		return mailboxNames[s]
	}
	return fmt.Sprintf("mailboxState(%d)", uint8(s))
}

// to moves to next if the table allows it and reports whether it moved.
func (s *mailboxState) to(next mailboxState) bool {
	for _, n := range mailboxTransitions[*s] {
		if n == next {
			*s = next
			return true
		}
	}
	return false
}
