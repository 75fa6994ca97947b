package agentapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/argon2"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/routing"
)

func TestHelloAndPingNeedNoLogin(t *testing.T) {
	e := newEnv(t)
	c := e.dial(t)
	r := c.must("hello")
	if r["protocol"] != float64(ProtocolVersion) {
		t.Errorf("hello protocol = %v, want %d", r["protocol"], ProtocolVersion)
	}
	if r := c.must("ping"); r.str("now") == "" {
		t.Errorf("ping reply has no time: %v", r)
	}
}

func TestLogin(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		fields []any
		code   string
	}{
		{"wrong password", []any{"agent", "1001", "password", "nope"}, CodeBadCredentials},
		{"unknown agent", []any{"agent", "7777", "password", "pass7777"}, CodeBadCredentials},
		{"missing password", []any{"agent", "1001"}, CodeBadRequest},
		{"missing agent", []any{"password", "pass1001"}, CodeBadRequest},
	}
	c := e.dial(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			c.refused(tt.code, "login", tt.fields...)
		})
	}
	c.t = t
	r := c.must("login", "agent", "1001", "password", "pass1001", "extension", "2001")
	if r["protocol"] != float64(ProtocolVersion) || r.str("token") == "" || r.str("role") != "agent" {
		t.Fatalf("login reply lacks protocol, token or role: %v", r)
	}
	seat := r.obj("seat")
	if seat.str("agent") != "1001" || seat.str("seat") != "2001" || seat.str("state") == "" {
		t.Errorf("login seat = %v, want agent 1001 on extension 2001", seat)
	}
	if st := e.state(t, "1001"); st == acd.LoggedOut {
		t.Errorf("agent not signed in to the ACD after login")
	}
	if got := r["break_reasons"]; fmt.Sprint(got) != "[lunch short]" {
		t.Errorf("break reasons for the desktop = %v", got)
	}
}

func TestLoginAttachesToSeatAlreadySignedInByPhone(t *testing.T) {
	e := newEnv(t)
	if err := e.acd.Login(acd.AgentProfile{ID: "1001", Skills: map[string]int{"billing": 1}}); err != nil {
		t.Fatal(err)
	}
	_, r := e.login(t, "1001")
	if r.obj("seat").str("state") != string(acd.Ready) {
		t.Errorf("seat = %v, want the existing ready seat", r.obj("seat"))
	}
}

// In a cluster, an agent whose phone signed it in through another node is
// that node's: a desktop here is refused with a code saying so, instead of
// a session whose every button would fail.
func TestLoginRefusedForAgentServedByAnotherNode(t *testing.T) {
	e := newEnv(t)
	e.acd.Receive(acd.ClusterMsg{Kind: acd.MsgAgent, From: "node-b", Agent: &acd.AgentRecord{
		Profile: acd.AgentProfile{ID: "1001", Seat: "1001", Skills: map[string]int{"billing": 1}}, State: acd.Ready, Since: time.Now()}})
	if s, err := e.acd.Agent("1001"); err != nil || s.Node != "node-b" {
		t.Fatalf("agent 1001 as mirrored here: %+v, %v", s, err)
	}
	c := e.dial(t)
	c.refused(CodeOtherNode, "login", "agent", "1001", "password", "pass1001")
}

func TestLoginSeatBusy(t *testing.T) {
	e := newEnv(t)
	e.login(t, "1001", "extension", "2001")
	c := e.dial(t)
	c.refused(CodeSeatBusy, "login", "agent", "1002", "password", "pass1002", "extension", "2001")
}

func TestRequestsNeedLogin(t *testing.T) {
	e := newEnv(t)
	c := e.dial(t)
	for typ := range handlers {
		if handlers[typ].need == needNone {
			continue
		}
		t.Run(typ, func(t *testing.T) {
			c.t = t
			c.refused(CodeUnauthenticated, typ, "agent", "1001", "state", "ready")
		})
	}
}

func TestRepeatedFailedLoginsCloseTheConnection(t *testing.T) {
	e := newEnv(t)
	c := e.dial(t)
	for i := 0; i < 5; i++ {
		c.refused(CodeBadCredentials, "login", "agent", "1001", "password", "guess")
	}
	if st := c.closeStatus(); st != CloseAbuse {
		t.Errorf("close status = %v, want %v", st, CloseAbuse)
	}
}

func TestBadFrames(t *testing.T) {
	e := newEnv(t)
	c := e.dial(t)
	tests := []struct {
		name  string
		frame string
		id    string
		code  string
	}{
		{"malformed JSON", `{"id":"7","type":`, "", CodeBadRequest},
		{"not an object", `[1,2]`, "", CodeBadRequest},
		{"wrong field type", `{"id":"8","type":"login","agent":1001}`, "8", CodeBadRequest},
		{"missing id", `{"type":"ping"}`, "", CodeBadRequest},
		{"missing type", `{"id":"9"}`, "9", CodeBadRequest},
		{"unknown type", `{"id":"10","type":"launch_rockets"}`, "10", CodeUnknownType},
		{"oversized", `{"id":"11","type":"ping","pad":"` + strings.Repeat("x", 70<<10) + `"}`, "", CodeTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			c.sendRaw([]byte(tt.frame))
			m, ok := c.next()
			if !ok {
				t.Fatalf("connection closed: %v", c.err)
			}
			if m.str("type") != "reply" || m.ok() || m.code() != tt.code || m.str("id") != tt.id {
				t.Errorf("reply = %v, want error %s for id %q", m, tt.code, tt.id)
			}
			// The connection is still usable.
			c.must("ping")
		})
	}
}

func TestRepeatedAbuseClosesTheConnection(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxBadRequests = 3 })
	c := e.dial(t)
	for i := 0; i < 3; i++ {
		c.sendRaw([]byte("garbage"))
	}
	if st := c.closeStatus(); st != CloseAbuse {
		t.Errorf("close status = %v, want %v", st, CloseAbuse)
	}
}

func TestOriginCheck(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.AllowedOrigins = []string{"wallboard.example"} })
	host := strings.TrimPrefix(e.ts.URL, "http://")
	tests := []struct {
		origin string
		ok     bool
	}{
		{"", true}, // not a browser
		{"http://" + host, true},
		{"http://wallboard.example", true},
		{"http://evil.example", false},
	}
	for _, tt := range tests {
		t.Run(tt.origin, func(t *testing.T) {
			req, _ := http.NewRequest("GET", e.ts.URL+"/ws", nil)
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.StatusCode == http.StatusSwitchingProtocols; got != tt.ok {
				t.Errorf("origin %q: status %d, want accepted=%v", tt.origin, resp.StatusCode, tt.ok)
			}
			if !tt.ok && resp.StatusCode != http.StatusForbidden {
				t.Errorf("refusal status = %d, want 403", resp.StatusCode)
			}
		})
	}
	// And a full client with an allowed origin works end to end.
	c := e.dialHeader(t, http.Header{"Origin": {"http://wallboard.example"}})
	c.must("hello")
}

