package agentapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/routing"
)

// answeringPhone stands in for the SIP side: every agent answers at once.
type answeringPhone struct{}

func (answeringPhone) Ring(ctx context.Context, o acd.Offer) error { return nil }

// fakeCalls is the engine's call control: it records operations, can fail
// them, and reports hang-ups to the ACD like the engine does.
type fakeCalls struct {
	acd *acd.ACD

	mu    sync.Mutex
	ops   []string
	fail  map[string]error
	calls []CallInfo
	seq   int
	lost  map[string]bool // ACD calls the fake engine has "lost" (a stuck agent)
}

func (f *fakeCalls) record(op string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := op
	for _, a := range args {
		s += fmt.Sprintf(" %v", a)
	}
	f.ops = append(f.ops, s)
	return f.fail[op]
}

func (f *fakeCalls) setFail(op string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail == nil {
		f.fail = map[string]error{}
	}
	f.fail[op] = err
}

func (f *fakeCalls) setCalls(c ...CallInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = c
}

func (f *fakeCalls) opsLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ops...)
}

func (f *fakeCalls) has(op string) bool {
	for _, o := range f.opsLog() {
		if o == op {
			return true
		}
	}
	return false
}

// Act records the action as the old per-operation methods did and, like
// the engine, keeps the ACD in step (hang-up ends the call, hold holds).
func (f *fakeCalls) Act(_ context.Context, x CallAction) error {
	a, c := x.Agent, x.Call
	switch x.Op {
	case OpHangup:
		if err := f.record("hangup", a, c); err != nil {
			return err
		}
		if err := f.acd.CallEnded(c, "agent"); err != nil && !errors.Is(err, acd.ErrUnknownCall) {
			return err
		}
		return nil
	case OpHold, OpUnhold:
		on := x.Op == OpHold
		if err := f.record("hold", a, c, on); err != nil {
			return err
		}
		if snap, err := f.acd.Agent(a); err == nil && snap.CallID == c {
			if on {
				return f.acd.Hold(a)
			}
			return f.acd.Unhold(a)
		}
		return nil
	case OpMute, OpUnmute:
		return f.record("mute", a, c, x.Op == OpMute)
	case OpPauseRecording, OpResumeRecording:
		return f.record("pause_recording", a, c, x.Op == OpPauseRecording)
	case OpDTMF:
		return f.record("dtmf", a, c, x.Digits)
	case OpTransfer:
		return f.record("transfer", a, c, x.Target.Kind, x.Target.Value, true)
	case OpConsult:
		return f.record("consult", a, c, x.Target.Kind, x.Target.Value)
	case OpMonitor:
		return f.record("monitor", x.Supervisor, a, x.Mode)
	case OpDisposition:
		if x.Note != "" {
			_ = f.record("note", a, c, x.Note)
		}
		return f.record("disposition", a, c, x.Code)
	}
	return f.record(string(x.Op), a, c)
}

func (f *fakeCalls) Place(_ context.Context, a string, to Target) (string, error) {
	if to.Kind == TargetExternal {
		if err := f.record("outbound", a, to.Value); err != nil {
			return "", err
		}
		return f.newCall(CallInfo{AgentID: a, Direction: "outbound", Callee: to.Value, State: "ringing"}), nil
	}
	if err := f.record("internal", a, to.Value); err != nil {
		return "", err
	}
	return f.newCall(CallInfo{AgentID: a, Direction: "internal", Callee: to.Value, State: "ringing"}), nil
}

// Calls lists the calls set by the test and, like the engine, every call
// the ACD has connected to an agent.
func (f *fakeCalls) Calls() []CallInfo {
	f.mu.Lock()
	out := append([]CallInfo(nil), f.calls...)
	f.mu.Unlock()
	f.mu.Lock()
	lost := f.lost
	f.mu.Unlock()
	for _, c := range f.acd.Calls() {
		if (c.State == "talking" || c.State == "held") && !lost[c.Call.ID] {
			out = append(out, CallInfo{ID: c.Call.ID, AgentID: c.AgentID, Direction: "inbound", State: c.State})
		}
	}
	return out
}

func (f *fakeCalls) newCall(ci CallInfo) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	ci.ID = fmt.Sprintf("eng-%d", f.seq)
	f.calls = append(f.calls, ci)
	return ci.ID
}

// memAuditor keeps audit records for assertions.
type memAuditor struct {
	mu   sync.Mutex
	recs []AuditRecord
}

func (m *memAuditor) Audit(_ context.Context, r AuditRecord) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append(m.recs, r)
}

