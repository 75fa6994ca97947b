package sip

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestLegTransitions(t *testing.T) {
	tests := []struct {
		from, to legState
		ok       bool
	}{
		{legSetup, legAnswering, true},
		{legSetup, legAnswered, true}, // outbound: we ACK the peer's 2xx
		{legSetup, legEnded, true},
		{legAnswering, legAnswered, true},
		{legAnswering, legEnded, true},
		{legAnswering, legSetup, false},
		{legAnswered, legEnded, true},
		{legAnswered, legAnswering, false},
		// An ACK or answer after the end never revives a leg.
		{legEnded, legAnswered, false},
		{legEnded, legEnded, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s-%s", tt.from, tt.to), func(t *testing.T) {
			l := &Leg{ID: "x", state: tt.from, settled: make(chan struct{})}
			err := l.moveLocked(tt.to)
			if (err == nil) != tt.ok {
				t.Fatalf("move %s → %s: err %v, want allowed=%v", tt.from, tt.to, err, tt.ok)
			}
			want := tt.from
			if tt.ok {
				want = tt.to
			}
			if l.state != want {
				t.Fatalf("state %s after the move, want %s", l.state, want)
			}
		})
	}
}

// impatientHandler answers but gives up waiting for the ACK after a short
// while and hangs up: the engine ending a call (caller gone, shutdown)
// while its 2xx is still unacknowledged.
type impatientHandler struct{ hangingUp, ended chan string }

func (h *impatientHandler) Admit(CallInfo) int { return 0 }

func (h *impatientHandler) Serve(ctx context.Context, leg *Leg) {
	actx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err := leg.Answer(actx)
	cancel()
	if err == nil {
		h.hangingUp <- "answered without an ACK"
		return
	}
	h.hangingUp <- ""
	_ = leg.Hangup(context.Background())
	h.ended <- leg.EndCause()
}

