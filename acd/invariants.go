package acd

import "fmt"

// CheckInvariants is the ACD's self-check of its own bookkeeping, made
// under its lock: no call held by two agents, no agent holding a call
// outside reserved/talking/held, the router's idle pool and queues in step
// with the agents and calls. It returns what is wrong (nothing when
// healthy); the property test calls it between random operations.
func (a *ACD) CheckInvariants() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var bad []string
	owner := map[string]string{}
	for id, ag := range a.agents {
		if ag.callID != "" {
			if o, dup := owner[ag.callID]; dup {
				bad = append(bad, fmt.Sprintf("call %s held by agents %s and %s", ag.callID, o, id))
			}
			owner[ag.callID] = id
			if ag.state != Reserved && ag.state != Talking && ag.state != Held {
				bad = append(bad, fmt.Sprintf("agent %s in %s holds call %s", id, ag.state, ag.callID))
			}
		}
		if a.router.IsIdle(id) && ag.state != Ready {
			bad = append(bad, fmt.Sprintf("agent %s idle in router but %s", id, ag.state))
		}
	}
	for id, c := range a.calls {
		switch c.state {
		case callQueued:
			if !a.router.HasCall(id) {
				bad = append(bad, fmt.Sprintf("queued call %s missing from router", id))
			}
		default:
			if a.router.HasCall(id) {
				bad = append(bad, fmt.Sprintf("call %s offered but still queued", id))
			}
			if ag := a.agents[c.agentID]; ag != nil && ag.callID != id && c.state != callRinging {
				bad = append(bad, fmt.Sprintf("connected call %s: agent %s holds %q", id, c.agentID, ag.callID))
			}
		}
	}
	return bad
}
