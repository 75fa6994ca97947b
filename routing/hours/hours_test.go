package hours

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	days, err := ParseDays("fri-mon")
	if err != nil || !reflect.DeepEqual(days, []time.Weekday{time.Friday, time.Saturday, time.Sunday, time.Monday}) {
		t.Fatalf("fri-mon: %v %v", days, err)
	}
	if d, _ := ParseDays("Daily"); len(d) != 7 {
		t.Fatalf("daily: %v", d)
	}
	spans, err := ParseSpans(" 09:00-12:00, 13:30-24:00")
	if err != nil || !reflect.DeepEqual(spans, []Span{{540, 720}, {810, 1440}}) {
		t.Fatalf("spans: %v %v", spans, err)
	}
	for _, bad := range []struct{ days, spans, want string }{
		{days: "mon-xyz", want: "unknown day"},
		{days: "someday", want: "unknown day"},
		{spans: "22:00-02:00", want: "cannot cross midnight"},
		{spans: "09:00", want: "want HH:MM-HH:MM"},
		{spans: "9:5-10:00", want: "want HH:MM"},
		{spans: "24:30-24:45", want: "want HH:MM"},
	} {
		var err error
		if bad.days != "" {
			_, err = ParseDays(bad.days)
		} else {
			_, err = ParseSpans(bad.spans)
		}
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q%q: %v, want %q", bad.days, bad.spans, err, bad.want)
		}
	}
}
