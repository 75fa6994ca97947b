package sip

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/hotlinecc/hotline/media"
)

// An external leg is a leg whose signalling is not SIP: the WebRTC
// endpoint (sip/webrtc) makes one for each call it rings in a browser,
// signalled over the desktop's WebSocket. Call control treats it like any
// leg it dialled: its Media is an ordinary RTP session (which the WebRTC
// endpoint feeds from the browser's track), Hangup and Close end it from
// our side, and its Done and EndCause tell when and why it ended. SIP
// requests never reach it (legFor skips it), however its id is guessed.

// ExternalLeg is the signalling side's handle on an external leg.
type ExternalLeg struct{ leg *Leg }

// NewExternalLeg opens an unanswered outbound leg for user with an RTP
// session of its own on the media address. The caller must end it
// (Leg().Close) if it never hands the leg on.
func (s *Server) NewExternalLeg(user string, info CallInfo) (*ExternalLeg, error) {
	if !s.running.Load() || s.ctx.Err() != nil {
		return nil, ErrNotRunning
	}
	sess, err := media.NewSession(s.cfg.Ports, s.cfg.MediaIP, s.log)
	if err != nil {
		return nil, fmt.Errorf("sip: external leg for %s: media: %w", user, err)
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	id := "x-" + hex.EncodeToString(b[:])
	info.CallID = id
	leg := s.newLeg(id, false, info, sess)
	leg.User = user
	leg.external = true
	leg.codec = s.cfg.Codecs[0]
	leg.dtmfPT = media.DefaultDTMFPayloadType
	s.legs.Store(id, leg)
	return &ExternalLeg{leg: leg}, nil
}

// Leg is the engine's view of the leg.
func (x *ExternalLeg) Leg() *Leg { return x.leg }

// SetAnswered marks the leg answered with the negotiated codec.
func (x *ExternalLeg) SetAnswered(codec media.Codec, dtmfPT uint8) {
	l := x.leg
	l.mu.Lock()
	l.codec, l.dtmfPT = codec, dtmfPT
	l.mu.Unlock()
	l.markAnswered()
}

// End ends the leg from the far side (the browser hung up or vanished);
// it reports whether this ended it.
func (x *ExternalLeg) End(cause string) bool { return x.leg.end(cause) }
