package engine

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/ivr"
	"github.com/hotlinecc/hotline/media"
)

// Labels stay bounded: queues, tiers, states, flows and nodes come from the
// configuration, never from callers (no call ids or numbers as labels).

// acdCollector reads the ACD's live state at scrape time, so gauges never
// drift from the truth and cost nothing between scrapes.
type acdCollector struct {
	e          *Engine
	agents     *prometheus.Desc
	waiting    *prometheus.Desc
	longest    *prometheus.Desc
	sl         *prometheus.Desc
	slTarget   *prometheus.Desc
	activeLegs *prometheus.Desc
	calls      *prometheus.Desc
}

func newACDCollector(e *Engine) *acdCollector {
	return &acdCollector{
		e:       e,
		agents:  prometheus.NewDesc("hotline_agents", "Logged-in agents by state.", []string{"state"}, nil),
		waiting: prometheus.NewDesc("hotline_queue_waiting_calls", "Callers waiting in a queue.", []string{"queue"}, nil),
		longest: prometheus.NewDesc("hotline_queue_longest_wait_seconds", "Longest current wait in a queue.", []string{"queue"}, nil),
		sl: prometheus.NewDesc("hotline_service_level_ratio", "Actual service level per tier (queue \"\" = all queues), over the router's window; absent while the tier has no call in the window.",
			[]string{"tier", "queue"}, nil),
		slTarget:   prometheus.NewDesc("hotline_service_level_target_ratio", "Target service level per tier, with the same labels as hotline_service_level_ratio.", []string{"tier", "queue"}, nil),
		activeLegs: prometheus.NewDesc("hotline_sip_legs", "SIP legs up (callers, agents, supervisors).", nil, nil),
		calls:      prometheus.NewDesc("hotline_active_calls", "Calls in the engine by phase.", []string{"phase"}, nil),
	}
}

func (c *acdCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.agents, c.waiting, c.longest, c.sl, c.slTarget, c.activeLegs, c.calls} {
		ch <- d
	}
}

func (c *acdCollector) Collect(ch chan<- prometheus.Metric) {
	e := c.e
	byState := map[acd.State]int{}
	for _, s := range acd.AllStates {
		if s != acd.LoggedOut {
			byState[s] = 0
		}
	}
	// Other nodes' agents and callers are theirs to count: summed over
	// the nodes, the figures are the centre's.
	for _, a := range e.acd.Agents() {
		if a.State != acd.LoggedOut && a.Node == "" {
			byState[a.State]++
		}
	}
	for s, n := range byState {
		ch <- prometheus.MustNewConstMetric(c.agents, prometheus.GaugeValue, float64(n), string(s))
	}
	waiting, longest := map[string]int{}, map[string]time.Duration{}
	for _, q := range e.conf().Queues {
		waiting[q.Name], longest[q.Name] = 0, 0
	}
	now := time.Now()
	inQueue, talking := 0, 0
	for _, cs := range e.acd.Calls() {
		if cs.Node != "" {
			continue
		}
		switch cs.State {
		case "queued", "ringing":
			inQueue++
			waiting[cs.Call.Queue]++
			if w := now.Sub(cs.Call.EnqueuedAt); w > longest[cs.Call.Queue] {
				longest[cs.Call.Queue] = w
			}
		default:
			talking++
		}
	}
	for q, n := range waiting {
		ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(n), q)
		ch <- prometheus.MustNewConstMetric(c.longest, prometheus.GaugeValue, longest[q].Seconds(), q)
	}
	for _, sl := range append(e.acd.ServiceLevels(), e.acd.QueueServiceLevels()...) {
		// No call in the window: no sample (an alert must not see 100 %).
		if acd.HasSample(sl) {
			ch <- prometheus.MustNewConstMetric(c.sl, prometheus.GaugeValue, sl.Actual, sl.Tier, sl.Queue)
		}
		ch <- prometheus.MustNewConstMetric(c.slTarget, prometheus.GaugeValue, sl.Target, sl.Tier, sl.Queue)
	}
	ch <- prometheus.MustNewConstMetric(c.activeLegs, prometheus.GaugeValue, float64(e.sip.ActiveLegs()))
	total := e.ctl.Count()
	ivrCalls := total - inQueue - talking
	if ivrCalls < 0 {
		ivrCalls = 0
	}
	ch <- prometheus.MustNewConstMetric(c.calls, prometheus.GaugeValue, float64(ivrCalls), "ivr")
	ch <- prometheus.MustNewConstMetric(c.calls, prometheus.GaugeValue, float64(inQueue), "queued")
	ch <- prometheus.MustNewConstMetric(c.calls, prometheus.GaugeValue, float64(talking), "agent")
}

// callMetrics are counted from ACD events and finished calls.
type callMetrics struct {
	queueEvents *prometheus.CounterVec
	waitAnswer  *prometheus.HistogramVec
	decisions   *prometheus.HistogramVec
	nodeHits    *prometheus.CounterVec
	rtpPackets  *prometheus.CounterVec
	rtpLost     prometheus.Counter
	rtpLate     prometheus.Counter
	rtpDropped  *prometheus.CounterVec
	rtpJitter   prometheus.Histogram
	silentLegs  prometheus.Counter
}