func TestStatePage(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/", "/app.js", "/style.css"} {
		resp, err := http.Get(e.ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(b) == 0 {
			t.Errorf("GET %s: %d, %d bytes", p, resp.StatusCode, len(b))
		}
	}
}

func TestAgentStates(t *testing.T) {
	e := newEnv(t)
	c, _ := e.login(t, "1001")
	c2, _ := e.login(t, "1002")
	tests := []struct {
		name   string
		c      *wsc
		fields []any
		code   string // "" = ok
		want   acd.State
		reason string
	}{
		{"not ready with reason", c, []any{"state", "not_ready", "reason", "meeting"}, "", acd.NotReady, "meeting"},
		{"not ready needs reason", c, []any{"state", "not_ready"}, CodeBadRequest, acd.NotReady, "meeting"},
		{"ready", c, []any{"state", "ready"}, "", acd.Ready, ""},
		{"already ready", c, []any{"state", "ready"}, CodeIllegalTransition, acd.Ready, ""},
		{"break with configured reason", c, []any{"state", "break", "reason", "lunch"}, "", acd.Break, "lunch"},
		{"break to study is illegal", c, []any{"state", "study"}, CodeIllegalTransition, acd.Break, "lunch"},
		{"back to ready", c, []any{"state", "ready"}, "", acd.Ready, ""},
		{"break needs a reason", c, []any{"state", "break"}, CodeBadRequest, acd.Ready, ""},
		{"break reason unknown", c, []any{"state", "break", "reason", "nap"}, CodeUnknownReason, acd.Ready, ""},
		{"study", c, []any{"state", "study"}, "", acd.Study, "study"},
		{"ready again", c, []any{"state", "ready"}, "", acd.Ready, ""},
		{"manual wrap-up", c, []any{"state", "wrap_up"}, "", acd.WrapUp, "by hand"},
		{"wrap-up to ready", c, []any{"state", "ready"}, "", acd.Ready, ""},
		{"adjust with permission", c, []any{"state", "adjust"}, "", acd.Adjust, "adjust"},
		{"adjust without permission", c2, []any{"state", "adjust"}, CodeNotPermitted, acd.Ready, ""},
		{"manual wrap-up without permission", c2, []any{"state", "wrap_up"}, CodeNotPermitted, acd.Ready, ""},
		{"missing state", c2, nil, CodeBadRequest, acd.Ready, ""},
		{"unknown state", c2, []any{"state", "dancing"}, CodeBadRequest, acd.Ready, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.t = t
			var r msg
			if tt.code == "" {
				r = tt.c.must("set_state", tt.fields...)
				if r.obj("seat").str("state") != string(tt.want) {
					t.Errorf("reply seat = %v, want %s", r.obj("seat"), tt.want)
				}
			} else {
				tt.c.refused(tt.code, "set_state", tt.fields...)
			}
			agent := "1001"
			if tt.c == c2 {
				agent = "1002"
			}
			snap, err := e.acd.Agent(agent)
			if err != nil {
				t.Fatal(err)
			}
			if snap.State != tt.want || (tt.reason != "" && snap.Reason != tt.reason) {
				t.Errorf("ACD state = %s (%q), want %s (%q)", snap.State, snap.Reason, tt.want, tt.reason)
			}
		})
	}
}

func TestOwnStateEvents(t *testing.T) {
	e := newEnv(t)
	c, _ := e.login(t, "1001")
	c.must("set_state", "state", "not_ready", "reason", "meeting")
	ev := c.event("agent.state not-ready", isEvent("agent.state", "state", "not-ready"))
	if ev.str("agent") != "1001" || ev.str("reason") != "meeting" || ev.str("prev") != "ready" || ev.str("at") == "" {
		t.Errorf("event = %v", ev)
	}
}

func TestRequestCallManualMode(t *testing.T) {
	e := newEnv(t)
	c, _ := e.login(t, "1003")
	c.must("set_state", "state", "not_ready", "reason", "x")
	c.refused(CodeIllegalTransition, "request_call")
	c.must("set_state", "state", "ready")
	e.enqueue(t, "m1", "general", "normal")
	// Manual mode: the caller waits until the agent asks.
	if st := e.state(t, "1003"); st != acd.Ready {
		t.Fatalf("manual agent got a call without asking: %s", st)
	}
	r := c.must("request_call")
	_ = r
	ev := c.event("offer", isEvent("call.offered", "call_id", "m1"))
	if ev.obj("call").str("queue") != "general" {
		t.Errorf("offer = %v", ev)
	}
}

func TestLogoutAndShiftChange(t *testing.T) {
	e := newEnv(t)
	c, r := e.login(t, "1001", "extension", "2001")
	tok := r.str("token")
	r = c.must("shift_change", "agent", "1003", "password", "pass1003")
	if r.str("agent") != "1003" || r.str("token") == "" || r.str("token") == tok {
		t.Fatalf("shift change reply = %v", r)
	}
	if e.state(t, "1001") != acd.LoggedOut {
		t.Errorf("outgoing agent still signed in")
	}
	snap, err := e.acd.Agent("1003")
	if err != nil || snap.Profile.Seat != "2001" {
		t.Fatalf("incoming agent seat = %v, %v; want 2001", snap.Profile.Seat, err)
	}
	c.refused(CodeBadCredentials, "shift_change", "agent", "1002", "password", "wrong")
	c.refused(CodeBadRequest, "shift_change", "agent", "1003", "password", "pass1003")
	c.refused(CodeForbidden, "shift_change", "agent", "9001", "password", "pass9001")

	// The old token is gone.
	c2 := e.dial(t)
	c2.refused(CodeInvalidToken, "resume", "token", tok)

	c.must("logout")
	if e.state(t, "1003") != acd.LoggedOut {
		t.Errorf("agent still signed in after logout")
	}
	c.refused(CodeUnauthenticated, "set_state", "state", "ready")
	// The connection stays for the next login.
	c.must("login", "agent", "1001", "password", "pass1001")
}

func TestLogoutRefusedOnCall(t *testing.T) {
	e := newEnv(t)
	c, _ := e.login(t, "1001")
	e.enqueue(t, "c1", "billing", "diamond")
	c.event("answered", isEvent("call.answered", "call_id", "c1"))
	c.refused(CodeIllegalTransition, "logout")
	if e.state(t, "1001") != acd.Talking {
		t.Errorf("agent left the call")
	}
}

