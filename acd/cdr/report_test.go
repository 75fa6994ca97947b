package cdr

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden report files in testdata/cdr")

const fixtureDir = "../../testdata/cdr"

// fixtureTargets are the tiers of the fixture; "normal" has no target, so its
// calls are judged against DefaultWithin (20 s).
var fixtureTargets = map[string]Target{
	"diamond": {Target: 0.9, Within: 10 * time.Second},
	"gold":    {Target: 0.8, Within: 20 * time.Second},
}

func fixtureReport(t *testing.T, opt Options) []Row {
	t.Helper()
	if opt.Targets == nil {
		opt.Targets = fixtureTargets
	}
	opt.ShortAbandon = 5 * time.Second
	rows, err := Report(Read(fixtureDir, time.Time{}, time.Time{}), opt)
	must.NoError(t, err)
	return rows
}

func hour(h int) time.Time { return time.Date(2026, 11, 21, h, 0, 0, 0, time.UTC) }

func f(v float64) *float64 { return &v }

// figures is what a supervisor reads off one report row.
type figures struct {
	calls, offered, answered, abandoned, short, ivr, overflowed, rona, within int
	sl, target, asa, talk, hold, wrap, survey                                 *float64
	surveys                                                                   int
}

func checkRow(t *testing.T, rows []Row, start time.Time, key string, want figures) {
	t.Helper()
	for _, r := range rows {
		if !r.Start.Equal(start) || r.Key != key {
			continue
		}
		name := start.Format("15:04") + " " + key
		got := figures{calls: r.Calls, offered: r.Offered, answered: r.Answered, abandoned: r.Abandoned,
			short: r.ShortAbandoned, ivr: r.AbandonedIVR, overflowed: r.Overflowed, rona: r.RONA,
			within: r.AnsweredWithin, surveys: r.SurveyCount}
		wantCounts := want
		wantCounts.sl, wantCounts.target, wantCounts.asa, wantCounts.talk, wantCounts.hold, wantCounts.wrap, wantCounts.survey = nil, nil, nil, nil, nil, nil, nil
		check.Equal(t, wantCounts, got, name+" counts")
		check.InDelta(t, want.sl, r.ServiceLevel, name+" service level")
		check.InDelta(t, want.target, r.Target, name+" target")
		check.InDelta(t, want.asa, r.ASA, name+" ASA")
		check.InDelta(t, want.talk, r.AvgTalk, name+" talk")
		check.InDelta(t, want.hold, r.AvgHold, name+" hold")
		check.InDelta(t, want.wrap, r.AvgWrapUp, name+" wrap-up")
		check.InDelta(t, want.survey, r.SurveyAvg, name+" survey")
		return
	}
	t.Errorf("no row %s %q", start.Format(time.RFC3339), key)
}

