package cdr

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Disposition is how a call ended, from the caller's point of view.
type Disposition string

// Dispositions.
const (
	Answered       Disposition = "answered"        // an agent answered
	AbandonedIVR   Disposition = "abandoned_ivr"   // caller hung up before reaching a queue
	CompletedIVR   Disposition = "completed_ivr"   // the flow itself ended the call (a message left, a hang-up node) before any queue
	AbandonedQueue Disposition = "abandoned_queue" // caller hung up while queued or ringing an agent
	Overflowed     Disposition = "overflowed"      // the queue's overflow action took the call
	Blacklisted    Disposition = "blacklisted"     // refused because the caller is blacklisted
	Failed         Disposition = "failed"          // the engine could not handle the call
	// CallbackRequested: the caller left the queue for a callback that
	// keeps its place; the callback's own record (direction callback)
	// carries on from the same arrival.
	CallbackRequested Disposition = "callback_requested"
	// Unreached: a callback or an outbound call did not reach the
	// customer (Reason: no_answer, busy, failed); a callback's record
	// says so once its last try failed.
	Unreached Disposition = "unreached"
	// Withdrawn: a pending callback taken back (the customer called again,
	// a supervisor cancelled it).
	Withdrawn Disposition = "withdrawn"
)

// Valid reports whether d is one of the dispositions above.
func (d Disposition) Valid() bool {
	switch d {
	case Answered, AbandonedIVR, CompletedIVR, AbandonedQueue, Overflowed, Blacklisted, Failed,
		CallbackRequested, Unreached, Withdrawn:
		return true
	}
	return false
}

// OfferOutcome is how one offer of the call to an agent ended.
type OfferOutcome string

// Offer outcomes. NoAnswer, Busy and Unreachable are the ring-no-answer
// (RONA) family: the call went back to the queue.
const (
	OfferAnswered    OfferOutcome = "answered"
	OfferNoAnswer    OfferOutcome = "no_answer"
	OfferBusy        OfferOutcome = "busy"
	OfferUnreachable OfferOutcome = "unreachable"
	OfferCancelled   OfferOutcome = "cancelled" // the caller hung up or the call overflowed while ringing
	// OfferCustomerUnreached: the agent answered a callback or an outbound
	// call, the customer did not.
	OfferCustomerUnreached OfferOutcome = "customer_unreached"
)

// RONA reports whether the outcome sent the call back to the queue.
func (o OfferOutcome) RONA() bool {
	return o == OfferNoAnswer || o == OfferBusy || o == OfferUnreachable
}

// Times are the milestones of a call. Arrival and Ended are always set;
// the others only when the call got that far.
type Times struct {
	Arrival  time.Time  `json:"arrival"`
	IVREnd   *time.Time `json:"ivr_end,omitempty"`
	Enqueued *time.Time `json:"enqueued,omitempty"`
	Offered  *time.Time `json:"offered,omitempty"` // first offer to an agent
	Answered *time.Time `json:"answered,omitempty"`
	Ended    time.Time  `json:"ended"`
}

// Customer is who the CRM lookup said was calling. Tier is set even for
// unknown callers (the default tier), because reports group by it.
type Customer struct {
	ID     string `json:"id,omitempty"`
	Tier   string `json:"tier"`
	Region string `json:"region,omitempty"`
	Name   string `json:"name,omitempty"`
}

// Offer is one attempt to connect the call to an agent.
type Offer struct {
	Agent   string       `json:"agent"`
	At      time.Time    `json:"at"`
	Outcome OfferOutcome `json:"outcome"`
	RingMS  int64        `json:"ring_ms"`
}

// Transfer moves the caller away from the answering agent.
type Transfer struct {
	At     time.Time `json:"at"`
	By     string    `json:"by"`     // agent who transferred
	Kind   string    `json:"kind"`   // blind (to an agent or a number), attended, queue, flow
	Target string    `json:"target"` // agent, queue, number or IVR node
	Result string    `json:"result,omitempty"`
}

