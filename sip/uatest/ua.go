// Package uatest is a small SIP user agent for tests, on UDP over
// 127.0.0.1: a trunk that calls the engine and a phone that registers and
// answers, each exactly when the test says so. It exists for the races
// SIPp cannot time: a BYE and a 200 OK in the same millisecond, a CANCEL
// crossing an answer, two contacts of one user answering at once, a caller
// that vanishes without a BYE. It also keeps score of what the engine owes
// the other side by RFC 3261: every 2xx we send must be ACKed, every
// dialog the engine abandons must be BYEd.
//
// Messages are parsed with sipgo's parser and written as text, so a test
// controls each one; 2xx responses are retransmitted until ACKed (T1
// doubling), as a real phone does.
package uatest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// UA is one SIP endpoint on its own UDP socket.
type UA struct {
	t      testing.TB
	conn   *net.UDPConn
	local  netip.AddrPort
	server netip.AddrPort

	mu      sync.Mutex
	pending map[string]chan *sip.Response // branch → responses of our client transaction
	dialogs map[string]*Dialog            // Call-ID → dialog
	invites chan *Dialog                  // new INVITEs to this phone
	closed  bool
	done    chan struct{}
	seq     atomic.Uint32
}

// New binds a UA on 127.0.0.1 that talks to the engine at server (host:port).
// It is closed at the end of the test.
func New(t testing.TB, server string) *UA {
	t.Helper()
	ap, err := netip.ParseAddrPort(server)
	if err != nil {
		t.Fatalf("uatest: server %q: %v", server, err)
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("uatest: listen: %v", err)
	}
	u := &UA{t: t, conn: conn, local: conn.LocalAddr().(*net.UDPAddr).AddrPort(), server: ap,
		pending: map[string]chan *sip.Response{}, dialogs: map[string]*Dialog{},
		invites: make(chan *Dialog, 64), done: make(chan struct{})}
	go u.readLoop()
	t.Cleanup(u.Close)
	return u
}

// Addr is the UA's SIP address.
func (u *UA) Addr() netip.AddrPort { return u.local }

// Close stops the UA and every dialog's media.
func (u *UA) Close() {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return
	}
	u.closed = true
	ds := make([]*Dialog, 0, len(u.dialogs))
	for _, d := range u.dialogs {
		ds = append(ds, d)
	}
	u.mu.Unlock()
	for _, d := range ds {
		d.closeMedia()
	}
	u.conn.Close()
	<-u.done
}

// Invites delivers INVITEs that reach this UA as a phone.
func (u *UA) Invites() <-chan *Dialog { return u.invites }

// NextInvite waits for the next INVITE to this phone.
func (u *UA) NextInvite(timeout time.Duration) (*Dialog, error) {
	select {
	case d := <-u.invites:
		return d, nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("uatest %s: no INVITE within %s", u.local, timeout)
	}
}

// Dialogs lists every dialog this UA saw, in no order.
func (u *UA) Dialogs() []*Dialog {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]*Dialog, 0, len(u.dialogs))
	for _, d := range u.dialogs {
		out = append(out, d)
	}
	return out
}

func (u *UA) readLoop() {
	defer close(u.done)
	buf := make([]byte, 65535)
	for {
		n, from, err := u.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		msg, err := sip.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			continue
		}
		switch m := msg.(type) {
		case *sip.Response:
			u.onResponse(m)
		case *sip.Request:
			u.onRequest(m, from)
		}
	}
}

func (u *UA) send(b []byte, to netip.AddrPort) error {
	_, err := u.conn.WriteToUDPAddrPort(b, to)
	return err
}

func (u *UA) onResponse(r *sip.Response) {
	via := r.Via()
	if via == nil {
		return
	}
	branch, _ := via.Params.Get("branch")
	u.mu.Lock()
	ch := u.pending[branch]
	d := u.dialogs[callID(r)]
	u.mu.Unlock()
	if ch != nil {
		select {
		case ch <- r:
		default:
		}
		return
	}
	// A 2xx retransmitted after our transaction ended: our ACK was lost.
	if d != nil && r.IsSuccess() && r.CSeq() != nil && r.CSeq().MethodName == sip.INVITE {
		d.reAck()
	}
}

func (u *UA) onRequest(req *sip.Request, from netip.AddrPort) {
	id := callID(req)
	u.mu.Lock()
	d := u.dialogs[id]
	u.mu.Unlock()
	switch req.Method {
	case sip.INVITE:
		toTag, _ := req.To().Params.Get("tag")
		if toTag != "" && d != nil {
			d.onReinvite(req, from)
			return
		}
		if d != nil {
			d.resendLast() // a retransmitted INVITE
			return
		}
		d = newIncoming(u, req, from)
		u.mu.Lock()
		u.dialogs[id] = d
		u.mu.Unlock()
		_ = u.send(response(req, 100, "Trying", "", nil, nil), from)
		select {
		case u.invites <- d:
		default:
			u.t.Errorf("uatest %s: INVITE %s dropped: nobody reads Invites", u.local, id)
		}
	case sip.ACK:
		if d != nil {
			d.onAck()
		}
	case sip.BYE:
		if d == nil {
			_ = u.send(response(req, 481, "Call/Transaction Does Not Exist", "", nil, nil), from)
			return
		}
		_ = u.send(response(req, 200, "OK", "", nil, nil), from)
		d.onBye()
	case sip.CANCEL:
		_ = u.send(response(req, 200, "OK", "", nil, nil), from)
		if d != nil {
			d.onCancel()
		}
	default: // OPTIONS, INFO, NOTIFY…
		_ = u.send(response(req, 200, "OK", "", nil, nil), from)
	}
}

