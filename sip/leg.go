package sip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/media/sdp"
)

// Leg is one SIP dialog and the RTP session carrying its audio through the
// engine. Inbound legs come from trunks and phones; outbound legs ring
// agents and supervisors.
type Leg struct {
	ID      string // Call-ID of the dialog
	Inbound bool
	Info    CallInfo
	// User is the registered user an outbound leg rings.
	User string

	srv   *Server
	media *media.Session
	dss   *sipgo.DialogServerSession
	dcs   *sipgo.DialogClientSession

	ctx    context.Context
	cancel context.CancelFunc

	mu         sync.Mutex
	state      legState      // leg_fsm.go
	settled    chan struct{} // closed when the leg leaves setup and answering
	cause      string
	codec      media.Codec
	dtmfPT     uint8
	remote     netip.AddrPort
	remoteHold bool
	onHold     func(held bool)
	sessID     uint64
	sdpVersion uint64
	closeOnce  sync.Once
	started    time.Time
	answeredAt time.Time // zero until the dialog is confirmed; kept after the end
	// session is the RFC 4028 timer the caller asked for (nil: none);
	// sessionHdrs go into our 2xx.
	session     *sessionTimer
	sessionHdrs []sipmsg.Header
	neg         negotiation
	// lateOffer: the INVITE had no SDP, so our 200 OK offers and the
	// peer's answer comes in the ACK (ackSDP, set by the server's ACK handler).
	lateOffer bool
	ackSDP    []byte
	secure    bool // signalling over TLS (sips: / transport=tls)
	external  bool // signalled outside SIP (external.go)
}

func (s *Server) newLeg(id string, inbound bool, info CallInfo, sess *media.Session) *Leg {
	ctx, cancel := context.WithCancel(s.ctx)
	l := &Leg{
		ID: id, Inbound: inbound, Info: info, srv: s, media: sess, ctx: ctx, cancel: cancel,
		sessID: rand.Uint64() >> 1, sdpVersion: 1, started: time.Now(), settled: make(chan struct{}),
	}
	s.active.Add(1)
	s.wg.Add(1)
	s.Stats.LegsOpened.Add(1)
	return l
}

// Context ends when the leg ends.
func (l *Leg) Context() context.Context { return l.ctx }

// Done is closed when the leg ends.
func (l *Leg) Done() <-chan struct{} { return l.ctx.Done() }

// Media is the leg's RTP session.
func (l *Leg) Media() *media.Session { return l.media }

// Codec is the negotiated audio codec.
func (l *Leg) Codec() media.Codec {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.codec
}

// EndCause says why the leg ended ("" while it is up).
func (l *Leg) EndCause() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cause
}

// Answered reports whether the leg was answered (its dialog confirmed),
// even if it has ended since.
func (l *Leg) Answered() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.answeredAt.IsZero()
}

// markAnswered confirms the dialog: the ACK for our 2xx came in, or we
// ACKed the peer's. It reports false when the leg ended meanwhile.
func (l *Leg) markAnswered() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.moveLocked(legAnswered); err != nil {
		return false
	}
	l.answeredAt = time.Now()
	return true
}

// RemoteHold reports whether the phone has put us on hold (sendonly/inactive).
func (l *Leg) RemoteHold() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.remoteHold
}

// OnHold registers a function told when the far end holds or resumes.
func (l *Leg) OnHold(fn func(held bool)) {
	l.mu.Lock()
	l.onHold = fn
	l.mu.Unlock()
}

// Ring sends 180 Ringing on an inbound leg.
func (l *Leg) Ring() error {
	if !l.Inbound || l.dss == nil {
		return errors.New("sip: ring on an outbound leg")
	}
	if err := l.dss.Respond(sipmsg.StatusRinging, "Ringing", nil); err != nil {
		return fmt.Errorf("sip: send 180: %w", err)
	}
	return nil
}

