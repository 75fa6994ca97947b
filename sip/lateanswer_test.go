package sip_test

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/sip"
	"github.com/hotlinecc/hotline/sip/uatest"
)

type nopHandler struct{}

func (nopHandler) Admit(sip.CallInfo) int { return 404 }

func (nopHandler) Serve(ctx context.Context, leg *sip.Leg) {}

func startServer(t *testing.T) *sip.Server {
	t.Helper()
	base := 24000 + 2*(os.Getpid()%250)
	ports, err := media.NewPortAllocator(base, base+400)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sip.NewServer(sip.Config{
		UDPAddr: "127.0.0.1:0", Realm: "hotline", MediaIP: netip.MustParseAddr("127.0.0.1"), Ports: ports,
		Credentials: func(user string) (sip.Credential, bool) {
			return sip.Credential{User: user, HA1: sip.HA1(user, "hotline", "pass"+user)}, true
		},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}, nopHandler{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
		if n := ports.InUse(); n != 0 {
			t.Errorf("%d RTP ports in use after shutdown", n)
		}
	})
	// Run installs its context before serving.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := srv.Dial(context.Background(), sip.DialRequest{User: "nobody"}); err != nil && !errors.Is(err, sip.ErrNotRunning) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return srv
}

// settled checks what RFC 3261 requires of the engine for every 2xx a
// phone sent: an ACK, and a BYE unless the engine kept that answer.
func settled(t *testing.T, d *uatest.Dialog, kept bool) {
	t.Helper()
	if d.Answers() == 0 {
		return
	}
	if !d.Acked(3 * time.Second) {
		t.Errorf("dialog %s: 200 OK never ACKed", d.CallID)
	}
	if !kept && !d.Byed(3*time.Second) {
		t.Errorf("dialog %s: unwanted answer ACKed but never BYEd", d.CallID)
	}
}

// Two contacts of one user answer in the same instant: the engine keeps
// one, and the other's 200 OK is ACKed then BYEd — every time, whichever
// order the answers arrive in.
func TestForkedAnswersBothSettled(t *testing.T) {
	srv := startServer(t)
	a, b := uatest.New(t, srv.UDPAddr()), uatest.New(t, srv.UDPAddr())
	for _, ua := range []*uatest.UA{a, b} {
		if err := ua.Register("1001", "pass1001", 300); err != nil {
			t.Fatal(err)
		}
	}
	const trials = 20
	for i := 0; i < trials; i++ {
		type dialed struct {
			leg *sip.Leg
			err error
		}
		res := make(chan dialed, 1)
		go func() {
			leg, err := srv.Dial(context.Background(), sip.DialRequest{User: "1001", CallerID: "13800000001"})
			res <- dialed{leg, err}
		}()
		da, err := a.NextInvite(3 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		db, err := b.NextInvite(3 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, d := range []*uatest.Dialog{da, db} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(rand.IntN(1500)) * time.Microsecond)
				_ = d.Answer()
			}()
		}
		wg.Wait()
		r := <-res
		if r.err != nil {
			t.Fatalf("trial %d: dial: %v", i, r.err)
		}
		winner := da
		if r.leg.ID == db.CallID {
			winner = db
		}
		for _, d := range []*uatest.Dialog{da, db} {
			settled(t, d, d == winner)
		}
		if winner.Byed(0) {
			t.Fatalf("trial %d: the kept answer was hung up", i)
		}
		r.leg.Close()
		if !winner.Byed(3 * time.Second) {
			t.Fatalf("trial %d: closing the kept leg sent no BYE", i)
		}
	}
	if n := srv.Stats.LateAnswers.Load(); n == 0 {
		t.Log("no answer arrived after the fork was decided in these trials")
	}
}

// The engine gives up on a ringing phone (its caller left) just as the
// phone answers: the CANCEL and the 200 OK cross. Whichever wins, the
// phone ends with no call: a 487, or a 200 that was ACKed and BYEd.
func TestCancelCrossingAnswer(t *testing.T) {
	srv := startServer(t)
	phone := uatest.New(t, srv.UDPAddr())
	if err := phone.Register("1002", "pass1002", 300); err != nil {
		t.Fatal(err)
	}
	answered := 0
	for i := 0; i < 40; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		res := make(chan error, 1)
		go func() {
			leg, err := srv.Dial(ctx, sip.DialRequest{User: "1002"})
			if leg != nil {
				leg.Close()
				err = nil
			}
			res <- err
		}()
		d, err := phone.NextInvite(3 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = d.Ring()
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(rand.IntN(800)) * time.Microsecond)
			cancel()
		}()
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(rand.IntN(800)) * time.Microsecond)
			_ = d.Answer()
		}()
		wg.Wait()
		<-res
		if d.Answers() > 0 {
			answered++
			settled(t, d, false)
		} else if !d.Cancelled(3 * time.Second) {
			t.Fatalf("trial %d: neither answered nor cancelled", i)
		}
	}
	t.Logf("%d of 40 trials answered before or across the CANCEL", answered)
	deadline := time.Now().Add(3 * time.Second)
	for srv.ActiveLegs() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := srv.ActiveLegs(); n != 0 {
		t.Fatalf("%d legs left after the trials", n)
	}
}
