package callctl

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/sip"
)

// directCall is a call the desktop placed: agent to agent (internal) or
// agent to customer through the trunk (outbound). Its goroutine (run)
// owns its life; desktop actions act on the conversation under mu.
type directCall struct {
	ctl                          *Control
	id, agent, callee, direction string
	started                      time.Time
	cancel                       context.CancelFunc

	mu    sync.Mutex
	state directState
	a, b  *sip.Leg // the agent's phone, the far end
	br    *media.Bridge
	muted bool
}

func (dc *directCall) move(to directState) {
	if dc.state == to {
		return
	}
	if !canMoveDirect(dc.state, to) {
		dc.ctl.violation("illegal_transition", fmt.Sprintf("direct call %s: %s → %s", dc.id, dc.state, to))
	}
	dc.state = to
}

// Place rings the agent's phone, then dials the target: a colleague's
// phone (internal call) or a number through the outbound trunk
// (agentapi.CallControl). It returns once the agent's phone rings.
func (ctl *Control) Place(ctx context.Context, agentID string, to agentapi.Target) (string, error) {
	if err := ctl.refuseDraining("place a call"); err != nil {
		return "", err
	}
	var far sip.DialRequest
	direction := "outbound"
	switch to.Kind {
	case agentapi.TargetAgent:
		if !ctl.cfg.Agents(to.Value) {
			return "", fmt.Errorf("internal call to %s: %w", to.Value, agentapi.ErrBadRequest)
		}
		direction = "internal"
		far = sip.DialRequest{User: to.Value, CallerID: agentID, CallerName: "internal"}
	case agentapi.TargetExternal:
		uri, err := ctl.externalURI(to.Value)
		if err != nil {
			return "", fmt.Errorf("outbound call: %w", err)
		}
		far = sip.DialRequest{URI: uri, CallerID: agentID}
	default:
		return "", fmt.Errorf("call a %s: %w", to.Kind, errors.ErrUnsupported)
	}
	rctx, cancel := context.WithCancel(ctl.ctx)
	dc := &directCall{ctl: ctl, id: "d-" + newCallID(), agent: agentID, callee: to.Value, direction: direction, started: time.Now(), cancel: cancel}
	ctl.mu.Lock()
	ctl.direct[dc.id] = dc
	ctl.mu.Unlock()
	ctl.wg.Add(1)
	go func() {
		defer ctl.wg.Done()
		defer func() {
			cancel()
			ctl.mu.Lock()
			delete(ctl.direct, dc.id)
			ctl.mu.Unlock()
		}()
		dc.run(rctx, far)
	}()
	return dc.id, nil
}

func (dc *directCall) run(ctx context.Context, far sip.DialRequest) {
	ctl := dc.ctl
	log := ctl.log.With("call", dc.id, "agent", dc.agent, "to", dc.callee, "direction", dc.direction)
	defer func() {
		dc.mu.Lock()
		dc.move(directEnded)
		if dc.br != nil {
			dc.br.Close()
		}
		a, b := dc.a, dc.b
		dc.mu.Unlock()
		for _, l := range []*sip.Leg{a, b} {
			if l != nil {
				_ = l.Hangup(context.Background())
				ctl.countLeg(l)
				l.Close()
			}
		}
	}()
	ringCtx, stop := context.WithTimeout(ctx, ctl.cfg.RingTimeout)
	a, err := ctl.dialPhone(ringCtx, sip.DialRequest{User: dc.agent, CallerID: dc.callee, CallerName: dc.direction}, true)
	stop()
	if err != nil {
		log.Info("agent's phone did not answer", "err", err)
		return
	}
	dc.mu.Lock()
	dc.a = a
	dc.move(directRingingFar)
	dc.mu.Unlock()
	farCtx, stopFar := context.WithCancel(ctx)
	stopWatch := context.AfterFunc(a.Context(), stopFar) // the agent giving up stops the far end ringing
	b, err := ctl.dialPhone(farCtx, far, false)
	stopWatch()
	stopFar()
	if err != nil {
		log.Info("far end did not answer", "err", err)
		return
	}
	dc.mu.Lock()
	dc.b = b
	dc.br = media.NewBridge(b.Media(), a.Media()) // the far end is the "caller" side: it hears hold music
	dc.br.Mute(dc.muted)
	dc.move(directTalking)
	dc.mu.Unlock()
	select {
	case <-ctx.Done():
	case <-a.Done():
	case <-b.Done():
	}
}

// act is a desktop action on a direct call.
func (dc *directCall) act(a agentapi.CallAction) error {
	if a.Agent != dc.agent && a.Agent != dc.callee {
		return fmt.Errorf("%s %s: %w", a.Op, dc.id, errNotYours)
	}
	dc.mu.Lock()
	defer dc.mu.Unlock()
	switch a.Op {
	case agentapi.OpHangup:
		dc.cancel()
		return nil
	case agentapi.OpMute, agentapi.OpUnmute:
		dc.muted = a.Op == agentapi.OpMute
		if dc.br != nil {
			dc.br.Mute(dc.muted)
		}
		return nil
	case agentapi.OpHold:
		if dc.state != directTalking {
			return wrongDirect(a.Op, dc.state)
		}
		moh, err := dc.ctl.moh()
		if err != nil {
			moh = nil
		}
		dc.br.Hold(dc.ctl.ctx, moh)
		dc.move(directHeld)
		return nil
	case agentapi.OpUnhold:
		if dc.state != directHeld {
			return wrongDirect(a.Op, dc.state)
		}
		dc.br.Unhold()
		dc.move(directTalking)
		return nil
	case agentapi.OpDTMF:
		if dc.state != directTalking {
			return wrongDirect(a.Op, dc.state)
		}
		far := dc.b.Media()
		dc.ctl.wg.Add(1)
		go func() { // second-stage dialling to an extension behind the far end
			defer dc.ctl.wg.Done()
			for _, d := range a.Digits {
				if err := far.SendDTMF(dc.ctl.ctx, d); err != nil {
					return
				}
			}
		}()
		return nil
	}
	return fmt.Errorf("%s on a %s call: %w", a.Op, dc.direction, errors.ErrUnsupported)
}

func wrongDirect(op agentapi.CallOp, s directState) error {
	return fmt.Errorf("%s while %s: %w", op, s, agentapi.ErrCallState)
}

func (ctl *Control) directCall(id string) *directCall {
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	return ctl.direct[id]
}

func (ctl *Control) directCalls() []agentapi.CallInfo {
	ctl.mu.Lock()
	dcs := make([]*directCall, 0, len(ctl.direct))
	for _, dc := range ctl.direct {
		dcs = append(dcs, dc)
	}
	ctl.mu.Unlock()
	out := make([]agentapi.CallInfo, 0, len(dcs))
	for _, dc := range dcs {
		out = append(out, dc.info())
	}
	return out
}

// info is the direct call as desktops see it.
func (dc *directCall) info() agentapi.CallInfo {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	state := "ringing"
	switch dc.state {
	case directTalking:
		state = "talking"
	case directHeld:
		state = "held"
	}
	return agentapi.CallInfo{ID: dc.id, AgentID: dc.agent, Direction: dc.direction, Caller: dc.agent, Callee: dc.callee,
		State: state, Held: dc.state == directHeld, Muted: dc.muted, Started: dc.started}
}
