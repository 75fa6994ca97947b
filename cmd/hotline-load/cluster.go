package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/hotlinecc/hotline/sip/sipptest"
)

// The cluster scenario (issue 8): the same agents and the same offered
// calls, once on one engine over the memory store and once on two engine
// processes sharing one redis-server, agents' phones registered half
// through each node and callers split over both. Every caller goes straight
// to the general queue; the agent phone answers at once and hangs up after
// -talk; the engine then hangs the caller up.

const (
	clusterService = "10010" // access number of flow "main", replaced below
	decisionMetric = "hotline_routing_decision_seconds"
	redisBinary    = "/usr/bin/redis-server"
	// RTP ports 33000-39999: away from the test suite's ranges.
	rtpLow, rtpHigh = 33000, 39999
)

// clusterFlow queues every caller at once, so the run times the ACD and the
// bridging, not prompts.
const clusterFlow = `name: main
start: q
nodes:
  q: {type: queue, queue: general, max_wait: 60s, overflow: bye, next: bye}
  bye: {type: hangup, reason: done}
`

// clusterMode is one side of the comparison.
type clusterMode struct {
	name  string
	nodes int
	redis bool
}

// clusterNode is one engine process of a run with its agent phone.
type clusterNode struct {
	name    string
	eng     *engineProc
	records string
	uas     *exec.Cmd
	uasDone chan struct{}
	uasPort int
	agents  []string
	before  string // /metrics before the callers start
}

// clusterRow is one measured mode at one rate.
type clusterRow struct {
	mode                   string
	rate                   float64
	attempted, failed      int
	answered, records      int
	answeredPerS           float64
	waitP50, waitP99       float64 // ms, enqueue → agent answer (call records)
	setupP50, setupP99     float64 // ms, SIPp INVITE → 200 (the IVR answers at once)
	decisions              float64
	decMean, decP99        float64 // µs, /metrics histogram (all nodes)
	remotePct              float64
	multiOffer, doubleCall int
	engineCPU              []float64
	redisCPU               float64
	machineBusy            float64
	sippNotes              string
}

func runCluster(ctx context.Context, o options, w io.Writer) error {
	if _, err := os.Stat(redisBinary); err != nil {
		return fmt.Errorf("cluster: redis-server is required (apt-get install redis-server): %w", err)
	}
	cfg, err := writeClusterConfig(o)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nCluster: %d agents (phones answer at once, talk %s, wrap-up 10 ms), callers straight into one queue, %s per rate; config %s\n",
		o.agents, o.talk, o.duration, cfg)
	fmt.Fprintf(w, "load average at start: %s\n", loadAvg())
	modes := []clusterMode{{"memory-1node", 1, false}, {"redis-2nodes", 2, true}}
	var rows []clusterRow
	for _, rate := range o.rates {
		for _, m := range modes {
			row, err := clusterStep(ctx, o, cfg, m, rate)
			if err != nil {
				return fmt.Errorf("%s at %g/s: %w", m.name, rate, err)
			}
			rows = append(rows, row)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\trate/s\tattempted\tfailed\tanswered\tanswered/s\twait p50 ms\twait p99 ms\tsetup p50 ms\tsetup p99 ms\tdecisions\tdecision mean µs\tdecision p99 µs\tcross-node %\tcalls offered >1×\tcalls answered twice\tengine CPU %\tredis CPU %\tmachine busy %\t")
	for _, r := range rows {
		cpus := make([]string, len(r.engineCPU))
		for i, c := range r.engineCPU {
			cpus[i] = fmt.Sprintf("%.0f", c)
		}
		fmt.Fprintf(tw, "%s\t%g\t%d\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\t%.0f\t%.2f\t%.1f\t%.1f\t%d\t%d\t%s\t%.0f\t%.0f\t\n",
			r.mode, r.rate, r.attempted, r.failed, r.answered, r.answeredPerS, ms(r.waitP50), ms(r.waitP99), ms(r.setupP50), ms(r.setupP99),
			r.decisions, r.decMean, r.decP99, r.remotePct, r.multiOffer, r.doubleCall, strings.Join(cpus, "+"), r.redisCPU, r.machineBusy)
	}
	_ = tw.Flush()
	for _, r := range rows {
		if r.sippNotes != "" {
			fmt.Fprintf(w, "    SIPp %s at %g/s: %s\n", r.mode, r.rate, r.sippNotes)
		}
	}
	fmt.Fprintf(w, "load average at end: %s\n", loadAvg())
	return nil
}

// writeClusterConfig derives the cluster configuration from the load
// configuration: absolute paths, the one-queue flow, short wrap-up and
// ring timeout, and -agents agents with the general skill.
func writeClusterConfig(o options) (string, error) {
	d, err := newDerivedConfig(o, "cluster")
	if err != nil {
		return "", err
	}
	if err := d.copyFlows("prompt.yaml", "long.yaml"); err != nil {
		return "", err
	}
	if err := d.writeFlow("main.yaml", []byte(clusterFlow)); err != nil {
		return "", err
	}
	cfg, err := d.head(o, map[string]string{
		"wrap_up: 5s":       "wrap_up: 10ms",
		"ring_timeout: 15s": "ring_timeout: 4s",
	})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(cfg)
	b.WriteString("agents:\n")
	for _, id := range agentIDs(o.agents) {
		fmt.Fprintf(&b, "  - {id: %q, name: Agent %s, password: pass%s, role: agent, skills: {general: 1}}\n", id, id, id)
	}
	b.WriteString("  - {id: \"9001\", name: Supervisor 9001, password: pass9001, role: supervisor}\n")
	return d.write(b.String())
}

func agentIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strconv.Itoa(2001 + i)
	}
	return out
}

