package acd

import (
	"errors"
	"fmt"
	"time"

	"github.com/hotlinecc/hotline/routing"
)

// AgentSnapshot is an agent's live state (seat map, desktop).
type AgentSnapshot struct {
	Profile   AgentProfile
	State     State
	Reason    string
	Since     time.Time
	CallID    string
	Caller    string
	Requested bool      // manual mode: waiting for the requested call
	WrapUntil time.Time // in wrap-up
	// Node is the node serving the agent's desktop and phone when that
	// is not this one (cluster).
	Node string
	// CallNode is the node holding the agent's call when that is not this
	// one: call control for it goes there.
	CallNode string
}

// CallSnapshot is a call's live state.
type CallSnapshot struct {
	Call    Call
	State   string // queued, ringing, talking, held
	AgentID string
	Offers  int // times offered (ring-no-answer re-offers)
	// Node is the node holding the caller when that is not this one.
	Node string
}

func (a *ACD) agentLocked(id string) (*agent, error) {
	ag := a.agents[id]
	if ag == nil {
		return nil, fmt.Errorf("agent %s: %w", id, ErrUnknownAgent)
	}
	return ag, nil
}

// localAgentLocked is agentLocked for the agent's own and supervisors'
// state changes, which only the agent's home node may make.
func (a *ACD) localAgentLocked(id string) (*agent, error) {
	ag, err := a.agentLocked(id)
	if err == nil && ag.home != "" {
		return nil, fmt.Errorf("agent %s: %w: signed in on node %s", id, ErrRemoteAgent, ag.home)
	}
	return ag, err
}

// check is the legality test for agent and supervisor actions: the state
// machine, minus the moves out of Reserved that only the offer life cycle
// makes (answer, abandon, ring-no-answer). Signing out while ringing is
// allowed and re-queues the call.
func (a *ACD) check(ag *agent, to State) error {
	if CanTransition(ag.state, to) && (ag.state != Reserved || to == LoggedOut) {
		return nil
	}
	reason := "not allowed by the agent state machine"
	switch {
	case ag.state == to:
		reason = "already " + string(to)
	case ag.state == Talking || ag.state == Held:
		reason = "agent is on a call"
	case ag.state == Reserved:
		reason = "agent phone is ringing"
	}
	return &TransitionError{Agent: ag.profile.ID, From: ag.state, To: to, Reason: reason}
}

// setState moves ag to `to`, writes the finished state to the state log,
// keeps the router's idle pool in step and publishes the change. Callers
// have checked legality; an illegal internal move is logged as a bug.
func (a *ACD) setState(ag *agent, to State, reason string, now time.Time) {
	if ag.home != "" {
		// Another node's agent: its home judges the move (it may have
		// reserved the agent already) and applies it.
		a.mirrorState(ag, to, reason, now)
		return
	}
	if !CanTransition(ag.state, to) {
		a.logger.Error("acd: internal illegal transition", "agent", ag.profile.ID, "from", ag.state, "to", to)
	}
	prev := ag.state
	if !ag.since.IsZero() {
		a.slog.Record(StateRecord{AgentID: ag.profile.ID, Seat: ag.profile.Seat, State: ag.state, Reason: ag.reason,
			CallID: ag.stateCall, Caller: ag.stateCaller, Start: ag.since, End: now})
	}
	if prev == Ready {
		_ = a.router.SetBusy(ag.profile.ID)
		// A manual-mode request is for this ready spell only.
		ag.requested = false
	}
	ag.state, ag.reason, ag.since = to, reason, now
	ag.stateCall, ag.stateCaller = ag.callID, ag.caller
	ag.warned = false
	if to != LoggedOut {
		rec := ag.record()
		a.storeErr("save agent", a.store.SaveAgent(a.ctx, rec))
		if to != Ready {
			// Ready is announced by makeAvailable, and only if no caller
			// takes the agent at once: other nodes would race for it.
			a.send(ClusterMsg{Kind: MsgAgent, Agent: &rec})
		}
	}
	a.publish(Event{Type: EventAgentState, At: now, AgentID: ag.profile.ID, State: to, Prev: prev, Reason: reason, CallID: ag.callID, Caller: ag.caller, Node: ag.callNode})
}

