package crm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// DefaultDeadline bounds a whole customer lookup on the call path.
const DefaultDeadline = 300 * time.Millisecond

// LookupEvent describes one finished Resolver lookup, for metrics and call
// records.
type LookupEvent struct {
	Source   Source
	Degraded bool
	Duration time.Duration
	Err      error
}

// ResolverConfig configures the call path's customer lookup.
type ResolverConfig struct {
	Store Store  // required: the local customer store
	Live  Lookup // optional: asked for numbers the store lacks
	// Deadline bounds the whole lookup, store and live fallback together
	// (default DefaultDeadline).
	Deadline    time.Duration
	DefaultTier string       // default DefaultTier
	Regions     *PrefixTable // region for customers without one, and for unknown callers
	Plan        NumberPlan
	// Observe, when set, is called after every lookup (e.g. to feed the CRM
	// latency histogram). It must not block.
	Observe func(LookupEvent)
	Logger  *slog.Logger
}

// Resolver is the Lookup the call path uses: local store first, then the live
// CRM, and whatever happens an answer within the deadline.
type Resolver struct {
	cfg ResolverConfig
	log *slog.Logger
}

var _ Lookup = (*Resolver)(nil)

// NewResolver checks cfg and returns a resolver.
func NewResolver(cfg ResolverConfig) (*Resolver, error) {
	if cfg.Store == nil {
		return nil, errors.New("crm: resolver: nil store")
	}
	if cfg.Deadline <= 0 {
		cfg.Deadline = DefaultDeadline
	}
	if cfg.DefaultTier == "" {
		cfg.DefaultTier = DefaultTier
	}
	cfg.Plan = cfg.Plan.withDefaults()
	r := &Resolver{cfg: cfg, log: cfg.Logger}
	if r.log == nil {
		r.log = slog.Default()
	}
	return r, nil
}

// Lookup always returns a usable customer within the deadline:
//   - a store or live CRM record (Source store/live), with the region filled
//     from the prefix table when the record has none;
//   - for a caller nobody knows, or a number that cannot be normalised
//     (e.g. "anonymous"), the default tier with a nil error;
//   - when the store or live CRM failed, timed out or its breaker is open,
//     the default tier with Degraded set and the cause as the error, which
//     the call path records but does not act on.
func (r *Resolver) Lookup(ctx context.Context, number string) (Customer, error) {
	start := time.Now()
	c, err := r.lookup(ctx, number)
	if r.cfg.Observe != nil {
		r.cfg.Observe(LookupEvent{Source: c.Source, Degraded: c.Degraded, Duration: time.Since(start), Err: err})
	}
	if err != nil {
		// With the breaker open every call degrades; the breaker logged once.
		level := slog.LevelWarn
		if errors.Is(err, ErrBreakerOpen) {
			level = slog.LevelDebug
		}
		r.log.Log(ctx, level, "crm: lookup degraded to default tier", "number", c.Number, "tier", c.Tier, "err", err)
	}
	return c, err
}

func (r *Resolver) lookup(ctx context.Context, number string) (Customer, error) {
	canon, err := r.cfg.Plan.Normalise(number)
	if err != nil {
		r.log.Debug("crm: caller number not looked up", "number", number, "err", err)
		return Customer{Number: strings.TrimSpace(number), Tier: r.cfg.DefaultTier, Source: SourceDefault}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Deadline)
	defer cancel()

	c, storeErr := r.cfg.Store.Get(ctx, canon)
	if storeErr == nil {
		return r.withRegion(c), nil
	}
	if errors.Is(storeErr, ErrNotFound) {
		storeErr = nil
	} else {
		storeErr = fmt.Errorf("store: %w", storeErr)
	}
	if r.cfg.Live == nil {
		return r.fallback(canon, storeErr)
	}

	type answer struct {
		c   Customer
		err error
	}
	// The live lookup runs aside so that one ignoring its context still cannot
	// hold the call past the deadline; it ends with its own timeout or the
	// cancelled ctx and drops its answer into the buffered channel.
	done := make(chan answer, 1)
	go func() {
		c, err := r.cfg.Live.Lookup(ctx, canon)
		done <- answer{c, err}
	}()
	select {
	case a := <-done:
		switch {
		case a.err == nil:
			a.c.Source, a.c.Degraded = SourceLive, false
			if a.c.Number == "" {
				a.c.Number = canon
			}
			return r.withRegion(a.c), nil
		case errors.Is(a.err, ErrNotFound):
			return r.fallback(canon, storeErr)
		default:
			return r.fallback(canon, errors.Join(storeErr, fmt.Errorf("live: %w", a.err)))
		}
	case <-ctx.Done():
		return r.fallback(canon, errors.Join(storeErr, fmt.Errorf("live: no answer within %v: %w", r.cfg.Deadline, ctx.Err())))
	}
}

// fallback is the default-tier customer; cause non-nil marks it degraded.
func (r *Resolver) fallback(canon string, cause error) (Customer, error) {
	c := r.withRegion(Customer{Number: canon, Tier: r.cfg.DefaultTier, Source: SourceDefault})
	if cause != nil {
		c.Degraded = true
		return c, fmt.Errorf("crm: lookup %s: %w", canon, cause)
	}
	return c, nil
}

func (r *Resolver) withRegion(c Customer) Customer {
	if c.Region == "" {
		c.Region, _ = r.cfg.Regions.Region(c.Number)
	}
	return c
}
