package crm

import (
	"context"
	"errors"
)

// DefaultTier is the tier of callers the CRM does not know and of calls whose
// lookup failed.
const DefaultTier = "normal"

// DemoTiers are the tiers of the embedded demo configuration (DEMO.md).
var DemoTiers = []string{"diamond", "gold", "silver", "normal"}

// Source says where a Customer came from; call records keep it so that
// degraded lookups can be counted.
type Source string

const (
	SourceStore   Source = "store"   // local customer store hit
	SourceLive    Source = "live"    // live CRM fallback
	SourceDefault Source = "default" // unknown caller or failed lookup
)

// Customer is what the call path knows about a caller.
type Customer struct {
	ID          string `json:"id,omitempty"`
	Number      string `json:"number"` // normalised (see NumberPlan.Normalise)
	Name        string `json:"name,omitempty"`
	Tier        string `json:"tier"`
	Region      string `json:"region,omitempty"`
	Blacklisted bool   `json:"blacklisted"`
	// Attributes are free CRM fields shown on the agent desktop.
	Attributes map[string]string `json:"attributes,omitempty"`

	// Source is where the record came from; empty for records handed to a
	// Store.
	Source Source `json:"source,omitempty"`
	// Degraded is set when the lookup failed or timed out and the call goes
	// on with the default tier; the call record flags it.
	Degraded bool `json:"degraded,omitempty"`
}

// Known reports whether the customer was found in the store or the live CRM.
func (c Customer) Known() bool { return c.Source == SourceStore || c.Source == SourceLive }

// Lookup finds a customer by caller number.
type Lookup interface {
	Lookup(ctx context.Context, number string) (Customer, error)
}

var (
	// ErrNotFound means the number is not a customer; it is not a failure.
	ErrNotFound = errors.New("crm: customer not found")
	// ErrMalformedNumber wraps every number normalisation failure.
	ErrMalformedNumber = errors.New("crm: malformed number")
	// ErrBreakerOpen is returned by the live lookup while its circuit breaker
	// refuses requests.
	ErrBreakerOpen = errors.New("crm: live lookup circuit breaker open")
)
