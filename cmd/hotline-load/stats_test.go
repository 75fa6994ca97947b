package main

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

// A real SIPp 3.6.1 -trace_stat file, cut to the columns the driver reads
// plus a few neighbours (SIPp writes ~100).
const statCSV = `StartTime;LastResetTime;CurrentTime;ElapsedTime(P);ElapsedTime(C);TargetRate;CallRate(P);CallRate(C);TotalCallCreated;CurrentCall;SuccessfulCall(P);SuccessfulCall(C);FailedCall(P);FailedCall(C);FailedMaxUDPRetrans(P);FailedMaxUDPRetrans(C);FailedTimeoutOnRecv(P);FailedTimeoutOnRecv(C);Retransmissions(P);Retransmissions(C);ResponseTime1(C);
2026-11-22	00:26:47.303166	1795307207.303166;2026-11-22	00:26:47.303166	1795307207.303166;2026-11-22	00:26:47.303531	1795307207.303531;00:00:00;00:00:00;10;0;0;0;0;0;0;0;0;0;0;0;0;0;0;00:00:00:000000;
2026-11-22	00:26:47.303166	1795307207.303166;2026-11-22	00:26:51.303756	1795307211.303756;2026-11-22	00:26:52.305571	1795307212.305571;00:00:01;00:00:05;10;8.99101;9.5;1000;3;0;995;0;2;0;1;0;1;0;17;00:00:00:000000;
`

