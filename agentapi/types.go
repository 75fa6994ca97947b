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
	// PauseRecording pauses (on) or resumes the call's recording, e.g. while
	// the caller reads out a card number; the pause is silence in the file
	// and noted in its metadata.
	PauseRecording(ctx context.Context, agentID, callID string, on bool) error
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

// CallControlFuncs is a CallControl built from optional functions: a nil
// one answers an error wrapping errors.ErrUnsupported ("unsupported" on the
// wire). It lets the engine wire call control one operation at a time;
// the zero value refuses every call operation.
type CallControlFuncs struct {
	AnswerFunc           func(ctx context.Context, agentID, callID string) error
	HangupFunc           func(ctx context.Context, agentID, callID string) error
	HoldFunc             func(ctx context.Context, agentID, callID string, on bool) error
	MuteFunc             func(ctx context.Context, agentID, callID string, on bool) error
	PauseRecordingFunc   func(ctx context.Context, agentID, callID string, on bool) error
	SendDTMFFunc         func(ctx context.Context, agentID, callID, digits string) error
	TransferFunc         func(ctx context.Context, agentID, callID string, to Target, blind bool) error
	ConsultFunc          func(ctx context.Context, agentID, callID string, to Target) error
	CompleteTransferFunc func(ctx context.Context, agentID, callID string) error
	ConferenceFunc       func(ctx context.Context, agentID, callID string) error
	ReturnToCallerFunc   func(ctx context.Context, agentID, callID string) error
	OutboundFunc         func(ctx context.Context, agentID, number string) (string, error)
	InternalFunc         func(ctx context.Context, agentID, otherAgentID string) (string, error)
	MonitorFunc          func(ctx context.Context, supervisorID, agentID string, mode MonitorMode) error
	DispositionFunc      func(ctx context.Context, agentID, callID, code string) error
	CallsFunc            func() []CallInfo
}

func unsupported(op string) error {
	return fmt.Errorf("%s: %w", op, errors.ErrUnsupported)
}

// Answer implements CallControl.
func (f CallControlFuncs) Answer(ctx context.Context, agentID, callID string) error {
	if f.AnswerFunc == nil {
		return unsupported("answer")
	}
	return f.AnswerFunc(ctx, agentID, callID)
}

// Hangup implements CallControl.
func (f CallControlFuncs) Hangup(ctx context.Context, agentID, callID string) error {
	if f.HangupFunc == nil {
		return unsupported("hangup")
	}
	return f.HangupFunc(ctx, agentID, callID)
}

// Hold implements CallControl.
func (f CallControlFuncs) Hold(ctx context.Context, agentID, callID string, on bool) error {
	if f.HoldFunc == nil {
		return unsupported("hold")
	}
	return f.HoldFunc(ctx, agentID, callID, on)
}

// PauseRecording implements CallControl.
func (f CallControlFuncs) PauseRecording(ctx context.Context, agentID, callID string, on bool) error {
	if f.PauseRecordingFunc == nil {
		return unsupported("pause recording")
	}
	return f.PauseRecordingFunc(ctx, agentID, callID, on)
}

// Mute implements CallControl.
func (f CallControlFuncs) Mute(ctx context.Context, agentID, callID string, on bool) error {
	if f.MuteFunc == nil {
		return unsupported("mute")
	}
	return f.MuteFunc(ctx, agentID, callID, on)
}

// SendDTMF implements CallControl.
func (f CallControlFuncs) SendDTMF(ctx context.Context, agentID, callID, digits string) error {
	if f.SendDTMFFunc == nil {
		return unsupported("dtmf")
	}
	return f.SendDTMFFunc(ctx, agentID, callID, digits)
}

// Transfer implements CallControl.
func (f CallControlFuncs) Transfer(ctx context.Context, agentID, callID string, to Target, blind bool) error {
	if f.TransferFunc == nil {
		return unsupported("transfer")
	}
	return f.TransferFunc(ctx, agentID, callID, to, blind)
}

// Consult implements CallControl.
func (f CallControlFuncs) Consult(ctx context.Context, agentID, callID string, to Target) error {
	if f.ConsultFunc == nil {
		return unsupported("consult")
	}
	return f.ConsultFunc(ctx, agentID, callID, to)
}

// CompleteTransfer implements CallControl.
func (f CallControlFuncs) CompleteTransfer(ctx context.Context, agentID, callID string) error {
	if f.CompleteTransferFunc == nil {
		return unsupported("complete transfer")
	}
	return f.CompleteTransferFunc(ctx, agentID, callID)
}

// Conference implements CallControl.
func (f CallControlFuncs) Conference(ctx context.Context, agentID, callID string) error {
	if f.ConferenceFunc == nil {
		return unsupported("conference")
	}
	return f.ConferenceFunc(ctx, agentID, callID)
}

// ReturnToCaller implements CallControl.
func (f CallControlFuncs) ReturnToCaller(ctx context.Context, agentID, callID string) error {
	if f.ReturnToCallerFunc == nil {
		return unsupported("return to caller")
	}
	return f.ReturnToCallerFunc(ctx, agentID, callID)
}

// Outbound implements CallControl.
func (f CallControlFuncs) Outbound(ctx context.Context, agentID, number string) (string, error) {
	if f.OutboundFunc == nil {
		return "", unsupported("outbound call")
	}
	return f.OutboundFunc(ctx, agentID, number)
}

// Internal implements CallControl.
func (f CallControlFuncs) Internal(ctx context.Context, agentID, otherAgentID string) (string, error) {
	if f.InternalFunc == nil {
		return "", unsupported("internal call")
	}
	return f.InternalFunc(ctx, agentID, otherAgentID)
}

// Monitor implements CallControl.
func (f CallControlFuncs) Monitor(ctx context.Context, supervisorID, agentID string, mode MonitorMode) error {
	if f.MonitorFunc == nil {
		return unsupported("monitor " + string(mode))
	}
	return f.MonitorFunc(ctx, supervisorID, agentID, mode)
}

// Disposition implements CallControl.
func (f CallControlFuncs) Disposition(ctx context.Context, agentID, callID, code string) error {
	if f.DispositionFunc == nil {
		return unsupported("disposition")
	}
	return f.DispositionFunc(ctx, agentID, callID, code)
}

// Calls implements CallControl.
func (f CallControlFuncs) Calls() []CallInfo {
	if f.CallsFunc == nil {
		return nil
	}
	return f.CallsFunc()
}
