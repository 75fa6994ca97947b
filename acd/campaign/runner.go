package campaign

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"
)

// Errors of the control and preview methods.
var (
	ErrUnknownCampaign = errors.New("campaign: unknown campaign")
	ErrUnknownContact  = errors.New("campaign: unknown contact")
	ErrNotOffered      = errors.New("campaign: contact is not offered to this agent")
	ErrOutsideWindow   = errors.New("campaign: outside the contact's calling window")
	ErrDoNotCall       = errors.New("campaign: number is on the do-not-call list")
	ErrCompleted       = errors.New("campaign: completed, nothing left to dial")
	ErrNotRunning      = errors.New("campaign: dialler not running")
	ErrState           = errors.New("campaign: not allowed in this state")
)

// contactEntry is one contact with its progress, owned by a Runner and
// changed only under its lock.
type contactEntry struct {
	Contact
	idx int // position in the list
	win int // index of its window in Runner.windows
	p   ContactProgress
	gen uint32 // bumped on every state change: heap entries with an older one are stale
}

// Runner dials one campaign. Its loop is run by the Manager; every
// public method is safe for concurrent use.
type Runner struct {
	m    *Manager
	spec *Spec
	log  *slog.Logger

	mu           sync.Mutex
	state        State
	stateVersion uint64
	ctx          context.Context // the Manager's Run context; nil when not running
	contacts     []*contactEntry
	byID         map[string]*contactEntry
	byNumber     map[string]*contactEntry
	dnc          *DNCList
	windows      []*Window // [0] is the default window
	ready        []readyHeap
	waiting      waitHeap
	previews     map[string]*contactEntry // agent → contact offered
	bound        map[string]*contactEntry // agent → contact dialled with it
	unbound      int                      // attempts in flight without an agent
	pacer        *pacer
	version      uint64
	seq          uint64
	report       ImportReport
	dirty        map[*contactEntry]struct{}
	dirtyState   bool
	dncAdded     []string // run-time additions not yet saved
	dncContacts  int      // contacts marked do-not-call
	integrity    int      // refused transitions (bugs)
	emitted      emitKey
	storeFailed  string
	ownedSet     map[string]bool // Spec.Agents; nil = every agent of the queue
	queues       []string

	// counters kept as contacts move, so progress is O(1)
	stateCount map[ContactState]int
	outcomes   map[Outcome]int // attempt outcomes
	final      map[Outcome]int // final outcomes of done contacts
	dialled    int             // contacts with at least one counted attempt
	reached    int             // contacts who talked to an agent
	attempts   int             // counted attempts placed

	wg   sync.WaitGroup // dial goroutines
	kick chan struct{}
}

