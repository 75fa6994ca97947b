package engine

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/agentapi/apitest"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/callctl"
	"github.com/hotlinecc/hotline/media/sdp"
	"github.com/hotlinecc/hotline/sip"
	"github.com/hotlinecc/hotline/sip/uatest"
)

// demoFile writes the demo configuration with absolute paths (flows in a
// directory of the test's own, so flows can be added) and returns the
// file, its flow directory and the text for edits.
func demoFile(t *testing.T) (path, flows, text string) {
	t.Helper()
	testdata, err := filepath.Abs("../../../../testdata")
	if err != nil {
		t.Fatal(err)
	}
	flows = t.TempDir()
	src, _ := filepath.Glob(filepath.Join(testdata, "flows", "*.yaml"))
	for _, f := range src {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(flows, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(testdata, "hotline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text = strings.NewReplacer("flows: flows", "flows: "+flows, "prompts: prompts", "prompts: "+filepath.Join(testdata, "prompts"),
		"file: crm/customers.csv", "file: "+filepath.Join(testdata, "crm", "customers.csv")).Replace(string(b))
	path = filepath.Join(t.TempDir(), "hotline.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, flows, text
}

func replaceAll(t *testing.T, text string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(text, pairs[i]) {
			t.Fatalf("configuration lacks %q", pairs[i])
		}
		text = strings.ReplaceAll(text, pairs[i], pairs[i+1])
	}
	return text
}

// getJSON is an authenticated GET of an engine endpoint, decoded.
func (d *demo) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+d.e.HTTPAddr()+path, nil)
	req.SetBasicAuth("9001", "pass9001")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// A reload while a call is bridged adds an agent, a queue with its own
// access number and flow, and changes a tier's target: the bridged call
// is untouched (same legs, still talking, recording goes on), the new
// agent's phone registers with its new password and the agent takes the
// next call (in the new queue), and the wallboard's statistics and
// /api/service-levels show the new target. A bad file changes nothing and
// its error names the file and line; a removed agent on a call leaves
// after the call.
func TestReloadWhileCallBridged(t *testing.T) {
	t.Parallel()
	file, flows, text := demoFile(t)
	d := startDemo(t, nil)
	d.e.ConfigPath = file
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	phone1 := uatest.New(t, d.e.SIPAddr())
	if err := phone1.Register("1001", "pass1001", 300); err != nil {
		t.Fatal(err)
	}
	d.waitAgent(t, "1001", acd.Ready)
	trunk := uatest.New(t, d.e.SIPAddr())
	caller, err := trunk.Call("10010", uatest.CallOptions{From: "13800000001"}) // diamond → general → 1001
	if err != nil {
		t.Fatal(err)
	}
	in, err := phone1.NextInvite(20 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Answer(); err != nil {
		t.Fatal(err)
	}
	before := d.bridged(t, ctx, "1001")

	sup := d.desk(t, ctx, "9001")

	// The reload: agent 1004 on a new queue vip (access number 10012, flow
	// vip), diamond's target 95 % → 50 %.
	vipFlow := "name: vip\nlanguage: en\nstart: q\nnodes:\n  q:\n    type: queue\n    queue: vip\n    moh: moh\n    announce_agent: agent\n    next: done\n  done:\n    type: hangup\n    reason: done\n"
	if err := os.WriteFile(filepath.Join(flows, "vip.yaml"), []byte(vipFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	next := replaceAll(t, text,
		"{name: diamond, target: 95, within: 10s}", "{name: diamond, target: 50, within: 10s}",
		"  - {name: technical, wrap_up: 5s, wrap_up_codes: [resolved, ticket, callback, escalated]}",
		"  - {name: technical, wrap_up: 5s, wrap_up_codes: [resolved, ticket, callback, escalated]}\n  - {name: vip, wrap_up: 1s, wrap_up_codes: [vip-sale, vip-lost], callback: {attempts: 5}}",
		`  "10010": main`, "  \"10010\": main\n  \"10012\": vip",
		`  - {id: "9001"`, "  - {id: \"1004\", name: Agent 1004, password: new1004, role: agent, skills: {vip: 1}}\n  - {id: \"9001\"")
	if err := os.WriteFile(file, []byte(next), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := d.e.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Agents, ",") != "1004" || len(res.ACD.Overflowed)+len(res.ACD.Leaving) != 0 {
		t.Fatalf("reload result %+v", res)
	}
	// Only the new password was hashed; every other kept its hash, and no
	// clear password stays in memory.
	if res.PasswordsHashed != 1 {
		t.Fatalf("reload hashed %d passwords, want 1 (the new agent's)", res.PasswordsHashed)
	}
	p := d.e.plan.Load()
	for _, a := range p.cfg.Agents {
		if a.Password != "" || !agentapi.ValidHash(a.PasswordHash) || p.creds[a.ID].ha1 == "" {
			t.Fatalf("agent %s after the reload: clear password kept or no hash/HA1", a.ID)
		}
	}
	if q := p.acd.Queues["vip"]; q.CallbackAttempts != 5 {
		t.Fatalf("vip's callback tries %d, want 5", q.CallbackAttempts)
	}

	// The bridged call is untouched.
	after := d.bridged(t, ctx, "1001")
	if after.ID != before.ID || after.AgentMedia != before.AgentMedia || after.CallerMedia != before.CallerMedia {
		t.Fatalf("the bridged call changed: before %+v after %+v", before, after)
	}
	if v := d.e.ctl.CheckSettled(ctx, time.Second); len(v) > 0 {
		t.Fatalf("invariants after the reload: %v", v)
	}

	// The new agent's phone registers with the new password, is signed
	// in, and takes the next call in the new queue.
	phone4 := uatest.New(t, d.e.SIPAddr())
	if err := phone4.Register("1004", "new1004", 300); err != nil {
		t.Fatalf("new agent's REGISTER: %v", err)
	}
	d.waitAgent(t, "1004", acd.Ready)
	c2, err := trunk.Call("10012", uatest.CallOptions{From: "13800000002"})
	if err != nil {
		t.Fatal(err)
	}
	in4, err := phone4.NextInvite(20 * time.Second)
	if err != nil {
		t.Fatalf("the new agent's phone never rang: %v", err)
	}
	if err := in4.Answer(); err != nil {
		t.Fatal(err)
	}
	d.bridged(t, ctx, "1004")
	// The new agent's desktop signs in with the new password and gets the
	// new queue's wrap-up codes.
	login4, err := apitest.Dial(ctx, "http://"+d.e.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer login4.Close()
	lr, err := login4.Login(ctx, "1004", "new1004", "")
	if err != nil {
		t.Fatalf("new agent's desktop login: %v", err)
	}
	var codes struct {
		QueueCodes map[string][]string `json:"wrap_up_codes"`
	}
	if err := lr.Decode(&codes); err != nil || strings.Join(codes.QueueCodes["vip"], ",") != "vip-sale,vip-lost" {
		t.Fatalf("wrap-up codes after the reload: %v (%v)", codes.QueueCodes, err)
	}

	// The wallboard shows the new target.
	r, err := sup.Must(ctx, "list_queues", nil)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Queues agentapi.QueueStats `json:"queues"`
	}
	if err := r.Decode(&st); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, sl := range st.Queues.ServiceLevels {
		if sl.Tier == "diamond" && sl.Queue == "" {
			found = sl.Target == 0.5
		}
	}
	if !found {
		t.Fatalf("wallboard service levels after reload: %+v", st.Queues.ServiceLevels)
	}
	var api []agentapi.ServiceLevelView
	d.getJSON(t, "/api/service-levels", &api)
	for _, sl := range api {
		if sl.Tier == "diamond" && sl.Target != 0.5 {
			t.Fatalf("/api/service-levels diamond %+v", sl)
		}
	}
	if m := scrape(t, d); m[`hotline_service_level_target_ratio{queue="vip",tier="diamond"}`] != 0.5 {
		t.Fatalf("target metric for the new queue: %v", m[`hotline_service_level_target_ratio{queue="vip",tier="diamond"}`])
	}

	// A bad file changes nothing and says where.
	bad := replaceAll(t, next, "  ring_timeout: 15s", "  ring_timeout: 15s\n  no_such_key: 1")
	if err := os.WriteFile(file, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := d.e.Reload(); err == nil || !strings.Contains(err.Error(), file+":") || !strings.Contains(err.Error(), "no_such_key") {
		t.Fatalf("bad reload: %v (want %s:<line> and the key)", err, file)
	}
	if code, body := adminPost(t, d, "/admin/reload"); code != http.StatusUnprocessableEntity || !strings.Contains(body, "no_such_key") {
		t.Fatalf("POST /admin/reload of a bad file: %d %s", code, body)
	}
	if _, ok := d.e.agent("1004"); !ok {
		t.Fatal("a refused reload removed agent 1004")
	}

	// 1001 is removed while talking: it keeps its call and leaves after.
	gone := replaceAll(t, next, `  - {id: "1001", name: Agent 1001, password: pass1001, role: agent, skills: {billing: 1, general: 2}, region: north}`+"\n", "")
	if err := os.WriteFile(file, []byte(gone), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, body := adminPost(t, d, "/admin/reload"); code != 200 || !strings.Contains(body, `"leaving":["1001"]`) {
		t.Fatalf("reload removing a talking agent: %d %s", code, body)
	}
	if v := d.bridged(t, ctx, "1001"); v.ID != before.ID {
		t.Fatalf("1001's call after its removal: %+v", v)
	}
	caller.SendBye()
	d.view(t, ctx, "the first call ended", func(v callctl.View) bool { return v.ID != before.ID })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := d.e.ACD().Agent("1001"); err != nil {
			break // signed out after the call and its wrap-up
		}
		if time.Now().After(deadline) {
			a, _ := d.e.ACD().Agent("1001")
			t.Fatalf("removed agent 1001 still signed in: %+v", a)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c2.SendBye()
}

// A reload changes credentials the way start-up sets them: a changed
// password is hashed (and only it), the old one stops working for the
// phone and the desktop and the agent's desktop session ends; an agent
// given password_hash and sip_ha1 instead of a password signs in with the
// password neither contains; a per-agent SRTP policy takes effect; the
// guard still counts failed digests; no clear password stays in memory.
func TestReloadSwapsCredentials(t *testing.T) {
	t.Parallel()
	file, _, text := demoFile(t)
	d := startDemo(t, nil)
	d.e.ConfigPath = file
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	desk2 := d.desk(t, ctx, "1002")

	hash, err := agentapi.HashPassword("hashed1003")
	if err != nil {
		t.Fatal(err)
	}
	next := replaceAll(t, text,
		`{id: "1002", name: Agent 1002, password: pass1002,`, `{id: "1002", name: Agent 1002, password: new1002, srtp: required,`,
		`{id: "1003", name: Agent 1003, password: pass1003,`,
		`{id: "1003", name: Agent 1003, password_hash: "`+hash+`", sip_ha1: `+sip.HA1("1003", d.e.cfg.SIP.Realm, "hashed1003")+`,`)
	if err := os.WriteFile(file, []byte(next), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := d.e.Reload()
	if err != nil {
		t.Fatal(err)
	}
	// Both accounts' secrets changed: their sessions (1002's desktop) end.
	if res.PasswordsHashed != 1 || strings.Join(res.SessionsEnded, ",") != "1002,1003" {
		t.Fatalf("reload: %d passwords hashed (want 1), sessions ended %v (want 1002,1003)", res.PasswordsHashed, res.SessionsEnded)
	}
	select {
	case <-desk2.Closed():
	case <-ctx.Done():
		t.Fatal("1002's desktop session outlived its password change")
	}
	p := d.e.plan.Load()
	if p.creds["1002"].srtp != sdp.SRTPRequired || p.creds["1001"].srtp != sdp.SRTPOptional {
		t.Fatalf("SRTP policies after the reload: 1002 %v, 1001 %v", p.creds["1002"].srtp, p.creds["1001"].srtp)
	}
	for _, a := range p.cfg.Agents {
		if a.Password != "" {
			t.Fatalf("agent %s: clear password kept after the reload", a.ID)
		}
	}

	failures := func() float64 { return scrape(t, d)[`hotline_auth_failures_total{surface="sip_register"}`] }
	before := failures()
	phone2 := uatest.New(t, d.e.SIPAddr())
	if err := phone2.Register("1002", "pass1002", 300); err == nil {
		t.Fatal("1002's phone registered with the old password")
	}
	if after := failures(); after <= before {
		t.Fatalf("the guard did not count the failed digest after the reload (%v → %v)", before, after)
	}
	if err := phone2.Register("1002", "new1002", 300); err != nil {
		t.Fatalf("1002's phone with the new password: %v", err)
	}
	phone3 := uatest.New(t, d.e.SIPAddr())
	if err := phone3.Register("1003", "hashed1003", 300); err != nil {
		t.Fatalf("1003's phone with sip_ha1: %v", err)
	}
	for _, login := range []struct {
		id, pw string
		ok     bool
	}{{"1002", "pass1002", false}, {"1002", "new1002", true}, {"1003", "hashed1003", true}} {
		c, err := apitest.Dial(ctx, "http://"+d.e.HTTPAddr())
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Do(ctx, "login", map[string]any{"agent": login.id, "password": login.pw})
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if r.OK != login.ok {
			t.Fatalf("desktop login %s/%s after the reload: ok=%v (%s), want %v", login.id, login.pw, r.OK, r.Code(), login.ok)
		}
	}
}
