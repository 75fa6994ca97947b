package engine

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/config"
	"github.com/hotlinecc/hotline/sip/sipptest"
)

// callbackDemo is the demo with the callback offered after 1 s in queue
// (60 s in the demo), short wrap-ups, callbacks retried after 2 s, and
// the trunk's outbound side on a port where SIPp plays the customers.
// Routing is first come, first served, so that a caller's place is its
// order of service (under the demo's gap policies a caller past its
// tier's threshold may wait behind one who can still be saved; the
// callback keeps the enqueue time that ordering uses, as acd's tests show).
func callbackDemo(t *testing.T, records string, customerPort int) *demo {
	t.Helper()
	src, err := os.ReadFile("../../../../testdata/flows/main.yaml")
	if err != nil {
		t.Fatal(err)
	}
	flows := t.TempDir()
	main := strings.ReplaceAll(string(src), "callback_after: 60s", "callback_after: 1s")
	if err := os.WriteFile(filepath.Join(flows, "main.yaml"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	return startDemo(t, func(c *config.Config) {
		c.Flows = flows
		c.Records = records
		c.ACD.Policy = "fifo"
		c.Trunks[0].Outbound = "127.0.0.1:" + strconv.Itoa(customerPort)
		c.ACD.WrapUp = config.Duration(time.Second)
		for i := range c.Queues {
			c.Queues[i].WrapUp = config.Duration(time.Second)
			c.Queues[i].Callback = config.QueueCallback{Attempts: 3, Retry: config.Duration(2 * time.Second), Ring: config.Duration(3 * time.Second)}
		}
	})
}

// customer is a SIPp UAS on the trunk's outbound port: the customer a
// callback calls.
func customer(t *testing.T, port int, a sipptest.Agent, calls int) *sipptest.Proc {
	t.Helper()
	return sipptest.Start(t, sipptest.Options{
		Scenario: sipptest.Render(t, sipptest.AgentTemplate, a), LocalPort: port, Calls: calls, Timeout: 60 * time.Second,
	})
}

// toQueue takes a caller from the menu to the general queue.
func toQueue(c *caller) {
	c.waitAudio(greetingFrames + 25)
	c.press('0')
}

// A caller third in line asks for a callback and hangs up; a caller who
// arrives later waits behind the callback. The first try finds the
// customer not answering; the second, 2 s later, reaches them: the agent
// was rung first, then the customer, who heard "connecting" and talked to
// the agent. The records tell the story: the waiting call's record says
// callback_requested, the callback's record counts from the caller's
// original arrival, with one failed try, answered before the later caller.
func TestCallbackKeepsPlaceAndRetries(t *testing.T) {
	t.Parallel()
	custPort := sipptest.FreeUDPPort(t)
	d := callbackDemo(t, t.TempDir(), custPort)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	sub := d.e.ACD().Bus().Subscribe("test", 512)
	// The agent talks 5 s, longer than the customer rings (3 s).
	agent := d.agentPhone(t, "1003", sipptest.Agent{RingMs: 100, TalkMs: 5000}, 5)
	if err := d.e.ACD().SetNotReady("1003", "meeting"); err != nil {
		t.Fatal(err)
	}

	first := d.call(t, "13911110001", ctx)
	toQueue(first)
	second := d.call(t, "13911110002", ctx)
	toQueue(second)
	third := d.call(t, "13911110003", ctx)
	toQueue(third)
	waitQueued(t, ctx, sub, 3)
	time.Sleep(2 * time.Second) // the offer comes after 1 s in queue
	third.press('9')
	time.Sleep(time.Second) // "we will call you back at 1 3 9 …; press 1 if right"
	third.press('1')
	if r := third.finished(ctx); r.ExitCode != 0 {
		t.Fatalf("the caller who asked for a callback: sipp exit %d\n%s", r.ExitCode, sipptest.Logs(r.Dir))
	}
	later := d.call(t, "13911110004", ctx)
	toQueue(later)
	waitQueued(t, ctx, sub, 1)

	// The callback holds the third place, ahead of the later caller.
	var cbID string
	for _, c := range d.e.ACD().Calls() {
		if c.Call.Callback != "" {
			cbID = c.Call.ID
			if c.Call.Callback != "13911110003" || c.Call.Queue != "general" {
				t.Fatalf("callback %+v", c.Call)
			}
		}
	}
	if cbID == "" {
		t.Fatalf("no callback in the ACD: %+v", d.e.ACD().Calls())
	}
	noAnswer := customer(t, custPort, sipptest.Agent{NoAnswer: true}, 1)

	if err := d.e.ACD().SetReady("1003"); err != nil {
		t.Fatal(err)
	}
	// The first try rings the customer, who does not answer.
	if code, err := noAnswer.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("customer (no answer): exit %d (%v)\n%s", code, err, noAnswer.Output())
	}
	answers := customer(t, custPort, sipptest.Agent{RingMs: 200}, 1)
	if code, err := answers.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("customer (answers): exit %d (%v)\n%s", code, err, answers.Output())
	}
	for _, c := range []*caller{first, second, later} {
		if r := c.finished(ctx); r.ExitCode != 0 {
			t.Fatalf("caller %s: sipp exit %d\n%s", c.number, r.ExitCode, sipptest.Logs(r.Dir))
		}
	}
	// (The agent phone's script counts the first try as a failed call:
	// the engine hung it up when the customer did not answer.)
	_ = agent

	cb := d.record(t, cbID)
	asked := d.record(t, strings.TrimSuffix(cbID, "-cb"))
	if asked.Disposition != cdr.CallbackRequested || asked.Caller != "13911110003" {
		t.Fatalf("the waiting call's record: %s %+v", asked.Disposition, asked)
	}
	if cb.Direction != "callback" || cb.Disposition != cdr.Answered || cb.Agent != "1003" || cb.Callback == nil ||
		cb.Callback.Number != "13911110003" || cb.Callback.Attempts != 1 || cb.Queue != "general" {
		t.Fatalf("callback record %+v (callback %+v)", cb, cb.Callback)
	}
	if cb.Times.Enqueued == nil || asked.Times.Enqueued == nil || cb.Times.Enqueued.Sub(*asked.Times.Enqueued).Abs() > time.Millisecond {
		t.Fatalf("the callback did not keep the caller's arrival: %v vs %v", cb.Times.Enqueued, asked.Times.Enqueued)
	}
	if cb.TalkMS <= 0 || len(cb.Offers) != 2 || cb.Offers[0].Outcome != cdr.OfferCustomerUnreached || cb.Offers[1].Outcome != cdr.OfferAnswered {
		t.Fatalf("callback offers %+v talk %d", cb.Offers, cb.TalkMS)
	}
	// Served in place: its first try came before the caller who arrived
	// later was offered to the agent.
	var laterRec cdr.Record
	for r, err := range cdr.Read(d.e.records.dir, time.Time{}, time.Time{}) {
		if err == nil && r.Caller == "13911110004" {
			laterRec = r
		}
	}
	if laterRec.Times.Offered == nil || !cb.Offers[0].At.Before(*laterRec.Times.Offered) {
		t.Fatalf("the later caller was offered at %v, the callback first at %v", laterRec.Times.Offered, cb.Offers[0].At)
	}
	if len(d.e.ctl.Pending()) != 0 {
		t.Fatalf("callbacks still pending: %v", d.e.ctl.Pending())
	}
}