// A whole inbound call from the desktop: offer with CRM data and trace,
// in-call controls, hang-up, wrap-up code, ready.
func TestInboundCallControls(t *testing.T) {
	e := newEnv(t)
	c, _ := e.login(t, "1001")
	e.enqueue(t, "c1", "billing", "diamond")
	off := c.event("offer", isEvent("call.offered", "call_id", "c1"))
	call := off.obj("call")
	if call.str("tier") != "diamond" || call.str("queue") != "billing" || call.obj("customer").str("name") != "Demo Diamond" {
		t.Errorf("offer call card = %v", call)
	}
	if tr, _ := call["trace"].([]any); len(tr) != 3 {
		t.Errorf("offer IVR trace = %v", call["trace"])
	}
	c.event("answered", isEvent("call.answered", "call_id", "c1"))

	tests := []struct {
		typ    string
		fields []any
		op     string // expected engine operation
	}{
		{"mute", nil, "mute 1001 c1 true"},
		{"unmute", nil, "mute 1001 c1 false"},
		{"pause_recording", nil, "pause_recording 1001 c1 true"},
		{"resume_recording", nil, "pause_recording 1001 c1 false"},
		{"dtmf", []any{"digits", "12#"}, "dtmf 1001 c1 12#"},
		{"consult", []any{"target", Target{TargetAgent, "1002"}}, "consult 1001 c1 agent 1002"},
		{"return_to_caller", nil, "return_to_caller 1001 c1"},
		{"consult", []any{"target", Target{TargetExternal, "+8613800000000"}}, "consult 1001 c1 external +8613800000000"},
		{"conference", nil, "conference 1001 c1"},
		{"complete_transfer", []any{"call", "c1"}, "complete_transfer 1001 c1"},
		{"answer", nil, "answer 1001 c1"},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			c.t = t
			r := c.must(tt.typ, tt.fields...)
			if r.str("call_id") != "c1" {
				t.Errorf("reply call_id = %q", r.str("call_id"))
			}
			if !e.calls.has(tt.op) {
				t.Errorf("engine did not get %q: %v", tt.op, e.calls.opsLog())
			}
		})
	}
	c.t = t

	c.must("hold")
	if !e.calls.has("hold 1001 c1 true") || e.state(t, "1001") != acd.Held {
		t.Errorf("hold: engine %v, state %s", e.calls.opsLog(), e.state(t, "1001"))
	}
	c.event("held", isEvent("call.held", "call_id", "c1"))
	c.refused(CodeIllegalTransition, "hold")
	c.must("unhold")
	if e.state(t, "1001") != acd.Talking {
		t.Errorf("unhold: state %s", e.state(t, "1001"))
	}
	c.event("retrieved", isEvent("call.retrieved", "call_id", "c1"))

	c.refused(CodeIllegalTransition, "wrap_up_end", "code", "solved")
	c.must("hangup")
	c.event("ended", isEvent("call.ended", "call_id", "c1"))
	wu := c.event("wrap-up", isEvent("agent.state", "state", "wrap-up"))
	if wu.obj("seat").str("wrap_until") == "" {
		t.Errorf("wrap-up event lacks wrap_until: %v", wu)
	}
	until := wu.obj("seat").str("wrap_until")
	c.refused(CodeBadRequest, "extend_wrap_up")
	r := c.must("extend_wrap_up", "seconds", 30)
	if later := r.obj("seat").str("wrap_until"); later <= until {
		t.Errorf("extend_wrap_up: wrap_until %s, was %s", later, until)
	}
	c.refused(CodeBadRequest, "wrap_up_end")
	c.refused(CodeBadRequest, "wrap_up_end", "code", "no-such-code")
	r = c.must("wrap_up_end", "code", "solved")
	if r.obj("seat").str("state") != "ready" || r["disposition_stored"] != true || r.str("call_id") != "c1" {
		t.Errorf("wrap_up_end reply = %v", r)
	}
	if !e.calls.has("disposition 1001 c1 solved") {
		t.Errorf("disposition not sent to the engine: %v", e.calls.opsLog())
	}
}

func TestCallControlRefusals(t *testing.T) {
	e := newEnv(t)
	c1, _ := e.login(t, "1001")
	c4, _ := e.login(t, "1004")
	e.enqueue(t, "c1", "billing", "diamond")
	c1.event("answered", isEvent("call.answered", "call_id", "c1"))
	e.calls.setCalls(CallInfo{ID: "t4", AgentID: "1004", Direction: "inbound", State: "talking"})

	tests := []struct {
		name   string
		c      *wsc
		typ    string
		fields []any
		code   string
	}{
		{"another agent's call", c4, "hangup", []any{"call", "c1"}, CodeUnknownCall},
		{"unknown call", c1, "hold", []any{"call", "nope"}, CodeUnknownCall},
		{"bad digits", c1, "dtmf", []any{"digits", "12x"}, CodeBadRequest},
		{"no digits", c1, "dtmf", nil, CodeBadRequest},
		{"transfer without target", c1, "transfer", nil, CodeBadRequest},
		{"transfer bad kind", c1, "transfer", []any{"target", Target{"moon", "1"}}, CodeBadRequest},
		{"transfer bad number", c1, "transfer", []any{"target", Target{TargetExternal, "12ab"}}, CodeBadRequest},
		{"external not allowed", c4, "transfer", []any{"target", Target{TargetExternal, "555"}}, CodeForbidden},
		{"consult external not allowed", c4, "consult", []any{"target", Target{TargetExternal, "555"}}, CodeForbidden},
		{"outbound not allowed", c4, "outbound", []any{"number", "555"}, CodeForbidden},
		{"internal not allowed", c4, "internal_call", []any{"agent", "1001"}, CodeForbidden},
		{"supervisor request", c1, "force_ready", []any{"agent", "1002"}, CodeForbidden},
		{"supervisor list", c1, "list_agents", nil, CodeForbidden},
		{"monitor", c1, "monitor", []any{"agent", "1004", "mode", "listen"}, CodeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.t = t
			tt.c.refused(tt.code, tt.typ, tt.fields...)
		})
	}
	for _, op := range e.calls.opsLog() {
		t.Errorf("refused request reached the engine: %s", op)
	}
	// 1004's own engine call is controllable.
	c4.t = t
	c4.must("transfer", "target", Target{TargetQueue, "technical"})
	if !e.calls.has("transfer 1004 t4 queue technical true") {
		t.Errorf("blind transfer not passed on: %v", e.calls.opsLog())
	}
	c4.event("transferred", isEvent("call.transferred", "call_id", "t4"))
}