func clusterStep(ctx context.Context, o options, cfg string, m clusterMode, rate float64) (clusterRow, error) {
	row := clusterRow{mode: m.name, rate: rate}
	dir := filepath.Join(o.workDir, fmt.Sprintf("cluster-%s-%g", m.name, rate))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return row, fmt.Errorf("step dir: %w", err)
	}
	var env []string
	var redis *redisProc
	if m.redis {
		var err error
		if redis, err = startRedis(ctx, dir); err != nil {
			return row, err
		}
		defer redis.stop()
		env = append(env, "HOTLINE_STORE=redis", "HOTLINE_REDIS_ADDR="+redis.addr, "HOTLINE_REDIS_PREFIX=load:")
	}
	span := (rtpHigh - rtpLow + 1) / m.nodes
	nodes := make([]*clusterNode, m.nodes)
	defer func() {
		for _, n := range nodes {
			if n != nil {
				n.stop()
			}
		}
	}()
	for i := range nodes {
		n := &clusterNode{name: fmt.Sprintf("n%d", i+1), records: filepath.Join(dir, fmt.Sprintf("n%d", i+1), "records")}
		ndir := filepath.Dir(n.records)
		if err := os.MkdirAll(ndir, 0o755); err != nil {
			return row, fmt.Errorf("node dir: %w", err)
		}
		nenv := append(slicesClone(env), "HOTLINE_NODE="+n.name,
			fmt.Sprintf("HOTLINE_RTP_PORTS=%d-%d", rtpLow+i*span, rtpLow+(i+1)*span-1))
		var err error
		if n.eng, err = startEngineEnv(ctx, o.engineBin, cfg, ndir, o.logLevel, o.nice, nenv); err != nil {
			return row, fmt.Errorf("node %s: %w", n.name, err)
		}
		nodes[i] = n
	}
	// Agents alternate over the nodes; each node's phones share one SIPp.
	ids := agentIDs(o.agents)
	for i, id := range ids {
		nodes[i%m.nodes].agents = append(nodes[i%m.nodes].agents, id)
	}
	for _, n := range nodes {
		if err := n.startPhones(ctx, o, filepath.Join(dir, n.name)); err != nil {
			return row, err
		}
	}
	if err := waitAgentsReady(ctx, nodes, len(ids)); err != nil {
		return row, err
	}
	sink, err := newSink(8)
	if err != nil {
		return row, err
	}
	defer sink.close()

	for _, n := range nodes {
		n.before, _ = n.eng.metrics()
	}
	calls := int(rate * o.duration.Seconds())
	var pids []int
	for _, n := range nodes {
		pids = append(pids, n.eng.pid())
	}
	if redis != nil {
		pids = append(pids, redis.cmd.Process.Pid)
	}
	cpu := startMulti(pids)
	// Two SIPp callers in every mode (same SIPp cost), each half the rate,
	// into node 1 and node 2 (or both into the one node).
	results := make([]sippResult, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for k := range 2 {
		n := nodes[k%m.nodes]
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[k], errs[k] = sippRun{
				Bin: o.sippBin, Scenario: filepath.Join(o.sippDir, "caller-engine-bye.xml"), Target: n.eng.SIPAddr,
				Service: clusterService, Calls: calls / 2, Rate: rate / 2, RTPPorts: sink.ports(),
				Dir: filepath.Join(dir, fmt.Sprintf("callers-%d", k+1)), Nice: o.nice,
				Timeout: o.duration + o.talk + 90*time.Second,
			}.run(ctx)
		}()
	}
	wg.Wait()
	shares, busy := cpu.stop()
	if err := errors.Join(errs...); err != nil {
		return row, err
	}
	var setup []float64
	var notes []string
	for _, r := range results {
		row.attempted += r.Stat.Created
		row.failed += r.Stat.Failed
		setup = append(setup, r.SetupMs...)
		if r.Stat.Reasons != "" || r.Errors != "" {
			notes = append(notes, strings.TrimSpace(r.Stat.Reasons+" "+oneLine(r.Errors)))
		}
	}
	row.sippNotes = strings.Join(notes, "; ")
	sort.Float64s(setup)
	row.setupP50, row.setupP99 = percentile(setup, 50), percentile(setup, 99)
	row.engineCPU = shares[:m.nodes]
	if redis != nil {
		row.redisCPU = shares[m.nodes]
	}
	row.machineBusy = busy

	var total histogram
	for _, n := range nodes {
		after, err := n.eng.metrics()
		if err != nil {
			return row, err
		}
		ha, err := parseHistogram(after, decisionMetric)
		if err != nil {
			return row, err
		}
		hb, err := parseHistogram(n.before, decisionMetric)
		if err != nil {
			return row, err
		}
		total = total.Add(ha.Sub(hb))
	}
	row.decisions = total.Count
	if total.Count > 0 {
		row.decMean = 1e6 * total.Sum / total.Count
		row.decP99 = 1e6 * total.Quantile(0.99)
	}
	// Stopping the engines writes the last records.
	for _, n := range nodes {
		n.stop()
	}
	home := map[string]string{}
	for _, n := range nodes {
		for _, id := range n.agents {
			home[id] = n.name
		}
	}
	if err := row.fromRecords(nodes, home, m.nodes > 1); err != nil {
		return row, err
	}
	return row, nil
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// fromRecords fills the answer figures from the nodes' call records.
func (row *clusterRow) fromRecords(nodes []*clusterNode, home map[string]string, cluster bool) error {
	type rec struct {
		CallID string `json:"call_id"`
		Node   string `json:"node"`
		Agent  string `json:"agent"`
		Times  struct {
			Enqueued *time.Time `json:"enqueued"`
			Answered *time.Time `json:"answered"`
		} `json:"times"`
		Offers []json.RawMessage `json:"offers"`
	}
	seen := map[string]int{}
	var waits []float64
	var first, last time.Time
	remote := 0
	for _, n := range nodes {
		files, _ := filepath.Glob(filepath.Join(n.records, "calls*"))
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				return fmt.Errorf("call records: %w", err)
			}
			sc := bufio.NewScanner(fh)
			sc.Buffer(make([]byte, 64*1024), 1<<20)
			for sc.Scan() {
				var r rec
				if json.Unmarshal(sc.Bytes(), &r) != nil {
					continue
				}
				row.records++
				if len(r.Offers) > 1 {
					row.multiOffer++
				}
				if r.Times.Answered == nil || r.Times.Enqueued == nil {
					continue
				}
				seen[r.CallID]++
				row.answered++
				waits = append(waits, float64(r.Times.Answered.Sub(*r.Times.Enqueued).Microseconds())/1e3)
				if first.IsZero() || r.Times.Answered.Before(first) {
					first = *r.Times.Answered
				}
				if r.Times.Answered.After(last) {
					last = *r.Times.Answered
				}
				if cluster && home[r.Agent] != "" && home[r.Agent] != n.name {
					remote++
				}
			}
			fh.Close()
			if err := sc.Err(); err != nil {
				return fmt.Errorf("call records %s: %w", f, err)
			}
		}
	}
	for _, c := range seen {
		if c > 1 {
			row.doubleCall++
		}
	}
	sort.Float64s(waits)
	row.waitP50, row.waitP99 = percentile(waits, 50), percentile(waits, 99)
	if row.answered > 1 && last.After(first) {
		row.answeredPerS = float64(row.answered-1) / last.Sub(first).Seconds()
	}
	if row.answered > 0 {
		row.remotePct = 100 * float64(remote) / float64(row.answered)
	}
	return nil
}

