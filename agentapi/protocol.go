package agentapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/cdr"
)

// Stable error codes in replies. Clients branch on the code; the message
// is for people.
const (
	CodeBadRequest        = "bad_request"        // malformed JSON, missing or invalid field
	CodeUnknownType       = "unknown_type"       // no such request type
	CodeTooLarge          = "too_large"          // frame over the size limit
	CodeRateLimited       = "rate_limited"       // too many requests per second; retry later
	CodeUnauthenticated   = "unauthenticated"    // request needs a login first
	CodeBadCredentials    = "bad_credentials"    // wrong agent id or password
	CodeTooManyFailures   = "too_many_failures"  // this address is banned after failed logins; the connection closes
	CodeInvalidToken      = "invalid_token"      // resume with an unknown, expired or replaced token
	CodeForbidden         = "forbidden"          // role or scope does not allow it
	CodeIllegalTransition = "illegal_transition" // the agent state machine refuses
	CodeUnknownAgent      = "unknown_agent"      // agent not logged in to the ACD
	CodeNotPermitted      = "not_permitted"      // the agent profile lacks the permission
	CodeUnknownReason     = "unknown_reason"     // break reason not configured
	CodeUnknownCall       = "unknown_call"       // no such call for this agent
	CodeCallState         = "call_state"         // the call is not in a state where this applies (e.g. complete before the consulted party answered)
	CodeSeatBusy          = "seat_busy"          // extension used by another agent
	CodeAlreadyLoggedIn   = "already_logged_in"
	CodeOtherNode         = "other_node"  // cluster: the agent is served by another node
	CodeQueueBusy         = "queue_busy"  // internal call refused: callers waiting
	CodeAgentBusy         = "agent_busy"  // the other agent is on a call
	CodeUnsupported       = "unsupported" // the engine does not implement this operation
	CodeUnavailable       = "unavailable" // ACD shut down
	CodeTimeout           = "timeout"     // the engine did not answer in time
	CodeInternal          = "internal"    // anything else
)

// apiError is a refusal with a stable code.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errf(code, format string, args ...any) *apiError {
	return &apiError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// toAPIError maps errors from the ACD and the engine to stable codes.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	code := CodeInternal
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		code = CodeUnsupported
	case errors.Is(err, acd.ErrIllegalTransition):
		code = CodeIllegalTransition
	case errors.Is(err, acd.ErrUnknownAgent):
		code = CodeUnknownAgent
	case errors.Is(err, acd.ErrNotPermitted):
		code = CodeNotPermitted
	case errors.Is(err, acd.ErrUnknownReason):
		code = CodeUnknownReason
	case errors.Is(err, acd.ErrUnknownCall), errors.Is(err, acd.ErrCallNotActive), errors.Is(err, ErrUnknownCall):
		code = CodeUnknownCall
	case errors.Is(err, ErrCallState):
		code = CodeCallState
	case errors.Is(err, ErrAgentBusy), errors.Is(err, acd.ErrAgentUnavailable):
		code = CodeAgentBusy
	case errors.Is(err, ErrBadRequest):
		code = CodeBadRequest
	case errors.Is(err, acd.ErrSeatBusy):
		code = CodeSeatBusy
	case errors.Is(err, acd.ErrAlreadyLoggedIn):
		code = CodeAlreadyLoggedIn
	case errors.Is(err, acd.ErrRemoteAgent):
		code = CodeOtherNode
	case errors.Is(err, acd.ErrClosed), errors.Is(err, acd.ErrStoreUnavailable):
		code = CodeUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		code = CodeTimeout
	}
	return &apiError{Code: code, Message: err.Error()}
}

// request is every client message; each type uses some fields.
type request struct {
	ID        string  `json:"id"`
	Type      string  `json:"type"`
	Agent     string  `json:"agent,omitempty"`
	Password  string  `json:"password,omitempty"`
	Extension string  `json:"extension,omitempty"`
	Token     string  `json:"token,omitempty"`
	State     string  `json:"state,omitempty"`
	Reason    string  `json:"reason,omitempty"`
	Call      string  `json:"call,omitempty"`
	Digits    string  `json:"digits,omitempty"`
	Target    *Target `json:"target,omitempty"`
	Number    string  `json:"number,omitempty"`
	Mode      string  `json:"mode,omitempty"`
	Code      string  `json:"code,omitempty"`
	Seconds   int     `json:"seconds,omitempty"`
	// Note is the free text with a wrap-up code.
	Note string `json:"note,omitempty"`
}

// reply is the single answer to a request. Result fields are merged in.
type reply struct {
	ID    string    `json:"id"`
	Type  string    `json:"type"` // "reply"
	OK    bool      `json:"ok"`
	Error *apiError `json:"error,omitempty"`
	*result
}

