package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

const (
	setupService = "20000" // flow "prompt": answer, 2.93 s greeting, engine BYE
	longService  = "20001" // flow "long": 60 s of prompts
	ivrService   = "10010" // flow "main": the demo IVR
	digitMetric  = "hotline_ivr_digit_to_prompt_seconds"
)

func ms(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.1f", v)
}

func failPct(st sipStat) float64 {
	if st.Created == 0 {
		return math.NaN()
	}
	return 100 * float64(st.Failed) / float64(st.Created)
}

// runSetup offers calls at rising rates; each call is answered, hears the
// ~3 s prompt and is hung up by the engine. With -baseline both engines
// run each rate, the baseline first.
func runSetup(ctx context.Context, o options, w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "\nSet-up rate: answer + 2.93 s prompt + engine BYE (SIPp caller-engine-bye.xml), kernel-timestamped RTP")
	fmt.Fprintln(tw, "engine\trate/s\tattempted\tfailed\tretrans\tsetup p50 ms\tsetup p99 ms\tprompt p50 ms\tprompt p99 ms\tpkts >±5ms %\tdev p99 ms\tlost pkts\tengine CPU %\tSIPp CPU %\tdriver CPU %\tsoftirq %\tmachine busy %\tother load %\tload avg\tengine RSS peak MB\tsipp exit\t")
	best, clean := map[string]float64{}, map[string]float64{}
	stopped := map[string]bool{}
	var notes strings.Builder
	defer func() { _ = tw.Flush(); fmt.Fprint(w, notes.String()) }()
	for _, rate := range o.rates {
		calls := o.calls
		if calls == 0 {
			calls = int(rate * o.duration.Seconds())
		}
		for _, e := range o.engines {
			if stopped[e.name] {
				continue
			}
			row, err := setupStep(ctx, o.with(e), rate, calls)
			if err != nil {
				return err
			}
			r := row.sipp
			p := row.pacing
			fmt.Fprintf(tw, "%s\t%g\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%.3f\t%s\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%s\t%s\t%d\t\n",
				e.name, rate, r.Stat.Created, r.Stat.Failed, r.Stat.Retrans, ms(row.setupP50), ms(row.setupP99),
				ms(percentile(p.Durations, 50)), ms(percentile(p.Durations, 99)), p.LateShare(), ms(p.DevP99), p.Lost,
				row.cpu.EngineShare, r.CPUShare(), row.cpu.DriverShare, row.cpu.Softirq, row.cpu.MachineBusy, row.cpu.others(r), row.load, mb(row.rssPeak), r.ExitCode)
			fmt.Fprintf(&notes, "    %s at %g/s: %s\n", e.name, rate, row.canary)
			if row.engine != "" {
				fmt.Fprintf(&notes, "    %s at %g/s: engine %s\n", e.name, rate, row.engine)
			}
			if p.Late > 0 {
				fmt.Fprintf(&notes, "    %s at %g/s: %s\n", e.name, rate, lateLine(p))
			}
			if r.Stat.Reasons != "" || r.Errors != "" {
				fmt.Fprintf(&notes, "    SIPp, %s at %g/s: %s %s\n", e.name, rate, r.Stat.Reasons, oneLine(r.Errors))
			}
			if row.cpu.RcvbufErr > 0 {
				fmt.Fprintf(&notes, "    %s at %g/s the kernel dropped %d UDP datagrams on full receive buffers (any process on the machine; the driver's own losses are under lost pkts)\n", e.name, rate, row.cpu.RcvbufErr)
			}
			if f := failPct(r.Stat); f < 0.1 && r.Stat.Created >= calls*99/100 && rate > best[e.name] {
				best[e.name] = rate
			}
			if r.Stat.Failed == 0 && r.Stat.Retrans == 0 && r.Stat.Created >= calls && row.setupP99 < 50 && rate > clean[e.name] {
				clean[e.name] = rate
			}
			if failPct(r.Stat) >= 10 {
				fmt.Fprintf(&notes, "    %s stops: %.1f %% failures at %g calls/s\n", e.name, failPct(r.Stat), rate)
				stopped[e.name] = true
			}
		}
	}
	for _, e := range o.engines {
		fmt.Fprintf(&notes, "%s: highest rate with < 0.1 %% failures %g calls/s; highest clean rate (0 failures, 0 retransmissions, set-up p99 < 50 ms) %g calls/s\n", e.name, best[e.name], clean[e.name])
	}
	return nil
}

