package ivr

import (
	"time"

	"github.com/hotlinecc/hotline/routing/hours"
)

// Calendar holds business hours per weekday and a list of holidays, in one
// time zone, for branch conditions such as "open: office".
type Calendar struct {
	Name     string
	Location *time.Location
	// Hours holds, per time.Weekday, the open intervals in minutes after midnight.
	Hours    [7][]Span
	Holidays map[string]bool // "2006-01-02" in Location
}

// Span is an open interval [From, To) in minutes after midnight.
type Span = hours.Span

// Open reports whether t falls inside business hours and is not a holiday.
func (c *Calendar) Open(t time.Time) bool {
	t = t.In(c.Location)
	if c.Holidays[t.Format(time.DateOnly)] {
		return false
	}
	m := t.Hour()*60 + t.Minute()
	for _, s := range c.Hours[t.Weekday()] {
		if m >= s.From && m < s.To {
			return true
		}
	}
	return false
}
