package engine

import (
	"strings"
	"testing"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/sip/uatest"
)

// From the first scrape: every configured queue × tier × event counter
// exists at 0, so does every disposition and every flow node; the build is
// named; no tier claims a service level it has no call for (the ratio is
// absent, /api/service-levels says no_data) while its target is there with
// the same labels; SIP responses are counted by code and registrations
// gauged.
func TestMetricsAreTruthfulFromTheStart(t *testing.T) {
	t.Parallel()
	d := startDemo(t, nil)
	m := scrape(t, d)
	for _, series := range []string{
		`hotline_queue_calls_total{event="offered",queue="billing",tier="diamond"}`,
		`hotline_queue_calls_total{event="abandoned",queue="technical",tier="normal"}`,
		`hotline_calls_total{disposition="abandoned_queue"}`,
		`hotline_ivr_node_hits_total{flow="main",node="greeting"}`,
		`hotline_records_lost_total{log="calls"}`,
		`hotline_sip_responses_total{code="503"}`,
		`hotline_integrity_violations_total{kind="agent_without_call"}`,
		`hotline_registrations`,
	} {
		v, ok := m[series]
		if !ok || v != 0 {
			t.Errorf("%s = %v (present %v), want 0 from the start", series, v, ok)
		}
	}
	build := false
	for k, v := range m {
		if strings.HasPrefix(k, "hotline_build_info{") && v == 1 && strings.Contains(k, `go_version="go`) {
			build = true
		}
		if strings.HasPrefix(k, "hotline_service_level_ratio{") {
			t.Errorf("%s = %v with no call in the window", k, v)
		}
	}
	if !build {
		t.Error("no hotline_build_info")
	}
	for _, series := range []string{`hotline_service_level_target_ratio{queue="",tier="diamond"}`, `hotline_service_level_target_ratio{queue="general",tier="diamond"}`} {
		if m[series] != 0.95 {
			t.Errorf("%s = %v, want 0.95", series, m[series])
		}
	}
	var api []agentapi.ServiceLevelView
	d.getJSON(t, "/api/service-levels", &api)
	if len(api) == 0 {
		t.Fatal("no service levels")
	}
	for _, sl := range api {
		if !sl.NoData || sl.Actual != nil || sl.Met {
			t.Fatalf("tier with no calls: %+v", sl)
		}
	}

	// A phone registers; a call is refused (unknown number: 404).
	phone := uatest.New(t, d.e.SIPAddr())
	if err := phone.Register("1001", "pass1001", 300); err != nil {
		t.Fatal(err)
	}
	d.waitAgent(t, "1001", acd.Ready)
	trunk := uatest.New(t, d.e.SIPAddr())
	if _, err := trunk.Call("99999", uatest.CallOptions{From: "13800000001"}); err == nil {
		t.Fatal("a call to an unknown number was answered")
	}
	m = scrape(t, d)
	if m[`hotline_registrations`] != 1 {
		t.Errorf("hotline_registrations = %v after one phone registered", m[`hotline_registrations`])
	}
	if m[`hotline_sip_responses_total{code="200"}`] < 1 || m[`hotline_sip_responses_total{code="401"}`] < 1 || m[`hotline_sip_responses_total{code="404"}`] < 1 {
		t.Errorf("responses counted: 200 %v, 401 %v, 404 %v", m[`hotline_sip_responses_total{code="200"}`],
			m[`hotline_sip_responses_total{code="401"}`], m[`hotline_sip_responses_total{code="404"}`])
	}
}