// result carries what a successful reply returns, by request type.
type result struct {
	Protocol int         `json:"protocol,omitempty"`
	Token    string      `json:"token,omitempty"`
	Role     Role        `json:"role,omitempty"`
	Agent    string      `json:"agent,omitempty"`
	Name     string      `json:"name,omitempty"`
	Seat     *SeatView   `json:"seat,omitempty"`
	Calls    []CallView  `json:"calls,omitempty"`
	Agents   []SeatView  `json:"agents,omitempty"`
	Queues   *QueueStats `json:"queues,omitempty"`
	CallID   string      `json:"call_id,omitempty"`
	States   []acd.State `json:"states,omitempty"`
	Stored   *bool       `json:"disposition_stored,omitempty"`
	Reasons  []string    `json:"break_reasons,omitempty"`
	NotReady []string    `json:"not_ready_reasons,omitempty"`
	Dispos   []string    `json:"disposition_codes,omitempty"`
	Now      *time.Time  `json:"now,omitempty"`
	// Data is an extension's result (Config.Extensions).
	Data any `json:"data,omitempty"`

	// The desktop's extras (desk.go).
	QueueCodes    map[string][]string `json:"wrap_up_codes,omitempty"`
	BreakLimits   map[string]int64    `json:"break_limits_s,omitempty"`
	CustomerAttrs []string            `json:"customer_attributes,omitempty"`
	Language      string              `json:"language,omitempty"`
	HistoryOn     bool                `json:"history,omitempty"`
	History       *[]cdr.PastCall     `json:"calls_before,omitempty"`
	Caller        string              `json:"caller,omitempty"`
}

// Event is a pushed message. Engine code may publish its own with
// Server.Publish (e.g. call.transferred, call.muted).
type Event struct {
	Type   string    `json:"type"` // always "event"
	Event  string    `json:"event"`
	Seq    uint64    `json:"seq,omitempty"`
	At     time.Time `json:"at"`
	Agent  string    `json:"agent,omitempty"`
	CallID string    `json:"call_id,omitempty"`
	Caller string    `json:"caller,omitempty"`
	Queue  string    `json:"queue,omitempty"`
	Tier   string    `json:"tier,omitempty"`
	State  string    `json:"state,omitempty"`
	Prev   string    `json:"prev,omitempty"`
	Reason string    `json:"reason,omitempty"`
	// WaitMS: caller's wait (call events), talk time (call.ended), time in
	// state (overrun alerts).
	WaitMS int64       `json:"wait_ms,omitempty"`
	Seat   *SeatView   `json:"seat,omitempty"`
	Call   *CallView   `json:"call,omitempty"`
	Stats  *QueueStats `json:"stats,omitempty"`
	Calls  []CallView  `json:"calls,omitempty"`
	// Agents is the seat map (supervisors' snapshot event).
	Agents []SeatView `json:"agents,omitempty"`
	// Data carries engine-specific details.
	Data any `json:"data,omitempty"`
}

// SeatView is an agent's seat on the wire.
type SeatView struct {
	Agent     string         `json:"agent"`
	Name      string         `json:"name,omitempty"`
	Seat      string         `json:"seat,omitempty"`
	State     acd.State      `json:"state"`
	Reason    string         `json:"reason,omitempty"`
	Since     time.Time      `json:"since,omitempty"`
	CallID    string         `json:"call_id,omitempty"`
	Caller    string         `json:"caller,omitempty"`
	Requested bool           `json:"requested,omitempty"`
	WrapUntil *time.Time     `json:"wrap_until,omitempty"`
	Mode      acd.AnswerMode `json:"mode,omitempty"`
	Skills    map[string]int `json:"skills,omitempty"`
	Groups    []string       `json:"groups,omitempty"`
}

// CallView is a call on the wire: the ACD's queue view merged with the
// engine's call view.
type CallView struct {
	ID        string                 `json:"id"`
	Agent     string                 `json:"agent,omitempty"`
	Direction string                 `json:"direction,omitempty"`
	Caller    string                 `json:"caller,omitempty"`
	Callee    string                 `json:"callee,omitempty"`
	Queue     string                 `json:"queue,omitempty"`
	Tier      string                 `json:"tier,omitempty"`
	State     string                 `json:"state,omitempty"`
	WaitMS    int64                  `json:"wait_ms,omitempty"`
	Enqueued  *time.Time             `json:"enqueued_at,omitempty"`
	Offers    int                    `json:"offers,omitempty"`
	Held      bool                   `json:"held,omitempty"`
	Muted     bool                   `json:"muted,omitempty"`
	Started   *time.Time             `json:"started,omitempty"` // when the conversation began (answer)
	Customer  map[string]string      `json:"customer,omitempty"`
	Trace     any                    `json:"trace,omitempty"`
	Monitors  map[string]MonitorMode `json:"monitors,omitempty"`
	// Callback is the number a queued callback calls back; Attempts the
	// tries that did not reach the customer. Campaign names a campaign's
	// call (direction outbound).
	Callback string `json:"callback,omitempty"`
	Attempts int    `json:"attempts,omitempty"`
	Campaign string `json:"campaign,omitempty"`
}

