package webrtc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	pion "github.com/pion/webrtc/v4"

	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/sip"
)

// browserLeg is one call's leg in a browser: the engine's leg (with its
// RTP session), the relay socket next to that session, and the peer
// connection of the page it is attached to (one after another when it
// re-attaches).
type browserLeg struct {
	e     *Endpoint
	x     *sip.ExternalLeg
	id    string
	user  string
	sess  *media.Session
	relay *net.UDPConn
	// relayAddr is where the session sends (its remote); sessAddr where
	// the relay writes the browser's packets.
	relayAddr, sessAddr netip.AddrPort

	connected chan struct{} // closed at the first connection: Dial returns the leg
	ended     chan struct{} // closed on reaching stEnded

	// cur is the attachment whose track the relay writes to.
	cur atomic.Pointer[attachment]

	mu         sync.Mutex
	state      legState
	cause      string
	declined   bool
	att        *attachment // the current (or last) peer connection
	grace      *time.Timer
	started    bool // the session's receive loop runs
	reattached int

	// The page's last receiver report about our stream.
	rrLost, rrJitter atomic.Uint64 // float64 bits
}

// attachment is one peer connection to one page.
type attachment struct {
	pc      *pion.PeerConnection
	page    Page
	track   *track
	connect *time.Timer
	codec   media.Codec
	dtmfPT  uint8
}

func newBrowserLeg(e *Endpoint, x *sip.ExternalLeg, user string) (*browserLeg, error) {
	sess := x.Leg().Media()
	local := sess.LocalAddr()
	relay, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local.Addr(), 0)))
	if err != nil {
		return nil, fmt.Errorf("webrtc: relay socket: %w", err)
	}
	l := &browserLeg{
		e: e, x: x, id: x.Leg().ID, user: user, sess: sess, relay: relay,
		relayAddr: relay.LocalAddr().(*net.UDPAddr).AddrPort(), sessAddr: local,
		connected: make(chan struct{}), ended: make(chan struct{}),
	}
	l.relayAddr = netip.AddrPortFrom(l.relayAddr.Addr().Unmap(), l.relayAddr.Port())
	e.goOwned(l.forwardToBrowser)
	return l, nil
}

// close releases what the leg holds besides the engine's leg.
func (l *browserLeg) close() {
	_ = l.relay.Close()
}

// watch ends the leg when the engine releases it, then cleans up.
func (l *browserLeg) watch() {
	select {
	case <-l.x.Leg().Done():
		l.fire(evEngineDone, l.x.Leg().EndCause())
	case <-l.e.ctx.Done():
		l.fire(evEngineDone, "shutdown")
	}
	<-l.ended
	l.close()
	l.e.forget(l)
}

// fire applies ev to the current state; its effects follow the table.
func (l *browserLeg) fire(ev legEvent, why string) { l.fireAtt(nil, ev, why) }

// fireAtt is fire for an event from one attachment: ignored when that is
// no longer the current one (a peer connection we closed ourselves).
func (l *browserLeg) fireAtt(att *attachment, ev legEvent, why string) {
	l.mu.Lock()
	if att != nil && att != l.att {
		l.mu.Unlock()
		return
	}
	from := l.state
	to, ok := next(from, ev)
	if !ok {
		l.mu.Unlock()
		return
	}
	l.state = to
	cur := l.att
	c := &l.e.Counters
	switch {
	case to == stDetached && from == stConnected:
		c.Detached.Add(1)
	case to == stConnected && from == stConnecting:
		c.Answered.Add(1)
	case to == stConnected:
		c.Reattached.Add(1)
	case to == stEnded && (from == stRinging || from == stConnecting):
		c.Failed.Add(1)
	case to == stEnded && ev == evGrace:
		c.Vanished.Add(1)
	}
	var closePC *attachment
	switch {
	case to == stEnded:
		l.cause = why
		l.declined = ev == evPageHangup && from == stRinging
		closePC = cur
		if l.grace != nil {
			l.grace.Stop()
		}
	case to == stDetached:
		closePC = cur
		l.armGraceLocked()
	case to == stConnected:
		if cur.connect != nil {
			cur.connect.Stop()
		}
		if from == stReattaching {
			l.reattached++
			if l.grace != nil {
				l.grace.Stop()
				l.grace = nil
			}
		}
	}
	l.mu.Unlock()
	l.e.log.Debug("webrtc leg", "leg", l.id, "user", l.user, "event", ev.String(), "from", from.String(), "to", to.String(), "why", why)

	if closePC != nil {
		l.cur.CompareAndSwap(closePC, nil)
		if closePC.connect != nil {
			closePC.connect.Stop()
		}
		if closePC.pc != nil {
			pc := closePC.pc
			l.e.goOwned(func() { _ = pc.Close() })
		}
	}
	switch to {
	case stConnected:
		l.sess.SetRemote(l.relayAddr, cur.codec, cur.dtmfPT)
		l.cur.Store(cur)
		l.mu.Lock()
		start := !l.started
		l.started = true
		l.mu.Unlock()
		if start {
			l.sess.Start()
		}
		if from == stConnecting {
			l.x.SetAnswered(cur.codec, cur.dtmfPT)
			close(l.connected)
		}
	case stEnded:
		if ev != evPageHangup && cur != nil {
			cur.page.Push(Signal{Kind: "hangup", Leg: l.id, Reason: why})
		}
		if ev != evEngineDone {
			l.x.End(endCause(ev, why))
		}
		close(l.ended)
	}
}

