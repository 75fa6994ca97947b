package ivr

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	demoFlows   = "../testdata/flows"
	demoPrompts = "../testdata/prompts"
)

func loadDemo(t *testing.T) *Flow {
	t.Helper()
	reg := NewRegistry(LoadOptions{PromptRoot: demoPrompts})
	if err := reg.LoadDir(demoFlows, map[string]string{"10010": "main"}); err != nil {
		t.Fatalf("demo flows must load with zero errors:\n%v", err)
	}
	f, ok := reg.FlowForNumber("10010")
	if !ok {
		t.Fatal("10010 is not bound to a flow")
	}
	return f
}

func demoInterpreter(q *fakeQueuer) *Interpreter {
	return &Interpreter{
		Prompts:   PromptDir(demoPrompts),
		Lookup:    &fakeCRM{customers: demoCustomers},
		Queuer:    q,
		RecordDir: "/var/spool/hotline",
	}
}

func TestDemoFlowLoads(t *testing.T) {
	f := loadDemo(t)
	if f.Name != "main" || f.Start != "greeting" {
		t.Fatalf("flow %q start %q, want main/greeting", f.Name, f.Start)
	}
}

func TestDemoFlow(t *testing.T) {
	f := loadDemo(t)
	cases := []struct {
		name       string
		caller     string
		script     map[string][]string
		crm        *fakeCRM
		outcome    *QueueOutcome
		bridge     BridgeEnd
		wantQueue  string // "" = never queued
		wantTier   string
		wantPath   []string // in order, a subsequence of the trace
		wantPlayed []string // in order, a subsequence of the prompts played
		notPlayed  []string
		wantScore  int
		wantRec    bool
		wantHangup string
	}{
		{
			name: "diamond skips the menu", caller: "13800000001",
			outcome: agentAnswers("1001"), bridge: EndCallerHangup,
			wantQueue: "general", wantTier: "diamond",
			wantPath:   []string{"greeting", "identify:lookup", "by-tier:branch", "queue-general:queued", "queue-general:agent", "queue-general:bridge_end", "queue-general:caller_hangup"},
			wantPlayed: []string{"greeting", "hold", "agent", "num/1", "num/0", "num/0", "num/1"},
			notPlayed:  []string{"menu"},
		},
		{
			name: "blacklisted caller is refused", caller: "13800000009",
			wantTier:   "normal",
			wantPath:   []string{"greeting", "identify:lookup", "refuse", "refuse:hangup"},
			wantPlayed: []string{"greeting", "blocked"},
			notPlayed:  []string{"menu", "hold", "moh"},
			wantHangup: "blacklisted",
		},
		{
			name: "menu 1 billing, agent hangs up first, survey 5", caller: "13800000002",
			script:  map[string][]string{"menu": {"1"}, "survey": {"5"}},
			outcome: agentAnswers("1001"), bridge: EndAgentHangup,
			wantQueue: "billing", wantTier: "gold",
			wantPath:   []string{"main-menu:choice=1", "queue-billing:queued", "queue-billing:agent", "queue-billing:bridge_end", "survey", "survey:survey=5", "goodbye:hangup"},
			wantPlayed: []string{"menu", "hold", "agent", "num/1", "num/0", "num/0", "num/1", "survey", "thank-you", "goodbye"},
			wantScore:  5, wantHangup: "done",
		},
		{
			name: "menu 2 technical for an unknown caller", caller: "13912345678",
			script:  map[string][]string{"menu": {"2"}},
			outcome: agentAnswers("1001"), bridge: EndCallerHangup,
			wantQueue: "technical", wantTier: "normal",
			wantPath: []string{"identify:lookup", "main-menu:choice=2", "queue-technical:queued"},
		},
		{
			name: "menu 3 leaves a message", caller: "13800000003",
			script:     map[string][]string{"menu": {"3"}, "beep": {}},
			wantTier:   "silver",
			wantPath:   []string{"main-menu:choice=3", "leave-message", "leave-message:recorded=#", "message-saved", "goodbye:hangup"},
			wantPlayed: []string{"menu", "leave-message", "beep", "message-saved", "goodbye"},
			wantRec:    true, wantHangup: "done",
		},
		{
			name: "menu 0 general", caller: "13800000003",
			script:  map[string][]string{"menu": {"0"}},
			outcome: agentAnswers("1001"), bridge: EndCallerHangup,
			wantQueue: "general", wantTier: "silver",
			wantPath: []string{"main-menu:choice=0", "queue-general:queued"},
		},
		{
			name: "three invalid choices go to general", caller: "13800000003",
			script:  map[string][]string{"menu": {"9"}, "invalid": {"7", "8"}},
			outcome: agentAnswers("1001"), bridge: EndCallerHangup,
			wantQueue:  "general",
			wantPath:   []string{"main-menu:invalid=9", "main-menu:invalid=7", "main-menu:invalid=8", "main-menu:retries_out", "queue-general:queued"},
			wantPlayed: []string{"menu", "invalid", "menu", "invalid", "menu", "hold"},
		},
		{
			name: "CRM failure continues as normal, flagged", caller: "13800000001",
			crm:     &fakeCRM{err: errors.New("connection refused")},
			script:  map[string][]string{"menu": {"2"}},
			outcome: agentAnswers("1001"), bridge: EndCallerHangup,
			wantQueue: "technical", wantTier: "normal",
			wantPath: []string{"identify:lookup", "by-tier:branch", "main-menu:choice=2"},
		},
		{
			name: "leave digit in queue goes to voicemail", caller: "13800000001",
			script:    map[string][]string{"hold": {"*"}},
			wantQueue: "general",
			wantPath:  []string{"queue-general:queued", "queue-general:left_queue=*", "leave-message:recorded=#"},
			wantRec:   true, wantHangup: "done",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := &fakeQueuer{outcome: tc.outcome, bridge: BridgeResult{End: tc.bridge}}
			in := demoInterpreter(q)
			if tc.crm != nil {
				in.Lookup = tc.crm
			}
			leg := newLeg(tc.caller, tc.script)
			leg.recordKeys = "#"
			res := runCall(t, in, f, leg)
			path := events(res.Trace)
			if !isSubsequence(tc.wantPath, path) {
				t.Errorf("trace %v\nwant in order %v", path, tc.wantPath)
			}
			if played := leg.playedNames(); !isSubsequence(tc.wantPlayed, played) {
				t.Errorf("played %v\nwant in order %v", played, tc.wantPlayed)
			}
			for _, p := range tc.notPlayed {
				if slices.Contains(leg.playedNames(), p) {
					t.Errorf("played %q, must not", p)
				}
			}
			if tc.wantTier != "" && res.Vars["tier"] != tc.wantTier {
				t.Errorf("tier %q, want %q", res.Vars["tier"], tc.wantTier)
			}
			q.mu.Lock()
			reqs := q.reqs
			q.mu.Unlock()
			if tc.wantQueue == "" && len(reqs) > 0 {
				t.Errorf("queued to %q, want never queued", reqs[0].Queue)
			}
			if tc.wantQueue != "" {
				if len(reqs) != 1 || reqs[0].Queue != tc.wantQueue {
					t.Fatalf("queue requests %+v, want one to %q", reqs, tc.wantQueue)
				}
				if reqs[0].Tier != res.Vars["tier"] || len(reqs[0].Trace) == 0 || reqs[0].CallerNumber != tc.caller {
					t.Errorf("queue request %+v lacks tier/trace/caller", reqs[0])
				}
			}
			if res.SurveyScore != tc.wantScore {
				t.Errorf("survey score %d, want %d", res.SurveyScore, tc.wantScore)
			}
			if tc.wantRec {
				if len(res.Recordings) != 1 || res.Vars["voicemail"] != res.Recordings[0] || filepath.Dir(res.Recordings[0]) != "/var/spool/hotline" {
					t.Errorf("recordings %v, voicemail var %q", res.Recordings, res.Vars["voicemail"])
				}
			} else if len(res.Recordings) > 0 {
				t.Errorf("unexpected recordings %v", res.Recordings)
			}
			if leg.hungUp != tc.wantHangup {
				t.Errorf("IVR hung up with %q, want %q", leg.hungUp, tc.wantHangup)
			}
		})
	}
}

