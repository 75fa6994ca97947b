package campaign

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

const progressiveSpec = `name: c
mode: progressive
queue: general
list: list.csv
timezone: Asia/Shanghai
windows:
  default:
    mon-fri: "09:00-20:00"
  south:
    mon-fri: "11:00-20:00"
`

func ids(as []Attempt) string {
	var out []string
	for _, a := range as {
		out = append(out, a.Contact.ID+"@"+a.AgentID)
	}
	return strings.Join(out, " ")
}

func (f *fakeEngine) takeDials() []Attempt {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.dials
	f.dials = nil
	return out
}

func sortedIDs(as []Attempt) string {
	var out []string
	for _, a := range as {
		out = append(out, a.Contact.ID+"@"+a.AgentID)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// Progressive: one call per free agent, each with its agent; contacts in
// list order within open windows only; a region opens later.
func TestProgressiveOnePerFreeAgentInsideWindows(t *testing.T) {
	h := newHarness(t, progressiveSpec, map[string]string{"list.csv": contactsCSV(12, "north", "south")}, []string{"1001", "1002", "1003"}, harnessOpts{})
	h.step()
	if got := sortedIDs(h.eng.takeDials()); got != "c1@1001 c3@1002 c5@1003" {
		t.Errorf("first step dialled %s", got)
	}
	h.step()
	if got := sortedIDs(h.eng.takeDials()); got != "c11@1003 c7@1001 c9@1002" {
		t.Errorf("second step dialled %s", got)
	}
	h.step()
	if got := h.eng.takeDials(); len(got) != 0 {
		t.Errorf("south is closed until 11:00, dialled %s", ids(got))
	}
	p := h.progress()
	if p.Remaining != 6 || p.Finished != 6 || p.Reached != 6 || !p.InWindow || p.Windows["south"] || p.State != CampaignRunning {
		t.Errorf("progress at 10:30 %+v", p)
	}
	h.clock.Advance(time.Hour) // 11:00
	h.step()
	h.step()
	if got := sortedIDs(h.eng.takeDials()); got != "c10@1002 c12@1003 c2@1001 c4@1002 c6@1003 c8@1001" {
		t.Errorf("south dialled %s", got)
	}
	p = h.progress()
	if p.State != CampaignCompleted || p.Finished != 12 || p.Remaining != 0 || p.Attempts != 12 || p.Dialled != 12 || p.Outcomes[Completed] != 12 {
		t.Errorf("final progress %+v", p)
	}
	a := h.eng.dialsOf("c1")
	if len(a) != 0 {
		t.Errorf("dials were taken: %v", a)
	}
}

// The attempt carries what the engine needs.
func TestAttemptFields(t *testing.T) {
	spec := progressiveSpec + `caller_id: "4008001000"
apology: sorry-abandon
abandon_after: 3s
ring_timeout: 20s
tier: silver
script:
  - {id: renew, text: "Renew?", kind: yesno}
`
	h := newHarness(t, spec, map[string]string{"list.csv": "id,number,name,region,tier,plan\nc1,13800000001,Ann,north,gold,basic\n"}, []string{"1001"}, harnessOpts{})
	h.step()
	d := h.eng.takeDials()
	if len(d) != 1 {
		t.Fatalf("dials %v", d)
	}
	a := d[0]
	if a.ID != "out-c-c1-1" || a.Campaign != "c" || a.Queue != "general" || a.Tier != "gold" || a.Mode != Progressive ||
		a.AgentID != "1001" || a.AbandonAfter != 3*time.Second || a.Apology != "sorry-abandon" || a.RingTimeout != 20*time.Second ||
		a.CallerID != "4008001000" || a.Attempt != 1 || len(a.Script) != 1 || a.Contact.Fields["plan"] != "basic" || a.Contact.Name != "Ann" {
		t.Errorf("attempt %+v", a)
	}
}

// Never two attempts on one contact, never one agent twice: calls stay
// up across many steps while results trickle in; retries come back only
// after their call ended.
func TestNeverConcurrentAttempts(t *testing.T) {
	spec := progressiveSpec + "retry:\n  no_answer: {attempts: 3, after: 0s}\n  busy: {attempts: 3, after: 0s}\n"
	h := newHarness(t, spec, map[string]string{"list.csv": contactsCSV(4, "north")}, []string{"1001", "1002", "1003"}, harnessOpts{})
	g := newGate()
	h.eng.result = g.result
	h.r.step()
	g.wait(t, 3)
	for i := 0; i < 5; i++ {
		h.r.step() // agents are busy: nothing new, nothing twice
	}
	if h.eng.nDials() != 3 {
		t.Fatalf("dials while agents busy: %d", h.eng.nDials())
	}
	// One call ends no answer: its contact may be retried (after 0s), but
	// c4 (fewer attempts) comes first.
	calls := g.calls()
	g.end(t, calls[0], Result{Outcome: NoAnswer, Cause: "480"})
	waitFor(t, func() bool { return h.contact("c1").State == RetryWait })
	h.r.step()
	g.wait(t, 1)
	d := h.eng.takeDials()
	if last := d[len(d)-1]; last.Contact.ID != "c4" {
		t.Errorf("fewest attempts first: dialled %s", last.Contact.ID)
	}
	// Next free agent: c1 again (its retry is due), as attempt 2.
	g.end(t, "out-c-c2-1", Result{Outcome: Completed, AgentID: "1002"})
	waitFor(t, func() bool { return h.contact("c2").State == Done })
	h.r.step()
	g.wait(t, 1)
	d = h.eng.takeDials()
	if len(d) != 1 || d[0].Contact.ID != "c1" || d[0].Attempt != 2 || d[0].ID != "out-c-c1-2" {
		t.Errorf("retry dial %v", d)
	}
	for _, id := range g.calls() {
		g.end(t, id, Result{Outcome: Completed})
	}
	h.r.wg.Wait()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

// Ratio 2 with a clean history: two calls per free agent, one with the
// agent, one without; a customer who was abandoned is called back only
// with an agent.
func TestRatioOverDial(t *testing.T) {
	spec := strings.Replace(progressiveSpec, "list: list.csv", "list: list.csv\nratio: 2", 1)
	h := newHarness(t, spec, map[string]string{"list.csv": contactsCSV(8, "north")}, []string{"1001", "1002"}, harnessOpts{})
	h.r.mu.Lock()
	for i := 0; i < 100; i++ {
		h.r.pacer.add(h.clock.Now(), false)
	}
	h.r.byID["c3"].p.LastOutcome = Abandoned
	h.r.mu.Unlock()
	g := newGate()
	h.eng.result = g.result
	h.r.step()
	g.wait(t, 4)
	if got := sortedIDs(h.eng.takeDials()); got != "c1@1001 c2@1002 c4@ c5@" {
		t.Errorf("ratio 2 dialled %s (c3 was abandoned: agent-bound only)", got)
	}
	if p := h.progress(); p.Pacing.Ratio != 2 || p.InFlight != 4 {
		t.Errorf("progress %+v", p.Pacing)
	}
	// Unbound calls still out hold back further over-dial: an agent
	// freed gets its own call only.
	g.end(t, "out-c-c1-1", Result{Outcome: Completed, AgentID: "1001"})
	waitFor(t, func() bool { return h.contact("c1").State == Done })
	h.r.step()
	g.wait(t, 1)
	if got := sortedIDs(h.eng.takeDials()); got != "c3@1001" {
		t.Errorf("after one result dialled %s", got)
	}
	for _, id := range g.calls() {
		g.end(t, id, Result{Outcome: Completed})
	}
	h.r.wg.Wait()
}

// outbound_share: half of four signed-in agents at most on campaign calls.
func TestOutboundShare(t *testing.T) {
	spec := progressiveSpec + "outbound_share: 50%\n"
	h := newHarness(t, spec, map[string]string{"list.csv": contactsCSV(6, "north")}, []string{"1001", "1002", "1003", "1004"}, harnessOpts{})
	g := newGate()
	h.eng.result = g.result
	h.r.step()
	g.wait(t, 2)
	h.r.step()
	if got := sortedIDs(h.eng.takeDials()); got != "c1@1001 c2@1002" {
		t.Errorf("share 50%% of 4 dialled %s", got)
	}
	g.end(t, "out-c-c1-1", Result{Outcome: Busy, Cause: "486"})
	waitFor(t, func() bool { return h.contact("c1").State == RetryWait })
	h.r.step()
	g.wait(t, 1)
	if got := sortedIDs(h.eng.takeDials()); got != "c3@1001" {
		t.Errorf("after one ended dialled %s", got)
	}
	// Fewer agents signed in: the share shrinks with them.
	h.eng.setSigned("1001", "1002")
	g.end(t, "out-c-c2-1", Result{Outcome: Completed})
	waitFor(t, func() bool { return h.contact("c2").State == Done })
	h.r.step()
	if n := len(h.eng.takeDials()); n != 0 {
		t.Errorf("share of 2 agents is 1, in use 1: dialled %d", n)
	}
	for _, id := range g.calls() {
		g.end(t, id, Result{Outcome: Completed})
	}
	h.r.wg.Wait()
}

// Contacts on the do-not-call list are marked, never dialled, and shown;
// an agent's DNC mark and the manager's AddDNC reach every campaign.
func TestDoNotCall(t *testing.T) {
	files := map[string]string{"list.csv": contactsCSV(6, "north"), "dnc.txt": "13800000002\n"}
	h := newHarness(t, progressiveSpec+"dnc: dnc.txt\n", files, []string{"1001"}, harnessOpts{})
	p := h.progress()
	if p.DNC != 1 || p.Finished != 1 || p.Final[DNC] != 1 || h.r.ImportReport().DNC != 1 {
		t.Errorf("after load %+v", p)
	}
	// A second campaign of the same manager shares run-time marks.
	s2, err := ParseSpec("two.yaml", []byte(strings.Replace(progressiveSpec, "name: c", "name: two", 1)), h.spec.List[:len(h.spec.List)-len("list.csv")])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.Add(t.Context(), s2); err != nil {
		t.Fatal(err)
	}
	two, _ := h.m.Campaign("two")
	h.eng.result = func(_ context.Context, a Attempt) Result {
		return Result{Outcome: Completed, AgentID: a.AgentID, DNC: a.Contact.ID == "c1"}
	}
	h.step() // c1: the customer asks not to be called again
	if c := h.contact("c1"); c.State != Done || !c.DNC || c.LastOutcome != Completed {
		t.Errorf("c1 %+v", c)
	}
	if err := h.m.AddDNC("+86 138 0000 0004"); err != nil {
		t.Fatal(err)
	}
	if err := h.m.AddDNC("12x"); err == nil {
		t.Error("a bad number is refused")
	}
	for i := 0; i < 6; i++ {
		h.step()
	}
	for _, id := range []string{"c1", "c2", "c4"} {
		if n := len(h.eng.dialsOf(id)); id != "c1" && n != 0 || id == "c1" && n != 1 {
			t.Errorf("%s dialled %d times", id, n)
		}
	}
	p = h.progress()
	if p.DNC != 3 || p.Finished != 6 || p.State != CampaignCompleted {
		t.Errorf("final %+v", p)
	}
	// The other campaign (never started, no DNC file) has both run-time
	// numbers marked.
	pt := two.Progress()
	if pt.DNC != 2 || pt.Final[DNC] != 2 || pt.Finished != 2 {
		t.Errorf("second campaign %+v", pt)
	}
}

// An attempt the engine could not place (no agent) does not count and
// the contact comes back.
func TestNoAgentDoesNotCount(t *testing.T) {
	h := newHarness(t, progressiveSpec, map[string]string{"list.csv": contactsCSV(1, "north")}, []string{"1001"}, harnessOpts{})
	n := 0
	h.eng.result = func(_ context.Context, a Attempt) Result {
		n++
		if n == 1 {
			return Result{Outcome: NoAgent, Cause: "agent took an inbound call"}
		}
		return Result{Outcome: Completed, AgentID: a.AgentID}
	}
	h.step()
	if c := h.contact("c1"); c.State != Pending || c.Attempts != 0 || len(c.History) != 1 || c.History[0].Outcome != NoAgent {
		t.Errorf("after no agent %+v", c)
	}
	if p := h.progress(); p.Attempts != 0 || p.Dialled != 0 || p.Outcomes[NoAgent] != 1 {
		t.Errorf("progress %+v", p)
	}
	h.step()
	d := h.eng.dialsOf("c1")
	if len(d) != 2 || d[1].Attempt != 1 || d[1].ID != "out-c-c1-2" {
		t.Errorf("dials %v", d)
	}
	if c := h.contact("c1"); c.State != Done || c.Attempts != 1 {
		t.Errorf("final %+v", c)
	}
}

// Retries by outcome: busy three times finishes the contact; the waits
// come from the rules; an unknown outcome counts as failed.
func TestRetryByOutcome(t *testing.T) {
	h := newHarness(t, progressiveSpec, map[string]string{"list.csv": contactsCSV(2, "north")}, []string{"1001"}, harnessOpts{})
	h.eng.result = func(_ context.Context, a Attempt) Result {
		if a.Contact.ID == "c2" {
			return Result{Outcome: "exploded"}
		}
		return Result{Outcome: Busy, Cause: "486"}
	}
	h.step()
	c := h.contact("c1")
	if c.State != RetryWait || !c.NextAt.Equal(h.clock.Now().Add(15*time.Minute)) {
		t.Errorf("after busy %+v", c)
	}
	h.step() // c2
	if c := h.contact("c2"); c.LastOutcome != Failed || !strings.Contains(c.LastCause, `"exploded"`) || c.State != RetryWait {
		t.Errorf("unknown outcome %+v", c)
	}
	h.step()
	if len(h.eng.dialsOf("c1")) != 1 {
		t.Error("c1 redialled before its retry time")
	}
	for i := 0; i < 2; i++ {
		h.clock.Advance(15 * time.Minute)
		h.step()
	}
	c = h.contact("c1")
	if c.State != Done || c.Attempts != 3 || c.Counts[Busy] != 3 || c.LastOutcome != Busy {
		t.Errorf("after three busy %+v", c)
	}
	if p := h.progress(); p.Final[Busy] != 1 {
		t.Errorf("final outcomes %v", p.Final)
	}
}

// skip is the agent's click on skip: the desktop drops the preview.
func (h *harness) skip(agent, campaign, contact string) {
	h.t.Helper()
	if err := h.m.SkipPreview(agent, campaign, contact); err != nil {
		h.t.Fatal(err)
	}
	h.eng.mu.Lock()
	delete(h.eng.previews, agent)
	h.eng.mu.Unlock()
}

const previewSpec = `name: p
mode: preview
queue: general
list: list.csv
timezone: Asia/Shanghai
windows:
  default:
    mon-fri: "09:00-20:00"
script:
  - {id: renew, text: "Renew?", kind: yesno}
`

func (f *fakeEngine) previewOf(agent string) (PreviewOffer, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.previews[agent]
	return p, ok
}

func (f *fakeEngine) takeWithdrawn() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.withdrawn
	f.withdrawn = nil
	slices.Sort(out)
	return out
}

func TestPreviewDialAndSkip(t *testing.T) {
	h := newHarness(t, previewSpec, map[string]string{"list.csv": contactsCSV(6, "north")}, []string{"1001", "1002"}, harnessOpts{})
	h.step()
	h.step() // previewing agents are not offered twice
	if got := strings.Join(h.eng.offered, " "); got != "1001/c1 1002/c2" {
		t.Fatalf("offers %s", got)
	}
	if p, _ := h.eng.previewOf("1001"); p.Campaign != "p" || p.Attempt != 1 || len(p.Script) != 1 || p.Contact.Number != "13800000001" {
		t.Errorf("offer %+v", p)
	}
	if p := h.progress(); p.Previewing != 2 || p.Dialled != 0 {
		t.Errorf("progress %+v", p)
	}
	if err := h.m.DialPreview("1002", "p", "c1"); !errors.Is(err, ErrNotOffered) {
		t.Errorf("another agent's preview: %v", err)
	}
	if err := h.m.DialPreview("1001", "p", "nope"); !errors.Is(err, ErrUnknownContact) {
		t.Errorf("unknown contact: %v", err)
	}
	if err := h.m.DialPreview("1001", "nope", "c1"); !errors.Is(err, ErrUnknownCampaign) {
		t.Errorf("unknown campaign: %v", err)
	}
	h.eng.result = func(_ context.Context, a Attempt) Result {
		return Result{Outcome: Completed, AgentID: a.AgentID, Answered: h.clock.Now(), Talk: 90 * time.Second, WrapUp: "renewed",
			Answers: map[string]string{"renew": "yes"}}
	}
	if err := h.m.DialPreview("1001", "p", "c1"); err != nil {
		t.Fatal(err)
	}
	h.r.wg.Wait()
	if d := h.eng.dialsOf("c1"); len(d) != 1 || d[0].AgentID != "1001" || d[0].Mode != Preview {
		t.Errorf("preview dial %v", d)
	}
	if c := h.contact("c1"); c.State != Done || c.History[0].Answers["renew"] != "yes" || c.History[0].WrapUp != "renewed" {
		t.Errorf("c1 %+v", c)
	}
	if err := h.m.DialPreview("1001", "p", "c1"); !errors.Is(err, ErrNotOffered) {
		t.Errorf("second dial of a done contact: %v", err)
	}
	h.skip("1002", "p", "c2")
	if c := h.contact("c2"); c.State != RetryWait || c.Attempts != 0 || c.Counts[Skipped] != 1 || !c.NextAt.Equal(h.clock.Now().Add(30*time.Minute)) {
		t.Errorf("skipped c2 %+v", c)
	}
	h.step()
	if got := strings.Join(h.eng.offered[2:], " "); got != "1001/c3 1002/c4" {
		t.Errorf("next offers %s", got)
	}
	// After 20:00 a click on dial is refused and the preview withdrawn.
	h.clock.Advance(10 * time.Hour)
	if err := h.m.DialPreview("1001", "p", "c3"); !errors.Is(err, ErrOutsideWindow) {
		t.Errorf("dial after hours: %v", err)
	}
	if got := h.eng.takeWithdrawn(); strings.Join(got, " ") != "1001/c3" {
		t.Errorf("withdrawn %v", got)
	}
	if c := h.contact("c3"); c.State != Pending || c.Attempts != 0 {
		t.Errorf("c3 %+v", c)
	}
	if len(h.eng.dialsOf("c3")) != 0 {
		t.Error("c3 dialled after hours")
	}
	h.step()
	if len(h.eng.offered) != 4 {
		t.Errorf("offers after hours: %v", h.eng.offered[4:])
	}
}

// Earlier attempts travel with a preview.
func TestPreviewShowsPreviousAttempts(t *testing.T) {
	h := newHarness(t, previewSpec+"retry:\n  no_answer: {attempts: 3, after: 0s}\n", map[string]string{"list.csv": contactsCSV(1, "north")}, []string{"1001"}, harnessOpts{})
	h.eng.result = func(_ context.Context, a Attempt) Result {
		return Result{Outcome: NoAnswer, Cause: "480", AgentID: a.AgentID}
	}
	h.step()
	if err := h.m.DialPreview("1001", "p", "c1"); err != nil {
		t.Fatal(err)
	}
	h.r.wg.Wait()
	h.step()
	p, ok := h.eng.previewOf("1001")
	if !ok || p.Attempt != 2 || len(p.Previous) != 1 || p.Previous[0].Outcome != NoAnswer || p.Previous[0].Cause != "480" {
		t.Errorf("second offer %+v", p)
	}
}

func TestPauseStopResume(t *testing.T) {
	h := newHarness(t, progressiveSpec, map[string]string{"list.csv": contactsCSV(6, "north")}, []string{"1001", "1002"}, harnessOpts{})
	g := newGate()
	h.eng.result = g.result
	h.r.step()
	g.wait(t, 2)
	if err := h.m.Pause("c"); err != nil {
		t.Fatal(err)
	}
	// Calls up go on; their results are recorded; nothing new is dialled.
	for _, id := range g.calls() {
		g.end(t, id, Result{Outcome: Completed})
	}
	h.r.wg.Wait()
	h.r.step()
	if p := h.progress(); p.State != CampaignPaused || p.Finished != 2 || h.eng.nDials() != 2 {
		t.Errorf("paused: %+v, dials %d", p, h.eng.nDials())
	}
	if err := h.m.Start("c"); err != nil {
		t.Fatal(err)
	}
	h.r.step()
	g.wait(t, 2)
	if err := h.m.Stop("c"); err != nil {
		t.Fatal(err)
	}
	h.r.step()
	if h.eng.nDials() != 4 {
		t.Errorf("stopped: dials %d", h.eng.nDials())
	}
	for _, id := range g.calls() {
		g.end(t, id, Result{Outcome: Completed})
	}
	h.r.wg.Wait()
	if p := h.progress(); p.State != CampaignStopped || p.Finished != 4 {
		t.Errorf("stopped: %+v", p)
	}
	if err := h.m.Start("c"); err != nil {
		t.Fatal(err)
	}
	h.eng.result = nil
	h.step()
	if p := h.progress(); p.State != CampaignCompleted {
		t.Errorf("after resume %+v", p)
	}
	if err := h.m.Start("c"); !errors.Is(err, ErrCompleted) {
		t.Errorf("start completed: %v", err)
	}
	if err := h.m.Pause("nope"); !errors.Is(err, ErrUnknownCampaign) {
		t.Errorf("pause unknown: %v", err)
	}
}

// Preview mode: pause leaves previews (the agent may still dial), stop
// withdraws them; a signed-out or busy agent loses the preview, and so
// does one who lets it wait past preview_timeout.
func TestPreviewPauseStopWithdraw(t *testing.T) {
	h := newHarness(t, previewSpec+"preview_timeout: 2m\n", map[string]string{"list.csv": contactsCSV(8, "north")}, []string{"1001", "1002", "1003"}, harnessOpts{})
	h.step()
	if err := h.m.Pause("p"); err != nil {
		t.Fatal(err)
	}
	h.step()
	if len(h.eng.offered) != 3 || len(h.eng.takeWithdrawn()) != 0 {
		t.Errorf("pause: offers %v", h.eng.offered)
	}
	if err := h.m.DialPreview("1001", "p", "c1"); err != nil {
		t.Errorf("dial while paused: %v", err)
	}
	h.r.wg.Wait()
	if err := h.m.Stop("p"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(h.eng.takeWithdrawn(), " "); got != "1002/c2 1003/c3" {
		t.Errorf("stop withdrew %s", got)
	}
	if p := h.progress(); p.Previewing != 0 || p.Remaining != 7 {
		t.Errorf("after stop %+v", p)
	}
	if err := h.m.SkipPreview("1002", "p", "c2"); !errors.Is(err, ErrNotOffered) {
		t.Errorf("skip a withdrawn preview: %v", err)
	}
	h.m.Start("p")
	h.step()
	if got := strings.Join(h.eng.offered[3:], " "); got != "1001/c2 1002/c3 1003/c4" {
		t.Errorf("offers after restart %s", got)
	}
	// 1002 takes an inbound call; 1003 signs out.
	h.m.AgentUnavailable("1002")
	h.eng.setSigned("1001", "1002")
	h.step()
	if got := strings.Join(h.eng.takeWithdrawn(), " "); got != "1002/c3 1003/c4" {
		t.Errorf("withdrawn %s", got)
	}
	// 1002 is free again at once here: it gets the first pending contact.
	if got := strings.Join(h.eng.offered[6:], " "); got != "1002/c3" {
		t.Errorf("re-offered %s", got)
	}
	h.clock.Advance(2 * time.Minute)
	h.r.step()
	if got := strings.Join(h.eng.takeWithdrawn(), " "); got != "1001/c2 1002/c3" {
		t.Errorf("timed out %s", got)
	}
	for _, id := range []string{"c2", "c3", "c4"} {
		if c := h.contact(id); c.Attempts != 0 || len(c.History) != 0 {
			t.Errorf("withdrawn %s counted: %+v", id, c)
		}
	}
}

// A desktop that cannot show the preview gives the contact back.
func TestPreviewError(t *testing.T) {
	h := newHarness(t, previewSpec, map[string]string{"list.csv": contactsCSV(2, "north")}, []string{"1001"}, harnessOpts{})
	h.eng.previewErr = errors.New("desktop gone")
	h.step()
	if p := h.progress(); p.Previewing != 0 || p.Remaining != 2 {
		t.Errorf("%+v", p)
	}
	h.eng.previewErr = nil
	h.step()
	if got := strings.Join(h.eng.offered, " "); got != "1001/c1" {
		t.Errorf("offers %s", got)
	}
}

// Two campaigns on the same agents never hold one agent twice.
func TestCampaignsShareAgents(t *testing.T) {
	h := newHarness(t, previewSpec, map[string]string{"list.csv": contactsCSV(4, "north")}, []string{"1001", "1002"}, harnessOpts{})
	dir := h.spec.List[:len(h.spec.List)-len("list.csv")]
	s2, err := ParseSpec("q.yaml", []byte(strings.Replace(progressiveSpec, "name: c", "name: q", 1)), dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.Add(t.Context(), s2); err != nil {
		t.Fatal(err)
	}
	q, _ := h.m.Campaign("q")
	q.Start()
	q.mu.Lock()
	q.ctx = h.ctx
	q.mu.Unlock()
	g := newGate()
	h.eng.result = g.result
	h.r.step() // p previews for 1001 and 1002
	q.step()   // nobody left for q
	if h.eng.nDials() != 0 || len(h.eng.offered) != 2 {
		t.Fatalf("dials %d offers %v", h.eng.nDials(), h.eng.offered)
	}
	h.skip("1001", "p", "c1")
	q.step() // 1001 is free for q now
	g.wait(t, 1)
	h.r.step() // and not for p
	if got := ids(h.eng.takeDials()); got != "c1@1001" || len(h.eng.offered) != 2 {
		t.Errorf("q dialled %s, offers %v", got, h.eng.offered)
	}
	for _, id := range g.calls() {
		g.end(t, id, Result{Outcome: Completed})
	}
	q.wg.Wait()
}

// Events: every change reaches the listener with a growing sequence, and
// the last one says completed.
func TestProgressEvents(t *testing.T) {
	h := newHarness(t, progressiveSpec, map[string]string{"list.csv": contactsCSV(3, "north")}, []string{"1001"}, harnessOpts{})
	for i := 0; i < 4; i++ {
		h.step()
	}
	h.step() // nothing changes: no event
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.events) < 4 {
		t.Fatalf("events %d", len(h.events))
	}
	var last uint64
	for _, e := range h.events {
		if e.Seq <= last {
			t.Errorf("sequence %d after %d", e.Seq, last)
		}
		last = e.Seq
	}
	if e := h.events[len(h.events)-1]; e.State != CampaignCompleted || e.Finished != 3 {
		t.Errorf("last event %+v", e)
	}
	n := len(h.events)
	h.mu.Unlock()
	h.step()
	h.mu.Lock()
	if len(h.events) != n {
		t.Errorf("an idle step sent %d events", len(h.events)-n)
	}
}

// A store that cannot save pauses the campaign before anything is dialled.
type failingStore struct {
	MemoryStore
	fail bool
}

func (s *failingStore) Save(ctx context.Context, c string, b Batch) error {
	if s.fail {
		return errors.New("disk full")
	}
	return s.MemoryStore.Save(ctx, c, b)
}

func TestStoreFailurePauses(t *testing.T) {
	st := &failingStore{MemoryStore: *NewMemoryStore()}
	h := newHarness(t, progressiveSpec+"enabled: true\n", map[string]string{"list.csv": contactsCSV(2, "north")}, []string{"1001"}, harnessOpts{store: st})
	st.fail = true
	h.step()
	if n := h.eng.nDials(); n != 0 {
		t.Errorf("dialled %d with no way to remember it", n)
	}
	p := h.progress()
	if p.State != CampaignPaused || !strings.Contains(p.Error, "disk full") || p.Attempts != 0 || p.Remaining != 2 {
		t.Errorf("%+v", p)
	}
	st.fail = false
	if err := h.m.Start("c"); err != nil {
		t.Fatal(err)
	}
	h.step()
	h.step()
	if p := h.progress(); p.State != CampaignCompleted || p.Error != "" {
		t.Errorf("after recovery %+v", p)
	}
}

// The real loop under Manager.Run, many goroutines, random outcomes: the
// fake engine's checks (one attempt per contact, one call per agent,
// windows, DNC) hold, and the campaign completes.
func TestManagerRunStress(t *testing.T) {
	files := map[string]string{"list.csv": contactsCSV(60, "north", "south"), "dnc.txt": "13800000007\n13800000020\n"}
	spec := strings.Replace(progressiveSpec, `    mon-fri: "11:00-20:00"`, `    mon-fri: "09:00-20:00"`, 1) +
		"enabled: true\nmax_abandon_rate: 90%\ndnc: dnc.txt\nretry:\n  no_answer: {attempts: 2, after: 0s}\n  busy: {attempts: 2, after: 0s}\n  abandoned: {attempts: 2, after: 0s}\n  failed: {attempts: 2, after: 0s}\n"
	h := newHarness(t, spec, files, []string{"1001", "1002", "1003", "1004", "1005"}, harnessOpts{})
	h.r.mu.Lock()
	h.r.ctx = nil // Run attaches it
	h.r.mu.Unlock()
	outcomes := []Outcome{Completed, NoAnswer, Busy, NoAgent, Failed, Abandoned, Completed}
	h.eng.result = func(ctx context.Context, a Attempt) Result {
		var sum int
		for _, c := range a.ID {
			sum += int(c)
		}
		time.Sleep(time.Duration(sum%3) * time.Millisecond)
		o := outcomes[sum%len(outcomes)]
		return Result{Outcome: o, AgentID: a.AgentID, DNC: a.Contact.ID == "c33"}
	}
	done := make(chan struct{})
	h.m.onProgress = func(p Progress) {
		if p.State == CampaignCompleted {
			select {
			case <-done:
			default:
				close(done)
			}
		}
	}
	h.m.tick = time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error)
	go func() { ran <- h.m.Run(ctx) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Error("campaign did not complete")
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	p := h.progress()
	if p.Finished != 60 || p.DNC != 3 {
		t.Errorf("%+v", p)
	}
	for _, id := range []string{"c7", "c20"} {
		if len(h.eng.dialsOf(id)) != 0 {
			t.Errorf("DNC contact %s dialled", id)
		}
	}
	if n := len(h.eng.dialsOf("c33")); n != 1 {
		t.Errorf("c33 asked for DNC at its first call, dialled %d times", n)
	}
}
