package main

import (
	"bufio"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// The bridged scenario: N callers, each answered by the IVR and queued,
// each bridged to an agent's phone (a SIPp UAS registered as one of N+
// agents), both sides talking for -steady; R of the calls go to a queue
// that records. The driver itself sends and receives all the RTP of both
// sides (see bridgemedia.go), with every frame stamped, so it measures the
// engine's forwarding delay phone to phone.

const (
	bridgedRecService   = "30001" // flow bridged-rec: queue "rec" (recorded)
	bridgedPlainService = "30002" // flow bridged-plain: queue "plain" (not recorded)
)

const bridgedFlow = `name: %s
start: q
nodes:
  q: {type: queue, queue: %s, max_wait: 120s, overflow: bye, next: bye, announce_agent: ""}
  bye: {type: hangup, reason: done}
`

// writeBridgedConfig derives the engine configuration: the load
// configuration with absolute paths, two queues (rec records every call,
// plain none), their access numbers and flows, and agents with both
// skills.
func writeBridgedConfig(o options, agents int) (string, error) {
	d, err := newDerivedConfig(o, "bridged")
	if err != nil {
		return "", err
	}
	if err := d.copyFlows(); err != nil {
		return "", err
	}
	for name, queue := range map[string]string{"bridged-rec": "rec", "bridged-plain": "plain"} {
		if err := d.writeFlow(name+".yaml", fmt.Appendf(nil, bridgedFlow, name, queue)); err != nil {
			return "", err
		}
	}
	cfg, err := d.head(o, map[string]string{
		"ring_timeout: 15s": "ring_timeout: 10s",
		"realm: hotline":    "realm: hotline", // the HA1s below are for this realm
		"access_numbers:\n": fmt.Sprintf("access_numbers:\n  %q: bridged-rec\n  %q: bridged-plain\n", bridgedRecService, bridgedPlainService),
		"queues:\n":         "queues:\n  - {name: rec, wrap_up: 10ms, record: always}\n  - {name: plain, wrap_up: 10ms, record: never}\n",
	})
	if err != nil {
		return "", err
	}
	// Thousands of agents: give them ready-made credentials (one cheap
	// bcrypt hash for the desktop, which the run does not use, and each
	// phone's digest HA1), or the engine spends minutes hashing at start.
	hash, err := bcrypt.GenerateFromPassword([]byte("unused-desktop-password"), bcrypt.MinCost)
	if err != nil {
		return "", fmt.Errorf("bridged config: %w", err)
	}
	var b strings.Builder
	b.WriteString(cfg)
	b.WriteString("agents:\n")
	for _, id := range agentIDs(agents) {
		ha1 := md5.Sum([]byte(id + ":hotline:pass" + id))
		fmt.Fprintf(&b, "  - {id: %q, name: Agent %s, password_hash: %q, sip_ha1: %x, role: agent, skills: {rec: 1, plain: 1}}\n", id, id, hash, ha1)
	}
	b.WriteString("  - {id: \"9001\", name: Supervisor 9001, password: pass9001, role: supervisor}\n")
	return d.write(b.String())
}

// bridgedRow is one engine's figures for N bridged calls.
type bridgedRow struct {
	engine                 string
	calls, recorded        int
	attempted, failed      int
	retrans                int
	setupP99               float64
	streams                int // driver streams that received relayed frames in the window
	window                 time.Duration
	delays                 []float64 // ms, sorted
	sent, received         uint64    // stamped frames sent / received within the window
	recordings             int
	rssIdle, rssN          int64
	engineCPU, sippCPU     float64
	driverCPU, machineBusy float64
	others, softirq        float64
	load                   string
	notes                  []string
	readyAgents            int
	gcLine                 string
}

func runBridged(ctx context.Context, o options, w io.Writer) error {
	n := o.calls
	if n == 0 {
		n = 500
	}
	rec := min(o.recorded, n)
	agents := n + n/10 + 10
	cfg, err := writeBridgedConfig(o, agents)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nBridged calls: %d callers (%d into a recorded queue), each bridged to one of %d agents' phones, ramp %g calls/s, both sides talk for %s; the driver sends and receives all RTP (stamped frames, kernel receive times); config %s\n",
		n, rec, agents, o.rampRate, o.steady, cfg)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "engine\tcalls\trecorded\tfailed\tretrans\tsetup p99 ms\tstreams relayed\twindow s\tframes judged\tdelay p50 ms\tdelay p99 ms\tdelay max ms\t> 5 ms %\tlost %\trecordings\tRSS idle MB\tRSS at N MB\tKiB/call\tengine CPU %\tSIPp CPU %\tdriver CPU %\tsoftirq %\tmachine busy %\tother load %\tload avg\t")
	var notes strings.Builder
	defer func() { _ = tw.Flush(); fmt.Fprint(w, notes.String()) }()
	for _, e := range o.engines {
		row, err := bridgedStep(ctx, o.with(e), cfg, n, rec, agents)
		if err != nil {
			return fmt.Errorf("bridged, %s: %w", e.name, err)
		}
		over5 := 0
		for _, d := range row.delays {
			if d > 5 {
				over5++
			}
		}
		lost := math.NaN()
		if row.sent > 0 {
			lost = 100 * (1 - float64(row.received)/float64(row.sent))
		}
		perCall := math.NaN()
		if row.rssN > 0 {
			perCall = float64(row.rssN-row.rssIdle) / float64(n) / 1024
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%d\t%.1f\t%d\t%s\t%s\t%s\t%.3f\t%.3f\t%d\t%s\t%s\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%s\t\n",
			e.name, n, rec, row.failed, row.retrans, ms(row.setupP99), row.streams, row.window.Seconds(), len(row.delays),
			ms(percentile(row.delays, 50)), ms(percentile(row.delays, 99)), ms(percentile(row.delays, 100)),
			100*float64(over5)/math.Max(1, float64(len(row.delays))), lost, row.recordings,
			mb(row.rssIdle), mb(row.rssN), perCall, row.engineCPU, row.sippCPU, row.driverCPU, row.softirq, row.machineBusy, row.others, row.load)
		for _, s := range row.notes {
			fmt.Fprintf(&notes, "    %s: %s\n", e.name, s)
		}
	}
	return nil
}