type setupRow struct {
	load               string // load average at the end of the step
	engine             string // the engine's GC and clock figures
	sipp               sippResult
	setupP50, setupP99 float64
	pacing             pacing
	cpu                *cpuMeter
	rssPeak            int64
	canary             string
}

func setupStep(ctx context.Context, o options, rate float64, calls int) (setupRow, error) {
	var row setupRow
	s, err := openSession(ctx, o, fmt.Sprintf("setup-%g", rate), nil)
	if err != nil {
		return row, err
	}
	defer s.close()
	mBefore, _ := s.eng.metrics()
	row.cpu = startCPU(s.eng.pid())
	res, err := sippRun{
		Bin: o.sippBin, Scenario: filepath.Join(o.sippDir, "caller-engine-bye.xml"), Target: s.eng.SIPAddr,
		Service: setupService, Calls: calls, Rate: rate, RTPPorts: s.rx.ports(), Dir: s.dir, Nice: o.nice,
		Timeout: time.Duration(float64(calls)/rate*float64(time.Second)) + 60*time.Second,
	}.run(ctx)
	row.cpu.stop()
	if err != nil {
		return row, fmt.Errorf("setup at %g/s: %w", rate, err)
	}
	row.sipp = res
	sort.Float64s(res.SetupMs)
	row.setupP50, row.setupP99 = percentile(res.SetupMs, 50), percentile(res.SetupMs, 99)
	time.Sleep(200 * time.Millisecond) // last packets in flight
	row.pacing = pacingOf(s.rx.snapshot(), time.Time{}, time.Time{}, o.tolerance)
	row.rssPeak = s.samp.maxBetween(res.Started, time.Now())
	row.canary = canaryLine(s, res.Started, time.Now(), o.tolerance)
	row.load = loadAvg()
	if mAfter, err := s.eng.metrics(); err == nil {
		row.engine = gcLine(mBefore, mAfter)
		if l := clockLine(mBefore, mAfter); l != "" {
			row.engine += "; own view: " + l
		}
	}
	return row, nil
}

// runConcurrent brings N calls up at the ramp rate, lets them all play the
// long prompt together for -steady, and judges the RTP pacing of that
// window, plus the engine's memory per active call. With -baseline both
// engines run each N, the baseline first.
func runConcurrent(ctx context.Context, o options, w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "\nConcurrent playing calls: ramp at %g calls/s, then all play together for %s (SIPp caller-hangs-up.xml, flow long)\n", o.rampRate, o.steady)
	fmt.Fprintln(tw, "engine\tcalls\tfailed\tstreams\tsetup p99 ms\twindow s\tpackets judged\tpkts >±5ms %\tdev p50 ms\tdev p99 ms\tdev max ms\tgaps >±5ms %\tgap p99 ms\tlost pkts\tRSS idle MB\tRSS at N MB\tKiB/call\tengine CPU %\tSIPp CPU %\tdriver CPU %\tsoftirq %\tmachine busy %\tother load %\tload avg\t")
	var notes strings.Builder
	defer func() { _ = tw.Flush(); fmt.Fprint(w, notes.String()) }()
	for _, n := range o.concurrent {
		for _, e := range o.engines {
			if err := concurrentStep(ctx, o.with(e), n, tw, &notes); err != nil {
				return err
			}
		}
	}
	return nil
}

