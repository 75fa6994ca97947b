package routing

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Strategy orders the idle agents of one skill level of a queue.
type Strategy string

// Queue strategies.
const (
	LongestIdle Strategy = "longest-idle" // default
	FewestCalls Strategy = "fewest-calls" // fewest calls offered since the agent was added, then longest idle
	RoundRobin  Strategy = "round-robin"  // least recently given a call of this queue
	Random      Strategy = "random"
)

// TierPolicy orders the tiers competing for a freed agent.
type TierPolicy string

// Tier policies. See the package doc for what each one does; PolicyFIFO and
// PolicyStrict are the plain textbook rules (no escalation unless a tier
// sets EscalateAfter).
const (
	PolicyGapSaveable TierPolicy = "gap-saveable" // default
	PolicyGapRelative TierPolicy = "gap-relative"
	PolicyGapAbsolute TierPolicy = "gap-absolute"
	PolicyFIFO        TierPolicy = "fifo"
	PolicyStrict      TierPolicy = "strict"
)

// Policies lists the tier policies, default first.
func Policies() []TierPolicy {
	return []TierPolicy{PolicyGapSaveable, PolicyGapRelative, PolicyGapAbsolute, PolicyFIFO, PolicyStrict}
}

// gap reports whether the policy orders tiers by their service-level gap.
func (p TierPolicy) gap() bool {
	return p == PolicyGapSaveable || p == PolicyGapRelative || p == PolicyGapAbsolute
}

// WithinTier says which waiting caller of one tier in one queue is offered
// first.
type WithinTier string

// Within-tier orders.
const (
	// WithinOldest: the longest-waiting caller.
	WithinOldest WithinTier = "oldest"
	// WithinSaveable: the longest-waiting caller still inside the tier's
	// threshold (answering them now still counts as "within n s"); callers
	// already past it only when none is left or when they escalate.
	WithinSaveable WithinTier = "saveable"
	// WithinSaveableAnyTier: as WithinSaveable, and in addition a tier
	// whose best caller is overdue yields to any tier that still has a
	// saveable caller (escalated callers excepted). Simulator variant.
	WithinSaveableAnyTier WithinTier = "saveable-any-tier"
)

// OnTargetRule orders the tiers that are on target (gap ≤ 0) under a gap
// policy; tiers behind target always come first, by their gap.
type OnTargetRule string

// On-target rules.
const (
	// OnTargetTierOrder: configuration order (the top tier builds its
	// cushion first).
	OnTargetTierOrder OnTargetRule = "tier-order"
	// OnTargetGap: the smallest surplus first (the gap order continued
	// below zero).
	OnTargetGap OnTargetRule = "gap"
)

// SkillRule says how a freed agent combines its skill levels with tier gaps.
type SkillRule string

// Skill rules.
const (
	SkillUnlessBehind SkillRule = "skill-unless-behind" // default
	SkillFirst        SkillRule = "skill-first"
	GapFirst          SkillRule = "gap-first"
)

// DefaultEscalateFactor times a tier's Threshold is its default EscalateAfter.
const DefaultEscalateFactor = 4

// Tier is a customer class with its own service-level target.
type Tier struct {
	Name string
	// Target is the share of calls to answer within Threshold, 0 < Target < 1.
	Target    float64
	Threshold time.Duration
	// PreferredGroups hold this tier's calls for agents of these groups for
	// WidenAfter; after that any eligible agent may answer.
	PreferredGroups []string
	WidenAfter      time.Duration
	// EscalateAfter is the wait after which a caller outranks all
	// non-escalated callers (anti-starvation). 0 means
	// DefaultEscalateFactor × Threshold under the gap policies and no
	// escalation under PolicyFIFO and PolicyStrict; negative disables it.
	EscalateAfter time.Duration
}

// Queue is a skill group: the calls waiting for it and the agents serving it.
type Queue struct {
	Name     string
	Strategy Strategy // "" means LongestIdle
	// RegionWiden holds a call of a known region for agents of that region
	// this long; 0 means prefer same-region agents but never hold.
	RegionWiden time.Duration
}

// Agent is the routing view of an agent.
type Agent struct {
	ID string
	// Skills maps queue name to level, 1 = first skill (best).
	Skills map[string]int
	Groups []string
	Region string
}

// Call is the routing view of a call.
type Call struct {
	ID     string
	Queue  string
	Tier   string
	Region string
	// Priority > 0 makes a call behave as if it had waited
	// Priority × Config.PriorityStep longer (ordering and widening).
	Priority   int
	EnqueuedAt time.Time
}

// Config is the routing configuration. Zero values take the documented
// defaults.
type Config struct {
	// Tiers in strict-priority order (first = highest), used by PolicyStrict
	// and for ties.
	Tiers     []Tier
	Queues    []Queue
	Policy    TierPolicy
	SkillRule SkillRule
	// Within and OnTarget refine the policy; "" takes the policy's own
	// (gap-saveable: WithinSaveable, OnTargetTierOrder; the others:
	// WithinOldest, OnTargetGap).
	Within   WithinTier
	OnTarget OnTargetRule
	// Window is the service-level window (default 60 min) kept in Buckets
	// buckets (default 12, i.e. 5-minute steps).
	Window  time.Duration
	Buckets int
	// ShortAbandon: callers who abandon sooner are not counted (default 5 s).
	ShortAbandon time.Duration
	// IgnoreWaitingMisses stops counting callers already past their
	// threshold as misses while they wait.
	IgnoreWaitingMisses bool
	// PriorityStep is the head start per unit of Call.Priority (default 10 s).
	PriorityStep time.Duration
	// Seed feeds the Random strategy.
	Seed uint64
}

