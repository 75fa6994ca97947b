package engine

import (
	"context"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/agentapi/browsertest"
	"github.com/hotlinecc/hotline/sip/sipptest"
)

// The embedded desktop in real headless Chromium against the running engine:
// the agent signs in on the page, a SIPp caller pops the call card with the
// CRM record and the IVR trace, and the agent hangs up from the page.
func TestBrowserDesktopWithSIPpCall(t *testing.T) {
	t.Parallel()
	d := startDemo(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	phone := d.agentPhone(t, "1001", sipptest.Agent{RingMs: 100}, 1) // waits for the engine's BYE

	b := browsertest.Chromium(t)
	b.Navigate("http://" + d.e.HTTPAddr() + "/")
	b.Until("login form", `!document.getElementById("login-view").hidden && document.getElementById("conn").textContent === "online"`)
	b.Eval(`document.getElementById("login-agent").value = "1001";
		document.getElementById("login-password").value = "pass1001";
		document.getElementById("login-form").requestSubmit(); true`)
	b.Until("agent view", `!document.getElementById("agent-view").hidden`)
	b.Until("ready", `document.getElementById("state").textContent === "ready"`)

	c := d.call(t, "13800000002", ctx)
	c.waitAudio(greetingFrames + 25)
	c.press('1')
	b.Until("call card", `!document.getElementById("call-card").hidden`)
	b.Until("customer record", `document.getElementById("customer").innerText.includes("Demo Gold")`)
	b.Until("tier and queue", `document.getElementById("call-info").innerText.includes("gold") && document.getElementById("call-info").innerText.includes("billing")`)
	b.Until("IVR trace", `document.querySelectorAll("#trace li").length >= 5`)
	d.bridged(t, ctx, "1001")
	b.Eval(`document.getElementById("hangup").click(); true`)
	if code, err := phone.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("hang-up from the page did not release the phone: exit %d (%v)\n%s", code, err, phone.Output())
	}
	b.Until("wrap-up card", `!document.getElementById("wrap-card").hidden`)
	c.waitAudio(c.packets() + 25) // the caller is in the survey
	c.press('5')
	c.finished(ctx)
	b.Eval(`document.getElementById("dispo").value = "resolved"; document.getElementById("wrap-end").click(); true`)
	b.Until("ready again", `document.getElementById("state").textContent === "ready"`)
	for _, x := range b.Errors() {
		t.Errorf("page error: %s", x)
	}
	if res := d.result(t, ctx); res.Agent != "1001" || res.SurveyScore != 5 {
		t.Fatalf("agent %q survey %d", res.Agent, res.SurveyScore)
	}
}
