package campaign

import (
	"testing"
	"time"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func specWindows(t *testing.T, extra string) *Spec {
	t.Helper()
	dir := writeFiles(t, map[string]string{"l.csv": "number\n13800000001\n"})
	s, err := ParseSpec("w.yaml", []byte(minimal+extra), dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestWindowsByWeekdayRegionAndZone(t *testing.T) {
	s := specWindows(t, `timezone: Asia/Shanghai
windows:
  default:
    mon-fri: "09:00-12:00, 13:30-20:00"
    sat: "10:00-16:00"
  south:
    mon-fri: "10:00-21:00"
  west:
    timezone: Asia/Kolkata
holidays: [2027-02-08]
`)
	sh := mustZone(t, "Asia/Shanghai")
	at := func(y int, mo time.Month, d, h, m int) time.Time { return time.Date(y, mo, d, h, m, 0, 0, sh) }
	// 2027-03-01 is a Monday.
	cases := []struct {
		name   string
		region string
		t      time.Time
		open   bool
	}{
		{"monday morning", "north", at(2027, 3, 1, 9, 0), true},
		{"before opening", "north", at(2027, 3, 1, 8, 59), false},
		{"lunch break", "north", at(2027, 3, 1, 12, 0), false},
		{"afternoon", "north", at(2027, 3, 1, 13, 30), true},
		{"closing minute", "north", at(2027, 3, 1, 19, 59), true},
		{"closed at 20:00", "north", at(2027, 3, 1, 20, 0), false},
		{"saturday", "", at(2027, 3, 6, 15, 0), true},
		{"saturday late", "", at(2027, 3, 6, 16, 0), false},
		{"sunday", "north", at(2027, 3, 7, 11, 0), false},
		{"south own hours late", "south", at(2027, 3, 1, 20, 30), true},
		{"south closed early", "south", at(2027, 3, 1, 9, 30), false},
		{"south no lunch break", "south", at(2027, 3, 1, 12, 30), true},
		{"south saturday closed", "south", at(2027, 3, 6, 11, 0), false},
		// West: default hours on Kolkata's clock (2h30 behind Shanghai).
		{"west 09:00 Shanghai is 06:30 Kolkata", "west", at(2027, 3, 1, 9, 0), false},
		{"west 11:30 Shanghai is 09:00 Kolkata", "west", at(2027, 3, 1, 11, 30), true},
		{"west 22:00 Shanghai is 19:30 Kolkata", "west", at(2027, 3, 1, 22, 0), true},
		{"holiday", "north", at(2027, 2, 8, 10, 0), false},
		{"holiday south too", "south", at(2027, 2, 8, 10, 0), false},
		// The same instant given in UTC.
		{"utc input", "north", time.Date(2027, 3, 1, 2, 0, 0, 0, time.UTC), true},
	}
	for _, tc := range cases {
		if got := s.Windows.For(tc.region).Open(tc.t); got != tc.open {
			t.Errorf("%s: open=%v, want %v", tc.name, got, tc.open)
		}
	}
}

// Wall-clock hours hold across daylight-saving changes: 09:00-17:00 New
// York is 14:00-22:00 UTC in winter and 13:00-21:00 in summer.
func TestWindowDST(t *testing.T) {
	s := specWindows(t, `timezone: America/New_York
windows:
  default:
    daily: "09:00-17:00"
  night:
    daily: "01:00-03:00"
`)
	w := s.Windows.Default
	utc := func(mo time.Month, d, h, m int) time.Time { return time.Date(2027, mo, d, h, m, 0, 0, time.UTC) }
	cases := []struct {
		t    time.Time
		open bool
	}{
		{utc(3, 13, 14, 0), true},   // Saturday before the change: EST, 09:00
		{utc(3, 13, 13, 30), false}, // 08:30 EST
		{utc(3, 14, 13, 0), true},   // Sunday after 2 am: EDT, 09:00
		{utc(3, 14, 21, 0), false},  // 17:00 EDT
		{utc(3, 14, 20, 59), true},
		{utc(11, 7, 13, 59), false}, // back to EST: 08:59
		{utc(11, 7, 14, 0), true},
	}
	for _, tc := range cases {
		if got := w.Open(tc.t); got != tc.open {
			t.Errorf("%v: open=%v, want %v", tc.t, got, tc.open)
		}
	}
	// NextOpen from Saturday evening lands on Sunday 09:00 local, the
	// first day of summer time.
	next := w.NextOpen(utc(3, 13, 23, 0))
	if want := utc(3, 14, 13, 0); !next.Equal(want) {
		t.Errorf("NextOpen across the change: %v, want %v", next, want)
	}
	// The night window 01:00-03:00 on the spring-forward day has no
	// 02:00-03:00: it opens at 01:00 and closes at 03:00 EDT (07:00 UTC).
	night := s.Windows.For("night")
	if !night.Open(utc(3, 14, 6, 30)) || night.Open(utc(3, 14, 7, 0)) {
		t.Error("night window on the spring-forward day")
	}
	// On the fall-back day 01:00-02:00 happens twice; both are open.
	if !night.Open(utc(11, 7, 5, 30)) || !night.Open(utc(11, 7, 6, 30)) {
		t.Error("both 01:30s of the fall-back day are inside 01:00-03:00")
	}
}

func TestNextOpen(t *testing.T) {
	s := specWindows(t, `timezone: Asia/Shanghai
windows:
  default:
    mon-fri: "09:00-12:00, 13:30-20:00"
holidays: [2027-03-08]
`)
	sh := mustZone(t, "Asia/Shanghai")
	at := func(d, h, m int) time.Time { return time.Date(2027, 3, d, h, m, 0, 0, sh) }
	w := s.Windows.Default
	cases := []struct{ from, want time.Time }{
		{at(1, 10, 0), at(1, 10, 0)},   // open: now
		{at(1, 12, 30), at(1, 13, 30)}, // lunch
		{at(1, 20, 0), at(2, 9, 0)},    // evening
		{at(5, 21, 0), at(9, 9, 0)},    // Friday evening → the holiday Monday is skipped
	}
	for _, tc := range cases {
		if got := w.NextOpen(tc.from); !got.Equal(tc.want) {
			t.Errorf("NextOpen(%v) = %v, want %v", tc.from, got, tc.want)
		}
	}
}
