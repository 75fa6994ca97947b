package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// This file holds the driver's pure parts: SIPp statistics parsing, RTP
// pacing statistics and Prometheus histogram reading. They are unit tested;
// everything that needs a network or a child process lives elsewhere.

// percentile returns the p-th percentile (0..100) of sorted values by the
// nearest-rank method, or NaN for no values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	if p <= 0 {
		return sorted[0]
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	if rank > len(sorted) {
		rank = len(sorted)
	}
	return sorted[rank-1]
}

// sipStat is the last row of a SIPp -trace_stat file: cumulative counters.
type sipStat struct {
	Created    int     // TotalCallCreated
	Successful int     // SuccessfulCall(C)
	Failed     int     // FailedCall(C)
	Retrans    int     // Retransmissions(C)
	Current    int     // CurrentCall at the end
	Reasons    string  // non-zero Failed*(C) counters, e.g. "TimeoutOnRecv=2"
	CallRate   float64 // CallRate(C), calls/s over the whole run
}

// parseStatCSV reads SIPp's -trace_stat CSV (';'-separated, a header line,
// one row per -fd period) and returns the cumulative figures of the last row.
func parseStatCSV(r io.Reader) (sipStat, error) {
	var st sipStat
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var header, last []string
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		f := strings.Split(line, ";")
		if header == nil {
			header = f
			continue
		}
		last = f
	}
	if err := sc.Err(); err != nil {
		return st, fmt.Errorf("read sipp stats: %w", err)
	}
	if header == nil || last == nil {
		return st, fmt.Errorf("sipp stats: no data rows")
	}
	col := map[string]string{}
	for i, h := range header {
		if i < len(last) {
			col[h] = last[i]
		}
	}
	num := func(name string) (int, error) {
		v, ok := col[name]
		if !ok {
			return 0, fmt.Errorf("sipp stats: column %q missing", name)
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return 0, fmt.Errorf("sipp stats: column %q: %w", name, err)
		}
		return n, nil
	}
	var err error
	if st.Created, err = num("TotalCallCreated"); err != nil {
		return st, err
	}
	if st.Successful, err = num("SuccessfulCall(C)"); err != nil {
		return st, err
	}
	if st.Failed, err = num("FailedCall(C)"); err != nil {
		return st, err
	}
	if st.Retrans, err = num("Retransmissions(C)"); err != nil {
		return st, err
	}
	if st.Current, err = num("CurrentCall"); err != nil {
		return st, err
	}
	if v, ok := col["CallRate(C)"]; ok {
		st.CallRate, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
	}
	var reasons []string
	for _, h := range header {
		if !strings.HasPrefix(h, "Failed") || !strings.HasSuffix(h, "(C)") || h == "FailedCall(C)" {
			continue
		}
		if n, err := num(h); err == nil && n > 0 {
			reasons = append(reasons, fmt.Sprintf("%s=%d", strings.TrimSuffix(strings.TrimPrefix(h, "Failed"), "(C)"), n))
		}
	}
	st.Reasons = strings.Join(reasons, ",")
	return st, nil
}

// parseRTT reads SIPp's -trace_rtt CSV ("Date_ms;response_time_ms;rtd_no")
// and returns the response times in milliseconds of timer rtd (1 = set-up).
func parseRTT(r io.Reader, rtd int) ([]float64, error) {
	sc := bufio.NewScanner(r)
	var out []float64
	want := strconv.Itoa(rtd)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "Date_ms") {
			continue
		}
		f := strings.Split(line, ";")
		if len(f) < 3 {
			return nil, fmt.Errorf("sipp rtt line %d: %q: want 3 fields", lineNo, line)
		}
		if strings.TrimSpace(f[2]) != want {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(f[1]), 64)
		if err != nil {
			return nil, fmt.Errorf("sipp rtt line %d: %w", lineNo, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read sipp rtt: %w", err)
	}
	return out, nil
}

// rtpPacket is one received RTP packet: kernel arrival time, header fields.
type rtpPacket struct {
	At     int64 // arrival, Unix ns (SO_TIMESTAMPNS when available)
	TS     uint32
	Seq    uint16
	Marker bool
}

