// Command hotline-load measures a Hotline engine under SIPp load on this
// machine: call set-up rate, concurrent playing calls with RTP pacing,
// bridged calls with forwarding delay (some recorded), IVR digit → next
// prompt latency, and two nodes on Redis against one. It starts the engine itself on free
// loopback ports (testdata/load/hotline-load.yaml), drives SIPp with the
// scenarios in testdata/sipp, receives the engine's RTP on its own sockets
// (kernel receive timestamps) and prints a results table. Every run is
// bounded in calls and time. Run it from the module root:
//
//	go run ./cmd/hotline-load -scenario setup                  # 50…400 calls/s, 20 s each
//	go run ./cmd/hotline-load -scenario setup -rate 300 -calls 6000
//	go run ./cmd/hotline-load -scenario concurrent -concurrent 500,1000
//	go run ./cmd/hotline-load -scenario bridged -calls 1000 -recorded 250 -baseline f5e611d
//	go run ./cmd/hotline-load -scenario ivr -calls 500
//	go run ./cmd/hotline-load -scenario cluster -rates 20,40 -agents 60   # 1 node/memory vs 2 nodes/Redis
//
// On a shared machine add -nice -10 (root), and read the "other load" column
// and the canary line: the driver paces its own control RTP stream so a
// machine stall can be told from an engine stall. -keep -work DIR keeps the
// engine log, SIPp's statistics and a per-second pacing timeline.
// See cmd/hotline-load/RESULTS.md for measured figures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	scenario   string
	cpuProfile string
	rates      []float64
	duration   time.Duration
	calls      int
	concurrent []int
	rampRate   float64
	steady     time.Duration
	hold       time.Duration
	digits     string
	engineBin  string
	engineName string
	baseline   string
	engines    []engineSpec
	config     string
	sippBin    string
	sippDir    string
	sockets    int
	workDir    string
	keep       bool
	logLevel   string
	tolerance  time.Duration
	maxTime    time.Duration
	nice       int
	agents     int
	talk       time.Duration
	recorded   int
	engineEnv  []string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "hotline-load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.maxTime)
	defer cancel()
	if o.sippBin, err = exec.LookPath(o.sippBin); err != nil {
		return fmt.Errorf("sipp not found (install Debian package sip-tester): %w", err)
	}
	if o.nice != 0 {
		if err := reniceSelf(o.nice); err != nil {
			return err
		}
	}
	if o.cpuProfile != "" {
		// The driver's own CPU profile, to see where its share of the
		// machine goes (the engine's is at its /debug/pprof).
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if o.workDir == "" {
		if o.workDir, err = os.MkdirTemp("", "hotline-load-"); err != nil {
			return fmt.Errorf("work dir: %w", err)
		}
		if !o.keep {
			defer os.RemoveAll(o.workDir)
		}
	}
	if o.engineBin == "" {
		slog.Info("building the engine", "dir", o.workDir)
		if o.engineBin, err = buildEngine(ctx, ".", filepath.Join(o.workDir, "hotline")); err != nil {
			return err
		}
	}
	o.engineName = "this"
	o.engines = []engineSpec{{"this", o.engineBin}}
	if o.baseline != "" {
		bin, err := baselineEngine(ctx, o.baseline, o.workDir)
		if err != nil {
			return err
		}
		// The baseline goes first in every step: the same load, the same
		// minute, the machine in the same state as far as it can be.
		o.engines = []engineSpec{{"baseline", bin}, {"this", o.engineBin}}
	}
	fmt.Fprintf(stdout, "hotline-load %s: engine %s, config %s, work dir %s%s\n", o.scenario, o.engineBin, o.config, o.workDir,
		map[bool]string{true: " (kept)", false: " (removed at exit; -keep keeps it)"}[o.keep])
	if o.baseline != "" {
		fmt.Fprintf(stdout, "baseline engine: %s (built from %s), run before this one in every step\n", o.engines[0].bin, o.baseline)
	}
	fmt.Fprintf(stdout, "machine: %d CPUs, load average at start %s\n", runtime.NumCPU(), loadAvg())
	defer func() { fmt.Fprintf(stdout, "load average at end: %s\n", loadAvg()) }()
	switch o.scenario {
	case "setup":
		return runSetup(ctx, o, stdout)
	case "concurrent":
		return runConcurrent(ctx, o, stdout)
	case "bridged":
		return runBridged(ctx, o, stdout)
	case "ivr":
		return runIVR(ctx, o, stdout)
	case "cluster":
		return runCluster(ctx, o, stdout)
	}
	return fmt.Errorf("unknown -scenario %q (setup, concurrent, bridged, ivr, cluster)", o.scenario)
}

