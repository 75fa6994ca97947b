package agentapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/routing"
)

// TestMain lets the test binary double as the load client of
// BenchmarkFanout: with HOTLINE_FANOUT_CHILD set it runs desktops for the
// parent benchmark instead of tests (each process has its own file
// descriptor limit, so 10,000 desktops fit in two children).
func TestMain(m *testing.M) {
	if os.Getenv("HOTLINE_FANOUT_CHILD") != "" {
		if err := fanoutChild(); err != nil {
			fmt.Fprintln(os.Stderr, "fanout child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fanoutResult is what the load harness measured: the delay from an agent
// state change in the ACD to each interested desktop reading the event.
type fanoutResult struct {
	clients    int
	deliveries int
	missing    int
	p50, p99   time.Duration
	max        time.Duration
}

func (r fanoutResult) String() string {
	return fmt.Sprintf("%d clients, %d deliveries (%d missing): p50 %s p99 %s max %s",
		r.clients, r.deliveries, r.missing, r.p50, r.p99, r.max)
}

// desktops are load-client connections that time each bench state event.
type desktops struct {
	conns   []*websocket.Conn
	expect  int64
	got     atomic.Int64
	allIn   chan struct{}
	mu      sync.Mutex
	lat     []time.Duration
	readers sync.WaitGroup
}

// connectDesktops logs ids in, 32 at a time, and starts their readers;
// allIn closes once expect bench events have arrived.
func connectDesktops(url string, ids []string, expect int) (*desktops, error) {
	d := &desktops{conns: make([]*websocket.Conn, len(ids)), expect: int64(expect), allIn: make(chan struct{})}
	if expect == 0 {
		close(d.allIn)
	}
	work := make(chan int)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				c, err := benchLogin(url, ids[i])
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				d.conns[i] = c
			}
		}()
	}
	for i := range ids {
		work <- i
	}
	close(work)
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		d.close()
		return nil, err
	}
	for _, c := range d.conns {
		d.readers.Add(1)
		go d.read(c)
	}
	return d, nil
}

func (d *desktops) read(c *websocket.Conn) {
	defer d.readers.Done()
	var mine []time.Duration
	defer func() {
		d.mu.Lock()
		d.lat = append(d.lat, mine...)
		d.mu.Unlock()
	}()
	var ev struct {
		Event  string    `json:"event"`
		At     time.Time `json:"at"`
		Reason string    `json:"reason"`
	}
	for {
		_, b, err := c.Read(context.Background())
		if err != nil {
			return
		}
		now := time.Now()
		ev.Event, ev.Reason = "", ""
		if json.Unmarshal(b, &ev) != nil || ev.Event != "agent.state" || !strings.HasPrefix(ev.Reason, "bench") {
			continue
		}
		mine = append(mine, now.Sub(ev.At))
		if d.got.Add(1) == d.expect {
			close(d.allIn)
		}
	}
}

// close drops the connections and returns the delays measured.
func (d *desktops) close() []time.Duration {
	for _, c := range d.conns {
		if c != nil {
			_ = c.CloseNow()
		}
	}
	d.readers.Wait()
	return d.lat
}

func benchLogin(url, id string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", id, err)
	}
	c.SetReadLimit(1 << 24) // a supervisor's snapshot lists every seat
	b, _ := json.Marshal(map[string]string{"id": "1", "type": "login", "agent": id, "password": "p"})
	if err := c.Write(ctx, websocket.MessageText, b); err != nil {
		return nil, fmt.Errorf("login %s: %w", id, err)
	}
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return nil, fmt.Errorf("login %s: %w", id, err)
		}
		var r struct {
			Type string `json:"type"`
			OK   bool   `json:"ok"`
		}
		if json.Unmarshal(b, &r) == nil && r.Type == "reply" {
			if !r.OK {
				return nil, fmt.Errorf("login %s refused: %s", id, b)
			}
			return c, nil
		}
	}
}

// fanoutChild is the load-client process: connect, say "ready", collect
// until everything expected arrived or the parent closes stdin, write the
// delays (ns, JSON) to HOTLINE_FANOUT_OUT.
func fanoutChild() error {
	idsRaw, err := os.ReadFile(os.Getenv("HOTLINE_FANOUT_IDS"))
	if err != nil {
		return err
	}
	expect, err := strconv.Atoi(os.Getenv("HOTLINE_FANOUT_EXPECT"))
	if err != nil {
		return fmt.Errorf("HOTLINE_FANOUT_EXPECT: %w", err)
	}
	d, err := connectDesktops(os.Getenv("HOTLINE_FANOUT_URL"), strings.Fields(string(idsRaw)), expect)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	stdinClosed := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(stdinClosed) }()
	select {
	case <-d.allIn:
	case <-stdinClosed:
	}
	lat := d.close()
	ns := make([]int64, len(lat))
	for i, l := range lat {
		ns[i] = int64(l)
	}
	b, _ := json.Marshal(ns)
	return os.WriteFile(os.Getenv("HOTLINE_FANOUT_OUT"), b, 0o600)
}

