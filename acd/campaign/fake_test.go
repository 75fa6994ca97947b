package campaign

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/routing/crm"
)

// fakeClock is the dialler's clock in tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeEngine records what the dialler asks and checks the invariants a
// user would: one attempt per contact at a time, one campaign call or
// preview per agent, every dial inside its window and off the DNC list.
type fakeEngine struct {
	t     *testing.T
	clock *fakeClock

	mu     sync.Mutex
	signed []string // signed in, in "longest idle" order
	// result decides an attempt's result (nil: completed by its agent).
	// It may block; it runs without the engine's lock.
	result     func(ctx context.Context, a Attempt) Result
	dials      []Attempt
	inCall     map[string]int          // contact id → attempts in progress
	agentCalls map[string]int          // agent → calls in progress
	previews   map[string]PreviewOffer // agent → preview shown
	offered    []string                // "agent/contact" in order
	withdrawn  []string
	previewErr error
	violations []string
	// allowed checks a dial against the campaign's rules (window, DNC).
	allowed func(a Attempt, now time.Time) string
}

func newFakeEngine(t *testing.T, clock *fakeClock, agents ...string) *fakeEngine {
	return &fakeEngine{t: t, clock: clock, signed: agents, inCall: map[string]int{}, agentCalls: map[string]int{}, previews: map[string]PreviewOffer{}}
}

func (f *fakeEngine) violate(format string, args ...any) {
	f.violations = append(f.violations, fmt.Sprintf(format, args...))
}

func (f *fakeEngine) FreeAgents(queues []string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	// Previewing agents are listed too: the engine need not know about
	// previews, the dialler must not offer them twice.
	for _, a := range f.signed {
		if f.agentCalls[a] == 0 {
			out = append(out, a)
		}
	}
	return out
}

func (f *fakeEngine) SignedIn(queues []string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.signed)
}

func (f *fakeEngine) Dial(ctx context.Context, a Attempt) Result {
	f.mu.Lock()
	f.dials = append(f.dials, a)
	f.inCall[a.Contact.ID]++
	if f.inCall[a.Contact.ID] > 1 {
		f.violate("contact %s dialled while in a call", a.Contact.ID)
	}
	if a.AgentID != "" {
		if p, previewing := f.previews[a.AgentID]; previewing {
			if p.Contact.ID != a.Contact.ID {
				f.violate("agent %s dialled for %s while previewing %s", a.AgentID, a.Contact.ID, p.Contact.ID)
			}
			delete(f.previews, a.AgentID) // the agent dialled the preview
		}
		f.agentCalls[a.AgentID]++
		if f.agentCalls[a.AgentID] > 1 {
			f.violate("agent %s reserved twice (dial of %s)", a.AgentID, a.Contact.ID)
		}
	}
	if f.allowed != nil {
		if v := f.allowed(a, f.clock.Now()); v != "" {
			f.violate("%s", v)
		}
	}
	result := f.result
	f.mu.Unlock()
	var res Result
	if result != nil {
		res = result(ctx, a)
	} else {
		res = Result{Outcome: Completed, AgentID: a.AgentID, Answered: f.clock.Now(), Talk: time.Minute}
	}
	f.mu.Lock()
	f.inCall[a.Contact.ID]--
	if a.AgentID != "" {
		f.agentCalls[a.AgentID]--
	}
	f.mu.Unlock()
	return res
}

func (f *fakeEngine) Preview(agentID string, p PreviewOffer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.previewErr != nil {
		return f.previewErr
	}
	if _, has := f.previews[agentID]; has || f.agentCalls[agentID] > 0 {
		f.violate("agent %s offered %s while busy", agentID, p.Contact.ID)
	}
	f.previews[agentID] = p
	f.offered = append(f.offered, agentID+"/"+p.Contact.ID)
	return nil
}

func (f *fakeEngine) Withdraw(agentID, campaign, contactID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.previews[agentID]; ok && p.Contact.ID == contactID {
		delete(f.previews, agentID)
	}
	f.withdrawn = append(f.withdrawn, agentID+"/"+contactID)
}

func (f *fakeEngine) setSigned(agents ...string) {
	f.mu.Lock()
	f.signed = agents
	f.mu.Unlock()
}

func (f *fakeEngine) dialsOf(contact string) []Attempt {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Attempt
	for _, a := range f.dials {
		if a.Contact.ID == contact {
			out = append(out, a)
		}
	}
	return out
}

func (f *fakeEngine) nDials() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.dials)
}

func (f *fakeEngine) check() {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range f.violations {
		f.t.Error(v)
	}
}

// harness is a manager with one campaign, driven step by step.
type harness struct {
	t      *testing.T
	clock  *fakeClock
	eng    *fakeEngine
	m      *Manager
	r      *Runner
	spec   *Spec
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	events []Progress
}