// The fixture (testdata/cdr/calls-2026-11-21.jsonl) holds 20 calls between
// 09:00 and 11:00; targets: diamond 90 % in 10 s, gold 80 % in 20 s, normal
// none (20 s). Short abandon 5 s. Waits, talk/hold/wrap-up in seconds.
func TestReportByTierHourly(t *testing.T) {
	rows := fixtureReport(t, Options{Interval: time.Hour, By: ByTier, Totals: true})
	check.Len(t, rows, 10, "3 tiers + total at 09 and 10, diamond + total at 11")

	// 09 diamond: c01 wait 8 ≤ 10 ✓, c02 15 ✗ (after a RONA on a1), c10 2 ✓.
	// SL 2/3; ASA (8+15+2)/3 = 8.333; talk (120+200+90)/3 = 136.667;
	// hold (10+0+0)/3 = 3.333; wrap (30+20+15)/3 = 21.667; survey (5+4+5)/3.
	checkRow(t, rows, hour(9), "diamond", figures{calls: 3, offered: 3, answered: 3, rona: 1, within: 2,
		sl: f(2.0 / 3), target: f(0.9), asa: f(25.0 / 3), talk: f(410.0 / 3), hold: f(10.0 / 3), wrap: f(65.0 / 3),
		survey: f(14.0 / 3), surveys: 3})
	// 09 gold: c03 answered at exactly 20 s (within, the router's ≤ rule),
	// c04 abandoned after 3 s (short, flagged), c05 abandoned after 40 s
	// while ringing a3. Offered 2; SL 1/(1+1) = 0.5.
	checkRow(t, rows, hour(9), "gold", figures{calls: 3, offered: 2, answered: 1, abandoned: 1, short: 1, within: 1,
		sl: f(0.5), target: f(0.8), asa: f(20), talk: f(60), hold: f(5), wrap: f(10)})
	// 09 normal: c06 answered after 25 s > 20 ✗, c07 hung up in the IVR,
	// c08 overflowed after 120 s, c09 blacklisted. Offered c06+c08 = 2;
	// SL 0/(1+0) = 0.
	checkRow(t, rows, hour(9), "normal", figures{calls: 4, offered: 2, answered: 1, ivr: 1, overflowed: 1,
		sl: f(0), asa: f(25), talk: f(300), hold: f(60), wrap: f(45), survey: f(2), surveys: 1})
	// 09 all: 10 calls, offered 3+2+2 = 7, answered 5, within 3,
	// SL 3/(5+1) = 0.5; ASA (8+15+20+25+2)/5 = 14; talk (120+200+60+300+90)/5 = 154;
	// hold (10+5+60)/5 = 15; wrap (30+20+10+45+15)/5 = 24; survey (5+4+2+5)/4 = 4.
	checkRow(t, rows, hour(9), TotalKey, figures{calls: 10, offered: 7, answered: 5, abandoned: 1, short: 1, ivr: 1,
		overflowed: 1, rona: 1, within: 3, sl: f(0.5), asa: f(14), talk: f(154), hold: f(15), wrap: f(24),
		survey: f(4), surveys: 4})

	// 10 all: c11–c19 = 9 calls; offered c11 c12 c13 c14 c17 c18 = 6;
	// answered 5, within c11 c14 c18 = 3; SL 3/(5+1) = 0.5;
	// ASA (5+30+10+12+18)/5 = 15; talk (100+150+240+80+200)/5 = 154;
	// hold (30+20)/5 = 10; wrap (20+30+60+10+40)/5 = 32; survey (5+3+4)/3 = 4.
	checkRow(t, rows, hour(10), TotalKey, figures{calls: 9, offered: 6, answered: 5, abandoned: 1, short: 1, ivr: 1,
		rona: 2, within: 3, sl: f(0.5), asa: f(15), talk: f(154), hold: f(10), wrap: f(32), survey: f(4), surveys: 3})
	// 10 diamond: c11 5 s ✓, c17 12 s ✗ (a1 unreachable first). SL 1/2;
	// ASA (5+12)/2 = 8.5; talk (100+80)/2 = 90; wrap (20+10)/2 = 15.
	checkRow(t, rows, hour(10), "diamond", figures{calls: 2, offered: 2, answered: 2, rona: 1, within: 1,
		sl: f(0.5), target: f(0.9), asa: f(8.5), talk: f(90), hold: f(0), wrap: f(15), survey: f(5), surveys: 1})
	// 10 gold: c12 30 s ✗ (a1 busy first), c13 abandoned after 12 s, c18
	// 18 s ✓. SL 1/(2+1); ASA (30+18)/2 = 24; talk (150+200)/2 = 175;
	// hold (30+20)/2 = 25; wrap (30+40)/2 = 35.
	checkRow(t, rows, hour(10), "gold", figures{calls: 3, offered: 3, answered: 2, abandoned: 1, rona: 1, within: 1,
		sl: f(1.0 / 3), target: f(0.8), asa: f(24), talk: f(175), hold: f(25), wrap: f(35), survey: f(4), surveys: 1})
	// 10 normal: c14 10 s ✓ (lookup degraded, still counted), c15 abandoned
	// after 4 s — not flagged in the record, short by Options.ShortAbandon —,
	// c16 failed before any queue, c19 hung up in the IVR. SL 1/1.
	checkRow(t, rows, hour(10), "normal", figures{calls: 4, offered: 1, answered: 1, short: 1, ivr: 1, within: 1,
		sl: f(1), asa: f(10), talk: f(240), hold: f(0), wrap: f(60), survey: f(3), surveys: 1})
	// 11 diamond: c20 arrived 10:59:40, queued 11:00:02, abandoned after
	// 6 s (not short). SL 0/(0+1) = 0; nothing answered, so no averages.
	checkRow(t, rows, hour(11), "diamond", figures{calls: 1, offered: 1, abandoned: 1, sl: f(0), target: f(0.9)})
	check.Equal(t, TotalKey, rows[0].Key, "the total row leads its interval")
}