// makeAvailable gives a Ready agent the best waiting call, or puts it in
// the idle pool. Manual-mode agents are only available after RequestCall.
func (a *ACD) makeAvailable(ag *agent, now time.Time) {
	if ag.state != Ready || a.closed || ag.home != "" || ag.leaving {
		return // a mirror becomes idle on its home's word; a leaving agent never
	}
	id := ag.profile.ID
	announce := func() {
		if a.cluster != nil {
			rec := ag.record()
			a.send(ClusterMsg{Kind: MsgAgent, Agent: &rec})
		}
	}
	if (ag.profile.Mode == ManualMode && !ag.requested) || a.inflight[id] > 0 {
		_ = a.router.SetBusy(id)
		announce()
		return
	}
	for range maxClaimTries {
		start := time.Now()
		rc, ok, _ := a.router.AgentFreed(id, now)
		a.observeDecision("agent_freed", start)
		c := a.calls[rc.ID]
		if !ok || c == nil {
			break
		}
		err := a.match(ag, c, now)
		if err == nil {
			return
		}
		if c.owner == "" || !errors.Is(err, ErrCallTaken) {
			break
		}
		// Another node's caller just taken by a third: drop the mirror from
		// routing until its node reports it waiting again, try the next.
		_, _ = a.router.RemoveCall(rc.ID)
	}
	_ = a.router.SetIdle(id, now)
	announce()
}

func routingAgent(p AgentProfile) routing.Agent {
	return routing.Agent{ID: p.ID, Skills: p.Skills, Groups: p.Groups, Region: p.Region}
}

func (a *ACD) validateProfile(p *AgentProfile) error {
	if p.ID == "" {
		return fmt.Errorf("login: %w: empty agent id", ErrInvalidConfig)
	}
	if p.Seat == "" {
		p.Seat = p.ID
	}
	switch p.Mode {
	case "":
		p.Mode = AutoMode
	case AutoMode, ManualMode:
	default:
		return fmt.Errorf("login %s: %w: mode %q", p.ID, ErrInvalidConfig, p.Mode)
	}
	for q, l := range p.Skills {
		if !hasQueue(a.cfg.Routing, q) {
			return fmt.Errorf("login %s: skill %q: %w", p.ID, q, routing.ErrUnknownQueue)
		}
		if l < 1 {
			return fmt.Errorf("login %s: skill %q: %w: level %d", p.ID, q, routing.ErrInvalidAgent, l)
		}
	}
	return nil
}

// Login signs an agent in on its seat; the agent starts ready.
func (a *ACD) Login(p AgentProfile) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.loginLocked(p, "login")
}

func (a *ACD) loginLocked(p AgentProfile, reason string) error {
	if a.closed {
		return fmt.Errorf("login: %w", ErrClosed)
	}
	if err := a.validateProfile(&p); err != nil {
		return err
	}
	if ag := a.agents[p.ID]; ag != nil {
		if ag.home != "" {
			return fmt.Errorf("login %s: %w on node %s", p.ID, ErrAlreadyLoggedIn, ag.home)
		}
		return fmt.Errorf("login %s: %w", p.ID, ErrAlreadyLoggedIn)
	}
	if other, ok := a.seats[p.Seat]; ok {
		return fmt.Errorf("login %s at seat %s: %w (agent %s)", p.ID, p.Seat, ErrSeatBusy, other)
	}
	p.Skills = cloneMap(p.Skills)
	if err := a.router.SetAgent(routingAgent(p)); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	now := a.now()
	ag := &agent{profile: p, state: LoggedOut}
	a.agents[p.ID] = ag
	a.seats[p.Seat] = p.ID
	for q := range p.Skills {
		a.loggedIn[q]++
	}
	a.setState(ag, Ready, reason, now)
	a.makeAvailable(ag, now)
	return nil
}