type harnessOpts struct {
	store Store
	dir   string // spec directory (files already written); default: a temp dir with list.csv
	now   time.Time
	// stopped leaves the campaign as loaded (else it is started).
	stopped bool
	// engine replaces the fake engine.
	engine Engine
}

// monday10 is 10:00 Shanghai on Monday 2027-03-01.
var monday10 = time.Date(2027, 3, 1, 2, 0, 0, 0, time.UTC)

func newHarness(t *testing.T, spec string, files map[string]string, agents []string, o harnessOpts) *harness {
	t.Helper()
	dir := o.dir
	if dir == "" {
		dir = writeFiles(t, files)
	}
	s, err := ParseSpec(filepath.Join(dir, "c.yaml"), []byte(spec), dir)
	if err != nil {
		t.Fatal(err)
	}
	if o.now.IsZero() {
		o.now = monday10
	}
	h := &harness{t: t, clock: &fakeClock{t: o.now}, spec: s}
	h.eng = newFakeEngine(t, h.clock, agents...)
	h.eng.allowed = func(a Attempt, now time.Time) string {
		if !s.Windows.For(a.Contact.Region).Open(now) {
			return fmt.Sprintf("contact %s dialled outside its window at %v", a.Contact.ID, now)
		}
		if h.r != nil && h.r.dncHas(a.Contact.Number) {
			return fmt.Sprintf("contact %s dialled on the DNC list", a.Contact.ID)
		}
		return ""
	}
	var eng Engine = h.eng
	if o.engine != nil {
		eng = o.engine
	}
	h.m, err = NewManager(ManagerConfig{Engine: eng, Store: o.store, Now: h.clock.Now, Tiers: crm.DemoTiers,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		OnProgress: func(p Progress) {
			h.mu.Lock()
			h.events = append(h.events, p)
			h.mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.Add(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	h.r, _ = h.m.Campaign(s.Name)
	h.ctx, h.cancel = context.WithCancel(context.Background())
	t.Cleanup(func() {
		h.cancel()
		h.r.wg.Wait()
		h.eng.check()
	})
	// Attach the runner to a context as Manager.Run would, without its
	// loop: the test drives the steps.
	h.r.mu.Lock()
	h.r.ctx = h.ctx
	h.r.mu.Unlock()
	if !o.stopped {
		if err := h.r.Start(); err != nil && !errors.Is(err, ErrCompleted) {
			t.Fatal(err)
		}
	}
	return h
}

// step runs one dialler turn and waits for the calls it placed when they
// end at once.
func (h *harness) step() {
	h.r.step()
	h.r.wg.Wait()
}

func (h *harness) progress() Progress { return h.r.Progress() }

func (h *harness) contact(id string) ContactProgress {
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	return h.r.byID[id].p.clone()
}

func (r *Runner) dncHas(number string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dnc.Has(number)
}

// contactsCSV builds a list of n contacts c1..cn, numbers 1380000xxxx,
// regions taken in turn from regions.
func contactsCSV(n int, regions ...string) string {
	var b strings.Builder
	b.WriteString("id,number,name,region\n")
	for i := 1; i <= n; i++ {
		region := ""
		if len(regions) > 0 {
			region = regions[(i-1)%len(regions)]
		}
		fmt.Fprintf(&b, "c%d,1380000%04d,Name %d,%s\n", i, i, i, region)
	}
	return b.String()
}

// gate makes attempts wait until the test lets them end.
type gate struct {
	mu      sync.Mutex
	waiting map[string]chan Result // call id → its result
	arrived chan string
}

func newGate() *gate {
	return &gate{waiting: map[string]chan Result{}, arrived: make(chan string, 1000)}
}

// result is a fakeEngine.result that blocks until end is called.
func (g *gate) result(ctx context.Context, a Attempt) Result {
	ch := make(chan Result, 1)
	g.mu.Lock()
	g.waiting[a.ID] = ch
	g.mu.Unlock()
	g.arrived <- a.ID
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		return Result{Outcome: Failed, Cause: "engine stopping"}
	}
}

// end finishes a waiting call.
func (g *gate) end(t *testing.T, callID string, r Result) {
	t.Helper()
	g.mu.Lock()
	ch, ok := g.waiting[callID]
	delete(g.waiting, callID)
	g.mu.Unlock()
	if !ok {
		t.Fatalf("no call %s waiting", callID)
	}
	ch <- r
}

// calls returns the waiting call ids, sorted.
func (g *gate) calls() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for id := range g.waiting {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// wait blocks until n more calls arrived.
func (g *gate) wait(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-g.arrived:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d calls arrived", i, n)
		}
	}
}