func concurrentStep(ctx context.Context, o options, n int, tw *tabwriter.Writer, w *strings.Builder) error {
	s, err := openSession(ctx, o, fmt.Sprintf("concurrent-%d", n), nil)
	if err != nil {
		return err
	}
	defer s.close()
	ramp := time.Duration(float64(n) / o.rampRate * float64(time.Second))
	hold := ramp + o.steady + 2*time.Second
	var allUp time.Time
	stopWatch := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopWatch:
				return
			case <-t.C:
			}
			if s.rx.streamCount() >= n {
				allUp = time.Now()
				return
			}
		}
	}()
	mBefore, _ := s.eng.metrics()
	cpu := startCPU(s.eng.pid())
	res, err := sippRun{
		Bin: o.sippBin, Scenario: filepath.Join(o.sippDir, "caller-hangs-up.xml"), Target: s.eng.SIPAddr,
		Service: longService, Calls: n, Rate: o.rampRate, Limit: n, Pause: hold, RTPPorts: s.rx.ports(), Dir: s.dir, Nice: o.nice,
		Timeout: hold + ramp + 60*time.Second,
	}.run(ctx)
	cpu.stop()
	close(stopWatch)
	wg.Wait()
	if err != nil {
		return fmt.Errorf("concurrent %d: %w", n, err)
	}
	// The window: every call up (plus a second to settle) until the first
	// caller's BYE is due.
	from, to := allUp.Add(time.Second), res.Started.Add(hold)
	if allUp.IsZero() || !to.After(from) {
		fmt.Fprintf(w, "    %d calls never all played at once (%d streams seen); judging every packet\n", n, s.rx.streamCount())
		from, to = time.Time{}, time.Time{}
	}
	p := pacingOf(s.rx.snapshot(), from, to, o.tolerance)
	mAfter, _ := s.eng.metrics()
	fmt.Fprintf(w, "    %s, %d calls: engine %s\n", o.engineName, n, gcLine(mBefore, mAfter))
	if l := clockLine(mBefore, mAfter); l != "" {
		fmt.Fprintf(w, "    %s, %d calls: engine's own view: %s\n", o.engineName, n, l)
	}
	if err := writeTimeline(filepath.Join(s.dir, "pacing-timeline.csv"), p, pacingOf(s.rx.canaryPackets(), from, to, o.tolerance)); err != nil {
		return err
	}
	var rssN int64
	if !from.IsZero() {
		rssN = s.samp.maxBetween(from, to)
	}
	perCall := math.NaN()
	if rssN > 0 {
		perCall = float64(rssN-s.rssIdle) / float64(n) / 1024
	}
	sort.Float64s(res.SetupMs)
	fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%.1f\t%d\t%.3f\t%s\t%s\t%s\t%.3f\t%s\t%d\t%s\t%s\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%s\t\n",
		o.engineName, n, res.Stat.Failed, p.Streams, ms(percentile(res.SetupMs, 99)), to.Sub(from).Seconds(), p.Packets, p.LateShare(),
		ms(p.DevP50), ms(p.DevP99), ms(p.DevMax), p.GapLateShare(), ms(p.GapP99), p.Lost, mb(s.rssIdle), mb(rssN), perCall,
		cpu.EngineShare, res.CPUShare(), cpu.DriverShare, cpu.Softirq, cpu.MachineBusy, cpu.others(res), loadAvg())
	fmt.Fprintf(w, "    %s, %d calls: %s\n", o.engineName, n, canaryLine(s, from, to, o.tolerance))
	if p.Late > 0 {
		fmt.Fprintf(w, "    %s, %d calls: %s\n", o.engineName, n, lateLine(p))
	}
	if res.Stat.Reasons != "" || res.ExitCode != 0 {
		fmt.Fprintf(w, "    %s, sipp exit %d: %s %s\n", o.engineName, res.ExitCode, res.Stat.Reasons, oneLine(res.Errors))
	}
	if cpu.RcvbufErr > 0 {
		fmt.Fprintf(w, "    %d calls: the kernel dropped %d UDP datagrams on full receive buffers (any process on the machine; the driver's own losses are under lost pkts)\n", n, cpu.RcvbufErr)
	}
	return nil
}

// ivrState is one caller's progress through the digits (guarded by stream.mu).
type ivrState struct {
	markers int
	next    int   // index of the next key to press
	sentAt  int64 // Unix ns the pending key left; 0: none pending
	timer   *time.Timer
}