func (m *memAuditor) records() []AuditRecord {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]AuditRecord(nil), m.recs...)
}

type env struct {
	t     *testing.T
	acd   *acd.ACD
	srv   *Server
	ts    *httptest.Server
	calls *fakeCalls
	audit *memAuditor
}

func testAccounts() []Account {
	return []Account{
		{ID: "1001", Name: "Agent 1001", Role: RoleAgent, Password: "pass1001",
			Profile: acd.AgentProfile{Skills: map[string]int{"billing": 1, "general": 2}, Region: "north", CanAdjust: true, CanExtendWrapUp: true}},
		{ID: "1002", Name: "Agent 1002", Role: RoleAgent, Password: "pass1002",
			Profile: acd.AgentProfile{Skills: map[string]int{"technical": 1, "billing": 2}, Region: "north"}},
		{ID: "1003", Name: "Agent 1003", Role: RoleAgent, Password: "pass1003",
			Profile: acd.AgentProfile{Skills: map[string]int{"general": 1, "technical": 2}, Region: "south", Mode: acd.ManualMode}},
		{ID: "1004", Name: "Restricted", Role: RoleAgent, Password: "pass1004", NoExternal: true, NoInternal: true,
			Profile: acd.AgentProfile{Skills: map[string]int{"technical": 1}}},
		{ID: "1005", Name: "Sales", Role: RoleAgent, Password: "pass1005",
			Profile: acd.AgentProfile{Skills: map[string]int{"sales": 1}}},
		{ID: "9001", Name: "Supervisor 9001", Role: RoleSupervisor, Password: "pass9001"},
		{ID: "9002", Name: "Tech lead", Role: RoleSupervisor, Password: "pass9002", Supervises: []string{"technical"}},
		{ID: "9100", Name: "Admin", Role: RoleAdmin, Password: "pass9100"},
	}
}

func newEnv(t *testing.T, mod ...func(*Config)) *env {
	t.Helper()
	a, err := acd.New(acd.Config{
		Routing: routing.Config{
			Tiers: []routing.Tier{{Name: "diamond", Target: 0.95, Threshold: 10 * time.Second},
				{Name: "normal", Target: 0.80, Threshold: 20 * time.Second}},
			Queues: []routing.Queue{{Name: "general"}, {Name: "billing"}, {Name: "technical"}, {Name: "sales"}},
		},
		WrapUp:       time.Hour, // tests end wrap-up by hand
		BreakReasons: map[string]time.Duration{"lunch": time.Hour, "short": time.Nanosecond},
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, acd.Deps{Phone: answeringPhone{}})
	if err != nil {
		t.Fatal(err)
	}
	fc := &fakeCalls{acd: a}
	au := &memAuditor{}
	cfg := Config{ACD: a, Calls: fc, Accounts: testAccounts(), PasswordCost: bcryptMin, Auditor: au, StatsEvery: -1,
		Queues: []string{"general", "billing", "technical"}, BreakReasons: []string{"lunch", "short"},
		DispositionCodes: []string{"solved", "callback"},
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, m := range mod {
		m(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ts.CloseClientConnections()
		_ = srv.Close()
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
		ts.Close()
		_ = a.Close()
	})
	return &env{t: t, acd: a, srv: srv, ts: ts, calls: fc, audit: au}
}

// msg is any message from the server.
type msg map[string]any

func (m msg) str(k string) string { s, _ := m[k].(string); return s }
func (m msg) obj(k string) msg    { o, _ := m[k].(map[string]any); return o }
func (m msg) code() string        { return m.obj("error").str("code") }
func (m msg) ok() bool            { b, _ := m["ok"].(bool); return b }

// wsc is a test desktop.
type wsc struct {
	t      *testing.T
	conn   *websocket.Conn
	in     chan msg
	closed chan struct{}
	err    error // read error once closed
	seq    atomic.Int64
	stash  []msg // events read while waiting for a reply
	// gate pauses the reader while held (slow-consumer tests).
	gate sync.Mutex
}

func (e *env) dial(t *testing.T) *wsc {
	t.Helper()
	return e.dialHeader(t, nil)
}

func (e *env) dialHeader(t *testing.T, h http.Header) *wsc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.ts.URL, "http")+"/ws", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	conn.SetReadLimit(1 << 24)
	c := &wsc{t: t, conn: conn, in: make(chan msg, 4096), closed: make(chan struct{})}
	go func() {
		defer close(c.closed)
		for {
			c.gate.Lock()
			c.gate.Unlock()
			_, b, err := conn.Read(context.Background())
			if err != nil {
				c.err = err
				return
			}
			var m msg
			if err := json.Unmarshal(b, &m); err != nil {
				c.err = fmt.Errorf("bad JSON from server: %w: %s", err, b)
				return
			}
			c.in <- m
		}
	}()
	t.Cleanup(func() { _ = conn.CloseNow() })
	return c
}

