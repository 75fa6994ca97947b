package engine

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/acd/redisstore/redistest"
	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/agentapi/apitest"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/callctl"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/config"
	"github.com/hotlinecc/hotline/ivr"
	"github.com/hotlinecc/hotline/sip/sipptest"
)

// clusterRTPBlock is the first of the four 100-port RTP ranges the cluster
// tests' engines use (two tests, two nodes each). startDemo gives every
// other engine of this process base..base+600 (base from the pid, as
// there); the cluster tests run in parallel with them, so their ranges lie
// next to that one, inside 21000-25600, and never overlap it.
func clusterRTPBlock() int {
	base := 21000 + 2*(os.Getpid()%2000)
	if base+602+400 <= 25600 {
		return base + 602
	}
	return base - 402 // base is above 24500 here
}

// startCluster starts nodes "a" and "b" of one centre: two engines sharing
// a fresh redis-server, each on its own RTP range (slot picks the pair),
// with a 1 s wrap-up so call records are written soon after the call.
func startCluster(t *testing.T, slot int) (a, b *demo) {
	t.Helper()
	srv := redistest.Start(t) // registered first: stopped after both engines
	prefix := fmt.Sprintf("e2e-%d-%d:", os.Getpid(), slot)
	node := func(name string, rtp int) func(*config.Config) {
		return func(c *config.Config) {
			c.Store = "redis"
			c.Redis.Addr = srv.Addr
			c.Redis.Prefix = prefix
			c.Redis.Node = name
			c.Redis.LeaseTTL = config.Duration(1500 * time.Millisecond)
			c.Redis.Timeout = config.Duration(time.Second)
			c.SIP.RTPPorts = strconv.Itoa(rtp) + "-" + strconv.Itoa(rtp+98)
			c.ACD.WrapUp = config.Duration(time.Second)
			for i := range c.Queues {
				c.Queues[i].WrapUp = config.Duration(time.Second)
			}
		}
	}
	lo := clusterRTPBlock() + slot*200
	a = startDemo(t, node("a", lo))
	b = startDemo(t, node("b", lo+100))
	return a, b
}

// bridgeEnd is how the IVR trace says the conversation with the agent ended.
func bridgeEnd(r *ivr.Result) string {
	for _, e := range r.Trace {
		if e.Event == ivr.EvBridgeEnd {
			return e.Detail["end"]
		}
	}
	return ""
}

