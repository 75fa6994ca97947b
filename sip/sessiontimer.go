package sip

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/hotlinecc/hotline/media/sdp"
)

// Session timers (RFC 4028) let a call notice that its peer vanished
// without a BYE: one side refreshes the session with a re-INVITE every
// half interval; if no refresh arrives in time the other side ends it.
// Hotline takes part when a caller's INVITE asks for it (Supported: timer
// or a Session-Expires header). It lets the caller refresh unless the
// caller asked the engine to (refresher=uas), and it ends the leg with
// cause SessionExpired when a refresh it waits for never comes.

// SessionExpired is the EndCause of a leg whose session timer ran out.
const SessionExpired = "session expired"

// DefaultMinSE is RFC 4028's floor for the session interval.
const DefaultMinSE = 90 * time.Second

// sessionTimer is a leg's negotiated timer.
type sessionTimer struct {
	interval  time.Duration
	weRefresh bool // refresher=uas on an inbound leg
	refreshed chan struct{}
}

// sessionRequest reads a request's Session-Expires and whether the UAC
// supports timers. ok is false when the request does not ask for one.
func sessionRequest(req *sipmsg.Request) (interval time.Duration, refresher string, supported, ok bool) {
	for _, h := range req.GetHeaders("Supported") {
		for _, opt := range strings.Split(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(opt), "timer") {
				supported = true
			}
		}
	}
	h := req.GetHeader("Session-Expires")
	if h == nil {
		h = req.GetHeader("x")
	}
	if h == nil {
		return 0, "", supported, false
	}
	val, params, _ := strings.Cut(h.Value(), ";")
	secs, err := strconv.Atoi(strings.TrimSpace(val))
	if err != nil || secs <= 0 {
		return 0, "", supported, false
	}
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "refresher") {
			refresher = strings.ToLower(strings.TrimSpace(v))
		}
	}
	return time.Duration(secs) * time.Second, refresher, supported, true
}

// negotiateSession decides the timer of an inbound INVITE. It returns the
// status to refuse it with (422, interval too small) or 0, and the headers
// our 2xx must carry.
func (s *Server) negotiateSession(req *sipmsg.Request) (*sessionTimer, []sipmsg.Header, int) {
	interval, refresher, supported, ok := sessionRequest(req)
	if !ok {
		return nil, nil, 0
	}
	minSE := s.cfg.MinSE
	if interval < minSE {
		return nil, []sipmsg.Header{sipmsg.NewHeader("Min-SE", strconv.Itoa(int(minSE/time.Second)))}, 422
	}
	if refresher != "uas" {
		refresher = "uac"
	}
	if !supported {
		// A UAC that does not support timers cannot refresh: we must.
		refresher = "uas"
	}
	hdrs := []sipmsg.Header{sipmsg.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=%s", int(interval/time.Second), refresher))}
	if supported {
		hdrs = append(hdrs, sipmsg.NewHeader("Require", "timer"))
	}
	return &sessionTimer{interval: interval, weRefresh: refresher == "uas", refreshed: make(chan struct{}, 1)}, hdrs, 0
}

// refreshed notes a refresh from the peer (any re-INVITE).
func (l *Leg) sessionRefreshed() {
	if st := l.session; st != nil {
		select {
		case st.refreshed <- struct{}{}:
		default:
		}
	}
}

// runSessionTimer watches (or makes) the refreshes of an answered leg until
// it ends. Waiting, the session ends min(32 s, interval/3) before its
// expiry (RFC 4028 §10); refreshing, a re-INVITE goes out every half
// interval and a failed one ends the leg.
func (l *Leg) runSessionTimer() {
	st := l.session
	defer l.srv.wg.Done()
	if st.weRefresh {
		t := time.NewTicker(st.interval / 2)
		defer t.Stop()
		for {
			select {
			case <-l.ctx.Done():
				return
			case <-t.C:
				if err := l.refreshSession(); err != nil {
					l.srv.log.Info("sip: session refresh failed; ending the leg", "leg", l.ID, "err", err)
					l.expire()
					return
				}
			}
		}
	}
	grace := min(32*time.Second, st.interval/3)
	t := time.NewTimer(st.interval - grace)
	defer t.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-st.refreshed:
			if !t.Stop() {
				<-t.C
			}
			t.Reset(st.interval - grace)
		case <-t.C:
			l.srv.log.Info("sip: no session refresh from the peer; ending the leg", "leg", l.ID, "interval", st.interval)
			l.expire()
			return
		}
	}
}

// expire ends a leg whose session is gone: BYE (the peer may still be
// there behind a broken path) and the cause says why.
func (l *Leg) expire() {
	from, ok := l.endFrom(SessionExpired) // the cause first, as in hangup
	if !ok {
		return
	}
	l.srv.Stats.SessionsExpired.Add(1)
	if err := l.tellPeer(context.Background(), from); err != nil {
		l.srv.log.Debug("sip: bye of an expired session", "leg", l.ID, "err", err)
	}
}

// refreshSession sends a session-refresh re-INVITE (same SDP, version
// bumped as RFC 3264 requires for a new offer) and ACKs its 2xx.
func (l *Leg) refreshSession() error {
	ctx, cancel := context.WithTimeout(l.ctx, 8*time.Second)
	defer cancel()
	dir := sdp.SendRecv
	if l.RemoteHold() {
		dir = sdp.RecvOnly
	}
	l.mu.Lock()
	l.sdpVersion++
	l.mu.Unlock()
	body := l.localSDP(dir)
	req := sipmsg.NewRequest(sipmsg.INVITE, l.remoteTarget())
	req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(sipmsg.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=uas", int(l.session.interval/time.Second))))
	req.SetBody(body)
	res, err := l.dss.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("re-INVITE: %w", err)
	}
	if !res.IsSuccess() {
		return fmt.Errorf("re-INVITE: %d %s", res.StatusCode, res.Reason)
	}
	ack := sipmsg.NewRequest(sipmsg.ACK, l.remoteTarget())
	ack.AppendHeader(&sipmsg.CSeqHeader{SeqNo: req.CSeq().SeqNo, MethodName: sipmsg.ACK})
	if err := l.dss.WriteRequest(ack); err != nil {
		return fmt.Errorf("ACK of the refresh: %w", err)
	}
	return nil
}

// remoteTarget is the peer's Contact from its INVITE.
func (l *Leg) remoteTarget() sipmsg.Uri {
	if c := l.dss.InviteRequest.Contact(); c != nil {
		return *c.Address.Clone()
	}
	return *l.dss.InviteRequest.From().Address.Clone()
}