// Answer sends 200 OK with our SDP on an inbound leg and waits for the ACK.
func (l *Leg) Answer(ctx context.Context) error {
	if !l.Inbound || l.dss == nil {
		return errors.New("sip: answer on an outbound leg")
	}
	dir := sdp.SendRecv
	if l.RemoteHold() {
		dir = sdp.RecvOnly
	}
	body := l.localSDP(dir)
	if l.lateOffer {
		var err error
		if body, err = l.offerSDP(l.srv.formats(), l.secure); err != nil {
			l.end("answer failed")
			return err
		}
	}
	res := sipmsg.NewSDPResponseFromRequest(l.dss.InviteRequest, body)
	res.AppendHeader(l.srv.contactFor(l.secure))
	for _, h := range l.sessionHdrs {
		res.AppendHeader(h)
	}
	// From here a hang-up is a BYE: the 2xx may reach the phone whatever
	// happens to this call.
	l.mu.Lock()
	if err := l.moveLocked(legAnswering); err != nil {
		cause := l.cause
		l.mu.Unlock()
		return fmt.Errorf("sip: answer: leg already ended (%s): %w", cause, err)
	}
	l.mu.Unlock()
	// WriteResponse retransmits the 2xx until the ACK (up to 64*T1).
	finished, err := l.srv.aside(ctx, func() error { return l.dss.WriteResponse(res) })
	if !finished {
		return fmt.Errorf("sip: answer %s: %w", l.ID, ctx.Err())
	}
	if err != nil {
		_ = l.hangup(context.Background(), "answer failed")
		return fmt.Errorf("sip: answer %s: %w", l.ID, err)
	}
	if l.lateOffer {
		// The ACK carried the answer to the offer in our 200 OK.
		if err := l.takeLateAnswer(); err != nil {
			l.markAnswered()
			_ = l.hangup(context.Background(), "late offer: "+err.Error())
			return fmt.Errorf("sip: answer %s: %w", l.ID, err)
		}
	}
	if !l.markAnswered() {
		return fmt.Errorf("sip: answer %s: leg ended before the ACK (%s)", l.ID, l.EndCause())
	}
	if l.session != nil {
		l.srv.wg.Add(1)
		go l.runSessionTimer()
	}
	return nil
}

// Reject refuses an unanswered inbound leg with a final status.
func (l *Leg) Reject(code int, reason string) error {
	if !l.Inbound || l.dss == nil {
		return errors.New("sip: reject on an outbound leg")
	}
	l.mu.Lock()
	state := l.state
	l.mu.Unlock()
	if state != legSetup {
		return fmt.Errorf("sip: reject on a leg %s", state)
	}
	err := l.dss.Respond(code, reason, nil)
	l.end(fmt.Sprintf("rejected %d", code))
	if err != nil {
		return fmt.Errorf("sip: reject %s: %w", l.ID, err)
	}
	return nil
}

// Hangup ends the leg from our side: BYE when answered (or answering),
// 480 when an inbound leg was never answered. Without a deadline in ctx it
// waits at most hangupTimeout, so a phone that vanished cannot hold the
// caller for a whole SIP transaction timeout.
func (l *Leg) Hangup(ctx context.Context) error { return l.hangup(ctx, LocalHangup) }

// hangup ends the leg with cause and tells the peer as its state requires.
// The end comes first, in one move: when the BYE is answered the dialog's
// own "ended" callback fires, and it must not pass for the peer hanging up.
func (l *Leg) hangup(ctx context.Context, cause string) error {
	from, ok := l.endFrom(cause)
	if !ok {
		return nil
	}
	return l.tellPeer(ctx, from)
}

