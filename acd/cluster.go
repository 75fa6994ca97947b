package acd

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Cluster links the ACDs of several engine nodes that share one Store.
//
// Each node anchors the media of the callers it answered and serves the
// agents whose desktop and phone it holds. Every node mirrors the other
// nodes' agents and waiting callers (from the messages below) so that its
// router sees the whole centre: a caller arriving here gets the best agent
// of any node, and an agent freed here gets the best waiting caller of any
// node. The Store's atomic Claim is the only arbiter: whichever node wins
// the claim of (call, agent) makes the offer, so no call is offered to two
// agents and no agent gets two calls, however the nodes race. The node
// holding the call always rings the agent's phone and bridges; the node
// serving the agent always owns the agent's state: call-driven changes a
// node makes to another node's agent are sent there (MsgAgentState).
//
// Messages are best effort (a lost one is repaired by the periodic
// MsgSnapshot, which every node sends every SnapshotEvery) but must arrive
// in the order a node sent them.
type Cluster interface {
	// Node names this node; unique among the nodes sharing the Store.
	Node() string
	// Send hands m to the transport. It is called with the ACD lock held
	// and must not block.
	Send(m ClusterMsg)
}

// SnapshotEvery is how often Run sends this node's state to the others.
const SnapshotEvery = 2 * time.Second

// MsgKind says what a ClusterMsg carries.
type MsgKind string

// Message kinds.
const (
	// MsgAgent (broadcast by the agent's home): the agent's state.
	MsgAgent MsgKind = "agent"
	// MsgAgentGone (broadcast by the home): the agent signed out.
	MsgAgentGone MsgKind = "agent-gone"
	// MsgCall (broadcast by the call's node): a call's state.
	MsgCall MsgKind = "call"
	// MsgCallGone (broadcast by the call's node): the call left the ACD.
	MsgCallGone MsgKind = "call-gone"
	// MsgAgentState (to the agent's home, from the call's node): the call
	// moved the agent (reserved, talking, held, wrap-up, not ready after
	// no answer, ready after an abandon or a withdrawn offer).
	MsgAgentState MsgKind = "agent-state"
	// MsgOffer (to the call's node, from the agent's home): the home
	// claimed the call for its agent; the call's node rings the phone.
	MsgOffer MsgKind = "offer"
	// MsgRefuse (to the call's node, from the agent's home): the agent
	// could not take the reservation the call's node made.
	MsgRefuse MsgKind = "refuse"
	// MsgSample (broadcast): an answer or abandon for the service-level
	// windows every router keeps.
	MsgSample MsgKind = "sample"
	// MsgSnapshot (broadcast): every agent and call the sender serves.
	MsgSnapshot MsgKind = "snapshot"
	// MsgHello (broadcast): the sender (re)joined; everyone sends a
	// snapshot.
	MsgHello MsgKind = "hello"
	// MsgNodeGone (broadcast by the node that reaped it): a node's lease
	// ran out; everything it served is gone.
	MsgNodeGone MsgKind = "node-gone"
	// MsgForce (to the agent's home): a supervisor on another node forced
	// the agent ready, not ready (Reason) or signed out.
	MsgForce MsgKind = "force"
)

// Force is a supervisor's forced change of an agent's state.
type Force string

// Forced changes.
const (
	ForceReady    Force = "ready"
	ForceNotReady Force = "not-ready"
	ForceSignOut  Force = "sign-out"
)

