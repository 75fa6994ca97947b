package ivr

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// Unit flows use millisecond timeouts so the time-out paths run fast.

func TestMenu(t *testing.T) {
	const src = `
nodes:
  m:
    type: menu
    prompt: menu
    options: {"1": one, "2": two}
    timeout: 10ms
    no_input: noinput
    invalid: invalid
    retries: 3
    default: fallback
  one: {type: hangup, reason: one}
  two: {type: hangup, reason: two}
  fallback: {type: hangup, reason: fallback}
`
	f := mustParse(t, src)
	cases := []struct {
		name   string
		script map[string][]string
		want   string
		path   []string
		played []string
	}{
		{"choice", map[string][]string{"menu": {"2"}}, "two", []string{"m:choice=2", "two"}, []string{"menu"}},
		{"invalid then retry", map[string][]string{"menu": {"7"}, "invalid": {"1"}}, "one",
			[]string{"m:invalid=7", "m:choice=1"}, []string{"menu", "invalid", "menu"}},
		{"no input then choice", map[string][]string{"menu": {"", "1"}}, "one",
			[]string{"m:no_input", "m:choice=1"}, []string{"menu", "noinput", "menu"}},
		{"no input three times falls back", nil, "fallback",
			[]string{"m:no_input", "m:no_input", "m:no_input", "m:retries_out", "fallback"}, []string{"menu", "noinput", "menu", "noinput", "menu"}},
		{"mixed failures fall back", map[string][]string{"menu": {"9"}, "noinput": {"8"}}, "fallback",
			[]string{"m:invalid=9", "m:no_input", "m:invalid=8", "m:retries_out"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leg := newLeg("100", tc.script)
			res := runCall(t, &Interpreter{}, f, leg)
			if leg.hungUp != tc.want {
				t.Errorf("ended at %q, want %q; trace %v", leg.hungUp, tc.want, events(res.Trace))
			}
			if !isSubsequence(tc.path, events(res.Trace)) {
				t.Errorf("trace %v, want %v", events(res.Trace), tc.path)
			}
			if !isSubsequence(tc.played, leg.playedNames()) {
				t.Errorf("played %v, want %v", leg.playedNames(), tc.played)
			}
		})
	}
}

func TestCollect(t *testing.T) {
	const src = `
nodes:
  acct:
    type: collect
    prompt: account
    var: account
    min: 4
    max: 8
    pattern: '[1-9][0-9]*'
    first_digit_timeout: 10ms
    inter_digit_timeout: 10ms
    invalid: invalid
    no_input: noinput
    retries: 2
    secret: %s
    next: ok
    failure: failed
  ok: {type: hangup, reason: ok}
  failed: {type: hangup, reason: failed}
`
	cases := []struct {
		name, secret string
		script       map[string][]string
		wantEnd      string
		wantValue    string
		wantTrace    string // digits shown in the collected event
	}{
		{"terminated by #", "false", map[string][]string{"account": {"1234#"}}, "ok", "1234", "1234"},
		{"max length ends input", "false", map[string][]string{"account": {"123456789"}}, "ok", "12345678", "12345678"},
		{"inter-digit timeout ends input", "false", map[string][]string{"account": {"98765"}}, "ok", "98765", "98765"},
		{"too short then good", "false", map[string][]string{"account": {"12#"}, "invalid": {"5555#"}}, "ok", "5555", "5555"},
		{"pattern mismatch twice fails", "false", map[string][]string{"account": {"0123#"}, "invalid": {"0999#"}}, "failed", "", ""},
		{"no input twice fails", "false", nil, "failed", "", ""},
		{"secret digits are masked", "true", map[string][]string{"account": {"4321#"}}, "ok", "4321", "****"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := mustParse(t, strings.Replace(src, "%s", tc.secret, 1))
			leg := newLeg("100", tc.script)
			res := runCall(t, &Interpreter{}, f, leg)
			if leg.hungUp != tc.wantEnd || res.Vars["account"] != tc.wantValue {
				t.Fatalf("end %q account %q, want %q %q; trace %v", leg.hungUp, res.Vars["account"], tc.wantEnd, tc.wantValue, events(res.Trace))
			}
			e, ok := findEvent(res.Trace, EvCollected)
			if ok != (tc.wantTrace != "") || e.Digits != tc.wantTrace {
				t.Errorf("collected trace %+v, want digits %q", e, tc.wantTrace)
			}
		})
	}
}