// newRunner builds a campaign's runner from its list and saved progress.
func newRunner(m *Manager, spec *Spec, list *List, dnc *DNCList, saved Saved) *Runner {
	r := &Runner{
		m: m, spec: spec, log: m.log.With("campaign", spec.Name),
		byID: make(map[string]*contactEntry, len(list.Contacts)), byNumber: make(map[string]*contactEntry, len(list.Contacts)),
		dnc: dnc, previews: map[string]*contactEntry{}, bound: map[string]*contactEntry{},
		pacer: newPacer(spec.Ratio, spec.MaxAbandonRate), report: list.Report, dirty: map[*contactEntry]struct{}{},
		stateCount: map[ContactState]int{}, outcomes: map[Outcome]int{}, final: map[Outcome]int{},
		queues: []string{spec.Queue}, kick: make(chan struct{}, 1), stateVersion: saved.StateVersion,
	}
	if len(spec.Agents) > 0 {
		r.ownedSet = map[string]bool{}
		for _, a := range spec.Agents {
			r.ownedSet[a] = true
		}
	}
	r.windows = []*Window{spec.Windows.Default}
	winIdx := map[string]int{}
	for _, name := range spec.Regions() {
		winIdx[name] = len(r.windows)
		r.windows = append(r.windows, spec.Windows.Regions[name])
	}
	r.ready = make([]readyHeap, len(r.windows))
	for _, n := range saved.DNC {
		r.dnc.Add(n)
	}
	for _, n := range list.Blacklisted {
		r.dnc.Add(n)
	}
	now := m.now()
	unknown := len(saved.Contacts)
	for _, p := range saved.Contacts {
		r.version = max(r.version, p.Version)
	}
	for i, c := range list.Contacts {
		e := &contactEntry{Contact: c, idx: i, win: winIdx[c.Region]}
		if p, ok := saved.Contacts[c.ID]; ok {
			unknown--
			e.p = p.clone()
		} else {
			e.p = ContactProgress{ID: c.ID, State: Pending}
		}
		r.contacts = append(r.contacts, e)
		r.byID[c.ID] = e
		r.byNumber[c.Number] = e
	}
	if unknown > 0 {
		r.log.Warn("campaign: saved progress of contacts no longer in the list is ignored", "contacts", unknown)
	}
	// Rebuild counters and heaps, then settle what a restart interrupted.
	type sample struct {
		at        time.Time
		abandoned bool
	}
	var samples []sample
	for _, e := range r.contacts {
		r.stateCount[e.p.State]++
		if e.p.Attempts > 0 {
			r.dialled++
		}
		r.attempts += e.p.Attempts
		for o, n := range e.p.Counts {
			r.outcomes[o] += n
		}
		if e.p.Counts[Completed] > 0 {
			r.reached++
		}
		if e.p.DNC {
			r.dncContacts++
		}
		for _, h := range e.p.History {
			if h.Outcome.Reached() {
				samples = append(samples, sample{h.Ended, h.Outcome == Abandoned})
			}
		}
		switch e.p.State {
		case Pending:
			heap.Push(&r.ready[e.win], readyItem{e, e.gen})
		case RetryWait:
			heap.Push(&r.waiting, waitItem{e, e.gen, e.p.NextAt})
		case Done:
			r.final[e.p.LastOutcome]++
		case Previewing:
			// The desktop that showed it is gone with the old process.
			e.p.Agent = ""
			r.move(e, Pending)
		case Dialling:
			// The call's end was not seen: count it as failed and let
			// the retry rules decide, rather than dial it again at once.
			r.recordResult(e, e.p.Agent, Result{Outcome: Failed, Cause: "interrupted by a restart", Ended: now}, now)
		}
		if e.p.State != Done && r.dnc.Has(e.Number) {
			r.markDNC(e)
		}
	}
	// The pacing window and the campaign's abandon rate go on from the
	// saved attempts, in time order.
	sort.SliceStable(samples, func(i, j int) bool { return samples[i].at.Before(samples[j].at) })
	for _, s := range samples {
		r.pacer.add(s.at, s.abandoned)
	}
	switch {
	case saved.State != "":
		r.state = saved.State
	case spec.Enabled:
		r.state = CampaignRunning
		r.dirtyState = true
	default:
		r.state = CampaignStopped
	}
	r.checkCompleted()
	if r.state == CampaignCompleted && r.remaining() > 0 {
		r.setState(CampaignStopped)
	}
	return r
}

// move changes a contact's state along the state machine and keeps the
// heaps and counters in step; a refused move is a bug, logged and counted.
func (r *Runner) move(e *contactEntry, to ContactState) bool {
	from := e.p.State
	if !canMoveContact(from, to) {
		r.integrity++
		r.log.Error("campaign: refused contact transition (bug)", "err", &TransitionError{What: "contact " + e.ID, From: string(from), To: string(to)})
		return false
	}
	r.stateCount[from]--
	r.stateCount[to]++
	e.p.State = to
	e.gen++
	switch to {
	case Pending:
		e.p.NextAt = time.Time{}
		heap.Push(&r.ready[e.win], readyItem{e, e.gen})
	case RetryWait:
		heap.Push(&r.waiting, waitItem{e, e.gen, e.p.NextAt})
	case Done:
		e.p.NextAt = time.Time{}
		r.final[e.p.LastOutcome]++
	}
	if to != Previewing && to != Dialling {
		e.p.Agent, e.p.CallID, e.p.Since = "", "", time.Time{}
	}
	r.touch(e)
	return true
}

// touch marks a contact's progress changed (saved with the next batch).
func (r *Runner) touch(e *contactEntry) {
	r.version++
	e.p.Version = r.version
	r.dirty[e] = struct{}{}
}

// setState moves the campaign along its state machine.
func (r *Runner) setState(to State) bool {
	if r.state == to {
		return true
	}
	if !canMoveCampaign(r.state, to) {
		return false
	}
	r.log.Info("campaign state", "from", r.state, "to", to)
	r.state = to
	r.stateVersion++
	r.dirtyState = true
	return true
}

func (r *Runner) remaining() int {
	return len(r.contacts) - r.stateCount[Done]
}

// checkCompleted completes the campaign once no contact can be dialled.
func (r *Runner) checkCompleted() {
	if r.remaining() == 0 && r.state != CampaignCompleted {
		r.setState(CampaignCompleted)
	}
}

