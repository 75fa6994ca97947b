package campaign

import (
	"strings"
	"testing"
	"time"
)

func TestDecideRetry(t *testing.T) {
	now := time.Date(2027, 3, 1, 10, 0, 0, 0, time.UTC)
	rules := DefaultRetry()
	cases := []struct {
		name     string
		o        Outcome
		attempts int // dial attempts so far, this one included
		count    int // of outcome o, this one included
		max      int
		done     bool
		after    time.Duration
	}{
		{"completed finishes", Completed, 1, 1, 5, true, 0},
		{"first no answer waits 2h", NoAnswer, 1, 1, 5, false, 2 * time.Hour},
		{"third no answer finishes", NoAnswer, 3, 3, 5, true, 0},
		{"busy waits 15m", Busy, 2, 1, 5, false, 15 * time.Minute},
		{"max attempts overall", Busy, 5, 2, 5, true, 0},
		{"failed twice finishes", Failed, 2, 2, 5, true, 0},
		{"machine waits 4h", Machine, 1, 1, 5, false, 4 * time.Hour},
		{"abandoned once retries", Abandoned, 1, 1, 5, false, time.Hour},
		{"hung up twice finishes", HungUp, 2, 2, 5, true, 0},
		{"skip is not an attempt", Skipped, 5, 1, 5, false, 30 * time.Minute},
		{"third skip finishes", Skipped, 0, 3, 5, true, 0},
		{"unknown outcome as failed", Outcome("weird"), 1, 1, 5, false, time.Hour},
	}
	for _, tc := range cases {
		d := decide(rules, tc.max, tc.o, tc.attempts, tc.count, now)
		if d.done != tc.done || (!tc.done && !d.nextAt.Equal(now.Add(tc.after))) {
			t.Errorf("%s: got done=%v next=%v, want done=%v after %v", tc.name, d.done, d.nextAt, tc.done, tc.after)
		}
	}
}

// The state tables: every state has a row, every target is a state, and
// the moves the dialler relies on (and only those) are allowed.
func TestContactFSM(t *testing.T) {
	states := []ContactState{Pending, Previewing, Dialling, RetryWait, Done}
	for _, s := range states {
		if _, ok := contactTransitions[s]; !ok {
			t.Errorf("state %s has no row", s)
		}
	}
	for from, tos := range contactTransitions {
		for _, to := range tos {
			if !validContactState(to) {
				t.Errorf("%s → %s: unknown target", from, to)
			}
		}
	}
	allowed := map[[2]ContactState]bool{
		{Pending, Previewing}: true, {Pending, Dialling}: true, {Pending, Done}: true,
		{Previewing, Dialling}: true, {Previewing, RetryWait}: true, {Previewing, Done}: true, {Previewing, Pending}: true,
		{Dialling, Done}: true, {Dialling, RetryWait}: true, {Dialling, Pending}: true,
		{RetryWait, Pending}: true, {RetryWait, Done}: true,
	}
	for _, from := range states {
		for _, to := range states {
			if got := canMoveContact(from, to); got != allowed[[2]ContactState{from, to}] {
				t.Errorf("%s → %s: allowed=%v", from, to, got)
			}
		}
	}
	// In particular: nothing leaves Done, and a contact in a call cannot
	// be offered or dialled again.
	if canMoveContact(Done, Pending) || canMoveContact(Dialling, Dialling) || canMoveContact(Dialling, Previewing) {
		t.Error("forbidden moves allowed")
	}
}

func TestCampaignFSM(t *testing.T) {
	states := []State{CampaignStopped, CampaignRunning, CampaignPaused, CampaignCompleted}
	allowed := map[[2]State]bool{
		{CampaignStopped, CampaignRunning}: true, {CampaignStopped, CampaignCompleted}: true,
		{CampaignRunning, CampaignPaused}: true, {CampaignRunning, CampaignStopped}: true, {CampaignRunning, CampaignCompleted}: true,
		{CampaignPaused, CampaignRunning}: true, {CampaignPaused, CampaignStopped}: true, {CampaignPaused, CampaignCompleted}: true,
		{CampaignCompleted, CampaignStopped}: true,
	}
	for _, from := range states {
		if !validState(from) {
			t.Errorf("%s has no row", from)
		}
		for _, to := range states {
			if got := canMoveCampaign(from, to); got != allowed[[2]State{from, to}] {
				t.Errorf("%s → %s: allowed=%v", from, to, got)
			}
		}
	}
}