func TestPlayBargeIn(t *testing.T) {
	const src = `
nodes:
  intro: {type: play, prompts: [welcome, news], barge_in: %s, next: m}
  m:
    type: menu
    prompt: menu
    options: {"1": one}
    timeout: 10ms
    retries: 1
    default: none
  one: {type: hangup, reason: one}
  none: {type: hangup, reason: none}
`
	cases := []struct {
		bargeIn, want string
		menuPlayed    bool
	}{
		{"true", "one", false},  // the key cuts the prompt and answers the menu
		{`"1"`, "one", false},   // the key is among the barge-in digits
		{`"2"`, "none", true},   // not a barge-in digit: discarded
		{"false", "none", true}, // no barge-in: keys during the prompt are discarded
	}
	for _, tc := range cases {
		t.Run(tc.bargeIn, func(t *testing.T) {
			f := mustParse(t, strings.Replace(src, "%s", tc.bargeIn, 1))
			leg := newLeg("100", map[string][]string{"welcome": {"1"}})
			runCall(t, &Interpreter{}, f, leg)
			if leg.hungUp != tc.want || slices.Contains(leg.playedNames(), "menu") != tc.menuPlayed {
				t.Errorf("end %q played %v, want end %q menu played %v", leg.hungUp, leg.playedNames(), tc.want, tc.menuPlayed)
			}
		})
	}
}

func TestLookupBranchSetSay(t *testing.T) {
	const src = `
nodes:
  acct:
    type: collect
    prompt: account
    var: account
    next: find
    failure: bye
  find: {type: lookup, by: var, var: account, timeout: 1s, next: route}
  route:
    type: branch
    rules:
      - {tier: [diamond, gold], vars: {attr_plan: family}, goto: vip}
      - {caller: '^139', goto: mobile}
    default: plain
  vip: {type: set, vars: {greeting: "hello ${name}", count: "1234"}, next: say}
  say: {type: say, number: "${count}", before: [you-have], after: [points], next: bye}
  mobile: {type: hangup, reason: mobile}
  plain: {type: hangup, reason: plain}
  bye: {type: hangup, reason: bye}
`
	f := mustParse(t, src)
	cases := []struct {
		name, caller, account, want string
		played                      []string
	}{
		{"gold family by account", "100", "13800000002", "bye",
			[]string{"you-have", "num/1", "num/thousand", "num/2", "num/hundred", "num/30", "num/4", "points"}},
		{"unknown account, caller pattern", "13912345678", "555", "mobile", nil},
		{"silver falls to default", "100", "13800000003", "plain", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leg := newLeg(tc.caller, map[string][]string{"account": {tc.account + "#"}})
			res := runCall(t, &Interpreter{Lookup: &fakeCRM{customers: demoCustomers}}, f, leg)
			if leg.hungUp != tc.want {
				t.Fatalf("end %q, want %q; trace %v", leg.hungUp, tc.want, events(res.Trace))
			}
			if tc.played != nil && !isSubsequence(tc.played, leg.playedNames()) {
				t.Errorf("played %v, want %v", leg.playedNames(), tc.played)
			}
			if tc.want == "bye" && (res.Vars["greeting"] != "hello Demo Gold" || res.Vars["attr_plan"] != "family") {
				t.Errorf("vars %v", res.Vars)
			}
			e, _ := findEvent(res.Trace, EvLookup)
			if e.Detail["key"] != tc.account {
				t.Errorf("lookup keyed by %q, want the collected account %q", e.Detail["key"], tc.account)
			}
		})
	}
}