// tellPeer ends the dialog of a leg we ended from state from: BYE once a
// 2xx went either way, 480 for an inbound call never answered.
//
// Once the leg has ended, the request is a transaction of its own: it
// runs to its answer (retransmitted over UDP) within ctx's deadline or
// hangupTimeout, whichever is sooner, whatever becomes of ctx otherwise.
// The caller's context is often the leg's own, which ending the leg has
// just cancelled; abandoning the BYE then would stop its retransmissions,
// and a BYE lost on the way would leave the peer's channel up.
func (l *Leg) tellPeer(ctx context.Context, from legState) error {
	deadline := time.Now().Add(hangupTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	ctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	var err error
	switch {
	case from != legSetup && l.dss != nil:
		// In answering, sipgo holds the BYE until the ACK or ctx's end.
		err = l.dss.Bye(ctx)
	case from == legAnswered && l.dcs != nil:
		err = l.dcs.Bye(ctx)
	case from == legSetup && l.Inbound && l.dss != nil:
		err = l.respondBounded(ctx, sipmsg.StatusTemporarilyUnavailable, "Temporarily Unavailable")
	}
	if err != nil {
		return fmt.Errorf("sip: hang up %s: %w", l.ID, err)
	}
	return nil
}

// respondBounded sends a final non-2xx response and waits for its ACK no
// longer than ctx (sipgo would wait up to Timer H, 32 s); after that the
// ACK is the transaction's business.
func (l *Leg) respondBounded(ctx context.Context, code int, reason string) error {
	_, err := l.srv.aside(ctx, func() error { return l.dss.Respond(code, reason, nil) })
	return err
}

// aside runs one of sipgo's waits that take no context (a 2xx retransmitted
// until its ACK, a final response waiting for its ACK) on a goroutine the
// server owns, and waits for it no longer than ctx: finished is false when
// ctx ended first. Such waits end at the latest when the transaction layer
// closes, which Run waits for.
func (s *Server) aside(ctx context.Context, wait func() error) (finished bool, err error) {
	errc := make(chan error, 1)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		errc <- wait()
	}()
	select {
	case err := <-errc:
		return true, err
	case <-ctx.Done():
		return false, nil
	}
}

func (l *Leg) matches(req *sipmsg.Request) bool {
	from, to := req.From(), req.To()
	if from == nil || to == nil {
		return false
	}
	ft, _ := from.Params.Get("tag")
	tt, _ := to.Params.Get("tag")
	switch {
	case l.dss != nil:
		id, err := sipmsg.DialogIDFromRequestUAS(req)
		return err == nil && id == l.dss.ID
	case l.dcs != nil:
		id, err := sipmsg.DialogIDFromRequestUAC(req)
		return err == nil && id == l.dcs.ID
	}
	return ft != "" && tt != ""
}

func (l *Leg) remoteBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	// End first: once the phone has its 200 it may send anything next, and
	// a request that arrives then must find the dialog gone, not live.
	if !l.end("remote hangup") {
		l.srv.Stats.ByeUnknownIn.Add(1)
		l.srv.respond(tx, req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", nil)
	if err := tx.Respond(res); err != nil {
		l.srv.log.Debug("sip: bye respond", "err", err)
	}
}

// reinvite answers an in-dialog INVITE from the phone: a hold (sendonly or
// inactive), a resume, or a new media address.
func (l *Leg) reinvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	l.sessionRefreshed()
	var offer *sdp.Description
	var err error
	if len(req.Body()) > 0 {
		// An offerless re-INVITE (session refresh) is answered with our current SDP.
		offer, err = sdp.Parse(req.Body())
	}
	if err != nil {
		l.srv.respond(tx, req, sipmsg.StatusBadRequest, "Bad SDP")
		return
	}
	dir := sdp.SendRecv
	if offer != nil {
		l.mu.Lock()
		policy := l.neg.policy
		l.mu.Unlock()
		ans, err := sdp.Negotiate(offer, l.srv.sdpPolicy([]sdp.Format{{Name: l.Codec().Name, Rate: 8000}}, policy))
		if err == nil && l.media.SRTP() && ans.Crypto == nil {
			err = errSRTPDowngrade
		}
		if err != nil {
			l.srv.respond(tx, req, sipmsg.StatusNotAcceptableHere, "Not Acceptable Here", sipmsg.NewHeader("Warning", sdpRefusal(err)))
			return
		}
		wasHeld := l.RemoteHold()
		if ans.Remote.Addr().IsUnspecified() {
			ans.Remote = l.remoteAddr()
		}
		if err := l.applyAnswer(ans, offer); err != nil {
			l.srv.respond(tx, req, sipmsg.StatusNotAcceptableHere, "Not Acceptable Here", sipmsg.NewHeader("Warning", sdpRefusal(err)))
			return
		}
		dir = ans.Direction
		l.media.SetDirection(mediaDirection(dir))
		held := l.RemoteHold()
		l.mu.Lock()
		fn := l.onHold
		l.sdpVersion++
		l.mu.Unlock()
		if fn != nil && held != wasHeld {
			fn(held)
		}
	} else if l.RemoteHold() {
		dir = sdp.RecvOnly
	}
	res := sipmsg.NewSDPResponseFromRequest(req, l.localSDP(dir))
	res.AppendHeader(l.srv.contactFor(l.secure))
	for _, h := range l.sessionHdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		l.srv.log.Debug("sip: re-INVITE respond", "err", err)
	}
}