// pacing summarises how well received packets followed the sender's
// 20 ms clock.
type pacing struct {
	Streams   int
	Packets   int     // packets judged (inside the window)
	Late      int     // |deviation| > tolerance
	DevP50    float64 // |deviation| percentiles, ms
	DevP99    float64
	DevMax    float64
	GapP99    float64 // |inter-arrival − 20 ms × seq step| p99, ms
	GapLate   int     // inter-arrival errors beyond the tolerance
	Lost      int     // sequence numbers never seen (inside spurts)
	Durations []float64
	// LateStreams is how many streams had at least one late packet, and
	// WorstSecondLate how many late packets fell in the single worst
	// wall-clock second: together they tell a machine-wide stall (all
	// streams, one second) from a slow leg or steady overload.
	LateStreams     int
	WorstSecondLate int
	WorstSecond     time.Time
	// PerSecond counts judged and late packets per wall-clock second
	// (Unix seconds), for the timeline file.
	PerSecond map[int64][2]int
}

// GapLateShare is the share of inter-arrival times more than the
// tolerance away from 20 ms, in percent: what a receiver's jitter buffer
// sees, where LateShare also counts every packet after a lasting shift.
func (p pacing) GapLateShare() float64 {
	if p.Packets == 0 {
		return math.NaN()
	}
	return 100 * float64(p.GapLate) / float64(p.Packets)
}

// LateShare is the share of judged packets outside the tolerance, in percent.
func (p pacing) LateShare() float64 {
	if p.Packets == 0 {
		return math.NaN()
	}
	return 100 * float64(p.Late) / float64(p.Packets)
}

// spurts splits a stream at marker bits and timestamp discontinuities: each
// spurt is one Play, whose packets are due every 20 ms (160 samples) from
// the spurt's own start.
func spurts(pk []rtpPacket) [][]rtpPacket {
	var out [][]rtpPacket
	start := 0
	for i := 1; i <= len(pk); i++ {
		if i == len(pk) || pk[i].Marker || int32(pk[i].TS-pk[i-1].TS) < 0 || pk[i].TS-pk[i-1].TS > 8000*5 {
			if i > start {
				out = append(out, pk[start:i])
			}
			start = i
		}
	}
	return out
}

// spurtDeviations returns, for each packet of one spurt, how far (ms) its
// arrival is from the ideal schedule: arrival_0' + (ts − ts_0)/8 kHz, where
// the anchor arrival_0' is chosen as the median offset so one late first
// packet does not make the whole spurt look late. It also returns the
// inter-arrival error (ms) of each packet against its predecessor (NaN for
// the first and for duplicates) and the sequence numbers missing.
func spurtDeviations(sp []rtpPacket) (dev, gaps []float64, lost int) {
	if len(sp) == 0 {
		return nil, nil, 0
	}
	offs := make([]float64, len(sp))
	for i, p := range sp {
		due := float64(p.TS-sp[0].TS) / 8 // ms since spurt start at 8 kHz
		offs[i] = float64(p.At-sp[0].At)/1e6 - due
	}
	sorted := append([]float64(nil), offs...)
	sort.Float64s(sorted)
	anchor := sorted[len(sorted)/2]
	dev = make([]float64, len(sp))
	for i, o := range offs {
		dev[i] = o - anchor
	}
	gaps = make([]float64, len(sp))
	gaps[0] = math.NaN()
	for i := 1; i < len(sp); i++ {
		step := sp[i].Seq - sp[i-1].Seq
		if step == 0 || step > 1000 {
			gaps[i] = math.NaN() // duplicate or reordered: not a pacing sample
			continue
		}
		lost += int(step) - 1
		want := float64(sp[i].TS-sp[i-1].TS) / 8
		gaps[i] = math.Abs(float64(sp[i].At-sp[i-1].At)/1e6 - want)
	}
	return dev, gaps, lost
}