// ivrDriver presses keys for every caller as prompts start and records how
// long each key took to bring the next prompt's first packet.
type ivrDriver struct {
	ctx    context.Context
	digits string
	wg     sync.WaitGroup // DTMF tails

	mu        sync.Mutex
	latencies []float64 // ms
	timers    []*time.Timer
	senders   map[*stream]*dtmfSender
	stopped   bool
	sendErrs  int
}

// onPacket runs on a receiver goroutine for every packet.
func (d *ivrDriver) onPacket(s *stream, p rtpPacket) {
	if !p.Marker {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.ivr
	st.markers++
	switch {
	case st.sentAt != 0 && p.At > st.sentAt:
		lat := float64(p.At-st.sentAt) / 1e6
		st.sentAt = 0
		d.mu.Lock()
		d.latencies = append(d.latencies, lat)
		d.mu.Unlock()
		if st.next < len(d.digits) {
			d.schedule(s, time.Second+rand.N(2*time.Second))
		}
	case st.sentAt == 0 && st.next == 0 && st.markers == 2 && len(d.digits) > 0:
		// The menu prompt started (the greeting was the first): press
		// somewhere inside it, spread so keys from many callers interleave.
		d.schedule(s, 1500*time.Millisecond+rand.N(4500*time.Millisecond))
	}
}

// schedule presses the caller's next key after delay (stream.mu held).
func (d *ivrDriver) schedule(s *stream, delay time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return
	}
	t := time.AfterFunc(delay, func() { d.press(s) })
	d.timers = append(d.timers, t)
}

func (d *ivrDriver) press(s *stream) {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return
	}
	snd := d.senders[s]
	if snd == nil {
		snd = newDTMFSender()
		d.senders[s] = snd
	}
	d.mu.Unlock()
	s.mu.Lock()
	key := d.digits[s.ivr.next]
	s.ivr.next++
	// Stamp before sending: the reply cannot arrive before the key left.
	s.ivr.sentAt = time.Now().UnixNano()
	s.mu.Unlock()
	if _, err := snd.press(d.ctx, s.conn, s.from, key, &d.wg); err != nil {
		d.mu.Lock()
		d.sendErrs++
		d.mu.Unlock()
	}
}

func (d *ivrDriver) stop() {
	d.mu.Lock()
	d.stopped = true
	for _, t := range d.timers {
		t.Stop()
	}
	d.mu.Unlock()
	d.wg.Wait()
}

// runIVR puts -calls callers (default 500) in the demo IVR at once; each
// presses -digits, one key per prompt, and the driver measures key → first
// packet of the next prompt, next to the engine's own histogram.
func runIVR(ctx context.Context, o options, w io.Writer) error {
	for _, e := range o.engines {
		if err := ivrStep(ctx, o.with(e), w); err != nil {
			return err
		}
	}
	return nil
}