// TestHangupWhileAnswerUnacknowledged: a hang-up after our 200 OK and
// before its ACK is a BYE once the ACK is in (RFC 3261 §15), not a 480 the
// INVITE transaction can no longer carry, which left the phone connected.
func TestHangupWhileAnswerUnacknowledged(t *testing.T) {
	h := &impatientHandler{hangingUp: make(chan string, 1), ended: make(chan string, 1)}
	env, u := answeredCall(t, h)
	select {
	case bad := <-h.hangingUp:
		if bad != "" {
			t.Fatal(bad)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler never hung up")
	}
	// The phone's ACK comes late (after the hang-up); the BYE must follow it.
	time.Sleep(200 * time.Millisecond)
	u.ack()
	u.nextBye(5 * time.Second) // our 200 OK may come again before the ACK got in
	if cause := <-h.ended; cause != LocalHangup {
		t.Fatalf("leg ended with %q, want %q", cause, LocalHangup)
	}
	waitUntil(t, "no leg left", func() bool { return env.srv.ActiveLegs() == 0 })
}

// answeredCall starts a test server with h and calls it; the engine's
// 200 OK is in (not ACKed), its To tag noted.
func answeredCall(t *testing.T, h Handler) (*testEnv, *uac) {
	t.Helper()
	env := newTestEnv(t, nil, h)
	u := dialUAC(t, env.addr)
	r := u.send("INVITE", "", offerSDP(4000, "RTP/AVP", ""))
	if !strings.HasPrefix(r, "SIP/2.0 200") {
		t.Fatalf("INVITE: %q", r)
	}
	u.toTag = toTagRe.FindStringSubmatch(r)[1]
	return env, u
}

// nextBye reads until the engine's BYE for this call, within wait, and
// returns it with how many 200 OKs (retransmissions of our answer) came
// before it; any other request fails the test.
func (u *uac) nextBye(wait time.Duration) (bye string, oks int) {
	u.t.Helper()
	buf := make([]byte, 4096)
	_ = u.c.SetReadDeadline(time.Now().Add(wait))
	for {
		n, err := u.c.Read(buf)
		if err != nil {
			u.t.Fatalf("no BYE within %s (%d 200 OKs seen): %v", wait, oks, err)
		}
		msg := string(buf[:n])
		switch {
		case strings.HasPrefix(msg, "SIP/2.0 200"):
			oks++
		case strings.HasPrefix(msg, "SIP/2.0 "):
		case !strings.HasPrefix(msg, "BYE "):
			u.t.Fatalf("got %q, want a BYE", firstLine(msg))
		case !strings.Contains(msg, u.cid()):
			u.t.Fatalf("BYE for another call: %q", msg)
		default:
			return msg, oks
		}
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

// ownContextHandler answers, then hangs up with the leg's own context, as
// a flow's hangup node does: the context the hang-up itself ends.
type ownContextHandler struct{ hungUp chan error }

func (h *ownContextHandler) Admit(CallInfo) int { return 0 }

func (h *ownContextHandler) Serve(ctx context.Context, leg *Leg) {
	if err := leg.Answer(ctx); err != nil {
		h.hungUp <- fmt.Errorf("answer: %w", err)
		return
	}
	h.hungUp <- leg.Hangup(ctx)
}

// TestHangupWithTheLegsOwnContext: our BYE is a transaction of its own
// once sent: ending the leg (which ends its context) must not abandon it.
// The phone ignores the first BYE (lost on the way); the engine sends it
// again and the hang-up returns nil once the 200 OK is in. Round two's
// engine gave up at once ("context canceled", a warning per call under
// load) and never retransmitted: a lost BYE left the trunk's channel busy.
func TestHangupWithTheLegsOwnContext(t *testing.T) {
	h := &ownContextHandler{hungUp: make(chan error, 1)}
	env, u := answeredCall(t, h)
	u.ack()
	u.nextBye(5 * time.Second) // lost on the way: not answered
	bye, _ := u.nextBye(5 * time.Second)
	u.respond(bye, "200 OK")
	select {
	case err := <-h.hungUp:
		if err != nil {
			t.Fatalf("hang-up: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the hang-up never returned")
	}
	waitUntil(t, "no leg left", func() bool { return env.srv.ActiveLegs() == 0 })
}

// respond answers an in-dialog request from the engine with status
// ("200 OK"), echoing its Via, From, To, Call-ID and CSeq.
func (u *uac) respond(req, status string) {
	u.t.Helper()
	var hdrs []string
	for _, line := range strings.Split(req, "\r\n")[1:] {
		name, _, _ := strings.Cut(line, ":")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "v", "from", "f", "to", "t", "call-id", "i", "cseq":
			hdrs = append(hdrs, line)
		}
	}
	msg := "SIP/2.0 " + status + "\r\n" + strings.Join(hdrs, "\r\n") + "\r\nContent-Length: 0\r\n\r\n"
	if _, err := u.c.Write([]byte(msg)); err != nil {
		u.t.Fatal(err)
	}
}

// ackWaitHandler answers with the leg's own context and reports how the
// answer and the leg ended.
type ackWaitHandler struct{ answered, ended chan string }

func (h *ackWaitHandler) Admit(CallInfo) int { return 0 }

func (h *ackWaitHandler) Serve(ctx context.Context, leg *Leg) {
	err := leg.Answer(ctx)
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	h.answered <- msg
	<-leg.Context().Done()
	h.ended <- leg.EndCause()
}

// TestCallerNeverAcks: a caller that never ACKs our 200 OK gets it
// retransmitted until the INVITE transaction gives up (64×T1, 32 s),
// then a BYE (RFC 3261 §13.3.1.4: the session is ended); the answer
// fails and the leg ends, so no call and no port stay behind.
func TestCallerNeverAcks(t *testing.T) {
	h := &ackWaitHandler{answered: make(chan string, 1), ended: make(chan string, 1)}
	env, u := answeredCall(t, h)
	start := time.Now()
	bye, again := u.nextBye(45 * time.Second)
	u.respond(bye, "200 OK")
	oks := 1 + again
	if oks < 5 {
		t.Errorf("the 200 OK was sent %d times before the BYE; want it retransmitted until the ACK timeout", oks)
	}
	if took := time.Since(start); took < 20*time.Second {
		t.Errorf("BYE after %s: the engine gave up on the ACK before the INVITE transaction's timeout", took)
	}
	select {
	case msg := <-h.answered:
		if msg == "" {
			t.Fatal("Answer succeeded without an ACK")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Answer never returned")
	}
	select {
	case <-h.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the leg never ended")
	}
	waitUntil(t, "no leg left", func() bool { return env.srv.ActiveLegs() == 0 })
}