// engineSpec is one engine binary under test.
type engineSpec struct{ name, bin string }

// with returns the options for running one engine of the comparison.
func (o options) with(e engineSpec) options {
	o.engineBin, o.engineName = e.bin, e.name
	return o
}

// baselineEngine is the -baseline engine: a binary, or a git revision
// built from a clean export of it (git archive), so nobody's working tree
// leaks in.
func baselineEngine(ctx context.Context, ref, work string) (string, error) {
	if st, err := os.Stat(ref); err == nil && !st.IsDir() {
		return ref, nil
	}
	src := filepath.Join(work, "baseline-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", fmt.Errorf("baseline: %w", err)
	}
	slog.Info("building the baseline engine", "ref", ref, "dir", src)
	archive := exec.CommandContext(ctx, "git", "archive", ref)
	untar := exec.CommandContext(ctx, "tar", "-x", "-C", src)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return "", fmt.Errorf("baseline: %w", err)
	}
	untar.Stdin = pipe
	var aerr strings.Builder
	archive.Stderr = &aerr
	if err := untar.Start(); err != nil {
		return "", fmt.Errorf("baseline: tar: %w", err)
	}
	if err := archive.Run(); err != nil {
		_ = untar.Wait()
		return "", fmt.Errorf("baseline: git archive %s: %w: %s", ref, err, aerr.String())
	}
	if err := untar.Wait(); err != nil {
		return "", fmt.Errorf("baseline: tar: %w", err)
	}
	return buildEngine(ctx, src, filepath.Join(work, "hotline-baseline"))
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("hotline-load", flag.ContinueOnError)
	fs.StringVar(&o.scenario, "scenario", "", "setup, concurrent, bridged, ivr or cluster (required)")
	rates := fs.String("rates", "50,100,200,300,400", "setup: call rates to step through, calls/s (cluster: default 20,40)")
	fs.IntVar(&o.agents, "agents", 200, "cluster: agents, half registered through each node (each handles a call every -talk + ~2 s)")
	fs.DurationVar(&o.talk, "talk", time.Second, "cluster: how long each agent talks before hanging up")
	envs := fs.String("engine-env", "", "extra environment for the engine only, comma-separated KEY=VALUE (e.g. GOGC=50,GOMAXPROCS=4)")
	fs.IntVar(&o.recorded, "recorded", 0, "bridged: how many of the -calls go to a queue that records (the rest to one that does not)")
	rate := fs.Float64("rate", 0, "setup: one call rate instead of -rates; concurrent/ivr: ramp-up rate (default 100)")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "setup: how long each rate is offered")
	fs.IntVar(&o.calls, "calls", 0, "setup: calls per rate (default rate × duration); ivr: callers (default 500); bridged: calls (default 500); concurrent: same as -concurrent N")
	conc := fs.String("concurrent", "500,1000", "concurrent: numbers of simultaneous playing calls to step through")
	fs.DurationVar(&o.steady, "steady", 20*time.Second, "concurrent: how long all calls play together; bridged: how long all talk together")
	fs.DurationVar(&o.hold, "hold", 20*time.Second, "ivr: how long each caller stays after the answer")
	fs.StringVar(&o.digits, "digits", "991", "ivr: keys each caller presses, one per prompt (9 is invalid in the demo menu, 1 is billing)")
	fs.StringVar(&o.engineBin, "engine", "", "engine binary (default: go build ./cmd/hotline into the work dir)")
	fs.StringVar(&o.baseline, "baseline", "", "also run this engine, before ours, in every step: a binary or a git revision (built from git archive), e.g. -baseline f5e611d")
	fs.StringVar(&o.config, "config", "testdata/load/hotline-load.yaml", "engine configuration")
	fs.StringVar(&o.sippBin, "sipp", "sipp", "SIPp binary")
	fs.StringVar(&o.sippDir, "scenarios", "testdata/sipp", "directory of the SIPp scenarios")
	fs.IntVar(&o.sockets, "sockets", 16, "RTP receiver sockets (calls share them round robin)")
	fs.StringVar(&o.workDir, "work", "", "directory for logs and SIPp statistics (default: a temporary one)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary work directory")
	fs.StringVar(&o.logLevel, "engine-log-level", "info", "engine -log-level")
	fs.DurationVar(&o.tolerance, "tolerance", 5*time.Millisecond, "RTP pacing tolerance around the ideal 20 ms schedule")
	fs.DurationVar(&o.maxTime, "max-time", 15*time.Minute, "hard limit for the whole run")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the driver's own CPU profile to this file")
	fs.IntVar(&o.nice, "nice", 0, "run the engine, SIPp and this driver at this nice level (-20..19; below 0 needs root): on a shared machine, -10 keeps other tenants' work from stalling the measurement")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, kv := range strings.Split(*envs, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return o, fmt.Errorf("-engine-env: %q is not KEY=VALUE", kv)
		}
		o.engineEnv = append(o.engineEnv, kv)
	}
	if o.scenario == "" {
		fs.Usage()
		return o, errors.New("-scenario is required (setup, concurrent, bridged, ivr, cluster)")
	}
	var err error
	ratesSet := false
	fs.Visit(func(f *flag.Flag) { ratesSet = ratesSet || f.Name == "rates" })
	if o.scenario == "cluster" && !ratesSet {
		*rates = "20,40"
	}
	if o.agents < 2 || o.agents > 900 {
		return o, fmt.Errorf("-agents %d: want 2..900", o.agents)
	}
	if *rate > 0 {
		o.rates = []float64{*rate}
		o.rampRate = *rate
	} else if o.rates, err = parseFloats(*rates); err != nil {
		return o, fmt.Errorf("-rates: %w", err)
	}
	if o.rampRate == 0 {
		o.rampRate = 100
	}
	if o.concurrent, err = parseInts(*conc); err != nil {
		return o, fmt.Errorf("-concurrent: %w", err)
	}
	if o.scenario == "concurrent" && o.calls > 0 {
		o.concurrent = []int{o.calls}
	}
	if o.nice < -20 || o.nice > 19 {
		return o, fmt.Errorf("-nice %d: want -20..19", o.nice)
	}
	if o.sockets < 1 || o.sockets > 4096 {
		return o, fmt.Errorf("-sockets %d: want 1..4096", o.sockets)
	}
	for _, k := range o.digits {
		if _, ok := dtmfEvent(byte(k)); !ok || k > 127 {
			return o, fmt.Errorf("-digits: %q is not a key", k)
		}
	}
	return o, nil
}