func TestBranchCalendar(t *testing.T) {
	const src = `
calendars:
  office:
    timezone: Asia/Shanghai
    hours: {mon-fri: "09:00-12:00, 13:00-18:00", sat: "10:00-14:00"}
    holidays: [2026-10-01]
nodes:
  hours:
    type: branch
    rules:
      - {open: office, goto: open}
      - {closed: office, caller: '^1380', goto: closed-vip}
    default: closed
  open: {type: hangup, reason: open}
  closed: {type: hangup, reason: closed}
  closed-vip: {type: hangup, reason: closed-vip}
`
	f := mustParse(t, src)
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, shanghai)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	cases := []struct {
		when, caller, want string
	}{
		{"2026-11-23 09:00", "100", "open"},   // Monday opening
		{"2026-11-23 12:30", "100", "closed"}, // lunch
		{"2026-11-23 17:59", "100", "open"},
		{"2026-11-23 18:00", "100", "closed"}, // end is exclusive
		{"2026-11-28 11:00", "100", "open"},   // Saturday
		{"2026-11-29 11:00", "100", "closed"}, // Sunday
		{"2026-10-01 10:00", "100", "closed"}, // holiday on a Thursday
		{"2026-10-01 10:00", "13800000001", "closed-vip"},
	}
	for _, tc := range cases {
		t.Run(tc.when+"/"+tc.caller, func(t *testing.T) {
			now := at(tc.when).UTC() // the calendar must convert to its zone
			leg := newLeg(tc.caller, nil)
			runCall(t, &Interpreter{Now: func() time.Time { return now }}, f, leg)
			if leg.hungUp != tc.want {
				t.Errorf("got %q, want %q", leg.hungUp, tc.want)
			}
		})
	}
}

const queueSrc = `
nodes:
  q:
    type: queue
    queue: sales
    tier: "${tier}"
    priority: 5
    prompt: hold
    moh: moh
    announce_every: 5ms
    announce_wait: true
    max_wait: %s
    overflow: full
    leave_digit: "*"
    voicemail: vm
    next: rate
  rate: {type: survey, prompt: rate, timeout: 10ms, retries: 2, invalid: invalid, thanks: thanks, next: bye}
  full: {type: hangup, reason: overflow}
  vm: {type: record, prompt: speak, max_length: 5s, next: bye}
  bye: {type: hangup, reason: bye}
`

