// The desktop page in real headless Chromium, driven over the DevTools
// protocol: go test -run Browser ./agentapi. It needs the Debian chromium
// package, which the test suite installs; HOTLINE_CHROMIUM overrides the path.

package agentapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/agentapi/browsertest"
)

// gatedServer serves the API and the page like the engine (with empty
// reports and recordings); while down is set it refuses WebSocket
// connections, as an engine that is restarting does.
func gatedServer(t *testing.T, e *env) (*httptest.Server, *atomic.Bool) {
	var down atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/reports", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"rows":[]}`)
	})
	mux.HandleFunc("GET /recordings/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"recordings":[]}`)
	})
	h := e.srv.Handler()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if down.Load() && r.URL.Path == "/ws" {
			http.Error(w, "restarting", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(func() { ts.CloseClientConnections(); ts.Close() })
	return ts, &down
}

func TestBrowserDesktop(t *testing.T) {
	hist := memHistory{"13800000001": {{CallID: "old", At: time.Now().Add(-26 * time.Hour), Queue: "billing", Agent: "1002",
		Disposition: cdr.Answered, WrapUpCode: "refund", WrapUpNote: "sent by post"}}}
	e := newEnv(t, func(c *Config) {
		c.StatsEvery = 100 * time.Millisecond
		c.QueueCodes = map[string][]string{"billing": {"resolved", "refund"}}
		c.BreakLimits = map[string]time.Duration{"lunch": time.Hour}
		c.CustomerAttributes = []string{"plan"}
		c.Languages = map[string]string{"1001": "zh-CN"}
		c.History = hist
	})
	ts, down := gatedServer(t, e)
	b := browsertest.Chromium(t)
	b.SetLanguages("en-GB,en")
	b.Navigate(ts.URL + "/")
	b.Until("login form, connected", `!document.getElementById("login-view").hidden && document.getElementById("conn").classList.contains("on")`)
	if got := b.Eval(`document.querySelector("#login-view h2").textContent`); got != "Sign in" {
		t.Errorf("English browser: login title %q", got)
	}

	login := func(id string) {
		b.Eval(fmt.Sprintf(`document.getElementById("login-agent").value = %q;
			document.getElementById("login-password").value = "pass%s";
			document.getElementById("login-form").requestSubmit(); true`, id, id))
	}
	// 1001 is configured for Chinese: the desk comes up in zh-CN.
	login("1001")
	b.Until("agent view", `!document.getElementById("agent-view").hidden`)
	b.Until("ready state", `document.getElementById("state").dataset.state === "ready"`)
	b.Until("Chinese labels", `document.getElementById("state").textContent === "空闲" && document.querySelector('#state-buttons [data-state="ready"]').textContent === "示闲"`)
	if b.Eval(`document.documentElement.lang`) != "zh-CN" {
		t.Error("html lang is not zh-CN")
	}
	b.Until("ready button off while ready", `document.querySelector('#state-buttons [data-state="ready"]').disabled`)

	// State buttons with reason codes; a break shows its time left against the limit.
	b.Eval(`document.getElementById("nr-reason").value = "meeting"; document.querySelector('#state-buttons [data-state="not_ready"]').click(); true`)
	eventually(t, "agent not ready", func() bool { s, _ := e.acd.Agent("1001"); return s.State == acd.NotReady && s.Reason == "meeting" })
	b.Until("not-ready shown", `document.getElementById("state").dataset.state === "not-ready"`)
	b.Eval(`document.getElementById("break-reason").value = "lunch"; document.querySelector('#state-buttons [data-state="break"]').click(); true`)
	b.Until("break time left", `!document.getElementById("break-box").hidden && document.getElementById("break-left").textContent.includes("1:00:00")`)
	b.Eval(`document.querySelector('#state-buttons [data-state="ready"]').click(); true`)
	eventually(t, "agent ready", func() bool { return e.state(t, "1001") == acd.Ready })

	// A call pops the card: name, tier colour, attributes, history, IVR trace.
	e.enqueue(t, "c1", "billing", "diamond")
	b.Until("call card", `!document.getElementById("call-card").hidden`)
	b.Until("customer", `document.getElementById("cust-name").textContent === "Demo Diamond" && document.getElementById("cust-tier").dataset.tier === "diamond"`)
	if bg := b.Eval(`getComputedStyle(document.getElementById("cust-tier")).backgroundColor`); bg != "rgb(37, 99, 235)" {
		t.Errorf("diamond badge colour %s", bg)
	}
	b.Until("history from earlier calls", `document.querySelectorAll("#history tbody tr").length === 1 && document.getElementById("history").innerText.includes("退款")`)
	b.Until("trace", `document.querySelectorAll("#trace li").length === 3`)
	if got := b.Eval(`traceText({at: "2026-01-01T10:00:00Z", flow: "main", node: "menu", event: "choice", digits: "1", detail: {queue: "billing", goto: "queue-billing", ms: "3"}}, true)`); got != "menu · 按键选择 [1] queue=billing → queue-billing" {
		t.Errorf("IVR trace entry rendered as %q", got)
	}
	b.Until("handle time", `!document.getElementById("call-timer-box").hidden`)
	// Only what applies: no consultation yet, no transfer without a target.
	for _, id := range []string{"complete", "conference", "return", "consult", "transfer", "answer"} {
		if b.Eval(`document.getElementById("`+id+`").disabled`) != "true" {
			t.Errorf("button %s enabled on a plain talking call", id)
		}
	}
	b.Eval(`const x = document.getElementById("xfer-value"); x.value = "1002"; x.dispatchEvent(new Event("input")); true`)
	b.Until("transfer with a target", `!document.getElementById("transfer").disabled && !document.getElementById("consult").disabled && document.getElementById("complete").disabled`)

	// Hold, DTMF, hang up, wrap-up with the queue's codes and a note.
	b.Eval(`document.getElementById("hold").click(); true`)
	eventually(t, "held", func() bool { return e.state(t, "1001") == acd.Held })
	b.Until("resume label", `document.getElementById("hold").textContent === "恢复"`)
	b.Eval(`document.getElementById("hold").click(); true`)
	eventually(t, "retrieved", func() bool { return e.state(t, "1001") == acd.Talking })
	b.Until("keypad enabled (talking again)", `![...document.querySelectorAll("#dtmf-pad button")].find(b => b.textContent === "5").disabled`)
	b.Eval(`[...document.querySelectorAll("#dtmf-pad button")].find(b => b.textContent === "5").click(); true`)
	eventually(t, "dtmf", func() bool { return e.calls.has("dtmf 1001 c1 5") })
	b.Eval(`document.getElementById("hangup").click(); true`)
	b.Until("wrap-up card", `!document.getElementById("wrap-card").hidden && document.getElementById("call-card").hidden`)
	b.Until("wrap-up countdown", `!document.getElementById("wrap-box").hidden`)
	if got := b.Eval(`[...document.getElementById("dispo").options].map(o => o.value + "=" + o.textContent).join(",")`); got != "=— 选择小结 —,resolved=已解决,refund=退款" {
		t.Errorf("wrap-up codes offered: %s", got)
	}
	b.Until("end wrap-up needs a code", `document.getElementById("wrap-end").disabled`)
	b.Eval(`const d = document.getElementById("dispo"); d.value = "refund"; d.dispatchEvent(new Event("change"));
		document.getElementById("dispo-note").value = "退款三天内到账"; true`)
	b.Until("end wrap-up enabled", `!document.getElementById("wrap-end").disabled`)
	b.Eval(`document.getElementById("wrap-end").click(); true`)
	eventually(t, "ready after wrap-up", func() bool { return e.state(t, "1001") == acd.Ready })
	if !e.calls.has("disposition 1001 c1 refund") || !e.calls.has("note 1001 c1 退款三天内到账") {
		t.Errorf("disposition not stored: %v", e.calls.opsLog())
	}

	// The engine goes away: the page says so, switches its controls off and
	// stops its timers; it comes back by itself and resumes the session.
	b.Until("state timer ticking", `document.getElementById("state-time").textContent !== ""`)
	down.Store(true)
	e.srv.dropClients()
	b.Until("offline banner", `!document.getElementById("offline-banner").hidden && document.body.classList.contains("offline")`)
	if b.Eval(`[...document.querySelectorAll("#state-buttons button, #request-call")].every(b => b.disabled)`) != "true" {
		t.Error("state buttons still enabled while disconnected")
	}
	frozen := b.Eval(`document.getElementById("state-time").textContent`)
	time.Sleep(2200 * time.Millisecond)
	if now := b.Eval(`document.getElementById("state-time").textContent`); now != frozen {
		t.Errorf("the state timer ticked while disconnected: %s → %s", frozen, now)
	}
	down.Store(false)
	b.UntilWithin(20*time.Second, "reconnected and resumed", `document.getElementById("conn").classList.contains("on") && document.getElementById("offline-banner").hidden &&
		!document.getElementById("agent-view").hidden && document.getElementById("state").dataset.state === "ready"`)
	b.Until("buttons back", `!document.querySelector('#state-buttons [data-state="break"]').disabled`)

	// Reload: the page resumes the same session.
	b.Call("Page.reload", nil)
	b.Until("resumed", `!document.getElementById("agent-view").hidden && document.getElementById("state").dataset.state === "ready"`)
	b.Until("connected", `document.getElementById("conn").classList.contains("on")`)

	// Sign out; the user picks English for themselves.
	b.Eval(`document.getElementById("logout").click(); true`)
	b.Until("login again", `!document.getElementById("login-view").hidden`)
	login("1001")
	b.Until("agent view again", `!document.getElementById("agent-view").hidden && document.getElementById("state").textContent === "空闲"`)
	b.Eval(`const l = document.getElementById("lang"); l.value = "en"; l.dispatchEvent(new Event("change")); true`)
	b.Until("English by choice", `document.getElementById("state").textContent === "ready"`)
	if b.Eval(`localStorage.getItem("hotline.lang.1001")`) != "en" {
		t.Error("the user's language choice is not kept")
	}

	// Forced sign-out by a supervisor sends the desktop back to sign-in.
	sup := e.dial(t)
	sup.must("login", "agent", "9100", "password", "pass9100")
	sup.must("force_sign_out", "agent", "1001")
	b.Until("signed out", `!document.getElementById("login-view").hidden && document.getElementById("alerts").innerText.includes("signed out")`)
	_ = e.acd.Login(acd.AgentProfile{ID: "1002", Skills: map[string]int{"technical": 1}})
	login("9001")
	b.Until("wallboard", `!document.getElementById("sup-view").hidden`)
	b.Until("seat map", `document.getElementById("seats").innerText.includes("1002")`)
	b.Until("service levels", `document.querySelector('#sl .tile[data-tier="diamond"]') && document.getElementById("queues").innerText.includes("billing")`)
	b.Eval(`document.querySelector('[aria-label="Not ready agent 1002"]').click(); true`)
	eventually(t, "forced not ready", func() bool { return e.state(t, "1002") == acd.NotReady })
	b.Until("seat map updated", `document.querySelector('#seats tr[data-agent="1002"] td[data-state]').dataset.state === "not-ready"`)
	// A caller gives up in technical (1002 not ready): tier normal falls
	// behind and the alert stays until acknowledged, then stays away.
	hangUp := e.enqueue(t, "t1", "technical", "normal")
	time.Sleep(5200 * time.Millisecond) // past the 5 s short-abandon time: it counts
	hangUp()
	b.Until("tier alert", `document.querySelector('#alerts .alert.sticky[data-key="tier:normal"]')`)
	time.Sleep(1500 * time.Millisecond) // many statistics pushes later
	if b.Eval(`document.querySelectorAll('#alerts .alert.sticky[data-key="tier:normal"]').length`) != "1" {
		t.Error("the tier alert did not stay (or was raised twice)")
	}
	b.Eval(`document.querySelector('#alerts .alert.sticky[data-key="tier:normal"] button.ack').click(); true`)
	time.Sleep(500 * time.Millisecond)
	if b.Eval(`document.querySelectorAll('#alerts .alert.sticky').length`) != "0" {
		t.Error("an acknowledged alert came back while the tier is still behind")
	}

	// Sign-out asks first: cancelled, nothing happens; confirmed, it is done.
	b.Eval(`document.querySelector('[aria-label="Sign out agent 1002"]').click(); true`)
	b.Until("confirmation", `document.getElementById("confirm").open && document.getElementById("confirm-text").textContent.includes("1002")`)
	b.Eval(`document.getElementById("confirm-cancel").click(); true`)
	b.Until("dialog closed", `!document.getElementById("confirm").open`)
	time.Sleep(200 * time.Millisecond)
	if e.state(t, "1002") == acd.LoggedOut {
		t.Fatal("sign-out carried out although cancelled")
	}
	b.Eval(`document.querySelector('[aria-label="Sign out agent 1002"]').click(); true`)
	b.Until("confirmation again", `document.getElementById("confirm").open`)
	b.Eval(`document.getElementById("confirm-ok").click(); true`)
	eventually(t, "signed out after confirming", func() bool { _, err := e.acd.Agent("1002"); return err != nil })

	// A seat that signs in later appears with its name.
	_ = e.acd.Login(acd.AgentProfile{ID: "1003", Skills: map[string]int{"general": 1}})
	b.Until("new seat", `document.getElementById("seats").innerText.includes("Agent 1003")`)
	// A call on 1003 shows on the seat map; the supervisor listens, then barges (after confirming).
	e.enqueue(t, "g1", "general", "normal")
	b.Until("call on the seat map", `document.getElementById("seats").innerText.includes("g1")`)
	b.Until("listen enabled", `!document.querySelector('[aria-label="Listen agent 1003"]').disabled`)
	b.Eval(`document.querySelector('[aria-label="Listen agent 1003"]').click(); true`)
	eventually(t, "listen", func() bool { return e.calls.has("monitor 9001 1003 listen") })
	b.Eval(`document.querySelector('[aria-label="Barge agent 1003"]').click(); true`)
	b.Until("barge confirmation", `document.getElementById("confirm").open`)
	b.Eval(`document.getElementById("confirm-ok").click(); true`)
	eventually(t, "barge", func() bool { return e.calls.has("monitor 9001 1003 barge") })
	if recs := e.audit.records(); len(recs) != 5 || recs[1].Action != "force_not_ready" || recs[1].Actor != "9001" || recs[2].Action != "force_sign_out" || recs[4].Detail != "barge" {
		t.Errorf("audit = %+v", recs)
	}

	// A phone: nothing wider than the screen.
	b.Viewport(390, 844)
	time.Sleep(200 * time.Millisecond)
	if n := b.Overflow(); n > 0 {
		t.Errorf("wallboard overflows a 390 px screen by %d px", n)
	}
	for _, x := range b.Errors() {
		if strings.Contains(x, "/ws") || strings.Contains(x, "503") {
			continue // the refused reconnects while "restarting"
		}
		t.Errorf("page error: %s", x)
	}
}

// dropClients cuts every connection, as a crashing engine would.
func (s *Server) dropClients() {
	s.mu.RLock()
	var cl []*client
	for c := range s.clients {
		cl = append(cl, c)
	}
	s.mu.RUnlock()
	for _, c := range cl {
		c.shutdown(websocket.StatusGoingAway, "restarting", false)
	}
}
