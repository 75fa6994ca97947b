package ivr

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeLeg plays prompts instantly (music on hold plays until cancelled) and
// presses keys scripted per prompt: script["menu"] = {"9", "", "1"} presses 9
// the first time the menu prompt starts, nothing the second, 1 the third.
// Of the prompts in one Play, the first with script left answers.
// A "H" in a script hangs the caller up.
type fakeLeg struct {
	caller, dialled string
	digits          chan rune
	hangupCaller    context.CancelFunc

	mu         sync.Mutex
	script     map[string][]string
	played     []string
	hungUp     string
	recordKeys string        // pressed when recording starts
	recordFor  time.Duration // 0: record until the stop digit or hang-up
	recorded   []string
}

func newLeg(caller string, script map[string][]string) *fakeLeg {
	return &fakeLeg{caller: caller, dialled: "10010", digits: make(chan rune, 64), script: script}
}

func (l *fakeLeg) CallerNumber() string { return l.caller }
func (l *fakeLeg) Dialled() string      { return l.dialled }
func (l *fakeLeg) Digits() <-chan rune  { return l.digits }
func (l *fakeLeg) press(keys string) {
	for i := 0; i < len(keys); i++ {
		if keys[i] == 'H' {
			l.hangupCaller()
			continue
		}
		l.digits <- rune(keys[i])
	}
}

// promptName turns a resolved file back into the flow's prompt name.
func promptName(f string) string {
	if i := strings.Index(f, "/en/"); i >= 0 {
		f = f[i+4:]
	}
	return strings.TrimSuffix(f, ".wav")
}

func (l *fakeLeg) Play(ctx context.Context, files ...string) error {
	l.mu.Lock()
	var keys string
	scripted := false
	for _, f := range files {
		name := promptName(f)
		l.played = append(l.played, name)
		if s := l.script[name]; len(s) > 0 && !scripted {
			keys, l.script[name], scripted = s[0], s[1:], true
		}
	}
	l.mu.Unlock()
	l.press(keys)
	if promptName(files[0]) == "moh" {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (l *fakeLeg) Record(ctx context.Context, file string, maxLen, silence time.Duration) (time.Duration, error) {
	l.mu.Lock()
	l.recorded = append(l.recorded, file)
	l.mu.Unlock()
	l.press(l.recordKeys)
	if l.recordFor > 0 {
		return l.recordFor, nil
	}
	<-ctx.Done()
	return 3 * time.Second, nil
}

func (l *fakeLeg) Hangup(ctx context.Context, reason string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hungUp = reason
	return nil
}

func (l *fakeLeg) playedNames() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.played...)
}

// fakeCRM answers from a map; unknown numbers are ErrNotFound.
type fakeCRM struct {
	customers map[string]Customer
	err       error
	degraded  Customer      // returned with err
	hang      chan struct{} // if set, block until closed, ignoring ctx like a stuck adapter
}

func (c *fakeCRM) Lookup(ctx context.Context, key string) (Customer, error) {
	if c.hang != nil {
		<-c.hang
	}
	if c.err != nil {
		return c.degraded, c.err
	}
	cu, ok := c.customers[key]
	if !ok {
		return Customer{}, ErrNotFound
	}
	return cu, nil
}

var demoCustomers = map[string]Customer{
	"13800000001": {ID: "c1", Name: "Demo Diamond", Tier: "diamond", Region: "north"},
	"13800000002": {ID: "c2", Name: "Demo Gold", Tier: "gold", Region: "north", Attributes: map[string]string{"plan": "family"}},
	"13800000003": {ID: "c3", Name: "Demo Silver", Tier: "silver", Region: "south"},
	"13800000009": {ID: "c9", Name: "Demo Blocked", Tier: "normal", Region: "south", Blacklisted: true},
}

