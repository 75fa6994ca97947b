package webrtc_test

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/media/mediatest"
	"github.com/hotlinecc/hotline/sip"
	"github.com/hotlinecc/hotline/sip/webrtc"
	"github.com/hotlinecc/hotline/sip/webrtc/webrtctest"
)

type nopHandler struct{}

func (nopHandler) Admit(sip.CallInfo) int                  { return 404 }
func (nopHandler) Serve(ctx context.Context, leg *sip.Leg) {}

// rig is a running SIP server (it makes the legs) and an endpoint.
type rig struct {
	t   testing.TB
	srv *sip.Server
	ep  *webrtc.Endpoint
}

func newRig(t testing.TB, grace time.Duration) *rig { return newRigPorts(t, grace, 600) }

func newRigPorts(t testing.TB, grace time.Duration, nports int) *rig {
	t.Helper()
	base := 36000 + 2*(os.Getpid()%500)
	ports, err := media.NewPortAllocator(base, base+nports)
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("127.0.0.1")
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := sip.NewServer(sip.Config{UDPAddr: "127.0.0.1:0", Realm: "hotline", MediaIP: ip, Ports: ports, Logger: log}, nopHandler{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	ep, err := webrtc.New(webrtc.Config{SIP: srv, IP: ip, Grace: grace, ICEDisconnected: time.Second, ICEFailed: 2 * time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ep.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sip server: %v", err)
		}
		if n := ports.InUse(); n != 0 {
			t.Errorf("%d RTP ports in use after shutdown", n)
		}
	})
	// Run marks the server running before it serves.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if x, err := srv.NewExternalLeg("probe", sip.CallInfo{}); err == nil {
			x.Leg().Close()
			break
		}
	}
	return &rig{t: t, srv: srv, ep: ep}
}

// page is a desktop connection standing in for the browser page: it
// keeps the signals it is pushed.
type page struct {
	sigs chan webrtc.Signal
	gone chan struct{}
}

func newPage() *page { return &page{sigs: make(chan webrtc.Signal, 64), gone: make(chan struct{})} }

func (p *page) Page() webrtc.Page {
	return webrtc.Page{Gone: p.gone, Push: func(s webrtc.Signal) bool {
		select {
		case <-p.gone:
			return false
		default:
		}
		select {
		case p.sigs <- s:
			return true
		default: // as a desktop connection: never blocks, a full queue loses
			return false
		}
	}}
}

func (p *page) next(t testing.TB, kind string) webrtc.Signal {
	t.Helper()
	for {
		select {
		case s := <-p.sigs:
			if s.Kind == kind {
				return s
			}
			t.Logf("signal %s skipped: %+v", s.Kind, s)
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s signal", kind)
		}
	}
}

// answer answers the next offer on p with a fresh client.
func (r *rig) answer(user string, p *page) (*webrtctest.Client, webrtc.Signal) {
	r.t.Helper()
	off := p.next(r.t, "offer")
	c, err := webrtctest.NewClient()
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(c.Close)
	ans, err := c.Answer(off.SDP)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.ep.Answer(user, p.Page(), off.Leg, ans); err != nil {
		r.t.Fatal(err)
	}
	return c, off
}

type dialResult struct {
	leg *sip.Leg
	err error
}

func (r *rig) dial(ctx context.Context, user string) chan dialResult {
	out := make(chan dialResult, 1)
	go func() {
		leg, err := r.ep.Dial(ctx, webrtc.DialRequest{DialRequest: sip.DialRequest{User: user, CallerID: "5551234"}})
		out <- dialResult{leg, err}
	}()
	return out
}

// hears reports whether pcm carries freq rather than other.
func hears(pcm []int16, freq, other float64) bool {
	if len(pcm) < 1600 {
		return false
	}
	tail := pcm[len(pcm)-1600:]
	return mediatest.Goertzel(tail, freq) > 10*mediatest.Goertzel(tail, other)
}