// runFanout connects `agents` agent desktops and `supervisors` supervisor
// desktops (who watch every agent) over loopback WebSockets, then makes
// `changes` state changes on agents spread over the floor, `every` apart,
// and measures each delivery: the changed agent's own desktop plus every
// supervisor. With procs > 0 the desktops run in that many child processes.
func runFanout(tb testing.TB, agents, supervisors, changes int, every time.Duration, procs int) fanoutResult {
	tb.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := acd.New(acd.Config{
		Routing: routing.Config{Tiers: []routing.Tier{{Name: "normal", Target: 0.8, Threshold: 20 * time.Second}},
			Queues: []routing.Queue{{Name: "general"}}},
		Logger: quiet,
	}, acd.Deps{Phone: answeringPhone{}})
	if err != nil {
		tb.Fatal(err)
	}
	defer a.Close()
	var accts []Account
	agentID := func(i int) string { return fmt.Sprintf("a%05d", i) }
	for i := 0; i < agents; i++ {
		accts = append(accts, Account{ID: agentID(i), Role: RoleAgent, Password: "p",
			Profile: acd.AgentProfile{Skills: map[string]int{"general": 1}}})
	}
	for i := 0; i < supervisors; i++ {
		accts = append(accts, Account{ID: fmt.Sprintf("s%05d", i), Role: RoleSupervisor, Password: "p"})
	}
	srv, err := New(Config{ACD: a, Accounts: accts, PasswordCost: bcryptMin, StatsEvery: -1, Logger: quiet, Auditor: SlogAuditor{Logger: quiet}})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { defer close(runDone); _ = srv.Run(ctx) }()
	ts := httptest.NewServer(srv.Handler())
	defer func() {
		ts.CloseClientConnections()
		_ = srv.Close()
		cancel()
		<-runDone
		ts.Close()
	}()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws"

	changed := make([]int, changes) // agent index of each change
	perAgent := map[string]int{}
	for k := range changed {
		changed[k] = k * 7919 % agents
		perAgent[agentID(changed[k])]++
	}
	expectFor := func(ids []string) int {
		n := 0
		for _, id := range ids {
			if strings.HasPrefix(id, "s") {
				n += changes
			} else {
				n += perAgent[id]
			}
		}
		return n
	}
	var ids []string
	for _, ac := range accts {
		ids = append(ids, ac.ID)
	}

	var collect func() []time.Duration
	var done <-chan struct{}
	if procs <= 0 {
		d, err := connectDesktops(url, ids, expectFor(ids))
		if err != nil {
			tb.Fatal(err)
		}
		done, collect = d.allIn, d.close
	} else {
		done, collect = startChildren(tb, url, ids, procs, expectFor)
	}

	// Measure the steady state, not the garbage of 10k logins.
	runtime.GC()
	if b, ok := tb.(*testing.B); ok {
		b.ResetTimer()
	}
	for k := 0; k < changes; k++ {
		id := agentID(changed[k])
		if err := a.SetNotReady(id, "bench-"+strconv.Itoa(k)); err != nil {
			tb.Fatal(err)
		}
		if err := a.SetReady(id); err != nil {
			tb.Fatal(err)
		}
		if every > 0 {
			time.Sleep(every)
		}
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
	}
	if b, ok := tb.(*testing.B); ok {
		b.StopTimer()
	}
	lat := collect()
	slices.Sort(lat)
	res := fanoutResult{clients: len(ids), deliveries: len(lat), missing: changes*(1+supervisors) - len(lat)}
	if n := len(lat); n > 0 {
		res.p50, res.p99, res.max = lat[n/2], lat[min(n-1, n*99/100)], lat[n-1]
	}
	return res
}

