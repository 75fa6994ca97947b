package uatest

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Dialog is one call leg of this UA: incoming (the engine rang this phone)
// or outgoing (this UA called the engine).
type Dialog struct {
	ua       *UA
	CallID   string
	Incoming bool
	// Number is the dialled number of an outgoing call, or the user part
	// of the From of an incoming one (who the engine says is calling).
	Number string

	localTag  string
	peer      netip.AddrPort // where in-dialog requests go
	inviteReq *sip.Request   // incoming: the engine's INVITE
	inviteMsg []byte         // outgoing: our INVITE
	branch    string         // outgoing: our INVITE's branch
	opts      CallOptions

	mu         sync.Mutex
	remoteTag  string
	remoteURI  string // Contact of the other side
	route      []string
	cseq       uint32
	last       []byte // last response we sent to the INVITE (retransmitted on a repeated INVITE)
	finalSent  bool
	answers    int // 2xx we sent to the INVITE
	ackMsg     []byte
	reinvites  []string // SDP directions of re-INVITEs received
	final      *sip.Response
	err        error
	peerMedia  netip.AddrPort
	Media      *Media
	answeredAt time.Time

	acked       chan struct{}
	byed        chan struct{}
	ended       chan struct{} // a BYE either way
	endedOnce   sync.Once
	cancelled   chan struct{}
	established chan struct{}
	failed      chan struct{}
	ackOnce     sync.Once
	byeOnce     sync.Once
	cancelOnce  sync.Once
	endOnce     sync.Once
	ackedFlag   atomic.Bool
}

func newDialog(u *UA) *Dialog {
	return &Dialog{ua: u, localTag: newID(), acked: make(chan struct{}), byed: make(chan struct{}), ended: make(chan struct{}),
		cancelled: make(chan struct{}), established: make(chan struct{}), failed: make(chan struct{})}
}

func newIncoming(u *UA, req *sip.Request, from netip.AddrPort) *Dialog {
	d := newDialog(u)
	d.Incoming, d.CallID, d.inviteReq, d.peer = true, callID(req), req, from
	if f := req.From(); f != nil {
		d.Number = f.Address.User
		d.remoteTag, _ = f.Params.Get("tag")
	}
	if c := req.Contact(); c != nil {
		d.remoteURI = c.Address.String()
	}
	for _, h := range req.GetHeaders("Record-Route") {
		d.route = append(d.route, h.Value())
	}
	d.cseq = 1000
	if ap, ok := parseSDPAddr(req.Body()); ok {
		d.peerMedia = ap
	}
	return d
}

func newOutgoing(u *UA, number string, o CallOptions) *Dialog {
	d := newDialog(u)
	d.CallID, d.Number, d.opts, d.peer = newID()+"@uatest", number, o, u.server
	d.cseq = 1
	return d
}

// Ring sends 180 Ringing to an incoming INVITE.
func (d *Dialog) Ring() error {
	return d.respondInvite(180, "Ringing", nil)
}

// Reject answers an incoming INVITE with a final error (486, 603…).
func (d *Dialog) Reject(code int, reason string) error {
	return d.respondInvite(code, reason, nil)
}

// Answer sends 200 OK with SDP for a fresh RTP socket and retransmits it
// until the ACK arrives (T1 doubling up to T2), like a phone. Answering an
// INVITE the engine already cancelled is allowed: that is a race a test
// may want.
func (d *Dialog) Answer() error {
	m, err := newMedia(d)
	if err != nil {
		return err
	}
	body := m.sdp(d.ua.local.Addr(), "sendrecv")
	msg := response(d.inviteReq, 200, "OK", d.localTag, d.contactHeader(), body)
	d.mu.Lock()
	if d.finalSent {
		// Like a phone: a CANCEL (answered 487) or a final response came first.
		d.mu.Unlock()
		m.Close()
		return ErrFinal
	}
	d.Media = m
	d.answeredAt = time.Now()
	d.answers++
	d.last, d.finalSent = msg, true
	d.mu.Unlock()
	if err := d.ua.send(msg, d.peer); err != nil {
		return err
	}
	if d.peerMedia.IsValid() {
		m.setPeer(d.peerMedia)
	}
	go d.retransmit2xx(msg)
	return nil
}