// Consultation is an agent talking to a third party while the caller holds.
type Consultation struct {
	At         time.Time `json:"at"`
	By         string    `json:"by"`
	Target     string    `json:"target"`
	DurationMS int64     `json:"duration_ms"`
}

// SupervisorAction is a listen, whisper, barge, intercept or forced state
// change that touched this call.
type SupervisorAction struct {
	At         time.Time `json:"at"`
	Supervisor string    `json:"supervisor"`
	Action     string    `json:"action"`
	Agent      string    `json:"agent,omitempty"`
}

// Recording links the call to its audio (see package recording).
type Recording struct {
	File  string `json:"file"`
	State string `json:"state"` // e.g. complete, repaired, failed
}

// Record is one call detail record, written once when the call ends.
// Durations are in milliseconds.
type Record struct {
	CallID string `json:"call_id"`
	// Direction: "" for a call in (inbound), callback, outbound (campaign).
	Direction    string   `json:"direction,omitempty"`
	Node         string   `json:"node,omitempty"` // engine node that handled the call (cluster mode)
	Times        Times    `json:"times"`
	Caller       string   `json:"caller"`
	Dialled      string   `json:"dialled"`
	AccessNumber string   `json:"access_number,omitempty"` // the access code that selected the flow
	Customer     Customer `json:"customer"`
	// LookupDegraded: the CRM lookup failed or timed out and the call ran
	// with the default tier.
	LookupDegraded bool   `json:"lookup_degraded,omitempty"`
	LookupError    string `json:"lookup_error,omitempty"`

	IVRFlow string `json:"ivr_flow,omitempty"`
	// IVRTrace is the IVR's []ivr.TraceEntry as JSON, kept verbatim so this
	// package does not depend on the IVR.
	IVRTrace json.RawMessage `json:"ivr_trace,omitempty"`

	Queue             string             `json:"queue,omitempty"`
	Offers            []Offer            `json:"offers,omitempty"`
	Agent             string             `json:"agent,omitempty"` // the agent who answered
	TalkMS            int64              `json:"talk_ms,omitempty"`
	HoldMS            int64              `json:"hold_ms,omitempty"`
	WrapUpMS          int64              `json:"wrap_up_ms,omitempty"`
	Transfers         []Transfer         `json:"transfers,omitempty"`
	Consultations     []Consultation     `json:"consultations,omitempty"`
	SupervisorActions []SupervisorAction `json:"supervisor_actions,omitempty"`
	// WrapUpCode is the disposition code the agent chose at wrap-up.
	WrapUpCode string `json:"wrap_up_code,omitempty"`
	// WrapUpNote is the agent's free-text note with the code.
	WrapUpNote string `json:"wrap_up_note,omitempty"`

	Disposition Disposition `json:"disposition"`
	// ShortAbandon: abandoned in the queue sooner than the configured
	// short-abandon time; not counted against the service level.
	ShortAbandon bool `json:"short_abandon,omitempty"`
	// Reason details the disposition: overflow reason, failure cause.
	Reason string `json:"reason,omitempty"`
	// WaitMS is enqueue → answer, or enqueue → abandon/overflow.
	WaitMS int64 `json:"wait_ms,omitempty"`

	SurveyScore *int       `json:"survey_score,omitempty"`
	Recording   *Recording `json:"recording,omitempty"`
	// OneWayAudio: a leg sent no RTP for the configured time while the other did.
	OneWayAudio bool `json:"one_way_audio,omitempty"`
	// Dropped: the call was cut by the engine or the network, not by a hang-up.
	Dropped bool `json:"dropped,omitempty"`
	// EndedBy says who or what ended the call: caller, ivr (the
	// flow hung up), rtp_timeout (the caller's audio stopped without a
	// BYE), session_expired (no session-timer refresh), shutdown.
	EndedBy string `json:"ended_by,omitempty"`

	// Callback: a queued callback's record (direction callback).
	Callback *Callback `json:"callback,omitempty"`
	// Campaign: an outbound campaign's attempt (direction outbound).
	Campaign *CampaignAttempt `json:"campaign,omitempty"`
}