// takeBatch collects the changes to save, under the lock.
func (r *Runner) takeBatch() Batch {
	var b Batch
	if r.dirtyState {
		b.State, b.StateVersion = r.state, r.stateVersion
		r.dirtyState = false
	}
	if len(r.dncAdded) > 0 {
		b.DNC, r.dncAdded = r.dncAdded, nil
	}
	if len(r.dirty) > 0 {
		b.Contacts = make([]ContactProgress, 0, len(r.dirty))
		for e := range r.dirty {
			b.Contacts = append(b.Contacts, e.p.clone())
		}
		clear(r.dirty)
	}
	return b
}

// save writes a batch outside the lock. A failure pauses the campaign: a
// dialler that cannot remember what it dialled would dial again after a
// restart.
func (r *Runner) save(b Batch) error {
	if b.empty() || r.m.store == nil {
		return nil
	}
	ctx := context.Background()
	if err := r.m.store.Save(ctx, r.spec.Name, b); err != nil {
		r.log.Error("campaign: saving progress failed; pausing", "err", err)
		r.mu.Lock()
		r.storeFailed = err.Error()
		if r.state == CampaignRunning {
			r.setState(CampaignPaused)
		}
		r.mu.Unlock()
		return err
	}
	return nil
}

// markDNC finishes a contact whose number is on the do-not-call list. A
// contact in a call keeps it; its result finishes it.
func (r *Runner) markDNC(e *contactEntry) {
	switch e.p.State {
	case Pending, RetryWait:
		r.flagDNC(e)
		e.p.LastOutcome = DNC
		r.move(e, Done)
	}
}

// flagDNC records that the contact asked not to be called (or is listed).
func (r *Runner) flagDNC(e *contactEntry) {
	if !e.p.DNC {
		e.p.DNC = true
		r.dncContacts++
		r.touch(e)
	}
}

// windowOpen caches each window's state for one step.
func (r *Runner) windowsOpen(now time.Time) []bool {
	open := make([]bool, len(r.windows))
	for i, w := range r.windows {
		open[i] = w.Open(now)
	}
	return open
}

// pick removes and returns the next contact to call: among open windows,
// fewest attempts first, then list order. skip rejects contacts for this
// call (they stay pending).
func (r *Runner) pick(open []bool, skip func(*contactEntry) bool) *contactEntry {
	var set []*contactEntry
	defer func() {
		for _, e := range set {
			heap.Push(&r.ready[e.win], readyItem{e, e.gen})
		}
	}()
	for {
		best := -1
		var bc *contactEntry
		for i := range r.ready {
			if !open[i] {
				continue
			}
			c := r.ready[i].top()
			if c == nil {
				continue
			}
			if bc == nil || c.p.Attempts < bc.p.Attempts || (c.p.Attempts == bc.p.Attempts && c.idx < bc.idx) {
				best, bc = i, c
			}
		}
		if bc == nil {
			return nil
		}
		heap.Pop(&r.ready[best])
		if r.dnc.Has(bc.Number) {
			r.markDNC(bc)
			continue
		}
		if skip != nil && skip(bc) {
			set = append(set, bc)
			continue
		}
		return bc
	}
}

// attempt builds the engine's request for a contact's next attempt.
func (r *Runner) attempt(e *contactEntry, agent string) Attempt {
	seq := len(e.p.History) + 1
	return Attempt{
		ID:           callID(r.spec.Name, e.ID, seq),
		Campaign:     r.spec.Name,
		Queue:        r.spec.Queue,
		Tier:         e.Tier,
		Mode:         r.spec.Mode,
		Contact:      e.Contact,
		AgentID:      agent,
		AbandonAfter: r.spec.AbandonAfter,
		Apology:      r.spec.Apology,
		RingTimeout:  r.spec.RingTimeout,
		CallerID:     r.spec.CallerID,
		Script:       r.spec.Script,
		Attempt:      e.p.Attempts + 1,
	}
}

// startDial moves a contact to Dialling; the caller starts the call once
// the change is saved.
func (r *Runner) startDial(e *contactEntry, agent string, now time.Time) (Attempt, bool) {
	a := r.attempt(e, agent)
	if !r.move(e, Dialling) {
		return a, false
	}
	e.p.Agent, e.p.CallID, e.p.Since = agent, a.ID, now
	e.p.Attempts++
	r.attempts++
	if e.p.Attempts == 1 {
		r.dialled++
	}
	if agent != "" {
		r.bound[agent] = e
	} else {
		r.unbound++
	}
	return a, true
}

func (r *Runner) offer(e *contactEntry) PreviewOffer {
	prev := make([]Result, 0, len(e.p.History))
	for _, h := range e.p.History {
		prev = append(prev, Result{Outcome: h.Outcome, Cause: h.Cause, AgentID: h.Agent, Answered: h.Answered,
			Ended: h.Ended, Talk: h.Talk, WrapUp: h.WrapUp, Answers: h.Answers, DNC: h.DNC})
	}
	return PreviewOffer{Campaign: r.spec.Name, Contact: e.Contact, Script: r.spec.Script, Attempt: e.p.Attempts + 1, Previous: prev}
}

