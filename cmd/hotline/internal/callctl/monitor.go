package callctl

import (
	"errors"
	"fmt"

	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/media"
)

// Supervision: the engine rings the supervisor's phone; once it answers,
// the caller/agent bridge lets go of both legs and a mixer carries the
// three of them, routed by mode (listen, whisper, barge). A take-over
// gives the caller to the supervisor and releases the agent to wrap-up.

func routesFor(mode agentapi.MonitorMode) ([]media.Route, error) {
	switch mode {
	case agentapi.Listen:
		return media.ListenRoutes("caller", "agent", "supervisor"), nil
	case agentapi.Whisper:
		return media.WhisperRoutes("caller", "agent", "supervisor"), nil
	case agentapi.Barge, agentapi.Takeover:
		return media.BargeRoutes("caller", "agent", "supervisor"), nil
	}
	return nil, fmt.Errorf("monitor mode %q: %w", mode, errors.ErrUnsupported)
}

// monitorAction starts monitoring, changes its mode, or takes over. A new
// monitor is answered when the supervisor's phone answers.
func (c *Call) monitorAction(a agentapi.CallAction, ev *event) {
	cv := c.conv
	routes, err := routesFor(a.Mode)
	switch {
	case err != nil:
	case cv == nil || cv.agentID == "" || a.Agent != cv.agentID:
		err = fmt.Errorf("agent %s has no call to monitor: %w", a.Agent, agentapi.ErrUnknownCall)
	case cv.monitor != nil && cv.monitor.supervisor != a.Supervisor:
		err = fmt.Errorf("call %s is monitored by %s: %w", c.id, cv.monitor.supervisor, agentapi.ErrCallState)
	case cv.monitor != nil && cv.monitor.leg == nil:
		err = fmt.Errorf("monitor %s: the supervisor's phone is still ringing: %w", c.id, agentapi.ErrCallState)
	case cv.monitor != nil && a.Mode == agentapi.Takeover:
		c.takeover(cv.monitor)
	case cv.monitor != nil:
		cv.monitor.mixer.mx.SetRoutes(routes)
		cv.monitor.mode = a.Mode
	case c.state != Talking:
		err = wrongState(agentapi.OpMonitor, c.state)
	default:
		cv.monitor = &monitor{supervisor: a.Supervisor, mode: a.Mode, reply: ev.replyErr}
		c.dial(dialSupervisor, a.Supervisor)
		return
	}
	ev.replyErr <- err
}

// supervisorDialed: the supervisor's phone answered, or could not be rung.
func (c *Call) supervisorDialed(ev *event) {
	cv := c.conv
	m := cv.monitor
	if m == nil || m.leg != nil {
		c.releaseLeg(ev.leg, "monitor no longer wanted")
		return
	}
	reply := m.reply
	m.reply = nil
	if ev.err != nil || c.state != Talking {
		cv.monitor = nil
		c.releaseLeg(ev.leg, "monitor not possible now")
		err := ev.err
		if err == nil {
			err = wrongState(agentapi.OpMonitor, c.state)
		}
		reply <- fmt.Errorf("monitor: ring supervisor %s: %w", m.supervisor, err)
		return
	}
	m.leg = ev.leg
	c.watchLeg(ev.leg)
	if m.mode == agentapi.Takeover {
		c.takeover(m)
		reply <- nil
		return
	}
	routes, _ := routesFor(m.mode)
	cv.bridge.Hold(c.ctx, nil) // the bridge lets go of both legs, silently
	m.mixer = c.startMixer(map[string]*media.Session{"caller": c.caller.Media(), "agent": cv.leg.Media(), "supervisor": m.leg.Media()}, routes)
	c.move(Monitored, "supervisor "+m.supervisor+" "+string(m.mode))
	reply <- nil
}

// takeover gives the caller to the supervisor; the agent goes to wrap-up.
func (c *Call) takeover(m *monitor) {
	cv := c.conv
	m.mixer.halt()
	c.disconnect()
	c.releaseLeg(cv.leg, "taken over by "+m.supervisor)
	c.ctl.acd.Release(c.id, "takeover")
	cv.agentID, cv.party, cv.leg, cv.monitor = "", m.supervisor, m.leg, nil
	c.connect(cv.leg)
	if c.state == Monitored {
		c.move(Talking, "taken over by "+m.supervisor)
	}
}

// supervisorLeft: the supervisor hung up; caller and agent talk as before.
func (c *Call) supervisorLeft() {
	cv := c.conv
	m := cv.monitor
	cv.monitor = nil
	m.mixer.halt()
	c.releaseLeg(m.leg, "supervisor left")
	if c.state == Monitored {
		cv.bridge.Unhold()
		c.move(Talking, "supervisor left")
	}
}