func TestReportByAgent(t *testing.T) {
	rows := fixtureReport(t, Options{Interval: time.Hour, By: ByAgent})
	// 09 a1: offered c01 (answered, 8 s ✓), c02 (rang out: RONA), c03
	// (answered, 20 s ✓). SL 2/2; ASA (8+20)/2 = 14; talk (120+60)/2 = 90;
	// hold (10+5)/2 = 7.5; wrap (30+10)/2 = 20; survey c01 only = 5.
	checkRow(t, rows, hour(9), "a1", figures{calls: 3, offered: 3, answered: 2, rona: 1, within: 2,
		sl: f(1), asa: f(14), talk: f(90), hold: f(7.5), wrap: f(20), survey: f(5), surveys: 1})
	// 09 a2: c02 15 s ✗, c10 2 s ✓. ASA 8.5; talk (200+90)/2 = 145;
	// wrap (20+15)/2 = 17.5; survey (4+5)/2 = 4.5.
	checkRow(t, rows, hour(9), "a2", figures{calls: 2, offered: 2, answered: 2, within: 1,
		sl: f(0.5), asa: f(8.5), talk: f(145), hold: f(0), wrap: f(17.5), survey: f(4.5), surveys: 2})
	// 09 a3: c05's caller hung up after 40 s while a3 rang (abandoned on
	// a3), c06 answered after 25 s ✗. SL 0/(1+1).
	checkRow(t, rows, hour(9), "a3", figures{calls: 2, offered: 2, answered: 1, abandoned: 1,
		sl: f(0), asa: f(25), talk: f(300), hold: f(60), wrap: f(45), survey: f(2), surveys: 1})
	// 10 a1 was offered c11 (answered), c12 (busy), c17 (unreachable).
	checkRow(t, rows, hour(10), "a1", figures{calls: 3, offered: 3, answered: 1, rona: 2, within: 1,
		sl: f(1), asa: f(5), talk: f(100), hold: f(0), wrap: f(20), survey: f(5), surveys: 1})
	for _, r := range rows {
		check.True(t, r.Key != "", "calls never offered to an agent have no agent row")
	}
}

func TestReportByQueueAndAccessNumber(t *testing.T) {
	rows := fixtureReport(t, Options{Interval: time.Hour, By: ByQueue})
	// 10 sales: c11 diamond 5 s ✓, c12 gold 30 s ✗, c17 diamond 12 s ✗ —
	// each judged by its own tier's threshold. SL 1/3.
	checkRow(t, rows, hour(10), "sales", figures{calls: 3, offered: 3, answered: 3, rona: 2, within: 1,
		sl: f(1.0 / 3), asa: f(47.0 / 3), talk: f(110), hold: f(10), wrap: f(20), survey: f(5), surveys: 1})
	// 10 support: c13 abandoned 12 s, c14 normal 10 s ✓, c15 short, c18 gold
	// 18 s ✓. SL 2/(2+1); ASA (10+18)/2 = 14; talk (240+200)/2 = 220;
	// hold 20/2 = 10; wrap (60+40)/2 = 50; survey (3+4)/2 = 3.5.
	checkRow(t, rows, hour(10), "support", figures{calls: 4, offered: 3, answered: 2, abandoned: 1, short: 1, within: 2,
		sl: f(2.0 / 3), asa: f(14), talk: f(220), hold: f(10), wrap: f(50), survey: f(3.5), surveys: 2})
	// 10 no queue: c16 failed, c19 hung up in the IVR.
	checkRow(t, rows, hour(10), "", figures{calls: 2, ivr: 1})

	rows = fixtureReport(t, Options{Interval: 24 * time.Hour, By: ByAccessNumber})
	check.Len(t, rows, 2)
	// 4001, whole day: c01 c02 c03 c09 c10 c11 c12 c17 c19 c20 = 10 calls;
	// offered 8 (not c09 blacklisted, c19 IVR); answered 7; within c01 c03
	// c10 c11 = 4; abandoned c20; SL 4/(7+1) = 0.5.
	// ASA (8+15+20+2+5+30+12)/7 = 92/7; talk (120+200+60+90+100+150+80)/7 = 800/7;
	// hold (10+5+30)/7 = 45/7; wrap (30+20+10+15+20+30+10)/7 = 135/7;
	// survey c01 5, c02 4, c10 5, c11 5 → 19/4.
	checkRow(t, rows, hour(0), "4001", figures{calls: 10, offered: 8, answered: 7, abandoned: 1, ivr: 1, rona: 3, within: 4,
		sl: f(0.5), asa: f(92.0 / 7), talk: f(800.0 / 7), hold: f(45.0 / 7), wrap: f(135.0 / 7), survey: f(4.75), surveys: 4})
	// 4002: 10 calls; offered c05 c06 c08 c13 c14 c18 = 6 (c04, c15 short;
	// c07 IVR; c16 failed); answered c06 c14 c18; within c14 c18 = 2;
	// abandoned c05 c13; SL 2/(3+2) = 0.4. ASA (25+10+18)/3 = 53/3;
	// talk (300+240+200)/3; hold (60+0+20)/3; wrap (45+60+40)/3;
	// survey (2+3+4)/3 = 3.
	checkRow(t, rows, hour(0), "4002", figures{calls: 10, offered: 6, answered: 3, abandoned: 2, short: 2, ivr: 1,
		overflowed: 1, within: 2, sl: f(0.4), asa: f(53.0 / 3), talk: f(740.0 / 3), hold: f(80.0 / 3), wrap: f(145.0 / 3),
		survey: f(3), surveys: 3})
}