// ivrStep is runIVR for one engine.
func ivrStep(ctx context.Context, o options, w io.Writer) error {
	n := o.calls
	if n == 0 {
		n = 500
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Every caller sends its keys from a socket of its own, as phones do:
	// an engine whose legs share ports tells calls apart by the peer's
	// address (these SDPs announce no a=ssrc).
	o.sockets = max(o.sockets, n)
	d := &ivrDriver{ctx: ctx, digits: o.digits, senders: map[*stream]*dtmfSender{}}
	s, err := openSession(ctx, o, fmt.Sprintf("ivr-%d", n), d.onPacket)
	if err != nil {
		return err
	}
	defer s.close()
	defer d.stop()
	before, err := s.eng.metrics()
	if err != nil {
		return err
	}
	hBefore, err := parseHistogram(before, digitMetric)
	if err != nil {
		return err
	}
	ramp := time.Duration(float64(n) / o.rampRate * float64(time.Second))
	cpu := startCPU(s.eng.pid())
	res, err := sippRun{
		Bin: o.sippBin, Scenario: filepath.Join(o.sippDir, "caller-hangs-up.xml"), Target: s.eng.SIPAddr,
		Service: ivrService, Calls: n, Rate: o.rampRate, Limit: n, Pause: o.hold, RTPPorts: s.rx.ports(), Dir: s.dir, Nice: o.nice,
		Timeout: o.hold + ramp + 60*time.Second,
	}.run(ctx)
	cpu.stop()
	if err != nil {
		return fmt.Errorf("ivr: %w", err)
	}
	after, err := s.eng.metrics()
	if err != nil {
		return err
	}
	hAfter, err := parseHistogram(after, digitMetric)
	if err != nil {
		return err
	}
	h := hAfter.Sub(hBefore)
	d.stop()

	d.mu.Lock()
	lat := append([]float64(nil), d.latencies...)
	sendErrs := d.sendErrs
	d.mu.Unlock()
	sort.Float64s(lat)
	pressed, unanswered := 0, 0
	s.rx.mu.Lock()
	streams := append([]*stream(nil), s.rx.order...)
	s.rx.mu.Unlock()
	for _, st := range streams {
		st.mu.Lock()
		pressed += st.ivr.next
		if st.ivr.sentAt != 0 {
			unanswered++
		}
		st.mu.Unlock()
	}
	p := pacingOf(s.rx.snapshot(), time.Time{}, time.Time{}, o.tolerance)
	rssPeak := s.samp.maxBetween(res.Started, time.Now())
	sort.Float64s(res.SetupMs)

	fmt.Fprintf(w, "\nIVR, engine %s: %d callers in the demo flow (10010), ramp %g calls/s, each presses %q (one key per prompt, RFC 4733 from the driver's sockets), stays %s; load average %s\n", o.engineName, n, o.rampRate, o.digits, o.hold, loadAvg())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "callers\tfailed\tstreams\tkeys pressed\tno next prompt\tkey→prompt p50 ms\tp99 ms\tmax ms\tengine hist n\thist p50 ms\thist p99 ms\tpkts >±5ms %\tdev p99 ms\tlost pkts\tRSS idle MB\tRSS peak MB\tengine CPU %\tSIPp CPU %\tdriver CPU %\tmachine busy %\tother load %\t")
	fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%.0f\t%s\t%s\t%.3f\t%s\t%d\t%s\t%s\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t\n",
		n, res.Stat.Failed, p.Streams, pressed, unanswered, ms(percentile(lat, 50)), ms(percentile(lat, 99)), ms(percentile(lat, 100)),
		h.Count, ms(1000*h.Quantile(.5)), ms(1000*h.Quantile(.99)), p.LateShare(), ms(p.DevP99), p.Lost,
		mb(s.rssIdle), mb(rssPeak), cpu.EngineShare, res.CPUShare(), cpu.DriverShare, cpu.MachineBusy, cpu.others(res))
	_ = tw.Flush()
	fmt.Fprintf(w, "engine %s (this run): %s\n", digitMetric, histLine(h))
	fmt.Fprintf(w, "set-up p99 %s ms; DTMF send errors %d\n", ms(percentile(res.SetupMs, 99)), sendErrs)
	fmt.Fprintf(w, "    %s\n", canaryLine(s, res.Started, time.Now(), o.tolerance))
	if p.Late > 0 {
		fmt.Fprintf(w, "    %s\n", lateLine(p))
	}
	if res.Stat.Reasons != "" || res.ExitCode != 0 {
		fmt.Fprintf(w, "    sipp exit %d: %s %s\n", res.ExitCode, res.Stat.Reasons, oneLine(res.Errors))
	}
	if cpu.RcvbufErr > 0 {
		fmt.Fprintf(w, "    the kernel dropped %d UDP datagrams on full receive buffers (any process on the machine; the driver's own losses are under lost pkts)\n", cpu.RcvbufErr)
	}
	return nil
}

// histLine prints a histogram as "≤1ms:N ≤2ms:N …" (non-cumulative).
func histLine(h histogram) string {
	var b strings.Builder
	prev := 0.0
	for i, bound := range h.Bounds {
		c := h.Counts[i] - prev
		prev = h.Counts[i]
		if math.IsInf(bound, 1) {
			fmt.Fprintf(&b, ">%gms:%.0f ", 1000*h.Bounds[max(i-1, 0)], c)
			continue
		}
		fmt.Fprintf(&b, "≤%gms:%.0f ", 1000*bound, c)
	}
	fmt.Fprintf(&b, "(count %.0f, sum %.3fs)", h.Count, h.Sum)
	return b.String()
}

