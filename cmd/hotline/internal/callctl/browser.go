package callctl

import (
	"context"

	"github.com/hotlinecc/hotline/sip"
)

// Browsers rings the users whose phone is their desktop page (the
// engine's WebRTC endpoint, sip/webrtc). The leg it returns is a
// *sip.Leg like any other, so nothing else in call control changes.
type Browsers interface {
	// Dial rings req.User's page when the user's phone setting says so
	// (ok true, and the answered leg or why not); ok false: ring the
	// registered SIP phone as usual. auto: the person asked for this
	// call (a supervisor's listen, a call placed from the desktop, the
	// desktop's answer button) and the page answers by itself.
	Dial(ctx context.Context, req sip.DialRequest, auto bool) (leg *sip.Leg, ok bool, err error)
}

// dialPhone rings a user's phone, in the browser or on SIP, or a URI.
func (ctl *Control) dialPhone(ctx context.Context, req sip.DialRequest, auto bool) (*sip.Leg, error) {
	if req.User != "" && ctl.cfg.Browsers != nil {
		if leg, ok, err := ctl.cfg.Browsers.Dial(ctx, req, auto); ok {
			return leg, err
		}
	}
	return ctl.sip.Dial(ctx, req)
}
