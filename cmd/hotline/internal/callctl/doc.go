// Package callctl is call control: it owns every call from the first
// INVITE to the last record. A caller's call is one Call with one owner
// (a goroutine that runs while events are queued, mailbox_fsm.go) and an
// explicit state machine (call_fsm.go); SIP legs, the IVR,
// the ACD's offers and answers, desktop and supervisor actions, RTP
// inactivity and shutdown reach it only as events on its mailbox, so every
// race (a BYE crossing an answer, a transfer crossing a hang-up) is decided
// in one place. Control is at once the SIP server's handler, the ACD's
// phone, the IVR's queuer and the desktop's call control; calls an agent
// places itself (internal, outbound, callbacks, campaigns) have their own
// state machine (direct_fsm.go). The invariant checker (invariants.go)
// proves after the fact that no agent is stuck and no leg is left hanging.
package callctl