func (d *Dialog) retransmit2xx(msg []byte) {
	wait := 500 * time.Millisecond
	deadline := time.Now().Add(32 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-d.acked:
			return
		case <-d.ua.done:
			return
		case <-time.After(wait):
		}
		_ = d.ua.send(msg, d.peer)
		wait = min(2*wait, 4*time.Second)
	}
}

func (d *Dialog) contactHeader() []string {
	return []string{"Contact: <sip:uatest@" + d.ua.local.String() + ">"}
}

func (d *Dialog) respondInvite(code int, reason string, body []byte) error {
	msg := response(d.inviteReq, code, reason, d.localTag, d.contactHeader(), body)
	d.mu.Lock()
	if d.finalSent {
		d.mu.Unlock()
		return ErrFinal
	}
	d.last = msg
	if code >= 200 {
		d.finalSent = true
	}
	d.mu.Unlock()
	return d.ua.send(msg, d.peer)
}

func (d *Dialog) resendLast() {
	d.mu.Lock()
	last := d.last
	d.mu.Unlock()
	if last != nil {
		_ = d.ua.send(last, d.peer)
	}
}

// onAck notes the ACK of our 2xx (an ACK of a 487 or other error ends
// the INVITE transaction and says nothing about an answer).
func (d *Dialog) onAck() {
	d.mu.Lock()
	answered := d.answers > 0
	d.mu.Unlock()
	if !answered {
		return
	}
	d.ackedFlag.Store(true)
	d.ackOnce.Do(func() { close(d.acked) })
}

func (d *Dialog) onBye() {
	d.byeOnce.Do(func() { close(d.byed) })
	d.endedOnce.Do(func() { close(d.ended) })
	d.closeMedia()
}

func (d *Dialog) onCancel() {
	d.cancelOnce.Do(func() { close(d.cancelled) })
	if d.inviteReq == nil {
		return
	}
	d.mu.Lock()
	if d.finalSent {
		d.mu.Unlock()
		return // the 200 OK is on its way: the CANCEL has no effect
	}
	msg := response(d.inviteReq, 487, "Request Terminated", d.localTag, d.contactHeader(), nil)
	d.last, d.finalSent = msg, true
	d.mu.Unlock()
	_ = d.ua.send(msg, d.peer)
}

// ErrFinal is Answer or Reject after the INVITE already had its final
// response (a CANCEL got there first).
var ErrFinal = errors.New("uatest: INVITE already answered or cancelled")

// onReinvite answers a re-INVITE (hold, resume, session refresh) with our
// current SDP, mirroring the offered direction.
func (d *Dialog) onReinvite(req *sip.Request, from netip.AddrPort) {
	dir := sdpDirection(req.Body())
	d.mu.Lock()
	d.reinvites = append(d.reinvites, dir)
	m := d.Media
	d.mu.Unlock()
	var body []byte
	if m != nil {
		answer := map[string]string{"sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}[dir]
		if answer == "" {
			answer = "sendrecv"
		}
		body = m.sdp(d.ua.local.Addr(), answer)
		if ap, ok := parseSDPAddr(req.Body()); ok {
			m.setPeer(ap)
		}
	}
	_ = d.ua.send(response(req, 200, "OK", "", d.contactHeader(), body), from)
}

// Reinvites lists the SDP directions of the re-INVITEs the engine sent.
func (d *Dialog) Reinvites() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.reinvites...)
}

// Acked reports whether the engine ACKed our 2xx, waiting up to timeout.
func (d *Dialog) Acked(timeout time.Duration) bool { return waitFor(d.acked, timeout) }

// Byed reports whether the engine sent BYE, waiting up to timeout.
func (d *Dialog) Byed(timeout time.Duration) bool { return waitFor(d.byed, timeout) }

