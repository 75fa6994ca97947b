package sip

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/media/mediatest"
	"github.com/hotlinecc/hotline/sip/sipptest"
)

// bridgeHandler is the smallest useful call handler: answer, play a prompt,
// ring an agent and relay audio both ways until either side hangs up.
type bridgeHandler struct {
	srv    *Server
	prompt *media.Prompt
	agent  string
	// legs carries (caller leg, agent leg) to the test once bridged.
	bridged chan [2]*Leg
	served  chan *Leg
	ended   chan string
}

func (h *bridgeHandler) Admit(info CallInfo) int {
	switch info.Dialled {
	case "10010":
		return 0
	case "900":
		if !info.Origin.External {
			return 403
		}
		return 0
	}
	return 404
}

func (h *bridgeHandler) Serve(ctx context.Context, leg *Leg) {
	if h.served != nil {
		h.served <- leg
	}
	defer func() {
		if h.ended != nil {
			h.ended <- leg.EndCause()
		}
	}()
	if err := leg.Answer(ctx); err != nil {
		return
	}
	if err := leg.Media().Play(ctx, h.prompt); err != nil {
		return
	}
	if h.agent == "" {
		<-ctx.Done()
		return
	}
	out, err := h.srv.Dial(ctx, DialRequest{User: h.agent, CallerID: leg.Info.Caller})
	if err != nil {
		slog.Warn("test handler: dial agent", "err", err)
		return
	}
	defer out.Close()
	a, b := leg.Media(), out.Media()
	a.SetReceiver(func(pcm []int16) { _ = b.WriteFrame(pcm) })
	b.SetReceiver(func(pcm []int16) { _ = a.WriteFrame(pcm) })
	defer a.SetReceiver(nil)
	defer b.SetReceiver(nil)
	if h.bridged != nil {
		h.bridged <- [2]*Leg{leg, out}
	}
	select {
	case <-ctx.Done():
	case <-out.Done():
	}
}

type testEnv struct {
	srv  *Server
	addr string
	stop func()
}

func newTestEnv(t *testing.T, mutate func(*Config), h Handler) *testEnv {
	t.Helper()
	// Below the ephemeral range (32768+), where SIPp and FreeUDPPort pick ports.
	base := 20000 + 2*(os.Getpid()%250)
	ports, err := media.NewPortAllocator(base, base+500)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		UDPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", Realm: "hotline",
		MediaIP: netip.MustParseAddr("127.0.0.1"), Ports: ports,
		Trunks: []Trunk{{Name: "carrier", Sources: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}},
		Credentials: func(user string) (Credential, bool) {
			if user == "1001" || user == "1002" {
				return Credential{User: user, HA1: HA1(user, "hotline", "pass"+user)}, true
			}
			return Credential{}, false
		},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: testLogLevel})),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := NewServer(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	switch hh := h.(type) {
	case *bridgeHandler:
		hh.srv = srv
	case *holdingHandler:
		hh.srv = srv
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	// Run sets up its context before serving; wait until it answers OPTIONS.
	waitOptions(t, srv.UDPAddr())
	env := &testEnv{srv: srv, addr: srv.UDPAddr()}
	var stopOnce sync.Once
	env.stop = func() {
		stopOnce.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("server run: %v", err)
			}
			if n := srv.ActiveLegs(); n != 0 {
				t.Errorf("%d legs still active after shutdown", n)
			}
			if n := ports.InUse(); n != 0 {
				t.Errorf("%d RTP ports still in use after shutdown", n)
			}
		})
	}
	t.Cleanup(env.stop)
	return env
}