// A pending callback survives a restart of the engine: it comes back with
// its place (enqueue time), and is served by the new process.
func TestCallbackSurvivesRestart(t *testing.T) {
	t.Parallel()
	custPort := sipptest.FreeUDPPort(t)
	records := t.TempDir()
	d := callbackDemo(t, records, custPort)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	sub := d.e.ACD().Bus().Subscribe("test", 512)
	d.agentPhone(t, "1003", sipptest.Agent{RingMs: 100, TalkMs: 1000}, 1)
	if err := d.e.ACD().SetNotReady("1003", "meeting"); err != nil {
		t.Fatal(err)
	}
	c := d.call(t, "13922220001", ctx)
	toQueue(c)
	waitQueued(t, ctx, sub, 1)
	time.Sleep(2 * time.Second)
	c.press('9')
	time.Sleep(time.Second)
	c.press('1')
	if r := c.finished(ctx); r.ExitCode != 0 {
		t.Fatalf("caller: sipp exit %d\n%s", r.ExitCode, sipptest.Logs(r.Dir))
	}
	var before acd.CallSnapshot
	for _, s := range d.e.ACD().Calls() {
		if s.Call.Callback != "" {
			before = s
		}
	}
	if before.Call.ID == "" || before.State != "queued" {
		t.Fatalf("no confirmed callback before the restart: %+v", d.e.ACD().Calls())
	}
	d.stop()

	d2 := callbackDemo(t, records, custPort)
	restored, ok := d2.e.ACD().Call(before.Call.ID)
	if !ok || !restored.Call.EnqueuedAt.Equal(before.Call.EnqueuedAt) || restored.Call.Callback != "13922220001" || restored.Call.Queue != "general" {
		t.Fatalf("after the restart: %+v (found %v), want %+v", restored, ok, before)
	}
	// The agent comes back as it left (state_dir/agents.json): not ready,
	// in its meeting; the callback waits for it to be ready again.
	if a, err := d2.e.ACD().Agent("1003"); err != nil || a.State != acd.NotReady || a.Reason != "meeting" {
		t.Fatalf("agent 1003 after the restart: %s %q (%v), want not ready for its meeting", a.State, a.Reason, err)
	}
	cust := customer(t, custPort, sipptest.Agent{RingMs: 100}, 1)
	port := sipptest.FreeUDPPort(t)
	agent := sipptest.Start(t, sipptest.Options{
		Scenario: sipptest.Render(t, sipptest.AgentTemplate, sipptest.Agent{RingMs: 100, TalkMs: 1000}), LocalPort: port, Calls: 1, Timeout: 60 * time.Second,
	})
	sipptest.RegisterPhone(t, d2.e.SIPAddr(), "1003", "pass1003", port, 300)
	if err := d2.e.ACD().SetReady("1003"); err != nil {
		t.Fatal(err)
	}
	if code, err := cust.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("customer: exit %d (%v)\n%s", code, err, cust.Output())
	}
	if code, err := agent.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("agent: exit %d (%v)\n%s", code, err, agent.Output())
	}
	rec := d2.record(t, before.Call.ID)
	if rec.Disposition != cdr.Answered || rec.Direction != "callback" || rec.Times.Enqueued == nil ||
		rec.Times.Enqueued.Sub(before.Call.EnqueuedAt).Abs() > time.Millisecond {
		t.Fatalf("callback record after the restart: %+v", rec)
	}
}

// waitQueued waits for n call.queued events.
func waitQueued(t *testing.T, ctx context.Context, sub *acd.Subscription, n int) {
	t.Helper()
	for n > 0 {
		select {
		case ev := <-sub.C:
			if ev.Type == acd.EventCallQueued {
				n--
			}
		case <-ctx.Done():
			t.Fatalf("%d calls never queued", n)
		}
	}
}