// startPhones starts one SIPp UAS answering for every agent of n and
// registers each agent with its Contact on it.
func (n *clusterNode) startPhones(ctx context.Context, o options, dir string) error {
	var b strings.Builder
	tp := template.Must(template.New("agent").Parse(sipptest.AgentTemplate))
	if err := tp.Execute(&b, sipptest.Agent{TalkMs: int(o.talk.Milliseconds())}); err != nil {
		return fmt.Errorf("agent scenario: %w", err)
	}
	scen := filepath.Join(dir, "agent.xml")
	if err := os.WriteFile(scen, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("agent scenario: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	media, err := freePort()
	if err != nil {
		return err
	}
	n.uasPort = port
	out, err := os.Create(filepath.Join(dir, "agent-sipp.out"))
	if err != nil {
		return fmt.Errorf("agent sipp: %w", err)
	}
	name, args := niceArgs(o.nice, o.sippBin, "-sf", scen, "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-mp", strconv.Itoa(media),
		"-key", "rtp_port", strconv.Itoa(media), "-m", "1000000", "-nostdin", "-trace_err",
		"-max_recv_loops", "10000", "-max_sched_loops", "10000")
	n.uas = exec.Command(name, args...)
	n.uas.Dir = dir
	n.uas.Stdout, n.uas.Stderr = out, out
	n.uas.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := n.uas.Start(); err != nil {
		out.Close()
		return fmt.Errorf("agent sipp: %w", err)
	}
	n.uasDone = make(chan struct{})
	go func() { _ = n.uas.Wait(); out.Close(); close(n.uasDone) }()

	var reg strings.Builder
	tr := template.Must(template.New("register").Parse(sipptest.RegisterTemplate))
	if err := tr.Execute(&reg, sipptest.Register{User: "[field0]", Expires: 3600}); err != nil {
		return fmt.Errorf("register scenario: %w", err)
	}
	regScen := filepath.Join(dir, "register.xml")
	if err := os.WriteFile(regScen, []byte(reg.String()), 0o644); err != nil {
		return fmt.Errorf("register scenario: %w", err)
	}
	// One short SIPp per agent (digest credentials are per run), a few at
	// a time.
	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	sem := make(chan struct{}, 6)
	errs := make([]error, len(n.agents))
	var wg sync.WaitGroup
	for i, id := range n.agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = registerAgent(rctx, o.sippBin, n.eng.SIPAddr, regScen, filepath.Join(dir, "register-"+id), id, port)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("register agents through %s: %w", n.name, err)
	}
	return nil
}

// registerAgent registers id at target with its Contact on contactPort.
func registerAgent(ctx context.Context, bin, target, scen, dir, id string, contactPort int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("register %s: %w", id, err)
	}
	inf := filepath.Join(dir, "user.csv")
	if err := os.WriteFile(inf, []byte("SEQUENTIAL\n"+id+";\n"), 0o644); err != nil {
		return fmt.Errorf("register %s: %w", id, err)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, target, "-sf", scen, "-inf", inf, "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-au", id, "-ap", "pass"+id, "-key", "contact_port", strconv.Itoa(contactPort), "-m", "1",
		"-timeout", "20s", "-timeout_error", "-nostdin", "-trace_err")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("register %s: %w\n%s%s", id, err, tailString(string(out), 800), sipptest.Logs(dir))
	}
	return nil
}

