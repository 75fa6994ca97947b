package engine

import (
	"fmt"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotlinecc/hotline/media"
)

// The media engine's wiring: shared RTP ports, and the media clock's and
// shared sockets' figures on /metrics.

// setupMedia applies media.rtp_sockets and registers the media collector.
func (e *Engine) setupMedia() error {
	e.ports.SetLogger(e.log)
	if e.cfg.Media.RTPSockets != "per_leg" {
		n := e.cfg.Media.SharedPorts
		if n == 0 {
			n = 4 * runtime.GOMAXPROCS(0)
		}
		if err := e.ports.ShareSockets(n); err != nil {
			return fmt.Errorf("engine: media.shared_ports: %w", err)
		}
	}
	e.metrics.reg.MustRegister(&mediaCollector{ports: e.ports}, sendJitter)
	return nil
}

// sendJitter is the per-leg send pacing of finished legs (how much the
// spacing of the frames the clock sent them wandered).
var sendJitter = prometheus.NewHistogram(prometheus.HistogramOpts{
	Name:    "hotline_rtp_send_jitter_seconds",
	Help:    "Send-side jitter of finished legs' paced frames (prompts, music, mixer output): smoothed frame-to-frame change in lateness.",
	Buckets: []float64{.0001, .0005, .001, .002, .005, .01, .02},
})

func observeSendPacing(st media.Stats) {
	if st.PacedFrames > 0 {
		sendJitter.Observe(st.SendJitter.Seconds())
	}
}

// mediaCollector reads the media clock's lateness histogram and the
// shared ports' unmatched packets at scrape time.
type mediaCollector struct {
	ports *media.PortAllocator
}

var (
	lateDesc = prometheus.NewDesc("hotline_rtp_send_lateness_seconds",
		"How long after its due instant each paced frame left (the media clock; send side).", nil, nil)
	unmatchedDesc = prometheus.NewDesc("hotline_rtp_unmatched_packets_total",
		"Packets reaching a shared RTP port that no leg could take: foreign (nobody expects the source), ambiguous (several legs could), junk (not RTP).", []string{"reason"}, nil)
	trainsDesc = prometheus.NewDesc("hotline_rtp_train_datagrams_total",
		"RTP datagrams sent in segmentation-offload trains: several packets of one socket to one address (a peer taking many calls on one port) in one trip through the network stack.", nil, nil)
	shiftsDesc = prometheus.NewDesc("hotline_media_clock_shifts_total",
		"Times a pacing loop fell more than a second behind (machine stall or overload) and moved its schedule instead of catching up.", nil, nil)
)

func (c *mediaCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lateDesc
	ch <- unmatchedDesc
	ch <- shiftsDesc
	ch <- trainsDesc
}

func (c *mediaCollector) Collect(ch chan<- prometheus.Metric) {
	p := media.PacingStats()
	buckets := make(map[float64]uint64, len(p.Bounds))
	var cum uint64
	for i, b := range p.Bounds {
		cum += p.Counts[i]
		buckets[b.Seconds()] = cum
	}
	ch <- prometheus.MustNewConstHistogram(lateDesc, p.Frames, p.Sum.Seconds(), buckets)
	d := c.ports.SharedDrops()
	ch <- prometheus.MustNewConstMetric(unmatchedDesc, prometheus.CounterValue, float64(d.Foreign), "foreign")
	ch <- prometheus.MustNewConstMetric(unmatchedDesc, prometheus.CounterValue, float64(d.Ambiguous), "ambiguous")
	ch <- prometheus.MustNewConstMetric(unmatchedDesc, prometheus.CounterValue, float64(d.Junk), "junk")
	ch <- prometheus.MustNewConstMetric(shiftsDesc, prometheus.CounterValue, float64(media.ClockShifts()))
	ch <- prometheus.MustNewConstMetric(trainsDesc, prometheus.CounterValue, float64(media.TrainedDatagrams()))
}
