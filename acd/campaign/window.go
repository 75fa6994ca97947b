package campaign

import (
	"slices"
	"time"

	"github.com/hotlinecc/hotline/routing/hours"
)

// Window is when contacts of one region may be called: open spans per
// weekday on the wall clock of one time zone, minus holidays. Spans are
// wall-clock times, so "09:00-20:00" stays 09:00-20:00 local across a
// daylight-saving change.
type Window struct {
	Name     string // "default" or the region
	Location *time.Location
	// Hours holds, per time.Weekday, open spans in minutes after local
	// midnight, sorted and merged.
	Hours    [7][]Span
	Holidays map[string]bool // "2006-01-02" on the window's wall clock
}

// Span is an open interval [From, To) in minutes after midnight.
type Span = hours.Span

// Open reports whether t is inside the window.
func (w *Window) Open(t time.Time) bool {
	t = t.In(w.Location)
	if w.Holidays[t.Format(time.DateOnly)] {
		return false
	}
	m := t.Hour()*60 + t.Minute()
	for _, s := range w.Hours[t.Weekday()] {
		if m >= s.From && m < s.To {
			return true
		}
	}
	return false
}

// NextOpen returns t when the window is open at t, else the next instant
// it opens (zero when it never does, which validation rules out). Times
// are built with time.Date on the window's wall clock, so a span starting
// inside a daylight-saving gap opens at the first instant that exists.
func (w *Window) NextOpen(t time.Time) time.Time {
	if w.Open(t) {
		return t
	}
	local := t.In(w.Location)
	y, mo, d := local.Date()
	// A year and a week covers any holiday list a validated window can
	// hold in front of an open day.
	for i := 0; i <= 372; i++ {
		day := time.Date(y, mo, d+i, 12, 0, 0, 0, w.Location)
		if w.Holidays[day.Format(time.DateOnly)] {
			continue
		}
		for _, s := range w.Hours[day.Weekday()] {
			// A start inside a daylight-saving gap normalises past it;
			// a span wholly inside the gap does not exist that day.
			if c := time.Date(y, mo, d+i, s.From/60, s.From%60, 0, 0, w.Location); c.After(t) && w.Open(c) {
				return c
			}
		}
	}
	return time.Time{}
}

// empty reports whether the window has no open minute in a week.
func (w *Window) empty() bool {
	for _, d := range w.Hours {
		if len(d) > 0 {
			return false
		}
	}
	return true
}

// Windows are a campaign's calling windows: Default for contacts whose
// region has no window of its own.
type Windows struct {
	Default *Window
	Regions map[string]*Window
}

// For returns the window of a contact's region.
func (ws *Windows) For(region string) *Window {
	if w, ok := ws.Regions[region]; ok {
		return w
	}
	return ws.Default
}

// DefaultHours is the calling window of a campaign that names none: every
// day 09:00-21:00.
const DefaultHours = "09:00-21:00"

// mergeSpans sorts spans and joins overlapping or touching ones.
func mergeSpans(in []Span) []Span {
	if len(in) == 0 {
		return nil
	}
	s := slices.Clone(in)
	slices.SortFunc(s, func(a, b Span) int { return a.From - b.From })
	out := s[:1]
	for _, x := range s[1:] {
		last := &out[len(out)-1]
		if x.From <= last.To {
			last.To = max(last.To, x.To)
			continue
		}
		out = append(out, x)
	}
	return out
}
