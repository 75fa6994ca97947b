package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/callctl"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/config"
	"github.com/hotlinecc/hotline/sip/uatest"
)

// The torture suite races the events that used to leave agents stuck or
// double-booked — a caller's BYE against the agent phone's 200 OK, a
// sign-out's CANCEL against the answer, two contacts answering at once,
// a hang-up during the agent-id announcement or right after a transfer, a
// caller vanishing without a BYE — many times, in random order and
// timing, on several lanes at once (each lane: an access number, a queue
// and an agent of its own). After every trial the engine's invariant
// checker must find nothing, every 200 OK a phone sent must have been
// ACKed (and BYEd when the engine did not keep it), and the lane's agent
// must be free again. HOTLINE_TORTURE_TRIALS and HOTLINE_TORTURE_SEED
// change the run; the seed is logged.

const tortureLanes = 3

// lane is one independent track of trials.
type lane struct {
	n      int
	number string // access number
	agent  string
	queue  string
	phone  *uatest.UA // the agent's phone
	phone2 *uatest.UA // a second contact of the same agent
	spare  string     // a colleague for transfers (no queue calls)
	spareP *uatest.UA
	trunk  *uatest.UA // callers
	rng    *rand.Rand
}

// startTorture runs the demo with one lane per queue: flow laneN answers
// 2002N, queues the caller in laneN (agent 200N), says the agent's id,
// and hangs up after the conversation. Wrap-up is short so trials follow
// each other quickly; the RTP timeout is one second.
func startTorture(t *testing.T) (*demo, []*lane) {
	t.Helper()
	flows := t.TempDir()
	src, err := filepath.Glob("../../../../testdata/flows/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range src {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(flows, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	extra := map[string]string{
		// The colleagues' queue (a second caller while a colleague talks).
		"spareq": "name: spareq\nlanguage: en\nstart: q\nnodes:\n  q:\n    type: queue\n    queue: spare\n    moh: moh\n    announce_agent: agent\n    next: done\n  done:\n    type: hangup\n    reason: done\n",
		// A flow that ends the call itself.
		"bye": "name: bye\nlanguage: en\nstart: done\nnodes:\n  done:\n    type: hangup\n    prompt: goodbye\n    reason: done\n",
		// A lookup, then the end.
		"lookup": "name: lookup\nlanguage: en\nstart: who\nnodes:\n  who:\n    type: lookup\n    by: caller\n    timeout: 300ms\n    default_tier: normal\n    next: done\n  done:\n    type: hangup\n    reason: done\n",
	}
	for name, flow := range extra {
		if err := os.WriteFile(filepath.Join(flows, name+".yaml"), []byte(flow), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= tortureLanes; i++ {
		flow := fmt.Sprintf("name: lane%[1]d\nlanguage: en\nstart: q\nnodes:\n  q:\n    type: queue\n    queue: lane%[1]d\n    moh: moh\n    announce_agent: agent\n    next: done\n  done:\n    type: hangup\n    reason: done\n", i)
		if err := os.WriteFile(filepath.Join(flows, fmt.Sprintf("lane%d.yaml", i)), []byte(flow), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d := startDemo(t, func(c *config.Config) {
		c.Flows = flows
		c.AccessNumbers["20020"], c.AccessNumbers["20029"], c.AccessNumbers["20028"] = "spareq", "bye", "lookup"
		c.SIP.RTPTimeout = config.Duration(time.Second)
		c.SIP.MinSessionExpires = config.Duration(2 * time.Second)
		c.ACD.WrapUp = config.Duration(200 * time.Millisecond)
		c.ACD.RingTimeout = config.Duration(5 * time.Second)
		c.Queues = append(c.Queues, config.Queue{Name: "spare", WrapUp: config.Duration(200 * time.Millisecond)})
		for i := 1; i <= tortureLanes; i++ {
			q := fmt.Sprintf("lane%d", i)
			c.AccessNumbers[fmt.Sprintf("2002%d", i)] = q
			c.Queues = append(c.Queues, config.Queue{Name: q, WrapUp: config.Duration(200 * time.Millisecond)})
			for _, id := range []string{fmt.Sprintf("200%d", i), fmt.Sprintf("210%d", i)} {
				skills := map[string]int{q: 1}
				if id[1] == '1' {
					skills = map[string]int{"spare": 1}
				}
				c.Agents = append(c.Agents, config.Agent{ID: id, Name: "Torture " + id, Password: "pass" + id, Role: "agent", Skills: skills})
			}
		}
	})
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("HOTLINE_TORTURE_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("torture seed %d (HOTLINE_TORTURE_SEED to repeat)", seed)
	var lanes []*lane
	for i := 1; i <= tortureLanes; i++ {
		l := &lane{n: i, number: fmt.Sprintf("2002%d", i), agent: fmt.Sprintf("200%d", i), queue: fmt.Sprintf("lane%d", i),
			spare: fmt.Sprintf("210%d", i), rng: rand.New(rand.NewPCG(seed, uint64(i)))}
		l.phone, l.phone2, l.spareP, l.trunk = uatest.New(t, d.e.SIPAddr()), uatest.New(t, d.e.SIPAddr()), uatest.New(t, d.e.SIPAddr()), uatest.New(t, d.e.SIPAddr())
		for _, reg := range []struct {
			ua   *uatest.UA
			user string
		}{{l.phone, l.agent}, {l.spareP, l.spare}} {
			if err := reg.ua.Register(reg.user, "pass"+reg.user, 3600); err != nil {
				t.Fatalf("register %s: %v", reg.user, err)
			}
		}
		d.waitAgent(t, l.agent, acd.Ready)
		d.waitAgent(t, l.spare, acd.Ready)
		lanes = append(lanes, l)
	}
	return d, lanes
}

// trialCtx bounds one trial.
func trialCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 20*time.Second)
}

// jitter sleeps 0–max, so that two events race in either order.
func (l *lane) jitter(max time.Duration) { time.Sleep(l.delay(max)) }

// delay draws a 0–max delay on the lane's goroutine (the generator is
// not for concurrent use), for a racing goroutine to sleep.
func (l *lane) delay(max time.Duration) time.Duration {
	return time.Duration(l.rng.Int64N(int64(max) + 1))
}

// call places a caller on the lane and waits for the agent's phone to ring.
func (l *lane) call(t *testing.T, phone *uatest.UA) (*uatest.Dialog, *uatest.Dialog) {
	t.Helper()
	c, err := l.trunk.Call(l.number, uatest.CallOptions{From: "1390000000" + strconv.Itoa(l.n)})
	if err != nil {
		t.Fatalf("lane %d: call: %v", l.n, err)
	}
	in, err := phone.NextInvite(10 * time.Second)
	if err != nil {
		t.Fatalf("lane %d: the agent's phone never rang: %v", l.n, err)
	}
	_ = in.Ring()
	return c, in
}

// settle waits until the trial's dialogs and the lane's agents are done
// and checks every invariant.
func (l *lane) settle(t *testing.T, d *demo, what string, kept map[*uatest.Dialog]bool, dialogs ...*uatest.Dialog) {
	t.Helper()
	ctx, cancel := trialCtx()
	defer cancel()
	for _, dl := range dialogs {
		if dl == nil || dl.Answers() == 0 {
			continue
		}
		if !dl.Acked(5 * time.Second) {
			t.Fatalf("lane %d %s: 200 OK of %s never ACKed", l.n, what, dl.CallID)
		}
		if !kept[dl] && !dl.Ended(8*time.Second) {
			t.Fatalf("lane %d %s: answered leg %s ACKed but never BYEd", l.n, what, dl.CallID)
		}
	}
	for _, id := range []string{l.agent, l.spare} {
		for {
			a, err := d.e.ACD().Agent(id)
			if err != nil || a.State == acd.Ready || a.State == acd.NotReady || a.State == acd.LoggedOut {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("lane %d %s: agent %s stuck %s on %q\n%s", l.n, what, id, a.State, a.CallID, views(d))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if v := d.e.ctl.CheckSettled(ctx, 3*time.Second); len(v) > 0 {
		t.Fatalf("lane %d %s: invariants broken: %v\n%s", l.n, what, v, views(d))
	}
	for _, leg := range d.e.SIP().Legs() {
		for _, dl := range dialogs {
			if dl != nil && leg.ID == dl.CallID && ctx.Err() != nil {
				t.Fatalf("lane %d %s: leg %s still up", l.n, what, leg.ID)
			}
		}
	}
}

func views(d *demo) string {
	return fmt.Sprintf("calls: %+v", d.e.ctl.Views())
}

// readyAgain puts a lane agent back to ready (after a sign-out or a
// ring-no-answer a trial may have caused).
func (l *lane) readyAgain(t *testing.T, d *demo, id string) {
	t.Helper()
	a, err := d.e.ACD().Agent(id)
	switch {
	case err != nil:
		p := acd.AgentProfile{ID: id, Skills: map[string]int{l.queue: 1}}
		if id == l.spare {
			p.Skills = map[string]int{"spare": 1}
		}
		if err := d.e.ACD().Login(p); err != nil {
			t.Fatalf("sign %s in again: %v", id, err)
		}
	case a.State == acd.NotReady:
		if err := d.e.ACD().SetReady(id); err != nil {
			t.Fatalf("%s ready again: %v", id, err)
		}
	}
	d.waitAgent(t, id, acd.Ready)
}

// The caller's BYE and the agent phone's 200 OK in the same instant.
func (l *lane) byeVsAnswer(t *testing.T, d *demo) {
	c, in := l.call(t, l.phone)
	var wg sync.WaitGroup
	wg.Add(2)
	d1, d2 := l.delay(2*time.Millisecond), l.delay(2*time.Millisecond)
	go func() { defer wg.Done(); time.Sleep(d1); _ = in.Answer() }()
	go func() { defer wg.Done(); time.Sleep(d2); c.SendBye() }()
	wg.Wait()
	l.settle(t, d, "bye vs 200", nil, in)
}

// A supervisor signs the agent out (CANCEL to the ringing phone) as the
// phone answers: either the agent got the call (the sign-out is refused)
// or the answer is ACKed and BYEd and the caller, alone in the lane's
// queue, leaves it.
func (l *lane) signOutVsAnswer(t *testing.T, d *demo) {
	c, in := l.call(t, l.phone)
	var wg sync.WaitGroup
	wg.Add(2)
	var signErr error
	d1, d2 := l.delay(2*time.Millisecond), l.delay(2*time.Millisecond)
	go func() { defer wg.Done(); time.Sleep(d1); _ = in.Answer() }()
	go func() { defer wg.Done(); time.Sleep(d2); signErr = d.e.ACD().ForceSignOut("9001", l.agent) }()
	wg.Wait()
	kept := map[*uatest.Dialog]bool{}
	if signErr != nil { // the agent had the call: the caller hangs up
		if !in.Acked(5 * time.Second) {
			t.Fatalf("lane %d: the kept answer was never ACKed", l.n)
		}
		c.SendBye()
		if !in.Byed(5 * time.Second) {
			t.Fatalf("lane %d: the agent's leg was not hung up after the caller left", l.n)
		}
	} else if !c.Byed(10 * time.Second) { // nobody left for the caller: the flow ends the call
		c.SendBye()
	}
	l.settle(t, d, "sign-out vs 200", kept, in)
	l.readyAgain(t, d, l.agent)
}

// Two contacts of the agent answer in the same instant: the engine keeps
// one, ACKs and BYEs the other; then one side hangs up.
func (l *lane) twoContacts(t *testing.T, d *demo) {
	if err := l.phone2.Register(l.agent, "pass"+l.agent, 3600); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.phone2.Register(l.agent, "pass"+l.agent, 0) }()
	c, err := l.trunk.Call(l.number, uatest.CallOptions{From: "1390000000" + strconv.Itoa(l.n)})
	if err != nil {
		t.Fatal(err)
	}
	a, err := l.phone.NextInvite(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.phone2.NextInvite(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, dl := range []*uatest.Dialog{a, b} {
		wg.Add(1)
		wait := l.delay(time.Millisecond)
		go func() { defer wg.Done(); time.Sleep(wait); _ = dl.Answer() }()
	}
	wg.Wait()
	// Each contact ends up cancelled before it answered, or answered and
	// ACKed; exactly one answer is kept, any other is BYEd.
	ctx, cancel := trialCtx()
	defer cancel()
	settled := func(dl *uatest.Dialog) bool {
		return (dl.Answers() == 0 && dl.Cancelled(0)) || (dl.Answers() > 0 && dl.Acked(0))
	}
	for !settled(a) || !settled(b) || (a.Answers() > 0 && b.Answers() > 0 && !a.Byed(0) && !b.Byed(0)) {
		if ctx.Err() != nil {
			t.Fatalf("lane %d: two contacts: answers %d/%d acked %v/%v byed %v/%v cancelled %v/%v", l.n,
				a.Answers(), b.Answers(), a.Acked(0), b.Acked(0), a.Byed(0), b.Byed(0), a.Cancelled(0), b.Cancelled(0))
		}
		time.Sleep(5 * time.Millisecond)
	}
	winner := a
	if a.Answers() == 0 || a.Byed(0) {
		winner = b
	}
	if winner.Answers() == 0 || winner.Byed(200*time.Millisecond) {
		t.Fatalf("lane %d: no answer kept (answers %d/%d, byed %v/%v)", l.n, a.Answers(), b.Answers(), a.Byed(0), b.Byed(0))
	}
	if l.rng.IntN(2) == 0 {
		c.SendBye()
	} else {
		_, _ = winner.Bye()
	}
	l.settle(t, d, "two contacts", nil, a, b)
}

// The desktop hangs up while the engine says the agent's id.
func (l *lane) hangupDuringAnnouncement(t *testing.T, d *demo) {
	c, in := l.call(t, l.phone)
	_ = in.Answer()
	ctx, cancel := trialCtx()
	defer cancel()
	v := d.view(t, ctx, "announcing", func(v callctl.View) bool { return v.Agent == l.agent && v.State == callctl.Announcing })
	l.jitter(300 * time.Millisecond)
	if err := d.e.ctl.Act(ctx, agentapi.CallAction{Op: agentapi.OpHangup, Agent: l.agent, Call: v.ID}); err != nil {
		t.Fatalf("lane %d: hang-up during the announcement refused: %v", l.n, err)
	}
	if !in.Byed(5 * time.Second) {
		t.Fatalf("lane %d: the agent's phone was not hung up", l.n)
	}
	d.waitAgent(t, l.agent, acd.Ready) // through wrap-up
	if !c.Byed(10 * time.Second) {
		c.SendBye()
	}
	l.settle(t, d, "hang-up during announcement", nil, in)
}

// transfer starts a blind transfer or a consultation of the lane agent's
// call to its colleague and waits for the colleague's phone to ring (the
// colleague reserved in the ACD); done delivers the action's answer.
func (l *lane) transfer(t *testing.T, ctx context.Context, d *demo, callID string, blind bool) (x *uatest.Dialog, done <-chan error) {
	t.Helper()
	op := agentapi.OpConsult
	if blind {
		op = agentapi.OpTransfer
	}
	res := make(chan error, 1)
	go func() {
		res <- d.e.ctl.Act(ctx, agentapi.CallAction{Op: op, Agent: l.agent, Call: callID, Target: &agentapi.Target{Kind: agentapi.TargetAgent, Value: l.spare}})
	}()
	x, err := l.spareP.NextInvite(10 * time.Second)
	if err != nil {
		t.Fatalf("lane %d: the colleague's phone never rang: %v", l.n, err)
	}
	if s, _ := d.e.ACD().Agent(l.spare); s.State != acd.Reserved {
		t.Fatalf("lane %d: colleague ringing for a transfer is %s in the ACD, want reserved", l.n, s.State)
	}
	return x, res
}

// handOver has the colleague answer (completing an attended transfer) and
// checks that the caller is with the colleague, who is talking on the
// call in the ACD, and that the transferring agent's phone was released.
func (l *lane) handOver(t *testing.T, ctx context.Context, d *demo, callID string, blind bool, in, x *uatest.Dialog, done <-chan error) {
	t.Helper()
	_ = x.Answer()
	if err := <-done; err != nil {
		t.Fatalf("lane %d: transfer (blind %v): %v", l.n, blind, err)
	}
	if !blind {
		if err := d.e.ctl.Act(ctx, agentapi.CallAction{Op: agentapi.OpCompleteTransfer, Agent: l.agent, Call: callID}); err != nil {
			t.Fatalf("lane %d: complete: %v", l.n, err)
		}
	}
	if !in.Byed(5 * time.Second) {
		t.Fatalf("lane %d: the transferring agent's phone was not released", l.n)
	}
	d.view(t, ctx, "caller with the colleague", func(cv callctl.View) bool {
		return cv.ID == callID && cv.Agent == l.spare && cv.State == callctl.Talking
	})
	if s, _ := d.e.ACD().Agent(l.spare); s.State != acd.Talking || s.CallID != callID {
		t.Fatalf("lane %d: colleague after the transfer: %s on %q, want talking on %s", l.n, s.State, s.CallID, callID)
	}
}

// Transfer (blind or attended) to the lane's colleague, then the caller or
// the colleague hangs up at once, or during the colleague's ringing.
func (l *lane) transferThenHangup(t *testing.T, d *demo) {
	c, in := l.call(t, l.phone)
	_ = in.Answer()
	ctx, cancel := trialCtx()
	defer cancel()
	v := d.bridged(t, ctx, l.agent)
	blind := l.rng.IntN(2) == 0
	x, done := l.transfer(t, ctx, d, v.ID, blind)
	if l.rng.IntN(4) == 0 { // the caller leaves while the colleague rings
		c.SendBye()
		<-done
		l.settle(t, d, "caller left while the colleague rang", nil, in, x)
		return
	}
	l.handOver(t, ctx, d, v.ID, blind, in, x, done)
	l.jitter(20 * time.Millisecond)
	if l.rng.IntN(2) == 0 {
		c.SendBye()
	} else {
		_, _ = x.Bye()
	}
	kept := map[*uatest.Dialog]bool{}
	l.settle(t, d, "transfer then hang-up", kept, in, x)
}

// The caller's phone vanishes mid-call: no BYE, no more RTP.
func (l *lane) callerVanishes(t *testing.T, d *demo) {
	c, in := l.call(t, l.phone)
	_ = in.Answer()
	ctx, cancel := trialCtx()
	defer cancel()
	c.Media.StartTone(2000)
	in.Media.StartTone(1000)
	d.bridged(t, ctx, l.agent)
	c.Media.Close() // gone: silent, and deaf
	if !in.Byed(8 * time.Second) {
		t.Fatalf("lane %d: the agent was never released from a vanished caller", l.n)
	}
	l.settle(t, d, "caller vanished", nil, in)
}

func TestTortureRaces(t *testing.T) {
	d, lanes := startTorture(t)
	trials := 210
	if s := os.Getenv("HOTLINE_TORTURE_TRIALS"); s != "" {
		trials, _ = strconv.Atoi(s)
	}
	kinds := []struct {
		name   string
		weight int
		run    func(*lane, *testing.T, *demo)
	}{
		{"bye vs 200", 6, (*lane).byeVsAnswer},
		{"sign-out vs 200", 4, (*lane).signOutVsAnswer},
		{"two contacts", 4, (*lane).twoContacts},
		{"hang-up during announcement", 3, (*lane).hangupDuringAnnouncement},
		{"transfer then hang-up", 3, (*lane).transferThenHangup},
		{"caller vanishes", 1, (*lane).callerVanishes},
	}
	if only := os.Getenv("HOTLINE_TORTURE_ONLY"); only != "" {
		for i := range kinds {
			if kinds[i].name != only {
				kinds[i].weight = 0
			}
		}
	}
	total := 0
	for _, k := range kinds {
		total += k.weight
	}
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for _, l := range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(fmt.Sprintf("lane%d", l.n), func(t *testing.T) {
				for i := 0; i < trials/len(lanes); i++ {
					pick := l.rng.IntN(total)
					for _, k := range kinds {
						if pick < k.weight {
							k.run(l, t, d)
							mu.Lock()
							counts[k.name]++
							mu.Unlock()
							break
						}
						pick -= k.weight
					}
				}
			})
		}()
	}
	wg.Wait()
	t.Logf("trials: %v", counts)
	// The end: no leg left, every 200 OK any phone sent was ACKed, every
	// call has exactly one record.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for d.e.SIP().ActiveLegs() != 0 {
		if ctx.Err() != nil {
			t.Fatalf("%d legs left after the trials: %+v", d.e.SIP().ActiveLegs(), d.e.SIP().Legs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	unacked := 0
	for _, l := range lanes {
		for _, ua := range []*uatest.UA{l.phone, l.phone2, l.spareP} {
			for _, dl := range ua.Dialogs() {
				if dl.Answers() > 0 && !dl.Acked(0) {
					unacked++
				}
			}
		}
	}
	if unacked > 0 {
		t.Fatalf("%d 200 OKs never ACKed", unacked)
	}
	if v := d.e.ctl.CheckSettled(ctx, time.Second); len(v) > 0 {
		t.Fatalf("invariants broken after the trials: %v", v)
	}
}