func TestReportIntervals(t *testing.T) {
	tests := []struct {
		interval time.Duration
		starts   []string
	}{
		// c01 queued 09:00:01 … c20 11:00:02.
		{15 * time.Minute, []string{"09:00", "09:15", "09:30", "09:45", "10:00", "10:15", "10:30", "10:45", "11:00"}},
		{time.Hour, []string{"09:00", "10:00", "11:00"}},
		{24 * time.Hour, []string{"00:00"}},
	}
	for _, tc := range tests {
		t.Run(tc.interval.String(), func(t *testing.T) {
			rows := fixtureReport(t, Options{Interval: tc.interval, Totals: true})
			var starts []string
			calls := 0
			for _, r := range rows {
				if r.Key == TotalKey {
					starts = append(starts, r.Start.Format("15:04"))
					calls += r.Calls
					check.Equal(t, tc.interval, r.End.Sub(r.Start))
				}
			}
			check.Equal(t, tc.starts, starts)
			check.Equal(t, 20, calls, "every call in exactly one interval")
		})
	}
}

func TestReportRejectsBadOptions(t *testing.T) {
	tests := []struct {
		opt  Options
		want string
	}{
		{Options{Interval: 7 * time.Minute}, "dividing a day"},
		{Options{Interval: 90 * time.Second}, "whole minutes"},
		{Options{By: "skill"}, "not one of queue"},
	}
	for _, tc := range tests {
		_, err := Report(Records[Record](nil), tc.opt)
		check.ErrorContains(t, err, tc.want)
	}
}

func TestReportCSVGolden(t *testing.T) {
	rows := fixtureReport(t, Options{Interval: time.Hour, By: ByTier, Totals: true})
	var buf bytes.Buffer
	must.NoError(t, WriteCSV(&buf, rows, nil))
	golden := filepath.Join(fixtureDir, "report-tier-1h.csv")
	if *update {
		must.NoError(t, os.WriteFile(golden, buf.Bytes(), 0o644))
	}
	want, err := os.ReadFile(golden)
	must.NoError(t, err)
	check.Equal(t, string(want), buf.String())
}

func TestReportTextTable(t *testing.T) {
	rows := fixtureReport(t, Options{Interval: time.Hour, By: ByTier})
	var buf bytes.Buffer
	must.NoError(t, WriteText(&buf, rows, nil))
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	check.Len(t, lines, 1+7)
	for _, l := range lines[1:] {
		check.Equal(t, len(lines[0]), len(l), "columns aligned: "+l)
	}
	check.Contains(t, lines[1], "2026-11-21 09:00")
	check.Contains(t, lines[1], "66.7%") // diamond 09:00 SL 2/3
	check.Contains(t, lines[1], "90.0%")
	last := strings.Fields(lines[len(lines)-1])
	check.Equal(t, []string{"-", "0"}, last[len(last)-6:len(last)-4], "no survey at 11:00")
}

