package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// sippRun is one SIPp client run against the engine.
type sippRun struct {
	Bin       string
	Scenario  string // scenario XML file
	Target    string // engine SIP host:port
	Service   string // dialled access number
	Calls     int    // -m
	Rate      float64
	Limit     int           // -l, 0: SIPp's default
	Pause     time.Duration // -d, for <pause/>
	RTPPorts  []int         // [field0] per call, round robin
	Inject    string        // or this injection file
	TraceLogs bool          // -trace_logs (<log> actions)
	Dir       string        // working directory: logs and statistics land here
	Timeout   time.Duration // -timeout for the whole run
	OnStarted func(pid int)
	Nice      int
}

// sippResult is what a finished SIPp run reports.
type sippResult struct {
	ExitCode int
	Stat     sipStat
	SetupMs  []float64 // INVITE → 200 OK per call (rtd 1), ms
	CPU      time.Duration
	Wall     time.Duration
	Started  time.Time
	Errors   string // tail of SIPp's error log
}

// CPUShare is SIPp's CPU time over its run time, in percent of one core.
func (r sippResult) CPUShare() float64 {
	if r.Wall <= 0 {
		return 0
	}
	return 100 * r.CPU.Seconds() / r.Wall.Seconds()
}

func (s sippRun) run(ctx context.Context) (sippResult, error) {
	var res sippResult
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return res, fmt.Errorf("sipp dir: %w", err)
	}
	var inf strings.Builder
	inf.WriteString("SEQUENTIAL\n")
	for _, p := range s.RTPPorts {
		fmt.Fprintf(&inf, "%d;\n", p)
	}
	infPath := filepath.Join(s.Dir, "rtp-ports.csv")
	if s.Inject != "" {
		infPath = s.Inject
	} else if err := os.WriteFile(infPath, []byte(inf.String()), 0o644); err != nil {
		return res, fmt.Errorf("sipp injection file: %w", err)
	}
	scen, err := filepath.Abs(s.Scenario)
	if err != nil {
		return res, fmt.Errorf("sipp scenario: %w", err)
	}
	if _, err := os.Stat(scen); err != nil {
		return res, fmt.Errorf("sipp scenario (run from the module root): %w", err)
	}
	local, err := freePort()
	if err != nil {
		return res, err
	}
	media, err := freePort()
	if err != nil {
		return res, err
	}
	args := []string{s.Target, "-sf", scen, "-inf", infPath, "-s", s.Service,
		"-i", "127.0.0.1", "-p", strconv.Itoa(local), "-mp", strconv.Itoa(media),
		"-m", strconv.Itoa(s.Calls), "-r", strconv.FormatFloat(s.Rate, 'f', -1, 64),
		"-d", strconv.FormatInt(s.Pause.Milliseconds(), 10),
		"-timeout", fmt.Sprintf("%ds", int(s.Timeout.Seconds())), "-timeout_error",
		"-trace_stat", "-fd", "1", "-trace_rtt", "-rtt_freq", "1", "-trace_err",
		"-nostdin", "-max_recv_loops", "10000", "-max_sched_loops", "10000",
	}
	if s.Limit > 0 {
		args = append(args, "-l", strconv.Itoa(s.Limit))
	}
	if s.TraceLogs {
		args = append(args, "-trace_logs")
	}
	name, args := niceArgs(s.Nice, s.Bin, args...)
	cmd := exec.Command(name, args...)
	cmd.Dir = s.Dir
	out, err := os.Create(filepath.Join(s.Dir, "sipp.out"))
	if err != nil {
		return res, fmt.Errorf("sipp output: %w", err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	res.Started = time.Now()
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("start sipp: %w", err)
	}
	if s.OnStarted != nil {
		s.OnStarted(cmd.Process.Pid)
	}
	waitc := make(chan error, 1)
	go func() { waitc <- cmd.Wait() }()
	select {
	case <-waitc:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-waitc
	}
	res.Wall = time.Since(res.Started)
	if ps := cmd.ProcessState; ps != nil {
		res.ExitCode = ps.ExitCode()
		res.CPU = ps.UserTime() + ps.SystemTime()
	}
	base := strings.TrimSuffix(filepath.Base(scen), ".xml") + "_" + strconv.Itoa(cmd.Process.Pid) + "_"
	if f, err := os.Open(filepath.Join(s.Dir, base+".csv")); err == nil {
		res.Stat, err = parseStatCSV(f)
		f.Close()
		if err != nil {
			return res, err
		}
	} else {
		return res, fmt.Errorf("sipp statistics (exit %d, see %s): %w", res.ExitCode, s.Dir, err)
	}
	if f, err := os.Open(filepath.Join(s.Dir, base+"rtt.csv")); err == nil {
		res.SetupMs, err = parseRTT(f, 1)
		f.Close()
		if err != nil {
			return res, err
		}
	}
	res.Errors = summariseErrors(filepath.Join(s.Dir, base+"errors.log"))
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

// summariseErrors condenses SIPp's error log: late retransmissions of
// finished calls ("Dead call") are counted, the first other event quoted.
func summariseErrors(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	dead, other := 0, 0
	first := ""
	for _, line := range strings.Split(string(b), "\n") {
		_, ev, ok := strings.Cut(line, ": ")
		if !ok || !strings.HasPrefix(line, "20") {
			continue
		}
		if strings.HasPrefix(ev, "Dead call") {
			dead++
			continue
		}
		other++
		if first == "" {
			first = ev
		}
	}
	var parts []string
	if dead > 0 {
		parts = append(parts, fmt.Sprintf("%d messages for calls already ended (retransmissions answered late, not failures)", dead))
	}
	if other > 0 {
		parts = append(parts, fmt.Sprintf("%d other events, first: %s", other, first))
	}
	return strings.Join(parts, "; ")
}