// Agent 1001's phone and desktop are on node B; the diamond caller dials
// node A, which holds the call. B's desktop gets the offer with the CRM
// record and the IVR trace A collected, A rings and bridges 1001's phone,
// and the desktop's hang-up on B releases the call on A: the caller goes on
// to A's survey and A's record names 1001, while the agent wraps up on B.
func TestClusterDesktopOnOtherNodeHangsUpCallHeldThere(t *testing.T) {
	t.Parallel()
	a, b := startCluster(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	phone := b.agentPhone(t, "1001", sipptest.Agent{RingMs: 100}, 1) // waits for the BYE
	a.waitAgent(t, "1001", acd.Ready)                                // A routes to B's agent
	desk := b.desk(t, ctx, "1001")

	c := a.call(t, "13800000001", ctx) // Demo Diamond: straight to general, where 1001 has level 2
	offer, err := desk.WaitEvent(ctx, apitest.Is("call.offered", "1001", ""))
	if err != nil {
		t.Fatal(err)
	}
	if offer.Caller != "13800000001" || offer.Queue != "general" || offer.Tier != "diamond" {
		t.Fatalf("offer on B %+v", offer)
	}
	if offer.Call == nil || offer.Call.Customer["name"] != "Demo Diamond" || offer.Call.Trace == nil {
		t.Fatalf("B's offer lacks the customer record or IVR trace A collected: %+v", offer.Call)
	}
	callID := offer.CallID
	if _, err := desk.WaitEvent(ctx, apitest.Is("call.answered", "1001", callID)); err != nil {
		t.Fatal(err)
	}
	held := a.bridged(t, ctx, "1001")
	if held.ID != callID {
		t.Fatalf("A bridged call %s, B's desktop was offered %s", held.ID, callID)
	}
	if b.e.ctl.CallOf("1001") != "" {
		t.Fatal("B holds a call too: the call's media should stay on A")
	}

	// Hold and retrieve from B's desktop: A holds the caller (its media is
	// there), B — which owns the agent's state — moves the agent.
	for _, step := range []struct {
		req, event string
		state      acd.State
	}{{"hold", "call.held", acd.Held}, {"unhold", "call.retrieved", acd.Talking}} {
		if _, err := desk.Must(ctx, step.req, map[string]any{"call": callID}); err != nil {
			t.Fatalf("%s from B's desktop: %v", step.req, err)
		}
		if _, err := desk.WaitEvent(ctx, apitest.Is(step.event, "1001", callID)); err != nil {
			t.Fatalf("no %s on B after %s: %v", step.event, step.req, err)
		}
		b.waitAgent(t, "1001", step.state)
		a.view(t, ctx, "A's call held="+strconv.FormatBool(step.state == acd.Held), func(v callctl.View) bool {
			return v.ID == callID && v.Held == (step.state == acd.Held)
		})
	}

	if _, err := desk.Must(ctx, "hangup", map[string]any{"call": callID}); err != nil {
		t.Fatalf("hang-up from B's desktop: %v", err)
	}
	if code, err := phone.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("1001's phone did not get A's BYE: exit %d (%v)\n%s", code, err, phone.Output())
	}
	if _, err := desk.WaitEvent(ctx, func(e agentapi.Event) bool {
		return e.Event == "agent.state" && e.Agent == "1001" && strings.Contains(e.State, "wrap")
	}); err != nil {
		t.Fatalf("no wrap-up on B after the call: %v", err)
	}
	c.waitAudio(c.packets() + 25) // A's survey
	c.press('4')
	if r := c.finished(ctx); r.ExitCode != 0 {
		t.Fatalf("caller on A: exit %d\n%s", r.ExitCode, sipptest.Logs(r.Dir))
	}
	res := a.result(t, ctx)
	if res.Agent != "1001" || res.Queue != "general" || res.SurveyScore != 4 || bridgeEnd(res) != string(ivr.EndAgentHangup) {
		t.Fatalf("A's result: agent %q queue %q survey %d bridge end %q; trace %s",
			res.Agent, res.Queue, res.SurveyScore, bridgeEnd(res), traceString(res))
	}
	rec := a.record(t, callID)
	if rec.Node != "a" || rec.Disposition != cdr.Answered || rec.Agent != "1001" || rec.Customer.Name != "Demo Diamond" ||
		len(rec.Offers) != 1 || rec.Offers[0].Agent != "1001" || rec.TalkMS <= 0 {
		t.Fatalf("A's record %+v", rec)
	}
}

