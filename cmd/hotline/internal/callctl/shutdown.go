package callctl

import (
	"errors"
	"fmt"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/ivr"
)

// Graceful stop. While the engine drains, no new call is admitted (the SIP
// server refuses INVITEs first; Admit and Place refuse too, for a request
// already past it) and the calls in progress go on as usual: agents keep
// working them, transfers and consultations included. When the drain's
// grace runs out (or a second signal cuts it short) every call still up
// is told to end — an event to its owner, like any other input — and ends
// as the engine's doing: ended_by "shutdown", never the caller's or the
// agent's hang-up.

// ErrDraining refuses a new call while the engine drains.
var ErrDraining = errors.New("the engine is draining: no new calls")

// SetDraining switches drain mode on or off.
func (ctl *Control) SetDraining(on bool) { ctl.draining.Store(on) }

// Draining reports whether new calls are refused.
func (ctl *Control) Draining() bool { return ctl.draining.Load() }

// Active is how many calls are up: callers' calls and calls placed from
// desktops.
func (ctl *Control) Active() int {
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	return len(ctl.calls) + len(ctl.direct)
}

// Shutdown tells every call in progress to end now (the drain's grace ran
// out). It does not wait: the calls end on their owners' goroutines and
// Active falls to zero. Calling it again is harmless.
func (ctl *Control) Shutdown() {
	ctl.mu.Lock()
	calls := make([]*Call, 0, len(ctl.calls))
	for _, c := range ctl.calls {
		calls = append(calls, c)
	}
	direct := make([]*directCall, 0, len(ctl.direct))
	for _, dc := range ctl.direct {
		direct = append(direct, dc)
	}
	ctl.mu.Unlock()
	for _, c := range calls {
		c.post(&event{kind: evShutdown})
	}
	for _, dc := range direct {
		dc.cancel() // its goroutine hangs both legs up
	}
}

// shutdown (every state but Ended): the engine stops and the drain's grace
// is over. A waiting caller leaves the queue as an overflow (the caller
// did not give up: no abandon against the service level), the agent side
// is released with the engine as the releaser, and the call ends.
func (c *Call) shutdown(*event) {
	c.log.Info("ending the call: the engine is shutting down", "state", c.state)
	c.setEndedBy("shutdown")
	if c.state == Queued && c.ticket != nil {
		if err := c.ctl.acd.Overflow(c.id, acd.OverflowShutdown); err != nil {
			c.ctl.acd.Release(c.id, "shutdown") // ringing an agent: the ring is cancelled
		}
	}
	c.dropPending("the engine is shutting down")
	if c.conv != nil {
		c.finishConversation(ivr.EndCallerHangup, "shutdown")
	}
	c.end(nil)
}

// refuseDraining is Place's check.
func (ctl *Control) refuseDraining(what string) error {
	if ctl.draining.Load() {
		return fmt.Errorf("%s: %w: %w", what, ErrDraining, agentapi.ErrCallState)
	}
	return nil
}