// canaryLine judges the driver's own paced control stream over the same
// window as the engine's.
func canaryLine(s *session, from, to time.Time, tol time.Duration) string {
	c := pacingOf(s.rx.canaryPackets(), from, to, tol)
	line := fmt.Sprintf("canary (driver-paced control stream, same window): %d packets, %.3f %% > ±%s, dev p99 %s ms, max %s ms, gaps > ±%s %.3f %%",
		c.Packets, c.LateShare(), tol, ms(c.DevP99), ms(c.DevMax), tol, c.GapLateShare())
	if c.Late > 0 {
		line += ", worst second " + c.WorstSecond.UTC().Format("15:04:05")
	}
	return line
}

// gcLine reports the engine's garbage collections between two scrapes.
func gcLine(before, after string) string {
	c0, ok0 := metricValue(before, "go_gc_duration_seconds_count")
	c1, ok1 := metricValue(after, "go_gc_duration_seconds_count")
	mx, okx := metricValue(after, `go_gc_duration_seconds{quantile="1"}`)
	g, okg := metricValue(after, "go_goroutines")
	if !ok0 || !ok1 || !okx || !okg {
		return "GC figures not in /metrics"
	}
	return fmt.Sprintf("GC cycles during the step %.0f, longest recent stop-the-world pause %.2f ms, goroutines at the end %.0f", c1-c0, 1000*mx, g)
}

// clockLine is the engine's media clock figures between two scrapes (an
// engine with the shared clock: hotline_rtp_send_lateness_seconds and
// hotline_media_clock_shifts_total); "" for an engine without them.
func clockLine(before, after string) string {
	h1, err := parseHistogram(after, "hotline_rtp_send_lateness_seconds")
	if err != nil || h1.Count == 0 {
		return ""
	}
	h0, _ := parseHistogram(before, "hotline_rtp_send_lateness_seconds")
	h := h1.Sub(h0)
	s0, _ := metricValue(before, "hotline_media_clock_shifts_total")
	s1, _ := metricValue(after, "hotline_media_clock_shifts_total")
	within := 0.0
	for i, b := range h.Bounds {
		if b <= 0.005 && h.Count > 0 {
			within = 100 * h.Counts[i] / h.Count
		}
	}
	return fmt.Sprintf("paced frames %.0f, left within 5 ms of their due time %.3f %%, p50 %s ms, p99 %s ms (interpolated), schedule shifts after stalls %.0f",
		h.Count, within, ms(1000*h.Quantile(.5)), ms(1000*h.Quantile(.99)), s1-s0)
}

// writeTimeline writes per-second judged/late packet counts of the engine
// and of the canary, to tell a machine stall from an engine one.
func writeTimeline(path string, eng, canary pacing) error {
	secs := make([]int64, 0, len(eng.PerSecond))
	for sec := range eng.PerSecond {
		secs = append(secs, sec)
	}
	sort.Slice(secs, func(i, j int) bool { return secs[i] < secs[j] })
	var b strings.Builder
	b.WriteString("utc,engine_packets,engine_late,canary_packets,canary_late\n")
	for _, sec := range secs {
		e, c := eng.PerSecond[sec], canary.PerSecond[sec]
		fmt.Fprintf(&b, "%s,%d,%d,%d,%d\n", time.Unix(sec, 0).UTC().Format("15:04:05"), e[0], e[1], c[0], c[1])
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("pacing timeline: %w", err)
	}
	return nil
}

func lateLine(p pacing) string {
	return fmt.Sprintf("late packets: %d in %d of %d streams; %d (%.0f %%) in the worst second, %s",
		p.Late, p.LateStreams, p.Streams, p.WorstSecondLate, 100*float64(p.WorstSecondLate)/float64(p.Late), p.WorstSecond.UTC().Format("15:04:05"))
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 && len(s)-i < 300 {
		s = "…" + s[i+1:]
	}
	return strings.ReplaceAll(s, "\n", " | ")
}
