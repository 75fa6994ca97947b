package sip

import (
	"errors"
	"net/netip"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/hotlinecc/hotline/sip/guard"
)

// The edge: every out-of-dialog INVITE and REGISTER passes screen (bans,
// per-source rate cap) before anything else, and every digest check goes
// through authenticate, which reports failures to the shared guard.

// sourceAddr is the IP a request came from (invalid if unparsable).
func sourceAddr(req *sipmsg.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// screen refuses a request from a banned source (403, the right password
// included) or one over its rate (503 with Retry-After). It answers the
// request itself and returns false when refusing.
func (s *Server) screen(req *sipmsg.Request, tx sipmsg.ServerTransaction) bool {
	src := sourceAddr(req)
	if !src.IsValid() {
		return true
	}
	if !s.guard.Allowed(src, "") {
		s.Stats.Banned.Add(1)
		s.respond(tx, req, sipmsg.StatusForbidden, "Forbidden")
		return false
	}
	if !s.guard.AllowRequest(src) {
		s.Stats.RateLimited.Add(1)
		s.respond(tx, req, sipmsg.StatusServiceUnavailable, "Too Many Requests", sipmsg.NewHeader("Retry-After", "5"))
		return false
	}
	return true
}

// authorization returns the request's digest credentials header.
func authorization(req *sipmsg.Request) string {
	if h := req.GetHeader("Authorization"); h != nil {
		return h.Value()
	}
	if h := req.GetHeader("Proxy-Authorization"); h != nil {
		return h.Value()
	}
	return ""
}

// authenticate checks req's digest. A missing, unknown, expired or replayed
// nonce is challenged (401, stale=true unless there were no credentials);
// a wrong answer is 403 and counts against the source and the user. It
// answers the request itself and returns false when refusing.
func (s *Server) authenticate(req *sipmsg.Request, tx sipmsg.ServerTransaction, surface string) (Credential, bool) {
	hdr := authorization(req)
	src := sourceAddr(req)
	if user := digestUser(hdr); user != "" && src.IsValid() && !s.guard.Allowed(src, user) {
		s.Stats.Banned.Add(1)
		s.respond(tx, req, sipmsg.StatusForbidden, "Forbidden")
		return Credential{}, false
	}
	cred, err := s.auth.verify(hdr, string(req.Method), req.Recipient, s.cfg.Credentials)
	var ae *authError
	switch {
	case err == nil:
		if src.IsValid() {
			s.guard.Succeed(src, cred.User)
		}
		return cred, true
	case errors.Is(err, errNoCredentials), errors.Is(err, errStale):
		s.respond(tx, req, sipmsg.StatusUnauthorized, "Unauthorized",
			sipmsg.NewHeader("WWW-Authenticate", s.auth.challenge(errors.Is(err, errStale))))
	case errors.As(err, &ae):
		s.Stats.AuthFailures.Add(1)
		// One line per ban (the guard's), not per failure: debug only.
		s.log.Debug("sip: authentication failed", "method", req.Method, "source", req.Source(), "err", err)
		if src.IsValid() {
			s.guard.Fail(surface, src, ae.User)
		}
		s.respond(tx, req, sipmsg.StatusForbidden, "Forbidden")
	default:
		s.respond(tx, req, sipmsg.StatusForbidden, "Forbidden")
	}
	return Credential{}, false
}

// guardSurface names the surface of a method for the guard's counters.
func guardSurface(m sipmsg.RequestMethod) string {
	if m == sipmsg.REGISTER {
		return guard.SurfaceSIPRegister
	}
	return guard.SurfaceSIPInvite
}
