package acd

import "time"

// Cluster outages. While the shared state is unreachable the nodes cannot
// hear each other on the bus, but a call that crossed nodes before the
// outage goes on: its caller and media on one node, its agent served by
// another. When such a call ends, the agent's node must learn it, or the
// agent stays "talking" for the whole outage and takes no call. The link
// asks the call's node directly (RemoteEngaged, HoldsCall) and frees the
// agents whose calls are gone (RemoteCallGone).

// RemoteCall is a local agent reserved for or talking on another node's
// call.
type RemoteCall struct {
	AgentID string `json:"agent"`
	CallID  string `json:"call"`
	Node    string `json:"node"`
}

// RemoteEngaged lists this node's agents on other nodes' calls: talking or
// held, or reserved long enough that the offer has reached the call's node.
func (a *ACD) RemoteEngaged() []RemoteCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	var out []RemoteCall
	for _, ag := range a.sortedAgents() {
		if ag.home != "" || ag.callNode == "" || ag.callID == "" {
			continue
		}
		if ag.state == Talking || ag.state == Held || (ag.state == Reserved && now.Sub(ag.since) >= 2*SnapshotEvery) {
			out = append(out, RemoteCall{AgentID: ag.profile.ID, CallID: ag.callID, Node: ag.callNode})
		}
	}
	return out
}

// HoldsCall reports whether this node holds call callID with agentID on
// it (ringing, talking or held).
func (a *ACD) HoldsCall(callID, agentID string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.calls[callID]
	return c != nil && c.owner == "" && c.agentID == agentID && c.state != callQueued
}

// RemoteCallGone frees a local agent whose call on node has ended (the
// call's node said so directly). Stale news — the agent has moved on — is
// ignored.
func (a *ACD) RemoteCallGone(agentID, callID, node string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ag := a.agents[agentID]
	if ag == nil || ag.home != "" || ag.callID != callID || ag.callNode != node {
		return
	}
	a.logger.Info("acd: agent freed: its call on another node ended", "agent", agentID, "call", callID, "node", node)
	a.releaseRemote(ag, "call ended on "+node, a.now())
}

// dropIdleMirror forgets, while degraded, another node's agent this node
// kept only for a call of its own that has now ended: without the bus its
// state here can only go stale. Tick calls it.
func (a *ACD) dropIdleMirror(ag *agent, now time.Time) {
	if !a.degraded || ag.home == "" || a.engaged(ag) {
		return
	}
	_ = a.router.RemoveAgent(ag.profile.ID)
	delete(a.agents, ag.profile.ID)
	a.dropSkills(ag, now)
}