type withdrawal struct{ agent, contact string }

// step is one turn of the dialler: due retries become pending, stale
// previews are withdrawn, and — when running — free agents get previews
// or calls.
func (r *Runner) step() {
	now := r.m.now()
	r.mu.Lock()
	ctx := r.ctx
	r.waiting.due(now, func(e *contactEntry) { r.move(e, Pending) })
	withdrawn := r.expirePreviews(now)
	running := r.state == CampaignRunning && ctx != nil
	b := r.takeBatch()
	r.mu.Unlock()
	r.save(b)
	r.withdraw(withdrawn)
	withdrawn = nil
	if !running {
		r.emit()
		return
	}

	free := r.m.engine.FreeAgents(r.queues)
	signed := r.m.engine.SignedIn(r.queues)

	r.mu.Lock()
	if r.state != CampaignRunning || r.ctx == nil {
		r.mu.Unlock()
		r.emit()
		return
	}
	signedSet := make(map[string]bool, len(signed))
	nSigned := 0
	for _, a := range signed {
		if r.owns(a) {
			signedSet[a] = true
			nSigned++
		}
	}
	// A previewing agent who signed out loses the preview.
	for agent, e := range r.previews {
		if !signedSet[agent] {
			withdrawn = append(withdrawn, withdrawal{agent, e.ID})
			r.unpreview(e)
		}
	}
	var cand []string
	for _, a := range free {
		if r.owns(a) && signedSet[a] && r.previews[a] == nil && r.bound[a] == nil {
			cand = append(cand, a)
		}
	}
	budget := len(cand)
	if r.spec.OutboundShare < 1 {
		allowed := int(math.Floor(r.spec.OutboundShare*float64(nSigned) + 1e-9))
		if allowed == 0 && nSigned > 0 {
			allowed = 1
		}
		budget = min(budget, max(0, allowed-(len(r.previews)+len(r.bound)+r.unbound)))
	}
	pacing := r.pacer.decide(now)
	if pacing.Hold {
		budget = 0
	}
	open := r.windowsOpen(now)
	var (
		offers  []withdrawal // agent, contact id
		offerOf []PreviewOffer
		dials   []Attempt
		entries []*contactEntry
	)
	agentIdx := 0
	nextAgent := func() string {
		for agentIdx < len(cand) {
			a := cand[agentIdx]
			agentIdx++
			if r.m.reserve(a, r.spec.Name) {
				return a
			}
		}
		return ""
	}
	switch r.spec.Mode {
	case Preview:
		for i := 0; i < budget; i++ {
			e := r.pick(open, nil)
			if e == nil {
				break
			}
			agent := nextAgent()
			if agent == "" {
				heap.Push(&r.ready[e.win], readyItem{e, e.gen})
				break
			}
			if !r.move(e, Previewing) {
				r.m.release(agent, r.spec.Name)
				continue
			}
			e.p.Agent, e.p.Since = agent, now
			r.previews[agent] = e
			offers = append(offers, withdrawal{agent, e.ID})
			offerOf = append(offerOf, r.offer(e))
		}
	case Progressive:
		extra := max(0, int(math.Floor(pacing.Ratio*float64(budget)+1e-9))-budget-r.unbound)
		for i := 0; i < budget+extra; i++ {
			agent := ""
			if i < budget {
				if agent = nextAgent(); agent == "" {
					continue
				}
			}
			var skip func(*contactEntry) bool
			if agent == "" {
				// A customer who was abandoned is called back only with
				// an agent reserved.
				skip = func(e *contactEntry) bool { return e.p.LastOutcome == Abandoned }
			}
			e := r.pick(open, skip)
			if e == nil {
				if agent != "" {
					r.m.release(agent, r.spec.Name)
				}
				break
			}
			a, ok := r.startDial(e, agent, now)
			if !ok {
				if agent != "" {
					r.m.release(agent, r.spec.Name)
				}
				continue
			}
			dials = append(dials, a)
			entries = append(entries, e)
		}
	}
	r.checkCompleted() // the last contacts may have turned out do-not-call
	b = r.takeBatch()
	r.mu.Unlock()

	r.withdraw(withdrawn)
	if err := r.save(b); err != nil {
		for i, a := range dials {
			r.finish(entries[i], a, Result{Outcome: NoAgent, Cause: "not dialled: progress could not be saved: " + err.Error()})
		}
		dials = nil
	}
	for i, o := range offers {
		if err := r.m.engine.Preview(o.agent, offerOf[i]); err != nil {
			r.log.Warn("campaign: preview not shown", "agent", o.agent, "contact", o.contact, "err", err)
			r.mu.Lock()
			if e := r.previews[o.agent]; e != nil && e.ID == o.contact {
				r.unpreview(e)
			}
			b := r.takeBatch()
			r.mu.Unlock()
			r.save(b)
		}
	}
	for i, a := range dials {
		r.launch(entries[i], a)
	}
	r.emit()
}

