package ivr

import (
	"regexp"
	"time"
)

// NodeType names what a node does.
type NodeType string

// The node types a flow may use.
const (
	TypePlay     NodeType = "play"
	TypeMenu     NodeType = "menu"
	TypeCollect  NodeType = "collect"
	TypeLookup   NodeType = "lookup"
	TypeBranch   NodeType = "branch"
	TypeSet      NodeType = "set"
	TypeSay      NodeType = "say"
	TypeQueue    NodeType = "queue"
	TypeTransfer NodeType = "transfer"
	TypeRecord   NodeType = "record"
	TypeSurvey   NodeType = "survey"
	TypeHangup   NodeType = "hangup"
	TypeCallback NodeType = "callback"
)

// waitsForInput reports whether a node hands control to the caller (or an
// agent) so that a cycle through it cannot spin the interpreter.
func (t NodeType) waitsForInput() bool {
	switch t {
	case TypeMenu, TypeCollect, TypeQueue, TypeRecord, TypeSurvey, TypeCallback:
		return true
	}
	return false
}

// Flow is one loaded, validated call flow. A *Flow is immutable once loaded:
// calls in progress keep the pointer they started with across reloads.
type Flow struct {
	Name        string
	File        string
	Description string
	// Language is the prompt directory used unless the call sets its own.
	Language  string
	Start     string
	Nodes     map[string]*Node
	Calendars map[string]*Calendar
}

// Node is one step of a flow. Only the fields of its Type are set.
type Node struct {
	ID   string
	Type NodeType
	Line int
	// Next is the default successor; for queue nodes it is where the caller
	// goes when the agent hangs up first (usually the survey).
	Next string

	// play, menu, collect, record, survey, queue (intro), hangup (last words)
	Prompts []string
	// play: digits that interrupt the prompt ("" = none); the digit is kept
	// as type-ahead for the next input node.
	BargeIn string

	// menu
	Options map[string]string // digit → node
	// menu, collect, survey
	Timeout    time.Duration // menu: wait for the choice after the prompt; collect/survey: first digit
	NoInput    []string
	Invalid    []string
	Retries    int
	Default    string // menu: after Retries failures
	Failure    string // collect, survey, lookup, transfer, queue: where to go on failure
	Terminator string
	MinDigits  int
	MaxDigits  int
	InterDigit time.Duration
	Pattern    *regexp.Regexp // anchored: the whole input must match
	Secret     bool           // collect: keep the digits out of the trace

	// collect, record, survey: variable that receives the result
	Var string

	// lookup
	By          string // "caller" or "var"
	KeyVar      string // lookup by this variable
	DefaultTier string

	// branch
	Rules []Rule

	// set
	Assign map[string]string

	// say
	SayDigits string // template, each character spoken as a digit
	SayNumber string // template, spoken as a number
	SayMoney  string // template, an amount in yuan ("12.50")
	// SayDuration is a template of whole seconds or a Go duration ("2m30s").
	SayDuration string
	After       []string

	// queue
	Queue         string
	Tier          string // template, default "${tier}"
	Priority      int
	Region        string // template, default "${region}"
	MOH           string
	AnnounceEvery time.Duration
	AnnounceWait  bool
	MaxWait       time.Duration
	Overflow      string
	LeaveDigit    string
	Voicemail     string
	AnnounceAgent string // prompt said before the agent id; "" = silent
	// Queued callback: from CallbackAfter in queue, or once the expected
	// wait exceeds CallbackWaitOver, the caller hears CallbackOffer and
	// may press CallbackDigit to go to the callback node CallbackNode,
	// keeping its place.
	CallbackAfter    time.Duration
	CallbackWaitOver time.Duration
	CallbackOffer    string
	CallbackDigit    string
	CallbackNode     string

	// callback (Prompts: said before the number read back)
	Confirm []string // "press 1 if right, 2 for another number"
	Enter   []string // "enter the number, then hash"
	Done    []string // "you keep your place; we will call you"

	// transfer
	TransferKind TransferKind
	Target       string
	Trunk        string

	// record
	Beep      string
	MaxLength time.Duration
	Silence   time.Duration
	StopDigit string

	// survey
	Min, Max int
	Thanks   []string

	// hangup
	Reason string

	refs []nodeRef
}

type nodeRef struct {
	field, target string
	line          int
}

// Rule is one branch condition; all of its set parts must hold.
type Rule struct {
	Line    int
	Tiers   []string
	Vars    map[string]string
	Caller  *regexp.Regexp
	Dialled *regexp.Regexp
	Open    string // calendar name: open now
	Closed  string // calendar name: closed now (outside hours or a holiday)
	Goto    string
}

// TransferKind says where a transfer node sends the call.
type TransferKind string

// Transfer targets.
const (
	TransferFlow     TransferKind = "flow"     // another flow, run in place
	TransferNumber   TransferKind = "number"   // an access number of this centre
	TransferExternal TransferKind = "external" // a number outside, through a trunk
	TransferAgent    TransferKind = "agent"    // one agent directly
)