func TestQueue(t *testing.T) {
	cases := []struct {
		name    string
		maxWait string
		q       *fakeQueuer
		script  map[string][]string
		wantEnd string
		outcome Outcome
		left    LeaveReason
		bridged bool
		path    []string
		score   int
	}{
		{
			name: "agent answers, says id, agent hangs up first, survey", maxWait: "1h",
			q:       &fakeQueuer{position: QueuePosition{Place: 3}, outcome: agentAnswers("1002"), bridge: BridgeResult{AgentID: "1002", End: EndAgentHangup}},
			script:  map[string][]string{"rate": {"9", "4"}},
			wantEnd: "bye", outcome: OutcomeHangup, bridged: true, score: 4,
			path: []string{"q:queued", "q:agent", "q:bridge_end", "rate", "rate:invalid=9", "rate:survey=4", "bye:hangup"},
		},
		{
			name: "keys pressed while talking are not survey answers", maxWait: "1h",
			q:       &fakeQueuer{outcome: agentAnswers("1002"), bridge: BridgeResult{End: EndAgentHangup}, bridgeKeys: "12"},
			script:  map[string][]string{"rate": {"5"}},
			wantEnd: "bye", outcome: OutcomeHangup, bridged: true, score: 5,
			path: []string{"q:bridge_end", "rate", "rate:survey=5"},
		},
		{
			name: "survey unanswered keeps no score", maxWait: "1h",
			q:       &fakeQueuer{outcome: agentAnswers("1002"), bridge: BridgeResult{End: EndAgentHangup}},
			wantEnd: "bye", outcome: OutcomeHangup, bridged: true,
			path: []string{"rate:no_input", "rate:no_input", "rate:retries_out", "bye:hangup"},
		},
		{
			name: "caller hangs up while talking", maxWait: "1h",
			q:       &fakeQueuer{outcome: agentAnswers("1002"), bridge: BridgeResult{End: EndCallerHangup}},
			outcome: OutcomeCallerHangup, bridged: true,
			path: []string{"q:bridge_end", "q:caller_hangup"},
		},
		{
			name: "agent transfers the call away", maxWait: "1h",
			q:       &fakeQueuer{outcome: agentAnswers("1002"), bridge: BridgeResult{End: EndTransferred}},
			outcome: OutcomeTransferred, bridged: true,
		},
		{
			name: "overflow after max wait", maxWait: "30ms",
			q:       &fakeQueuer{position: QueuePosition{Place: 2}},
			wantEnd: "overflow", outcome: OutcomeHangup, left: LeaveOverflow,
			path: []string{"q:queued", "q:overflow", "full:hangup"},
		},
		{
			name: "position announced, caller presses the leave digit", maxWait: "1h",
			q:       &fakeQueuer{position: QueuePosition{Place: 2, EstimatedWait: 90 * time.Second}},
			script:  map[string][]string{"position": {"*"}},
			wantEnd: "bye", outcome: OutcomeHangup, left: LeaveVoicemail,
			path: []string{"q:announce", "q:left_queue=*", "vm", "vm:recorded", "bye:hangup"},
		},
		{
			name: "caller hangs up in queue", maxWait: "1h",
			q:       &fakeQueuer{},
			script:  map[string][]string{"hold": {"H"}},
			outcome: OutcomeCallerHangup, left: LeaveCallerHangup,
		},
		{
			name: "enqueue refused takes the overflow path", maxWait: "1h",
			q:       &fakeQueuer{err: errors.New("queue sales unknown")},
			wantEnd: "overflow", outcome: OutcomeHangup,
			path: []string{"q:queued", "q:queue_failed", "full:hangup"},
		},
		{
			name: "ACD overflows the call", maxWait: "1h",
			q:       &fakeQueuer{outcome: &QueueOutcome{Overflow: true, Reason: "no-agents"}},
			wantEnd: "overflow", outcome: OutcomeHangup, left: LeaveOverflow,
			path: []string{"q:overflow", "full:hangup"},
		},
		{
			name: "ACD gives up on the call", maxWait: "1h",
			q:       &fakeQueuer{outcome: &QueueOutcome{Reason: "shutdown"}},
			wantEnd: "overflow", outcome: OutcomeHangup, left: LeaveFailed,
			path: []string{"q:queue_failed", "full:hangup"},
		},
		{
			name: "ACD wait fails", maxWait: "1h",
			q:       &fakeQueuer{waitErr: errors.New("store unreachable")},
			wantEnd: "overflow", outcome: OutcomeHangup, left: LeaveFailed,
			path: []string{"q:queue_failed", "full:hangup"},
		},
		{
			name: "bridge fails", maxWait: "1h",
			q:       &fakeQueuer{outcome: agentAnswers("1002")},
			wantEnd: "overflow", outcome: OutcomeHangup, left: LeaveFailed, bridged: true,
			path: []string{"q:agent", "q:queue_failed", "full:hangup"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := mustParse(t, strings.Replace(queueSrc, "%s", tc.maxWait, 1))
			leg := newLeg("100", tc.script)
			leg.recordFor = time.Second
			in := &Interpreter{Queuer: tc.q, Logger: quietLog}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			leg.hangupCaller = cancel
			tc.q.leg = leg
			res, err := in.Run(ctx, f, &Call{ID: "c", Leg: leg, Vars: map[string]string{"tier": "gold"}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != tc.outcome || leg.hungUp != tc.wantEnd || res.SurveyScore != tc.score {
				t.Fatalf("outcome %q end %q score %d, want %q %q %d; trace %v", res.Outcome, leg.hungUp, res.SurveyScore, tc.outcome, tc.wantEnd, tc.score, events(res.Trace))
			}
			if !isSubsequence(tc.path, events(res.Trace)) {
				t.Errorf("trace %v, want %v", events(res.Trace), tc.path)
			}
			if len(tc.q.reqs) != 1 || tc.q.reqs[0].Tier != "gold" || tc.q.reqs[0].Priority != 5 || tc.q.reqs[0].Queue != "sales" {
				t.Fatalf("requests %+v", tc.q.reqs)
			}
			if tc.q.err != nil {
				return
			}
			qc := tc.q.only(t)
			if qc.leaves > 1 || qc.left != tc.left || qc.bridged != tc.bridged {
				t.Errorf("left %q (%d times) bridged %v, want %q %v", qc.left, qc.leaves, qc.bridged, tc.left, tc.bridged)
			}
			if tc.bridged && !isSubsequence([]string{"agent", "num/1", "num/0", "num/0", "num/2"}, qc.playedBefore) {
				t.Errorf("before the bridge the caller heard %v, want the agent id", qc.playedBefore)
			}
			if tc.left == LeaveVoicemail {
				e, _ := findEvent(res.Trace, EvAnnounce)
				if e.Detail["position"] != "2" || e.Detail["wait_minutes"] != "2" {
					t.Errorf("announcement %+v, want position 2, 2 minutes", e)
				}
				if !isSubsequence([]string{"position", "num/2", "in-queue", "wait", "num/2", "minutes"}, leg.playedNames()) {
					t.Errorf("played %v", leg.playedNames())
				}
			}
		})
	}
}

func TestTransfer(t *testing.T) {
	const src = `
nodes:
  t: {type: transfer, %s, failure: sorry}
  sorry: {type: hangup, reason: sorry}
`
	other := mustParse(t, "name: other\nnodes:\n  hi: {type: hangup, reason: other-flow}\n")
	flows := &staticFlows{flows: map[string]*Flow{"other": other}, numbers: map[string]string{"10086": "other"}}
	cases := []struct {
		name, target string
		tr           *fakeTransferer
		want         string
		outcome      Outcome
		req          *TransferRequest
	}{
		{"to another flow in place", "flow: other", nil, "other-flow", OutcomeHangup, nil},
		{"to an access number bound here", "number: \"10086\"", nil, "other-flow", OutcomeHangup, nil},
		{"to an access number elsewhere", "number: \"95555\"", &fakeTransferer{}, "", OutcomeTransferred,
			&TransferRequest{Kind: TransferNumber, Target: "95555"}},
		{"external through a trunk", "external: \"+8613900000000\", trunk: carrier", &fakeTransferer{}, "", OutcomeTransferred,
			&TransferRequest{Kind: TransferExternal, Target: "+8613900000000", Trunk: "carrier"}},
		{"to an agent", "agent: \"1001\"", &fakeTransferer{}, "", OutcomeTransferred,
			&TransferRequest{Kind: TransferAgent, Target: "1001"}},
		{"refused takes failure", "agent: \"1001\"", &fakeTransferer{err: errors.New("agent busy")}, "sorry", OutcomeHangup,
			&TransferRequest{Kind: TransferAgent, Target: "1001"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := mustParse(t, strings.Replace(src, "%s", tc.target, 1))
			in := &Interpreter{Flows: flows}
			if tc.tr != nil {
				in.Transferer = tc.tr
			}
			leg := newLeg("100", nil)
			res := runCall(t, in, f, leg)
			if leg.hungUp != tc.want || res.Outcome != tc.outcome {
				t.Fatalf("end %q outcome %q, want %q %q; trace %v", leg.hungUp, res.Outcome, tc.want, tc.outcome, events(res.Trace))
			}
			if tc.req != nil {
				if len(tc.tr.reqs) != 1 {
					t.Fatalf("transfer requests %+v", tc.tr.reqs)
				}
				got := tc.tr.reqs[0]
				if got.Kind != tc.req.Kind || got.Target != tc.req.Target || got.Trunk != tc.req.Trunk || got.CallerNumber != "100" || len(got.Trace) == 0 {
					t.Errorf("request %+v, want %+v", got, tc.req)
				}
			}
		})
	}
}

type staticFlows struct {
	flows   map[string]*Flow
	numbers map[string]string
}

func (s *staticFlows) Flow(name string) (*Flow, bool) { f, ok := s.flows[name]; return f, ok }
func (s *staticFlows) FlowForNumber(n string) (*Flow, bool) {
	f, ok := s.flows[s.numbers[n]]
	return f, ok
}

func TestRecord(t *testing.T) {
	const src = `
nodes:
  msg: {type: record, prompt: speak, max_length: 30s, silence_timeout: 2s, next: bye}
  bye: {type: hangup}
`
	f := mustParse(t, src)
	cases := []struct {
		name      string
		keys      string
		recordFor time.Duration
		outcome   Outcome
		stopped   string
	}{
		{"stopped by #", "#", 0, OutcomeHangup, "#"},
		{"ends on silence or max length", "", 4 * time.Second, OutcomeHangup, ""},
		{"caller hangs up, message kept", "H", 0, OutcomeCallerHangup, ""},
	}
	noBeep := mustParse(t, "nodes:\n  msg: {type: record, beep: \"\", next: bye}\n  bye: {type: hangup}\n")
	leg := newLeg("100", nil)
	leg.recordFor = time.Second
	runCall(t, &Interpreter{}, noBeep, leg)
	if p := leg.playedNames(); len(p) != 0 {
		t.Errorf("beep: \"\" still played %v", p)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leg := newLeg("100", nil)
			leg.recordKeys, leg.recordFor = tc.keys, tc.recordFor
			res := runCall(t, &Interpreter{RecordDir: "/rec"}, f, leg)
			if res.Outcome != tc.outcome {
				t.Fatalf("outcome %q, want %q", res.Outcome, tc.outcome)
			}
			if len(leg.recorded) != 1 || len(res.Recordings) != 1 || res.Recordings[0] != leg.recorded[0] || res.Vars["recording"] != "/rec/call-1-msg-1.wav" {
				t.Fatalf("recorded %v, result %v, var %q", leg.recorded, res.Recordings, res.Vars["recording"])
			}
			e, ok := findEvent(res.Trace, EvRecorded)
			if !ok || e.Digits != tc.stopped || e.Detail["path"] != "/rec/call-1-msg-1.wav" {
				t.Errorf("trace %+v", e)
			}
			if !isSubsequence([]string{"speak", "beep"}, leg.playedNames()) {
				t.Errorf("played %v, want prompt then beep", leg.playedNames())
			}
		})
	}
}

