package campaign

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/hotlinecc/hotline/routing/crm"
)

// ManagerConfig configures the campaigns of one engine.
type ManagerConfig struct {
	Engine Engine // required
	// Store keeps progress across restarts (NewFileStore in the engine's
	// state directory); nil keeps it in memory only.
	Store Store
	// Plan normalises contact and do-not-call numbers (the CRM's plan).
	Plan crm.NumberPlan
	// Tiers, when set, is the allowed set of contact tiers.
	Tiers []string
	// Now is the clock (default time.Now); tests inject one.
	Now func() time.Time
	// Tick is how often each running campaign looks for free agents
	// (default 1 s); Nudge makes it look at once.
	Tick time.Duration
	// OnProgress, when set, receives a campaign's progress after each
	// change (results, control, windows opening or closing, pacing
	// holds). It is called without locks held, possibly from several
	// goroutines: keep the event with the highest Seq.
	OnProgress func(Progress)
	// Client makes pull requests (default: a new http.Client).
	Client *http.Client
	Logger *slog.Logger
}

// Manager runs every campaign of an engine. Its methods are safe for
// concurrent use.
type Manager struct {
	engine     Engine
	store      Store
	plan       crm.NumberPlan
	tiers      []string
	now        func() time.Time
	tick       time.Duration
	onProgress func(Progress)
	client     *http.Client
	log        *slog.Logger

	mu       sync.Mutex
	runners  map[string]*Runner
	order    []string
	ctx      context.Context // set while Run runs
	loops    sync.WaitGroup
	reserved map[string]string // agent → campaign holding it (preview or call)
}

// NewManager returns a manager with no campaigns.
func NewManager(cfg ManagerConfig) (*Manager, error) {
	if cfg.Engine == nil {
		return nil, errors.New("campaign: manager: nil engine")
	}
	m := &Manager{engine: cfg.Engine, store: cfg.Store, plan: cfg.Plan, tiers: cfg.Tiers, now: cfg.Now,
		tick: cfg.Tick, onProgress: cfg.OnProgress, client: cfg.Client, log: cfg.Logger,
		runners: map[string]*Runner{}, reserved: map[string]string{}}
	if m.now == nil {
		m.now = time.Now
	}
	if m.tick <= 0 {
		m.tick = time.Second
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.store == nil {
		m.store = NewMemoryStore()
	}
	return m, nil
}

// Add loads a campaign: its do-not-call file, its list (file and pull)
// and its saved progress. It returns the list import's report; rejected
// rows are in it. A campaign with Enabled and no saved state starts
// running. Add may be called before or during Run.
func (m *Manager) Add(ctx context.Context, s *Spec) (ImportReport, error) {
	m.mu.Lock()
	_, dup := m.runners[s.Name]
	m.mu.Unlock()
	if dup {
		return ImportReport{}, fmt.Errorf("campaign %s: already loaded", s.Name)
	}
	dnc := NewDNCList(m.plan)
	if s.DNC != "" {
		var err error
		if dnc, err = ReadDNC(s.DNC, m.plan); err != nil {
			return ImportReport{}, fmt.Errorf("campaign %s: %w", s.Name, err)
		}
	}
	list, err := ReadList(ctx, s, ImportOptions{Plan: m.plan, Tiers: m.tiers, Client: m.client})
	if err != nil {
		return ImportReport{}, err
	}
	saved, err := m.store.Load(ctx, s.Name)
	if err != nil {
		return list.Report, fmt.Errorf("campaign %s: loading progress: %w", s.Name, err)
	}
	r := newRunner(m, s, list, dnc, saved)
	for _, c := range r.contacts {
		if c.p.DNC && c.p.LastOutcome == DNC {
			list.Report.DNC++
		}
	}
	r.report.DNC = list.Report.DNC
	r.mu.Lock()
	b := r.takeBatch()
	r.mu.Unlock()
	if err := m.store.Save(ctx, s.Name, b); err != nil {
		return list.Report, fmt.Errorf("campaign %s: saving progress: %w", s.Name, err)
	}
	m.log.Info("campaign loaded", "campaign", s.Name, "mode", s.Mode, "contacts", list.Report.Loaded,
		"rejected", list.Report.RejectedCount, "dnc", list.Report.DNC, "state", r.state)
	m.mu.Lock()
	if _, dup := m.runners[s.Name]; dup {
		m.mu.Unlock()
		return list.Report, fmt.Errorf("campaign %s: already loaded", s.Name)
	}
	m.runners[s.Name] = r
	m.order = append(m.order, s.Name)
	if m.ctx != nil {
		m.startLoop(r)
	}
	m.mu.Unlock()
	r.emit()
	return list.Report, nil
}

// startLoop runs a runner's loop under Run's context. Under m.mu (the
// loop takes the runner's lock itself: runner locks come before the
// manager's).
func (m *Manager) startLoop(r *Runner) {
	ctx := m.ctx
	m.loops.Add(1)
	go func() {
		defer m.loops.Done()
		r.mu.Lock()
		r.ctx = ctx
		r.mu.Unlock()
		r.run(ctx, m.tick)
	}()
}

// Run runs every campaign's loop until ctx ends, then waits for the
// calls in progress to report (their context is ctx: the engine reports
// what it knows) and returns.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.ctx != nil {
		m.mu.Unlock()
		return errors.New("campaign: manager already running")
	}
	m.ctx = ctx
	for _, name := range m.order {
		m.startLoop(m.runners[name])
	}
	m.mu.Unlock()
	<-ctx.Done()
	m.mu.Lock()
	m.ctx = nil
	runners := m.list()
	m.mu.Unlock()
	m.loops.Wait()
	for _, r := range runners {
		r.mu.Lock()
		r.ctx = nil
		r.mu.Unlock()
	}
	for _, r := range runners {
		r.wg.Wait()
		r.mu.Lock()
		b := r.takeBatch()
		r.mu.Unlock()
		r.save(b)
	}
	return nil
}

