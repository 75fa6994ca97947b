package sip

import (
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
)

// In-dialog requests that do not change the session: ACK, BYE, INFO.

func (s *Server) onAck(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	// A late-offer call's answer rides on the ACK: hand it to the leg
	// before the ACK releases the leg's Answer.
	if len(req.Body()) > 0 {
		if leg := s.legFor(req); leg != nil {
			leg.mu.Lock()
			leg.ackSDP = append([]byte(nil), req.Body()...)
			leg.mu.Unlock()
		}
	}
	if err := s.dialogSrv.ReadAck(req, tx); err != nil {
		// ACKs of re-INVITEs and of dialogs already gone need nothing from us.
		s.log.Debug("sip: ack", "err", err)
	}
}

func (s *Server) onBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	// A dialog already ended (the leg waits only for its owner to release
	// it) answers a new BYE like one that never existed.
	if leg := s.legFor(req); leg != nil { // remoteBye answers 481 for one already ended
		leg.remoteBye(req, tx)
		return
	}
	s.Stats.ByeUnknownIn.Add(1)
	s.respond(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
}

// legFor finds the leg an in-dialog request belongs to.
func (s *Server) legFor(req *sipmsg.Request) *Leg {
	cid := req.CallID()
	if cid == nil {
		return nil
	}
	v, ok := s.legs.Load(cid.Value())
	if !ok {
		return nil
	}
	leg := v.(*Leg)
	if leg.external || !leg.matches(req) {
		return nil
	}
	return leg
}

func (s *Server) onInfo(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	leg := s.legFor(req)
	if leg == nil {
		s.respond(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = strings.ToLower(h.Value())
	}
	switch {
	case strings.HasPrefix(ct, "application/dtmf-relay"), strings.HasPrefix(ct, "application/dtmf"):
		d, ok := parseInfoDTMF(string(req.Body()))
		if !ok {
			s.respond(tx, req, sipmsg.StatusBadRequest, "Bad DTMF Body")
			return
		}
		s.Stats.InfoDTMFIn.Add(1)
		leg.media.InjectDTMF(d)
		s.respond(tx, req, sipmsg.StatusOK, "OK")
	case len(req.Body()) == 0:
		s.respond(tx, req, sipmsg.StatusOK, "OK") // keep-alive style INFO
	default:
		s.respond(tx, req, sipmsg.StatusUnsupportedMediaType, "Unsupported Media Type")
	}
}

// parseInfoDTMF reads "Signal=5\r\nDuration=160" (dtmf-relay) or a bare digit (application/dtmf).
func parseInfoDTMF(body string) (rune, bool) {
	body = strings.TrimSpace(body)
	for _, line := range strings.Split(body, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if strings.EqualFold(strings.TrimSpace(k), "signal") {
			body = strings.TrimSpace(v)
			break
		}
	}
	switch {
	case body == "10":
		return '*', true
	case body == "11":
		return '#', true
	case len(body) != 1:
		return 0, false
	}
	d := rune(body[0])
	if (d >= '0' && d <= '9') || d == '*' || d == '#' || (d >= 'A' && d <= 'D') {
		return d, true
	}
	return 0, false
}