// owns reports whether an agent may work this campaign (Spec.Agents).
func (r *Runner) owns(agent string) bool {
	return r.ownedSet == nil || r.ownedSet[agent]
}

// launch places an attempt on its own goroutine, owned by the runner's
// WaitGroup (waited for by Manager.Run). Once the dialler stops, the
// attempt is not placed and the contact goes back to pending.
func (r *Runner) launch(e *contactEntry, a Attempt) {
	r.mu.Lock()
	ctx := r.ctx
	if ctx == nil || ctx.Err() != nil {
		r.mu.Unlock()
		r.finish(e, a, Result{Outcome: NoAgent, Cause: "not dialled: the dialler is stopping"})
		return
	}
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		res := r.m.engine.Dial(ctx, a)
		r.finish(e, a, res)
	}()
}

// unpreview takes a preview back: the contact is pending again, the
// agent free. Under the lock.
func (r *Runner) unpreview(e *contactEntry) {
	agent := e.p.Agent
	delete(r.previews, agent)
	r.m.release(agent, r.spec.Name)
	r.move(e, Pending)
}

// expirePreviews withdraws previews older than Spec.PreviewTimeout.
func (r *Runner) expirePreviews(now time.Time) []withdrawal {
	if r.spec.PreviewTimeout <= 0 {
		return nil
	}
	var out []withdrawal
	for agent, e := range r.previews {
		if now.Sub(e.p.Since) >= r.spec.PreviewTimeout {
			out = append(out, withdrawal{agent, e.ID})
			r.unpreview(e)
		}
	}
	return out
}

func (r *Runner) withdraw(ws []withdrawal) {
	for _, w := range ws {
		r.m.engine.Withdraw(w.agent, r.spec.Name, w.contact)
	}
}

// finish applies an attempt's result.
func (r *Runner) finish(e *contactEntry, a Attempt, res Result) {
	now := r.m.now()
	r.mu.Lock()
	if a.AgentID != "" {
		if r.bound[a.AgentID] == e {
			delete(r.bound, a.AgentID)
		}
		r.m.release(a.AgentID, r.spec.Name)
	} else {
		r.unbound--
	}
	if e.p.State != Dialling || e.p.CallID != a.ID {
		r.integrity++
		r.log.Error("campaign: result for a contact not in this call (bug)", "contact", e.ID, "call", a.ID, "state", e.p.State)
		r.mu.Unlock()
		return
	}
	agent := res.AgentID
	if agent == "" {
		agent = a.AgentID
	}
	dnc := r.recordResult(e, agent, res, now)
	r.checkCompleted()
	b := r.takeBatch()
	r.mu.Unlock()
	r.save(b)
	if dnc != "" {
		r.m.spreadDNC(dnc, r)
	}
	r.emit()
	r.nudge()
}

// recordResult files an attempt's result with the contact and moves it
// on: done, retry later, or back to pending when it was not dialled.
// It returns the number to add to the do-not-call list, if any. Under the
// lock; the contact is in Dialling.
func (r *Runner) recordResult(e *contactEntry, agent string, res Result, now time.Time) string {
	o := res.Outcome
	cause := res.Cause
	if !validAttemptOutcome(o) || o == Skipped {
		if cause != "" {
			cause = "; " + cause
		}
		cause = fmt.Sprintf("engine reported outcome %q%s", o, cause)
		o = Failed
	}
	if res.Answers != nil {
		answers := make(map[string]string, len(res.Answers))
		for k, v := range res.Answers {
			answers[k] = v
		}
		res.Answers = answers
	}
	if res.Ended.IsZero() {
		res.Ended = now
	}
	rec := AttemptRecord{CallID: e.p.CallID, Attempt: e.p.Attempts, Agent: agent, Started: e.p.Since, Answered: res.Answered,
		Ended: res.Ended, Outcome: o, Cause: cause, Talk: res.Talk, WrapUp: res.WrapUp, Answers: res.Answers, DNC: res.DNC}
	if o == NoAgent {
		// Not dialled: the attempt does not count.
		e.p.Attempts--
		r.attempts--
		if e.p.Attempts == 0 {
			r.dialled--
		}
		rec.Attempt = 0
		e.p.History = append(e.p.History, rec)
		r.outcomes[NoAgent]++
		r.move(e, Pending)
		return ""
	}
	e.p.History = append(e.p.History, rec)
	if e.p.Counts == nil {
		e.p.Counts = map[Outcome]int{}
	}
	e.p.Counts[o]++
	r.outcomes[o]++
	e.p.LastOutcome, e.p.LastCause = o, cause
	if o == Completed && e.p.Counts[Completed] == 1 {
		r.reached++
	}
	if o.Reached() {
		r.pacer.add(res.Ended, o == Abandoned)
	}
	if res.DNC {
		if !r.dnc.Has(e.Number) {
			r.dnc.Add(e.Number)
			r.dncAdded = append(r.dncAdded, e.Number)
		}
		r.flagDNC(e)
		r.move(e, Done)
		return e.Number
	}
	d := decide(r.spec.Retry, r.spec.MaxAttempts, o, e.p.Attempts, e.p.Counts[o], now)
	if d.done {
		r.move(e, Done)
	} else {
		e.p.NextAt = d.nextAt
		r.move(e, RetryWait)
	}
	return ""
}