// twoWay checks audio both ways: the client's tone reaches the leg's
// session, the session's tone reaches the client.
func twoWay(t *testing.T, leg *sip.Leg, c *webrtctest.Client, toLeg, toPage float64) {
	t.Helper()
	got := make(chan []int16, 400)
	leg.Media().SetReceiver(func(pcm []int16) {
		select {
		case got <- append([]int16(nil), pcm...):
		default:
		}
	})
	defer leg.Media().SetReceiver(nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = c.SendTone(toLeg, 1500*time.Millisecond) }()
	go func() { _ = leg.Media().Play(ctx, media.Tone(toPage, 3*time.Second, 8000)) }()
	var heard []int16
	deadline := time.After(10 * time.Second)
	for !hears(heard, toLeg, toPage) {
		select {
		case f := <-got:
			heard = append(heard, f...)
		case <-deadline:
			t.Fatalf("the leg did not hear the page's %v Hz tone (%d samples)", toLeg, len(heard))
		}
	}
	for deadline := time.Now().Add(10 * time.Second); !hears(c.Heard(), toPage, toLeg); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the page did not hear the leg's %v Hz tone (%d samples)", toPage, len(c.Heard()))
		}
	}
}

func TestBrowserLegCarriesAudioBothWaysAndDigits(t *testing.T) {
	r := newRig(t, time.Second)
	p := newPage()
	if _, err := r.ep.Register("1001", p.Page()); err != nil {
		t.Fatal(err)
	}
	res := r.dial(context.Background(), "1001")
	c, off := r.answer("1001", p)
	if off.Caller != "5551234" || off.Reattach || !strings.Contains(off.SDP, "a=ice-lite") || !strings.Contains(off.SDP, "telephone-event/8000") {
		t.Fatalf("offer: %+v", off)
	}
	dr := <-res
	if dr.err != nil {
		t.Fatal(dr.err)
	}
	leg := dr.leg
	defer leg.Close()
	if !leg.Answered() || leg.User != "1001" || leg.Codec() != media.PCMU {
		t.Fatalf("leg answered %v user %q codec %v", leg.Answered(), leg.User, leg.Codec())
	}
	twoWay(t, leg, c, 697, 1209)

	// A digit pressed on the page's keypad (RFC 4733) reaches the leg.
	if err := c.SendDigit(5); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-leg.Media().DTMF():
		if d != '5' {
			t.Fatalf("digit %q, want 5", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no digit from the page")
	}
	st, err := r.ep.Stats("1001", leg.ID)
	if err != nil || st.State != "connected" || st.PacketsReceived == 0 || st.PacketsSent == 0 || st.Codec != "PCMU" {
		t.Fatalf("stats %+v, %v", st, err)
	}
	if _, err := r.ep.Stats("2002", leg.ID); !errors.Is(err, webrtc.ErrUnknownLeg) {
		t.Fatalf("another user's stats: %v", err)
	}

	// The engine hangs up: the page is told.
	if err := leg.Hangup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h := p.next(t, "hangup"); h.Leg != leg.ID {
		t.Fatalf("hangup %+v", h)
	}
}

func TestBrowserDialRefusals(t *testing.T) {
	r := newRig(t, time.Second)
	// No page: as an unregistered phone.
	if _, err := r.ep.Dial(context.Background(), webrtc.DialRequest{DialRequest: sip.DialRequest{User: "1001"}}); !errors.Is(err, sip.ErrNotRegistered) {
		t.Fatalf("dial without a page: %v", err)
	}
	p := newPage()
	if _, err := r.ep.Register("1001", p.Page()); err != nil {
		t.Fatal(err)
	}
	// Declined in the page: 603, as a phone's decline.
	res := r.dial(context.Background(), "1001")
	off := p.next(t, "offer")
	if err := r.ep.Hangup("2002", off.Leg, ""); !errors.Is(err, webrtc.ErrUnknownLeg) {
		t.Fatalf("another user hangs up: %v", err)
	}
	if err := r.ep.Hangup("1001", off.Leg, "declined"); err != nil {
		t.Fatal(err)
	}
	var de *sip.DialError
	if dr := <-res; !errors.As(dr.err, &de) || de.Status != 603 {
		t.Fatalf("declined dial: %v", dr.err)
	}
	// Ringing stopped by the engine: the page hears a hangup.
	ctx, cancel := context.WithCancel(context.Background())
	res = r.dial(ctx, "1001")
	off = p.next(t, "offer")
	cancel()
	if dr := <-res; !errors.As(dr.err, &de) || de.Status != 0 {
		t.Fatalf("cancelled dial: %v", dr.err)
	}
	if h := p.next(t, "hangup"); h.Leg != off.Leg {
		t.Fatalf("hangup %+v", h)
	}
	if err := r.ep.Answer("1001", p.Page(), off.Leg, "v=0"); !errors.Is(err, webrtc.ErrUnknownLeg) && !errors.Is(err, webrtc.ErrLegState) {
		t.Fatalf("late answer: %v", err)
	}
	// A bad answer is refused and the offer still stands.
	res = r.dial(context.Background(), "1001")
	off = p.next(t, "offer")
	if err := r.ep.Answer("1001", p.Page(), off.Leg, "not sdp"); !errors.Is(err, webrtc.ErrBadSDP) {
		t.Fatalf("bad answer: %v", err)
	}
	// The page goes while ringing: the dial fails like an unreachable phone.
	close(p.gone)
	if dr := <-res; !errors.As(dr.err, &de) || de.Status != 0 {
		t.Fatalf("dial to a page that went: %v", dr.err)
	}
	if r.ep.Registered("1001") {
		t.Fatal("a page that went is still a phone")
	}
	if n := len(r.srv.Legs()); n != 0 {
		t.Fatalf("%d legs left", n)
	}
}

func TestBrowserLegReattachesWithinGrace(t *testing.T) {
	r := newRig(t, 20*time.Second)
	p1 := newPage()
	if _, err := r.ep.Register("1001", p1.Page()); err != nil {
		t.Fatal(err)
	}
	res := r.dial(context.Background(), "1001")
	c1, _ := r.answer("1001", p1)
	dr := <-res
	if dr.err != nil {
		t.Fatal(dr.err)
	}
	leg := dr.leg
	defer leg.Close()
	twoWay(t, leg, c1, 697, 1209)

	// The page reloads: its connection closes, its peer connection goes.
	close(p1.gone)
	c1.Close()
	time.Sleep(100 * time.Millisecond)
	if leg.EndCause() != "" {
		t.Fatalf("leg ended at once: %s", leg.EndCause())
	}
	p2 := newPage()
	if n, err := r.ep.Register("1001", p2.Page()); err != nil || n != 1 {
		t.Fatalf("register after reload: %d re-attached, %v", n, err)
	}
	c2, off := r.answer("1001", p2)
	if !off.Reattach || off.Leg != leg.ID {
		t.Fatalf("re-attach offer %+v", off)
	}
	if err := c2.Connected(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	twoWay(t, leg, c2, 770, 1336)
	if leg.EndCause() != "" {
		t.Fatalf("leg ended: %s", leg.EndCause())
	}
	if st, _ := r.ep.Stats("1001", leg.ID); st.Reattached != 1 {
		t.Fatalf("stats %+v", st)
	}

	// A second page registering takes the call over from the first.
	p3 := newPage()
	if n, err := r.ep.Register("1001", p3.Page()); err != nil || n != 1 {
		t.Fatalf("register a second page: %d, %v", n, err)
	}
	c3, _ := r.answer("1001", p3)
	if err := c3.Connected(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	twoWay(t, leg, c3, 852, 1477)
}

func TestBrowserLegEndsAfterGraceWhenICEFails(t *testing.T) {
	r := newRig(t, 500*time.Millisecond)
	p := newPage()
	if _, err := r.ep.Register("1001", p.Page()); err != nil {
		t.Fatal(err)
	}
	res := r.dial(context.Background(), "1001")
	c, _ := r.answer("1001", p)
	dr := <-res
	if dr.err != nil {
		t.Fatal(dr.err)
	}
	leg := dr.leg
	defer leg.Close()
	// The page's packets stop (its peer connection closes); the page
	// itself stays and does not re-register.
	c.Close()
	select {
	case <-leg.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("leg still up after ICE failed and the grace ran out")
	}
	if !strings.HasPrefix(leg.EndCause(), "browser gone") {
		t.Fatalf("end cause %q", leg.EndCause())
	}
	if h := p.next(t, "hangup"); h.Leg != leg.ID {
		t.Fatalf("hangup %+v", h)
	}
}