func parseFloats(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// session is one engine plus the driver's RTP receiver for one load step.
type session struct {
	o       options
	dir     string
	eng     *engineProc
	rx      *receiver
	samp    *sampler
	canary  *canary
	rssIdle int64
}

func openSession(ctx context.Context, o options, name string, onPacket func(*stream, rtpPacket)) (*session, error) {
	s := &session{o: o, dir: filepath.Join(o.workDir, o.engineName+"-"+name)}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("step dir: %w", err)
	}
	var err error
	if s.eng, err = startEngineEnv(ctx, o.engineBin, o.config, s.dir, o.logLevel, o.nice, o.engineEnv); err != nil {
		return nil, err
	}
	if s.rx, err = newReceiver(o.sockets); err != nil {
		s.eng.stop()
		return nil, err
	}
	s.rx.onPacket = onPacket
	if s.canary, err = startCanary(s.rx); err != nil {
		s.rx.close()
		s.eng.stop()
		return nil, err
	}
	s.rx.start()
	// Let start-up garbage settle before the idle reading.
	time.Sleep(time.Second)
	s.rssIdle, _, _ = procMem(s.eng.pid())
	s.samp = startSampler(s.eng.pid(), 250*time.Millisecond)
	return s, nil
}

func (s *session) close() {
	s.canary.close()
	s.samp.stop()
	s.eng.stop()
	s.rx.close()
}