// endCause is the engine leg's EndCause for a leg ended from this side.
func endCause(ev legEvent, why string) string {
	switch ev {
	case evPageHangup:
		return "remote hangup" // as a BYE from a phone
	case evGrace:
		return "browser gone: " + why
	}
	return why
}

// armGraceLocked starts the re-attach grace (l.mu held).
func (l *browserLeg) armGraceLocked() {
	if l.grace != nil {
		return
	}
	g := l.e.Grace()
	if g < 0 {
		g = 0
	}
	l.grace = time.AfterFunc(g, func() { l.fire(evGrace, "not re-attached within "+g.String()) })
}

// pageLeft: pg's connection closed (or it unregistered).
func (l *browserLeg) pageLeft(pg Page) {
	l.mu.Lock()
	att := l.att
	l.mu.Unlock()
	if att != nil && att.page.Gone == pg.Gone {
		l.fireAtt(att, evFailed, "the page went")
	}
}

// reattach offers the leg to pg, the user's newly registered page, if it
// is not already carried by it. It reports whether an offer went.
func (l *browserLeg) reattach(pg Page) bool {
	l.mu.Lock()
	if l.att != nil && l.att.page.Gone == pg.Gone && l.state != stDetached {
		l.mu.Unlock()
		return false // this page carries it already (or is being offered it)
	}
	from := l.state
	to, ok := next(from, evReady)
	if !ok {
		l.mu.Unlock()
		return false
	}
	old := l.att
	// From now on the old connection's events are stale (att != l.att).
	l.state, l.att = to, nil
	l.armGraceLocked()
	l.mu.Unlock()
	l.e.log.Debug("webrtc leg", "leg", l.id, "user", l.user, "event", evReady.String(), "from", from.String(), "to", to.String())
	if old != nil {
		l.cur.CompareAndSwap(old, nil)
		if old.connect != nil {
			old.connect.Stop()
		}
		pc := old.pc
		l.e.goOwned(func() { _ = pc.Close() })
	}
	if err := l.offer(pg, Signal{Reattach: true, Caller: l.x.Leg().Info.Caller, CallerName: l.x.Leg().Info.CallerName}); err != nil {
		l.e.log.Info("webrtc: re-attach offer failed", "leg", l.id, "user", l.user, "err", err)
		return false
	}
	return true
}

// offer makes a peer connection for pg and sends it the offer.
func (l *browserLeg) offer(pg Page, sig Signal) error {
	pc, err := l.e.api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		return fmt.Errorf("webrtc: peer connection: %w", err)
	}
	att := &attachment{pc: pc, page: pg, track: newTrack(l.id)}
	tr, err := pc.AddTransceiverFromTrack(att.track, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionSendrecv})
	if err != nil {
		_ = pc.Close()
		return fmt.Errorf("webrtc: add track: %w", err)
	}
	pc.OnTrack(func(t *pion.TrackRemote, _ *pion.RTPReceiver) {
		l.e.goOwned(func() { l.forwardFromBrowser(t) })
	})
	pc.OnConnectionStateChange(func(s pion.PeerConnectionState) {
		switch s {
		case pion.PeerConnectionStateConnected:
			l.fireAtt(att, evConnected, "connected")
		case pion.PeerConnectionStateFailed, pion.PeerConnectionStateClosed:
			l.fireAtt(att, evFailed, "peer connection "+s.String())
		}
	})
	sender := tr.Sender()
	l.e.goOwned(func() { l.readRTCP(sender) })
	desc, err := pc.CreateOffer(nil)
	if err == nil {
		gathered := pion.GatheringCompletePromise(pc)
		if err = pc.SetLocalDescription(desc); err == nil {
			select {
			case <-gathered:
			case <-time.After(5 * time.Second):
				err = errors.New("ICE gathering did not complete")
			}
		}
	}
	if err != nil {
		_ = pc.Close()
		return fmt.Errorf("webrtc: offer: %w", err)
	}
	l.mu.Lock()
	if l.state != stRinging && l.state != stReattaching {
		l.mu.Unlock()
		_ = pc.Close()
		return fmt.Errorf("webrtc: offer: leg %s is %s: %w", l.id, l.state, ErrLegState)
	}
	l.att = att
	l.mu.Unlock()
	sig.Kind, sig.Leg, sig.SDP = "offer", l.id, pc.LocalDescription().SDP
	if !pg.Push(sig) {
		l.fireAtt(att, evFailed, "the page's connection is closed")
		return errors.New("webrtc: offer: the page's connection is closed")
	}
	return nil
}