// takeLateAnswer reads the peer's answer from the ACK of a late-offer call.
func (l *Leg) takeLateAnswer() error {
	l.mu.Lock()
	body, policy := l.ackSDP, l.neg.policy
	l.mu.Unlock()
	if len(body) == 0 {
		return errors.New("ACK carried no SDP answer")
	}
	d, err := sdp.Parse(body)
	if err != nil {
		return fmt.Errorf("answer in ACK: %w", err)
	}
	a, err := sdp.Negotiate(d, l.srv.sdpPolicy(l.srv.formats(), policy))
	if err != nil {
		return fmt.Errorf("answer in ACK: %w", err)
	}
	l.media.SetDirection(mediaDirection(a.Direction))
	return l.applyAnswer(a, nil)
}

func (l *Leg) remoteAddr() netip.AddrPort {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.remote
}

// end marks the leg ended once and cancels its context; it reports
// whether this call ended it.
func (l *Leg) end(cause string) bool {
	_, ok := l.endFrom(cause)
	return ok
}

// endFrom is end that also says which state the leg ended from.
func (l *Leg) endFrom(cause string) (legState, bool) {
	l.mu.Lock()
	from := l.state
	if err := l.moveLocked(legEnded); err != nil {
		l.mu.Unlock()
		return from, false
	}
	l.cause = cause
	l.mu.Unlock()
	l.cancel()
	return from, true
}

// close releases everything the leg holds; safe to call more than once.
func (l *Leg) close() {
	l.closeOnce.Do(func() {
		if err := l.Hangup(context.Background()); err != nil {
			l.srv.log.Debug("sip: hangup at close", "leg", l.ID, "err", err)
		}
		l.end("closed")
		l.media.Close()
		if l.dss != nil {
			l.dss.Close()
		}
		if l.dcs != nil {
			l.dcs.Close()
		}
		l.srv.legs.CompareAndDelete(l.ID, l)
		l.srv.active.Add(-1)
		l.srv.Stats.LegsClosed.Add(1)
		l.srv.wg.Done()
	})
}

// hangupTimeout bounds the BYE sent when a leg is released.
const hangupTimeout = 2 * time.Second

// Close hangs up (if needed) and releases an outbound leg. Inbound legs are
// closed by the server when the Handler's Serve returns.
func (l *Leg) Close() { l.close() }

// DialError is a failed outbound call attempt.
type DialError struct {
	Status int // SIP status, 0 for timeouts and transport errors
	Reason string
}

func (e *DialError) Error() string {
	if e.Status == 0 {
		return "sip: dial: " + e.Reason
	}
	return fmt.Sprintf("sip: dial: %d %s", e.Status, e.Reason)
}

// LocalHangup is the EndCause of a leg we hung up (Hangup).
const LocalHangup = "local hangup"

// ErrNotRunning is Dial before Run or after it returned.
var ErrNotRunning = errors.New("sip: server not running")

// ErrNotRegistered means the user has no live contact, here or (with a
// Directory) on any node.
var ErrNotRegistered = errors.New("sip: user not registered")

// DialRequest says whom to call and as whom.
type DialRequest struct {
	User       string // registered phone user (agent id) to ring
	URI        string // or an explicit SIP URI (external destination via a trunk)
	CallerID   string
	CallerName string
	Headers    map[string]string // extra headers, e.g. Alert-Info for auto-answer
}

