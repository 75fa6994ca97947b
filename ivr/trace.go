package ivr

import "time"

// TraceEntry is one step of a call's path through the IVR. A trace is a
// []TraceEntry in time order; it marshals to JSON as is.
type TraceEntry struct {
	At     time.Time         `json:"at"`
	Flow   string            `json:"flow"`
	Node   string            `json:"node"`
	Type   NodeType          `json:"type,omitempty"`
	Event  string            `json:"event"`
	Digits string            `json:"digits,omitempty"`
	Detail map[string]string `json:"detail,omitempty"`
}

// Trace events.
const (
	EvEnter         = "enter"          // node entered
	EvChoice        = "choice"         // menu option taken (Digits)
	EvInvalid       = "invalid"        // digits that matched nothing (Digits)
	EvNoInput       = "no_input"       // timeout without a key
	EvRetriesOut    = "retries_out"    // menu/collect/survey gave up; default/failure taken
	EvCollected     = "collected"      // collect accepted (Digits, masked if secret)
	EvLookup        = "lookup"         // CRM result: result, tier, region, name, blacklisted, ms
	EvBranch        = "branch"         // rule index and goto
	EvQueued        = "queued"         // queue, tier, priority
	EvAnnounce      = "announce"       // position/wait announced
	EvAgent         = "agent"          // agent answered (agent)
	EvBridgeEnd     = "bridge_end"     // end, agent
	EvOverflow      = "overflow"       // max wait reached
	EvLeftQueue     = "left_queue"     // leave digit pressed (Digits)
	EvCallbackOffer = "callback_offer" // the queue offered a callback
	EvCallback      = "callback"       // callback requested, confirmed (number masked), cancelled or refused
	EvQueueFailed   = "queue_failed"   // enqueue refused or ACD closed the call
	EvRecorded      = "recorded"       // path, seconds
	EvSurvey        = "survey"         // score (Digits)
	EvTransfer      = "transfer"       // kind, target, result
	EvHangup        = "hangup"         // the IVR hung up (reason)
	EvCallerHangup  = "caller_hangup"  // the caller went away
	EvError         = "error"          // something failed; detail error
	EvTruncated     = "truncated"      // last entry when the trace hit its bound; detail dropped
)