func rawSIP(t *testing.T, addr, msg string) string {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	msg = strings.ReplaceAll(msg, "LOCAL", local)
	msg = strings.ReplaceAll(strings.ReplaceAll(msg, "\r\n", "\n"), "\n", "\r\n")
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

const optionsMsg = "OPTIONS sip:hotline@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP LOCAL;branch=z9hG4bK-BRANCH\nFrom: <sip:probe@127.0.0.1>;tag=1\nTo: <sip:hotline@127.0.0.1>\nCall-ID: CALLID\nCSeq: 1 OPTIONS\nMax-Forwards: 70\nContent-Length: 0\n\n"

func options(t *testing.T, addr string, n int) string {
	msg := strings.ReplaceAll(optionsMsg, "BRANCH", strconv.Itoa(n)+strconv.FormatInt(time.Now().UnixNano(), 36))
	msg = strings.ReplaceAll(msg, "CALLID", "opt-"+strconv.Itoa(n)+strconv.FormatInt(time.Now().UnixNano(), 36))
	return rawSIP(t, addr, msg)
}

func waitOptions(t *testing.T, addr string) {
	t.Helper()
	for i := 0; i < 50; i++ {
		if strings.HasPrefix(options(t, addr, i), "SIP/2.0 200") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("server never answered OPTIONS")
}

// peer is a test-owned RTP endpoint standing in for a phone's audio.
type peer struct {
	conn *net.UDPConn
	mu   sync.Mutex
	pkts []rtp.Packet
	done chan struct{}
}

func newPeer(t *testing.T) *peer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{conn: c, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		buf := make([]byte, 2048)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			var pk rtp.Packet
			if pk.Unmarshal(append([]byte(nil), buf[:n]...)) == nil {
				p.mu.Lock()
				p.pkts = append(p.pkts, pk)
				p.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-p.done })
	return p
}

func (p *peer) port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

func (p *peer) packets() []rtp.Packet {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]rtp.Packet(nil), p.pkts...)
}

// sendTone sends d of a PCMU tone to addr in 20 ms packets.
func (p *peer) sendTone(t *testing.T, addr netip.AddrPort, freq float64, d time.Duration) {
	t.Helper()
	mediatest.SendTone(t, p.conn, addr, freq, d, 0x5eed)
}

var goertzel = mediatest.Goertzel

func decode(t *testing.T, pkts []rtp.Packet) []int16 {
	var out []int16
	for _, pk := range pkts {
		c, ok := media.CodecByPayloadType(pk.PayloadType)
		if !ok {
			continue
		}
		pcm, err := c.Decode(nil, pk.Payload)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pcm...)
	}
	return out
}

func callerScenario(t *testing.T, c sipptest.Caller) string {
	if c.Formats == "" {
		c.Formats = "0 101"
	}
	if !c.Body && c.BadBody == "" {
		c.Body = true
	}
	return sipptest.Render(t, sipptest.CallerTemplate, c)
}

// registerAgent registers user's contact at contactPort with SIPp.
func registerAgent(t *testing.T, env *testEnv, user, pass string, contactPort, expires int) {
	t.Helper()
	sipptest.RegisterPhone(t, env.addr, user, pass, contactPort, expires)
}