// QueueStats is the periodic queue statistics event (and list_queues reply).
type QueueStats struct {
	At            time.Time          `json:"at"`
	Queues        []QueueView        `json:"queues"`
	ServiceLevels []ServiceLevelView `json:"service_levels"`
	AgentsByState map[acd.State]int  `json:"agents_by_state"`
}

// QueueView is one queue's live figures.
type QueueView struct {
	Name          string `json:"name"`
	Waiting       int    `json:"waiting"`
	LongestWaitMS int64  `json:"longest_wait_ms"`
	// Callbacks are the queued callbacks keeping their place (not on the
	// line, so not in Waiting).
	Callbacks     int               `json:"callbacks"`
	AgentsByState map[acd.State]int `json:"agents_by_state"`
	// Callers are the waiting callers (supervisors only).
	Callers []CallView `json:"callers,omitempty"`
}

// ServiceLevelView is a tier's service level against its target. A tier
// with no answered, abandoned or overdue caller in the window has no
// service level: Actual is null and NoData is true (the wallboard shows
// "no data", not 100 %).
type ServiceLevelView struct {
	Tier           string   `json:"tier"`
	Queue          string   `json:"queue,omitempty"`
	Target         float64  `json:"target"`
	ThresholdS     float64  `json:"threshold_s"`
	Actual         *float64 `json:"actual"`
	NoData         bool     `json:"no_data,omitempty"`
	Met            bool     `json:"met"`
	Answered       int      `json:"answered"`
	AnsweredWithin int      `json:"answered_within"`
	Abandoned      int      `json:"abandoned"`
	OverdueWaiting int      `json:"overdue_waiting"`
	// ASAS is the mean answer wait in seconds over the window (null when
	// nothing was answered).
	ASAS *float64 `json:"asa_s"`
}

func seatView(s acd.AgentSnapshot, name string) SeatView {
	v := SeatView{Agent: s.Profile.ID, Name: name, Seat: s.Profile.Seat, State: s.State, Reason: s.Reason, Since: s.Since,
		CallID: s.CallID, Caller: s.Caller, Requested: s.Requested, Mode: s.Profile.Mode, Skills: s.Profile.Skills, Groups: s.Profile.Groups}
	if !s.WrapUntil.IsZero() {
		w := s.WrapUntil
		v.WrapUntil = &w
	}
	return v
}

func callViewACD(c acd.CallSnapshot, now time.Time) CallView {
	enq := c.Call.EnqueuedAt
	v := CallView{ID: c.Call.ID, Agent: c.AgentID, Direction: "inbound", Caller: c.Call.Caller, Queue: c.Call.Queue, Tier: c.Call.Tier,
		State: c.State, WaitMS: now.Sub(enq).Milliseconds(), Enqueued: &enq, Offers: c.Offers, Customer: c.Call.Customer, Trace: safeTrace(c.Call.Trace)}
	switch {
	case c.Call.Callback != "":
		v.Direction, v.Callback, v.Attempts = "callback", c.Call.Callback, c.Call.CallbackAttempts
	case c.Call.Customer["campaign"] != "":
		v.Direction, v.Campaign = "outbound", c.Call.Customer["campaign"]
	}
	return v
}

// safeTrace wraps the IVR trace (opaque to the ACD and to us) so that a
// value JSON cannot encode degrades to its printed form instead of losing
// the whole event or reply.
func safeTrace(v any) any {
	if v == nil {
		return nil
	}
	return anyJSON{v}
}

type anyJSON struct{ v any }

func (a anyJSON) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(a.v)
	if err != nil {
		return json.Marshal(fmt.Sprint(a.v))
	}
	return b, nil
}

// merge fills the view with the engine's knowledge of the call.
func (v *CallView) merge(ci CallInfo) {
	if v.ID == "" {
		v.ID = ci.ID
	}
	set := func(dst *string, src string) {
		if *dst == "" {
			*dst = src
		}
	}
	set(&v.Agent, ci.AgentID)
	set(&v.Caller, ci.Caller)
	set(&v.Callee, ci.Callee)
	set(&v.Queue, ci.Queue)
	set(&v.Tier, ci.Tier)
	if ci.Direction != "" {
		v.Direction = ci.Direction
	}
	if ci.State != "" {
		v.State = ci.State
	}
	v.Held = v.Held || ci.Held
	v.Muted = ci.Muted
	if !ci.Started.IsZero() && v.Started == nil {
		st := ci.Started
		v.Started = &st
	}
	if v.Customer == nil {
		v.Customer = ci.Customer
	}
	if v.Trace == nil {
		v.Trace = safeTrace(ci.Trace)
	}
	v.Monitors = ci.Monitors
}
