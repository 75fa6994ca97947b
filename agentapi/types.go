package agentapi

import (
	"context"
	"errors"
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

// CallControl is what the API needs from the engine to act on calls. The
// engine implements it; operations it does not implement return an error
// wrapping errors.ErrUnsupported, which clients see as code "unsupported".
//
// The contexts come from the server, never from a client connection: a
// WebSocket that drops halfway through a transfer does not cancel it.
// agentID is always the agent whose call it is (already authorised).
// Operations should return once the action is under way (Outbound once
// the agent's phone rings), not when the call ends; they are bounded by
// Config.CallTimeout.
//
// The API moves the ACD state only for hold/unhold (talking ⇄ held) and
// for outbound/internal calls (a ready agent becomes not-ready first).
// When a transfer, a completed consultation or a takeover frees the agent,
// the engine reports it with acd.ACD.CallEnded as for any release, so the
// agent goes to wrap-up.
type CallControl interface {
	// Answer answers a ringing offer from the desktop (phones with auto-answer).
	Answer(ctx context.Context, agentID, callID string) error
	Hangup(ctx context.Context, agentID, callID string) error
	// Hold plays music on hold to the caller (on) or retrieves the caller.
	Hold(ctx context.Context, agentID, callID string, on bool) error
	// Mute stops the agent's audio to the caller (on) or restores it.
	Mute(ctx context.Context, agentID, callID string, on bool) error
	// SendDTMF sends digits into the call (second-stage dialling).
	SendDTMF(ctx context.Context, agentID, callID, digits string) error
	// Transfer moves the caller to the target; blind means without
	// consultation. The agent is freed.
	Transfer(ctx context.Context, agentID, callID string, to Target, blind bool) error
	// Consult holds the caller and calls the target.
	Consult(ctx context.Context, agentID, callID string, to Target) error
	// CompleteTransfer joins the caller to the consulted party and frees the agent.
	CompleteTransfer(ctx context.Context, agentID, callID string) error
	// Conference joins caller, agent and consulted party.
	Conference(ctx context.Context, agentID, callID string) error
	// ReturnToCaller drops the consulted party and retrieves the caller.
	ReturnToCaller(ctx context.Context, agentID, callID string) error
	// Outbound rings the agent's phone, then dials number through a trunk.
	Outbound(ctx context.Context, agentID, number string) (callID string, err error)
	// Internal calls another agent's phone from this agent's phone.
	Internal(ctx context.Context, agentID, otherAgentID string) (callID string, err error)
	// Monitor joins the supervisor's phone to the agent's current call, or
	// changes the mode of a supervisor already on it. The supervisor leaves
	// by hanging up its phone.
	Monitor(ctx context.Context, supervisorID, agentID string, mode MonitorMode) error
	// Disposition stores the wrap-up (disposition) code with the call record.
	Disposition(ctx context.Context, agentID, callID, code string) error
	// Calls lists the live calls. It is called on the event path (call
	// offers) and for snapshots: it must be cheap and must not block.
	Calls() []CallInfo
}

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

// unsupportedCalls is the CallControl used when the engine gives none:
// every call operation is refused as unsupported, agent states still work.
type unsupportedCalls struct{}

var errNoCallControl = errors.Join(errors.ErrUnsupported, errors.New("no call control configured"))

func (unsupportedCalls) Answer(context.Context, string, string) error     { return errNoCallControl }
func (unsupportedCalls) Hangup(context.Context, string, string) error     { return errNoCallControl }
func (unsupportedCalls) Hold(context.Context, string, string, bool) error { return errNoCallControl }
func (unsupportedCalls) Mute(context.Context, string, string, bool) error { return errNoCallControl }
func (unsupportedCalls) SendDTMF(context.Context, string, string, string) error {
	return errNoCallControl
}
func (unsupportedCalls) Transfer(context.Context, string, string, Target, bool) error {
	return errNoCallControl
}
func (unsupportedCalls) Consult(context.Context, string, string, Target) error {
	return errNoCallControl
}
func (unsupportedCalls) CompleteTransfer(context.Context, string, string) error {
	return errNoCallControl
}
func (unsupportedCalls) Conference(context.Context, string, string) error { return errNoCallControl }
func (unsupportedCalls) ReturnToCaller(context.Context, string, string) error {
	return errNoCallControl
}
func (unsupportedCalls) Outbound(context.Context, string, string) (string, error) {
	return "", errNoCallControl
}
func (unsupportedCalls) Internal(context.Context, string, string) (string, error) {
	return "", errNoCallControl
}
func (unsupportedCalls) Monitor(context.Context, string, string, MonitorMode) error {
	return errNoCallControl
}
func (unsupportedCalls) Disposition(context.Context, string, string, string) error {
	return errNoCallControl
}
func (unsupportedCalls) Calls() []CallInfo { return nil }
