package crm

import (
	"sync"
	"time"
)

// BreakerState is the state of a circuit breaker.
type BreakerState int

const (
	BreakerClosed   BreakerState = iota // requests flow
	BreakerOpen                         // requests refused until the cool-down ends
	BreakerHalfOpen                     // one trial request in flight
)

func (s BreakerState) String() string {
	switch s {
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	default:
		return "closed"
	}
}

// Breaker stops calling a failing CRM: it opens after Threshold consecutive
// failures, lets one trial request through after CoolDown (half-open), and
// closes again when a request succeeds. While open, lookups cost nothing, so a
// dead CRM does not eat into every call's lookup budget.
type Breaker struct {
	threshold int
	coolDown  time.Duration
	now       func() time.Time

	mu       sync.Mutex
	state    BreakerState
	failures int
	openedAt time.Time
}

// NewBreaker returns a closed breaker; threshold defaults to 5 and coolDown
// to 10 s when not positive.
func NewBreaker(threshold int, coolDown time.Duration) *Breaker {
	if threshold <= 0 {
		threshold = 5
	}
	if coolDown <= 0 {
		coolDown = 10 * time.Second
	}
	return &Breaker{threshold: threshold, coolDown: coolDown, now: time.Now}
}

// Allow asks to send a request. It returns ErrBreakerOpen when refused;
// otherwise the caller must report the outcome with Success or Failure.
func (b *Breaker) Allow() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerOpen:
		if b.now().Sub(b.openedAt) < b.coolDown {
			return ErrBreakerOpen
		}
		b.state = BreakerHalfOpen
		return nil
	case BreakerHalfOpen:
		return ErrBreakerOpen // the trial request is still out
	default:
		return nil
	}
}

// Success reports a request that got an answer (including "not found"). It
// reports whether this success closed an open or half-open breaker.
func (b *Breaker) Success() (closed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	closed = b.state != BreakerClosed
	b.state, b.failures = BreakerClosed, 0
	return closed
}

// Failure reports a request that failed or timed out. It reports whether
// this failure opened the breaker.
func (b *Breaker) Failure() (opened bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures++
	if b.state != BreakerOpen && (b.state == BreakerHalfOpen || b.failures >= b.threshold) {
		b.state, b.openedAt = BreakerOpen, b.now()
		return true
	}
	return false
}

// State is the current state; an open breaker whose cool-down has passed
// still reads open until the next Allow.
func (b *Breaker) State() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}