func TestEngineErrorsMapToCodes(t *testing.T) {
	e := newEnv(t)
	c, _ := e.login(t, "1001")
	e.calls.setCalls(CallInfo{ID: "x1", AgentID: "1001"})
	tests := []struct {
		op, typ string
		fields  []any
		err     error
		code    string
	}{
		{"mute", "mute", nil, fmt.Errorf("mute: %w", errors.ErrUnsupported), CodeUnsupported},
		{"consult", "consult", []any{"target", Target{TargetFlow, "main"}}, errors.ErrUnsupported, CodeUnsupported},
		{"dtmf", "dtmf", []any{"digits", "1"}, errors.New("rtp socket gone"), CodeInternal},
		{"hangup", "hangup", nil, fmt.Errorf("bye: %w", acd.ErrUnknownCall), CodeUnknownCall},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			c.t = t
			e.calls.setFail(tt.op, tt.err)
			r := c.refused(tt.code, tt.typ, tt.fields...)
			if r.obj("error").str("message") == "" {
				t.Errorf("refusal without message: %v", r)
			}
		})
	}
}

func TestNoCallControlIsUnsupported(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Calls = nil })
	c, _ := e.login(t, "1001")
	e.enqueue(t, "c1", "billing", "normal")
	c.event("answered", isEvent("call.answered", "call_id", "c1"))
	c.refused(CodeUnsupported, "hangup")
	c.refused(CodeUnsupported, "mute")
	if e.state(t, "1001") != acd.Talking {
		t.Errorf("state changed although nothing was done")
	}
}

func TestOutbound(t *testing.T) {
	e := newEnv(t)
	c, _ := e.login(t, "1001")
	c.refused(CodeBadRequest, "outbound")
	c.refused(CodeBadRequest, "outbound", "number", "12-34")
	e.calls.setFail("outbound", errors.New("trunk down"))
	c.refused(CodeInternal, "outbound", "number", "13800000002")
	if e.state(t, "1001") != acd.Ready {
		t.Errorf("failed outbound left the agent %s, want ready", e.state(t, "1001"))
	}
	e.calls.setFail("outbound", nil)
	r := c.must("outbound", "number", "13800000002")
	if r.str("call_id") == "" {
		t.Errorf("no call id: %v", r)
	}
	snap, _ := e.acd.Agent("1001")
	if snap.State != acd.NotReady || snap.Reason != "outbound" {
		t.Errorf("agent during outbound = %s %q, want not-ready outbound", snap.State, snap.Reason)
	}
	// The outbound call is the agent's: it is in the snapshot and can be
	// put on hold and hung up.
	snapRes := c.must("snapshot")
	calls, _ := snapRes["calls"].([]any)
	if len(calls) != 1 || msg(calls[0].(map[string]any)).str("direction") != "outbound" ||
		msg(calls[0].(map[string]any)).str("callee") != "13800000002" {
		t.Errorf("snapshot calls = %v", snapRes["calls"])
	}
	c.must("hold")
	c.event("held", isEvent("call.held", "call_id", r.str("call_id")))
	c.must("hangup", "call", r.str("call_id"))
	c2, _ := e.login(t, "1002")
	c2.refused(CodeUnknownCall, "hangup", "call", r.str("call_id"))
	c2.refused(CodeNotPermitted, "extend_wrap_up", "seconds", 10)
}

func TestInternalCall(t *testing.T) {
	e := newEnv(t)
	c1, _ := e.login(t, "1001")
	c2, _ := e.login(t, "1002")
	_, _ = e.login(t, "1005")
	c1.refused(CodeBadRequest, "internal_call")
	c1.refused(CodeBadRequest, "internal_call", "agent", "1001")
	c1.refused(CodeUnknownAgent, "internal_call", "agent", "1003")

	// Callers waiting in billing (1001's and 1002's queue) refuse the call.
	c1.must("set_state", "state", "not_ready", "reason", "x")
	c2.must("set_state", "state", "not_ready", "reason", "x")
	hangup := e.enqueue(t, "w1", "billing", "normal")
	r := c1.refused(CodeQueueBusy, "internal_call", "agent", "1002")
	if !strings.Contains(r.obj("error").str("message"), "billing") {
		t.Errorf("refusal does not name the queue: %v", r)
	}
	hangup()
	eventually(t, "caller gone", func() bool { return len(e.acd.Calls()) == 0 })

	// The other agent on a call: refused.
	c2.must("set_state", "state", "ready")
	e.enqueue(t, "t1", "technical", "normal")
	c2.event("answered", isEvent("call.answered", "call_id", "t1"))
	c1.refused(CodeAgentBusy, "internal_call", "agent", "1002")

	// A free agent in another queue: placed; cut when a caller queues for sales.
	r = c1.must("internal_call", "agent", "1005")
	id := r.str("call_id")
	if !e.calls.has("internal 1001 1005") || id == "" {
		t.Fatalf("internal call not placed: %v %v", r, e.calls.opsLog())
	}
	if err := e.acd.SetNotReady("1005", "busy"); err != nil {
		t.Fatal(err)
	}
	e.enqueue(t, "s1", "sales", "normal")
	c1.event("internal cut", isEvent("call.internal_cut", "call_id", id))
	if !e.calls.has("hangup 1001 " + id) {
		t.Errorf("internal call not hung up: %v", e.calls.opsLog())
	}
}

func TestDroppedConnectionKeepsTheCallAndResumeGetsSnapshot(t *testing.T) {
	e := newEnv(t)
	c, r := e.login(t, "1001")
	tok := r.str("token")
	e.enqueue(t, "c1", "billing", "diamond")
	c.event("answered", isEvent("call.answered", "call_id", "c1"))
	_ = c.conn.Close(websocket.StatusGoingAway, "network trouble")
	eventually(t, "server to notice the drop", func() bool { return e.srv.clientCount() == 0 })
	if e.state(t, "1001") != acd.Talking {
		t.Errorf("dropped desktop changed the seat: %s", e.state(t, "1001"))
	}
	if ops := e.calls.opsLog(); len(ops) != 0 {
		t.Errorf("dropped desktop touched calls: %v", ops)
	}

	c2 := e.dial(t)
	c2.refused(CodeBadRequest, "resume")
	c2.refused(CodeInvalidToken, "resume", "token", "forged")
	r = c2.must("resume", "token", tok)
	if r.obj("seat").str("state") != "talking" || r.obj("seat").str("call_id") != "c1" {
		t.Errorf("resume seat = %v", r.obj("seat"))
	}
	calls, _ := r["calls"].([]any)
	if len(calls) != 1 || msg(calls[0].(map[string]any)).obj("customer").str("name") != "Demo Diamond" {
		t.Errorf("resume calls = %v", r["calls"])
	}
	c2.must("hold")
}

