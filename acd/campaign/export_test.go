package campaign

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestExportCSV(t *testing.T) {
	spec := progressiveSpec + `dnc: dnc.txt
retry:
  no_answer: {attempts: 3, after: 1h}
script:
  - {id: renew, text: "Renew?", kind: yesno}
  - {id: plan, text: "Plan?", kind: choice, options: [basic, premium]}
`
	h := newHarness(t, spec, map[string]string{"list.csv": contactsCSV(4, "north"), "dnc.txt": "13800000004\n"}, []string{"1001"}, harnessOpts{})
	results := map[string][]Result{
		"c1": {{Outcome: NoAnswer, Cause: "480"},
			{Outcome: Completed, WrapUp: "renewed", Talk: 95 * time.Second, Answers: map[string]string{"renew": "yes", "plan": "premium"}}},
		"c2": {{Outcome: Completed, WrapUp: "do-not-call", Talk: 42 * time.Second, DNC: true, Answers: map[string]string{"renew": "no"}}},
		"c3": {{Outcome: Busy, Cause: "486"}},
	}
	h.eng.result = func(_ context.Context, a Attempt) Result {
		r := results[a.Contact.ID][0]
		results[a.Contact.ID] = results[a.Contact.ID][1:]
		if r.Outcome == Completed {
			r.Answered = h.clock.Now()
		}
		return r
	}
	h.step() // c1 no answer
	h.step() // c2 completed, asks for DNC
	h.step() // c3 busy
	h.clock.Advance(time.Hour)
	h.step() // c1 and c3 are due again; c1 (listed first) completed
	h.m.Stop("c")

	var b strings.Builder
	if err := h.m.ExportResults("nope", &b); !errors.Is(err, ErrUnknownCampaign) {
		t.Errorf("unknown campaign: %v", err)
	}
	if err := h.m.ExportResults("c", &b); err != nil {
		t.Fatal(err)
	}
	want := `id,number,name,region,tier,status,attempts,last_outcome,last_cause,agent,answered_at,talk_seconds,wrap_up,q:renew,q:plan,dnc
c1,13800000001,Name 1,north,normal,done,2,completed,,1001,2027-03-01T11:00:00+08:00,95,renewed,yes,premium,no
c2,13800000002,Name 2,north,normal,done,1,completed,,1001,2027-03-01T10:00:00+08:00,42,do-not-call,no,,yes
c3,13800000003,Name 3,north,normal,pending,1,busy,486,1001,,,,,,no
c4,13800000004,Name 4,north,normal,done,0,dnc,,,,,,,,yes
`
	if b.String() != want {
		t.Errorf("results export:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	if err := h.m.ExportAttempts("c", &b); err != nil {
		t.Fatal(err)
	}
	want = `campaign,contact_id,number,seq,attempt,call_id,agent,started_at,answered_at,ended_at,outcome,cause,talk_seconds,wrap_up,q:renew,q:plan,dnc
c,c1,13800000001,1,1,out-c-c1-1,1001,2027-03-01T10:00:00+08:00,,2027-03-01T10:00:00+08:00,no_answer,480,,,,,no
c,c1,13800000001,2,2,out-c-c1-2,1001,2027-03-01T11:00:00+08:00,2027-03-01T11:00:00+08:00,2027-03-01T11:00:00+08:00,completed,,95,renewed,yes,premium,no
c,c2,13800000002,1,1,out-c-c2-1,1001,2027-03-01T10:00:00+08:00,2027-03-01T10:00:00+08:00,2027-03-01T10:00:00+08:00,completed,,42,do-not-call,no,,yes
c,c3,13800000003,1,1,out-c-c3-1,1001,2027-03-01T10:00:00+08:00,,2027-03-01T10:00:00+08:00,busy,486,,,,,no
`
	if b.String() != want {
		t.Errorf("attempts export:\n%s\nwant:\n%s", b.String(), want)
	}
}