// Supervisor 9001 signs in on node B and listens to agent 1001, whose call
// node A holds: A rings the supervisor's phone (registered through B) and
// mixes the call there. Listening, the supervisor hears caller and agent
// and neither hears the supervisor; barging, both do.
func TestClusterSupervisorListensAndBargesAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b := startCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	agentEar, supEar := newEar(t), newEar(t)
	agentPort, supPort := sipptest.FreeUDPPort(t), sipptest.FreeUDPPort(t)
	agentProc := sipptest.Start(t, sipptest.Options{Scenario: sipptest.Render(t, sipptest.AgentTemplate, sipptest.Agent{RingMs: 100}), LocalPort: agentPort,
		Timeout: 60 * time.Second, Keys: map[string]string{"rtp_port": strconv.Itoa(agentEar.port())}})
	supProc := sipptest.Start(t, sipptest.Options{Scenario: sipptest.Render(t, sipptest.AgentTemplate, sipptest.Agent{RingMs: 100}), LocalPort: supPort,
		Timeout: 60 * time.Second, Keys: map[string]string{"rtp_port": strconv.Itoa(supEar.port())}})
	sipptest.RegisterPhone(t, b.e.SIPAddr(), "1001", "pass1001", agentPort, 300)
	sipptest.RegisterPhone(t, b.e.SIPAddr(), "9001", "pass9001", supPort, 300)
	b.waitAgent(t, "1001", acd.Ready)
	a.waitAgent(t, "1001", acd.Ready)
	desk := b.desk(t, ctx, "1001")

	c := a.call(t, "13800000001", ctx)
	cl := a.bridged(t, ctx, "1001")
	agentAddr := cl.AgentMedia

	sup := b.desk(t, ctx, "9001")
	// B's supervisor sees A's call among the centre's calls.
	r, err := sup.Must(ctx, "list_calls", nil)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Calls []agentapi.CallView `json:"calls"`
	}
	if err := r.Decode(&list); err != nil {
		t.Fatal(err)
	}
	seen := false
	for _, v := range list.Calls {
		if v.ID == cl.ID {
			seen = v.Agent == "1001" && v.Caller == "13800000001" && v.Queue == "general" && v.Customer["name"] == "Demo Diamond"
			if !seen {
				t.Fatalf("B's supervisor sees A's call as %+v", v)
			}
		}
	}
	if !seen {
		t.Fatalf("B's supervisor does not see A's call %s: %+v", cl.ID, list.Calls)
	}
	for _, tc := range []struct {
		mode           string
		callerHearsSup bool
		agentHearsSup  bool
	}{
		{"listen", false, false},
		{"barge", true, true},
	} {
		if _, err := sup.Must(ctx, "monitor", map[string]any{"agent": "1001", "mode": tc.mode}); err != nil {
			t.Fatalf("%s from B on A's call: %v\nsupervisor phone: %s", tc.mode, err, supProc.Output())
		}
		supAddr := a.view(t, ctx, tc.mode+" on A's call", func(v callctl.View) bool {
			return v.ID == cl.ID && string(v.Monitors["9001"]) == tc.mode && v.SupervisorMedia.IsValid()
		}).SupervisorMedia

		callerHeard, agentHeard, supHeard := threeTones(t, c, agentEar, supEar, agentAddr, supAddr)

		if goertzel(supHeard, 2000) < 1 || goertzel(supHeard, 1000) < 1 {
			t.Errorf("%s: the supervisor on B does not hear caller and agent of A's call", tc.mode)
		}
		if goertzel(callerHeard, 1000) < 1 || goertzel(agentHeard, 2000) < 1 {
			t.Errorf("%s: caller and agent no longer hear each other", tc.mode)
		}
		if got := goertzel(callerHeard, 3000) > 0.05*goertzel(callerHeard, 1000); got != tc.callerHearsSup {
			t.Errorf("%s: caller hears the supervisor = %v", tc.mode, got)
		}
		if got := goertzel(agentHeard, 3000) > 0.05*goertzel(agentHeard, 2000); got != tc.agentHearsSup {
			t.Errorf("%s: agent hears the supervisor = %v", tc.mode, got)
		}
	}
	if t.Failed() {
		t.Fatalf("agent phone: %s", agentProc.Output())
	}

	// The agent hangs up on B's desktop: A ends the conversation and the
	// supervisor's call with it; A's record keeps what the supervisor did.
	if _, err := desk.Must(ctx, "hangup", map[string]any{"call": cl.ID}); err != nil {
		t.Fatalf("hang-up from B's desktop: %v", err)
	}
	for _, p := range []*sipptest.Proc{agentProc, supProc} {
		if code, err := p.Wait(ctx); err != nil || code != 0 {
			t.Fatalf("phone not released by A: exit %d (%v)\n%s", code, err, p.Output())
		}
	}
	c.waitAudio(c.packets() + 25) // A's survey
	c.press('5')
	c.finished(ctx)
	rec := a.record(t, cl.ID)
	if rec.Agent != "1001" || rec.Disposition != cdr.Answered || rec.SurveyScore == nil || *rec.SurveyScore != 5 {
		t.Fatalf("A's record of the monitored call: %+v", rec)
	}
	var acts []string
	for _, a := range rec.SupervisorActions {
		acts = append(acts, a.Supervisor+" "+a.Action)
	}
	if strings.Join(acts, ",") != "9001 monitor listen,9001 monitor barge" {
		t.Fatalf("A's record lists supervisor actions %q, want the listen and the barge made from B", acts)
	}
	// The supervisor acted on B's desktop: B's audit log has both actions.
	want := []string{"9001 monitor 1001 listen", "9001 monitor 1001 barge"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got []string
		for r, err := range cdr.ReadLog[cdr.AuditRecord](b.e.records.dir, cdr.AuditPrefix, time.Time{}, time.Time{}, nil) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, strings.Join([]string{r.Supervisor, r.Action, r.Target, r.Detail}, " "))
		}
		if strings.Join(got, ",") == strings.Join(want, ",") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B's audit log %q, want %q", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
