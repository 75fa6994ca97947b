package routing

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// anyKey is the idle-index key for "any region" / "any group".
const anyKey = "*"

type waiting struct {
	Call
	since   time.Time // effective enqueue time (priority head start applied)
	seq     int64
	tq      *tierQueue
	posAll  int
	posReg  int
	posPend int
	overdue bool
}

func waitingBefore(a, b *waiting) bool {
	if !a.since.Equal(b.since) {
		return a.since.Before(b.since)
	}
	return a.seq < b.seq
}

// waitSet is a set of waiting calls ordered by effective enqueue time, as a
// whole and per caller region.
type waitSet struct {
	all      *indexedHeap[*waiting]
	byRegion map[string]*indexedHeap[*waiting]
}

func newWaitSet() waitSet {
	return waitSet{all: newHeap(waitingBefore, func(w *waiting) *int { return &w.posAll }), byRegion: map[string]*indexedHeap[*waiting]{}}
}

func (s *waitSet) push(w *waiting) {
	s.all.Push(w)
	h := s.byRegion[w.Region]
	if h == nil {
		h = newHeap(waitingBefore, func(w *waiting) *int { return &w.posReg })
		s.byRegion[w.Region] = h
	}
	h.Push(w)
}

func (s *waitSet) remove(w *waiting) {
	s.all.Remove(w)
	s.byRegion[w.Region].Remove(w)
}

// regionTop is the oldest call of one region in the set (nil if none).
func (s *waitSet) regionTop(region string) *waiting {
	if h := s.byRegion[region]; h != nil {
		if w, ok := h.Top(); ok {
			return w
		}
	}
	return nil
}

// tierQueue holds the calls of one tier waiting in one queue, split into
// those still inside the tier's threshold (save) and those past it (over).
// A call moves from save to over once, when refreshOverdue sees its deadline
// pass, so both orders — oldest overall and oldest still saveable — are heap
// tops.
type tierQueue struct {
	q       *queueState
	t       *tierState
	save    waitSet
	over    waitSet
	n       int
	regions []string // region keys in first-seen order, for deterministic scans
	seen    map[string]bool
	sl      *slWindow
}

type tierState struct {
	cfg Tier
	idx int
	// pending holds this tier's waiting calls not yet past Threshold in
	// every queue, by EnqueuedAt: the deadline order.
	pending *indexedHeap[*waiting]
	overdue int
	sl      *slWindow
}

type idleKey struct {
	level  int
	region string
	group  string
}

type idleEntry struct {
	a      *agentState
	k1, k2 int64
	pos    int
	h      *indexedHeap[*idleEntry]
}

func idleBefore(x, y *idleEntry) bool {
	if x.k1 != y.k1 {
		return x.k1 < y.k1
	}
	if x.k2 != y.k2 {
		return x.k2 < y.k2
	}
	return x.a.idleSeq < y.a.idleSeq
}

type queueState struct {
	cfg        Queue
	idx        int
	tiers      []*tierQueue
	waiting    int
	idle       map[idleKey]*indexedHeap[*idleEntry]
	levels     []int
	levelCount map[int]int
	idleCount  int
}

type skillRef struct {
	q            *queueState
	level        int
	lastAssigned int64
}

type agentState struct {
	Agent
	skills    []*skillRef // by level, then queue order
	groupOK   []bool      // per tier: may take the tier's calls before widening
	idle      bool
	idleSince time.Time
	idleSeq   int64
	offered   int64
	entries   []*idleEntry
}

// Router holds the indexes and makes the decisions. It is not safe for
// concurrent use: the caller (acd, the simulator) serialises access.
type Router struct {
	cfg         Config
	tiers       []*tierState
	tierByName  map[string]*tierState
	queues      []*queueState
	queueByName map[string]*queueState
	agents      map[string]*agentState
	calls       map[string]*waiting
	rng         *rand.Rand
	seq         int64
}

// New validates cfg and returns an empty router.
func New(cfg Config) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	r := &Router{
		cfg:         c,
		tierByName:  map[string]*tierState{},
		queueByName: map[string]*queueState{},
		agents:      map[string]*agentState{},
		calls:       map[string]*waiting{},
		rng:         rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15)),
	}
	for i, t := range c.Tiers {
		ts := &tierState{
			cfg: t, idx: i,
			pending: newHeap(func(a, b *waiting) bool {
				if !a.EnqueuedAt.Equal(b.EnqueuedAt) {
					return a.EnqueuedAt.Before(b.EnqueuedAt)
				}
				return a.seq < b.seq
			}, func(w *waiting) *int { return &w.posPend }),
			sl: newSLWindow(c.Window, c.Buckets),
		}
		r.tiers = append(r.tiers, ts)
		r.tierByName[t.Name] = ts
	}
	for i, q := range c.Queues {
		qs := &queueState{cfg: q, idx: i, idle: map[idleKey]*indexedHeap[*idleEntry]{}, levelCount: map[int]int{}}
		for _, ts := range r.tiers {
			qs.tiers = append(qs.tiers, &tierQueue{
				q: qs, t: ts, save: newWaitSet(), over: newWaitSet(), seen: map[string]bool{},
				sl: newSLWindow(c.Window, c.Buckets),
			})
		}
		r.queues = append(r.queues, qs)
		r.queueByName[q.Name] = qs
	}
	return r, nil
}

