package sip

import (
	"errors"
	"strconv"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// REGISTER handling: digest check, then the registrar's bindings.

func (s *Server) onRegister(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	hdr := ""
	if h := req.GetHeader("Authorization"); h != nil {
		hdr = h.Value()
	}
	cred, err := s.auth.verify(hdr, "REGISTER", s.cfg.Credentials)
	if err != nil {
		if errors.Is(err, errNoCredentials) || errors.Is(err, errStale) {
			s.respond(tx, req, sipmsg.StatusUnauthorized, "Unauthorized",
				sipmsg.NewHeader("WWW-Authenticate", s.auth.challenge(errors.Is(err, errStale))))
			return
		}
		s.Stats.AuthFailures.Add(1)
		s.log.Info("sip: registration refused", "source", req.Source(), "err", err)
		s.respond(tx, req, sipmsg.StatusForbidden, "Forbidden")
		return
	}
	// A phone may register only its own address of record.
	if to := req.To(); to == nil || to.Address.User != cred.User {
		s.respond(tx, req, sipmsg.StatusForbidden, "Forbidden")
		return
	}
	bindings, _ := s.reg.update(cred.User, req, req.Source())
	s.Stats.Registrations.Add(1)
	// Before the 200 OK: once the phone hears it is registered, every node can ring it.
	s.publish(cred.User)
	res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", nil)
	now := time.Now()
	for _, b := range bindings {
		c := &sipmsg.ContactHeader{Address: b.Contact}
		c.Params = sipmsg.NewParams()
		c.Params.Add("expires", strconv.Itoa(int(b.Expires.Sub(now).Round(time.Second).Seconds())))
		res.AppendHeader(c)
	}
	res.AppendHeader(sipmsg.NewHeader("Date", now.UTC().Format(time.RFC1123)))
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sip: register respond", "err", err)
	}
	s.log.Debug("sip: registered", "user", cred.User, "contacts", len(bindings))
}