// ClusterMsg is one message between the ACDs of a cluster.
type ClusterMsg struct {
	Kind MsgKind `json:"kind"`
	From string  `json:"from"`
	To   string  `json:"to,omitempty"` // "" = every node
	// ID is the agent (MsgAgentGone), call (MsgCallGone) or node
	// (MsgNodeGone) concerned.
	ID      string        `json:"id,omitempty"`
	AgentID string        `json:"agent_id,omitempty"`
	CallID  string        `json:"call_id,omitempty"`
	Agent   *AgentRecord  `json:"agent_rec,omitempty"`
	Call    *CallRecord   `json:"call_rec,omitempty"`
	Sample  *Sample       `json:"sample,omitempty"`
	Agents  []AgentRecord `json:"agents,omitempty"`
	Calls   []CallRecord  `json:"calls,omitempty"`
	// WrapUntil ends the wrap-up a call's node started (MsgAgentState).
	WrapUntil time.Time `json:"wrap_until,omitzero"`
	// Force, Supervisor and Reason describe a MsgForce.
	Force      Force  `json:"force,omitempty"`
	Supervisor string `json:"supervisor,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// forwardForce sends a supervisor's force on another node's agent to that
// node, which alone changes the agent's state; it reports whether it did.
// The change comes back like any other state change of that agent.
func (a *ACD) forwardForce(f Force, supervisorID, agentID, reason string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	ag := a.agents[agentID]
	if ag == nil || ag.home == "" || a.degraded {
		return false
	}
	a.send(ClusterMsg{Kind: MsgForce, To: ag.home, AgentID: agentID, Force: f, Supervisor: supervisorID, Reason: reason})
	return true
}

// applyForce is the home running a force another node's supervisor made.
// It runs after the lock is released: the force methods take it.
func (a *ACD) applyForce(m ClusterMsg) {
	var err error
	switch m.Force {
	case ForceReady:
		err = a.ForceReady(m.Supervisor, m.AgentID)
	case ForceNotReady:
		err = a.ForceNotReady(m.Supervisor, m.AgentID, m.Reason)
	case ForceSignOut:
		err = a.ForceSignOut(m.Supervisor, m.AgentID)
	default:
		err = errors.New("unknown force " + string(m.Force))
	}
	if err != nil {
		a.logger.Warn("acd: forced change from another node refused", "agent", m.AgentID, "force", m.Force,
			"supervisor", m.Supervisor, "node", m.From, "err", err)
	}
}

// Sample is one answered or abandoned call for the service-level windows.
type Sample struct {
	Kind  string        `json:"kind"` // answered, abandoned
	Queue string        `json:"queue"`
	Tier  string        `json:"tier"`
	Wait  time.Duration `json:"wait"`
	At    time.Time     `json:"at"`
}

const (
	slAnswered  = "answered"
	slAbandoned = "abandoned"
)

func (ag *agent) record() AgentRecord {
	return AgentRecord{Profile: ag.profile, State: ag.state, Reason: ag.reason, Since: ag.since, CallID: ag.callID}
}

func (c *call) record() CallRecord {
	return CallRecord{Call: c.info, State: c.state.String(), AgentID: c.agentID}
}

// send stamps and hands m to the cluster; a degraded node sends nothing.
func (a *ACD) send(m ClusterMsg) {
	if a.cluster == nil || a.degraded {
		return
	}
	m.From = a.node
	a.cluster.Send(m)
}

// saveCall writes a local call to the store and tells the other nodes.
func (a *ACD) saveCall(c *call) {
	if c.owner != "" {
		return
	}
	r := c.record()
	a.storeErr("save call", a.store.SaveCall(a.ctx, r))
	if a.cluster != nil {
		r.Call = cloneCall(r.Call)
		a.send(ClusterMsg{Kind: MsgCall, Call: &r})
	}
}

func (a *ACD) deleteCall(id string) {
	a.storeErr("delete call", a.store.DeleteCall(a.ctx, id))
	if a.cluster != nil {
		a.send(ClusterMsg{Kind: MsgCallGone, ID: id})
	}
}

func (a *ACD) shareSample(kind string, c *call, wait time.Duration) {
	if a.cluster == nil {
		return
	}
	a.send(ClusterMsg{Kind: MsgSample, Sample: &Sample{Kind: kind, Queue: c.info.Queue, Tier: c.info.Tier, Wait: wait, At: a.now()}})
}

// errNotOurs refuses a match of another node's call with another node's
// agent: theirs to decide.
var errNotOurs = errors.New("neither the call nor the agent is this node's")

// match acts on a routing decision pairing ag and c.
func (a *ACD) match(ag *agent, c *call, now time.Time) error {
	switch {
	case c.owner == "":
		return a.offer(ag, c, now)
	case ag.home == "":
		return a.offerRemoteCall(ag, c, now)
	}
	return errNotOurs
}

// offerRemoteCall claims another node's waiting caller for a local agent
// and asks that node to ring the agent's phone; the agent stays reserved
// until the call's node reports how the ring ended.
func (a *ACD) offerRemoteCall(ag *agent, c *call, now time.Time) error {
	if a.degraded {
		return ErrStoreUnavailable
	}
	if err := a.store.Claim(a.ctx, c.info.ID, ag.profile.ID); err != nil {
		a.logger.Info("acd: claim of remote call refused", "call", c.info.ID, "node", c.owner, "agent", ag.profile.ID, "err", err)
		if !errors.Is(err, ErrClaimed) {
			// The reply may be lost after the claim was made.
			a.storeErr("release", a.store.Release(a.ctx, c.info.ID, ag.profile.ID))
		}
		return err
	}
	if a.router.HasCall(c.info.ID) {
		_, _ = a.router.RemoveCall(c.info.ID)
	}
	_ = a.router.Assigned(ag.profile.ID, c.info.Queue)
	ag.requested = false
	ag.callID, ag.caller, ag.callNode = c.info.ID, c.info.Caller, c.owner
	c.state, c.agentID = callRinging, ag.profile.ID
	a.setState(ag, Reserved, "offer", now)
	a.publish(Event{Type: EventCallOffered, At: now, AgentID: ag.profile.ID, CallID: c.info.ID, Caller: c.info.Caller,
		Queue: c.info.Queue, Tier: c.info.Tier, Wait: now.Sub(c.info.EnqueuedAt), Node: c.owner})
	rec := ag.record()
	a.send(ClusterMsg{Kind: MsgOffer, To: c.owner, AgentID: ag.profile.ID, CallID: c.info.ID, Agent: &rec})
	return nil
}

// mirrorState is setState for another node's agent: this node's call moved
// it, so the agent's home is told and applies it to the real agent.
func (a *ACD) mirrorState(ag *agent, to State, reason string, now time.Time) {
	callID := ag.callID
	if callID == "" {
		callID = ag.stateCall
	}
	prev := ag.state
	if prev == Ready {
		_ = a.router.SetBusy(ag.profile.ID)
	}
	ag.state, ag.reason, ag.since = to, reason, now
	ag.stateCall, ag.stateCaller = ag.callID, ag.caller
	// Supervisors here and this node's call records follow the agent too
	// (the record's wrap-up time ends with the agent's next state).
	a.publish(Event{Type: EventAgentState, At: now, AgentID: ag.profile.ID, State: to, Prev: prev, Reason: reason, CallID: callID, Caller: ag.caller, Node: ag.home})
	m := ClusterMsg{Kind: MsgAgentState, To: ag.home, AgentID: ag.profile.ID, CallID: callID, WrapUntil: ag.wrapUntil,
		Agent: &AgentRecord{Profile: ag.profile, State: to, Reason: reason, Since: now, CallID: ag.callID}}
	if c := a.calls[callID]; c != nil && c.owner == "" {
		r := c.record()
		r.Call = cloneCall(r.Call)
		m.Call = &r
	}
	a.send(m)
}

// engaged reports whether a mirror is ringing or talking on one of this
// node's calls: then this node, not the agent's home, knows its state.
func (a *ACD) engaged(ag *agent) bool {
	c := a.calls[ag.callID]
	return ag.callID != "" && c != nil && c.owner == "" && c.agentID == ag.profile.ID
}

// Receive applies a message from another node. The transport calls it.
func (a *ACD) Receive(m ClusterMsg) {
	if m.From == "" || m.From == a.node || (m.To != "" && m.To != a.node) {
		return
	}
	if m.Kind == MsgForce {
		if ag, err := a.Agent(m.AgentID); err == nil && ag.Node == "" && !a.Degraded() {
			a.applyForce(m)
		}
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || a.degraded {
		return
	}
	now := a.now()
	switch m.Kind {
	case MsgAgent:
		if m.Agent != nil {
			a.mirrorAgent(m.From, *m.Agent, now)
		}
	case MsgAgentGone:
		a.dropMirrorAgent(m.ID, m.From, now)
	case MsgCall:
		if m.Call != nil {
			a.mirrorCall(m.From, *m.Call)
		}
	case MsgCallGone:
		a.dropMirrorCall(m.ID, m.From, now)
	case MsgAgentState:
		a.applyAgentState(m, now)
	case MsgOffer:
		a.acceptOffer(m, now)
	case MsgRefuse:
		a.refused(m)
	case MsgSample:
		if s := m.Sample; s != nil {
			a.noteSample(*s)
			switch s.Kind {
			case slAnswered:
				_ = a.router.Answered(s.Queue, s.Tier, s.Wait, s.At)
			case slAbandoned:
				_, _ = a.router.Abandoned(s.Queue, s.Tier, s.Wait, s.At)
			}
		}
	case MsgSnapshot:
		a.applySnapshot(m.From, m.Agents, m.Calls, now)
	case MsgHello:
		a.sendSnapshot()
	case MsgNodeGone:
		if m.ID != a.node {
			a.applySnapshot(m.ID, nil, nil, now)
		}
	}
}

// mirrorAgent creates or updates the mirror of another node's agent.
func (a *ACD) mirrorAgent(home string, r AgentRecord, now time.Time) {
	id := r.Profile.ID
	ag := a.agents[id]
	if ag != nil && ag.home == "" {
		// Signed in here too: the agent's desktop moved; this node keeps
		// the agent it serves and the other node will hear about it.
		a.logger.Warn("acd: agent signed in on two nodes", "agent", id, "other", home)
		return
	}
	if ag == nil {
		if r.State == LoggedOut {
			return
		}
		p := r.Profile
		p.Skills = cloneMap(p.Skills)
		if err := a.router.SetAgent(routingAgent(p)); err != nil {
			a.logger.Warn("acd: mirror agent", "agent", id, "node", home, "err", err)
			return
		}
		ag = &agent{profile: p, home: home, state: LoggedOut}
		a.agents[id] = ag
		for q := range p.Skills {
			a.loggedIn[q]++
		}
	}
	ag.home = home
	if a.engaged(ag) {
		return // this node's ring or call knows better until it ends
	}
	if prev := ag.state; prev != r.State {
		a.publish(Event{Type: EventAgentState, At: now, AgentID: id, State: r.State, Prev: prev, Reason: r.Reason, CallID: r.CallID, Node: home})
	}
	ag.state, ag.reason, ag.since, ag.callID = r.State, r.Reason, r.Since, r.CallID
	if r.State == Ready && ag.profile.Mode != ManualMode {
		_ = a.router.SetIdle(id, r.Since)
	} else {
		_ = a.router.SetBusy(id)
	}
}

func (a *ACD) dropMirrorAgent(id, home string, now time.Time) {
	ag := a.agents[id]
	if ag == nil || ag.home == "" || ag.home != home {
		return
	}
	if c := a.calls[ag.callID]; a.engaged(ag) && c.ringCancel != nil {
		c.ringCancel() // ringDone puts the caller back at the queue head
	}
	_ = a.router.RemoveAgent(id)
	delete(a.agents, id)
	a.dropSkills(ag, now)
}

// mirrorCall creates or updates the mirror of another node's call.
func (a *ACD) mirrorCall(owner string, r CallRecord) {
	id := r.Call.ID
	c := a.calls[id]
	if c != nil && c.owner == "" {
		return
	}
	if c == nil {
		c = &call{owner: owner}
		a.calls[id] = c
	}
	c.info, c.owner = r.Call, owner
	if c.state == callRinging && c.agentID != "" && r.State == "queued" {
		// This node claimed it for one of its agents; the owner has not
		// seen the offer yet.
		if ag := a.agents[c.agentID]; ag != nil && ag.home == "" && ag.callID == id {
			return
		}
	}
	switch r.State {
	case "queued":
		c.state, c.agentID = callQueued, ""
		if !a.router.HasCall(id) {
			if err := a.router.AddCall(c.routingCall()); err != nil {
				a.logger.Warn("acd: mirror call", "call", id, "node", owner, "err", err)
			}
		}
		return
	case "ringing":
		c.state = callRinging
	case "parked":
		c.state = callParked
	case "held":
		c.state = callHeld
	default:
		c.state = callTalking
	}
	c.agentID = r.AgentID
	if a.router.HasCall(id) {
		_, _ = a.router.RemoveCall(id)
	}
}

func (a *ACD) dropMirrorCall(id, owner string, now time.Time) {
	c := a.calls[id]
	if c == nil || c.owner == "" || c.owner != owner {
		return
	}
	if a.router.HasCall(id) {
		_, _ = a.router.RemoveCall(id)
	}
	delete(a.calls, id)
	// A local agent reserved for it and never rung: the owner dropped the
	// call before it saw the offer.
	if ag := a.agents[c.agentID]; ag != nil && ag.home == "" && ag.callID == id && ag.state == Reserved {
		a.storeErr("release", a.store.Release(a.ctx, id, ag.profile.ID))
		a.freeAgent(ag, "caller gone", now)
	}
}

// freeAgent makes a local agent reserved for another node's call ready.
func (a *ACD) freeAgent(ag *agent, reason string, now time.Time) {
	ag.callID, ag.caller, ag.callNode = "", "", ""
	a.setState(ag, Ready, reason, now)
	a.makeAvailable(ag, now)
}

// applyAgentState is the agent's home applying what another node's call
// did to it.
func (a *ACD) applyAgentState(m ClusterMsg, now time.Time) {
	ag := a.agents[m.AgentID]
	if ag == nil || ag.home != "" || m.Agent == nil {
		if m.Agent != nil && m.Agent.State == Reserved {
			a.send(ClusterMsg{Kind: MsgRefuse, To: m.From, AgentID: m.AgentID, CallID: m.CallID})
		}
		return
	}
	if m.Call != nil {
		a.mirrorCall(m.From, *m.Call)
	}
	to := m.Agent.State
	ev := Event{At: now, AgentID: ag.profile.ID, CallID: m.CallID, Node: m.From}
	if c := a.calls[m.CallID]; c != nil {
		ev.Caller, ev.Queue, ev.Tier, ev.Wait = c.info.Caller, c.info.Queue, c.info.Tier, now.Sub(c.info.EnqueuedAt)
	}
	if to == Reserved {
		switch {
		case ag.state == Reserved && ag.callID == m.CallID:
			return // this node's own claim, echoed by the call's node
		case ag.state != Ready:
			a.send(ClusterMsg{Kind: MsgRefuse, To: m.From, AgentID: m.AgentID, CallID: m.CallID})
			return
		}
		ag.callID, ag.callNode = m.CallID, m.From
		ag.caller = ev.Caller
		a.setState(ag, Reserved, m.Agent.Reason, now)
		ev.Type = EventCallOffered
		a.publish(ev)
		return
	}
	if ag.callID != m.CallID || ag.callNode != m.From {
		return // stale: the agent has moved on
	}
	switch to {
	case Talking:
		if !CanTransition(ag.state, Talking) {
			return
		}
		ev.Type = EventCallAnswered
		if ag.state == Held {
			ev.Type = EventCallRetrieved
		}
		a.setState(ag, Talking, m.Agent.Reason, now)
		a.publish(ev)
	case Held:
		a.setState(ag, Held, m.Agent.Reason, now)
		ev.Type = EventCallHeld
		a.publish(ev)
	case WrapUp:
		ag.wrapUntil, ag.wrapExtended = m.WrapUntil, 0
		a.setState(ag, WrapUp, m.Agent.Reason, now)
		ag.callID, ag.caller, ag.callNode = "", "", ""
		ev.Type, ev.Reason = EventCallEnded, m.Agent.Reason
		a.publish(ev)
	case NotReady:
		ag.callID, ag.caller, ag.callNode = "", "", ""
		a.setState(ag, NotReady, m.Agent.Reason, now)
		ev.Type, ev.Reason = EventCallRONA, m.Agent.Reason
		a.publish(ev)
	case Ready:
		a.freeAgent(ag, m.Agent.Reason, now)
	}
}

// acceptOffer is the call's node ringing another node's agent after that
// node claimed this node's waiting caller for it.
func (a *ACD) acceptOffer(m ClusterMsg, now time.Time) {
	c := a.calls[m.CallID]
	ag := a.agents[m.AgentID]
	if ag == nil && m.Agent != nil {
		a.mirrorAgent(m.From, *m.Agent, now)
		ag = a.agents[m.AgentID]
	}
	if c == nil || c.owner != "" || c.state != callQueued || ag == nil || ag.home != m.From || a.engaged(ag) {
		a.storeErr("release", a.store.Release(a.ctx, m.CallID, m.AgentID))
		a.send(ClusterMsg{Kind: MsgAgentState, To: m.From, AgentID: m.AgentID, CallID: m.CallID,
			Agent: &AgentRecord{Profile: AgentProfile{ID: m.AgentID}, State: Ready, Reason: "offer withdrawn"}})
		return
	}
	ag.callID, ag.caller = c.info.ID, c.info.Caller
	a.ringClaimed(ag, c, now) // the home reserved it already; it ignores the echo
}

// refused is the call's node hearing that the agent it reserved could not
// take the call: the ring is cancelled and the caller goes back to the
// queue head.
func (a *ACD) refused(m ClusterMsg) {
	ag := a.agents[m.AgentID]
	if ag == nil || ag.home == "" || ag.callID != m.CallID || !a.engaged(ag) {
		return
	}
	c := a.calls[m.CallID]
	ag.callID, ag.caller = "", ""
	ag.state = NotReady // not here any more for ringDone; its home's word follows
	_ = a.router.SetBusy(ag.profile.ID)
	if c.ringCancel != nil {
		c.ringCancel()
	}
}

// sendSnapshot tells the other nodes everything this node serves.
func (a *ACD) sendSnapshot() {
	if a.cluster == nil || a.degraded {
		return
	}
	m := ClusterMsg{Kind: MsgSnapshot}
	for _, ag := range a.sortedAgents() {
		if ag.home == "" {
			m.Agents = append(m.Agents, ag.record())
		}
	}
	for _, c := range a.sortedCalls() {
		if c.owner == "" {
			r := c.record()
			r.Call = cloneCall(r.Call)
			m.Calls = append(m.Calls, r)
		}
	}
	a.send(m)
}

// ShareState sends this node's snapshot now (Run does it every
// SnapshotEvery).
func (a *ACD) ShareState() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sendSnapshot()
}

// applySnapshot makes the mirrors of node's agents and calls exactly what
// node says it serves; a node that died serves nothing. Local agents
// reserved for or talking on node's calls that are gone are freed.
func (a *ACD) applySnapshot(node string, agents []AgentRecord, calls []CallRecord, now time.Time) {
	seenAgents := map[string]bool{}
	for _, r := range agents {
		seenAgents[r.Profile.ID] = true
		a.mirrorAgent(node, r, now)
	}
	seenCalls := map[string]CallRecord{}
	for _, r := range calls {
		seenCalls[r.Call.ID] = r
		a.mirrorCall(node, r)
	}
	for _, ag := range a.sortedAgents() {
		if ag.home == node && !seenAgents[ag.profile.ID] {
			a.dropMirrorAgent(ag.profile.ID, node, now)
		}
	}
	for _, c := range a.sortedCalls() {
		if c.owner == node {
			if _, ok := seenCalls[c.info.ID]; !ok {
				a.dropMirrorCall(c.info.ID, node, now)
			}
		}
	}
	// Local agents whose call on node ended while messages were lost.
	for _, ag := range a.sortedAgents() {
		if ag.home != "" || ag.callNode != node || ag.callID == "" {
			continue
		}
		r, ok := seenCalls[ag.callID]
		switch {
		case ok && r.AgentID == ag.profile.ID:
			continue
		case ok && ag.state == Reserved && now.Sub(ag.since) < 2*SnapshotEvery:
			continue // the offer may still be on its way to node
		}
		a.releaseRemote(ag, "call's node gone", now)
	}
}

// releaseRemote frees a local agent whose call on another node is gone:
// reserved, it is ready again; talking or held, its call ended and it goes
// to wrap-up.
func (a *ACD) releaseRemote(ag *agent, why string, now time.Time) {
	a.storeErr("release", a.store.Release(a.ctx, ag.callID, ag.profile.ID))
	switch ag.state {
	case Reserved:
		a.freeAgent(ag, "call gone", now)
	case Talking, Held:
		a.publish(Event{Type: EventCallEnded, At: now, AgentID: ag.profile.ID, CallID: ag.callID, Reason: "node", Node: ag.callNode})
		ag.wrapUntil, ag.wrapExtended = now.Add(a.cfg.WrapUp), 0
		a.setState(ag, WrapUp, why, now)
		ag.callID, ag.caller, ag.callNode = "", "", ""
	}
}

// Degraded reports whether the ACD runs on its own agents only because the
// shared state is unreachable.
func (a *ACD) Degraded() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.degraded
}

// SetDegraded switches degraded mode on: the shared state is unreachable,
// so the other nodes' agents and callers are forgotten (their claims cannot
// be checked) and this node serves its own callers with its own agents —
// the simplest local ACD. Calls already ringing or talking go on.
func (a *ACD) SetDegraded() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.degraded || a.cluster == nil {
		return
	}
	a.logger.Warn("acd: shared state unreachable; serving this node's agents only")
	now := a.now()
	for _, ag := range a.sortedAgents() {
		if ag.home != "" && !a.engaged(ag) {
			_ = a.router.RemoveAgent(ag.profile.ID)
			delete(a.agents, ag.profile.ID)
			a.dropSkills(ag, now)
		}
	}
	for _, c := range a.sortedCalls() {
		if c.owner != "" {
			if a.router.HasCall(c.info.ID) {
				_, _ = a.router.RemoveCall(c.info.ID)
			}
			delete(a.calls, c.info.ID)
		}
	}
	a.degraded = true
}

// Rejoin leaves degraded mode once the shared state is back: this node's
// agents, calls and claims are written again (the store may have lost
// them), the others are asked for their state, and the routing of other
// nodes' agents and callers resumes. A claim that now fails means another
// node took the agent meanwhile; the local call keeps it (it is already
// ringing or talking) and the conflict is logged.
func (a *ACD) Rejoin(ctx context.Context) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cluster == nil {
		return
	}
	wasDegraded := a.degraded
	a.degraded = false
	for _, ag := range a.sortedAgents() {
		if ag.home != "" {
			continue
		}
		a.storeErr("save agent", a.store.SaveAgent(ctx, ag.record()))
		if ag.callNode != "" && ag.callID != "" {
			// Reserved for or talking on another node's call: the claim
			// this node made for it must hold again.
			if err := a.store.Claim(ctx, ag.callID, ag.profile.ID); err != nil && !errors.Is(err, ErrClaimed) {
				a.storeErr("claim", err)
			}
		}
	}
	for _, c := range a.sortedCalls() {
		if c.owner != "" {
			continue
		}
		a.storeErr("save call", a.store.SaveCall(ctx, c.record()))
		if c.agentID != "" && c.state != callQueued {
			if err := a.store.Claim(ctx, c.info.ID, c.agentID); err != nil && !errors.Is(err, ErrClaimed) {
				a.storeErr("claim", err)
			} else if err != nil {
				a.logger.Warn("acd: rejoin: claim already held elsewhere", "call", c.info.ID, "agent", c.agentID, "err", err)
			}
		}
	}
	if wasDegraded {
		a.logger.Info("acd: shared state reachable again; rejoined the cluster")
	}
	a.send(ClusterMsg{Kind: MsgHello})
	a.sendSnapshot()
}

// Nodes lists the other nodes this node currently mirrors.
func (a *ACD) Nodes() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, ag := range a.agents {
		if ag.home != "" && !slices.Contains(out, ag.home) {
			out = append(out, ag.home)
		}
	}
	for _, c := range a.calls {
		if c.owner != "" && !slices.Contains(out, c.owner) {
			out = append(out, c.owner)
		}
	}
	slices.Sort(out)
	return out
}

// NodeGone forgets a node whose lease ran out (its calls died with it):
// its agents and callers leave the routing here and local agents reserved
// for or talking on its calls are freed. The node that reaped it also
// broadcasts MsgNodeGone so every other node does the same.
func (a *ACD) NodeGone(node string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if node == a.node || a.closed {
		return
	}
	a.applySnapshot(node, nil, nil, a.now())
	a.send(ClusterMsg{Kind: MsgNodeGone, ID: node})
}
