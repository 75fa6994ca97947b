package sip

import sipmsg "github.com/emiago/sipgo/sip"

// OPTIONS: keep-alive and capability probes from phones, trunks and proxies.

func (s *Server) onOptions(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	s.Stats.OptionsIn.Add(1)
	if s.refuseDraining(req, tx) {
		return
	}
	s.respond(tx, req, sipmsg.StatusOK, "OK",
		sipmsg.NewHeader("Allow", allowed), sipmsg.NewHeader("Accept", "application/sdp"))
}