func TestDemoLookupFailureIsFlagged(t *testing.T) {
	f := loadDemo(t)
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	in := demoInterpreter(&fakeQueuer{outcome: agentAnswers("1003"), bridge: BridgeResult{End: EndCallerHangup}})
	in.Lookup = &fakeCRM{hang: stuck}
	res := runCall(t, in, f, newLeg("13800000001", map[string][]string{"menu": {"0"}}))
	if res.Vars["lookup_failed"] != "true" || res.Vars["tier"] != "normal" || res.Vars["lookup"] != "failed" {
		t.Fatalf("vars %v, want default tier normal flagged as failed", res.Vars)
	}
	e, _ := findEvent(res.Trace, EvLookup)
	if !strings.Contains(e.Detail["error"], "timed out") {
		t.Errorf("lookup trace %+v, want a time-out error", e)
	}
}

func TestDemoOverflowAfterMaxWait(t *testing.T) {
	// The demo waits 120 s; the same flow with a short max wait proves the path.
	f := loadDemo(t)
	short := *f
	short.Nodes = map[string]*Node{}
	for id, nd := range f.Nodes {
		short.Nodes[id] = nd
	}
	g := *f.Nodes["queue-general"]
	g.MaxWait = 20 * time.Millisecond
	short.Nodes["queue-general"] = &g
	q := &fakeQueuer{}
	leg := newLeg("13800000001", nil)
	leg.recordFor = 2 * time.Second
	res := runCall(t, demoInterpreter(q), &short, leg)
	want := []string{"queue-general:queued", "queue-general:overflow", "leave-message", "leave-message:recorded", "goodbye:hangup"}
	if path := events(res.Trace); !isSubsequence(want, path) {
		t.Fatalf("trace %v, want %v", path, want)
	}
	if qc := q.only(t); qc.left != LeaveOverflow || qc.bridged {
		t.Errorf("queued call left=%q bridged=%v, want overflow and never bridged", qc.left, qc.bridged)
	}
}