func TestSecondLoginTakesOverTheSeat(t *testing.T) {
	e := newEnv(t)
	old, r := e.login(t, "1001")
	oldTok := r.str("token")
	fresh, _ := e.login(t, "1001")
	ev := old.event("session ended", isEvent("session.ended"))
	if ev.str("reason") != "taken_over" {
		t.Errorf("session.ended = %v", ev)
	}
	if st := old.closeStatus(); st != CloseTakenOver {
		t.Errorf("old connection close = %v, want %v", st, CloseTakenOver)
	}
	fresh.must("set_state", "state", "not_ready", "reason", "x")
	c := e.dial(t)
	c.refused(CodeInvalidToken, "resume", "token", oldTok)
}

func TestResumeElsewhereClosesTheOlderConnection(t *testing.T) {
	e := newEnv(t)
	old, r := e.login(t, "1001")
	c := e.dial(t)
	c.must("resume", "token", r.str("token"))
	if st := old.closeStatus(); st != CloseTakenOver {
		t.Errorf("old connection close = %v, want %v", st, CloseTakenOver)
	}
	c.must("set_state", "state", "study")
}

// An agent the ACD shows talking on a call the engine no longer has is
// freed by a supervisor's force, and the clearing is audited: no agent
// stays locked until a restart.
func TestForceClearsStaleCall(t *testing.T) {
	e := newEnv(t)
	e.login(t, "1001")
	e.enqueue(t, "c1", "billing", "normal")
	eventually(t, "call answered", func() bool { return e.state(t, "1001") == acd.Talking })
	sup, _ := e.login(t, "9001")
	sup.refused(CodeIllegalTransition, "force_ready", "agent", "1001") // the call is live: refused
	e.calls.mu.Lock()
	e.calls.lost = map[string]bool{"c1": true}
	e.calls.mu.Unlock()
	sup.must("force_ready", "agent", "1001")
	if st := e.state(t, "1001"); st != acd.Ready {
		t.Fatalf("after the force: %s", st)
	}
	var cleared bool
	for _, r := range e.audit.records() {
		if r.Action == "clear_stale_call" && r.Agent == "1001" && r.CallID == "c1" && r.Result == "ok" {
			cleared = true
		}
	}
	if !cleared {
		t.Fatalf("no audit record of the clearing: %+v", e.audit.records())
	}
}

func TestSupervisorRequests(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"1001", "1002", "1003"} {
		e.login(t, id)
	}
	e.enqueue(t, "c1", "billing", "diamond")
	eventually(t, "call answered", func() bool { return e.state(t, "1001") == acd.Talking })
	sup, r := e.login(t, "9001")
	if r.str("role") != "supervisor" || len(r["agents"].([]any)) != 3 || r.obj("queues") == nil {
		t.Fatalf("supervisor login snapshot = %v", r)
	}
	lead, _ := e.login(t, "9002")
	admin, _ := e.login(t, "9100")

	agents := func(r msg) []string {
		var ids []string
		for _, a := range r["agents"].([]any) {
			ids = append(ids, msg(a.(map[string]any)).str("agent"))
		}
		return ids
	}
	if got := agents(sup.must("list_agents")); fmt.Sprint(got) != "[1001 1002 1003]" {
		t.Errorf("9001 sees %v", got)
	}
	if got := agents(lead.must("list_agents")); fmt.Sprint(got) != "[1002 1003]" {
		t.Errorf("9002 (technical) sees %v", got)
	}
	calls := sup.must("list_calls")["calls"].([]any)
	if len(calls) != 1 || msg(calls[0].(map[string]any)).str("agent") != "1001" {
		t.Errorf("list_calls = %v", calls)
	}
	if c, ok := lead.must("list_calls")["calls"]; ok {
		t.Errorf("9002 sees calls outside its groups: %v", c)
	}
	q := sup.must("list_queues").obj("queues")
	if tierRows(q) != 2 || len(q["queues"].([]any)) < 3 {
		t.Errorf("list_queues = %v", q)
	}

	tests := []struct {
		name   string
		c      *wsc
		typ    string
		fields []any
		code   string
		state  acd.State // of the agent afterwards, "" = unchecked
	}{
		{"force not ready", sup, "force_not_ready", []any{"agent", "1002", "reason", "coaching"}, "", acd.NotReady},
		{"force ready", sup, "force_ready", []any{"agent", "1002"}, "", acd.Ready},
		{"force ready already ready", sup, "force_ready", []any{"agent", "1002"}, CodeIllegalTransition, acd.Ready},
		{"out of scope", lead, "force_not_ready", []any{"agent", "1001"}, CodeForbidden, acd.Talking},
		{"unknown agent", sup, "force_ready", []any{"agent", "4242"}, CodeUnknownAgent, ""},
		{"missing agent", sup, "force_ready", nil, CodeBadRequest, ""},
		{"force sign-out on a call", sup, "force_sign_out", []any{"agent", "1001"}, CodeIllegalTransition, acd.Talking},
		{"lead in scope", lead, "force_not_ready", []any{"agent", "1003"}, "", acd.NotReady},
		{"admin anyone", admin, "force_sign_out", []any{"agent", "1003"}, "", acd.LoggedOut},
		{"listen", sup, "monitor", []any{"agent", "1001", "mode", "listen"}, "", ""},
		{"whisper", sup, "monitor", []any{"agent", "1001", "mode", "whisper"}, "", ""},
		{"barge", sup, "monitor", []any{"agent", "1001", "mode", "barge"}, "", ""},
		{"takeover", sup, "monitor", []any{"agent", "1001", "mode", "takeover"}, "", ""},
		{"bad mode", sup, "monitor", []any{"agent", "1001", "mode", "spy"}, CodeBadRequest, ""},
		{"monitor idle agent", sup, "monitor", []any{"agent", "1002", "mode", "listen"}, CodeUnknownCall, ""},
		{"monitor out of scope", lead, "monitor", []any{"agent", "1001", "mode", "listen"}, CodeForbidden, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.t = t
			if tt.code == "" {
				tt.c.must(tt.typ, tt.fields...)
			} else {
				tt.c.refused(tt.code, tt.typ, tt.fields...)
			}
			if tt.state != "" {
				agent := tt.fields[1].(string)
				if got := e.state(t, agent); got != tt.state {
					t.Errorf("agent %s is %s, want %s", agent, got, tt.state)
				}
			}
		})
	}
	for _, m := range []MonitorMode{Listen, Whisper, Barge, Takeover} {
		if !e.calls.has("monitor 9001 1001 " + string(m)) {
			t.Errorf("engine did not get monitor %s: %v", m, e.calls.opsLog())
		}
	}
	// Every supervisor action is audited, refusals included.
	recs := e.audit.records()
	if len(recs) != len(tests) {
		t.Errorf("%d audit records for %d actions", len(recs), len(tests))
	}
	for i, rec := range recs {
		tt := tests[i]
		wantResult := tt.code
		if wantResult == "" {
			wantResult = "ok"
		}
		if rec.Action != tt.typ || rec.Result != wantResult || rec.Actor == "" || rec.At.IsZero() {
			t.Errorf("audit %d = %+v, want %s → %s", i, rec, tt.typ, wantResult)
		}
	}
	e.calls.setFail("monitor", errors.ErrUnsupported)
	sup.t = t
	sup.refused(CodeUnsupported, "monitor", "agent", "1001", "mode", "listen")
}