// Dial rings a registered phone (every contact registered here, else every
// live one in the Config.Directory, all at once; the first to
// answer wins) or a URI. It returns an answered leg, or an error when every
// contact refused, or ctx ended (which CANCELs the ringing).
// The caller owns the returned leg and must Close it.
func (s *Server) Dial(ctx context.Context, dr DialRequest) (*Leg, error) {
	if !s.running.Load() || s.ctx.Err() != nil {
		return nil, ErrNotRunning
	}
	var targets []dialTarget
	if dr.User != "" {
		uris, err := s.userTargets(ctx, dr.User)
		if err != nil {
			return nil, err
		}
		for _, u := range uris {
			targets = append(targets, dialTarget{uri: u, media: s.phoneMedia(dr.User, u)})
		}
	} else {
		var u sipmsg.Uri
		if err := sipmsg.ParseUri(dr.URI, &u); err != nil {
			return nil, fmt.Errorf("sip: dial %q: %w", dr.URI, err)
		}
		targets = append(targets, dialTarget{uri: u, media: s.trunkMedia(u)})
	}
	s.Stats.DialsOut.Add(1)
	type result struct {
		leg *Leg
		err error
	}
	ringCtx, stopRinging := context.WithCancel(ctx)
	defer stopRinging()
	results := make(chan result, len(targets))
	for _, t := range targets {
		go func() {
			leg, err := s.dialOne(ringCtx, t, dr)
			results <- result{leg, err}
		}()
	}
	var winner *Leg
	var firstErr error
	for range targets {
		r := <-results
		switch {
		case r.err == nil && winner == nil:
			winner = r.leg
			stopRinging() // CANCEL the other contacts
		case r.err == nil:
			r.leg.Close() // a second contact answered too late: BYE it
		case firstErr == nil || isBetterError(r.err, firstErr):
			firstErr = r.err
		}
	}
	if winner != nil {
		s.Stats.DialsAnswered.Add(1)
		return winner, nil
	}
	s.Stats.DialsFailed.Add(1)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("sip: dial %s: %w", dr.User+dr.URI, ctx.Err())
	}
	return nil, firstErr
}

// isBetterError prefers a SIP status (busy, decline) over a timeout when
// telling the caller why nobody answered.
func isBetterError(candidate, current error) bool {
	var c, cur *DialError
	return errors.As(candidate, &c) && c.Status != 0 && !(errors.As(current, &cur) && cur.Status != 0)
}

