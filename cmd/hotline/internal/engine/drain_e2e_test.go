package engine

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/callctl"
	"github.com/hotlinecc/hotline/sip/uatest"
)

// adminPost is a supervisor's POST to an admin endpoint.
func adminPost(t *testing.T, d *demo, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+d.e.HTTPAddr()+path, nil)
	req.SetBasicAuth("9001", "pass9001")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

func readyz(t *testing.T, d *demo) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get("http://" + d.e.HTTPAddr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// recordOf finds the record of the call a caller's dialog started.
func recordOf(t *testing.T, d *demo, caller string) cdr.Record {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for r, err := range cdr.Read(d.e.records.dir, time.Time{}, time.Time{}) {
			if err == nil && r.Caller == caller {
				return r
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no record for caller %s", caller)
	return cdr.Record{}
}

// POST /admin/drain refuses new calls (SIP 503, /readyz 503) while the
// bridged call goes on untouched; /admin/resume takes calls again. A stop
// then waits for the call: the caller hangs up, the engine stops by
// itself, and the record says the caller ended it.
func TestDrainLetsCallsFinish(t *testing.T) {
	t.Parallel()
	d, lanes := startTorture(t)
	l := lanes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, in := l.call(t, l.phone)
	if err := in.Answer(); err != nil {
		t.Fatal(err)
	}
	d.bridged(t, ctx, l.agent)

	if code, body := adminPost(t, d, "/admin/drain"); code != 200 || !strings.Contains(body, `"calls":1`) {
		t.Fatalf("POST /admin/drain: %d %s", code, body)
	}
	if code, body := readyz(t, d); code != 503 || body["draining"] != true {
		t.Fatalf("/readyz while draining: %d %v", code, body)
	}
	refused := l.trunk.Invite(lanes[1].number, uatest.CallOptions{From: "13900000099"})
	select {
	case <-refused.Failed():
		if r := refused.Response(); r == nil || r.StatusCode != 503 || r.GetHeader("Retry-After") == nil {
			t.Fatalf("new call while draining: %v", r)
		}
	case <-refused.Established():
		t.Fatal("a new call was answered while draining")
	case <-ctx.Done():
		t.Fatal("no answer to the INVITE while draining")
	}
	// The call in progress is untouched: the agent can still hold it.
	if code, err := in.Hold(true); err != nil || code != 200 {
		t.Fatalf("agent's hold while draining: %d %v", code, err)
	}
	d.view(t, ctx, "call held", func(v callctl.View) bool { return v.Agent == l.agent && v.State == callctl.Held })

	if code, body := adminPost(t, d, "/admin/resume"); code != 200 {
		t.Fatalf("POST /admin/resume: %d %s", code, body)
	}
	if code, _ := readyz(t, d); code != 200 {
		t.Fatalf("/readyz after resume: %d", code)
	}

	// Stop: drains again and waits for the call.
	d.e.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for code, _ := readyz(t, d); code != 503; code, _ = readyz(t, d) {
		if time.Now().After(deadline) {
			t.Fatal("/readyz not 503 after Stop")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, _ := adminPost(t, d, "/admin/resume"); code != http.StatusConflict {
		t.Fatalf("resume during a stop: %d, want 409", code)
	}
	select {
	case <-d.e.Done():
		t.Fatal("the engine stopped with a call in progress")
	case <-time.After(500 * time.Millisecond):
	}
	if v := d.e.ctl.Views(); len(v) != 1 || v[0].State != callctl.Held {
		t.Fatalf("the call during the stop: %+v", v)
	}
	c.SendBye()
	select {
	case <-d.e.Done():
	case <-ctx.Done():
		t.Fatal("the engine did not stop after the last call ended")
	}
	if !in.Ended(5 * time.Second) {
		t.Fatal("the agent's leg was not released")
	}
	r := recordOf(t, d, "13900000001")
	if r.Disposition != cdr.Answered || r.EndedBy != "caller" || r.Dropped {
		t.Fatalf("record of the call that finished during the drain: disposition %s ended_by %s dropped %v", r.Disposition, r.EndedBy, r.Dropped)
	}
}

// When the grace is cut short (Abort, the second SIGTERM) the calls still
// up end as the engine's doing: a bridged call (answered, ended_by
// shutdown, dropped), a queued caller (overflowed with reason shutdown,
// not an abandon), a caller in the IVR (failed); every phone gets its BYE
// and the agent is not charged with a hang-up.
func TestShutdownEndsWhatIsLeft(t *testing.T) {
	t.Parallel()
	d, lanes := startTorture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	talking := lanes[0]
	c1, in := talking.call(t, talking.phone)
	if err := in.Answer(); err != nil {
		t.Fatal(err)
	}
	d.bridged(t, ctx, talking.agent)

	waiting := lanes[1]
	if err := d.e.ACD().SetNotReady(waiting.agent, "meeting"); err != nil {
		t.Fatal(err)
	}
	c2, err := waiting.trunk.Call(waiting.number, uatest.CallOptions{From: "13900000002"})
	if err != nil {
		t.Fatal(err)
	}
	d.view(t, ctx, "caller queued", func(v callctl.View) bool { return v.Caller == "13900000002" && v.State == callctl.Queued })

	c3, err := lanes[2].trunk.Call("10010", uatest.CallOptions{From: "13900000003"})
	if err != nil {
		t.Fatal(err)
	}
	d.view(t, ctx, "caller in the IVR", func(v callctl.View) bool { return v.Caller == "13900000003" && v.State == callctl.IVR })

	d.e.Stop()
	d.e.Abort()
	select {
	case <-d.e.Done():
	case <-ctx.Done():
		t.Fatal("the engine did not stop on Abort")
	}
	for _, dl := range []*uatest.Dialog{c1, in, c2, c3} {
		if !dl.Ended(5 * time.Second) {
			t.Fatalf("dialog %s not ended by the engine", dl.CallID)
		}
	}
	checks := []struct {
		caller string
		disp   cdr.Disposition
	}{{"13900000001", cdr.Answered}, {"13900000002", cdr.Overflowed}, {"13900000003", cdr.Failed}}
	for _, want := range checks {
		r := recordOf(t, d, want.caller)
		if r.Disposition != want.disp || r.EndedBy != "shutdown" || !r.Dropped || r.Reason != "shutdown" {
			t.Errorf("record of %s: disposition %s (want %s) ended_by %q dropped %v reason %q", want.caller, r.Disposition, want.disp, r.EndedBy, r.Dropped, r.Reason)
		}
	}
	// The agent's wrap-up says the engine released the call, not the agent.
	found := false
	for s, err := range cdr.ReadLog[cdr.AgentStateRecord](d.e.records.dir, cdr.AgentStatesPrefix, time.Time{}, time.Time{}, nil) {
		if err == nil && s.Agent == talking.agent && s.State == string(acd.WrapUp) {
			found = true
			if s.Reason != "released by shutdown" {
				t.Errorf("agent %s wrap-up reason %q, want released by shutdown", s.Agent, s.Reason)
			}
		}
	}
	if !found {
		t.Error("no wrap-up spell written for the agent")
	}
}
