// The desktop page in real headless Chromium, driven over the DevTools
// protocol: go test -run Browser ./agentapi. It needs the Debian chromium
// package, which the test suite installs; HOTLINE_CHROMIUM overrides the path.

package agentapi

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/agentapi/browsertest"
)

func TestBrowserDesktop(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.StatsEvery = 100 * time.Millisecond })
	b := browsertest.Chromium(t)
	b.Navigate(e.ts.URL + "/")
	b.Until("login form, connected", `!document.getElementById("login-view").hidden && document.getElementById("conn").textContent === "online"`)

	login := func(id string) {
		b.Eval(fmt.Sprintf(`document.getElementById("login-agent").value = %q;
			document.getElementById("login-password").value = "pass%s";
			document.getElementById("login-form").requestSubmit(); true`, id, id))
	}
	login("1001")
	b.Until("agent view", `!document.getElementById("agent-view").hidden`)
	b.Until("ready state", `document.getElementById("state").textContent === "ready"`)

	// State buttons with reason codes.
	b.Eval(`document.getElementById("nr-reason").value = "meeting"; document.querySelector('[data-state="not_ready"]').click(); true`)
	eventually(t, "agent not ready", func() bool { s, _ := e.acd.Agent("1001"); return s.State == acd.NotReady && s.Reason == "meeting" })
	b.Until("not-ready shown", `document.getElementById("state").textContent === "not-ready"`)
	b.Eval(`document.querySelector('[data-state="ready"]').click(); true`)
	eventually(t, "agent ready", func() bool { return e.state(t, "1001") == acd.Ready })

	// A call pops the card with customer record, tier and IVR trace.
	e.enqueue(t, "c1", "billing", "diamond")
	b.Until("call card", `!document.getElementById("call-card").hidden`)
	b.Until("customer", `document.getElementById("customer").innerText.includes("Demo Diamond")`)
	b.Until("tier", `document.getElementById("call-info").innerText.includes("diamond")`)
	b.Until("trace", `document.querySelectorAll("#trace li").length === 3`)
	if got := b.Eval(`traceText({at: "2026-01-01T10:00:00Z", flow: "main", node: "menu", event: "choice", digits: "1", detail: {queue: "billing"}})`); !strings.Contains(got, "main/menu choice [1] queue=billing") {
		t.Errorf("IVR trace entry rendered as %q", got)
	}
	b.Shot("desktop-call")

	// Hold, DTMF, hang up, wrap-up code.
	b.Eval(`document.getElementById("hold").click(); true`)
	eventually(t, "held", func() bool { return e.state(t, "1001") == acd.Held })
	b.Until("unhold label", `document.getElementById("hold").textContent === "Unhold"`)
	b.Eval(`document.getElementById("hold").click(); true`)
	eventually(t, "retrieved", func() bool { return e.state(t, "1001") == acd.Talking })
	// Buttons follow the call's state: the keypad once the caller is back.
	b.Until("keypad enabled", `![...document.querySelectorAll("#dtmf-pad button")].find(b => b.textContent === "5").disabled`)
	b.Eval(`[...document.querySelectorAll("#dtmf-pad button")].find(b => b.textContent === "5").click(); true`)
	eventually(t, "dtmf", func() bool { return e.calls.has("dtmf 1001 c1 5") })
	b.Eval(`document.getElementById("hangup").click(); true`)
	b.Until("wrap-up card", `!document.getElementById("wrap-card").hidden`)
	b.Until("call card gone", `document.getElementById("call-card").hidden`)
	b.Eval(`document.getElementById("dispo").value = "callback"; document.getElementById("wrap-end").click(); true`)
	eventually(t, "ready after wrap-up", func() bool { return e.state(t, "1001") == acd.Ready })
	if !e.calls.has("disposition 1001 c1 callback") {
		t.Errorf("disposition not stored: %v", e.calls.opsLog())
	}

	// Reload: the page resumes the same session.
	b.Call("Page.reload", nil)
	b.Until("resumed", `!document.getElementById("agent-view").hidden && document.getElementById("state").textContent === "ready"`)
	b.Until("connected", `document.getElementById("conn").textContent === "online"`)

	// Supervisor view on the same page.
	b.Eval(`document.getElementById("logout").click(); true`)
	b.Until("login again", `!document.getElementById("login-view").hidden`)

	// Forced sign-out by a supervisor sends the desktop back to sign-in.
	login("1001")
	b.Until("agent view again", `!document.getElementById("agent-view").hidden`)
	sup := e.dial(t)
	sup.must("login", "agent", "9100", "password", "pass9100")
	sup.must("force_sign_out", "agent", "1001")
	b.Until("signed out", `!document.getElementById("login-view").hidden && document.getElementById("alerts").innerText.includes("signed out")`)
	_ = e.acd.Login(acd.AgentProfile{ID: "1002", Skills: map[string]int{"technical": 1}})
	login("9001")
	b.Until("wallboard", `!document.getElementById("sup-view").hidden`)
	b.Until("seat map", `document.getElementById("seats").innerText.includes("1002")`)
	b.Until("service levels", `document.getElementById("sl").innerText.includes("diamond")`)
	b.Eval(`document.querySelector('[aria-label="Not ready agent 1002"]').click(); true`)
	eventually(t, "forced not ready", func() bool { return e.state(t, "1002") == acd.NotReady })
	b.Until("seat map updated", `document.getElementById("seats").innerText.includes("not-ready")`)
	b.Shot("wallboard")
	// A seat that signs in later appears with its name.
	_ = e.acd.Login(acd.AgentProfile{ID: "1003", Skills: map[string]int{"general": 1}})
	b.Until("new seat", `document.getElementById("seats").innerText.includes("Agent 1003")`)
	// A call on 1003 shows on the seat map; the supervisor listens, then barges.
	e.enqueue(t, "g1", "general", "normal")
	b.Until("call on the seat map", `document.getElementById("seats").innerText.includes("g1")`)
	b.Eval(`document.querySelector('[aria-label="Listen agent 1003"]').click(); true`)
	eventually(t, "listen", func() bool { return e.calls.has("monitor 9001 1003 listen") })
	b.Eval(`document.querySelector('[aria-label="Barge agent 1003"]').click(); true`)
	eventually(t, "barge", func() bool { return e.calls.has("monitor 9001 1003 barge") })
	if recs := e.audit.records(); len(recs) != 4 || recs[1].Action != "force_not_ready" || recs[1].Actor != "9001" || recs[3].Detail != "barge" {
		t.Errorf("audit = %+v", recs)
	}

	for _, x := range b.Errors() {
		t.Errorf("page exception: %s", x)
	}
}