const waitFor = 5 * time.Second

func (c *wsc) next() (msg, bool) {
	select {
	case m := <-c.in:
		return m, true
	default:
	}
	select {
	case m := <-c.in:
		return m, true
	case <-c.closed:
		select {
		case m := <-c.in:
			return m, true
		default:
		}
		return nil, false
	case <-time.After(waitFor):
		c.t.Fatalf("no message from server within %s", waitFor)
		return nil, false
	}
}

func (c *wsc) sendRaw(b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// do sends a request (fields merged) and returns its reply.
func (c *wsc) do(typ string, fields ...any) msg {
	c.t.Helper()
	id := fmt.Sprint(c.seq.Add(1))
	req := map[string]any{"id": id, "type": typ}
	for i := 0; i+1 < len(fields); i += 2 {
		req[fields[i].(string)] = fields[i+1]
	}
	b, _ := json.Marshal(req)
	c.sendRaw(b)
	return c.replyTo(id)
}

func (c *wsc) replyTo(id string) msg {
	c.t.Helper()
	for {
		m, ok := c.next()
		if !ok {
			c.t.Fatalf("connection closed waiting for reply %s: %v", id, c.err)
		}
		if m.str("type") == "reply" && m.str("id") == id {
			return m
		}
		c.stash = append(c.stash, m)
	}
}

// must sends a request that has to succeed.
func (c *wsc) must(typ string, fields ...any) msg {
	c.t.Helper()
	r := c.do(typ, fields...)
	if !r.ok() {
		c.t.Fatalf("%s %v: refused: %v", typ, fields, r["error"])
	}
	return r
}

// refused sends a request that has to fail with code.
func (c *wsc) refused(code, typ string, fields ...any) msg {
	c.t.Helper()
	r := c.do(typ, fields...)
	if r.ok() || r.code() != code {
		c.t.Fatalf("%s %v: got ok=%v error=%v, want code %s", typ, fields, r.ok(), r["error"], code)
	}
	return r
}

// event waits for the first event matching pred (stashed ones first).
func (c *wsc) event(desc string, pred func(msg) bool) msg {
	c.t.Helper()
	for i, m := range c.stash {
		if m.str("type") == "event" && pred(m) {
			c.stash = append(c.stash[:i], c.stash[i+1:]...)
			return m
		}
	}
	c.stash = nil
	for {
		m, ok := c.next()
		if !ok {
			c.t.Fatalf("connection closed waiting for %s: %v", desc, c.err)
		}
		if m.str("type") == "event" && pred(m) {
			return m
		}
	}
}

func isEvent(name string, kv ...string) func(msg) bool {
	return func(m msg) bool {
		if m.str("event") != name {
			return false
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if m.str(kv[i]) != kv[i+1] {
				return false
			}
		}
		return true
	}
}

// closeStatus waits for the server to close the connection.
func (c *wsc) closeStatus() websocket.StatusCode {
	c.t.Helper()
	select {
	case <-c.closed:
	case <-time.After(waitFor):
		c.t.Fatalf("server did not close the connection")
	}
	return websocket.CloseStatus(c.err)
}

func (e *env) login(t *testing.T, id string, fields ...any) (*wsc, msg) {
	t.Helper()
	c := e.dial(t)
	r := c.must("login", append([]any{"agent", id, "password", "pass" + id}, fields...)...)
	return c, r
}

// enqueue puts a caller in queue; the returned cancel is the caller hanging up.
func (e *env) enqueue(t *testing.T, id, queue, tier string) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	_, err := e.acd.Enqueue(ctx, acd.Call{ID: id, Caller: "13800000001", Queue: queue, Tier: tier,
		Customer: map[string]string{"name": "Demo Diamond", "tier": tier},
		Trace:    []string{"greeting", "lookup:diamond", "queue:" + queue}})
	if err != nil {
		t.Fatal(err)
	}
	return cancel
}

func (e *env) state(t *testing.T, id string) acd.State {
	t.Helper()
	s, err := e.acd.Agent(id)
	if err != nil {
		return acd.LoggedOut
	}
	return s.State
}

// eventually polls cond (state owned by other goroutines) until true.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (s *Server) clientCount() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.clients)
}

// bcryptMin keeps tests with thousands of accounts quick.
const bcryptMin = 4
