// Package hours reads weekly opening hours as flows' calendars and
// campaigns' calling windows write them: days ("mon", "mon-fri",
// "daily") and spans of wall-clock time ("09:00-12:00, 13:30-20:00").
package hours

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Span is an open interval [From, To) in minutes after midnight.
type Span struct{ From, To int }

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseDays reads "mon", "mon-fri", "sat-sun" (ranges wrap past Sunday)
// or "daily".
func ParseDays(s string) ([]time.Weekday, error) {
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

// ParseSpans reads "09:00-12:00, 13:30-20:00"; "24:00" ends a day, and a
// span cannot cross midnight.
func ParseSpans(s string) ([]Span, error) {
	var out []Span
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		from, to, ok := strings.Cut(part, "-")
		if !ok {
			return nil, fmt.Errorf("hours %q: want HH:MM-HH:MM", part)
		}
		a, err := ParseClock(from)
		if err != nil {
			return nil, err
		}
		b, err := ParseClock(to)
		if err != nil {
			return nil, err
		}
		if b <= a {
			return nil, fmt.Errorf("hours %q: end must be after start (a span cannot cross midnight; write two)", part)
		}
		out = append(out, Span{a, b})
	}
	return out, nil
}

// ParseClock reads "HH:MM" (00:00 to 24:00) as minutes after midnight.
func ParseClock(s string) (int, error) {
	s = strings.TrimSpace(s)
	hs, ms, ok := strings.Cut(s, ":")
	h, err1 := strconv.Atoi(hs)
	m, err2 := strconv.Atoi(ms)
	if !ok || err1 != nil || err2 != nil || len(ms) != 2 || h < 0 || h > 24 || m < 0 || m > 59 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("time %q: want HH:MM (00:00 to 24:00)", s)
	}
	return h*60 + m, nil
}