// A caller who chose a callback is offered once (by the callback's
// record); the callback's answer counts with its time to callback, a
// failed one as not served; campaigns' calls are not inbound figures.
func TestReportCallbacks(t *testing.T) {
	at := hour(9)
	enq := at
	answered := at.Add(90 * time.Second)
	recs := []Record{
		{CallID: "c1", Times: Times{Arrival: at, Enqueued: &enq, Ended: at.Add(70 * time.Second)}, Queue: "general",
			Customer: Customer{Tier: "normal"}, Disposition: CallbackRequested},
		{CallID: "c1-cb", Direction: "callback", Times: Times{Arrival: at, Enqueued: &enq, Answered: &answered, Ended: answered.Add(time.Minute)},
			Queue: "general", Customer: Customer{Tier: "normal"}, Agent: "1001", Disposition: Answered, WaitMS: 90_000, TalkMS: 60_000,
			Callback: &Callback{RequestedBy: "c1", Number: "13900000001", Attempts: 1}},
		{CallID: "c2", Times: Times{Arrival: at, Enqueued: &enq, Ended: at.Add(30 * time.Second)}, Queue: "general",
			Customer: Customer{Tier: "normal"}, Disposition: CallbackRequested},
		{CallID: "c2-cb", Direction: "callback", Times: Times{Arrival: at, Enqueued: &enq, Ended: at.Add(time.Hour)}, Queue: "general",
			Customer: Customer{Tier: "normal"}, Disposition: Unreached, Reason: "no_answer", WaitMS: 3_600_000,
			Callback: &Callback{RequestedBy: "c2", Number: "13900000002", Attempts: 3}},
		{CallID: "o1", Direction: "outbound", Times: Times{Arrival: at, Ended: at.Add(time.Minute)}, Queue: "general", Agent: "1001",
			Customer: Customer{Tier: "normal"}, Disposition: Answered, TalkMS: 50_000, Campaign: &CampaignAttempt{Name: "x", ContactID: "1", Outcome: "completed"}},
	}
	rows, err := Report(Records(recs), Options{Interval: time.Hour, By: ByQueue})
	must.NoError(t, err)
	check.Len(t, rows, 1)
	r := rows[0]
	check.Equal(t, 2, r.Offered, "offered once per caller")
	check.Equal(t, 1, r.Answered)
	check.Equal(t, 1, r.Abandoned, "a callback never reached is a caller not served")
	check.Equal(t, 2, r.CallbacksRequested)
	check.Equal(t, 1, r.CallbacksCompleted)
	check.Equal(t, 1, r.CallbacksFailed)
	must.True(t, r.AvgTimeToCallback != nil, "time to callback")
	check.Equal(t, 90.0, *r.AvgTimeToCallback)
	check.Equal(t, 60.0, *r.AvgTalk, "the campaign's call is not in the inbound talk time")
}

func TestRecordFinishAndValidate(t *testing.T) {
	at := hour(9)
	tests := []struct {
		name      string
		rec       Record
		wantWait  int64
		wantShort bool
		wantErr   string
	}{
		{"answered wait from enqueue to answer",
			Record{CallID: "a", Times: Times{Arrival: at, Enqueued: tp(at.Add(5 * time.Second)), Answered: tp(at.Add(17 * time.Second)), Ended: at.Add(time.Minute)}, Disposition: Answered, Agent: "a1"},
			12000, false, ""},
		{"queue abandon under the short-abandon time",
			Record{CallID: "b", Times: Times{Arrival: at, Enqueued: tp(at), Ended: at.Add(3 * time.Second)}, Disposition: AbandonedQueue},
			3000, true, ""},
		{"queue abandon at the short-abandon time counts",
			Record{CallID: "c", Times: Times{Arrival: at, Enqueued: tp(at), Ended: at.Add(5 * time.Second)}, Disposition: AbandonedQueue},
			5000, false, ""},
		{"given wait is kept",
			Record{CallID: "d", Times: Times{Arrival: at, Enqueued: tp(at), Ended: at.Add(time.Hour)}, Disposition: Overflowed, WaitMS: 60000},
			60000, false, ""},
		{"IVR abandon has no wait",
			Record{CallID: "e", Times: Times{Arrival: at, Ended: at.Add(time.Minute)}, Disposition: AbandonedIVR},
			0, false, ""},
		{"bad record",
			Record{Disposition: "hung_up"},
			0, false, "call_id is empty\ntimes.arrival is missing\ndisposition \"hung_up\" is not one of"},
		{"answered without agent",
			Record{CallID: "f", Times: Times{Arrival: at}, Disposition: Answered},
			0, false, "answered call has no agent"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.rec
			r.Finish(5 * time.Second)
			check.Equal(t, tc.wantWait, r.WaitMS)
			check.Equal(t, tc.wantShort, r.ShortAbandon)
			err := r.Validate()
			if tc.wantErr == "" {
				check.NoError(t, err)
			} else {
				check.ErrorContains(t, err, tc.wantErr)
			}
		})
	}
}

func TestFixtureRecordsAreValid(t *testing.T) {
	n := 0
	for r, err := range Read(fixtureDir, time.Time{}, time.Time{}) {
		must.NoError(t, err)
		check.NoError(t, r.Validate())
		n++
	}
	check.Equal(t, 20, n)
}
