package sip

import (
	"strconv"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/hotlinecc/hotline/sip/guard"
)

// REGISTER handling: digest check, then the registrar's bindings.

func (s *Server) onRegister(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !s.screen(req, tx) {
		return
	}
	cred, ok := s.authenticate(req, tx, guard.SurfaceSIPRegister)
	if !ok {
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
