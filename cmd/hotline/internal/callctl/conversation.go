package callctl

import (
	"context"
	"fmt"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/ivr"
	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/recording"
	"github.com/hotlinecc/hotline/sip"
)

// conversation is the caller's time with an agent side: from the ACD's
// connect (or a transfer's answer) until the agent side leaves. The agent
// side may change hands (transfer, take-over) without ending it; the
// recording spans it all. Owned by the call's run goroutine.
type conversation struct {
	agentID string   // the ACD agent on the call; "" for an outside number or a supervisor who took over
	party   string   // who is on the agent side: agent id, supervisor id or number
	leg     *sip.Leg // nil while a blind transfer rings
	queue   string
	tier    string
	started time.Time

	bridge *media.Bridge
	rec    *recording.Recording
	muted  bool
	// holdOnJoin: hold was pressed during the announcement.
	holdOnJoin bool
	// music plays to the caller while no bridge exists (blind transfer).
	music context.CancelFunc

	consult  *consultation
	monitor  *monitor
	transfer *transferAttempt

	// reply is the flow's pending Bridge call (nil during the announcement).
	reply chan ivr.BridgeResult
}

// consultation is the agent with a third party while the caller holds.
type consultation struct {
	target  agentapi.Target
	party   string
	acdID   string // the consulted agent's ACD call (agents only)
	ticket  *acd.Ticket
	pending *pendingAnswer
	leg     *sip.Leg // nil while ringing
	bridge  *media.Bridge
	mixer   *mixing // set during a conference
	started time.Time
	reply   chan error // the desktop's consult request, answered when the party answers or not
}

// transferAttempt is a blind transfer ringing its target.
type transferAttempt struct {
	target  agentapi.Target
	by      string
	ticket  *acd.Ticket
	pending *pendingAnswer
}

// monitor is a supervisor on the call.
type monitor struct {
	supervisor string
	mode       agentapi.MonitorMode
	leg        *sip.Leg // nil while the supervisor's phone rings
	mixer      *mixing
	reply      chan error
}

// mixing is a running media.Mixer and its stop.
type mixing struct {
	mx   *media.Mixer
	stop context.CancelFunc
	done chan struct{}
}

// startMixer runs a mixer over legs (name → session) with routes until
// stop; the recording taps caller and agent.
func (c *Call) startMixer(legs map[string]*media.Session, routes []media.Route) *mixing {
	mx := media.NewMixer(c.log)
	for name, s := range legs {
		mx.AddLeg(name, s)
	}
	mx.SetRoutes(routes)
	if cv := c.conv; cv != nil && cv.rec != nil {
		rec := cv.rec
		mx.SetTap(func(leg string, pcm []int16) {
			switch leg {
			case "caller":
				rec.Feed(recording.Caller, pcm)
			case "agent":
				rec.Feed(recording.Agent, pcm)
			}
		})
	}
	ctx, stop := context.WithCancel(c.ctx)
	m := &mixing{mx: mx, stop: stop, done: make(chan struct{})}
	names := make([]string, 0, len(legs))
	for name := range legs {
		names = append(names, name)
	}
	c.goOwned(func() {
		defer close(m.done)
		_ = mx.Run(ctx)
		mx.SetTap(nil)
		for _, name := range names {
			mx.RemoveLeg(name)
		}
	})
	return m
}

// halt stops a mixer and waits until it has let go of its legs.
func (m *mixing) halt() {
	if m == nil {
		return
	}
	m.stop()
	<-m.done
}

// connect bridges the caller to the agent side's leg, with the recording
// tap and the conversation's mute.
func (c *Call) connect(leg *sip.Leg) {
	cv := c.conv
	br := media.NewBridge(c.caller.Media(), leg.Media())
	if rec := cv.rec; rec != nil {
		br.SetTap(func(fromCaller bool, pcm []int16) {
			if fromCaller {
				rec.Feed(recording.Caller, pcm)
			} else {
				rec.Feed(recording.Agent, pcm)
			}
		})
	}
	br.Mute(cv.muted)
	cv.bridge = br
}

// disconnect removes the caller's bridge and any music.
func (c *Call) disconnect() {
	cv := c.conv
	if cv == nil {
		return
	}
	if cv.bridge != nil {
		cv.bridge.Close()
		cv.bridge = nil
	}
	c.stopMusic()
}

// startMusic plays music on hold to the caller while no bridge does
// (a blind transfer ringing).
func (c *Call) startMusic() {
	cv := c.conv
	c.stopMusic()
	moh := c.moh()
	if moh == nil {
		return
	}
	ctx, stop := context.WithCancel(c.ctx)
	done := make(chan struct{})
	cv.music = func() { stop(); <-done }
	s := c.caller.Media()
	c.goOwned(func() {
		defer close(done)
		_ = s.PlayLoop(ctx, moh)
	})
}

func (c *Call) stopMusic() {
	if cv := c.conv; cv != nil && cv.music != nil {
		cv.music()
		cv.music = nil
	}
}

// startRecording opens the conversation's recording when the queue's
// policy says so. A recording that cannot be written is still returned
// (already failed): the call goes on and the failure is counted.
func (c *Call) startRecording(agentID string, agentLeg *sip.Leg) *recording.Recording {
	cv := c.conv
	if p, ok := c.ctl.current().RecordPolicy[cv.queue]; ok && !p.Record(c.id) {
		return nil
	}
	// A caller may talk to agents more than once (a transfer to a queue):
	// each conversation is its own file.
	c.conversations++
	id := c.id
	if c.conversations > 1 {
		id = fmt.Sprintf("%s-%d", c.id, c.conversations)
	}
	rec, err := c.ctl.cfg.Recorder.Open(recording.Meta{
		CallID: id, Agent: agentID, Queue: cv.queue, Tier: cv.tier, Caller: c.caller.Info.Caller,
		Legs: []string{c.caller.ID, agentLeg.ID},
	})
	if err != nil {
		c.log.Warn("recording not started; the call goes on", "err", err)
	}
	return rec
}

// closeRecording finishes the recording and keeps its metadata for the
// call record.
func (c *Call) closeRecording() {
	cv := c.conv
	if cv == nil || cv.rec == nil {
		return
	}
	rec := cv.rec
	cv.rec = nil
	if cv.bridge != nil {
		cv.bridge.SetTap(nil)
	}
	meta, err := rec.Close()
	if err != nil {
		c.log.Warn("recording close", "err", err)
	}
	c.mu.Lock()
	c.recording = &meta
	c.mu.Unlock()
}
