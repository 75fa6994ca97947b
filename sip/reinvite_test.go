package sip

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/sip/sipptest"
)

// answerHandler answers and reports hold changes and DTMF until the call ends.
type answerHandler struct {
	srv    *Server
	holds  chan bool
	digits chan rune
}

func (h *answerHandler) Admit(CallInfo) int { return 0 }

func (h *answerHandler) Serve(ctx context.Context, leg *Leg) {
	leg.OnHold(func(held bool) { h.holds <- held })
	if err := leg.Answer(ctx); err != nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-leg.Media().DTMF():
			h.digits <- d
		}
	}
}

// uac is a minimal scripted phone over UDP for in-dialog requests SIPp
// cannot easily assert on.
type uac struct {
	t     *testing.T
	c     net.Conn
	local string
	addr  string
	toTag string
	cseq  int
	via   string // transport in Via; UDP when empty
	// callID defaults to "reinvite-test"; lastFinal is the last final answer.
	callID    string
	lastFinal string
}

func (u *uac) cid() string {
	if u.callID == "" {
		return "reinvite-test"
	}
	return u.callID
}

func (u *uac) viaT() string {
	if u.via == "" {
		return "UDP"
	}
	return u.via
}

func (u *uac) send(method, extraHdrs, body string) string {
	u.t.Helper()
	u.cseq++
	to := "<sip:10010@127.0.0.1>"
	if u.toTag != "" {
		to += ";tag=" + u.toTag
	}
	ct := ""
	if body != "" {
		ct = "Content-Type: application/sdp\r\n"
		if method == "INFO" {
			ct = "Content-Type: application/dtmf-relay\r\n"
		}
	}
	msg := fmt.Sprintf("%s sip:10010@%s SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=z9hG4bK%d%d\r\nFrom: <sip:13800000001@127.0.0.1>;tag=uac1\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\nContact: <sip:c@%s>\r\nMax-Forwards: 70\r\n%s%sContent-Length: %d\r\n\r\n%s",
		method, u.addr, u.viaT(), u.local, time.Now().UnixNano(), u.cseq, to, u.cid(), u.cseq, method, u.local, extraHdrs, ct, len(body), body)
	if _, err := u.c.Write([]byte(msg)); err != nil {
		u.t.Fatal(err)
	}
	u.lastFinal = u.final()
	return u.lastFinal
}

// final reads responses until a final one and returns it.
func (u *uac) final() string {
	u.t.Helper()
	buf := make([]byte, 4096)
	_ = u.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, err := u.c.Read(buf)
		if err != nil {
			u.t.Fatalf("no final response: %v", err)
		}
		r := string(buf[:n])
		if strings.HasPrefix(r, "SIP/2.0 1") {
			continue
		}
		return r
	}
}

func (u *uac) ack() {
	msg := fmt.Sprintf("ACK sip:hotline@%s SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=z9hG4bKack%d\r\nFrom: <sip:13800000001@127.0.0.1>;tag=uac1\r\nTo: <sip:10010@127.0.0.1>;tag=%s\r\nCall-ID: %s\r\nCSeq: %d ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		u.addr, u.viaT(), u.local, time.Now().UnixNano(), u.toTag, u.cid(), u.cseq)
	if _, err := u.c.Write([]byte(msg)); err != nil {
		u.t.Fatal(err)
	}
}

func sdpWith(dir string) string {
	return "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=" + dir + "\r\n"
}

var toTagRe = regexp.MustCompile(`(?mi)^To:.*;tag=([^;\r\n]+)`)

func TestPhoneHoldResumeAndInfoDTMF(t *testing.T) {
	h := &answerHandler{holds: make(chan bool, 4), digits: make(chan rune, 4)}
	env := newTestEnv(t, nil, h)
	c, err := net.Dial("udp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	u := &uac{t: t, c: c, local: c.LocalAddr().String(), addr: env.addr}

	r := u.send("INVITE", "", sdpWith("sendrecv"))
	if !strings.HasPrefix(r, "SIP/2.0 200") {
		t.Fatalf("INVITE: %q", r)
	}
	m := toTagRe.FindStringSubmatch(r)
	if m == nil {
		t.Fatalf("no To tag in %q", r)
	}
	u.toTag = m[1]
	u.ack()

	tests := []struct {
		offer, wantAnswer string
		held              bool
	}{
		{"sendonly", "a=recvonly", true},
		{"sendrecv", "a=sendrecv", false},
		{"inactive", "a=inactive", true},
		{"sendrecv", "a=sendrecv", false},
	}
	for _, tc := range tests {
		r := u.send("INVITE", "", sdpWith(tc.offer))
		if !strings.HasPrefix(r, "SIP/2.0 200") || !strings.Contains(r, tc.wantAnswer) {
			t.Fatalf("re-INVITE %s: want 200 with %s, got %q", tc.offer, tc.wantAnswer, r)
		}
		u.ack()
		select {
		case held := <-h.holds:
			if held != tc.held {
				t.Fatalf("re-INVITE %s: hold=%v", tc.offer, held)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("re-INVITE %s: handler not told", tc.offer)
		}
	}

	// SIP INFO DTMF reaches the same digit channel as RFC 4733.
	if r := u.send("INFO", "", "Signal=7\r\nDuration=160\r\n"); !strings.HasPrefix(r, "SIP/2.0 200") {
		t.Fatalf("INFO: %q", r)
	}
	select {
	case d := <-h.digits:
		if d != '7' {
			t.Fatalf("digit %q", d)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("INFO digit not delivered")
	}
	if r := u.send("INFO", "", "Signal=bogus\r\n"); !strings.HasPrefix(r, "SIP/2.0 400") {
		t.Fatalf("bad INFO: %q", r)
	}
	if r := u.send("BYE", "", ""); !strings.HasPrefix(r, "SIP/2.0 200") {
		t.Fatalf("BYE: %q", r)
	}
	// A BYE for a dialog that is gone gets 481.
	if r := u.send("BYE", "", ""); !strings.HasPrefix(r, "SIP/2.0 481") {
		t.Fatalf("second BYE: %q", r)
	}
}

// digitHandler answers and reports the first RFC 4733 digit it receives.
type digitHandler struct {
	digits chan rune
}

func (h *digitHandler) Admit(CallInfo) int { return 0 }

func (h *digitHandler) Serve(ctx context.Context, leg *Leg) {
	if err := leg.Answer(ctx); err != nil {
		return
	}
	select {
	case d := <-leg.Media().DTMF():
		h.digits <- d
	case <-ctx.Done():
	}
	<-ctx.Done()
}

// SIPp as the trunk plays RFC 4733 digits from the Debian package's pcaps.
func TestRFC4733DigitsFromSIPpPcap(t *testing.T) {
	h := &digitHandler{digits: make(chan rune, 1)}
	env := newTestEnv(t, nil, h)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := sipptest.Run(t, ctx, sipptest.Options{
		Target: env.addr, Service: "10010",
		Scenario: callerScenario(t, sipptest.Caller{Digits: []string{"/usr/share/sip-tester/dtmf_2833_5.pcap"}, DigitGapMs: 500, PauseMs: 500}),
	})
	if r.ExitCode != 0 {
		t.Fatalf("caller: exit %d\n%s", r.ExitCode, sipptest.Logs(r.Dir))
	}
	select {
	case d := <-h.digits:
		if d != '5' {
			t.Fatalf("digit %q, want 5", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no RFC 4733 digit from the pcap")
	}
}