// Callback describes a queued callback. Its record's arrival and enqueue
// times are the waiting call's, so WaitMS of an answered callback is the
// time to callback, counted like the wait it replaced.
type Callback struct {
	RequestedBy string `json:"requested_by,omitempty"` // the waiting call that asked
	Number      string `json:"number"`
	// Attempts counts the tries that did not reach the customer.
	Attempts int `json:"attempts"`
}

// CampaignAttempt is one outbound call to one contact of a campaign.
type CampaignAttempt struct {
	Name      string            `json:"name"`
	ContactID string            `json:"contact_id"`
	Attempt   int               `json:"attempt"` // 1 for the contact's first
	Outcome   string            `json:"outcome"` // completed, no_answer, busy, failed, abandoned, hung_up, machine…
	Answers   map[string]string `json:"answers,omitempty"`
}

// RecordTime is the moment reports file the call under: when it entered a
// queue, or its arrival if it never reached one.
func (r Record) RecordTime() time.Time {
	if r.Times.Enqueued != nil {
		return *r.Times.Enqueued
	}
	return r.Times.Arrival
}

// Finish fills what can be derived from the other fields: WaitMS from the
// enqueue and answer (or end) times when it is zero, and ShortAbandon for a
// queue abandon shorter than shortAbandon. The engine calls it just before
// Write.
func (r *Record) Finish(shortAbandon time.Duration) {
	t := r.Times
	if r.WaitMS == 0 && t.Enqueued != nil {
		switch {
		case t.Answered != nil:
			r.WaitMS = t.Answered.Sub(*t.Enqueued).Milliseconds()
		case !t.Ended.IsZero():
			r.WaitMS = t.Ended.Sub(*t.Enqueued).Milliseconds()
		}
		if r.WaitMS < 0 {
			r.WaitMS = 0
		}
	}
	if r.Disposition == AbandonedQueue && time.Duration(r.WaitMS)*time.Millisecond < shortAbandon {
		r.ShortAbandon = true
	}
}

// Validate reports the first thing that makes r unusable for reports.
func (r Record) Validate() error {
	var errs []error
	if r.CallID == "" {
		errs = append(errs, errors.New("call_id is empty"))
	}
	if r.Times.Arrival.IsZero() {
		errs = append(errs, errors.New("times.arrival is missing"))
	}
	if !r.Disposition.Valid() {
		errs = append(errs, fmt.Errorf("disposition %q is not one of answered, abandoned_ivr, completed_ivr, abandoned_queue, overflowed, blacklisted, failed, callback_requested, unreached, withdrawn", r.Disposition))
	}
	if r.Disposition == Answered && r.Agent == "" {
		errs = append(errs, errors.New("answered call has no agent"))
	}
	if r.SurveyScore != nil && *r.SurveyScore < 0 {
		errs = append(errs, fmt.Errorf("survey_score %d is negative", *r.SurveyScore))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cdr: record %q: %w", r.CallID, err)
	}
	return nil
}

// AgentStateRecord is one spell of an agent in one state, written when the
// spell ends.
type AgentStateRecord struct {
	Agent      string    `json:"agent"`
	Seat       string    `json:"seat,omitempty"`
	State      string    `json:"state"`
	Reason     string    `json:"reason,omitempty"` // not-ready reason code, RONA, supervisor
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	DurationMS int64     `json:"duration_ms"`
	CallID     string    `json:"call_id,omitempty"`
	Caller     string    `json:"caller,omitempty"`
}

// RecordTime is the start of the spell.
func (a AgentStateRecord) RecordTime() time.Time { return a.Start }

// AuditRecord is one supervisor action, written when it is taken.
type AuditRecord struct {
	At         time.Time `json:"at"`
	Supervisor string    `json:"supervisor"`
	Action     string    `json:"action"` // listen, whisper, barge, intercept, force_state, logout…
	Target     string    `json:"target"` // agent, call or queue id
	Detail     string    `json:"detail,omitempty"`
}

// RecordTime is when the action was taken.
func (a AuditRecord) RecordTime() time.Time { return a.At }
