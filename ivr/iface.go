package ivr

import (
	"context"
	"errors"
	"path/filepath"
	"time"
)

// Leg is the caller's side of the call as the interpreter sees it. The caller
// hanging up is signalled by cancelling the context given to Run.
type Leg interface {
	CallerNumber() string
	Dialled() string
	// Play plays the files in order and returns when they have been played
	// or ctx is done (then it must stop within a packet time). Barge-in is the
	// interpreter's job: it cancels ctx when a digit should cut the prompt.
	Play(ctx context.Context, files ...string) error
	// Digits delivers the caller's keys ('0'-'9', '*', '#') from RFC 4733
	// events or SIP INFO, buffered so a fast caller's keys are not lost
	// (media.Session.DTMF fits as is). The interpreter reads it whenever the
	// caller is in the IVR and discards keys pressed while talking to an agent.
	Digits() <-chan rune
	// Record writes the caller's audio to path (WAV) until maxLen has passed,
	// silence lasted silence, or ctx is done (stop digit or hang-up; the
	// interpreter watches the digits). The audio written so far is kept in
	// every case; it returns how much was recorded.
	Record(ctx context.Context, path string, maxLen, silence time.Duration) (time.Duration, error)
	// Hangup ends the call from the IVR side.
	Hangup(ctx context.Context, reason string) error
}

// PlayStarter is a Leg that can also start prompts without blocking, so
// the interpreter spends no goroutine per prompt while it listens for
// keys. done is called exactly once, with what Play would have returned,
// and must not block.
type PlayStarter interface {
	StartPlay(ctx context.Context, done func(error), files ...string)
}

// Prompts turns a prompt name used in a flow into a file the Leg can play.
type Prompts interface {
	Resolve(language, name string) (string, error)
}

// PromptDir resolves prompts as <dir>/<language>/<name>.wav. Files are
// checked when flows load (LoadOptions.PromptRoot), not on every play.
type PromptDir string

// Resolve implements Prompts.
func (d PromptDir) Resolve(language, name string) (string, error) {
	if !promptNameRe.MatchString(name) || !nodeIDRe.MatchString(language) {
		return "", errors.New("ivr: bad prompt name " + language + "/" + name)
	}
	return filepath.Join(string(d), language, name+".wav"), nil
}

// Customer is what the CRM knows about a caller.
type Customer struct {
	ID          string
	Name        string
	Tier        string
	Region      string
	Blacklisted bool
	Attributes  map[string]string
}

// ErrNotFound is returned by a Lookup that does not know the caller; the
// call continues as the default tier without the "lookup failed" flag.
var ErrNotFound = errors.New("ivr: customer not found")

// Lookup is the CRM adapter.
type Lookup interface {
	Lookup(ctx context.Context, key string) (Customer, error)
}

// QueueRequest hands a call to the ACD.
type QueueRequest struct {
	CallID       string
	Queue        string
	Tier         string
	Region       string
	Priority     int
	CallerNumber string
	Dialled      string
	Vars         map[string]string // a copy; the ACD may keep it
	Trace        []TraceEntry      // a copy, for the agent desktop
}

// Queuer is the ACD hand-off.
type Queuer interface {
	Enqueue(ctx context.Context, req QueueRequest) (QueuedCall, error)
}

// QueuedCall is one caller waiting in a queue (acd.Ticket fits with a thin
// wrapper). The interpreter finishes it with exactly one of Bridge (after
// Wait reported an agent) or Leave.
type QueuedCall interface {
	// Wait blocks until the ACD is done with the waiting call: an agent
	// answered, or the ACD overflowed it. When ctx is done it returns
	// ctx's error without removing the call (that is Leave's job).
	Wait(ctx context.Context) (QueueOutcome, error)
	// Position is asked whenever the interpreter announces the place.
	Position() QueuePosition
	// Bridge connects the caller to the agent that answered and blocks until
	// the conversation ends. The interpreter has already said the agent's id.
	Bridge(ctx context.Context) (BridgeResult, error)
	// Leave takes the call out of the queue, or releases an agent that
	// answered but will not be bridged (the caller left at that moment).
	// It must be safe after the ACD already dropped the call.
	Leave(reason LeaveReason)
}

// PlaceKeeper is a QueuedCall that can become a queued callback: the
// caller leaves the queue keeping its place and is called back at number
// when its turn comes. It fails while an agent is being rung for the call
// (the caller is about to be answered and stays in the queue).
type PlaceKeeper interface {
	KeepPlace(number string) (Callback, error)
}

// CallbackQueuer is a Queuer that also takes callback requests from
// callers who were not waiting (a menu's "call me back" option).
type CallbackQueuer interface {
	EnqueueCallback(ctx context.Context, req QueueRequest) (Callback, error)
}

// Callback is a callback request waiting for the caller to confirm the
// number. Confirm routes it at its place; Cancel (a hang-up before
// confirming) withdraws it. Cancel after Confirm does nothing.
type Callback interface {
	Confirm(number string) error
	Cancel()
}

// QueueOutcome ends the wait: AgentID set means an agent answered; Overflow
// means the ACD overflowed the call (no agents, queue full, its own max
// wait) and the interpreter takes the node's overflow path. Neither set
// means the ACD gave up on the call: the failure path.
type QueueOutcome struct {
	AgentID  string
	Overflow bool
	Reason   string // for the trace
}

// QueuePosition is what the caller may be told while waiting.
type QueuePosition struct {
	Place         int           // 1 = next to be served; 0 = unknown, nothing is said
	EstimatedWait time.Duration // 0 = unknown, not said
}

// LeaveReason says why a call left a queue without reaching an agent.
type LeaveReason string

// Reasons for Leave.
const (
	LeaveCallerHangup LeaveReason = "caller_hangup"
	LeaveOverflow     LeaveReason = "overflow"  // max wait reached
	LeaveVoicemail    LeaveReason = "voicemail" // caller pressed the leave digit
	LeaveFailed       LeaveReason = "failed"    // the ACD gave up or a bridge failed
)

// BridgeEnd says how a conversation with an agent ended.
type BridgeEnd string

// Ends of a bridge.
const (
	// EndAgentHangup: the agent hung up first; the caller is still there
	// and the flow continues at the queue node's next (the survey).
	EndAgentHangup BridgeEnd = "agent_hangup"
	// EndCallerHangup: the caller hung up; the flow ends.
	EndCallerHangup BridgeEnd = "caller_hangup"
	// EndTransferred: the agent sent the call elsewhere; the flow ends.
	EndTransferred BridgeEnd = "transferred"
)

// BridgeResult reports a finished conversation.
type BridgeResult struct {
	AgentID string
	End     BridgeEnd
}

// TransferRequest asks the engine to move the call out of this IVR.
type TransferRequest struct {
	CallID       string
	Kind         TransferKind // number (not bound to a flow here), external or agent
	Target       string
	Trunk        string // external only
	CallerNumber string
	Vars         map[string]string
	Trace        []TraceEntry
}

// Transferer carries out transfers the interpreter cannot do in place.
// A nil error means the call has left the IVR.
type Transferer interface {
	Transfer(ctx context.Context, req TransferRequest) error
}

// FlowSource finds flows for in-place transfers; *Registry implements it.
type FlowSource interface {
	Flow(name string) (*Flow, bool)
	FlowForNumber(number string) (*Flow, bool)
}