// Errors returned by the router. They are wrapped with the offending name.
var (
	ErrInvalidConfig = errors.New("invalid routing config")
	ErrUnknownQueue  = errors.New("unknown queue")
	ErrUnknownTier   = errors.New("unknown tier")
	ErrUnknownAgent  = errors.New("unknown agent")
	ErrUnknownCall   = errors.New("unknown call")
	ErrDuplicate     = errors.New("already present")
	ErrInvalidAgent  = errors.New("invalid agent")
)

func (c *Config) withDefaults() Config {
	out := *c
	if out.Policy == "" {
		out.Policy = PolicyGapSaveable
	}
	if out.Within == "" {
		out.Within = WithinOldest
		if out.Policy == PolicyGapSaveable {
			out.Within = WithinSaveable
		}
	}
	if out.OnTarget == "" {
		out.OnTarget = OnTargetGap
		if out.Policy == PolicyGapSaveable {
			out.OnTarget = OnTargetTierOrder
		}
	}
	if out.SkillRule == "" {
		out.SkillRule = SkillUnlessBehind
	}
	if out.Window == 0 {
		out.Window = time.Hour
	}
	if out.Buckets == 0 {
		out.Buckets = 12
	}
	if out.ShortAbandon == 0 {
		out.ShortAbandon = 5 * time.Second
	}
	if out.PriorityStep == 0 {
		out.PriorityStep = 10 * time.Second
	}
	out.Tiers = append([]Tier(nil), c.Tiers...)
	for i := range out.Tiers {
		if out.Tiers[i].EscalateAfter == 0 {
			out.Tiers[i].EscalateAfter = -1
			if out.Policy.gap() {
				out.Tiers[i].EscalateAfter = DefaultEscalateFactor * out.Tiers[i].Threshold
			}
		}
	}
	out.Queues = append([]Queue(nil), c.Queues...)
	for i := range out.Queues {
		if out.Queues[i].Strategy == "" {
			out.Queues[i].Strategy = LongestIdle
		}
	}
	return out
}

// Validate reports the first configuration error, naming the key.
func (c *Config) Validate() error {
	d := c.withDefaults()
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, a...))
	}
	if !slices.Contains(Policies(), d.Policy) {
		return bad("policy: unknown %q", d.Policy)
	}
	switch d.Within {
	case WithinOldest, WithinSaveable, WithinSaveableAnyTier:
	default:
		return bad("within: unknown %q", d.Within)
	}
	switch d.OnTarget {
	case OnTargetTierOrder, OnTargetGap:
	default:
		return bad("on_target: unknown %q", d.OnTarget)
	}
	switch d.SkillRule {
	case SkillFirst, GapFirst, SkillUnlessBehind:
	default:
		return bad("skill_rule: unknown %q", d.SkillRule)
	}
	if d.Window < 0 || d.Buckets < 1 || d.Window < time.Duration(d.Buckets) {
		return bad("window/buckets: window %s with %d buckets", d.Window, d.Buckets)
	}
	if d.ShortAbandon < 0 || d.PriorityStep < 0 {
		return bad("short_abandon/priority_step: must not be negative")
	}
	if len(d.Tiers) == 0 {
		return bad("tiers: at least one tier is required")
	}
	seen := map[string]bool{}
	for i, t := range d.Tiers {
		if t.Name == "" {
			return bad("tiers[%d].name: empty", i)
		}
		if seen[t.Name] {
			return bad("tiers[%d].name: duplicate %q", i, t.Name)
		}
		seen[t.Name] = true
		if !(t.Target > 0 && t.Target < 1) {
			return bad("tiers[%d].target: %v not in (0, 1)", i, t.Target)
		}
		if t.Threshold <= 0 {
			return bad("tiers[%d].threshold: must be positive", i)
		}
		if t.WidenAfter < 0 {
			return bad("tiers[%d].widen_after: must not be negative", i)
		}
	}
	if len(d.Queues) == 0 {
		return bad("queues: at least one queue is required")
	}
	seen = map[string]bool{}
	for i, q := range d.Queues {
		if q.Name == "" {
			return bad("queues[%d].name: empty", i)
		}
		if seen[q.Name] {
			return bad("queues[%d].name: duplicate %q", i, q.Name)
		}
		seen[q.Name] = true
		switch q.Strategy {
		case LongestIdle, FewestCalls, RoundRobin, Random:
		default:
			return bad("queues[%d].strategy: unknown %q", i, q.Strategy)
		}
		if q.RegionWiden < 0 {
			return bad("queues[%d].region_widen: must not be negative", i)
		}
	}
	return nil
}