func isSubsequence(want, got []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func TestIsSubsequence(t *testing.T) {
	if !isSubsequence([]string{"a", "c"}, []string{"a", "b", "c"}) || isSubsequence([]string{"c", "a"}, []string{"a", "b", "c"}) {
		t.Fatal("isSubsequence is wrong")
	}
}

// The result is what the call record stores: it must survive JSON.
func TestResultJSON(t *testing.T) {
	f := loadDemo(t)
	q := &fakeQueuer{outcome: agentAnswers("1001"), bridge: BridgeResult{End: EndAgentHangup}}
	res := runCall(t, demoInterpreter(q), f, newLeg("13800000002", map[string][]string{"menu": {"1"}, "survey": {"4"}}))
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.SurveyScore != 4 || back.Agent != "1001" || back.Queue != "billing" || len(back.Trace) != len(res.Trace) {
		t.Fatalf("round trip lost data: %s", data)
	}
	choice, _ := findEvent(back.Trace, EvChoice)
	if choice.Node != "main-menu" || choice.Digits != "1" || choice.At.IsZero() || choice.Flow != "main" {
		t.Errorf("menu choice in trace: %+v", choice)
	}
	lookup, _ := findEvent(back.Trace, EvLookup)
	if lookup.Detail["tier"] != "gold" || lookup.Detail["name"] != "Demo Gold" {
		t.Errorf("lookup in trace: %+v", lookup)
	}
}