func cloneMap(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Logout signs an agent out. Refused while talking or on hold; while
// ringing the ring is cancelled and the call goes back to the queue head.
func (a *ACD) Logout(agentID string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.logoutLocked(agentID, "logout")
}

func (a *ACD) logoutLocked(agentID, reason string) error {
	ag, err := a.localAgentLocked(agentID)
	if err != nil {
		return err
	}
	if err := a.check(ag, LoggedOut); err != nil {
		return err
	}
	now := a.now()
	if ag.state == Reserved {
		if c := a.calls[ag.callID]; c != nil && c.ringCancel != nil {
			c.ringCancel() // ringDone re-queues the call
		}
		// Release now, not in ringDone, so that the agent may log in again
		// and be claimed before the cancelled ring has unwound.
		a.storeErr("release", a.store.Release(a.ctx, ag.callID, agentID))
		ag.callID, ag.caller = "", ""
	}
	a.setState(ag, LoggedOut, reason, now)
	_ = a.router.RemoveAgent(agentID)
	delete(a.agents, agentID)
	delete(a.seats, ag.profile.Seat)
	a.storeErr("delete agent", a.store.DeleteAgent(a.ctx, agentID))
	a.send(ClusterMsg{Kind: MsgAgentGone, ID: agentID})
	a.dropSkills(ag, now)
	return nil
}

// dropSkills uncounts a leaving agent's queues and overflows this node's
// callers waiting in a queue nobody serves any more.
func (a *ACD) dropSkills(ag *agent, now time.Time) {
	empty := map[string]bool{}
	for q := range ag.profile.Skills {
		a.loggedIn[q]--
		if a.loggedIn[q] <= 0 {
			delete(a.loggedIn, q)
			empty[q] = true
		}
	}
	if len(empty) > 0 {
		for _, c := range a.sortedCalls() {
			if c.state == callQueued && c.owner == "" && empty[c.info.Queue] && c.info.Callback == "" {
				a.overflowLocked(c, OverflowNoAgents, now)
			}
		}
	}
}

// ShiftChange signs the outgoing agent out and the incoming one in on the
// same seat, without the desktop restarting.
func (a *ACD) ShiftChange(outgoingID string, incoming AgentProfile) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	out, err := a.localAgentLocked(outgoingID)
	if err != nil {
		return err
	}
	if err := a.check(out, LoggedOut); err != nil {
		return err
	}
	if out.state == Reserved {
		return &TransitionError{Agent: outgoingID, From: Reserved, To: LoggedOut, Reason: "agent phone is ringing"}
	}
	incoming.Seat = out.profile.Seat
	if err := a.validateProfile(&incoming); err != nil {
		return err
	}
	if a.agents[incoming.ID] != nil {
		return fmt.Errorf("shift change to %s: %w", incoming.ID, ErrAlreadyLoggedIn)
	}
	// Keep the queues staffed across the change: count the incoming agent
	// before the outgoing one leaves, so no caller overflows in between.
	for q := range incoming.Skills {
		a.loggedIn[q]++
	}
	err = a.logoutLocked(outgoingID, "shift sign-out")
	for q := range incoming.Skills {
		a.loggedIn[q]--
	}
	if err != nil {
		return err
	}
	return a.loginLocked(incoming, "shift sign-in")
}

// SetReady makes an agent ready (also ends wrap-up early).
func (a *ACD) SetReady(agentID string) error { return a.ready(agentID, "agent") }

// ForceReady is the supervisor's force-ready.
func (a *ACD) ForceReady(supervisorID, agentID string) error {
	if a.forwardForce(ForceReady, supervisorID, agentID, "") {
		return nil
	}
	return a.ready(agentID, "forced by "+supervisorID)
}

func (a *ACD) ready(agentID, reason string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ag, err := a.localAgentLocked(agentID)
	if err != nil {
		return err
	}
	if err := a.check(ag, Ready); err != nil {
		return err
	}
	now := a.now()
	a.setState(ag, Ready, reason, now)
	a.makeAvailable(ag, now)
	return nil
}

// SetNotReady makes an agent busy with a reason code.
func (a *ACD) SetNotReady(agentID, reason string) error {
	return a.enter(agentID, NotReady, reason, "")
}

// ForceNotReady is the supervisor's force-busy.
func (a *ACD) ForceNotReady(supervisorID, agentID, reason string) error {
	if reason == "" {
		reason = "forced by " + supervisorID
	}
	if a.forwardForce(ForceNotReady, supervisorID, agentID, reason) {
		return nil
	}
	return a.enter(agentID, NotReady, reason, "")
}

