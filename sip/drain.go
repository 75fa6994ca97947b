package sip

import (
	"strconv"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// Draining: the engine is about to stop (or an operator paused it) and
// takes no new calls, while the calls already up go on. New INVITEs get
// 503 with Retry-After, and OPTIONS gets 503 too, so a proxy probing with
// OPTIONS (Kamailio's dispatcher, OpenSIPS's load balancer) takes the node
// out of rotation and a carrier retries elsewhere. Registrations and
// in-dialog requests (BYE, re-INVITE, INFO) are served as usual: agents
// keep working the calls in progress.

// SetDraining switches drain mode on (retryAfter > 0: the Retry-After
// advertised, rounded up to a second) or off (retryAfter <= 0).
func (s *Server) SetDraining(retryAfter time.Duration) {
	if retryAfter <= 0 {
		s.drainRetry.Store(0)
		return
	}
	secs := int64((retryAfter + time.Second - 1) / time.Second)
	s.drainRetry.Store(secs)
}

// Draining reports whether new calls are refused.
func (s *Server) Draining() bool { return s.drainRetry.Load() > 0 }

// refuseDraining answers a new INVITE or an OPTIONS probe with 503 while
// draining; it reports whether it did.
func (s *Server) refuseDraining(req *sipmsg.Request, tx sipmsg.ServerTransaction) bool {
	secs := s.drainRetry.Load()
	if secs <= 0 {
		return false
	}
	s.respond(tx, req, sipmsg.StatusServiceUnavailable, "Draining",
		sipmsg.NewHeader("Retry-After", strconv.FormatInt(secs, 10)))
	return true
}
