package ivr

import (
	"fmt"
	"strings"
	"time"
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
type Span struct{ From, To int }

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

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// parseDays reads "mon", "mon-fri", "sat-sun" or "daily".
func parseDays(s string) ([]time.Weekday, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "daily" {
		return []time.Weekday{0, 1, 2, 3, 4, 5, 6}, nil
	}
	from, to, isRange := strings.Cut(s, "-")
	a, ok := weekdays[from]
	if !ok {
		return nil, fmt.Errorf("unknown day %q (want mon..sun, a range like mon-fri, or daily)", from)
	}
	if !isRange {
		return []time.Weekday{a}, nil
	}
	b, ok := weekdays[to]
	if !ok {
		return nil, fmt.Errorf("unknown day %q (want mon..sun)", to)
	}
	var days []time.Weekday
	for d := a; ; d = (d + 1) % 7 {
		days = append(days, d)
		if d == b {
			return days, nil
		}
	}
}

// parseSpans reads "08:00-12:00, 13:00-18:00"; "24:00" closes a day.
func parseSpans(s string) ([]Span, error) {
	var out []Span
	for _, part := range strings.Split(s, ",") {
		from, to, ok := strings.Cut(strings.TrimSpace(part), "-")
		if !ok {
			return nil, fmt.Errorf("hours %q: want HH:MM-HH:MM", part)
		}
		a, err := parseClock(from)
		if err != nil {
			return nil, err
		}
		b, err := parseClock(to)
		if err != nil {
			return nil, err
		}
		if b <= a {
			return nil, fmt.Errorf("hours %q: end must be after start", part)
		}
		out = append(out, Span{a, b})
	}
	return out, nil
}

func parseClock(s string) (int, error) {
	var h, m int
	if n, err := fmt.Sscanf(strings.TrimSpace(s), "%d:%d", &h, &m); err != nil || n != 2 || h < 0 || h > 24 || m < 0 || m > 59 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("time %q: want HH:MM", s)
	}
	return h*60 + m, nil
}
