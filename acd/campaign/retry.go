package campaign

import (
	"sort"
	"time"
)

// RetryRule says how often a contact may end an attempt with one outcome
// and how long to wait before the next attempt.
type RetryRule struct {
	// Attempts is how many attempts of a contact may end with this
	// outcome; the one that reaches it finishes the contact.
	Attempts int
	// After is the wait before the contact is due again.
	After time.Duration
}

// DefaultRetry returns the retry rules used for outcomes a spec leaves
// out. Skipped is a preview an agent passed over: it does not count as a
// dial attempt.
func DefaultRetry() map[Outcome]RetryRule {
	return map[Outcome]RetryRule{
		NoAnswer: {Attempts: 3, After: 2 * time.Hour},
		Busy:     {Attempts: 3, After: 15 * time.Minute},
		Failed:   {Attempts: 2, After: time.Hour},
		Machine:  {Attempts: 2, After: 4 * time.Hour},
		// An abandoned customer heard an apology; call back later, and
		// only with an agent reserved (see Runner).
		Abandoned: {Attempts: 2, After: time.Hour},
		HungUp:    {Attempts: 2, After: 24 * time.Hour},
		Skipped:   {Attempts: 3, After: 30 * time.Minute},
	}
}

func retryOutcomeNames() []string {
	var out []string
	for o := range DefaultRetry() {
		out = append(out, string(o))
	}
	sort.Strings(out)
	return out
}

// decision is what becomes of a contact after an attempt's result.
type decision struct {
	done   bool      // finished: no more attempts
	nextAt time.Time // when not done: due again
}

// decide applies the rules to a contact whose attempt just ended with o.
// attempts counts the contact's dial attempts so far (this one included);
// count is how many of its attempts ended with o (this one included).
// Completed and DNC finish a contact; NoAgent is handled by the caller
// (the attempt did not happen).
func decide(rules map[Outcome]RetryRule, maxAttempts int, o Outcome, attempts, count int, now time.Time) decision {
	switch o {
	case Completed, DNC:
		return decision{done: true}
	}
	rule, ok := rules[o]
	if !ok {
		// An outcome without a rule (an engine newer than this
		// dialler) is treated as a failure.
		rule = rules[Failed]
	}
	if count >= rule.Attempts {
		return decision{done: true}
	}
	if o != Skipped && attempts >= maxAttempts {
		return decision{done: true}
	}
	return decision{nextAt: now.Add(rule.After)}
}