// transaction sends a request and returns its responses' channel and a
// function that ends the transaction. Requests are retransmitted every
// 500 ms until a response arrives (UDP over loopback rarely needs it).
func (u *UA) transaction(msg []byte, branch string, to netip.AddrPort) (<-chan *sip.Response, func()) {
	ch := make(chan *sip.Response, 16)
	inner := make(chan *sip.Response, 16)
	u.mu.Lock()
	u.pending[branch] = inner
	u.mu.Unlock()
	stop := make(chan struct{})
	var once sync.Once
	end := func() {
		once.Do(func() {
			close(stop)
			u.mu.Lock()
			delete(u.pending, branch)
			u.mu.Unlock()
		})
	}
	_ = u.send(msg, to)
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		got := false
		for {
			select {
			case <-stop:
				return
			case r := <-inner:
				got = true
				select {
				case ch <- r:
				case <-stop:
					return
				}
			case <-t.C:
				if !got {
					_ = u.send(msg, to)
				}
			}
		}
	}()
	return ch, end
}

// Register registers user with password, this UA as its contact, for
// expires seconds (0 unregisters). It answers the digest challenge.
func (u *UA) Register(user, password string, expires int) error {
	callid := newID()
	var auth string
	for attempt := 0; attempt < 3; attempt++ {
		branch := "z9hG4bK" + newID()
		ruri := "sip:" + u.server.String()
		hdr := []string{
			"Via: SIP/2.0/UDP " + u.local.String() + ";branch=" + branch + ";rport",
			"From: <sip:" + user + "@" + u.server.Addr().String() + ">;tag=" + newID(),
			"To: <sip:" + user + "@" + u.server.Addr().String() + ">",
			"Call-ID: " + callid,
			"CSeq: " + strconv.Itoa(attempt+1) + " REGISTER",
			"Contact: <sip:" + user + "@" + u.local.String() + ">",
			"Expires: " + strconv.Itoa(expires),
			"Max-Forwards: 70",
		}
		if auth != "" {
			hdr = append(hdr, "Authorization: "+auth)
		}
		ch, end := u.transaction(request("REGISTER", ruri, hdr, nil), branch, u.server)
		var res *sip.Response
		select {
		case res = <-ch:
		case <-time.After(5 * time.Second):
			end()
			return errors.New("uatest: REGISTER: no response")
		}
		end()
		switch {
		case res.StatusCode == 200:
			return nil
		case res.StatusCode == 401 && attempt < 2:
			h := res.GetHeader("WWW-Authenticate")
			if h == nil {
				return errors.New("uatest: 401 without a challenge")
			}
			chal, err := digest.ParseChallenge(h.Value())
			if err != nil {
				return fmt.Errorf("uatest: challenge: %w", err)
			}
			cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: ruri, Username: user, Password: password, Count: 1})
			if err != nil {
				return fmt.Errorf("uatest: digest: %w", err)
			}
			auth = cred.String()
		default:
			return &StatusError{Code: res.StatusCode, Reason: res.Reason}
		}
	}
	return errors.New("uatest: REGISTER: too many challenges")
}

// StatusError is a final non-2xx response.
type StatusError struct {
	Code   int
	Reason string
}

func (e *StatusError) Error() string { return fmt.Sprintf("uatest: %d %s", e.Code, e.Reason) }

// CallOptions shape an outgoing INVITE.
type CallOptions struct {
	From    string   // caller number (user part of From)
	Headers []string // extra header lines, e.g. "Session-Expires: 90;refresher=uac"
}

// Invite starts a call to number at the engine (the engine's trunk admits
// 127.0.0.1) and returns the dialog at once; Established or Failed tell
// how it went. The caller ACKs the final response itself.
func (u *UA) Invite(number string, o CallOptions) *Dialog {
	d := newOutgoing(u, number, o)
	u.mu.Lock()
	u.dialogs[d.CallID] = d
	u.mu.Unlock()
	go d.runInvite()
	return d
}

// Call places a call and waits until it is answered.
func (u *UA) Call(number string, o CallOptions) (*Dialog, error) {
	d := u.Invite(number, o)
	select {
	case <-d.established:
		return d, nil
	case <-d.failed:
		return nil, d.err
	case <-time.After(10 * time.Second):
		return nil, fmt.Errorf("uatest: call to %s: no answer in 10 s", number)
	}
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func callID(m sip.Message) string {
	if h := m.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

func request(method, ruri string, hdr []string, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, ruri)
	for _, h := range hdr {
		b.WriteString(h)
		b.WriteString("\r\n")
	}
	if len(body) > 0 {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
	b.Write(body)
	return b.Bytes()
}

// response answers req, copying Via, From, To (adding toTag), Call-ID and
// CSeq as RFC 3261 §8.2.6 says.
func response(req *sip.Request, code int, reason, toTag string, extra []string, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	for _, h := range req.GetHeaders("Via") {
		b.WriteString("Via: " + h.Value() + "\r\n")
	}
	b.WriteString("From: " + req.From().Value() + "\r\n")
	to := req.To().Value()
	if tag, _ := req.To().Params.Get("tag"); tag == "" && toTag != "" {
		to += ";tag=" + toTag
	}
	b.WriteString("To: " + to + "\r\n")
	b.WriteString("Call-ID: " + callID(req) + "\r\n")
	b.WriteString("CSeq: " + req.CSeq().Value() + "\r\n")
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	if len(body) > 0 {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
	b.Write(body)
	return b.Bytes()
}