func newCallMetrics(reg *prometheus.Registry) *callMetrics {
	m := &callMetrics{
		queueEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_queue_calls_total",
			Help: "Queue events per queue and tier: offered (queued), answered, abandoned (after the short-abandon threshold or not), overflow, rona.",
		}, []string{"queue", "tier", "event"}),
		waitAnswer: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hotline_queue_answer_wait_seconds", Help: "Wait from enqueue to agent answer (sum/count = ASA).",
			Buckets: []float64{1, 2, 5, 10, 15, 20, 30, 60, 120, 300},
		}, []string{"queue", "tier"}),
		decisions: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hotline_routing_decision_seconds", Help: "Routing decision latency.",
			Buckets: []float64{1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 1e-2},
		}, []string{"kind"}),
		nodeHits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotline_ivr_node_hits_total", Help: "IVR nodes entered."}, []string{"flow", "node"}),
		rtpPackets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_rtp_packets_total", Help: "RTP packets of finished legs.",
		}, []string{"direction"}),
		rtpLost: prometheus.NewCounter(prometheus.CounterOpts{Name: "hotline_rtp_lost_packets_total", Help: "RTP packets lost (RFC 3550) on finished legs."}),
		rtpLate: prometheus.NewCounter(prometheus.CounterOpts{Name: "hotline_rtp_late_packets_total", Help: "RTP packets of finished legs that arrived more than 60 ms behind their stream's quickest transit (a jitter buffer would drop them)."}),
		rtpDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_rtp_dropped_packets_total", Help: "Received packets dropped, by reason.",
		}, []string{"reason"}),
		rtpJitter: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hotline_rtp_jitter_seconds", Help: "Interarrival jitter of finished legs.",
			Buckets: []float64{.001, .005, .01, .02, .05, .1, .2},
		}),
		silentLegs: prometheus.NewCounter(prometheus.CounterOpts{Name: "hotline_rtp_silent_legs_total", Help: "Answered legs that never sent RTP (one-way audio)."}),
	}
	reg.MustRegister(m.queueEvents, m.waitAnswer, m.decisions, m.nodeHits, m.rtpPackets, m.rtpLost, m.rtpLate, m.rtpDropped, m.rtpJitter, m.silentLegs)
	return m
}

// observeDecision returns the ACD's decision hook with the histogram's
// children resolved once: the hook runs on the routing hot path, under the
// ACD lock, and should not look labels up on every decision.
func (m *callMetrics) observeDecision() func(kind string, d time.Duration) {
	byKind := map[string]prometheus.Observer{
		"call_arrived": m.decisions.WithLabelValues("call_arrived"),
		"agent_freed":  m.decisions.WithLabelValues("agent_freed"),
	}
	return func(kind string, d time.Duration) {
		o, ok := byKind[kind]
		if !ok {
			o = m.decisions.WithLabelValues(kind)
		}
		o.Observe(d.Seconds())
	}
}

// watchACD turns bus events into counters until ctx ends.
func (e *Engine) watchACD(ctx context.Context) {
	sub := e.acd.Bus().Subscribe("metrics", 1024)
	m := e.metrics.call
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-sub.C:
			if !ok {
				return
			}
			if ev.Node != "" {
				// Another node's call taken by one of our agents: counted
				// there; remembered here for the desktop's buttons.
				if e.cluster != nil && ev.CallID != "" {
					e.cluster.noteRemoteCall(ev.CallID, ev.Node)
				}
				continue
			}
			if ev.Direct {
				continue // a transfer or consultation to a named agent: no queue's figure
			}
			switch ev.Type {
			case acd.EventCallQueued:
				if ev.Requeued() {
					continue // the same call back at the head after ring-no-answer: offered once
				}
				m.queueEvents.WithLabelValues(ev.Queue, ev.Tier, "offered").Inc()
			case acd.EventCallAnswered:
				m.queueEvents.WithLabelValues(ev.Queue, ev.Tier, "answered").Inc()
				m.waitAnswer.WithLabelValues(ev.Queue, ev.Tier).Observe(ev.Wait.Seconds())
			case acd.EventCallAbandoned:
				event := "abandoned"
				if ev.Wait < e.conf().ACD.ShortAbandon.D() {
					event = "abandoned_short"
				}
				m.queueEvents.WithLabelValues(ev.Queue, ev.Tier, event).Inc()
			case acd.EventCallOverflow:
				m.queueEvents.WithLabelValues(ev.Queue, ev.Tier, "overflow").Inc()
			case acd.EventCallRONA:
				m.queueEvents.WithLabelValues(ev.Queue, ev.Tier, "rona").Inc()
			}
		}
	}
}

// countTrace adds a finished call's IVR path to the node counters.
func (m *callMetrics) countTrace(res *ivr.Result) {
	for _, t := range res.Trace {
		if t.Event == "enter" {
			m.nodeHits.WithLabelValues(t.Flow, t.Node).Inc()
		}
	}
}

// countLeg adds a finished leg's RTP figures; it reports whether the leg was
// silent (answered but no RTP ever arrived: one-way audio).
func (m *callMetrics) countLeg(st media.Stats) (silent bool) {
	m.rtpPackets.WithLabelValues("in").Add(float64(st.PacketsIn))
	m.rtpPackets.WithLabelValues("out").Add(float64(st.PacketsOut))
	if st.Lost > 0 {
		m.rtpLost.Add(float64(st.Lost))
	}
	m.rtpLate.Add(float64(st.Late))
	m.rtpDropped.WithLabelValues("junk").Add(float64(st.DroppedJunk))
	m.rtpDropped.WithLabelValues("payload_type").Add(float64(st.DroppedPayloadType))
	m.rtpDropped.WithLabelValues("oversize").Add(float64(st.DroppedOversize))
	m.rtpDropped.WithLabelValues("foreign_source").Add(float64(st.DroppedForeign))
	m.rtpDropped.WithLabelValues("srtp_auth").Add(float64(st.DroppedAuth))
	if st.PacketsIn > 0 {
		m.rtpJitter.Observe(st.JitterMs / 1000)
	}
	if st.PacketsIn == 0 {
		m.silentLegs.Inc()
		return true
	}
	return false
}