// Cancelled reports whether the engine CANCELled the INVITE, waiting up to timeout.
func (d *Dialog) Cancelled(timeout time.Duration) bool { return waitFor(d.cancelled, timeout) }

// Done is closed when the engine ended the dialog (BYE).
func (d *Dialog) Done() <-chan struct{} { return d.byed }

// Answers is how many 2xx this UA sent to the dialog's INVITE.
func (d *Dialog) Answers() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.answers
}

func waitFor(ch <-chan struct{}, timeout time.Duration) bool {
	select {
	case <-ch:
		return true
	default:
	}
	if timeout <= 0 {
		return false
	}
	select {
	case <-ch:
		return true
	case <-time.After(timeout):
		return false
	}
}

// runInvite drives an outgoing INVITE to its final response and ACKs it.
func (d *Dialog) runInvite() {
	m, err := newMedia(d)
	if err != nil {
		d.fail(err)
		return
	}
	d.mu.Lock()
	d.Media = m
	d.mu.Unlock()
	u := d.ua
	from := d.opts.From
	if from == "" {
		from = "13900000000"
	}
	d.branch = "z9hG4bK" + newID()
	hdr := []string{
		"Via: SIP/2.0/UDP " + u.local.String() + ";branch=" + d.branch + ";rport",
		"From: <sip:" + from + "@" + u.local.String() + ">;tag=" + d.localTag,
		"To: <sip:" + d.Number + "@" + u.server.String() + ">",
		"Call-ID: " + d.CallID,
		"CSeq: 1 INVITE",
		"Contact: <sip:" + from + "@" + u.local.String() + ">",
		"Max-Forwards: 70",
	}
	hdr = append(hdr, d.opts.Headers...)
	ruri := "sip:" + d.Number + "@" + u.server.String()
	d.inviteMsg = request("INVITE", ruri, hdr, m.sdp(u.local.Addr(), "sendrecv"))
	ch, end := u.transaction(d.inviteMsg, d.branch, u.server)
	defer end()
	for {
		var r *sip.Response
		select {
		case r = <-ch:
		case <-time.After(40 * time.Second):
			d.fail(errors.New("uatest: INVITE: no final response"))
			return
		}
		if r.StatusCode < 200 {
			if tag, _ := r.To().Params.Get("tag"); tag != "" {
				d.mu.Lock()
				d.remoteTag = tag
				d.mu.Unlock()
			}
			continue
		}
		d.mu.Lock()
		d.final = r
		d.remoteTag, _ = r.To().Params.Get("tag")
		if c := r.Contact(); c != nil {
			d.remoteURI = c.Address.String()
		}
		d.route = nil
		hs := r.GetHeaders("Record-Route")
		for i := len(hs) - 1; i >= 0; i-- {
			d.route = append(d.route, hs[i].Value())
		}
		d.mu.Unlock()
		d.sendAck(r)
		if r.IsSuccess() {
			if ap, ok := parseSDPAddr(r.Body()); ok {
				m.setPeer(ap)
			}
			d.mu.Lock()
			d.answeredAt = time.Now()
			d.mu.Unlock()
			close(d.established)
			return
		}
		d.fail(&StatusError{Code: r.StatusCode, Reason: r.Reason})
		return
	}
}

func (d *Dialog) fail(err error) {
	d.mu.Lock()
	d.err = err
	d.mu.Unlock()
	d.endOnce.Do(func() { close(d.failed) })
	d.closeMedia()
}

// Established is closed when an outgoing call was answered.
func (d *Dialog) Established() <-chan struct{} { return d.established }

// Failed is closed when an outgoing call got a final error; Err says which.
func (d *Dialog) Failed() <-chan struct{} { return d.failed }

// Err is the final error of an outgoing call.
func (d *Dialog) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// Response is the final response to an outgoing INVITE (nil until then).
func (d *Dialog) Response() *sip.Response {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.final
}