// reniceSelf sets every thread of this process to nice n (Linux nice
// levels are per thread; threads started later inherit from their creator).
func reniceSelf(n int) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("renice: %w", err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, n); err != nil {
			return fmt.Errorf("renice to %d (below 0 needs root): %w", n, err)
		}
	}
	return nil
}

// niceArgs prefixes a command with coreutils nice so every thread of the
// child starts at that level.
func niceArgs(nice int, bin string, args ...string) (string, []string) {
	if nice == 0 {
		return bin, args
	}
	return "nice", append([]string{"-n", strconv.Itoa(nice), bin}, args...)
}

// cpuMeter measures CPU shares of the engine and of this driver, and the
// machine's busy share, over a load step.
type cpuMeter struct {
	enginePID     int
	t0            time.Time
	eng0, self0   time.Duration
	busy0, total0 int64
	EngineShare   float64 // % of one core
	DriverShare   float64
	MachineBusy   float64 // % of all cores
	// Softirq is the kernel's softirq time, in % of all cores: on loopback
	// that is mostly the receive half of every packet's delivery, which
	// Linux charges to no process.
	Softirq            float64
	soft0              int64
	rcvbuf0, RcvbufErr int64
}

func startCPU(enginePID int) *cpuMeter {
	m := &cpuMeter{enginePID: enginePID, t0: time.Now()}
	m.eng0, _ = procCPU(enginePID)
	m.self0, _ = procCPU(os.Getpid())
	m.busy0, m.total0, m.soft0 = machineCPU()
	m.rcvbuf0 = udpRcvbufErrors()
	return m
}

func (m *cpuMeter) stop() {
	wall := time.Since(m.t0).Seconds()
	e, _ := procCPU(m.enginePID)
	d, _ := procCPU(os.Getpid())
	b, t, sq := machineCPU()
	m.EngineShare = 100 * (e - m.eng0).Seconds() / wall
	m.DriverShare = 100 * (d - m.self0).Seconds() / wall
	if t > m.total0 {
		m.MachineBusy = 100 * float64(b-m.busy0) / float64(t-m.total0)
		m.Softirq = 100 * float64(sq-m.soft0) / float64(t-m.total0)
	}
	m.RcvbufErr = udpRcvbufErrors() - m.rcvbuf0
}

// others is the machine's busy share not explained by the engine, SIPp,
// this driver and softirq (other work on a shared machine), in % of all
// cores.
func (m *cpuMeter) others(r sippResult) float64 {
	ours := (m.EngineShare + r.CPUShare() + m.DriverShare) / float64(runtime.NumCPU())
	return max(m.MachineBusy-ours-m.Softirq, 0)
}

// machineCPU reads busy, total and softirq jiffies from /proc/stat.
func machineCPU() (busy, total, softirq int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
		if i == 6 {
			softirq = n
		}
	}
	return busy, total, softirq
}

func mb(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }
