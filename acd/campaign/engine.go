package campaign

import (
	"context"
	"time"
)

// This file is the contract between the dialler and the engine that places
// its calls (cmd/hotline/internal/callctl through the engine's adapter).
// The dialler decides who is called, when, and how fast; the engine places
// one attempt at a time and reports what happened.

// Contact is one row of a campaign's list.
type Contact struct {
	ID     string            `json:"id"`               // the list's id column, unique in the campaign
	Number string            `json:"number"`           // normalised (crm.NumberPlan)
	Name   string            `json:"name,omitempty"`   // optional
	Region string            `json:"region,omitempty"` // optional; picks the calling window
	Tier   string            `json:"tier,omitempty"`   // optional; the customer's tier (default: the campaign's)
	Fields map[string]string `json:"fields,omitempty"` // every other column, shown to the agent
}

// Mode is how a campaign dials.
type Mode string

// Dialling modes.
const (
	// Preview: the agent sees the record first and clicks dial (or skip);
	// the engine rings the agent, then the customer.
	Preview Mode = "preview"
	// Progressive: the engine dials when an agent is free (Ratio calls per
	// free agent, 1 by default) and rings the agent once the customer
	// answers.
	Progressive Mode = "progressive"
)

// Outcome is how one attempt ended.
type Outcome string

// Outcomes of an attempt.
const (
	Completed Outcome = "completed" // the customer talked to an agent
	NoAnswer  Outcome = "no_answer" // rang out (or 408/480)
	Busy      Outcome = "busy"      // 486/600
	Failed    Outcome = "failed"    // could not be called (404, 5xx, bad number, trunk down)
	// Machine: an answering machine answered (the agent marked it).
	Machine Outcome = "machine"
	// Abandoned: the customer answered and no agent was there within
	// Spec.AbandonAfter; they heard the apology prompt.
	Abandoned Outcome = "abandoned"
	// HungUp: the customer answered and hung up before the agent spoke
	// (during the announcement or at once).
	HungUp Outcome = "hung_up"
	// Skipped: a previewing agent skipped the record.
	Skipped Outcome = "skipped"
	// NoAgent: the engine could not reserve the agent (it took an inbound
	// call, signed out); the contact was not dialled and goes back to the
	// list without counting an attempt.
	NoAgent Outcome = "no_agent"
	// DNC is never an attempt's outcome: it is the final outcome of a
	// contact on the do-not-call list (never dialled) or added to it.
	DNC Outcome = "dnc"
)

// attemptOutcomes are the outcomes an engine may report for an attempt.
var attemptOutcomes = []Outcome{Completed, NoAnswer, Busy, Failed, Machine, Abandoned, HungUp, Skipped, NoAgent}

// Reached reports whether the customer answered (a person, not a machine):
// the denominator of the abandon rate.
func (o Outcome) Reached() bool { return o == Completed || o == Abandoned || o == HungUp }

// Attempt asks the engine to place one call to one contact.
type Attempt struct {
	// ID is the call id the engine uses for the call record (unique).
	ID       string
	Campaign string
	Queue    string // whose agents work it; the record's queue
	Tier     string // the contact's tier, else the campaign's
	Mode     Mode
	Contact  Contact
	// AgentID is the agent to reserve: the previewing agent who clicked
	// dial, or the idle agent the dialler picked (progressive). "" in
	// progressive mode with Ratio > 1 for the calls beyond the free
	// agents: the engine queues the answered customer in Queue for up to
	// AbandonAfter.
	AgentID string
	// AbandonAfter bounds the customer's wait for an agent once they
	// answered (progressive); then Apology is played and the call ends
	// Abandoned.
	AbandonAfter time.Duration
	Apology      string // prompt name, e.g. "sorry-abandon"
	// RingTimeout bounds ringing the customer.
	RingTimeout time.Duration
	CallerID    string // the number presented to the customer ("" = trunk default)
	Script      []Question
	Attempt     int // 1 for the first try of this contact
}

// Result is what the engine reports once the attempt is over: when the
// customer was not reached, at once; when reached, after the agent's
// wrap-up (the code and the script's answers are part of the result).
type Result struct {
	Outcome  Outcome           `json:"outcome"`
	Cause    string            `json:"cause,omitempty"` // SIP code or reason, for the record and the export
	AgentID  string            `json:"agent,omitempty"`
	Answered time.Time         `json:"answered,omitzero"` // zero when not reached
	Ended    time.Time         `json:"ended,omitzero"`
	Talk     time.Duration     `json:"talk_ns,omitempty"`
	WrapUp   string            `json:"wrap_up,omitempty"` // wrap-up code the agent chose
	Answers  map[string]string `json:"answers,omitempty"` // script answers, question id → answer
	DNC      bool              `json:"dnc,omitempty"`     // the customer asked not to be called again
}

// Engine is what the dialler needs from the engine. Implementations are
// safe for concurrent use.
type Engine interface {
	// FreeAgents lists the agents of queues who may take an outbound
	// call now: signed in, ready, no call ringing or held, and — blending
	// — none of their queues has an inbound caller waiting or a tier
	// behind its service-level target. Order: longest idle first.
	FreeAgents(queues []string) []string
	// SignedIn lists the agents of queues who are signed in, whatever
	// their state: the base of Spec.OutboundShare, and a previewing agent
	// missing from it has signed out (the preview is withdrawn).
	SignedIn(queues []string) []string
	// Dial places the attempt and blocks until its Result is known (see
	// Result) or ctx ends (the call, if up, goes on; the result is then
	// reported with Outcome as far as known).
	Dial(ctx context.Context, a Attempt) Result
	// Preview shows a contact to an agent's desktop (preview mode); the
	// agent answers through Manager.DialPreview or Manager.SkipPreview. An
	// error takes the offer back at once (the contact is not counted).
	Preview(agentID string, p PreviewOffer) error
	// Withdraw takes a preview back from the agent's desktop (paused,
	// stopped, or the agent became busy).
	Withdraw(agentID, campaign, contactID string)
}

// PreviewOffer is what a previewing agent sees.
type PreviewOffer struct {
	Campaign string     `json:"campaign"`
	Contact  Contact    `json:"contact"`
	Script   []Question `json:"script,omitempty"`
	Attempt  int        `json:"attempt"`            // the attempt a dial would be (1 for the first)
	Previous []Result   `json:"previous,omitempty"` // earlier attempts of this contact, oldest first
}

// Question is one item of the outbound script shown to the agent.
type Question struct {
	ID       string   `yaml:"id" json:"id"`
	Text     string   `yaml:"text" json:"text"`
	Kind     string   `yaml:"kind" json:"kind"` // text, number, yesno, choice
	Options  []string `yaml:"options,omitempty" json:"options,omitempty"`
	Required bool     `yaml:"required,omitempty" json:"required,omitempty"`
}