func (d *Dialog) sendAck(r *sip.Response) {
	d.mu.Lock()
	var msg []byte
	if r.IsSuccess() {
		// ACK of a 2xx is a new transaction to the remote target.
		ruri := d.remoteURI
		if ruri == "" {
			ruri = "sip:" + d.Number + "@" + d.ua.server.String()
		}
		hdr := []string{
			"Via: SIP/2.0/UDP " + d.ua.local.String() + ";branch=z9hG4bK" + newID() + ";rport",
			"From: " + r.From().Value(),
			"To: " + r.To().Value(),
			"Call-ID: " + d.CallID,
			"CSeq: 1 ACK",
			"Max-Forwards: 70",
		}
		for _, rt := range d.route {
			hdr = append(hdr, "Route: "+rt)
		}
		msg = request("ACK", ruri, hdr, nil)
	} else {
		// ACK of a non-2xx belongs to the INVITE transaction: same branch.
		msg = request("ACK", "sip:"+d.Number+"@"+d.ua.server.String(), d.inviteTxHeaders("ACK", r.From().Value(), r.To().Value()), nil)
	}
	d.ackMsg = msg
	d.mu.Unlock()
	_ = d.ua.send(msg, d.ua.server)
}

func (d *Dialog) reAck() {
	d.mu.Lock()
	msg := d.ackMsg
	d.mu.Unlock()
	if msg != nil {
		_ = d.ua.send(msg, d.ua.server)
	}
}

// inDialog builds a request inside the dialog.
func (d *Dialog) inDialog(method string, extra []string, body []byte) ([]byte, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cseq++
	branch := "z9hG4bK" + newID()
	var from, to string
	if d.Incoming {
		from = d.inviteReq.To().Value() + ";tag=" + d.localTag
		if tag, _ := d.inviteReq.To().Params.Get("tag"); tag != "" {
			from = d.inviteReq.To().Value()
		}
		to = d.inviteReq.From().Value()
	} else {
		from = "<sip:" + orDefault(d.opts.From, "13900000000") + "@" + d.ua.local.String() + ">;tag=" + d.localTag
		to = "<sip:" + d.Number + "@" + d.ua.server.String() + ">"
		if d.remoteTag != "" {
			to += ";tag=" + d.remoteTag
		}
	}
	ruri := d.remoteURI
	if ruri == "" {
		ruri = "sip:" + d.ua.server.String()
	}
	hdr := []string{
		"Via: SIP/2.0/UDP " + d.ua.local.String() + ";branch=" + branch + ";rport",
		"From: " + from,
		"To: " + to,
		"Call-ID: " + d.CallID,
		"CSeq: " + strconv.Itoa(int(d.cseq)) + " " + method,
		"Max-Forwards: 70",
	}
	for _, rt := range d.route {
		hdr = append(hdr, "Route: "+rt)
	}
	hdr = append(hdr, extra...)
	return request(method, ruri, hdr, body), branch
}

// Bye hangs up and waits for the engine's answer (its status, or an error).
func (d *Dialog) Bye() (int, error) {
	msg, branch := d.inDialog("BYE", nil, nil)
	d.closeMedia()
	d.endedOnce.Do(func() { close(d.ended) })
	return d.do(msg, branch)
}

// SendBye sends a BYE without waiting for the answer (for races).
func (d *Dialog) SendBye() {
	msg, _ := d.inDialog("BYE", nil, nil)
	d.closeMedia()
	d.endedOnce.Do(func() { close(d.ended) })
	_ = d.ua.send(msg, d.ua.server)
}

// Ended reports whether the dialog ended by a BYE either way, waiting up
// to timeout.
func (d *Dialog) Ended(timeout time.Duration) bool { return waitFor(d.ended, timeout) }

// Cancel cancels an outgoing INVITE not yet answered.
func (d *Dialog) Cancel() error {
	if d.inviteMsg == nil {
		return errors.New("uatest: cancel: no INVITE sent")
	}
	req, err := sip.ParseMessage(d.inviteMsg)
	if err != nil {
		return err
	}
	r := req.(*sip.Request)
	return d.ua.send(request("CANCEL", r.Recipient.String(), d.inviteTxHeaders("CANCEL", r.From().Value(), r.To().Value()), nil), d.ua.server)
}