// startChildren runs the desktops in child processes (this test binary
// in load-client mode). done closes when every child has all its events.
func startChildren(tb testing.TB, url string, ids []string, procs int, expectFor func([]string) int) (<-chan struct{}, func() []time.Duration) {
	tb.Helper()
	dir := tb.TempDir()
	type child struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
		out   string
		exit  chan error
	}
	var children []*child
	for p := 0; p < procs; p++ {
		var mine []string
		for i := p; i < len(ids); i += procs {
			mine = append(mine, ids[i])
		}
		idsFile := filepath.Join(dir, fmt.Sprintf("ids-%d", p))
		if err := os.WriteFile(idsFile, []byte(strings.Join(mine, "\n")), 0o600); err != nil {
			tb.Fatal(err)
		}
		ch := &child{out: filepath.Join(dir, fmt.Sprintf("lat-%d.json", p)), exit: make(chan error, 1)}
		ch.cmd = exec.Command(os.Args[0], "-test.run=^$")
		ch.cmd.Env = append(os.Environ(), "HOTLINE_FANOUT_CHILD=1", "HOTLINE_FANOUT_URL="+url, "HOTLINE_FANOUT_IDS="+idsFile,
			"HOTLINE_FANOUT_EXPECT="+strconv.Itoa(expectFor(mine)), "HOTLINE_FANOUT_OUT="+ch.out)
		ch.cmd.Stderr = os.Stderr
		stdout, err := ch.cmd.StdoutPipe()
		if err != nil {
			tb.Fatal(err)
		}
		if ch.stdin, err = ch.cmd.StdinPipe(); err != nil {
			tb.Fatal(err)
		}
		if err := ch.cmd.Start(); err != nil {
			tb.Fatalf("start load client: %v", err)
		}
		ready := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if sc.Text() == "ready" {
					close(ready)
				}
			}
			ch.exit <- ch.cmd.Wait()
		}()
		select {
		case <-ready:
		case err := <-ch.exit:
			tb.Fatalf("load client %d exited before ready: %v", p, err)
		case <-time.After(2 * time.Minute):
			tb.Fatalf("load client %d not ready", p)
		}
		children = append(children, ch)
	}
	done := make(chan struct{})
	exited := make([]error, len(children))
	go func() {
		for i, ch := range children {
			exited[i] = <-ch.exit
		}
		close(done)
	}()
	collect := func() []time.Duration {
		for _, ch := range children {
			_ = ch.stdin.Close() // stragglers stop waiting and report
		}
		<-done
		var lat []time.Duration
		for i, ch := range children {
			if exited[i] != nil {
				tb.Errorf("load client %d: %v", i, exited[i])
			}
			b, err := os.ReadFile(ch.out)
			if err != nil {
				tb.Errorf("load client %d: %v", i, err)
				continue
			}
			var ns []int64
			if err := json.Unmarshal(b, &ns); err != nil {
				tb.Errorf("load client %d: %v", i, err)
			}
			for _, v := range ns {
				lat = append(lat, time.Duration(v))
			}
		}
		return lat
	}
	return done, collect
}

// The harness itself: every interested desktop gets every change, in
// process and through a load-client process.
func TestFanoutHarnessDeliversEverything(t *testing.T) {
	for _, procs := range []int{0, 1} {
		t.Run(fmt.Sprintf("procs=%d", procs), func(t *testing.T) {
			res := runFanout(t, 30, 3, 40, 0, procs)
			if res.missing != 0 || res.deliveries != 40*4 {
				t.Fatalf("%v, want %d deliveries", res, 40*4)
			}
		})
	}
}

// BenchmarkFanout measures state-change delivery on loopback. Each
// iteration is one state change (two events: not-ready, ready) on an agent,
// delivered to that agent's desktop and every supervisor desktop. Sizing:
// HOTLINE_FANOUT_AGENTS (default 1000), HOTLINE_FANOUT_SUPERVISORS (20),
// HOTLINE_FANOUT_EVERY pacing (1ms), HOTLINE_FANOUT_PROCS load-client
// processes (0 = in this process; use 2 beyond ~9,000 desktops because of
// the per-process file descriptor limit):
//
//	HOTLINE_FANOUT_AGENTS=10000 HOTLINE_FANOUT_SUPERVISORS=100 HOTLINE_FANOUT_PROCS=2 \
//	  go test -run '^$' -bench Fanout -benchtime 2000x ./agentapi
func BenchmarkFanout(b *testing.B) {
	agents, supers := envInt("HOTLINE_FANOUT_AGENTS", 1000), envInt("HOTLINE_FANOUT_SUPERVISORS", 20)
	every := time.Millisecond
	if d, err := time.ParseDuration(os.Getenv("HOTLINE_FANOUT_EVERY")); err == nil {
		every = d
	}
	res := runFanout(b, agents, supers, b.N, every, envInt("HOTLINE_FANOUT_PROCS", 0))
	b.ReportMetric(float64(res.p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(res.p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(res.max.Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(res.missing), "missing")
	b.Logf("%v", res)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