// callID names an attempt: "out-<campaign>-<contact>-<n>", n counting
// the contact's attempts, skips and unplaced calls, so it is unique and
// stable across restarts. Contact ids come from spreadsheets while call
// ids name record and recording files: an id with other characters than
// letters, digits, '_', '-' and '.' (or starting with '.') is written
// with those replaced and a hash of the original appended.
func callID(campaign, contact string, n int) string {
	safe := contact != "" && contact[0] != '.'
	for i := 0; i < len(contact) && safe; i++ {
		c := contact[i]
		safe = c == '_' || c == '-' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	if !safe {
		b := []byte(contact)
		for i, c := range b {
			if !(c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				b[i] = '_'
			}
		}
		h := fnv.New32a()
		h.Write([]byte(contact))
		contact = fmt.Sprintf("%s_%08x", b, h.Sum32())
	}
	return fmt.Sprintf("out-%s-%s-%d", campaign, contact, n)
}

func validAttemptOutcome(o Outcome) bool {
	for _, x := range attemptOutcomes {
		if x == o {
			return true
		}
	}
	return false
}

// nudge wakes the runner's loop.
func (r *Runner) nudge() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// run is the runner's loop until ctx ends.
func (r *Runner) run(ctx context.Context, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		r.step()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.kick:
		}
	}
}

// Start runs (or resumes) the campaign.
func (r *Runner) Start() error {
	r.mu.Lock()
	if r.state == CampaignCompleted {
		r.mu.Unlock()
		return ErrCompleted
	}
	ok := r.setState(CampaignRunning)
	r.storeFailed = ""
	b := r.takeBatch()
	r.mu.Unlock()
	if !ok {
		return ErrState
	}
	if err := r.save(b); err != nil {
		return fmt.Errorf("campaign %s: start: %w", r.spec.Name, err)
	}
	r.emit()
	r.nudge()
	return nil
}

// Pause stops new previews and dials; calls up and previews already on a
// desktop go on.
func (r *Runner) Pause() error {
	r.mu.Lock()
	var ok bool
	switch r.state {
	case CampaignRunning, CampaignPaused:
		ok = r.setState(CampaignPaused)
	case CampaignCompleted:
		r.mu.Unlock()
		return ErrCompleted
	}
	b := r.takeBatch()
	r.mu.Unlock()
	if !ok {
		return ErrState
	}
	r.save(b)
	r.emit()
	return nil
}

// Stop stops new dials and withdraws the previews on desktops; calls up
// go on and their results are recorded.
func (r *Runner) Stop() error {
	r.mu.Lock()
	if r.state == CampaignCompleted {
		r.mu.Unlock()
		return ErrCompleted
	}
	r.setState(CampaignStopped)
	var ws []withdrawal
	for agent, e := range r.previews {
		ws = append(ws, withdrawal{agent, e.ID})
		r.unpreview(e)
	}
	b := r.takeBatch()
	r.mu.Unlock()
	r.withdraw(ws)
	r.save(b)
	r.emit()
	return nil
}

// previewedLocked is the contact agentID is previewing, or why a dial or
// skip of contactID is refused.
func (r *Runner) previewedLocked(agentID, contactID string) (*contactEntry, error) {
	e := r.byID[contactID]
	if e == nil {
		return nil, ErrUnknownContact
	}
	if e.p.State != Previewing || e.p.Agent != agentID || r.previews[agentID] != e {
		return nil, ErrNotOffered
	}
	return e, nil
}

