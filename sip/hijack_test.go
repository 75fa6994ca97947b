package sip

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/media/mediatest"
	"github.com/hotlinecc/hotline/sip/sipptest"
)

// TestRTPHijackRefused: on a bridged call, a second host sends RTP to the
// caller leg's port after 3 s of caller silence. The agent hears only the
// caller and the intruder receives nothing, while the agent keeps talking.
func TestRTPHijackRefused(t *testing.T) {
	h := &bridgeHandler{prompt: media.Tone(440, 100*time.Millisecond, 6000), agent: "1001", bridged: make(chan [2]*Leg, 1)}
	env := newTestEnv(t, nil, h)
	callerMedia, agentMedia := newPeer(t), newPeer(t)
	ic, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.2")})
	if err != nil {
		t.Fatal(err)
	}
	intruder := &peer{conn: ic, done: make(chan struct{})}
	go func() { // count whatever the engine sends the intruder
		defer close(intruder.done)
		buf := make([]byte, 2048)
		for {
			if _, err := ic.Read(buf); err != nil {
				return
			}
			intruder.mu.Lock()
			intruder.pkts = append(intruder.pkts, rtp.Packet{})
			intruder.mu.Unlock()
		}
	}()
	t.Cleanup(func() { ic.Close(); <-intruder.done })

	agentPort := sipptest.FreeUDPPort(t)
	agent := sipptest.Start(t, sipptest.Options{
		Scenario:  sipptest.Render(t, sipptest.AgentTemplate, sipptest.Agent{RingMs: 100}),
		LocalPort: agentPort, Keys: map[string]string{"rtp_port": strconv.Itoa(agentMedia.port())}, Timeout: 40 * time.Second,
	})
	registerAgent(t, env, "1001", "pass1001", agentPort, 300)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	callerDone := make(chan sipptest.Result, 1)
	go func() {
		callerDone <- sipptest.Run(t, ctx, sipptest.Options{
			Target: env.addr, Service: "10010",
			Scenario: callerScenario(t, sipptest.Caller{PauseMs: 7000}),
			Keys:     map[string]string{"rtp_port": strconv.Itoa(callerMedia.port())},
		})
	}()
	var legs [2]*Leg
	select {
	case legs = <-h.bridged:
	case r := <-callerDone:
		t.Fatalf("caller ended before bridge: exit %d\n%s", r.ExitCode, sipptest.Logs(agent.Dir))
	case <-ctx.Done():
		t.Fatalf("no bridge: %s", agent.Output())
	}
	callerPort := legs[0].Media().LocalAddr()
	callerMedia.sendTone(t, callerPort, 2000, 200*time.Millisecond)
	time.Sleep(3 * time.Second) // the caller falls silent
	heardBefore := len(agentMedia.packets())
	done := make(chan struct{})
	go func() { // the agent goes on talking meanwhile
		defer close(done)
		agentMedia.sendTone(t, legs[1].Media().LocalAddr(), 1000, time.Second)
	}()
	mediatest.SendTone(t, ic, callerPort, 3000, time.Second, 0xbad)
	<-done
	callerMedia.sendTone(t, callerPort, 2000, 200*time.Millisecond)
	time.Sleep(100 * time.Millisecond)

	heard := decode(t, agentMedia.packets()[heardBefore:])
	if g2, g3 := goertzel(heard, 2000), goertzel(heard, 3000); len(heard) < 8*160 || g2 < 100*g3 {
		t.Fatalf("agent heard %d samples: caller's 2 kHz %.0f vs intruder's 3 kHz %.0f", len(heard), g2, g3)
	}
	if n := len(intruder.packets()); n != 0 {
		t.Fatalf("the intruder received %d packets of the call", n)
	}
	st := legs[0].Media().Stats()
	if st.DroppedForeign < 40 || st.Latched.Addr().String() != "127.0.0.1" {
		t.Fatalf("caller leg: %d foreign packets dropped, latched to %s", st.DroppedForeign, st.Latched)
	}
	if r := <-callerDone; r.ExitCode != 0 {
		t.Fatalf("caller sipp exit %d\n%s", r.ExitCode, sipptest.Logs(r.Dir))
	}
	if code, err := agent.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("agent sipp exit %d (%v)\n%s", code, err, agent.Output())
	}
}