// inviteTxHeaders are the headers of a request in our INVITE's
// transaction (its CANCEL, the ACK of an error): same branch, same CSeq.
func (d *Dialog) inviteTxHeaders(method, from, to string) []string {
	return []string{
		"Via: SIP/2.0/UDP " + d.ua.local.String() + ";branch=" + d.branch + ";rport",
		"From: " + from,
		"To: " + to,
		"Call-ID: " + d.CallID,
		"CSeq: 1 " + method,
		"Max-Forwards: 70",
	}
}

// Hold sends a re-INVITE putting the other side on hold (sendonly) or
// resuming it (sendrecv); it returns the response status.
func (d *Dialog) Hold(on bool) (int, error) {
	dir := "sendrecv"
	if on {
		dir = "sendonly"
	}
	d.mu.Lock()
	m := d.Media
	d.mu.Unlock()
	if m == nil {
		return 0, errors.New("uatest: hold: no media")
	}
	msg, branch := d.inDialog("INVITE", []string{"Contact: <sip:uatest@" + d.ua.local.String() + ">"}, m.sdp(d.ua.local.Addr(), dir))
	code, err := d.do(msg, branch)
	if err == nil && code == 200 {
		ack, _ := d.inDialog("ACK", nil, nil)
		_ = d.ua.send(ack, d.ua.server)
	}
	return code, err
}

// Refresh sends a session-refresh re-INVITE with the current SDP.
func (d *Dialog) Refresh() (int, error) {
	d.mu.Lock()
	m := d.Media
	d.mu.Unlock()
	if m == nil {
		return 0, errors.New("uatest: refresh: no media")
	}
	msg, branch := d.inDialog("INVITE", []string{"Contact: <sip:uatest@" + d.ua.local.String() + ">"}, m.sdp(d.ua.local.Addr(), "sendrecv"))
	code, err := d.do(msg, branch)
	if err == nil && code == 200 {
		ack, _ := d.inDialog("ACK", nil, nil)
		_ = d.ua.send(ack, d.ua.server)
	}
	return code, err
}

func (d *Dialog) do(msg []byte, branch string) (int, error) {
	ch, end := d.ua.transaction(msg, branch, d.ua.server)
	defer end()
	for {
		select {
		case r := <-ch:
			if r.StatusCode < 200 {
				continue
			}
			return r.StatusCode, nil
		case <-time.After(5 * time.Second):
			return 0, fmt.Errorf("uatest: no answer to %s", firstLine(msg))
		}
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\r\n")
	return s
}

func (d *Dialog) closeMedia() {
	d.mu.Lock()
	m := d.Media
	d.mu.Unlock()
	if m != nil {
		m.Close()
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// parseSDPAddr finds the audio destination in an SDP body.
func parseSDPAddr(body []byte) (netip.AddrPort, bool) {
	var ip netip.Addr
	port := 0
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "c=IN IP4 "):
			if a, err := netip.ParseAddr(strings.TrimSpace(strings.TrimPrefix(line, "c=IN IP4 "))); err == nil {
				ip = a
			}
		case strings.HasPrefix(line, "m=audio "):
			f := strings.Fields(line)
			if len(f) > 1 {
				port, _ = strconv.Atoi(f[1])
			}
		}
	}
	if !ip.IsValid() || port == 0 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip, uint16(port)), true
}

func sdpDirection(body []byte) string {
	for _, line := range strings.Split(string(body), "\n") {
		switch strings.TrimSpace(line) {
		case "a=sendonly":
			return "sendonly"
		case "a=recvonly":
			return "recvonly"
		case "a=inactive":
			return "inactive"
		case "a=sendrecv":
			return "sendrecv"
		}
	}
	return "sendrecv"
}
