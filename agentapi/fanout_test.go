package agentapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
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

// runFanout connects `agents` agent desktops and `supervisors` supervisor
// desktops (who watch every agent) over loopback WebSockets, then makes
// `changes` state changes on random agents, `every` apart, and measures
// each delivery: the changed agent's own desktop plus every supervisor.
func runFanout(tb testing.TB, agents, supervisors, changes int, every time.Duration) fanoutResult {
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
	srv, err := New(Config{ACD: a, Accounts: accts, StatsEvery: -1, Logger: quiet, Auditor: SlogAuditor{Logger: quiet}})
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

	expected := int64(changes * (1 + supervisors))
	var got atomic.Int64
	allIn := make(chan struct{})
	var mu sync.Mutex
	var lat []time.Duration
	var readers sync.WaitGroup

	// Connect and log in, 32 at a time.
	ids := make([]string, 0, agents+supervisors)
	for _, ac := range accts {
		ids = append(ids, ac.ID)
	}
	conns := make([]*websocket.Conn, len(ids))
	work := make(chan int)
	var dialers sync.WaitGroup
	var dialErr atomic.Value
	for w := 0; w < 32; w++ {
		dialers.Add(1)
		go func() {
			defer dialers.Done()
			for i := range work {
				c, err := benchLogin(url, ids[i])
				if err != nil {
					dialErr.Store(err)
					continue
				}
				conns[i] = c
			}
		}()
	}
	for i := range ids {
		work <- i
	}
	close(work)
	dialers.Wait()
	if err, _ := dialErr.Load().(error); err != nil {
		tb.Fatalf("connecting desktops: %v", err)
	}
	for _, c := range conns {
		readers.Add(1)
		go func(c *websocket.Conn) {
			defer readers.Done()
			var mine []time.Duration
			defer func() {
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
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
				if got.Add(1) == expected {
					close(allIn)
				}
			}
		}(c)
	}

	// Measure the steady state, not the garbage of 10k logins.
	runtime.GC()
	if tb, ok := tb.(*testing.B); ok {
		tb.ResetTimer()
	}
	for k := 0; k < changes; k++ {
		id := agentID(k * 7919 % agents)
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
	case <-allIn:
	case <-time.After(30 * time.Second):
	}
	if tb, ok := tb.(*testing.B); ok {
		tb.StopTimer()
	}
	for _, c := range conns {
		_ = c.CloseNow()
	}
	readers.Wait()
	slices.Sort(lat)
	res := fanoutResult{clients: len(conns), deliveries: len(lat), missing: int(expected) - len(lat)}
	if n := len(lat); n > 0 {
		res.p50, res.p99, res.max = lat[n/2], lat[min(n-1, n*99/100)], lat[n-1]
	}
	return res
}

func benchLogin(url, id string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
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

// The harness itself: every interested desktop gets every change.
func TestFanoutHarnessDeliversEverything(t *testing.T) {
	res := runFanout(t, 30, 3, 40, 0)
	if res.missing != 0 || res.deliveries != 40*4 {
		t.Fatalf("%v, want %d deliveries", res, 40*4)
	}
}

// BenchmarkFanout measures state-change delivery on loopback. Size with
// HOTLINE_FANOUT_AGENTS / HOTLINE_FANOUT_SUPERVISORS (default 1000 / 20);
// each iteration is one state change (two events: not-ready, ready), paced
// HOTLINE_FANOUT_EVERY apart (default 1 ms).
//
//	HOTLINE_FANOUT_AGENTS=9000 HOTLINE_FANOUT_SUPERVISORS=50 \
//	  go test -run '^$' -bench Fanout -benchtime 2000x ./agentapi
func BenchmarkFanout(b *testing.B) {
	agents, supers := envInt("HOTLINE_FANOUT_AGENTS", 1000), envInt("HOTLINE_FANOUT_SUPERVISORS", 20)
	every := time.Millisecond
	if d, err := time.ParseDuration(os.Getenv("HOTLINE_FANOUT_EVERY")); err == nil {
		every = d
	}
	res := runFanout(b, agents, supers, b.N, every)
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
