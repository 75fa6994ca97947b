package callctl

import (
	"time"

	"github.com/hotlinecc/hotline/sip"
)

// watchMedia (the owner, on a ticker) finds legs whose phone vanished
// without a BYE: a leg that sent RTP and then nothing for RTPTimeout.
// It applies while the parties talk; hold is excepted (a held phone, or a
// caller listening to music, may rightly send nothing), and so is a leg
// that never sent anything (one-way audio is flagged in the record, not
// cut: some endpoints stay silent until spoken to). Session timers (RFC
// 4028) cover callers whose phone sends no RTP at all.
func (c *Call) watchMedia() {
	timeout := c.ctl.cfg.RTPTimeout
	cv := c.conv
	if timeout <= 0 || cv == nil {
		return
	}
	var legs []*sip.Leg
	switch c.state {
	case Announcing, Talking, Monitored, Conference:
		legs = append(legs, c.caller, cv.leg)
		if cs := cv.consult; cs != nil {
			legs = append(legs, cs.leg)
		}
	case Consulting:
		legs = append(legs, cv.leg)
		if cs := cv.consult; cs != nil {
			legs = append(legs, cs.leg)
		}
	default:
		return
	}
	now := time.Now()
	for _, leg := range legs {
		if leg == nil || leg.RemoteHold() {
			continue
		}
		last := leg.Media().Stats().LastPacketIn
		if last.IsZero() || now.Sub(last) <= timeout {
			continue
		}
		c.dispatch(&event{kind: evInactive, leg: leg})
		if c.state == Ended {
			return
		}
	}
}
