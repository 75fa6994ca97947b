package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/sip"
)

// directCall is a call the desktop placed: agent to agent (internal) or
// agent to customer through a trunk (outbound). The agent's phone rings
// first; when it answers the other side is dialled and the two bridged.
type directCall struct {
	id, agent, callee, direction string
	started                      time.Time
	cancel                       context.CancelFunc

	mu      sync.Mutex
	a, b    *sip.Leg
	talking bool
}

func (e *Engine) placeDirect(agentID, callee, direction string, far sip.DialRequest) (string, error) {
	if e.runCtx == nil {
		return "", fmt.Errorf("%s call: engine not running", direction)
	}
	ctx, cancel := context.WithCancel(e.runCtx)
	dc := &directCall{id: "d-" + newCallID(), agent: agentID, callee: callee, direction: direction, started: time.Now(), cancel: cancel}
	e.mu.Lock()
	e.direct[dc.id] = dc
	e.mu.Unlock()
	e.directWG.Add(1)
	go func() {
		defer e.directWG.Done()
		defer func() {
			cancel()
			e.mu.Lock()
			delete(e.direct, dc.id)
			e.mu.Unlock()
		}()
		e.runDirect(ctx, dc, far)
	}()
	return dc.id, nil
}

func (e *Engine) runDirect(ctx context.Context, dc *directCall, far sip.DialRequest) {
	log := e.log.With("call", dc.id, "agent", dc.agent, "to", dc.callee, "direction", dc.direction)
	ringCtx, stop := context.WithTimeout(ctx, e.cfg.ACD.RingTimeout.D())
	a, err := e.sip.Dial(ringCtx, sip.DialRequest{User: dc.agent, CallerID: dc.callee, CallerName: dc.direction})
	stop()
	if err != nil {
		log.Info("agent's phone did not answer", "err", err)
		return
	}
	defer a.Close()
	dc.mu.Lock()
	dc.a = a
	dc.mu.Unlock()
	farCtx, stopFar := context.WithCancel(ctx)
	go func() { // the agent giving up while the far end rings stops the ringing
		select {
		case <-a.Done():
		case <-farCtx.Done():
		}
		stopFar()
	}()
	b, err := e.sip.Dial(farCtx, far)
	stopFar()
	if err != nil {
		log.Info("far end did not answer", "err", err)
		_ = a.Hangup(context.Background())
		return
	}
	defer b.Close()
	dc.mu.Lock()
	dc.b, dc.talking = b, true
	dc.mu.Unlock()
	br := media.NewBridge(a.Media(), b.Media())
	defer br.Close()
	select {
	case <-ctx.Done():
	case <-a.Done():
	case <-b.Done():
	}
	_ = a.Hangup(context.Background())
	_ = b.Hangup(context.Background())
}

func (cc callControl) Internal(ctx context.Context, agentID, other string) (string, error) {
	if _, ok := cc.e.agents[other]; !ok {
		return "", fmt.Errorf("internal call to %s: %w", other, errNotYours)
	}
	return cc.e.placeDirect(agentID, other, "internal", sip.DialRequest{User: other, CallerID: agentID, CallerName: "internal"})
}

func (cc callControl) Outbound(ctx context.Context, agentID, number string) (string, error) {
	for _, t := range cc.e.cfg.Trunks {
		if t.Outbound != "" {
			return cc.e.placeDirect(agentID, number, "outbound", sip.DialRequest{URI: "sip:" + number + "@" + t.Outbound, CallerID: agentID})
		}
	}
	return "", unsupported("outbound call: no trunk with an outbound address")
}

// hangupDirect ends a direct call of this agent; false if there is none.
func (e *Engine) hangupDirect(agentID, callID string) bool {
	e.mu.Lock()
	dc := e.direct[callID]
	e.mu.Unlock()
	if dc == nil || (dc.agent != agentID && dc.callee != agentID) {
		return false
	}
	dc.cancel()
	return true
}

func (e *Engine) directCalls() []agentapi.CallInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]agentapi.CallInfo, 0, len(e.direct))
	for _, dc := range e.direct {
		dc.mu.Lock()
		state := "ringing"
		if dc.talking {
			state = "talking"
		}
		out = append(out, agentapi.CallInfo{ID: dc.id, AgentID: dc.agent, Direction: dc.direction, Caller: dc.agent, Callee: dc.callee, State: state, Started: dc.started})
		dc.mu.Unlock()
	}
	return out
}
