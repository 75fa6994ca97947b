package agentapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// ProtocolVersion is the version of the wire protocol in PROTOCOL.md.
const ProtocolVersion = 1

// TargetKind says where a transfer or consultation goes.
type TargetKind string

// Transfer and consultation targets.
const (
	TargetAgent    TargetKind = "agent"
	TargetQueue    TargetKind = "queue"
	TargetFlow     TargetKind = "flow"
	TargetExternal TargetKind = "external"
)

// Target is the destination of a transfer or consultation.
type Target struct {
	Kind  TargetKind `json:"kind"`
	Value string     `json:"value"`
}

// MonitorMode is how a supervisor joins an agent's call.
type MonitorMode string

// Supervision modes.
const (
	// Listen: the supervisor's phone gets the mixed call audio; nobody hears them.
	Listen MonitorMode = "listen"
	// Whisper: the agent hears the supervisor, the caller does not.
	Whisper MonitorMode = "whisper"
	// Barge: three-way, everyone hears everyone.
	Barge MonitorMode = "barge"
	// Takeover: the supervisor replaces the agent; the agent leg is dropped.
	Takeover MonitorMode = "takeover"
)

// CallInfo is a live call as the engine sees it. The API merges it with
// the ACD's view (queue, tier, customer, IVR trace) for desktops.
type CallInfo struct {
	ID        string            `json:"id"`
	AgentID   string            `json:"agent,omitempty"`
	Direction string            `json:"direction,omitempty"` // inbound, outbound, internal
	Caller    string            `json:"caller,omitempty"`
	Callee    string            `json:"callee,omitempty"`
	Queue     string            `json:"queue,omitempty"`
	Tier      string            `json:"tier,omitempty"`
	State     string            `json:"state,omitempty"` // ringing, talking, held, consulting, conference
	Held      bool              `json:"held,omitempty"`
	Muted     bool              `json:"muted,omitempty"`
	Started   time.Time         `json:"started,omitempty"`
	Customer  map[string]string `json:"customer,omitempty"`
	Trace     any               `json:"trace,omitempty"`
	// Monitors lists supervisors on the call and their mode.
	Monitors map[string]MonitorMode `json:"monitors,omitempty"`
}

// CallOp names an action on a call.
type CallOp string

// Call actions: the desktop's buttons and the supervisor's monitoring.
const (
	OpAnswer           CallOp = "answer" // answer a ringing offer (auto-answer phones)
	OpHangup           CallOp = "hangup"
	OpHold             CallOp = "hold" // the caller hears music
	OpUnhold           CallOp = "unhold"
	OpMute             CallOp = "mute" // the agent's audio stops reaching the caller
	OpUnmute           CallOp = "unmute"
	OpPauseRecording   CallOp = "pause_recording" // silence in the file, noted in its metadata
	OpResumeRecording  CallOp = "resume_recording"
	OpDTMF             CallOp = "dtmf"     // second-stage dialling
	OpTransfer         CallOp = "transfer" // blind: the agent is freed
	OpConsult          CallOp = "consult"  // the caller holds while the agent calls the target
	OpCompleteTransfer CallOp = "complete_transfer"
	OpConference       CallOp = "conference"
	OpReturnToCaller   CallOp = "return_to_caller"
	OpMonitor          CallOp = "monitor"     // Supervisor joins Agent's call in Mode
	OpDisposition      CallOp = "disposition" // wrap-up code for the call's record
)

// CallAction is one action on a call. Agent is the agent whose call it is
// (already authorised); for OpMonitor it is the monitored agent and
// Supervisor the actor. It travels between nodes as JSON (cluster).
type CallAction struct {
	Op         CallOp      `json:"op"`
	Agent      string      `json:"agent"`
	Call       string      `json:"call,omitempty"`
	Digits     string      `json:"digits,omitempty"`
	Target     *Target     `json:"target,omitempty"`
	Mode       MonitorMode `json:"mode,omitempty"`
	Supervisor string      `json:"supervisor,omitempty"`
	Code       string      `json:"code,omitempty"`
	// Note is the agent's free text with a wrap-up code (OpDisposition).
	Note string `json:"note,omitempty"`
}

// CallControl is what the API needs from the engine to act on calls.
//
// The contexts come from the server, never from a client connection: a
// WebSocket that drops halfway through a transfer does not cancel it.
// Act returns once the action is done or under way (a consultation or a
// supervisor's monitoring once the other phone answered); it is bounded
// by Config.CallTimeout. The engine keeps the ACD's agent states in step
// with its calls (hold, transfers, take-overs); the API moves them only
// for calls the desktop places (a ready agent becomes not ready first).
//
// Errors wrap ErrUnknownCall, ErrCallState, ErrAgentBusy, ErrBadRequest
// or errors.ErrUnsupported so clients get stable codes.
type CallControl interface {
	Act(ctx context.Context, a CallAction) error
	// Place rings the agent's phone, then calls the target: an agent
	// (internal call) or a number (outbound). It returns the call's id
	// once the agent's phone rings.
	Place(ctx context.Context, agentID string, to Target) (callID string, err error)
	// Calls lists the live calls. It is called on the event path (call
	// offers) and for snapshots: it must be cheap and must not block.
	Calls() []CallInfo
}

// CallFinder is what a CallControl may add: one live call by id, without
// listing them all. The event path (a call offered to an agent) uses it
// when there, so that its cost does not grow with the calls in progress.
type CallFinder interface {
	Call(id string) (CallInfo, bool)
}

// Errors a CallControl wraps.
var (
	ErrUnknownCall = errors.New("no such call for this agent")
	ErrCallState   = errors.New("not possible in the call's current state")
	ErrAgentBusy   = errors.New("agent not available")
	ErrBadRequest  = errors.New("bad request")
)

// noCalls is the CallControl of a server without an engine: every action
// is unsupported.
type noCalls struct{}

func (noCalls) Act(_ context.Context, a CallAction) error {
	return fmt.Errorf("%s: %w", a.Op, errors.ErrUnsupported)
}

func (noCalls) Place(context.Context, string, Target) (string, error) {
	return "", fmt.Errorf("place call: %w", errors.ErrUnsupported)
}

func (noCalls) Calls() []CallInfo { return nil }

// AuditRecord is one supervisor (or admin) action: who did what to whom,
// when, and how it ended.
type AuditRecord struct {
	At     time.Time
	Actor  string // supervisor or admin id
	Role   Role
	Action string // request type, e.g. force_ready, monitor
	Agent  string // whom
	CallID string
	Detail string // mode, reason
	Result string // "ok" or the error code
	Error  string
}

// Auditor records supervisor actions. It is called on the request's
// goroutine and should not block for long.
type Auditor interface {
	Audit(ctx context.Context, r AuditRecord)
}

// SlogAuditor writes audit records as structured log lines.
type SlogAuditor struct{ Logger *slog.Logger }

// Audit implements Auditor.
func (a SlogAuditor) Audit(ctx context.Context, r AuditRecord) {
	l := a.Logger
	if l == nil {
		l = slog.Default()
	}
	l.LogAttrs(ctx, slog.LevelInfo, "supervisor action",
		slog.Time("at", r.At), slog.String("actor", r.Actor), slog.String("role", string(r.Role)),
		slog.String("action", r.Action), slog.String("agent", r.Agent), slog.String("call", r.CallID),
		slog.String("detail", r.Detail), slog.String("result", r.Result), slog.String("error", r.Error))
}