func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (n *clusterNode) stop() {
	if n.eng != nil {
		n.eng.stop()
	}
	if n.uas != nil && n.uas.Process != nil {
		_ = n.uas.Process.Kill()
		<-n.uasDone
		n.uas = nil
	}
}

// waitAgentsReady waits until every node's ACD shows every agent ready
// (GET /api/agents as a supervisor): on the Redis side that includes the
// other node's agents. (/metrics counts only a node's own agents.)
func waitAgentsReady(ctx context.Context, nodes []*clusterNode, want int) error {
	deadline := time.Now().Add(60 * time.Second) // hang guard
	for {
		ok := true
		for _, n := range nodes {
			if readyAgents(n.eng.HTTP) < want {
				ok = false
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("agents not all ready on every node after 60 s (see the engine logs in the work dir)")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func readyAgents(httpAddr string) int {
	req, err := http.NewRequest("GET", "http://"+httpAddr+"/api/agents", nil)
	if err != nil {
		return 0
	}
	req.SetBasicAuth("9001", "pass9001")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var list []struct{ State string }
	if json.NewDecoder(resp.Body).Decode(&list) != nil {
		return 0
	}
	n := 0
	for _, a := range list {
		if a.State == "ready" {
			n++
		}
	}
	return n
}

// redisProc is the redis-server the Redis mode shares.
type redisProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	addr string
}

func startRedis(ctx context.Context, dir string) (*redisProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &redisProc{addr: "127.0.0.1:" + strconv.Itoa(port), done: make(chan struct{})}
	out, err := os.Create(filepath.Join(dir, "redis.log"))
	if err != nil {
		return nil, fmt.Errorf("redis log: %w", err)
	}
	r.cmd = exec.Command(redisBinary, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	r.cmd.Stdout, r.cmd.Stderr = out, out
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	go func() { _ = r.cmd.Wait(); out.Close(); close(r.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if redisPing(r.addr) == nil {
			return r, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			r.stop()
			return nil, fmt.Errorf("redis-server on %s did not answer PING", r.addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("redis PING: %q", line)
	}
	return nil
}

func (r *redisProc) stop() { terminate(r.cmd, r.done, 5*time.Second) }

// sink is a few UDP sockets the callers' SDP points at; what the engine
// sends there (queue music, the agent's silence) is read and dropped.
type sink struct {
	conns []net.PacketConn
	wg    sync.WaitGroup
}

func newSink(n int) (*sink, error) {
	s := &sink{}
	for range n {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			s.close()
			return nil, fmt.Errorf("rtp sink: %w", err)
		}
		s.conns = append(s.conns, c)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			buf := make([]byte, 2048)
			for {
				if _, _, err := c.ReadFrom(buf); err != nil {
					return
				}
			}
		}()
	}
	return s, nil
}

func (s *sink) ports() []int {
	var out []int
	for _, c := range s.conns {
		out = append(out, c.LocalAddr().(*net.UDPAddr).Port)
	}
	return out
}

func (s *sink) close() {
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.wg.Wait()
}

// multiCPU measures the CPU share of several processes and the machine.
type multiCPU struct {
	pids        []int
	t0          time.Time
	cpu0        []time.Duration
	busy0, tot0 int64
}

func startMulti(pids []int) *multiCPU {
	m := &multiCPU{pids: pids, t0: time.Now()}
	for _, p := range pids {
		c, _ := procCPU(p)
		m.cpu0 = append(m.cpu0, c)
	}
	m.busy0, m.tot0, _ = machineCPU()
	return m
}

// stop returns each process's share of one core and the machine's busy
// share of all cores, in percent.
func (m *multiCPU) stop() ([]float64, float64) {
	wall := time.Since(m.t0).Seconds()
	out := make([]float64, len(m.pids))
	for i, p := range m.pids {
		c, _ := procCPU(p)
		out[i] = 100 * (c - m.cpu0[i]).Seconds() / wall
	}
	b, t, _ := machineCPU()
	busy := 0.0
	if t > m.tot0 {
		busy = 100 * float64(b-m.busy0) / float64(t-m.tot0)
	}
	return out, busy
}

// Add sums two histograms with the same buckets (either may be empty).
func (h histogram) Add(o histogram) histogram {
	if len(h.Bounds) == 0 {
		return o
	}
	if len(o.Bounds) != len(h.Bounds) {
		return h
	}
	out := histogram{Bounds: h.Bounds, Count: h.Count + o.Count, Sum: h.Sum + o.Sum}
	for i := range h.Counts {
		out.Counts = append(out.Counts, h.Counts[i]+o.Counts[i])
	}
	return out
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
