package engine

import (
	"context"
	"fmt"

	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/recording"
	"github.com/hotlinecc/hotline/sip"
)

// monitor is a supervisor on an agent's call: the bridge lets go of both
// legs and a mixer carries the three of them, routed by mode.
type monitor struct {
	supervisor string
	mode       agentapi.MonitorMode
	leg        *sip.Leg
	mixer      *media.Mixer
	stop       context.CancelFunc
	takeover   bool // the supervisor keeps the caller: do not hang up
}

func routesFor(mode agentapi.MonitorMode) ([]media.Route, error) {
	switch mode {
	case agentapi.Listen:
		return media.ListenRoutes("caller", "agent", "supervisor"), nil
	case agentapi.Whisper:
		return media.WhisperRoutes("caller", "agent", "supervisor"), nil
	case agentapi.Barge, agentapi.Takeover:
		return media.BargeRoutes("caller", "agent", "supervisor"), nil
	}
	return nil, unsupported("monitor mode " + string(mode))
}

func (cc callControl) Monitor(ctx context.Context, supervisorID, agentID string, mode agentapi.MonitorMode) error {
	routes, err := routesFor(mode)
	if err != nil {
		return err
	}
	e := cc.e
	c := e.callOfAgent(agentID)
	if c == nil {
		return fmt.Errorf("agent %s has no call: %w", agentID, errNotYours)
	}
	c.mu.Lock()
	if m := c.monitor; m != nil {
		if m.supervisor != supervisorID {
			c.mu.Unlock()
			return fmt.Errorf("call %s is monitored by %s: %w", c.id, m.supervisor, errNotYours)
		}
		if mode == agentapi.Takeover {
			// The supervisor already on the call replaces the agent.
			m.takeover = true
			swaps := c.swaps
			c.mu.Unlock()
			m.stop()
			if swaps == nil {
				return fmt.Errorf("take over %s: the conversation ended: %w", c.id, errNotYours)
			}
			swaps <- swap{leg: m.leg, party: supervisorID}
			return nil
		}
		m.mixer.SetRoutes(routes)
		m.mode = mode
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()

	// Ring the supervisor's phone first: nothing changes for the call until it answers.
	sup, err := e.sip.Dial(ctx, sip.DialRequest{User: supervisorID, CallerID: "monitor-" + agentID, CallerName: string(mode)})
	if err != nil {
		return fmt.Errorf("monitor %s: ring supervisor %s: %w", agentID, supervisorID, err)
	}
	c.mu.Lock()
	br, agent, done, rec, swaps := c.bridge, c.agentLegCur, c.bridgeDone, c.rec, c.swaps
	if br == nil || c.monitor != nil || c.held || c.consult != nil {
		c.mu.Unlock()
		sup.Close()
		return fmt.Errorf("monitor %s: call %s changed meanwhile: %w", agentID, c.id, errNotYours)
	}
	if mode == agentapi.Takeover {
		// Straight take-over: the supervisor replaces the agent.
		c.mu.Unlock()
		swaps <- swap{leg: sup, party: supervisorID}
		return nil
	}
	mx := media.NewMixer(e.log)
	m := &monitor{supervisor: supervisorID, mode: mode, leg: sup, mixer: mx}
	c.monitor = m
	// The bridge lets go of both legs (silently); the mixer takes them.
	br.Hold(c.ctx, nil)
	mx.AddLeg("caller", c.leg.Media())
	mx.AddLeg("agent", agent.Media())
	mx.AddLeg("supervisor", sup.Media())
	mx.SetRoutes(routes)
	if rec != nil {
		mx.SetTap(func(leg string, pcm []int16) {
			switch leg {
			case "caller":
				rec.Feed(recording.Caller, pcm)
			case "agent":
				rec.Feed(recording.Agent, pcm)
			}
		})
	}
	c.mu.Unlock()

	// The monitor lasts until the supervisor hangs up or the conversation ends.
	mctx, stopMix := context.WithCancel(c.ctx)
	m.stop = stopMix
	go func() {
		defer stopMix()
		go func() {
			select {
			case <-sup.Done():
			case <-done:
			}
			stopMix()
		}()
		_ = mx.Run(mctx)
		mx.SetTap(nil)
		for _, id := range []string{"supervisor", "agent", "caller"} {
			mx.RemoveLeg(id)
		}
		c.mu.Lock()
		c.monitor = nil
		takeover := m.takeover
		select {
		case <-done: // the conversation is over: nothing to give back
		default:
			if !takeover {
				br.Unhold() // caller and agent talk through the bridge again
			}
		}
		c.mu.Unlock()
		if !takeover {
			_ = sup.Hangup(context.Background())
			sup.Close()
		}
	}()
	return nil
}

// callOfAgent finds the conversation an agent is in.
func (e *Engine) callOfAgent(agentID string) *call {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.calls {
		c.mu.Lock()
		ok := c.agent == agentID && c.bridge != nil
		c.mu.Unlock()
		if ok {
			return c
		}
	}
	return nil
}
