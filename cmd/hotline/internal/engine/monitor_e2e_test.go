package engine

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/hotlinecc/hotline/cmd/hotline/internal/callctl"
	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/sip/sipptest"
)

// ear is a test socket standing in for a phone's audio: it keeps what it hears.
type ear struct {
	conn *net.UDPConn
	mu   sync.Mutex
	pcm  []int16
}

func newEar(t *testing.T) *ear {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	e := &ear{conn: conn}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			var pk rtp.Packet
			if pk.Unmarshal(buf[:n]) != nil || pk.PayloadType != 0 {
				continue
			}
			pcm, err := media.PCMU.Decode(nil, pk.Payload)
			if err == nil {
				e.mu.Lock()
				e.pcm = append(e.pcm, pcm...)
				e.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return e
}

// threeTones has caller (2 kHz), agent (1 kHz) and supervisor (3 kHz) talk
// at once for a second and returns what each of them heard meanwhile.
func threeTones(t *testing.T, c *caller, agentEar, supEar *ear, agentAddr, supAddr netip.AddrPort) (callerHeard, agentHeard, supHeard []int16) {
	callerEar := &c.mediaEar
	cm, am, sm := callerEar.mark(), agentEar.mark(), supEar.mark()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); sendTone(t, agentEar.conn, agentAddr, 1000, time.Second, 0xa1) }()
	go func() { defer wg.Done(); sendTone(t, supEar.conn, supAddr, 3000, time.Second, 0x51) }()
	sendTone(t, c.media, c.engineMedia(), 2000, time.Second, 0xc1)
	wg.Wait()
	time.Sleep(150 * time.Millisecond)
	return callerEar.since(cm), agentEar.since(am), supEar.since(sm)
}

func (e *ear) port() int { return e.conn.LocalAddr().(*net.UDPAddr).Port }

// since returns what was heard after mark.
func (e *ear) since(mark int) []int16 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]int16(nil), e.pcm[mark:]...)
}

func (e *ear) mark() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.pcm)
}

// A supervisor listens, whispers and barges on agent 1001's call: which
// parties hear the supervisor follows the mode.
func TestSupervisorListenWhisperBarge(t *testing.T) {
	t.Parallel()
	d := startDemo(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	agentEar, supEar := newEar(t), newEar(t)
	agentPort, supPort := sipptest.FreeUDPPort(t), sipptest.FreeUDPPort(t)
	agentProc := sipptest.Start(t, sipptest.Options{Scenario: sipptest.Render(t, sipptest.AgentTemplate, sipptest.Agent{RingMs: 100}), LocalPort: agentPort,
		Timeout: 80 * time.Second, Keys: map[string]string{"rtp_port": strconv.Itoa(agentEar.port())}})
	sipptest.Start(t, sipptest.Options{Scenario: sipptest.Render(t, sipptest.AgentTemplate, sipptest.Agent{RingMs: 100}), LocalPort: supPort,
		Timeout: 80 * time.Second, Keys: map[string]string{"rtp_port": strconv.Itoa(supEar.port())}})
	sipptest.RegisterPhone(t, d.e.SIPAddr(), "1001", "pass1001", agentPort, 300)
	sipptest.RegisterPhone(t, d.e.SIPAddr(), "9001", "pass9001", supPort, 300)
	d.waitAgent(t, "1001", "ready")

	c := d.call(t, "13800000002", ctx)
	c.waitAudio(greetingFrames + 25)
	c.press('1')
	_ = agentProc
	cl := d.bridged(t, ctx, "1001")
	agentAddr := cl.AgentMedia

	sup := d.desk(t, ctx, "9001")
	var supAddr netip.AddrPort
	talk := func() (callerHeard, agentHeard, supHeard []int16) {
		return threeTones(t, c, agentEar, supEar, agentAddr, supAddr)
	}
	for _, tc := range []struct {
		mode                          string
		callerHearsSup, agentHearsSup bool
	}{
		{"listen", false, false},
		{"whisper", false, true},
		{"barge", true, true},
	} {
		if _, err := sup.Must(ctx, "monitor", map[string]any{"agent": "1001", "mode": tc.mode}); err != nil {
			t.Fatalf("%s: %v", tc.mode, err)
		}
		if supAddr == (netip.AddrPort{}) {
			supAddr = d.view(t, ctx, "supervisor joined", func(v callctl.View) bool { return v.ID == cl.ID && v.SupervisorMedia.IsValid() }).SupervisorMedia
		}
		callerHeard, agentHeard, supHeard := talk()
		if goertzel(supHeard, 2000) < 1 || goertzel(supHeard, 1000) < 1 || goertzel(supHeard, 3000) > 0.05*goertzel(supHeard, 1000) {
			t.Errorf("%s: the supervisor does not hear caller and agent", tc.mode)
		}
		if goertzel(callerHeard, 1000) < 1 || goertzel(agentHeard, 2000) < 1 ||
			goertzel(callerHeard, 2000) > 0.05*goertzel(callerHeard, 1000) || goertzel(agentHeard, 1000) > 0.05*goertzel(agentHeard, 2000) {
			t.Errorf("%s: caller and agent no longer hear each other", tc.mode)
		}
		// The supervisor's tone against the other party's, sent at the same level.
		if got := goertzel(callerHeard, 3000) > 0.05*goertzel(callerHeard, 1000); got != tc.callerHearsSup {
			t.Errorf("%s: caller hears the supervisor = %v", tc.mode, got)
		}
		if got := goertzel(agentHeard, 3000) > 0.05*goertzel(agentHeard, 2000); got != tc.agentHearsSup {
			t.Errorf("%s: agent hears the supervisor = %v", tc.mode, got)
		}
	}
}