func TestCallerHangupInMenuDoesNotHangUpAgain(t *testing.T) {
	f := mustParse(t, "nodes:\n  m: {type: menu, prompt: menu, options: {\"1\": b}, default: b}\n  b: {type: hangup}\n")
	leg := newLeg("100", map[string][]string{"menu": {"H"}})
	res := runCall(t, &Interpreter{}, f, leg)
	if res.Outcome != OutcomeCallerHangup || leg.hungUp != "" || res.LastNode != "m" {
		t.Fatalf("outcome %q hungUp %q last %q", res.Outcome, leg.hungUp, res.LastNode)
	}
}

func TestDigitLatencyHook(t *testing.T) {
	f := mustParse(t, "nodes:\n  m: {type: menu, prompt: menu, options: {\"1\": p}, default: p}\n  p: {type: play, prompt: next, next: b}\n  b: {type: hangup}\n")
	var got []time.Duration
	in := &Interpreter{DigitLatency: func(d time.Duration) { got = append(got, d) }}
	runCall(t, in, f, newLeg("100", map[string][]string{"menu": {"1"}}))
	if len(got) != 1 || got[0] < 0 {
		t.Fatalf("latencies %v, want one measurement for the one digit", got)
	}
}

func TestRunFromResumesAtNode(t *testing.T) {
	f := mustParse(t, queueSrc[:0]+strings.Replace(queueSrc, "%s", "1h", 1))
	leg := newLeg("100", map[string][]string{"rate": {"3"}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	leg.hangupCaller = cancel
	res, err := (&Interpreter{}).RunFrom(ctx, f, &Call{ID: "c", Leg: leg}, "rate")
	if err != nil || res.SurveyScore != 3 || res.Vars["survey_score"] != "3" {
		t.Fatalf("err %v score %d vars %v", err, res.SurveyScore, res.Vars)
	}
}

func TestSayNumber(t *testing.T) {
	cases := map[string]string{
		"0": "0", "7": "7", "13": "13", "40": "40", "42": "40 2", "100": "1 hundred",
		"305": "3 hundred 5", "1001": "1 thousand 1", "20019": "20 thousand 19",
		"999999": "9 hundred 90 9 thousand 9 hundred 90 9", "1000000": "1 0 0 0 0 0 0",
	}
	for in, want := range cases {
		words, ok := sayNumber(in)
		got := strings.ReplaceAll(strings.Join(words, " "), "num/", "")
		if !ok || got != want {
			t.Errorf("sayNumber(%s) = %q, want %q", in, got, want)
		}
	}
	if _, ok := sayNumber("abc"); ok {
		t.Error("sayNumber(abc) succeeded")
	}
}

func TestLookupDegradedKeepsRegionButNotTier(t *testing.T) {
	f := mustParse(t, "nodes:\n  l: {type: lookup, default_tier: silver, next: b}\n  b: {type: hangup}\n")
	crm := &fakeCRM{err: errors.New("breaker open"), degraded: Customer{Tier: "diamond", Region: "north"}}
	res := runCall(t, &Interpreter{Lookup: crm}, f, newLeg("13800000001", nil))
	if res.Vars["tier"] != "silver" || res.Vars["region"] != "north" || res.Vars["lookup_failed"] != "true" {
		t.Fatalf("vars %v", res.Vars)
	}
}

func TestRunErrors(t *testing.T) {
	f := mustParse(t, "nodes:\n  b: {type: hangup}\n")
	leg := newLeg("100", nil)
	leg.hangupCaller = func() {}
	res, err := (&Interpreter{Logger: quietLog}).RunFrom(context.Background(), f, &Call{ID: "c", Leg: leg}, "nosuch")
	if err == nil || res.Outcome != OutcomeError || leg.hungUp != "ivr error" {
		t.Fatalf("err %v outcome %q hungUp %q: want an error and the call ended", err, res.Outcome, leg.hungUp)
	}
	if _, err := (&Interpreter{}).Run(context.Background(), nil, &Call{Leg: leg}); err == nil {
		t.Fatal("Run with a nil flow succeeded")
	}
}

func TestTraceIsBoundedAndSeeded(t *testing.T) {
	f := mustParse(t, "nodes:\n  m: {type: menu, prompt: menu, options: {\"1\": m}, timeout: 1s, default: m}\n")
	keys := make([]string, maxTraceEntries)
	for i := range keys {
		keys[i] = "1"
	}
	keys = append(keys, "H")
	leg := newLeg("100", map[string][]string{"menu": keys})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	leg.hangupCaller = cancel
	seed := []TraceEntry{{Flow: "earlier", Node: "x", Event: EvEnter}}
	res, err := (&Interpreter{}).Run(ctx, f, &Call{ID: "c", Leg: leg, Trace: seed})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Trace) != maxTraceEntries+1 || res.Trace[0].Flow != "earlier" {
		t.Fatalf("trace has %d entries starting %+v", len(res.Trace), res.Trace[0])
	}
	last := res.Trace[len(res.Trace)-1]
	if last.Event != EvTruncated || last.Detail["dropped"] == "" {
		t.Fatalf("last entry %+v, want the truncation marker", last)
	}
}