// DialPreview dials a contact an agent is previewing: the agent clicked
// dial. The window and the do-not-call list are checked again (the
// preview may have waited); on refusal the preview is withdrawn.
func (r *Runner) DialPreview(agentID, contactID string) error {
	now := r.m.now()
	r.mu.Lock()
	e, err := r.previewedLocked(agentID, contactID)
	if err != nil {
		r.mu.Unlock()
		return err
	}
	ctx := r.ctx
	var refuse error
	switch {
	case ctx == nil:
		refuse = ErrNotRunning
	case r.dnc.Has(e.Number):
		refuse = ErrDoNotCall
	case !r.windows[e.win].Open(now):
		refuse = ErrOutsideWindow
	}
	if refuse != nil {
		r.unpreview(e)
		if refuse == ErrDoNotCall {
			r.markDNC(e)
		}
		r.checkCompleted()
		b := r.takeBatch()
		r.mu.Unlock()
		r.withdraw([]withdrawal{{agentID, contactID}})
		r.save(b)
		r.emit()
		return refuse
	}
	delete(r.previews, agentID)
	a, ok := r.startDial(e, agentID, now)
	b := r.takeBatch()
	r.mu.Unlock()
	if !ok {
		return ErrNotOffered
	}
	if err := r.save(b); err != nil {
		r.finish(e, a, Result{Outcome: NoAgent, Cause: "not dialled: progress could not be saved: " + err.Error()})
		return fmt.Errorf("campaign %s: dial: %w", r.spec.Name, err)
	}
	r.launch(e, a)
	r.emit()
	return nil
}

// SkipPreview records that the agent passed over a contact; the skipped
// retry rule decides when it comes back (a skip is not a dial attempt).
func (r *Runner) SkipPreview(agentID, contactID string) error {
	now := r.m.now()
	r.mu.Lock()
	e, err := r.previewedLocked(agentID, contactID)
	if err != nil {
		r.mu.Unlock()
		return err
	}
	delete(r.previews, agentID)
	r.m.release(agentID, r.spec.Name)
	if e.p.Counts == nil {
		e.p.Counts = map[Outcome]int{}
	}
	e.p.Counts[Skipped]++
	r.outcomes[Skipped]++
	e.p.History = append(e.p.History, AttemptRecord{Attempt: e.p.Attempts + 1, Agent: agentID, Started: e.p.Since, Ended: now, Outcome: Skipped})
	d := decide(r.spec.Retry, r.spec.MaxAttempts, Skipped, e.p.Attempts, e.p.Counts[Skipped], now)
	if d.done {
		if e.p.LastOutcome == "" {
			e.p.LastOutcome = Skipped
		}
		r.move(e, Done)
	} else {
		e.p.NextAt = d.nextAt
		r.move(e, RetryWait)
	}
	r.checkCompleted()
	b := r.takeBatch()
	r.mu.Unlock()
	r.save(b)
	r.emit()
	r.nudge()
	return nil
}

// agentUnavailable withdraws an agent's preview (the agent took an
// inbound call or signed out); it reports whether there was one.
func (r *Runner) agentUnavailable(agentID string) bool {
	r.mu.Lock()
	e := r.previews[agentID]
	if e == nil {
		r.mu.Unlock()
		return false
	}
	r.unpreview(e)
	b := r.takeBatch()
	r.mu.Unlock()
	r.withdraw([]withdrawal{{agentID, e.ID}})
	r.save(b)
	r.emit()
	return true
}

// addDNC puts a normalised number on the campaign's do-not-call list and
// finishes its contact, if any (a contact in a call is finished by its
// result).
func (r *Runner) addDNC(number string) {
	r.mu.Lock()
	if !r.dnc.Has(number) {
		r.dnc.Add(number)
		r.dncAdded = append(r.dncAdded, number)
	}
	var ws []withdrawal
	if e := r.byNumber[number]; e != nil {
		if e.p.State == Previewing {
			ws = append(ws, withdrawal{e.p.Agent, e.ID})
			r.unpreview(e)
		}
		r.markDNC(e)
	}
	r.checkCompleted()
	b := r.takeBatch()
	r.mu.Unlock()
	r.withdraw(ws)
	r.save(b)
	r.emit()
}