func TestPacer(t *testing.T) {
	t0 := time.Date(2027, 3, 1, 10, 0, 0, 0, time.UTC)
	feed := func(p *pacer, ok, abandoned int) {
		for i := 0; i < ok; i++ {
			p.add(t0, false)
		}
		for i := 0; i < abandoned; i++ {
			p.add(t0, true)
		}
	}
	cases := []struct {
		name          string
		ratio, cap    float64
		ok, abandoned int
		wantRatio     float64
		hold          bool
	}{
		{"fresh campaign: one per agent", 2, 0.03, 0, 0, 1, false},
		{"few samples: still one", 2, 0.03, 20, 0, 1, false},
		{"enough clean samples: full ratio", 2, 0.03, 99, 0, 2, false},
		// est = 2/101 ≈ 1.98%, between 1.5% and 3%: ratio 1 + (0.03-0.0198)/0.015 ≈ 1.68
		{"nearing the cap: reduced", 2, 0.03, 99, 1, 1 + (0.03-2.0/101)/0.015, false},
		{"at the cap estimate: ratio 1", 2, 0.03, 97, 2, 1, false},
		{"over the cap measured: hold", 2, 0.03, 90, 10, 1, true},
		{"over the cap with few samples: no hold", 2, 0.03, 3, 2, 1, false},
		{"ratio 1 over the cap: hold too", 1, 0.03, 20, 5, 1, true},
		{"ratio 1 under the cap", 1, 0.03, 100, 0, 1, false},
	}
	for _, tc := range cases {
		p := newPacer(tc.ratio, tc.cap)
		feed(p, tc.ok, tc.abandoned)
		got := p.decide(t0.Add(time.Minute))
		if got.Hold != tc.hold || (got.Ratio-tc.wantRatio) > 1e-9 || (tc.wantRatio-got.Ratio) > 1e-9 {
			t.Errorf("%s: got %+v, want ratio %.3f hold %v", tc.name, got, tc.wantRatio, tc.hold)
		}
	}
	// Abandons age out after an hour: a hold ends without new calls.
	p := newPacer(1, 0.03)
	feed(p, 10, 10)
	if !p.decide(t0.Add(30 * time.Minute)).Hold {
		t.Error("want a hold half an hour later")
	}
	if got := p.decide(t0.Add(61 * time.Minute)); got.Hold || got.Reached != 0 {
		t.Errorf("an hour later the window is empty: %+v", got)
	}
	// The window keeps the last N reached calls: old abandons roll out.
	p = newPacer(2, 0.03)
	feed(p, 0, 5)
	feed(p, pacingWindowCalls(0.03), 0)
	if got := p.decide(t0); got.Abandoned != 0 || got.Ratio != 2 {
		t.Errorf("after a window of clean calls: %+v", got)
	}
	if p.totalAbandoned != 5 {
		t.Errorf("campaign totals keep every abandon: %d", p.totalAbandoned)
	}
}

func TestCallID(t *testing.T) {
	for _, tc := range []struct{ contact, want string }{
		{"R001", "out-c-R001-2"},
		{"13800000001", "out-c-13800000001-2"},
		{"a.b_c-d", "out-c-a.b_c-d-2"},
		{"../x", "out-c-___x_"},
		{"张三", "out-c-______"},
		{"a/b", "out-c-a_b_"},
	} {
		got := callID("c", tc.contact, 2)
		if !strings.HasPrefix(got, tc.want) || strings.ContainsAny(got, "/\\ ") || strings.Contains(got, "..") {
			t.Errorf("callID(%q) = %q, want prefix %q and no path characters", tc.contact, got, tc.want)
		}
	}
	if callID("c", "a/b", 1) == callID("c", "a_b", 1) || callID("c", "a/b", 1) == callID("c", "a:b", 1) {
		t.Error("distinct contacts share a call id")
	}
}