// answer applies pg's answer to the offer it was sent.
func (l *browserLeg) answer(pg Page, answer string) error {
	l.mu.Lock()
	att := l.att
	st := l.state
	l.mu.Unlock()
	if att == nil || (st != stRinging && st != stReattaching) {
		return fmt.Errorf("answer leg %s (%s): %w", l.id, st, ErrLegState)
	}
	if att.page.Gone != pg.Gone {
		return fmt.Errorf("answer leg %s: offered to another page: %w", l.id, ErrLegState)
	}
	codec, dtmfPT, err := l.negotiated(answer)
	if err != nil {
		return err
	}
	att.codec, att.dtmfPT = codec, dtmfPT
	if err := att.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: answer}); err != nil {
		return fmt.Errorf("answer leg %s: %v: %w", l.id, err, ErrBadSDP)
	}
	l.mu.Lock()
	att.connect = time.AfterFunc(l.e.cfg.ConnectTimeout, func() {
		l.fireAtt(att, evFailed, "ICE/DTLS not connected within "+l.e.cfg.ConnectTimeout.String())
	})
	l.mu.Unlock()
	l.fireAtt(att, evAnswer, "answered")
	return nil
}

// negotiated reads the codec and telephone-event payload type the page
// accepted (its answer names our payload types).
func (l *browserLeg) negotiated(answer string) (media.Codec, uint8, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(answer); err != nil {
		return media.Codec{}, 0, fmt.Errorf("answer leg %s: %v: %w", l.id, err, ErrBadSDP)
	}
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media != "audio" || m.MediaName.Port.Value == 0 {
			continue
		}
		var dtmf uint8
		for _, a := range m.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			pt, enc, _ := strings.Cut(a.Value, " ")
			if strings.HasPrefix(strings.ToLower(enc), "telephone-event/8000") {
				if n, err := strconv.Atoi(pt); err == nil && n > 0 && n < 128 {
					dtmf = uint8(n)
				}
			}
		}
		for _, f := range m.MediaName.Formats {
			n, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			for _, c := range l.e.cfg.Codecs {
				if int(c.PayloadType) == n {
					return c, dtmf, nil
				}
			}
		}
		return media.Codec{}, 0, fmt.Errorf("answer leg %s: no G.711 codec accepted: %w", l.id, ErrBadSDP)
	}
	return media.Codec{}, 0, fmt.Errorf("answer leg %s: no audio accepted: %w", l.id, ErrBadSDP)
}

// forwardToBrowser carries the session's packets, arriving on the relay,
// to the current attachment's track (the leg's whole life).
func (l *browserLeg) forwardToBrowser() {
	buf := make([]byte, 1600)
	for {
		n, from, err := l.relay.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if netip.AddrPortFrom(from.Addr().Unmap(), from.Port()) != l.sessAddr {
			continue // only the leg's own session may speak through the relay
		}
		if att := l.cur.Load(); att != nil {
			if err := att.track.write(buf[:n]); err != nil && !errors.Is(err, io.ErrClosedPipe) {
				l.e.log.Debug("webrtc: write to browser", "leg", l.id, "err", err)
			}
		}
	}
}

// forwardFromBrowser carries the browser's decrypted RTP to the session
// until the peer connection closes.
func (l *browserLeg) forwardFromBrowser(t *pion.TrackRemote) {
	buf := make([]byte, 1600)
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			if n == 0 || errors.Is(err, io.EOF) {
				return
			}
			continue // a payload type pion does not know: the session judges it
		}
		if _, err := l.relay.WriteToUDPAddrPort(buf[:n], l.sessAddr); err != nil && errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

// readRTCP drains the page's RTCP and keeps its receiver reports.
func (l *browserLeg) readRTCP(s *pion.RTPSender) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			rr, ok := p.(*rtcp.ReceiverReport)
			if !ok {
				continue
			}
			for _, r := range rr.Reports {
				l.rrLost.Store(floatBits(float64(r.FractionLost) / 256))
				l.rrJitter.Store(floatBits(float64(r.Jitter) / 8000))
			}
		}
	}
}

func (l *browserLeg) stats() Stats {
	st := l.sess.Stats()
	l.mu.Lock()
	out := Stats{Leg: l.id, State: l.state.String(), Reattached: l.reattached}
	l.mu.Unlock()
	if st.Codec.Name != "" {
		out.Codec = st.Codec.Name
	}
	out.PacketsReceived, out.PacketsLost, out.Jitter = st.PacketsIn, st.Lost, st.JitterMs/1000
	out.PacketsSent, out.BytesSent = st.PacketsOut, st.BytesOut
	out.RemoteFractionLost, out.RemoteJitter = floatFrom(l.rrLost.Load()), floatFrom(l.rrJitter.Load())
	return out
}

// dialError is why a Dial failed, in SIP's terms for call control.
func (l *browserLeg) dialError(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.declined {
		return &sip.DialError{Status: 603, Reason: "Declined in the browser"}
	}
	if ctx.Err() != nil {
		return &sip.DialError{Reason: ctx.Err().Error()}
	}
	return &sip.DialError{Reason: "browser: " + l.cause}
}