// ForceSignOut is the supervisor's force sign-out.
func (a *ACD) ForceSignOut(supervisorID, agentID string) error {
	if a.forwardForce(ForceSignOut, supervisorID, agentID, "") {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.logoutLocked(agentID, "forced sign-out by "+supervisorID)
}

// StartBreak puts an agent on break; the reason must be a configured break
// reason when any are configured. Overrunning its limit raises
// EventBreakOverrun.
func (a *ACD) StartBreak(agentID, reason string) error {
	if len(a.cfg.BreakReasons) > 0 {
		if _, ok := a.cfg.BreakReasons[reason]; !ok {
			return fmt.Errorf("break %s: reason %q: %w", agentID, reason, ErrUnknownReason)
		}
	}
	return a.enter(agentID, Break, reason, "")
}

// StartAdjust enters the adjust state (needs CanAdjust); after
// Config.AdjustWarn EventAdjustWarning is raised.
func (a *ACD) StartAdjust(agentID string) error { return a.enter(agentID, Adjust, "adjust", "adjust") }

// StartStudy enters the study state.
func (a *ACD) StartStudy(agentID string) error { return a.enter(agentID, Study, "study", "") }

// EnterWrapUp starts wrap-up by hand from ready (needs CanExtendWrapUp).
func (a *ACD) EnterWrapUp(agentID string) error {
	return a.enter(agentID, WrapUp, "by hand", "wrapup")
}

func (a *ACD) enter(agentID string, to State, reason, perm string) error {
	if reason == "" {
		reason = string(to)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	ag, err := a.localAgentLocked(agentID)
	if err != nil {
		return err
	}
	switch perm {
	case "adjust":
		if !ag.profile.CanAdjust {
			return fmt.Errorf("adjust %s: %w", agentID, ErrNotPermitted)
		}
	case "wrapup":
		if !ag.profile.CanExtendWrapUp {
			return fmt.Errorf("wrap-up %s: %w", agentID, ErrNotPermitted)
		}
	}
	if to == NotReady && ag.state == NotReady && ag.reason == reason {
		return nil // same reason again: nothing changes
	}
	if to == WrapUp && ag.state != Ready {
		return &TransitionError{Agent: agentID, From: ag.state, To: WrapUp, Reason: "wrap-up by hand only from ready"}
	}
	if err := a.check(ag, to); err != nil {
		return err
	}
	now := a.now()
	if to == WrapUp {
		ag.wrapUntil, ag.wrapExtended = now.Add(a.cfg.WrapUp), 0
	}
	a.setState(ag, to, reason, now)
	return nil
}

// ExtendWrapUp lengthens the current wrap-up (needs CanExtendWrapUp; at
// most Config.MaxWrapUpExtension in total per wrap-up).
func (a *ACD) ExtendWrapUp(agentID string, d time.Duration) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ag, err := a.localAgentLocked(agentID)
	if err != nil {
		return err
	}
	if !ag.profile.CanExtendWrapUp {
		return fmt.Errorf("extend wrap-up %s: %w", agentID, ErrNotPermitted)
	}
	if ag.state != WrapUp {
		return &TransitionError{Agent: agentID, From: ag.state, To: WrapUp, Reason: "not in wrap-up"}
	}
	if d <= 0 || ag.wrapExtended+d > a.cfg.MaxWrapUpExtension {
		return fmt.Errorf("extend wrap-up %s by %s: %w: limit %s", agentID, d, ErrNotPermitted, a.cfg.MaxWrapUpExtension)
	}
	ag.wrapExtended += d
	ag.wrapUntil = ag.wrapUntil.Add(d)
	return nil
}

// RequestCall is the manual-mode "next call": the agent gets the best
// waiting call now, or the next one to arrive.
func (a *ACD) RequestCall(agentID string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ag, err := a.localAgentLocked(agentID)
	if err != nil {
		return err
	}
	if ag.state != Ready {
		return &TransitionError{Agent: agentID, From: ag.state, To: Reserved, Reason: "request call only when ready"}
	}
	ag.requested = true
	a.makeAvailable(ag, a.now())
	return nil
}

func snapshotAgent(ag *agent) AgentSnapshot {
	p := ag.profile
	p.Skills = cloneMap(p.Skills)
	s := AgentSnapshot{Profile: p, State: ag.state, Reason: ag.reason, Since: ag.since, CallID: ag.callID, Caller: ag.caller, Requested: ag.requested,
		Node: ag.home, CallNode: ag.callNode}
	if ag.state == WrapUp {
		s.WrapUntil = ag.wrapUntil
	}
	return s
}

// Agent returns one agent's live state.
func (a *ACD) Agent(id string) (AgentSnapshot, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ag, err := a.agentLocked(id)
	if err != nil {
		return AgentSnapshot{}, err
	}
	return snapshotAgent(ag), nil
}

// Agents returns every logged-in agent (the seat map), by id.
func (a *ACD) Agents() []AgentSnapshot {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []AgentSnapshot
	for _, ag := range a.sortedAgents() {
		out = append(out, snapshotAgent(ag))
	}
	return out
}

// Call returns one call of the ACD.
func (a *ACD) Call(id string) (CallSnapshot, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.calls[id]
	if c == nil {
		return CallSnapshot{}, false
	}
	return CallSnapshot{Call: cloneCall(c.info), State: c.state.String(), AgentID: c.agentID, Offers: c.offers, Node: c.owner}, true
}

// Calls returns the calls in the ACD by enqueue time.
func (a *ACD) Calls() []CallSnapshot {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []CallSnapshot
	for _, c := range a.sortedCalls() {
		st := c.state.String()
		out = append(out, CallSnapshot{Call: cloneCall(c.info), State: st, AgentID: c.agentID, Offers: c.offers, Node: c.owner})
	}
	return out
}

// ServiceLevels returns each tier's current service level.
func (a *ACD) ServiceLevels() []routing.ServiceLevel {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	var out []routing.ServiceLevel
	for _, t := range a.cfg.Routing.Tiers {
		if sl, err := a.router.ServiceLevel(t.Name, now); err == nil {
			out = append(out, sl)
		}
	}
	return out
}