// Config returns the effective configuration (defaults applied).
func (r *Router) Config() Config { return r.cfg }

// SetAgent adds an agent or replaces its profile. An idle agent stays idle
// with its idle time kept.
func (r *Router) SetAgent(a Agent) error {
	if a.ID == "" {
		return fmt.Errorf("set agent: %w: empty id", ErrInvalidAgent)
	}
	var skills []*skillRef
	for qn, lvl := range a.Skills {
		q, ok := r.queueByName[qn]
		if !ok {
			return fmt.Errorf("set agent %s: skill %q: %w", a.ID, qn, ErrUnknownQueue)
		}
		if lvl < 1 {
			return fmt.Errorf("set agent %s: skill %q: %w: level %d < 1", a.ID, qn, ErrInvalidAgent, lvl)
		}
		skills = append(skills, &skillRef{q: q, level: lvl})
	}
	slices.SortFunc(skills, func(x, y *skillRef) int {
		if x.level != y.level {
			return x.level - y.level
		}
		return x.q.idx - y.q.idx
	})
	groups := map[string]bool{}
	for _, g := range a.Groups {
		groups[g] = true
	}
	groupOK := make([]bool, len(r.tiers))
	for i, t := range r.tiers {
		groupOK[i] = len(t.cfg.PreferredGroups) == 0
		for _, g := range t.cfg.PreferredGroups {
			if groups[g] {
				groupOK[i] = true
			}
		}
	}
	a.Skills = cloneSkills(a.Skills)
	a.Groups = slices.Clone(a.Groups)

	old, exists := r.agents[a.ID]
	wasIdle, since := false, time.Time{}
	ns := &agentState{Agent: a, skills: skills, groupOK: groupOK}
	if exists {
		wasIdle, since = old.idle, old.idleSince
		r.removeIdle(old)
		r.countLevels(old, -1)
		ns.offered = old.offered
		for _, s := range ns.skills {
			for _, os := range old.skills {
				if os.q == s.q {
					s.lastAssigned = os.lastAssigned
				}
			}
		}
	}
	r.agents[a.ID] = ns
	r.countLevels(ns, +1)
	if wasIdle {
		r.insertIdle(ns, since)
	}
	return nil
}

