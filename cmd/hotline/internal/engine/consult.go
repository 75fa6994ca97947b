package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/recording"
	"github.com/hotlinecc/hotline/sip"
)

// consultation is an agent talking to a colleague (or an outside number)
// while the caller waits on hold; then transfer, conference or return.
type consultation struct {
	leg     *sip.Leg
	party   string
	bridge  *media.Bridge // agent ↔ consulted party
	mixer   *media.Mixer  // set during a conference
	done    chan struct{} // closed when the consultation is finished with
	started time.Time
}

// consultTarget turns a desktop target into a dial request.
func (e *Engine) consultTarget(to agentapi.Target) (sip.DialRequest, string, error) {
	switch to.Kind {
	case agentapi.TargetAgent:
		if _, ok := e.agents[to.Value]; !ok {
			return sip.DialRequest{}, "", fmt.Errorf("no agent %q: %w", to.Value, errNotYours)
		}
		return sip.DialRequest{User: to.Value, CallerName: "consultation"}, to.Value, nil
	case agentapi.TargetExternal:
		for _, t := range e.cfg.Trunks {
			if t.Outbound != "" {
				return sip.DialRequest{URI: "sip:" + to.Value + "@" + t.Outbound}, to.Value, nil
			}
		}
		return sip.DialRequest{}, "", unsupported("external consultation: no trunk with an outbound address")
	}
	return sip.DialRequest{}, "", unsupported("consultation with a " + string(to.Kind))
}

func (e *Engine) moh() (*media.Prompt, error) {
	return e.prompts.get(filepath.Join(e.cfg.Resolve(e.cfg.Prompts), e.cfg.Language, "moh.wav"))
}

func (cc callControl) Consult(ctx context.Context, agentID, callID string, to agentapi.Target) error {
	e := cc.e
	req, party, err := e.consultTarget(to)
	if err != nil {
		return err
	}
	c, err := cc.agentCall(agentID, callID)
	if err != nil {
		return err
	}
	moh, err := e.moh()
	if err != nil {
		return fmt.Errorf("consult: music on hold: %w", err)
	}
	c.mu.Lock()
	if c.consult != nil || c.monitor != nil || c.held {
		c.mu.Unlock()
		return fmt.Errorf("consult on %s: the call is busy with another action: %w", callID, errNotYours)
	}
	br, agentLeg, done := c.bridge, c.agentLegCur, c.bridgeDone
	br.Hold(c.ctx, moh) // the caller hears music while the agent consults
	c.held = true
	c.consult = &consultation{party: party, done: make(chan struct{}), started: time.Now()}
	c.mu.Unlock()
	req.CallerID = agentID
	leg, err := e.sip.Dial(ctx, req)
	if err != nil {
		c.mu.Lock()
		c.consult, c.held = nil, false
		br.Unhold()
		c.mu.Unlock()
		return fmt.Errorf("consult %s: %w", party, err)
	}
	c.mu.Lock()
	cons := c.consult
	cons.leg = leg
	cons.bridge = media.NewBridge(agentLeg.Media(), leg.Media())
	c.mu.Unlock()
	// If the consulted party hangs up first, the agent is back with the caller.
	go func() {
		select {
		case <-leg.Done():
			c.mu.Lock()
			if c.consult == cons {
				c.consult = nil
				cons.bridge.Close()
				select {
				case <-done:
				default:
					if cons.mixer == nil {
						br.Unhold()
					}
					c.held = false
				}
			}
			c.mu.Unlock()
			leg.Close()
		case <-cons.done:
		case <-done:
			_ = leg.Hangup(context.Background())
			leg.Close()
		}
	}()
	return nil
}

// takeConsultation ends the consultation bookkeeping and returns it.
func (cc callControl) takeConsultation(agentID, callID string) (*call, *consultation, error) {
	c, err := cc.agentCall(agentID, callID)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cons := c.consult
	if cons == nil || cons.leg == nil {
		return nil, nil, fmt.Errorf("call %s: no consultation in progress: %w", callID, errNotYours)
	}
	c.consult = nil
	close(cons.done)
	cons.bridge.Close()
	return c, cons, nil
}

func (cc callControl) CompleteTransfer(ctx context.Context, agentID, callID string) error {
	c, cons, err := cc.takeConsultation(agentID, callID)
	if err != nil {
		return err
	}
	c.mu.Lock()
	swaps := c.swaps
	c.mu.Unlock()
	if swaps == nil {
		_ = cons.leg.Hangup(context.Background())
		return fmt.Errorf("transfer %s: the conversation ended: %w", callID, errNotYours)
	}
	// The caller now talks to the consulted party; the agent is released.
	swaps <- swap{leg: cons.leg, party: cons.party}
	cc.e.records.tracker.Update(callID, func(r *cdr.Record) {
		r.Consultations = append(r.Consultations, cdr.Consultation{At: cons.started, By: agentID, Target: cons.party, DurationMS: time.Since(cons.started).Milliseconds()})
		r.Transfers = append(r.Transfers, cdr.Transfer{At: time.Now(), By: agentID, Kind: "attended", Target: cons.party})
	})
	return nil
}

func (cc callControl) ReturnToCaller(ctx context.Context, agentID, callID string) error {
	c, cons, err := cc.takeConsultation(agentID, callID)
	if err != nil {
		return err
	}
	_ = cons.leg.Hangup(context.Background())
	cons.leg.Close()
	c.mu.Lock()
	if c.bridge != nil {
		c.bridge.Unhold()
	}
	c.held = false
	c.mu.Unlock()
	return nil
}

// Conference joins the caller to agent and consulted party. It lasts until
// one of them leaves: if the consulted party leaves, caller and agent go on
// as before; if the agent or the caller leaves, the conference ends.
func (cc callControl) Conference(ctx context.Context, agentID, callID string) error {
	c, err := cc.agentCall(agentID, callID)
	if err != nil {
		return err
	}
	c.mu.Lock()
	cons := c.consult
	if cons == nil || cons.leg == nil || cons.mixer != nil {
		c.mu.Unlock()
		return fmt.Errorf("call %s: no consultation to join: %w", callID, errNotYours)
	}
	br, agentLeg, done, rec := c.bridge, c.agentLegCur, c.bridgeDone, c.rec
	cons.bridge.Close()
	mx := media.NewMixer(cc.e.log)
	cons.mixer = mx
	mx.AddLeg("caller", c.leg.Media())
	mx.AddLeg("agent", agentLeg.Media())
	mx.AddLeg("consult", cons.leg.Media())
	mx.SetRoutes(media.ConferenceRoutes("caller", "agent", "consult"))
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
	c.held = false
	c.mu.Unlock()
	go func() {
		mctx, stop := context.WithCancel(c.ctx)
		defer stop()
		go func() {
			select {
			case <-cons.leg.Done():
			case <-done:
			}
			stop()
		}()
		_ = mx.Run(mctx)
		mx.SetTap(nil)
		for _, id := range []string{"consult", "agent", "caller"} {
			mx.RemoveLeg(id)
		}
		c.mu.Lock()
		if c.consult == cons {
			c.consult = nil
		}
		select {
		case <-done:
		default:
			br.Unhold() // the consulted party left: caller and agent as before
		}
		c.mu.Unlock()
		_ = cons.leg.Hangup(context.Background())
		cons.leg.Close()
	}()
	return nil
}