// fakeQueuer queues every call into a fakeQueued that reports outcome at
// once; with no outcome the caller waits (MOH) until something else happens.
type fakeQueuer struct {
	mu         sync.Mutex
	err        error         // Enqueue refuses
	position   QueuePosition // what Position reports
	outcome    *QueueOutcome // nil: no agent ever answers
	waitErr    error         // Wait fails
	bridge     BridgeResult  // End "" makes Bridge fail
	bridgeKeys string        // pressed by the caller while talking to the agent
	leg        *fakeLeg
	reqs       []QueueRequest
	queued     []*fakeQueued
}

type fakeQueued struct {
	q            *fakeQueuer
	mu           sync.Mutex
	left         LeaveReason
	leaves       int
	bridged      bool
	playedBefore []string // prompts the caller heard before the bridge
}

func (q *fakeQueuer) Enqueue(ctx context.Context, req QueueRequest) (QueuedCall, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.reqs = append(q.reqs, req)
	if q.err != nil {
		return nil, q.err
	}
	qc := &fakeQueued{q: q}
	q.queued = append(q.queued, qc)
	return qc, nil
}

func (qc *fakeQueued) Wait(ctx context.Context) (QueueOutcome, error) {
	if qc.q.waitErr != nil {
		return QueueOutcome{}, qc.q.waitErr
	}
	if qc.q.outcome != nil {
		return *qc.q.outcome, nil
	}
	<-ctx.Done()
	return QueueOutcome{}, ctx.Err()
}

func (qc *fakeQueued) Position() QueuePosition { return qc.q.position }

func (qc *fakeQueued) Bridge(ctx context.Context) (BridgeResult, error) {
	qc.mu.Lock()
	defer qc.mu.Unlock()
	qc.bridged = true
	qc.playedBefore = qc.q.leg.playedNames()
	qc.q.leg.press(qc.q.bridgeKeys)
	if qc.q.bridge.End == "" {
		return BridgeResult{}, errors.New("agent leg failed")
	}
	return qc.q.bridge, nil
}

func (qc *fakeQueued) Leave(reason LeaveReason) {
	qc.mu.Lock()
	defer qc.mu.Unlock()
	qc.left = reason
	qc.leaves++
}

func (q *fakeQueuer) only(t *testing.T) *fakeQueued {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.queued) != 1 {
		t.Fatalf("calls queued: %d, want 1", len(q.queued))
	}
	return q.queued[0]
}

func agentAnswers(id string) *QueueOutcome { return &QueueOutcome{AgentID: id} }

type fakeTransferer struct {
	err  error
	reqs []TransferRequest
}

func (f *fakeTransferer) Transfer(ctx context.Context, req TransferRequest) error {
	f.reqs = append(f.reqs, req)
	return f.err
}

// events returns "node:event" for each trace entry other than enter, plus
// "node" for enter, so a test reads the path like the agent desktop would.
func events(tr []TraceEntry) []string {
	var out []string
	for _, e := range tr {
		if e.Event == EvEnter {
			out = append(out, e.Node)
			continue
		}
		s := e.Node + ":" + e.Event
		if e.Digits != "" {
			s += "=" + e.Digits
		}
		out = append(out, s)
	}
	return out
}

func findEvent(tr []TraceEntry, event string) (TraceEntry, bool) {
	for _, e := range tr {
		if e.Event == event {
			return e, true
		}
	}
	return TraceEntry{}, false
}

// runCall runs f for leg with a cancellable context the script can use to hang up.
func runCall(t *testing.T, in *Interpreter, f *Flow, leg *fakeLeg) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	leg.hangupCaller = cancel
	if in.Logger == nil {
		in.Logger = quietLog
	}
	if q, ok := in.Queuer.(*fakeQueuer); ok {
		q.leg = leg
	}
	res, err := in.Run(ctx, f, &Call{ID: "call-1", Leg: leg})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

func mustParse(t *testing.T, src string) *Flow {
	t.Helper()
	f, err := ParseFlow("test.yaml", []byte(src), LoadOptions{})
	if err != nil {
		t.Fatalf("ParseFlow: %v", err)
	}
	return f
}

var quietLog = slog.New(slog.DiscardHandler)

func mustRead(tb testing.TB, p string) []byte {
	tb.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}