func TestParseStatCSV(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    sipStat
		wantErr string
	}{
		{name: "last row wins", in: statCSV, want: sipStat{Created: 1000, Successful: 995, Failed: 2, Retrans: 17, Current: 3, CallRate: 9.5, Reasons: "MaxUDPRetrans=1,TimeoutOnRecv=1"}},
		{name: "header only", in: strings.SplitN(statCSV, "\n", 2)[0] + "\n", wantErr: "no data rows"},
		{name: "missing column", in: "TotalCallCreated;CurrentCall\n5;1\n", wantErr: `column "SuccessfulCall(C)" missing`},
		{name: "not a number", in: "TotalCallCreated;CurrentCall;SuccessfulCall(C);FailedCall(C);Retransmissions(C)\nx;1;1;1;1\n", wantErr: `column "TotalCallCreated"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCSV(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseRTT(t *testing.T) {
	in := "Date_ms;response_time_ms;rtd_no\n104.001;0;1\n204.001;3.5;1\n300.2;7;2\n\n"
	got, err := parseRTT(strings.NewReader(in), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != 0 || got[1] != 3.5 {
		t.Errorf("rtd 1 = %v, want [0 3.5]", got)
	}
	if _, err := parseRTT(strings.NewReader("1;2\n"), 1); err == nil {
		t.Error("a short line must be an error")
	}
}

func TestPercentile(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tt := range []struct{ p, want float64 }{{50, 5}, {99, 10}, {10, 1}, {0, 1}, {100, 10}} {
		if got := percentile(v, tt.p); got != tt.want {
			t.Errorf("p%g = %g, want %g", tt.p, got, tt.want)
		}
	}
	if !math.IsNaN(percentile(nil, 50)) {
		t.Error("no values must give NaN")
	}
}

// mkStream builds packets due every 20 ms from t0, each arriving late by
// late[i] ms; a marker starts every spurt at the given indexes.
func mkStream(t0 time.Time, late []float64, markers ...int) []rtpPacket {
	out := make([]rtpPacket, len(late))
	isMarker := map[int]bool{0: true}
	for _, m := range markers {
		isMarker[m] = true
	}
	for i, l := range late {
		out[i] = rtpPacket{
			At:     t0.Add(time.Duration(i)*20*time.Millisecond + time.Duration(l*float64(time.Millisecond))).UnixNano(),
			TS:     uint32(1000 + 160*i),
			Seq:    uint16(65530 + i), // wraps: must not count as loss
			Marker: isMarker[i],
		}
	}
	return out
}

func TestPacing(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name      string
		streams   [][]rtpPacket
		from, to  time.Time
		packets   int
		late      int
		lost      int
		devP99Min float64
	}{
		{name: "perfect", streams: [][]rtpPacket{mkStream(t0, make([]float64, 100))}, packets: 100},
		{
			// A late first packet must not make the rest look late: the
			// anchor is the median offset.
			name:    "late first packet only",
			streams: [][]rtpPacket{mkStream(t0, append([]float64{12}, make([]float64, 49)...))},
			packets: 50, late: 1, devP99Min: 12,
		},
		{
			name:    "two of ten beyond tolerance, either side",
			streams: [][]rtpPacket{mkStream(t0, []float64{0, 1, -1, 0, 6, 0, 0, -7, 0, 4.9})},
			packets: 10, late: 2, devP99Min: 7,
		},
		{
			name: "lost packet is counted, not judged",
			streams: [][]rtpPacket{func() []rtpPacket {
				s := mkStream(t0, make([]float64, 10))
				return append(s[:4], s[5:]...)
			}()},
			packets: 9, lost: 1,
		},
		{
			// A new prompt (marker) restarts the schedule: the gap between
			// prompts is not lateness.
			name: "second prompt after a pause",
			streams: [][]rtpPacket{func() []rtpPacket {
				s := mkStream(t0, make([]float64, 20), 10)
				for i := 10; i < 20; i++ {
					s[i].At += int64(700 * time.Millisecond)
					s[i].TS += 8000
				}
				return s
			}()},
			packets: 20,
		},
		{
			name:    "window keeps packets in [from, to)",
			streams: [][]rtpPacket{mkStream(t0, make([]float64, 100))},
			from:    t0.Add(200 * time.Millisecond), to: t0.Add(400 * time.Millisecond),
			packets: 10,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pacingOf(tt.streams, tt.from, tt.to, 5*time.Millisecond)
			if p.Packets != tt.packets || p.Late != tt.late || p.Lost != tt.lost {
				t.Errorf("packets/late/lost = %d/%d/%d, want %d/%d/%d", p.Packets, p.Late, p.Lost, tt.packets, tt.late, tt.lost)
			}
			if p.DevP99 < tt.devP99Min-0.01 || (tt.devP99Min == 0 && p.DevP99 > 0.01) {
				t.Errorf("dev p99 = %g ms, want ≈ %g", p.DevP99, tt.devP99Min)
			}
		})
	}
}

func TestPacingPromptDuration(t *testing.T) {
	p := pacingOf([][]rtpPacket{mkStream(time.Unix(0, 0), make([]float64, 150))}, time.Time{}, time.Time{}, 5*time.Millisecond)
	if len(p.Durations) != 1 || math.Abs(p.Durations[0]-3000) > 0.01 {
		t.Errorf("durations = %v, want [3000] (150 packets of 20 ms)", p.Durations)
	}
	if got := p.LateShare(); got != 0 {
		t.Errorf("late share = %g, want 0", got)
	}
}

const metricsPage = `# HELP hotline_ivr_digit_to_prompt_seconds Time from a caller's digit to the first packet of the next prompt.
# TYPE hotline_ivr_digit_to_prompt_seconds histogram
hotline_ivr_digit_to_prompt_seconds_bucket{le="0.001"} 10
hotline_ivr_digit_to_prompt_seconds_bucket{le="0.002"} 60
hotline_ivr_digit_to_prompt_seconds_bucket{le="0.005"} 90
hotline_ivr_digit_to_prompt_seconds_bucket{le="0.01"} 100
hotline_ivr_digit_to_prompt_seconds_bucket{le="+Inf"} 100
hotline_ivr_digit_to_prompt_seconds_sum 0.2
hotline_ivr_digit_to_prompt_seconds_count 100
hotline_crm_lookup_seconds_bucket{le="0.001"} 7
`

func TestHistogram(t *testing.T) {
	h, err := parseHistogram(metricsPage, "hotline_ivr_digit_to_prompt_seconds")
	if err != nil {
		t.Fatal(err)
	}
	if h.Count != 100 || len(h.Bounds) != 5 || !math.IsInf(h.Bounds[4], 1) {
		t.Fatalf("parsed %+v", h)
	}
	for _, tt := range []struct{ q, want float64 }{{0.5, 0.0018}, {0.9, 0.005}, {0.99, 0.0095}, {0.05, 0.0005}} {
		if got := h.Quantile(tt.q); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("q%g = %g, want %g", tt.q, got, tt.want)
		}
	}
	before := histogram{Bounds: h.Bounds, Counts: []float64{10, 10, 10, 10, 10}, Count: 10, Sum: 0.005}
	d := h.Sub(before)
	if d.Count != 90 || d.Counts[0] != 0 || d.Counts[1] != 50 {
		t.Errorf("difference = %+v", d)
	}
	if _, err := parseHistogram(metricsPage, "no_such_metric"); err == nil {
		t.Error("a missing histogram must be an error")
	}
}

func TestParseFlags(t *testing.T) {
	if _, err := parseFlags([]string{}); err == nil {
		t.Error("no -scenario must be an error")
	}
	if _, err := parseFlags([]string{"-scenario", "ivr", "-digits", "9x"}); err == nil {
		t.Error("a bad key must be an error")
	}
	o, err := parseFlags([]string{"-scenario", "setup", "-rate", "300", "-calls", "6000"})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.rates) != 1 || o.rates[0] != 300 || o.calls != 6000 {
		t.Errorf("rates %v calls %d", o.rates, o.calls)
	}
	o, err = parseFlags([]string{"-scenario", "concurrent", "-calls", "700"})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.concurrent) != 1 || o.concurrent[0] != 700 {
		t.Errorf("concurrent %v", o.concurrent)
	}
}

func TestSummariseErrors(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/errors.log"
	log := "The following events occurred:\n" +
		"2026-11-22\t00:39:43.510707\t1795307983.510707: Dead call 3102-7710@127.0.0.1 (successful), received 'BYE sip:load@127.0.0.1:34603;transport=UDP SIP/2.0\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:59063;branch=z9hG4bK.x\n" +
		"2026-11-22\t00:39:44.000000\t1795307984.000000: Aborting call on an unexpected BYE for call: 3-23409@127.0.0.1\n" +
		"2026-11-22\t00:39:45.000000\t1795307985.000000: Dead call 4-7710@127.0.0.1 (successful), received 'BYE'\n"
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	got := summariseErrors(path)
	for _, want := range []string{"2 messages for calls already ended", "1 other events, first: Aborting call on an unexpected BYE"} {
		if !strings.Contains(got, want) {
			t.Errorf("summary %q lacks %q", got, want)
		}
	}
	if got := summariseErrors(dir + "/missing.log"); got != "" {
		t.Errorf("missing log summarised as %q", got)
	}
}
