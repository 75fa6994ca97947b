package cdr

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestHistory(t *testing.T) {
	h := NewHistory(HistoryOptions{PerCaller: 3, MaxCallers: 2, Normalise: func(s string) string { return strings.TrimPrefix(s, "+86") }})
	at := func(m int) time.Time { return time.Date(2026, 11, 21, 9, m, 0, 0, time.UTC) }
	for i, m := range []int{5, 1, 9, 3} { // ends out of arrival order
		h.Add(Record{CallID: fmt.Sprint("a", m), Caller: "+8613800000001", Times: Times{Arrival: at(m)}, Queue: "billing",
			Agent: "1001", Disposition: Answered, WrapUpCode: fmt.Sprint("code", i)})
	}
	got := h.Last("13800000001", 5)
	var ids []string
	for _, c := range got {
		ids = append(ids, c.CallID)
	}
	check.Equal(t, "a9 a5 a3", strings.Join(ids, " "), "newest first, the oldest dropped past PerCaller")
	check.Equal(t, "code2", got[0].WrapUpCode)
	check.Len(t, h.Last("13800000001", 1), 1)
	check.Len(t, h.Last("13800000099", 5), 0)

	// Two more callers: the one heard from longest ago is forgotten.
	h.Add(Record{CallID: "b", Caller: "13800000002", Times: Times{Arrival: at(10)}, Disposition: AbandonedQueue})
	h.Last("13800000001", 1) // reading does not keep a caller
	h.Add(Record{CallID: "c", Caller: "13800000003", Times: Times{Arrival: at(11)}, Disposition: AbandonedIVR})
	check.Len(t, h.Last("13800000001", 5), 0)
	check.Len(t, h.Last("13800000002", 5), 1)
	check.Len(t, h.Last("13800000003", 5), 1)
}

func TestHistoryLoad(t *testing.T) {
	h := NewHistory(HistoryOptions{})
	n, err := h.Load(fixtureDir, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	must.NoError(t, err)
	check.Equal(t, 20, n)
	last := h.Last("+8613800000001", 10)
	must.True(t, len(last) > 0, "fixture caller has calls")
	check.Equal(t, "c01", last[len(last)-1].CallID)
	check.Equal(t, "resolved", last[len(last)-1].WrapUpCode)
	_, err = h.Load(t.TempDir()+"/missing", time.Time{})
	check.ErrorContains(t, err, "load call history")
}