func TestCallPromptThenBridgeBothWays(t *testing.T) {
	for _, tc := range []struct {
		name      string
		transport string
	}{{"udp", "u1"}, {"tcp", "t1"}} {
		t.Run(tc.name, func(t *testing.T) {
			prompt := media.Tone(440, 600*time.Millisecond, 6000)
			h := &bridgeHandler{prompt: prompt, agent: "1001", bridged: make(chan [2]*Leg, 1)}
			env := newTestEnv(t, nil, h)
			callerMedia, agentMedia := newPeer(t), newPeer(t)

			agentPort := sipptest.FreeUDPPort(t)
			agent := sipptest.Start(t, sipptest.Options{
				Scenario:  sipptest.Render(t, sipptest.AgentTemplate, sipptest.Agent{RingMs: 200}),
				LocalPort: agentPort, Keys: map[string]string{"rtp_port": strconv.Itoa(agentMedia.port())}, Timeout: 30 * time.Second,
			})
			registerAgent(t, env, "1001", "pass1001", agentPort, 300)
			if !env.srv.Registrar().Registered("1001") {
				t.Fatal("agent 1001 not registered after 200 OK")
			}

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			callerDone := make(chan sipptest.Result, 1)
			go func() {
				callerDone <- sipptest.Run(t, ctx, sipptest.Options{
					Target: env.addr, Service: "10010", Transport: tc.transport,
					Scenario: callerScenario(t, sipptest.Caller{PauseMs: 3000}),
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
			// The prompt reached the caller before the bridge: every frame, in order, with the prompt's audio.
			pk := callerMedia.packets()
			if len(pk) < prompt.Frames() {
				t.Fatalf("caller got %d RTP packets, want at least %d for the prompt", len(pk), prompt.Frames())
			}
			for i := 1; i < prompt.Frames(); i++ {
				if pk[i].SequenceNumber != pk[i-1].SequenceNumber+1 || pk[i].Timestamp != pk[i-1].Timestamp+160 || pk[i].SSRC != pk[0].SSRC {
					t.Fatalf("packet %d: seq %d ts %d ssrc %x after seq %d ts %d", i, pk[i].SequenceNumber, pk[i].Timestamp, pk[i].SSRC, pk[i-1].SequenceNumber, pk[i-1].Timestamp)
				}
			}
			want, _ := media.PCMU.Encode(nil, prompt.Samples[:160])
			if string(pk[0].Payload) != string(want) || !pk[0].Marker {
				t.Fatal("first prompt packet is not the prompt's first frame with the marker bit")
			}
			// Bridged audio, both ways through the engine.
			before := len(callerMedia.packets())
			agentMedia.sendTone(t, legs[1].Media().LocalAddr(), 1000, 400*time.Millisecond)
			callerMedia.sendTone(t, legs[0].Media().LocalAddr(), 2000, 400*time.Millisecond)
			time.Sleep(100 * time.Millisecond)
			toCaller := decode(t, callerMedia.packets()[before:])
			toAgent := decode(t, agentMedia.packets())
			if len(toCaller) < 10*160 || goertzel(toCaller, 1000) < 100*goertzel(toCaller, 2000) {
				t.Fatalf("caller did not hear the agent's 1 kHz tone (%d samples)", len(toCaller))
			}
			if len(toAgent) < 10*160 || goertzel(toAgent, 2000) < 100*goertzel(toAgent, 1000) {
				t.Fatalf("agent did not hear the caller's 2 kHz tone (%d samples)", len(toAgent))
			}
			r := <-callerDone
			if r.ExitCode != 0 {
				t.Fatalf("caller sipp exit %d\n%s%s", r.ExitCode, r.Output, sipptest.Logs(r.Dir))
			}
			// Caller's BYE must end the agent leg with a BYE the phone answers.
			if code, err := agent.Wait(ctx); err != nil || code != 0 {
				t.Fatalf("agent sipp exit %d (%v)\n%s", code, err, agent.Output())
			}
		})
	}
}

func TestAgentHangsUpFirstEndsCaller(t *testing.T) {
	h := &bridgeHandler{prompt: media.Tone(440, 200*time.Millisecond, 6000), agent: "1001", ended: make(chan string, 1)}
	env := newTestEnv(t, nil, h)
	agentPort := sipptest.FreeUDPPort(t)
	agent := sipptest.Start(t, sipptest.Options{
		Scenario: sipptest.Render(t, sipptest.AgentTemplate, sipptest.Agent{RingMs: 100, TalkMs: 1000}), LocalPort: agentPort,
	})
	registerAgent(t, env, "1001", "pass1001", agentPort, 300)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := sipptest.Run(t, ctx, sipptest.Options{Target: env.addr, Service: "10010", Scenario: callerScenario(t, sipptest.Caller{WaitBye: true})})
	if r.ExitCode != 0 {
		t.Fatalf("caller did not get the engine's BYE: exit %d\n%s%s", r.ExitCode, r.Output, sipptest.Logs(r.Dir))
	}
	if code, _ := agent.Wait(ctx); code != 0 {
		t.Fatalf("agent sipp exit %d\n%s", code, agent.Output())
	}
}

func TestCallerHangsUpWhileAgentRingsCancelsAgent(t *testing.T) {
	h := &bridgeHandler{prompt: media.Tone(440, 200*time.Millisecond, 6000), agent: "1001"}
	env := newTestEnv(t, nil, h)
	agentPort := sipptest.FreeUDPPort(t)
	agent := sipptest.Start(t, sipptest.Options{
		Scenario: sipptest.Render(t, sipptest.AgentTemplate, sipptest.Agent{NoAnswer: true}), LocalPort: agentPort,
	})
	registerAgent(t, env, "1001", "pass1001", agentPort, 300)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := sipptest.Run(t, ctx, sipptest.Options{Target: env.addr, Service: "10010", Scenario: callerScenario(t, sipptest.Caller{PauseMs: 1500})})
	if r.ExitCode != 0 {
		t.Fatalf("caller exit %d\n%s%s", r.ExitCode, r.Output, sipptest.Logs(r.Dir))
	}
	if code, _ := agent.Wait(ctx); code != 0 {
		t.Fatalf("agent phone did not see CANCEL: exit %d\n%s", code, agent.Output())
	}
}

func TestCancelBeforeAnswer(t *testing.T) {
	// The handler never answers: the caller's CANCEL must end the leg with 487.
	h := &bridgeHandler{prompt: media.Tone(440, 100*time.Millisecond, 6000), served: make(chan *Leg, 1), ended: make(chan string, 1)}
	env := newTestEnv(t, nil, &holdingHandler{bridgeHandler: h})
	c, err := net.Dial("udp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	sdpBody := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
	invite := fmt.Sprintf("INVITE sip:10010@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKcancel1\r\nFrom: <sip:13800000001@127.0.0.1>;tag=a1\r\nTo: <sip:10010@127.0.0.1>\r\nCall-ID: cancel-test-1\r\nCSeq: 1 INVITE\r\nContact: <sip:c@%s>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", env.addr, local, local, len(sdpBody), sdpBody)
	cancelMsg := fmt.Sprintf("CANCEL sip:10010@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKcancel1\r\nFrom: <sip:13800000001@127.0.0.1>;tag=a1\r\nTo: <sip:10010@127.0.0.1>\r\nCall-ID: cancel-test-1\r\nCSeq: 1 CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", env.addr, local)
	if _, err := c.Write([]byte(invite)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.served:
	case <-time.After(5 * time.Second):
		t.Fatal("call never reached the handler")
	}
	if _, err := c.Write([]byte(cancelMsg)); err != nil {
		t.Fatal(err)
	}
	var got []string
	buf := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for !(contains(got, "SIP/2.0 487") && contains(got, "SIP/2.0 200")) {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("responses so far %q: %v", got, err)
		}
		got = append(got, strings.SplitN(string(buf[:n]), "\r\n", 2)[0])
	}
	select {
	case cause := <-h.ended:
		if cause != "caller cancelled" {
			t.Fatalf("end cause %q", cause)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler not told of the CANCEL")
	}
}

// holdingHandler serves calls without answering until the call ends.
type holdingHandler struct{ *bridgeHandler }

func (h *holdingHandler) Serve(ctx context.Context, leg *Leg) {
	h.served <- leg
	_ = leg.Ring()
	<-ctx.Done()
	h.ended <- leg.EndCause()
}

func contains(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

func TestRefusedCalls(t *testing.T) {
	h := &bridgeHandler{prompt: media.Tone(440, 100*time.Millisecond, 6000)}
	// Trunk only from 127.0.0.2: calls from 127.0.0.1 must authenticate.
	env := newTestEnv(t, func(c *Config) {
		c.Trunks = []Trunk{{Name: "carrier", Sources: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}}
	}, h)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tests := []struct {
		name   string
		c      sipptest.Caller
		user   string
		pass   string
		expect int
	}{
		{name: "unauthenticated", c: sipptest.Caller{Expect: 401}},
		{name: "wrong password", c: sipptest.Caller{Auth: true, Expect: 403}, user: "1001", pass: "wrong"},
		{name: "unknown number", c: sipptest.Caller{Auth: true, Expect: 404}, user: "1001", pass: "pass1001"},
		{name: "external destination without permission", c: sipptest.Caller{Auth: true, Expect: 403}, user: "1002", pass: "pass1002"},
		{name: "codec mismatch", c: sipptest.Caller{Auth: true, Formats: "18", Expect: 488}, user: "1001", pass: "pass1001"},
		{name: "malformed sdp", c: sipptest.Caller{Auth: true, Formats: "0 x", Expect: 400}, user: "1001", pass: "pass1001"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			service := "10010"
			switch tc.name {
			case "unknown number":
				service = "55555"
			case "external destination without permission":
				service = "900"
			}
			r := sipptest.Run(t, ctx, sipptest.Options{
				Target: env.addr, Service: service, Scenario: callerScenario(t, tc.c), AuthUser: tc.user, AuthPass: tc.pass, Timeout: 10 * time.Second,
			})
			if r.ExitCode != 0 {
				t.Fatalf("expected %d: sipp exit %d\n%s%s", tc.expect, r.ExitCode, r.Output, sipptest.Logs(r.Dir))
			}
		})
	}
	if env.srv.Stats.LegsOpened.Load() != 0 {
		t.Fatalf("refused calls opened %d legs", env.srv.Stats.LegsOpened.Load())
	}
}

func TestRegistrarWithSIPp(t *testing.T) {
	env := newTestEnv(t, nil, &bridgeHandler{})
	registerAgent(t, env, "1001", "pass1001", 7001, 300)
	registerAgent(t, env, "1001", "pass1001", 7002, 300)
	if n := len(env.srv.Registrar().Contacts("1001")); n != 2 {
		t.Fatalf("two phones of one agent: %d contacts", n)
	}
	registerAgent(t, env, "1001", "pass1001", 7001, 0)
	cs := env.srv.Registrar().Contacts("1001")
	if len(cs) != 1 || cs[0].Contact.Port != 7002 {
		t.Fatalf("after unregistering 7001: %+v", cs)
	}
	// Wrong password: 403, nothing registered.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := sipptest.Run(t, ctx, sipptest.Options{
		Target: env.addr, Scenario: sipptest.Render(t, sipptest.RegisterTemplate, sipptest.Register{User: "1002", Expires: 300, Expect: 403}),
		AuthUser: "1002", AuthPass: "nope", Keys: map[string]string{"contact_port": "7003"},
	})
	if r.ExitCode != 0 {
		t.Fatalf("wrong password register: exit %d\n%s", r.ExitCode, sipptest.Logs(r.Dir))
	}
	if env.srv.Registrar().Registered("1002") {
		t.Fatal("1002 registered with a wrong password")
	}
}

func TestBadInputNeverCrashes(t *testing.T) {
	env := newTestEnv(t, nil, &bridgeHandler{})
	junk := []string{
		"garbage\r\n\r\n",
		"INVITE sip:10010@x SIP/2.0\r\n\r\n",
		"INVITE sip:10010@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP LOCAL;branch=z9hG4bKj1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:10010@b>\r\nCall-ID: j1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
		"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP LOCAL;branch=z9hG4bKj2\r\nFrom: <sip:1001@b>;tag=1\r\nTo: <sip:1001@b>\r\nCall-ID: j2\r\nCSeq: 1 REGISTER\r\nAuthorization: Digest username=\"1001\", realm=\"hotline\", nonce=\"forged\", uri=\"sip:x\", response=\"00\"\r\nContent-Length: 0\r\n\r\n",
		"BYE sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP LOCAL;branch=z9hG4bKj3\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@b>;tag=2\r\nCall-ID: nosuchcall\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
		strings.Repeat("A", 60000),
	}
	for _, j := range junk {
		_ = rawSIP(t, env.addr, j)
	}
	if r := options(t, env.addr, 999); !strings.HasPrefix(r, "SIP/2.0 200") {
		t.Fatalf("server stopped answering after junk: %q", r)
	}
	if env.srv.Stats.LegsOpened.Load() != 0 {
		t.Fatal("junk opened a leg")
	}
}

var testLogLevel = func() slog.Level {
	if os.Getenv("HOTLINE_TEST_DEBUG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}()

func dialUDP(addr string) (net.Conn, error) { return net.Dial("udp", addr) }
