package cdr

import (
	"bytes"
	"testing"
	"time"
)

func TestStateReportSplitsSpellsAtIntervals(t *testing.T) {
	hm := func(h, m int) time.Time { return hour(h).Add(time.Duration(m) * time.Minute) }
	spells := []AgentStateRecord{
		{Agent: "a1", State: "ready", Start: hm(8, 50), End: hm(9, 10)},     // 10 min before 09, 10 after
		{Agent: "a1", State: "talking", Start: hm(9, 10), End: hm(9, 40)},   // 30
		{Agent: "a1", State: "wrap-up", Start: hm(9, 40), End: hm(9, 45)},   // 5
		{Agent: "a1", State: "not-ready", Start: hm(9, 45), End: hm(10, 5)}, // 15 in 09, 5 in 10
		{Agent: "a2", State: "talking", Start: hm(9, 0), End: hm(9, 30)},
		{Agent: "a2", State: "logged-out", Start: hm(9, 30), End: hm(11, 0)},
		{Agent: "a2", State: "ready", Start: hm(9, 0), End: hm(9, 0)}, // empty spell ignored
	}
	rows, err := StateReport(Records(spells), Options{Interval: time.Hour})
	must.NoError(t, err)
	type got struct {
		start        string
		agent, state string
		spells       int
		min, share   float64
	}
	var gs []got
	for _, r := range rows {
		gs = append(gs, got{r.Start.Format("15"), r.Agent, r.State, r.Spells, r.Seconds / 60, float64(int(r.Share*1000+0.5)) / 1000})
	}
	// a1 at 09: logged in 60 min: ready 10 (1/6 = .167), talking 30 (.5),
	// wrap-up 5 (.083), not-ready 15 (.25). The 08:50 ready spell and the
	// not-ready spell are counted once, in the interval they began.
	// a2 at 09: talking 30 of 30 logged-in minutes; logged-out has no share.
	check.Equal(t, []got{
		{"08", "a1", "ready", 1, 10, 1},
		{"09", "a1", "not-ready", 1, 15, 0.25},
		{"09", "a1", "ready", 0, 10, 0.167},
		{"09", "a1", "talking", 1, 30, 0.5},
		{"09", "a1", "wrap-up", 1, 5, 0.083},
		{"09", "a2", "logged-out", 1, 30, 0},
		{"09", "a2", "talking", 1, 30, 1},
		{"10", "a1", "not-ready", 0, 5, 1},
		{"10", "a2", "logged-out", 0, 60, 0},
	}, gs)

	var buf bytes.Buffer
	must.NoError(t, WriteStateCSV(&buf, rows[:2], nil))
	check.Equal(t, "start,agent,state,spells,seconds,share\n2026-11-21T08:00:00Z,a1,ready,1,600.0,1.0000\n2026-11-21T09:00:00Z,a1,not-ready,1,900.0,0.2500\n", buf.String())
}