func TestSupervisorEventsFollowScope(t *testing.T) {
	e := newEnv(t)
	a1, _ := e.login(t, "1001")
	a2, _ := e.login(t, "1002")
	sup, _ := e.login(t, "9001")
	lead, _ := e.login(t, "9002")

	a1.must("set_state", "state", "not_ready", "reason", "a")
	a2.must("set_state", "state", "not_ready", "reason", "b")
	sup.event("1001 state", isEvent("agent.state", "agent", "1001", "state", "not-ready"))
	sup.event("1002 state", isEvent("agent.state", "agent", "1002", "state", "not-ready"))
	// Events arrive in bus order: the first agent.state 9002 sees must be
	// 1002's, never 1001's.
	ev := lead.event("first state", isEvent("agent.state", "state", "not-ready"))
	if ev.str("agent") != "1002" {
		t.Errorf("9002 got %v, outside its groups", ev)
	}
	// An agent sees only its own seat.
	ev = a2.event("first state", isEvent("agent.state", "state", "not-ready"))
	if ev.str("agent") != "1002" {
		t.Errorf("agent 1002 got %v", ev)
	}
	// Waiting callers reach supervisors; offers carry the call card.
	e.enqueue(t, "q1", "technical", "diamond")
	q := lead.event("queued", isEvent("call.queued", "call_id", "q1"))
	if q.str("queue") != "technical" || q.str("tier") != "diamond" {
		t.Errorf("queued event = %v", q)
	}
	a2.must("set_state", "state", "ready")
	off := sup.event("offer", isEvent("call.offered", "call_id", "q1"))
	if off.str("agent") != "1002" || off.obj("call").obj("customer").str("name") == "" {
		t.Errorf("offer to supervisor = %v", off)
	}
}

func TestOverrunAlerts(t *testing.T) {
	e := newEnv(t)
	a, _ := e.login(t, "1001")
	sup, _ := e.login(t, "9001")
	a.must("set_state", "state", "break", "reason", "short")
	time.Sleep(time.Millisecond) // past the 1 ns limit of "short"
	e.acd.Tick()
	for _, c := range []*wsc{a, sup} {
		ev := c.event("overrun", isEvent("agent.break_overrun", "agent", "1001"))
		if ev.str("reason") != "short" {
			t.Errorf("overrun event = %v", ev)
		}
	}
}

func TestQueueStatsArePushed(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.StatsEvery = 10 * time.Millisecond })
	a, _ := e.login(t, "1001")
	sup, _ := e.login(t, "9001")
	a.must("set_state", "state", "not_ready", "reason", "x")
	e.enqueue(t, "w1", "billing", "diamond")
	hasWaiting := func(m msg) bool {
		if m.str("event") != "queue.stats" {
			return false
		}
		for _, q := range m.obj("stats")["queues"].([]any) {
			q := msg(q.(map[string]any))
			if q.str("name") == "billing" && q["waiting"] == float64(1) {
				return true
			}
		}
		return false
	}
	ev := sup.event("stats with a waiting caller", hasWaiting)
	st := ev.obj("stats")
	if tierRows(st) != 2 || st.obj("agents_by_state")["not-ready"] != float64(1) {
		t.Errorf("stats = %v", st)
	}
	var billing msg
	for _, q := range st["queues"].([]any) {
		if q := msg(q.(map[string]any)); q.str("name") == "billing" {
			billing = q
		}
	}
	if cs, _ := billing["callers"].([]any); len(cs) != 1 || billing["longest_wait_ms"] == nil {
		t.Errorf("supervisor billing queue = %v", billing)
	}
	ev = a.event("agent stats", hasWaiting)
	for _, q := range ev.obj("stats")["queues"].([]any) {
		if _, ok := q.(map[string]any)["callers"]; ok {
			t.Errorf("agent stats show waiting callers: %v", q)
		}
	}
}

func TestSlowConsumerIsDisconnected(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SendQueue = 4; c.WriteTimeout = 200 * time.Millisecond })
	slow, _ := e.login(t, "1001")
	other, _ := e.login(t, "9002") // does not watch 1001: gets none of the flood
	// The slow desktop stops reading; big events fill its socket, then
	// its send queue. Publish must never block meanwhile.
	slow.gate.Lock()
	defer slow.gate.Unlock()
	big := strings.Repeat("x", 60<<10)
	for i := 0; i < 5000 && e.srv.clientCount() == 2; i++ {
		e.srv.Publish(Event{Event: "test.flood", Agent: "1001", Data: big})
	}
	eventually(t, "slow consumer dropped", func() bool { return e.srv.clientCount() == 1 })
	other.must("ping")
	if e.state(t, "1001") != acd.Ready {
		t.Errorf("dropping the desktop changed the seat")
	}
}

func TestServerCloseDisconnectsClients(t *testing.T) {
	e := newEnv(t)
	c, _ := e.login(t, "1001")
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if st := c.closeStatus(); st != websocket.StatusGoingAway {
		t.Errorf("close status = %v, want 1001", st)
	}
	if e.state(t, "1001") == acd.LoggedOut {
		t.Errorf("closing the API signed the agent out")
	}
}

