package agentapi

import (
	"strings"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/cdr"
)

type memHistory map[string][]cdr.PastCall

func (h memHistory) Last(caller string, n int) []cdr.PastCall {
	c := h[caller]
	return c[:min(n, len(c))]
}

// The desktop's extras: the login reply carries codes per queue, break
// limits, card attributes and language; customer_history answers for the
// agent's own calls only; wrap_up_end checks the queue's codes and stores
// the note; queue statistics carry per-queue rows and the answer speed.
func TestDeskExtras(t *testing.T) {
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	hist := memHistory{"13800000001": {
		{CallID: "c1", At: at.Add(time.Hour)}, // the live call itself: never listed
		{CallID: "old2", At: at, Queue: "billing", Agent: "1002", Disposition: cdr.Answered, WrapUpCode: "refund", WrapUpNote: "sent"},
		{CallID: "old1", At: at.Add(-time.Hour), Disposition: cdr.AbandonedQueue},
	}}
	e := newEnv(t, func(c *Config) {
		c.QueueCodes = map[string][]string{"billing": {"resolved", "refund"}}
		c.BreakLimits = map[string]time.Duration{"lunch": 45 * time.Minute}
		c.CustomerAttributes = []string{"plan"}
		c.Languages = map[string]string{"1001": "zh-CN"}
		c.History, c.HistorySize = hist, 1
	})
	c, r := e.login(t, "1001")
	if r.obj("wrap_up_codes")["billing"] == nil || r.obj("break_limits_s")["lunch"] != float64(2700) || r.str("language") != "zh-CN" ||
		r["history"] != true || len(r["customer_attributes"].([]any)) != 1 {
		t.Fatalf("login extras: %v", r)
	}
	other, _ := e.login(t, "1002")
	sup, _ := e.login(t, "9001")

	e.enqueue(t, "c1", "billing", "diamond")
	c.event("offer", isEvent("call.offered", "call_id", "c1"))
	h := c.must("customer_history", "call", "c1")
	past := h["calls_before"].([]any)
	if h.str("caller") != "13800000001" || len(past) != 1 || msg(past[0].(map[string]any)).str("wrap_up_code") != "refund" {
		t.Fatalf("customer_history = %v", h)
	}
	other.refused(CodeUnknownCall, "customer_history", "call", "c1")
	other.refused(CodeForbidden, "customer_history", "number", "13800000001")
	c.refused(CodeBadRequest, "customer_history")
	if h := sup.must("customer_history", "number", "13800000001"); len(h["calls_before"].([]any)) != 1 {
		t.Fatalf("supervisor history = %v", h)
	}
	if h := sup.must("customer_history", "call", "c1"); h.str("caller") != "13800000001" {
		t.Fatalf("supervisor history of a live call = %v", h)
	}

	eventually(t, "talking", func() bool { return e.state(t, "1001") == acd.Talking })
	sup.must("list_queues") // the stats carry the answer speed of the window
	st := sup.must("list_queues").obj("queues")
	var billingDiamond msg
	for _, sl := range st["service_levels"].([]any) {
		if m := msg(sl.(map[string]any)); m.str("queue") == "billing" && m.str("tier") == "diamond" {
			billingDiamond = m
		}
	}
	if billingDiamond == nil || billingDiamond["asa_s"] == nil || billingDiamond["answered"] != float64(1) {
		t.Fatalf("no billing/diamond row with the answer speed: %v", st["service_levels"])
	}

	c.must("hangup")
	c.event("wrap-up", isEvent("agent.state", "state", "wrap-up"))
	// After the wrap-up the history still answers for the call just ended.
	c.must("customer_history", "call", "c1")
	// Billing has its own codes: the global "solved" is refused, a note too long as well.
	c.refused(CodeBadRequest, "wrap_up_end", "code", "solved")
	c.refused(CodeBadRequest, "wrap_up_end", "code", "refund", "note", strings.Repeat("字", 501))
	c.must("wrap_up_end", "code", "refund", "note", "退款 refund by Friday")
	if !e.calls.has("disposition 1001 c1 refund") || !e.calls.has("note 1001 c1 退款 refund by Friday") {
		t.Fatalf("code and note not stored: %v", e.calls.opsLog())
	}
}

func TestWaitWindow(t *testing.T) {
	w := newWaitWindow(time.Hour, 12)
	t0 := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	w.add(t0, "billing", "gold", 10*time.Second)
	w.add(t0.Add(time.Minute), "general", "gold", 20*time.Second)
	if v := w.asa(t0.Add(2*time.Minute), "", "gold"); v == nil || *v != 15 {
		t.Fatalf("gold ASA %v, want 15", v)
	}
	if v := w.asa(t0.Add(2*time.Minute), "billing", "gold"); v == nil || *v != 10 {
		t.Fatalf("billing/gold ASA %v, want 10", v)
	}
	if v := w.asa(t0.Add(2*time.Minute), "billing", "diamond"); v != nil {
		t.Fatalf("diamond ASA %v, want none", *v)
	}
	if v := w.asa(t0.Add(61*time.Minute), "", "gold"); v != nil {
		t.Fatalf("ASA %v after the window, want none", *v)
	}
}