func bridgedStep(ctx context.Context, o options, cfg string, n, rec, agents int) (bridgedRow, error) {
	row := bridgedRow{engine: o.engineName, calls: n, recorded: rec}
	dir := filepath.Join(o.workDir, fmt.Sprintf("%s-bridged-%d", o.engineName, n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return row, fmt.Errorf("step dir: %w", err)
	}
	eng, err := startEngineEnv(ctx, o.engineBin, cfg, dir, o.logLevel, o.nice, o.engineEnv)
	if err != nil {
		return row, err
	}
	defer eng.stop()
	bm, err := newBridgeMedia(o.sockets, n+agents)
	if err != nil {
		return row, err
	}
	defer bm.close()

	// Agents' phones: one SIPp UAS answering for all of them, then one
	// SIPp run registering every agent with its Contact on it.
	uasPort, err := freePort()
	if err != nil {
		return row, err
	}
	uasDir := filepath.Join(dir, "agents")
	uasLog, uasDone, uasCmd, err := startAgentPhones(o, uasDir, uasPort, bm, n, agents)
	if err != nil {
		return row, err
	}
	defer func() {
		_ = uasCmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-uasDone:
		case <-time.After(5 * time.Second):
			_ = uasCmd.Process.Kill()
			<-uasDone
		}
	}()
	if err := registerAgents(ctx, o, eng.SIPAddr, filepath.Join(dir, "register"), uasPort, agents); err != nil {
		return row, err
	}
	deadline := time.Now().Add(90 * time.Second)
	for row.readyAgents = readyAgents(eng.HTTP); row.readyAgents < agents; row.readyAgents = readyAgents(eng.HTTP) {
		if time.Now().After(deadline) {
			return row, fmt.Errorf("only %d of %d agents ready after registering (see %s)", row.readyAgents, agents, dir)
		}
		select {
		case <-ctx.Done():
			return row, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	bm.start()
	tailCtx, stopTail := context.WithCancel(ctx)
	defer stopTail()
	var tails sync.WaitGroup
	tails.Add(1)
	go func() { defer tails.Done(); bm.follow(tailCtx, uasLog) }()

	time.Sleep(time.Second) // settle before the idle reading
	row.rssIdle, _, _ = procMem(eng.pid())
	samp := startSampler(eng.pid(), 250*time.Millisecond)
	defer samp.stop()
	mBefore, _ := eng.metrics()

	// Callers: two SIPp runs, one per queue, at rates in proportion.
	ramp := time.Duration(float64(n) / o.rampRate * float64(time.Second))
	hold := ramp + o.steady + 3*time.Second
	type part struct {
		service string
		first   int
		calls   int
	}
	parts := []part{{bridgedRecService, 0, rec}, {bridgedPlainService, rec, n - rec}}
	cpu := startCPU(eng.pid())
	results := make([]sippResult, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for k, p := range parts {
		if p.calls == 0 {
			continue
		}
		pdir := filepath.Join(dir, "callers-"+p.service)
		if err := os.MkdirAll(pdir, 0o755); err != nil {
			return row, fmt.Errorf("caller dir: %w", err)
		}
		inf := filepath.Join(pdir, "media.csv")
		if err := os.WriteFile(inf, []byte(bm.injection(p.first, p.calls)), 0o644); err != nil {
			return row, fmt.Errorf("caller media: %w", err)
		}
		logPath := make(chan string, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[k], errs[k] = sippRun{
				Bin: o.sippBin, Scenario: filepath.Join(o.sippDir, "caller-bridged.xml"), Target: eng.SIPAddr,
				Service: p.service, Calls: p.calls, Rate: o.rampRate * float64(p.calls) / float64(n), Limit: p.calls, Pause: hold,
				Inject: inf, TraceLogs: true, Dir: pdir, Nice: o.nice, Timeout: hold + ramp + 90*time.Second,
				OnStarted: func(pid int) {
					logPath <- filepath.Join(pdir, fmt.Sprintf("caller-bridged_%d_logs.log", pid))
				},
			}.run(ctx)
		}()
		tails.Add(1)
		go func() {
			defer tails.Done()
			select {
			case path := <-logPath:
				bm.follow(tailCtx, path)
			case <-tailCtx.Done():
			}
		}()
	}
	// The window: every caller and agent stream relayed (plus a second)
	// until the first callers hang up.
	var allUp time.Time
	started := time.Now()
	for time.Since(started) < hold {
		if bm.relayedStreams() >= 2*n {
			allUp = time.Now()
			break
		}
		select {
		case <-ctx.Done():
			return row, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if allUp.IsZero() {
		row.notes = append(row.notes, fmt.Sprintf("only %d of %d streams were ever relayed; judging what was", bm.relayedStreams(), 2*n))
		allUp = started
	}
	from, until := allUp.Add(time.Second), started.Add(hold-time.Second)
	bm.setWindow(from, until)
	// The phones fall silent when the window ends, before the callers hang
	// up: media for calls already gone would only be dropped by the engine.
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(until)):
	}
	// Whose buffers overflowed, read while every socket is still open
	// (the engine's shared ports close with their last call).
	mine, others := udpSocketDrops(bm.ports())
	bm.stopSending()
	wg.Wait()
	c := cpu
	c.stop()
	stopTail()
	tails.Wait()
	if err := errors.Join(errs...); err != nil {
		return row, err
	}
	mAfter, _ := eng.metrics()
	row.gcLine = gcLine(mBefore, mAfter)
	row.window = until.Sub(from)
	bm.close()
	row.delays, row.sent, row.received, row.streams = bm.results()
	tl, worst := bm.timeline()
	if err := os.WriteFile(filepath.Join(dir, "delay-timeline.csv"), []byte(tl), 0o644); err != nil {
		return row, fmt.Errorf("delay timeline: %w", err)
	}
	if worst != "" {
		row.notes = append(row.notes, worst+" (per-second counts in "+filepath.Join(dir, "delay-timeline.csv")+")")
	}
	row.rssN = samp.maxBetween(from, until)
	var setup []float64
	var sippCPU time.Duration
	var wall time.Duration
	for _, r := range results {
		row.attempted += r.Stat.Created
		row.failed += r.Stat.Failed
		row.retrans += r.Stat.Retrans
		setup = append(setup, r.SetupMs...)
		sippCPU += r.CPU
		wall = max(wall, r.Wall)
		if r.Stat.Reasons != "" || r.Errors != "" || r.ExitCode != 0 {
			row.notes = append(row.notes, fmt.Sprintf("SIPp caller exit %d: %s %s", r.ExitCode, r.Stat.Reasons, oneLine(r.Errors)))
		}
	}
	sort.Float64s(setup)
	row.setupP99 = percentile(setup, 99)
	row.engineCPU, row.driverCPU, row.machineBusy, row.softirq = c.EngineShare, c.DriverShare, c.MachineBusy, c.Softirq
	if wall > 0 {
		row.sippCPU = 100 * sippCPU.Seconds() / wall.Seconds()
	}
	row.others = max(row.machineBusy-(row.engineCPU+row.sippCPU+row.driverCPU)/float64(runtime.NumCPU())-row.softirq, 0)
	row.load = loadAvg()
	recs, _ := filepath.Glob(filepath.Join(dir, "recordings", "*", "*", "*", "*.wav"))
	if len(recs) == 0 {
		recs, _ = filepath.Glob(filepath.Join(dir, "recordings", "*.wav"))
	}
	if len(recs) == 0 {
		_ = filepath.WalkDir(filepath.Join(dir, "recordings"), func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".wav") {
				recs = append(recs, path)
			}
			return nil
		})
	}
	row.recordings = len(recs)
	row.notes = append(row.notes, fmt.Sprintf("%s; driver: %s", row.gcLine, bm.summary()))
	if v, ok := metricValue(mAfter, `hotline_rtp_unmatched_packets_total{reason="ambiguous"}`); ok && v > 0 {
		row.notes = append(row.notes, fmt.Sprintf("engine: %.0f packets ambiguous on shared ports", v))
	}
	if c.RcvbufErr > 0 {
		row.notes = append(row.notes, fmt.Sprintf("the kernel dropped %d UDP datagrams on full receive buffers during the run: %d at the driver's own sockets and %d at the engine's and others' by the end of the window", c.RcvbufErr, mine, others))
	}
	return row, nil
}

// startAgentPhones runs the agents' SIPp UAS; it returns the path of its
// -trace_logs file (the media lines) and its exit channel.
func startAgentPhones(o options, dir string, port int, bm *bridgeMedia, first, agents int) (string, chan struct{}, *exec.Cmd, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, nil, fmt.Errorf("agent phones: %w", err)
	}
	inf := filepath.Join(dir, "media.csv")
	if err := os.WriteFile(inf, []byte(bm.injection(first, agents)), 0o644); err != nil {
		return "", nil, nil, fmt.Errorf("agent phones: %w", err)
	}
	scen, err := filepath.Abs(filepath.Join(o.sippDir, "agent-bridged.xml"))
	if err != nil {
		return "", nil, nil, fmt.Errorf("agent phones: %w", err)
	}
	out, err := os.Create(filepath.Join(dir, "sipp.out"))
	if err != nil {
		return "", nil, nil, fmt.Errorf("agent phones: %w", err)
	}
	name, args := niceArgs(o.nice, o.sippBin, "-sf", scen, "-inf", inf, "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-m", "1000000", "-nostdin", "-trace_err", "-trace_logs", "-max_recv_loops", "10000", "-max_sched_loops", "10000")
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		return "", nil, nil, fmt.Errorf("agent phones: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); out.Close(); close(done) }()
	return filepath.Join(dir, fmt.Sprintf("agent-bridged_%d_logs.log", cmd.Process.Pid)), done, cmd, nil
}

// registerAgents registers agents 2001… at target in one SIPp run (their
// credentials from an injection file), Contact on contactPort.
func registerAgents(ctx context.Context, o options, target, dir string, contactPort, agents int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("register agents: %w", err)
	}
	var b strings.Builder
	b.WriteString("SEQUENTIAL\n")
	for _, id := range agentIDs(agents) {
		fmt.Fprintf(&b, "%s;[authentication username=%s password=pass%s];\n", id, id, id)
	}
	inf := filepath.Join(dir, "users.csv")
	if err := os.WriteFile(inf, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("register agents: %w", err)
	}
	scen, err := filepath.Abs(filepath.Join(o.sippDir, "register-agents.xml"))
	if err != nil {
		return fmt.Errorf("register agents: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(rctx, o.sippBin, target, "-sf", scen, "-inf", inf, "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-key", "contact_port", strconv.Itoa(contactPort), "-m", strconv.Itoa(agents), "-r", "200", "-l", "100",
		"-timeout", "100s", "-timeout_error", "-nostdin", "-trace_err")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("register agents (see %s): %w\n%s", dir, err, tailString(string(out), 800))
	}
	return nil
}

// followLog calls line for every line appended to path until ctx ends
// (the file may not exist yet).
func followLog(ctx context.Context, path string, line func(string)) {
	var f *os.File
	for f == nil {
		var err error
		if f, err = os.Open(path); err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var partial string
	for {
		s, err := r.ReadString('\n')
		partial += s
		if err == nil {
			line(strings.TrimSpace(partial))
			partial = ""
			continue
		}
		select {
		case <-ctx.Done():
			if partial != "" {
				line(strings.TrimSpace(partial))
			}
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}
