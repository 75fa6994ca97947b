package sip

import sipmsg "github.com/emiago/sipgo/sip"

// OPTIONS: keep-alive and capability probes from phones, trunks and proxies.

func (s *Server) onOptions(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	s.Stats.OptionsIn.Add(1)
	s.respond(tx, req, sipmsg.StatusOK, "OK",
		sipmsg.NewHeader("Allow", allowed), sipmsg.NewHeader("Accept", "application/sdp"))
}