func TestNewValidatesAccounts(t *testing.T) {
	a, err := acd.New(acd.Config{Routing: routing.Config{Tiers: []routing.Tier{{Name: "normal", Target: 0.8, Threshold: time.Second}},
		Queues: []routing.Queue{{Name: "general"}}}}, acd.Deps{Phone: answeringPhone{}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	h, _ := HashPassword("secret")
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"no acd", Config{}, false},
		{"no password", Config{ACD: a, Accounts: []Account{{ID: "1"}}}, false},
		{"bad role", Config{ACD: a, Accounts: []Account{{ID: "1", Password: "p", Role: "king"}}}, false},
		{"bad hash", Config{ACD: a, Accounts: []Account{{ID: "1", PasswordHash: "md5$x"}}}, false},
		{"old sha256 scheme", Config{ACD: a, Accounts: []Account{{ID: "1", PasswordHash: "sha256$00$00"}}}, false},
		{"duplicate", Config{ACD: a, Accounts: []Account{{ID: "1", Password: "p"}, {ID: "1", Password: "q"}}}, false},
		{"empty id", Config{ACD: a, Accounts: []Account{{Password: "p"}}}, false},
		{"hashed", Config{ACD: a, Accounts: []Account{{ID: "1", PasswordHash: h}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("New: %v, want ok=%v", err, tt.ok)
			}
			if s != nil {
				_ = s.Close()
			}
		})
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("pass1001")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := HashPassword("pass1001")
	if h == h2 {
		t.Errorf("hashes are not salted")
	}
	if !checkPassword(h, "pass1001") || checkPassword(h, "pass1002") || checkPassword("garbage", "pass1001") {
		t.Errorf("checkPassword wrong")
	}
	if !strings.HasPrefix(h, "$2a$10$") {
		t.Errorf("not a bcrypt hash of cost 10: %s", h)
	}
	// argon2id in PHC form, as made by the reference tool
	// (echo -n pass1001 | argon2 somesaltvalue -id -t 2 -m 12 -p 1 -e).
	salt := []byte("somesaltvalue")
	key := argon2.IDKey([]byte("pass1001"), salt, 2, 4096, 1, 32)
	a2 := "$argon2id$v=19$m=4096,t=2,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" + base64.RawStdEncoding.EncodeToString(key)
	if !ValidHash(a2) || !VerifyPassword(a2, "pass1001") || VerifyPassword(a2, "pass1002") {
		t.Errorf("argon2id hash not verified: %s", a2)
	}
	if ValidHash("$argon2id$v=19$m=99999999,t=2,p=1$c29tZXNhbHR2YWx1ZQ$AAAAAAAAAAAAAAAAAAAAAA") {
		t.Error("an argon2id hash asking for 100 GB accepted")
	}
	b, _ := json.Marshal(mustAccount(t, Account{ID: "1", Password: "pw"}).Account)
	if strings.Contains(string(b), `"pw"`) {
		t.Errorf("clear password kept: %s", b)
	}
}

func mustAccount(t *testing.T, a Account) *account {
	acc, err := newAccount(a, bcryptMin)
	if err != nil {
		t.Fatal(err)
	}
	return acc
}

func TestResyncPushesSnapshots(t *testing.T) {
	e := newEnv(t)
	c, _ := e.login(t, "1001")
	sup, _ := e.login(t, "9001")
	e.srv.resync()
	ev := c.event("snapshot", isEvent("snapshot"))
	if ev.obj("seat").str("agent") != "1001" {
		t.Errorf("snapshot = %v", ev)
	}
	ev = sup.event("snapshot", isEvent("snapshot"))
	if agents, _ := ev["agents"].([]any); len(agents) != 1 || ev.obj("stats") == nil {
		t.Errorf("supervisor snapshot = %v", ev)
	}
}

func TestSlogAuditor(t *testing.T) {
	var buf strings.Builder
	a := SlogAuditor{Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	a.Audit(context.Background(), AuditRecord{At: time.Now(), Actor: "9001", Role: RoleSupervisor, Action: "force_ready", Agent: "1002", Result: "ok"})
	for _, want := range []string{"actor=9001", "action=force_ready", "agent=1002", "result=ok"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("audit line %q lacks %q", buf.String(), want)
		}
	}
}

func TestConnectionsThatNeverLogInAreClosed(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.LoginTimeout = 50 * time.Millisecond })
	idle := e.dial(t)
	busy, _ := e.login(t, "1001")
	if st := idle.closeStatus(); st != CloseAbuse {
		t.Errorf("idle connection close = %v, want %v", st, CloseAbuse)
	}
	time.Sleep(60 * time.Millisecond) // past the timeout for the logged-in one too
	busy.must("ping")
}

func TestQueueStatsFollowScope(t *testing.T) {
	e := newEnv(t)
	e.login(t, "1002") // technical, billing
	s5, _ := e.login(t, "1005")
	s5.must("set_state", "state", "not_ready", "reason", "x")
	e.enqueue(t, "s1", "sales", "normal")
	queues := func(c *wsc) map[string]msg {
		out := map[string]msg{}
		for _, q := range c.must("list_queues").obj("queues")["queues"].([]any) {
			q := msg(q.(map[string]any))
			out[q.str("name")] = q
		}
		return out
	}
	sup, _ := e.login(t, "9001")
	if q := queues(sup)["sales"]; q == nil || q["waiting"] != float64(1) || len(q["callers"].([]any)) != 1 {
		t.Errorf("9001 sales queue = %v", q)
	}
	lead, _ := e.login(t, "9002")
	got := queues(lead)
	if _, ok := got["sales"]; ok {
		t.Errorf("9002 (technical) sees the sales queue: %v", got)
	}
	if _, ok := got["technical"]; !ok {
		t.Errorf("9002 does not see its own queue: %v", got)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *Config) { c.Metrics = reg; c.MaxBadRequests = 2 })
	c, _ := e.login(t, "1001")
	c.refused(CodeIllegalTransition, "set_state", "state", "ready")
	bad := e.dial(t)
	bad.sendRaw([]byte("{"))
	bad.sendRaw([]byte("{"))
	bad.closeStatus()
	eventually(t, "bad connection gone", func() bool { return e.srv.clientCount() == 1 })
	want := map[string]float64{
		`hotline_agentapi_requests_total{result="ok",type="login"}`:                     1,
		`hotline_agentapi_requests_total{result="illegal_transition",type="set_state"}`: 1,
		`hotline_agentapi_requests_total{result="bad_request",type="unknown"}`:          2,
		`hotline_agentapi_disconnects_total{reason="abuse"}`:                            1,
		`hotline_agentapi_connections`:                                                  1,
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := mf.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				got[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				got[key] = m.Gauge.GetValue()
			}
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if _, err := New(Config{ACD: e.acd, Metrics: reg}); err == nil {
		t.Errorf("second server on one registry accepted")
	}
}