// Progress is a campaign's figures for the supervisor page and the API.
type Progress struct {
	Campaign string `json:"campaign"`
	Mode     Mode   `json:"mode"`
	State    State  `json:"state"`
	// Seq grows with every event of this campaign; a consumer keeps the
	// highest it saw.
	Seq   uint64 `json:"seq"`
	Total int    `json:"total"` // contacts in the list
	// Dialled counts contacts dialled at least once; Attempts the calls
	// placed.
	Dialled  int `json:"dialled"`
	Attempts int `json:"attempts"`
	// Reached counts contacts who talked to an agent.
	Reached int `json:"reached"`
	// Finished counts contacts that will not be dialled again, whatever
	// the reason (the page's "completed"); Remaining the others.
	Finished   int `json:"finished"`
	Remaining  int `json:"remaining"`
	DNC        int `json:"dnc"` // contacts marked do-not-call
	Previewing int `json:"previewing"`
	InFlight   int `json:"in_flight"`
	Waiting    int `json:"retry_wait"` // contacts waiting for a retry time
	// Outcomes counts attempt outcomes (skips and no_agent included);
	// Final the final outcomes of finished contacts.
	Outcomes map[Outcome]int `json:"outcomes"`
	Final    map[Outcome]int `json:"final"`
	// AbandonRate is abandoned / reached attempts over the campaign's
	// life (0 when none reached); Pacing.WindowRate the recent one.
	AbandonRate float64 `json:"abandon_rate"`
	Pacing      Pacing  `json:"pacing"`
	// InWindow: the default window is open now; Windows per region with
	// a window of its own.
	InWindow bool            `json:"in_window"`
	Windows  map[string]bool `json:"windows,omitempty"`
	// NextRetry is the earliest retry time of a waiting contact.
	NextRetry time.Time `json:"next_retry,omitzero"`
	Rejected  int       `json:"rejected"` // list rows rejected at import
	// Error is why the campaign paused itself (its progress could not be
	// saved), until the next start.
	Error string `json:"error,omitempty"`
	// Integrity counts refused state moves and stray results: bugs,
	// logged; 0 in a healthy dialler.
	Integrity int `json:"integrity_violations,omitempty"`
}

// Progress returns the campaign's figures now.
func (r *Runner) Progress() Progress {
	now := r.m.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.progressLocked(now)
}

func (r *Runner) progressLocked(now time.Time) Progress {
	p := Progress{
		Campaign: r.spec.Name, Mode: r.spec.Mode, State: r.state, Seq: r.seq, Total: len(r.contacts),
		Dialled: r.dialled, Attempts: r.attempts, Reached: r.reached, Finished: r.stateCount[Done],
		Remaining: r.remaining(), DNC: r.dncContacts, Previewing: r.stateCount[Previewing],
		InFlight: r.stateCount[Dialling], Waiting: r.stateCount[RetryWait],
		Outcomes: copyCounts(r.outcomes), Final: copyCounts(r.final), Pacing: r.pacer.decide(now),
		InWindow: r.windows[0].Open(now), NextRetry: r.waiting.next(), Rejected: r.report.RejectedCount,
		Error: r.storeFailed, Integrity: r.integrity,
	}
	if r.pacer.totalReached > 0 {
		p.AbandonRate = float64(r.pacer.totalAbandoned) / float64(r.pacer.totalReached)
	}
	if len(r.windows) > 1 {
		p.Windows = make(map[string]bool, len(r.windows)-1)
		for _, w := range r.windows[1:] {
			p.Windows[w.Name] = w.Open(now)
		}
	}
	return p
}

func copyCounts(m map[Outcome]int) map[Outcome]int {
	out := make(map[Outcome]int, len(m))
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// emitKey is what makes a progress event worth sending.
type emitKey struct {
	version, stateVersion uint64
	inWindow, hold        bool
	storeFailed           string
}

// emit sends the campaign's progress to the Manager's listener when it
// changed since the last event.
func (r *Runner) emit() {
	if r.m.onProgress == nil {
		return
	}
	now := r.m.now()
	r.mu.Lock()
	p := r.progressLocked(now)
	k := emitKey{r.version, r.stateVersion, p.InWindow, p.Pacing.Hold, r.storeFailed}
	if k == r.emitted {
		r.mu.Unlock()
		return
	}
	r.emitted = k
	r.seq++
	p.Seq = r.seq
	r.mu.Unlock()
	r.m.onProgress(p)
}

// Spec returns the campaign's spec.
func (r *Runner) Spec() *Spec { return r.spec }

// ImportReport returns what the list import did.
func (r *Runner) ImportReport() ImportReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.report
}

// Contacts returns the contacts and their progress, in list order.
func (r *Runner) Contacts() []ContactView {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]ContactView, len(r.contacts))
	for i, e := range r.contacts {
		out[i] = ContactView{Contact: e.Contact, Progress: e.p.clone(), DNC: r.dnc.Has(e.Number)}
	}
	return out
}

// ContactView is a contact with its progress.
type ContactView struct {
	Contact
	Progress ContactProgress
	DNC      bool // the number is on the do-not-call list now
}
