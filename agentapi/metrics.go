package agentapi

import (
	"errors"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the API's operational figures (registered when
// Config.Metrics is set).
type metrics struct {
	requests    *prometheus.CounterVec // by type and result code
	events      prometheus.Counter     // messages queued to clients
	disconnects *prometheus.CounterVec // by reason
	delay       prometheus.Histogram   // ACD event to fan-out
}

func newMetrics(s *Server, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotline_agentapi_requests_total",
			Help: "Agent API requests by type and result (ok or error code)."}, []string{"type", "result"}),
		events: prometheus.NewCounter(prometheus.CounterOpts{Name: "hotline_agentapi_messages_sent_total",
			Help: "Events and replies queued to agent API clients."}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotline_agentapi_disconnects_total",
			Help: "Agent API connections closed by the server, by reason."}, []string{"reason"}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "hotline_agentapi_event_fanout_delay_seconds",
			Help:    "Delay from an ACD event to its fan-out to client queues.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}}),
	}
	if reg == nil {
		return m, nil
	}
	conns := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hotline_agentapi_connections",
		Help: "Open agent API WebSocket connections."}, func() float64 {
		s.mu.RLock()
		defer s.mu.RUnlock()
		return float64(len(s.clients))
	})
	for _, c := range []prometheus.Collector{m.requests, m.events, m.disconnects, m.delay, conns} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("agentapi metrics: %w (one Server per registry)", err)
			}
			return nil, fmt.Errorf("agentapi metrics: %w", err)
		}
	}
	return m, nil
}

// requestType keeps the type label bounded: unknown types share one value.
func requestType(t string) string {
	if _, ok := handlers[t]; ok || strings.HasPrefix(t, "campaign.") {
		return t
	}
	return "unknown"
}