func TestLoginOverAnotherSessionDetachesIt(t *testing.T) {
	e := newEnv(t)
	c, r := e.login(t, "9001")
	tok := r.str("token")
	c.must("login", "agent", "1001", "password", "pass1001")
	c.must("set_state", "state", "study")
	// The supervisor session was left, not lost: another desktop resumes it.
	other := e.dial(t)
	if r := other.must("resume", "token", tok); r.str("agent") != "9001" {
		t.Errorf("resume = %v", r)
	}
	// And this connection still speaks for 1001.
	c.must("set_state", "state", "ready")
}

// A server built without an engine answers every call action
// "unsupported" rather than failing in some other way.
func TestNoEngineRefusesCallActions(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Calls = nil })
	c, _ := e.login(t, "1001")
	e.enqueue(t, "c1", "billing", "normal")
	c.event("answered", isEvent("call.answered", "call_id", "c1"))
	for _, typ := range []string{"answer", "mute", "dtmf", "conference", "complete_transfer", "return_to_caller", "hangup", "hold"} {
		c.refused(CodeUnsupported, typ, "digits", "1")
	}
	c.refused(CodeUnsupported, "consult", "target", Target{TargetQueue, "general"})
	c.refused(CodeUnsupported, "transfer", "target", Target{TargetFlow, "main"})
}

func TestHugeFrameClosesTheConnection(t *testing.T) {
	e := newEnv(t)
	c := e.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	// The write may fail half-way once the server has closed: that is the point.
	_ = c.conn.Write(ctx, websocket.MessageText, []byte(`{"id":"1","type":"ping","pad":"`+strings.Repeat("x", 2<<20)+`"}`))
	if st := c.closeStatus(); st != websocket.StatusMessageTooBig {
		t.Errorf("close status = %v, want 1009", st)
	}
}

func TestRequestRateLimit(t *testing.T) {
	// One request of burst, then one every 10 s: back-to-back requests
	// beyond the first are refused, and the connection stays.
	e := newEnv(t, func(c *Config) { c.RequestRate = 0.1; c.MaxBadRequests = 1000 })
	c := e.dial(t)
	c.must("ping")
	limited := 0
	for i := 0; i < 20; i++ {
		if r := c.do("ping"); !r.ok() {
			if r.code() != CodeRateLimited {
				t.Fatalf("refusal %v", r)
			}
			limited++
		}
	}
	if limited < 18 {
		t.Errorf("%d of 20 back-to-back requests rate limited, want nearly all", limited)
	}
}

func TestUnencodableTraceDegrades(t *testing.T) {
	e := newEnv(t)
	c, _ := e.login(t, "1001")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A trace JSON cannot encode (a channel) must not cost the offer.
	if _, err := e.acd.Enqueue(ctx, acd.Call{ID: "odd", Caller: "1", Queue: "billing", Tier: "normal", Trace: make(chan int)}); err != nil {
		t.Fatal(err)
	}
	ev := c.event("offer", isEvent("call.offered", "call_id", "odd"))
	if s, _ := ev.obj("call")["trace"].(string); !strings.HasPrefix(s, "0x") {
		t.Errorf("trace = %v, want its printed form", ev.obj("call")["trace"])
	}
	c.must("snapshot")
}

// When the ACD bus drops the API's subscription (too slow), Run
// resubscribes and every desktop gets a snapshot to redraw from.
func TestDroppedBusSubscriptionResynchronises(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := acd.New(acd.Config{Routing: routing.Config{
		Tiers:  []routing.Tier{{Name: "normal", Target: 0.8, Threshold: 20 * time.Second}},
		Queues: []routing.Queue{{Name: "billing"}, {Name: "general"}}}, Logger: quiet},
		acd.Deps{Phone: answeringPhone{}, Bus: acd.NewBus(1)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv, err := New(Config{ACD: a, Accounts: testAccounts()[:1], Logger: quiet, StatsEvery: -1, BusBuffer: 1})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	defer srv.Close()
	e := &env{t: t, acd: a, srv: srv, ts: ts}
	c, _ := e.login(t, "1001")                         // its ready event fills the one-slot buffer
	if err := a.SetNotReady("1001", "x"); err != nil { // this one is dropped: the bus unsubscribes us
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Run(ctx) }()
	ev := c.event("snapshot", isEvent("snapshot"))
	if ev.obj("seat").str("state") != "not-ready" {
		t.Errorf("snapshot seat = %v", ev.obj("seat"))
	}
	// And events flow again on the new subscription.
	c.must("set_state", "state", "ready")
	c.event("ready", isEvent("agent.state", "state", "ready"))
}

// tierRows counts the service-level rows of whole tiers (the others are
// per queue and tier).
func tierRows(stats msg) int {
	n := 0
	for _, sl := range stats["service_levels"].([]any) {
		if msg(sl.(map[string]any)).str("queue") == "" {
			n++
		}
	}
	return n
}

// finderCalls is the fake engine with a by-id lookup (CallFinder), as the
// real engine has; it counts full listings.
type finderCalls struct {
	*fakeCalls
	listed atomic.Int64
}

func (f *finderCalls) Calls() []CallInfo {
	f.listed.Add(1)
	return f.fakeCalls.Calls()
}

func (f *finderCalls) Call(id string) (CallInfo, bool) {
	for _, c := range f.fakeCalls.Calls() {
		if c.ID == id {
			return c, true
		}
	}
	return CallInfo{}, false
}

// TestOfferLooksUpOneCall: with an engine that finds a call by id, the
// offer event carries the ACD's and the engine's view of the call without
// listing every call in progress (which, per offer, made the event path's
// cost grow with the square of the traffic).
func TestOfferLooksUpOneCall(t *testing.T) {
	var fc *finderCalls
	e := newEnv(t, func(c *Config) {
		fc = &finderCalls{fakeCalls: c.Calls.(*fakeCalls)}
		c.Calls = fc
	})
	c, _ := e.login(t, "1001")
	fc.mu.Lock()
	fc.calls = append(fc.calls, CallInfo{ID: "f1", Direction: "inbound", State: "ringing", Caller: "13800000042", Callee: "10010"})
	fc.mu.Unlock()
	before := fc.listed.Load()
	e.enqueue(t, "f1", "general", "normal")
	ev := c.event("offer", isEvent("call.offered", "call_id", "f1"))
	call := ev.obj("call")
	if call.str("queue") != "general" || call.str("callee") != "10010" {
		t.Fatalf("offered call = %v, want the ACD's queue and the engine's callee", call)
	}
	if n := fc.listed.Load() - before; n != 0 {
		t.Fatalf("the offer listed every call %d times", n)
	}
}