// list returns the runners in load order. Under m.mu.
func (m *Manager) list() []*Runner {
	out := make([]*Runner, 0, len(m.order))
	for _, n := range m.order {
		out = append(out, m.runners[n])
	}
	return out
}

// Campaign returns a loaded campaign's runner.
func (m *Manager) Campaign(name string) (*Runner, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.runners[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownCampaign, name)
	}
	return r, nil
}

// Start, Pause and Stop control a campaign by name.
func (m *Manager) Start(name string) error { return m.with(name, (*Runner).Start) }

// Pause stops new previews and dials of a campaign; calls up go on.
func (m *Manager) Pause(name string) error { return m.with(name, (*Runner).Pause) }

// Stop stops a campaign and withdraws its previews; calls up go on.
func (m *Manager) Stop(name string) error { return m.with(name, (*Runner).Stop) }

func (m *Manager) with(name string, f func(*Runner) error) error {
	r, err := m.Campaign(name)
	if err != nil {
		return err
	}
	if err := f(r); err != nil {
		return fmt.Errorf("campaign %s: %w", name, err)
	}
	return nil
}

// Progress returns one campaign's figures.
func (m *Manager) Progress(name string) (Progress, error) {
	r, err := m.Campaign(name)
	if err != nil {
		return Progress{}, err
	}
	return r.Progress(), nil
}

// All returns every campaign's figures, in load order.
func (m *Manager) All() []Progress {
	m.mu.Lock()
	rs := m.list()
	m.mu.Unlock()
	out := make([]Progress, len(rs))
	for i, r := range rs {
		out[i] = r.Progress()
	}
	return out
}

// ExportResults writes a campaign's results CSV (Runner.ExportResults).
func (m *Manager) ExportResults(name string, w io.Writer) error {
	r, err := m.Campaign(name)
	if err != nil {
		return err
	}
	return r.ExportResults(w)
}

// ExportAttempts writes a campaign's per-attempt CSV (Runner.ExportAttempts).
func (m *Manager) ExportAttempts(name string, w io.Writer) error {
	r, err := m.Campaign(name)
	if err != nil {
		return err
	}
	return r.ExportAttempts(w)
}

// DialPreview: the agent clicked dial on a previewed contact.
func (m *Manager) DialPreview(agentID, campaign, contactID string) error {
	r, err := m.Campaign(campaign)
	if err != nil {
		return err
	}
	return r.DialPreview(agentID, contactID)
}

// SkipPreview: the agent passed over a previewed contact.
func (m *Manager) SkipPreview(agentID, campaign, contactID string) error {
	r, err := m.Campaign(campaign)
	if err != nil {
		return err
	}
	return r.SkipPreview(agentID, contactID)
}

// AgentUnavailable withdraws whatever preview an agent has (the engine
// calls it when the agent takes an inbound call, goes not ready or signs
// out). A call already dialled is not affected.
func (m *Manager) AgentUnavailable(agentID string) {
	m.mu.Lock()
	owner := m.reserved[agentID]
	r := m.runners[owner]
	m.mu.Unlock()
	if r != nil {
		r.agentUnavailable(agentID)
	}
}

// AddDNC puts a number on every campaign's do-not-call list (a customer
// asked, outside a campaign call); their contacts with it are finished.
func (m *Manager) AddDNC(number string) error {
	n, err := m.plan.Normalise(number)
	if err != nil {
		return fmt.Errorf("campaign: dnc: %w", err)
	}
	m.spreadDNC(n, nil)
	return nil
}

// spreadDNC adds a normalised number to every campaign but from.
func (m *Manager) spreadDNC(number string, from *Runner) {
	m.mu.Lock()
	rs := m.list()
	m.mu.Unlock()
	for _, r := range rs {
		if r != from {
			r.addDNC(number)
		}
	}
}

// Nudge makes every running campaign look for free agents now (the
// engine calls it when an agent becomes ready).
func (m *Manager) Nudge() {
	m.mu.Lock()
	rs := m.list()
	m.mu.Unlock()
	for _, r := range rs {
		r.nudge()
	}
}

// Names lists the loaded campaigns, sorted.
func (m *Manager) Names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := append([]string(nil), m.order...)
	sort.Strings(out)
	return out
}

// reserve gives an agent to a campaign unless another holds it: no agent
// previews or dials for two campaigns at once.
func (m *Manager) reserve(agent, campaign string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, held := m.reserved[agent]; held {
		return false
	}
	m.reserved[agent] = campaign
	return true
}

func (m *Manager) release(agent, campaign string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reserved[agent] == campaign {
		delete(m.reserved, agent)
	}
}