func (s *Server) dialOne(ctx context.Context, t dialTarget, dr DialRequest) (*Leg, error) {
	target := t.uri
	sess, err := s.newMedia(t.media)
	if err != nil {
		return nil, fmt.Errorf("sip: dial: media: %w", err)
	}
	callID := sipmsg.GenerateTagN(24)
	info := CallInfo{CallID: callID, Caller: dr.CallerID, CallerName: dr.CallerName, Dialled: target.User}
	leg := s.newLeg(callID, false, info, sess)
	leg.User = dr.User
	leg.codec = s.cfg.Codecs[0]
	leg.dtmfPT = 101
	leg.secure = target.IsEncrypted() || strings.EqualFold(target.UriParams.GetOr("transport", ""), "tls")
	leg.neg.policy = s.srtpPolicyFor(dr)
	body, err := leg.offerSDP(s.formats(), leg.secure)
	if err != nil {
		leg.close()
		return nil, &DialError{Reason: err.Error()}
	}
	req := sipmsg.NewRequest(sipmsg.INVITE, target)
	from := &sipmsg.FromHeader{
		DisplayName: dr.CallerName,
		Address:     sipmsg.Uri{Scheme: "sip", User: orDefault(dr.CallerID, "hotline"), Host: s.contact.Address.Host, Port: s.contact.Address.Port},
		Params:      sipmsg.NewParams(),
	}
	from.Params.Add("tag", sipmsg.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sipmsg.ToHeader{Address: target, Params: sipmsg.NewParams()})
	cid := sipmsg.CallIDHeader(callID)
	req.AppendHeader(&cid)
	req.AppendHeader(s.contactFor(leg.secure))
	req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(sipmsg.NewHeader("Allow", allowed))
	for k, v := range dr.Headers {
		req.AppendHeader(sipmsg.NewHeader(k, v))
	}
	req.SetBody(body)
	if tr, ok := target.UriParams.Get("transport"); ok && tr != "" {
		req.SetTransport(strings.ToUpper(tr))
	}

	dcs, err := s.dialogCli.WriteInvite(ctx, req)
	if err != nil {
		leg.close()
		return nil, &DialError{Reason: err.Error()}
	}
	leg.dcs = dcs
	s.legs.Store(callID, leg)
	// WaitAnswer blocks until a provisional arrives before it can CANCEL, so
	// an unreachable phone would hold us for Timer B: run it aside and stop
	// waiting as soon as ctx ends.
	waitCtx, stopWait := context.WithCancel(ctx)
	defer stopWait()
	errc := make(chan error, 1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		errc <- waitAnswer(waitCtx, dcs)
	}()
	select {
	case err = <-errc:
	case <-ctx.Done():
		err = ctx.Err()
		// The CANCEL completes in the background; a 200 OK that crosses
		// it (or arrives while it waits for a provisional) is still ACKed
		// and hung up.
		// The dialog is still in use until WaitAnswer returns: the leg is
		// unlisted now and closed then.
		s.legs.CompareAndDelete(callID, leg)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			<-errc
			s.releaseLateAnswer(dcs)
			leg.close()
		}()
		return nil, &DialError{Reason: err.Error()}
	}
	if err != nil {
		// A 200 OK that crossed our CANCEL is answered ACK + BYE, never left hanging.
		s.releaseLateAnswer(dcs)
		leg.close()
		var de *sipgo.ErrDialogResponse
		if errors.As(err, &de) && de.Res != nil {
			return nil, &DialError{Status: de.Res.StatusCode, Reason: de.Res.Reason}
		}
		if ctx.Err() != nil {
			return nil, &DialError{Reason: ctx.Err().Error()}
		}
		return nil, &DialError{Reason: err.Error()}
	}
	ans, err := sdp.Parse(dcs.InviteResponse.Body())
	var neg sdp.Answer
	if err == nil {
		neg, err = sdp.Negotiate(ans, s.sdpPolicy(s.formats(), leg.neg.policy))
	}
	if err := dcs.Ack(context.Background()); err != nil {
		s.log.Debug("sip: ack", "err", err)
	}
	if !leg.markAnswered() {
		// Ended while the answer came in: the 2xx is ACKed, so BYE it.
		bctx, cancel := context.WithTimeout(context.Background(), hangupTimeout)
		_ = dcs.Bye(bctx)
		cancel()
		leg.close()
		return nil, &DialError{Reason: "leg ended as it was answered: " + leg.EndCause()}
	}
	if err != nil {
		leg.close()
		return nil, &DialError{Status: 488, Reason: "answer SDP unusable: " + err.Error()}
	}
	if ap, err := netip.ParseAddrPort(dcs.InviteResponse.Source()); err == nil {
		sess.SetSignalSource(ap.Addr()) // the phone behind NAT answers from where it sends RTP
	}
	if err := leg.applyAnswer(neg, nil); err != nil {
		leg.close()
		return nil, &DialError{Status: 488, Reason: "answer SDP unusable: " + err.Error()}
	}
	// Our offer was sendrecv; the answer's direction reversed is what the phone does.
	leg.mu.Lock()
	leg.remoteHold = false
	leg.mu.Unlock()
	dcs.OnState(func(st sipmsg.DialogState) {
		if st == sipmsg.DialogStateEnded {
			leg.end("dialog ended")
		}
	})
	sess.Start()
	return leg, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// mediaDirection maps our answered SDP direction to the RTP session's.
func mediaDirection(d sdp.Direction) media.Direction {
	switch d {
	case sdp.SendOnly:
		return media.SendOnly
	case sdp.RecvOnly:
		return media.RecvOnly
	case sdp.Inactive:
		return media.Inactive
	}
	return media.SendRecv
}

// LegInfo is a leg as the invariant checker sees it.
type LegInfo struct {
	ID       string
	Inbound  bool
	User     string // the phone user an outbound leg rang
	Answered bool
	Started  time.Time
}

// Legs lists the legs not yet ended (answered or still being set up).
func (s *Server) Legs() []LegInfo {
	var out []LegInfo
	s.legs.Range(func(_, v any) bool {
		l := v.(*Leg)
		l.mu.Lock()
		if l.state != legEnded {
			out = append(out, LegInfo{ID: l.ID, Inbound: l.Inbound, User: l.User, Answered: l.state == legAnswered, Started: l.started})
		}
		l.mu.Unlock()
		return true
	})
	return out
}

// waitAnswer is sipgo's WaitAnswer made safe against its cancel path: when
// ctx ends before any response and the INVITE transaction then terminates
// (its peer never answered, or we are shutting down), sipgo reads a nil
// response from the closed channel and dereferences it. That is one dial
// failing, never a reason to take the whole engine down.
func waitAnswer(ctx context.Context, dcs *sipgo.DialogClientSession) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sip: INVITE transaction ended while cancelling: %v", r)
		}
	}()
	return dcs.WaitAnswer(ctx, sipgo.AnswerOptions{})
}
