package sip

import (
	"net/netip"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/media/sdp"
	"github.com/hotlinecc/hotline/sip/guard"
)

// INVITE admission: who sent a call (trunk or phone), whether its media
// can be carried, and handing the new leg to the Handler.

// admit decides who sent an INVITE: a trunk by source address, or a phone by
// digest. It answers the INVITE itself when refusing.
func (s *Server) admit(req *sipmsg.Request, tx sipmsg.ServerTransaction) (Origin, bool) {
	src := req.Source()
	o := Origin{Source: src}
	if ap, err := netip.ParseAddrPort(src); err == nil {
		for _, t := range s.trunkList() {
			if t.TLSName != "" && !s.trunkCertOK(req, t.TLSName) {
				continue
			}
			for _, p := range t.Sources {
				if p.Contains(ap.Addr().Unmap()) {
					o.Trunk = t.Name
					o.External = t.Outbound != ""
					o.srtp = t.SRTP
					o.ownRTP = t.OwnRTPPort
					return o, true
				}
			}
		}
	}
	cred, ok := s.authenticate(req, tx, guard.SurfaceSIPInvite)
	if !ok {
		s.Stats.Rejected.Add(1)
		return o, false
	}
	o.User, o.External, o.srtp = cred.User, cred.External, cred.SRTP
	return o, true
}

func (s *Server) onInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	// In-dialog INVITE: hold, unhold, or a new media address.
	if to := req.To(); to != nil {
		if tag, _ := to.Params.Get("tag"); tag != "" {
			if leg := s.legFor(req); leg != nil {
				s.Stats.ReinvitesIn.Add(1)
				leg.reinvite(req, tx)
				return
			}
			s.respond(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
			return
		}
	}
	s.Stats.InvitesIn.Add(1)
	if !s.running.Load() || s.ctx.Err() != nil {
		s.respond(tx, req, sipmsg.StatusServiceUnavailable, "Shutting Down")
		return
	}
	if !s.screen(req, tx) {
		s.Stats.Rejected.Add(1)
		return
	}
	if s.refuseDraining(req, tx) {
		s.Stats.Rejected.Add(1)
		return
	}
	origin, ok := s.admit(req, tx)
	if !ok {
		return
	}
	info := CallInfo{Origin: origin, Transport: req.Transport(), Dialled: req.Recipient.User}
	if h := req.CallID(); h != nil {
		info.CallID = h.Value()
	}
	if f := req.From(); f != nil {
		info.Caller, info.CallerName = f.Address.User, f.DisplayName
	}
	if info.CallID == "" || req.Contact() == nil {
		s.Stats.Rejected.Add(1)
		s.respond(tx, req, sipmsg.StatusBadRequest, "Missing Call-ID or Contact")
		return
	}
	if _, dup := s.legs.Load(info.CallID); dup {
		s.Stats.Rejected.Add(1)
		s.respond(tx, req, sipmsg.StatusLoopDetected, "Loop Detected")
		return
	}
	// SDP first: a call whose media we cannot carry must not reach a flow.
	// An INVITE without a body is a late offer: our 200 OK will offer.
	var offer *sdp.Description
	var ans sdp.Answer
	if len(req.Body()) > 0 {
		var err error
		if offer, err = sdp.Parse(req.Body()); err != nil {
			s.Stats.Rejected.Add(1)
			s.Stats.MalformedSDP.Add(1)
			s.log.Info("sip: bad SDP in INVITE", "call_id", info.CallID, "source", origin.Source, "err", err)
			s.respond(tx, req, sipmsg.StatusBadRequest, "Bad SDP")
			return
		}
		if ans, err = sdp.Negotiate(offer, s.sdpPolicy(s.formats(), origin.srtp)); err != nil {
			s.Stats.Rejected.Add(1)
			s.Stats.CodecMismatch.Add(1)
			s.respond(tx, req, sipmsg.StatusNotAcceptableHere, "Not Acceptable Here",
				sipmsg.NewHeader("Warning", sdpRefusal(err)))
			return
		}
	}
	session, sessionHdrs, code := s.negotiateSession(req)
	if code != 0 {
		s.Stats.Rejected.Add(1)
		s.respond(tx, req, code, "Session Interval Too Small", sessionHdrs...)
		return
	}
	if code := s.handler.Admit(info); code != 0 {
		s.Stats.Rejected.Add(1)
		s.respond(tx, req, code, reasonPhrase(code))
		return
	}
	s.respond(tx, req, sipmsg.StatusTrying, "Trying")

	dss, err := s.dialogSrv.ReadInvite(req, tx)
	if err != nil {
		s.Stats.Rejected.Add(1)
		s.respond(tx, req, sipmsg.StatusBadRequest, "Bad Request")
		return
	}
	src := sourceAddr(req)
	mo := media.Options{Peer: src, SignalSource: src, OwnPort: origin.ownRTP}
	if origin.Trunk == "" && offer != nil && ans.Remote.Addr().Unmap() != src {
		// A phone whose SDP names another address than it signals from
		// (behind NAT): its media is latched by IP only, which a port of
		// its own keeps unambiguous.
		mo.OwnPort = true
	}
	sess, err := s.newMedia(mo)
	if err != nil {
		s.Stats.Rejected.Add(1)
		s.log.Warn("sip: no media port for call", "call_id", info.CallID, "err", err)
		_ = dss.Respond(sipmsg.StatusServiceUnavailable, "No Media Resources", nil)
		dss.Close()
		return
	}
	leg := s.newLeg(info.CallID, true, info, sess)
	leg.dss = dss
	leg.session, leg.sessionHdrs = session, sessionHdrs
	leg.neg.policy = origin.srtp
	leg.secure = strings.EqualFold(req.Transport(), "TLS")
	if offer == nil {
		leg.lateOffer = true
		leg.codec, leg.dtmfPT = s.cfg.Codecs[0], 101
	} else if err := leg.applyAnswer(ans, offer); err != nil {
		s.Stats.Rejected.Add(1)
		s.log.Info("sip: SDP offer unusable", "call_id", info.CallID, "err", err)
		_ = dss.Respond(sipmsg.StatusNotAcceptableHere, "Not Acceptable Here", nil, sipmsg.NewHeader("Warning", sdpRefusal(err)))
		leg.end("rejected 488")
		leg.close()
		return
	}
	s.legs.Store(info.CallID, leg)
	tx.OnCancel(func(*sipmsg.Request) {
		s.Stats.CancelsIn.Add(1)
		leg.end("caller cancelled")
	})
	dss.OnState(func(st sipmsg.DialogState) {
		if st != sipmsg.DialogStateEnded {
			return
		}
		if !leg.Answered() {
			// Our own rejections set their cause first; otherwise only a CANCEL ends an unanswered dialog.
			leg.end("caller cancelled")
			return
		}
		leg.end("dialog ended")
	})
	sess.Start()
	// The call is served on a goroutine of its own: sipgo's request
	// goroutine is needed only until the INVITE transaction is settled
	// (answered and ACKed, or ended), and a call that lasts minutes then
	// keeps only its own frames on its stack, not the SIP stack's — small
	// enough for the runtime to shrink it. The leg owns the goroutine
	// (leg.close ends its share of s.wg).
	served := make(chan struct{})
	go func() {
		defer close(served)
		defer leg.close()
		s.handler.Serve(leg.ctx, leg)
	}()
	select {
	case <-leg.settled:
	case <-served:
	}
}

