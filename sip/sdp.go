package sip

import (
	"errors"
	"fmt"

	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/media/sdp"
)

// Offer/answer for a leg: which stream of the peer's description is ours,
// the answer's shape (one m= line per offered stream), the telephone-event
// range echoed, and SRTP keys (SDES) when the profile or crypto lines ask
// for them. The policy (media.srtp) comes from the trunk or the phone.

// errSRTPDowngrade refuses a re-offer that drops the encryption of a leg
// that has it.
var errSRTPDowngrade = errors.New("re-offer drops SRTP")

// negotiation is the SDP state of a leg, guarded by Leg.mu.
type negotiation struct {
	policy     sdp.SRTPPolicy
	remoteDesc *sdp.Description // the peer's last offer (nil when we offered)
	index      int              // our stream in remoteDesc
	proto      string
	dtmfEvents string
	localKey   *media.SRTPKey
	localTag   int
	// offeredKeys are the keys of our own offer's crypto lines, by tag.
	offeredKeys map[int]media.SRTPKey
}

func (s *Server) sdpPolicy(formats []sdp.Format, p sdp.SRTPPolicy) sdp.Policy {
	return sdp.Policy{Formats: formats, SRTP: p, Suites: media.SRTPSuites}
}

// applyAnswer installs a negotiated stream: codec, peer address, and SRTP
// keys. offer is the peer's description when the peer offered (nil when it
// answered ours).
func (l *Leg) applyAnswer(a sdp.Answer, offer *sdp.Description) error {
	l.mu.Lock()
	wasSecure := l.neg.localKey != nil
	var send, recv media.SRTPKey
	secure := a.Crypto != nil
	if wasSecure && !secure {
		l.mu.Unlock()
		return errSRTPDowngrade
	}
	if secure {
		var err error
		if recv, err = media.ParseSRTPKey(a.Crypto.Suite, a.Crypto.Inline); err != nil {
			l.mu.Unlock()
			return fmt.Errorf("sip: peer's SRTP key: %w", err)
		}
		switch {
		case offer == nil: // the peer answered our offer: use the key we offered under that tag
			k, ok := l.neg.offeredKeys[a.Crypto.Tag]
			if !ok || k.Suite != a.Crypto.Suite {
				l.mu.Unlock()
				return fmt.Errorf("sip: answer's crypto tag %d was not offered", a.Crypto.Tag)
			}
			send = k
		case l.neg.localKey != nil && l.neg.localKey.Suite == a.Crypto.Suite:
			send = *l.neg.localKey // a re-offer: keep our key
		default:
			if send, err = media.NewSRTPKey(a.Crypto.Suite); err != nil {
				l.mu.Unlock()
				return fmt.Errorf("sip: %w", err)
			}
		}
		l.neg.localKey, l.neg.localTag = &send, a.Crypto.Tag
	}
	l.codec, l.dtmfPT, l.remote = codecFor(a.Codec), a.DTMF, a.Remote
	l.remoteHold = a.Direction == sdp.RecvOnly || a.Direction == sdp.Inactive
	l.neg.proto, l.neg.dtmfEvents = a.Proto, a.DTMFEvents
	if offer != nil {
		l.neg.remoteDesc, l.neg.index = offer, a.Index
	}
	l.mu.Unlock()
	if secure {
		if err := l.media.SetSRTP(send, recv); err != nil {
			return fmt.Errorf("sip: %w", err)
		}
	}
	l.media.SetRemote(a.Remote, l.Codec(), a.DTMF)
	if a.HasSSRC {
		l.media.ExpectSSRC(a.SSRC)
	}
	return nil
}

// offerSDP is our offer with every configured codec (late-offer 200 OKs
// and outbound INVITEs). SRTP required: RTP/SAVP with a crypto line per
// suite; optional over TLS signalling: RTP/AVP with crypto lines (best
// effort, as phones do); otherwise plain RTP/AVP.
func (l *Leg) offerSDP(formats []sdp.Format, secureSignalling bool) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	la := l.media.LocalAddr()
	local := sdp.Local{Addr: la.Addr(), Port: int(la.Port()), SessionID: l.sessID, Version: l.sdpVersion,
		Formats: formats, DTMF: 101, Dir: sdp.SendRecv}
	if l.neg.policy == sdp.SRTPRequired || (l.neg.policy == sdp.SRTPOptional && secureSignalling) {
		if l.neg.policy == sdp.SRTPRequired {
			local.Proto = "RTP/SAVP"
		}
		l.neg.offeredKeys = map[int]media.SRTPKey{}
		for i, suite := range media.SRTPSuites {
			k, err := media.NewSRTPKey(suite)
			if err != nil {
				return nil, fmt.Errorf("sip: offer: %w", err)
			}
			l.neg.offeredKeys[i+1] = k
			local.Crypto = append(local.Crypto, sdp.Crypto{Tag: i + 1, Suite: suite, Inline: k.Inline()})
		}
	}
	return local.Offer(), nil
}

// localSDP is our current description: the answer to the peer's last offer
// (shaped like it), or a re-statement of our negotiated stream.
func (l *Leg) localSDP(dir sdp.Direction) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	la := l.media.LocalAddr()
	local := sdp.Local{Addr: la.Addr(), Port: int(la.Port()), SessionID: l.sessID, Version: l.sdpVersion,
		Formats: []sdp.Format{{PT: l.codec.PayloadType, Name: l.codec.Name, Rate: l.codec.ClockRate}},
		DTMF:    l.dtmfPT, DTMFEvents: l.neg.dtmfEvents, Dir: dir, Proto: l.neg.proto}
	if k := l.neg.localKey; k != nil {
		local.Crypto = []sdp.Crypto{{Tag: l.neg.localTag, Suite: k.Suite, Inline: k.Inline()}}
	}
	if l.neg.remoteDesc != nil {
		return local.AnswerTo(l.neg.remoteDesc, l.neg.index)
	}
	if local.DTMFEvents == "" && local.DTMF != 0 {
		local.DTMFEvents = "0-16"
	}
	return local.Offer()
}

// sdpRefusal maps a negotiation error to the 488's Warning (RFC 3261 §20.43).
func sdpRefusal(err error) string {
	switch {
	case errors.Is(err, sdp.ErrSRTPRefused):
		return `399 hotline "SRTP (RTP/SAVP) is not enabled for this peer"`
	case errors.Is(err, sdp.ErrSRTPRequired):
		return `399 hotline "SRTP is required: offer RTP/SAVP with a supported crypto suite"`
	case errors.Is(err, errSRTPDowngrade):
		return `399 hotline "SRTP cannot be turned off during a call"`
	}
	return `304 hotline "Media type not available"`
}
