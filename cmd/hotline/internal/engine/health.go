package engine

import (
	"encoding/json"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/agentapi"
)

// Truthful health: a figure with nothing behind it is absent, not a
// reassuring default; every counter an alert may watch exists at 0 from the
// start for every label set the configuration allows, so that rate() and
// absent() behave from the first scrape.

// serviceLevels is GET /api/service-levels: each tier's service level,
// then each tier's in each queue; a tier with no call in the window has
// "actual": null and "no_data": true.
func (e *Engine) serviceLevels(w http.ResponseWriter, _ *http.Request) {
	out := []agentapi.ServiceLevelView{}
	for _, sl := range e.acd.ServiceLevels() {
		out = append(out, agentapi.LevelView(sl))
	}
	for _, sl := range e.acd.QueueServiceLevels() {
		out = append(out, agentapi.LevelView(sl))
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// sipResponseCodes are the codes hotline_sip_responses_total shows from
// the start (others appear once sent; SIP codes are a bounded set).
var sipResponseCodes = []int{100, 180, 181, 183, 200, 400, 401, 403, 404, 405, 408, 422, 480, 481, 486, 487, 488, 500, 503}

// healthCollector reads counters other parts keep (SIP responses,
// registrations) at scrape time.
type healthCollector struct {
	e         *Engine
	responses *prometheus.Desc
	regs      *prometheus.Desc
	draining  *prometheus.Desc
}

func newHealthCollector(e *Engine) *healthCollector {
	return &healthCollector{e: e,
		responses: prometheus.NewDesc("hotline_sip_responses_total", "SIP responses sent, by status code (retransmissions included).", []string{"code"}, nil),
		regs:      prometheus.NewDesc("hotline_registrations", "Phones (users) with a live registration through this node.", nil, nil),
		draining:  prometheus.NewDesc("hotline_draining", "1 while the node refuses new calls (drain, stop); 0 when it takes calls.", nil, nil),
	}
}

func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.responses
	ch <- c.regs
	ch <- c.draining
}

func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	sent := c.e.sip.ResponsesSent()
	for _, code := range sipResponseCodes {
		if _, ok := sent[code]; !ok {
			sent[code] = 0
		}
	}
	for code, n := range sent {
		ch <- prometheus.MustNewConstMetric(c.responses, prometheus.CounterValue, float64(n), strconv.Itoa(code))
	}
	users, _ := c.e.sip.Registrar().Count()
	ch <- prometheus.MustNewConstMetric(c.regs, prometheus.GaugeValue, float64(users))
	draining := 0.0
	if c.e.Draining() {
		draining = 1
	}
	ch <- prometheus.MustNewConstMetric(c.draining, prometheus.GaugeValue, draining)
}

// registerHealth adds the build information, the lost-records counter and
// the collector above.
func (m *metrics) registerHealth(e *Engine) {
	version, revision := "(devel)", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{Name: "hotline_build_info", Help: "Always 1; the labels say which build runs.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "go_version": runtime.Version()}})
	build.Set(1)
	m.reg.MustRegister(build, m.recordsLost, newHealthCollector(e))
}

// newRecordsLost is hotline_records_lost_total{log}.
func newRecordsLost() *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotline_records_lost_total",
		Help: "Records that never reached their log (queue full, file error), by log: calls, agent_states, audit. Each lost call record is logged with its call id."},
		[]string{"log"})
	for _, l := range []string{"calls", "agent_states", "audit"} {
		c.WithLabelValues(l)
	}
	return c
}

// onLost is a writer's OnLost: the lines are counted and, for call
// records, the calls named in the log.
func (e *Engine) onLost(log string) func([][]byte, string) {
	return func(lines [][]byte, why string) {
		e.metrics.recordsLost.WithLabelValues(log).Add(float64(len(lines)))
		if log != "calls" {
			e.log.Error("records lost", "log", log, "count", len(lines), "why", why)
			return
		}
		ids := make([]string, 0, len(lines))
		for _, l := range lines {
			var r struct {
				CallID string `json:"call_id"`
			}
			_ = json.Unmarshal(l, &r)
			ids = append(ids, r.CallID)
		}
		e.log.Error("call records lost", "count", len(lines), "why", why, "calls", ids)
	}
}

// zeroLabels creates the label sets of the current configuration at 0:
// queue × tier × event, dispositions, and every node of every flow.
func (m *metrics) zeroLabels(p *plan) {
	for _, q := range p.queues {
		for _, t := range p.cfg.Tiers {
			for _, ev := range []string{"offered", "answered", "abandoned", "abandoned_short", "overflow", "rona"} {
				m.call.queueEvents.WithLabelValues(q, t.Name, ev)
			}
			m.call.waitAnswer.WithLabelValues(q, t.Name)
		}
	}
	for _, d := range []cdr.Disposition{cdr.Answered, cdr.AbandonedIVR, cdr.CompletedIVR, cdr.AbandonedQueue, cdr.Overflowed, cdr.Blacklisted, cdr.Failed} {
		m.calls.WithLabelValues(string(d))
	}
	for _, k := range []string{"call_arrived", "agent_freed"} {
		m.call.decisions.WithLabelValues(k)
	}
	for _, r := range []string{"junk", "payload_type", "oversize", "stranger"} {
		m.call.rtpDropped.WithLabelValues(r)
	}
	for _, d := range []string{"in", "out"} {
		m.call.rtpPackets.WithLabelValues(d)
	}
}

// zeroFlows creates hotline_ivr_node_hits_total for every node of every
// flow in service.
func (e *Engine) zeroFlows() {
	for _, name := range e.flows.Names() {
		if f, ok := e.flows.Flow(name); ok {
			for id := range f.Nodes {
				e.metrics.call.nodeHits.WithLabelValues(f.Name, id)
			}
		}
	}
}