func (s *Server) formats() []sdp.Format {
	out := make([]sdp.Format, 0, len(s.cfg.Codecs))
	for _, c := range s.cfg.Codecs {
		out = append(out, sdp.Format{PT: c.PayloadType, Name: c.Name, Rate: c.ClockRate})
	}
	return out
}

func codecFor(f sdp.Format) media.Codec {
	switch strings.ToUpper(f.Name) {
	case "PCMA":
		return media.PCMA
	default:
		return media.PCMU
	}
}

func reasonPhrase(code int) string {
	switch code {
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 480:
		return "Temporarily Unavailable"
	case 486:
		return "Busy Here"
	case 488:
		return "Not Acceptable Here"
	case 503:
		return "Service Unavailable"
	}
	return "Refused"
}

// newMedia opens a leg's RTP session with the configured latching (o's
// SignalSource: the IP the call's signalling came from, invalid when not
// yet known).
func (s *Server) newMedia(o media.Options) (*media.Session, error) {
	o.Latch = s.cfg.Latch
	return media.OpenSession(s.cfg.Ports, s.cfg.MediaIP, s.log, o)
}

// srtpPolicyFor is the SRTP policy of whom an outbound leg rings: the
// phone's, or the trunk's whose outbound address the URI names.
func (s *Server) srtpPolicyFor(dr DialRequest) sdp.SRTPPolicy {
	if dr.User != "" {
		if c, ok := s.cfg.Credentials(dr.User); ok {
			return c.SRTP
		}
		return sdp.SRTPOptional
	}
	var u sipmsg.Uri
	if err := sipmsg.ParseUri(dr.URI, &u); err == nil {
		for _, t := range s.trunkList() {
			hostPort, _, _ := strings.Cut(t.Outbound, ";") // "host:port;transport=tls"
			if t.Outbound != "" && strings.EqualFold(hostPort, u.HostPort()) {
				return t.SRTP
			}
		}
	}
	return sdp.SRTPOptional
}

// trunkCertOK: the request came over TLS from a connection whose verified
// client certificate names the trunk.
func (s *Server) trunkCertOK(req *sipmsg.Request, name string) bool {
	if !strings.EqualFold(req.Transport(), "TLS") {
		return false
	}
	for _, n := range s.tlsPeerNames(req.Source()) {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}