// pacingOf judges every packet of every stream that arrived inside
// [from, to) (zero times: no bound) against tolerance.
func pacingOf(streams [][]rtpPacket, from, to time.Time, tolerance time.Duration) pacing {
	var p pacing
	var devs, gaps []float64
	lateBySecond := map[int64]int{}
	p.PerSecond = map[int64][2]int{}
	tol := float64(tolerance) / 1e6
	in := func(at int64) bool {
		return (from.IsZero() || at >= from.UnixNano()) && (to.IsZero() || at < to.UnixNano())
	}
	for _, s := range streams {
		if len(s) == 0 {
			continue
		}
		p.Streams++
		lateBefore := p.Late
		for _, sp := range spurts(s) {
			dev, gap, lost := spurtDeviations(sp)
			judged := false
			for i, d := range dev {
				if !in(sp[i].At) {
					continue
				}
				judged = true
				d = math.Abs(d)
				ps := p.PerSecond[sp[i].At/1e9]
				ps[0]++
				if d > tol {
					ps[1]++
				}
				p.PerSecond[sp[i].At/1e9] = ps
				devs = append(devs, d)
				if d > tol {
					p.Late++
					lateBySecond[sp[i].At/1e9]++
				}
				if !math.IsNaN(gap[i]) {
					gaps = append(gaps, gap[i])
					if gap[i] > tol {
						p.GapLate++
					}
				}
			}
			if judged {
				p.Lost += lost
				p.Durations = append(p.Durations, float64(sp[len(sp)-1].At-sp[0].At)/1e6+20)
			}
		}
		if p.Late > lateBefore {
			p.LateStreams++
		}
	}
	for sec, n := range lateBySecond {
		if n > p.WorstSecondLate || n == p.WorstSecondLate && sec < p.WorstSecond.Unix() {
			p.WorstSecondLate, p.WorstSecond = n, time.Unix(sec, 0)
		}
	}
	p.Packets = len(devs)
	sort.Float64s(devs)
	sort.Float64s(gaps)
	sort.Float64s(p.Durations)
	p.DevP50, p.DevP99 = percentile(devs, 50), percentile(devs, 99)
	if len(devs) > 0 {
		p.DevMax = devs[len(devs)-1]
	}
	p.GapP99 = percentile(gaps, 99)
	return p
}

// histogram is one Prometheus histogram from the text exposition format.
type histogram struct {
	Bounds []float64 // upper bounds, ascending, +Inf last
	Counts []float64 // cumulative counts per bound
	Count  float64
	Sum    float64
}

// parseHistogram reads histogram name from a /metrics page, adding up its
// labelled children (a histogram without labels has just one).
func parseHistogram(text, name string) (histogram, error) {
	byLe := map[float64]float64{}
	var h histogram
	found := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		series, labels, _ := strings.Cut(f[0], "{")
		switch series {
		case name + "_bucket":
			i := strings.Index(labels, `le="`)
			if i < 0 {
				return h, fmt.Errorf("metrics: %s: bucket without le: %q", name, line)
			}
			le := labels[i+4:]
			le = le[:strings.IndexByte(le, '"')]
			b, err := strconv.ParseFloat(le, 64)
			if err != nil {
				return h, fmt.Errorf("metrics: %s: le %q: %w", name, le, err)
			}
			byLe[b] += v
			found = true
		case name + "_count":
			h.Count += v
			found = true
		case name + "_sum":
			h.Sum += v
		}
	}
	if !found {
		return h, fmt.Errorf("metrics: histogram %s not found", name)
	}
	for b := range byLe {
		h.Bounds = append(h.Bounds, b)
	}
	sort.Float64s(h.Bounds)
	for _, b := range h.Bounds {
		h.Counts = append(h.Counts, byLe[b])
	}
	return h, nil
}

// Quantile estimates quantile q (0..1) by linear interpolation inside the
// bucket, as Prometheus's histogram_quantile does. The result is only as
// fine as the bucket bounds.
func (h histogram) Quantile(q float64) float64 {
	if h.Count == 0 || len(h.Bounds) == 0 {
		return math.NaN()
	}
	rank := q * h.Count
	prevBound, prevCount := 0.0, 0.0
	for i, b := range h.Bounds {
		if h.Counts[i] >= rank {
			if math.IsInf(b, 1) {
				return prevBound // above the highest finite bound
			}
			if h.Counts[i] == prevCount {
				return b
			}
			return prevBound + (b-prevBound)*(rank-prevCount)/(h.Counts[i]-prevCount)
		}
		prevBound, prevCount = b, h.Counts[i]
	}
	return prevBound
}

// Sub returns h minus an earlier scrape of the same histogram (the
// observations made between the two).
func (h histogram) Sub(before histogram) histogram {
	if len(before.Counts) != len(h.Counts) {
		return h
	}
	out := histogram{Bounds: h.Bounds, Count: h.Count - before.Count, Sum: h.Sum - before.Sum}
	for i := range h.Counts {
		out.Counts = append(out.Counts, h.Counts[i]-before.Counts[i])
	}
	return out
}

// metricValue returns the value of one sample line (name with labels
// exactly as exposed, e.g. `go_gc_duration_seconds{quantile="1"}`).
func metricValue(text, sample string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, sample+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}