func cloneSkills(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (r *Router) countLevels(a *agentState, d int) {
	for _, s := range a.skills {
		q := s.q
		q.levelCount[s.level] += d
		if q.levelCount[s.level] <= 0 {
			delete(q.levelCount, s.level)
		}
		q.levels = q.levels[:0]
		for l := range q.levelCount {
			q.levels = append(q.levels, l)
		}
		slices.Sort(q.levels)
	}
}

// RemoveAgent forgets an agent (logged out).
func (r *Router) RemoveAgent(id string) error {
	a, ok := r.agents[id]
	if !ok {
		return fmt.Errorf("remove agent %s: %w", id, ErrUnknownAgent)
	}
	r.removeIdle(a)
	r.countLevels(a, -1)
	delete(r.agents, id)
	return nil
}

// SetIdle puts an agent in the idle pool (ready for CallArrived). An agent
// already idle keeps its original idle time.
func (r *Router) SetIdle(id string, now time.Time) error {
	a, ok := r.agents[id]
	if !ok {
		return fmt.Errorf("set idle %s: %w", id, ErrUnknownAgent)
	}
	if !a.idle {
		r.insertIdle(a, now)
	}
	return nil
}

// SetBusy takes an agent out of the idle pool.
func (r *Router) SetBusy(id string) error {
	a, ok := r.agents[id]
	if !ok {
		return fmt.Errorf("set busy %s: %w", id, ErrUnknownAgent)
	}
	r.removeIdle(a)
	return nil
}

// IsIdle reports whether the agent is in the idle pool.
func (r *Router) IsIdle(id string) bool {
	a, ok := r.agents[id]
	return ok && a.idle
}

// Assigned records that agent was given a call of queue, for the
// fewest-calls and round-robin strategies.
func (r *Router) Assigned(agentID, queue string) error {
	a, ok := r.agents[agentID]
	if !ok {
		return fmt.Errorf("assigned %s: %w", agentID, ErrUnknownAgent)
	}
	r.seq++
	a.offered++
	for _, s := range a.skills {
		if s.q.cfg.Name == queue {
			s.lastAssigned = r.seq
		}
	}
	return nil
}

func (r *Router) insertIdle(a *agentState, now time.Time) {
	r.seq++
	a.idle, a.idleSince, a.idleSeq = true, now, r.seq
	regions := []string{anyKey}
	if a.Region != "" {
		regions = append(regions, a.Region)
	}
	groups := append([]string{anyKey}, a.Groups...)
	for _, s := range a.skills {
		q := s.q
		q.idleCount++
		var k1, k2 int64
		switch q.cfg.Strategy {
		case FewestCalls:
			k1, k2 = a.offered, now.UnixNano()
		case RoundRobin:
			k1, k2 = s.lastAssigned, now.UnixNano()
		case Random:
			k1 = r.rng.Int64()
		default:
			k1 = now.UnixNano()
		}
		for _, rg := range regions {
			for _, g := range groups {
				key := idleKey{s.level, rg, g}
				h := q.idle[key]
				if h == nil {
					h = newHeap(idleBefore, func(e *idleEntry) *int { return &e.pos })
					q.idle[key] = h
				}
				e := &idleEntry{a: a, k1: k1, k2: k2, h: h}
				h.Push(e)
				a.entries = append(a.entries, e)
			}
		}
	}
}

func (r *Router) removeIdle(a *agentState) {
	if !a.idle {
		return
	}
	for _, e := range a.entries {
		e.h.Remove(e)
	}
	for _, s := range a.skills {
		s.q.idleCount--
	}
	a.entries = a.entries[:0]
	a.idle = false
}

func (r *Router) effectiveSince(c Call) time.Time {
	return c.EnqueuedAt.Add(-time.Duration(c.Priority) * r.cfg.PriorityStep)
}

func (r *Router) lookup(c Call) (*queueState, *tierState, error) {
	q, ok := r.queueByName[c.Queue]
	if !ok {
		return nil, nil, fmt.Errorf("call %s: queue %q: %w", c.ID, c.Queue, ErrUnknownQueue)
	}
	t, ok := r.tierByName[c.Tier]
	if !ok {
		return nil, nil, fmt.Errorf("call %s: tier %q: %w", c.ID, c.Tier, ErrUnknownTier)
	}
	return q, t, nil
}

// AddCall puts a call in its queue. A call re-queued after ring-no-answer
// keeps its EnqueuedAt and therefore its place at the head.
func (r *Router) AddCall(c Call) error {
	if c.ID == "" {
		return fmt.Errorf("add call: %w: empty id", ErrUnknownCall)
	}
	if _, dup := r.calls[c.ID]; dup {
		return fmt.Errorf("add call %s: %w", c.ID, ErrDuplicate)
	}
	q, t, err := r.lookup(c)
	if err != nil {
		return fmt.Errorf("add call: %w", err)
	}
	r.seq++
	tq := q.tiers[t.idx]
	w := &waiting{Call: c, since: r.effectiveSince(c), seq: r.seq, tq: tq, posAll: -1, posReg: -1, posPend: -1}
	tq.save.push(w)
	tq.n++
	if !tq.seen[c.Region] {
		tq.seen[c.Region] = true
		tq.regions = append(tq.regions, c.Region)
	}
	t.pending.Push(w)
	q.waiting++
	r.calls[c.ID] = w
	return nil
}

// RemoveCall takes a waiting call out (offered to an agent, abandoned,
// overflowed).
func (r *Router) RemoveCall(id string) (Call, error) {
	w, ok := r.calls[id]
	if !ok {
		return Call{}, fmt.Errorf("remove call %s: %w", id, ErrUnknownCall)
	}
	tq := w.tq
	if w.overdue {
		tq.over.remove(w)
		tq.t.overdue--
	} else {
		tq.save.remove(w)
		tq.t.pending.Remove(w)
	}
	tq.n--
	tq.q.waiting--
	delete(r.calls, id)
	return w.Call, nil
}

// HasCall reports whether the call is waiting.
func (r *Router) HasCall(id string) bool { _, ok := r.calls[id]; return ok }

// Waiting returns the number of calls waiting in queue.
func (r *Router) Waiting(queue string) int {
	if q, ok := r.queueByName[queue]; ok {
		return q.waiting
	}
	return 0
}

// IdleAgents returns how many idle agents serve queue.
func (r *Router) IdleAgents(queue string) int {
	if q, ok := r.queueByName[queue]; ok {
		return q.idleCount
	}
	return 0
}

// Position is the 1-based place of a waiting call in its queue in routing
// order: the order in which the queue's callers would be taken if agents
// of this queue freed up one by one now and the tiers' gaps stayed as they
// are — escalated callers first, then tiers by Config.Policy, then within a
// tier by Config.Within (with WithinSaveable a caller already past the
// threshold is behind every caller of the tier still inside it). It cannot
// foresee callers who arrive later and go ahead, nor agents taken by their
// other queues. O(queue length): for announcements only.
func (r *Router) Position(id string, now time.Time) (int, error) {
	w, ok := r.calls[id]
	if !ok {
		return 0, fmt.Errorf("position %s: %w", id, ErrUnknownCall)
	}
	r.refreshOverdue(now)
	g := r.newGapCache(now)
	cw := r.candidateOf(w, 0, now, g.gap(w.tq.t))
	pos := 1
	for _, tq := range w.tq.q.tiers {
		if tq.n == 0 {
			continue
		}
		gap := g.gap(tq.t)
		for _, set := range [2]*waitSet{&tq.save, &tq.over} {
			for _, o := range set.all.s {
				if o != w && r.ahead(r.candidateOf(o, 0, now, gap), cw) {
					pos++
				}
			}
		}
	}
	return pos, nil
}

// ahead reports whether waiting call a is taken before b (same queue) under
// the rules of AgentFreed.
func (r *Router) ahead(a, b candidate) bool {
	if a.w.tq != b.w.tq || a.esc || b.esc {
		return r.better(a, b)
	}
	if r.cfg.Within != WithinOldest && a.save != b.save {
		return a.save
	}
	return waitingBefore(a.w, b.w)
}

// Answered records an answered call for service-level accounting; wait is
// from enqueue to answer.
func (r *Router) Answered(queue, tier string, wait time.Duration, now time.Time) error {
	q, t, err := r.lookup(Call{Queue: queue, Tier: tier})
	if err != nil {
		return fmt.Errorf("answered: %w", err)
	}
	within := wait <= t.cfg.Threshold
	t.sl.addAnswered(now, within)
	q.tiers[t.idx].sl.addAnswered(now, within)
	return nil
}

// Abandoned records a caller who hung up while waiting or ringing. Callers
// who gave up before Config.ShortAbandon are not counted. It reports whether
// the abandon was counted.
func (r *Router) Abandoned(queue, tier string, wait time.Duration, now time.Time) (bool, error) {
	q, t, err := r.lookup(Call{Queue: queue, Tier: tier})
	if err != nil {
		return false, fmt.Errorf("abandoned: %w", err)
	}
	if wait < r.cfg.ShortAbandon {
		return false, nil
	}
	t.sl.addAbandoned(now)
	q.tiers[t.idx].sl.addAbandoned(now)
	return true, nil
}

// refreshOverdue moves callers who crossed their threshold into the overdue
// counts. Amortised O(1) per call over its life.
func (r *Router) refreshOverdue(now time.Time) {
	for _, t := range r.tiers {
		for {
			w, ok := t.pending.Top()
			if !ok || now.Sub(w.EnqueuedAt) < t.cfg.Threshold {
				break
			}
			t.pending.Remove(w)
			w.tq.save.remove(w)
			w.overdue = true
			w.tq.over.push(w)
			t.overdue++
		}
	}
}

func (r *Router) level(t *tierState, w *slWindow, overdue int, queue string, now time.Time) ServiceLevel {
	within, ans, ab := w.sums(now)
	if r.cfg.IgnoreWaitingMisses {
		overdue = 0
	}
	sl := ServiceLevel{
		Tier: t.cfg.Name, Queue: queue, Target: t.cfg.Target, Threshold: t.cfg.Threshold,
		AnsweredWithin: within, Answered: ans, Abandoned: ab, OverdueWaiting: overdue,
		Actual: actualSL(within, ans, ab, overdue),
	}
	if r.cfg.Policy == PolicyGapAbsolute {
		sl.Gap = AbsoluteGap(sl.Target, sl.Actual)
	} else {
		sl.Gap = RelativeGap(sl.Target, sl.Actual)
	}
	return sl
}

// ServiceLevel returns the tier's current service level over the window.
func (r *Router) ServiceLevel(tier string, now time.Time) (ServiceLevel, error) {
	t, ok := r.tierByName[tier]
	if !ok {
		return ServiceLevel{}, fmt.Errorf("service level: tier %q: %w", tier, ErrUnknownTier)
	}
	r.refreshOverdue(now)
	return r.level(t, t.sl, t.overdue, "", now), nil
}

// QueueServiceLevel returns the service level of one tier in one queue.
func (r *Router) QueueServiceLevel(queue, tier string, now time.Time) (ServiceLevel, error) {
	q, t, err := r.lookup(Call{Queue: queue, Tier: tier})
	if err != nil {
		return ServiceLevel{}, fmt.Errorf("queue service level: %w", err)
	}
	r.refreshOverdue(now)
	tq := q.tiers[t.idx]
	return r.level(t, tq.sl, tq.over.all.Len(), queue, now), nil
}
