package engine

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/callctl"
	"github.com/hotlinecc/hotline/cmd/hotline/internal/config"
	"github.com/hotlinecc/hotline/ivr"
	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/sip/sipptest"
)

// demo is the demo engine on free ports, as the README's quick start runs it.
type demo struct {
	e       *Engine
	results chan CallEnd
	stop    func()
}

func startDemo(t *testing.T, mutate func(*config.Config)) *demo {
	t.Helper()
	cfg, err := config.Load("../../../../testdata/hotline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.SIP.UDP, cfg.SIP.TCP, cfg.HTTP.Listen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	// Each test process gets its own RTP range: packages run in parallel.
	base := 21000 + 2*(os.Getpid()%2000)
	cfg.SIP.RTPPorts = strconv.Itoa(base) + "-" + strconv.Itoa(base+600)
	cfg.Recording.Dir = t.TempDir()
	cfg.Records = t.TempDir()
	if mutate != nil {
		mutate(cfg)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	d := &demo{e: e, results: make(chan CallEnd, 256)}
	e.OnCallEnd = func(r CallEnd) {
		select {
		case d.results <- r:
		default: // a test that does not read results must not hold calls up
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	<-e.Ready()
	var once sync.Once
	d.stop = func() {
		once.Do(func() {
			cancel()
			e.Abort() // a test's end does not wait out the drain's grace
			if err := <-done; err != nil {
				t.Errorf("engine run: %v", err)
			}
			if n := e.ports.InUse(); n != 0 {
				t.Errorf("%d RTP ports in use after shutdown", n)
			}
		})
	}
	t.Cleanup(d.stop)
	return d
}

// agentPhone starts a SIPp UAS for an agent and registers it.
func (d *demo) agentPhone(t *testing.T, id string, a sipptest.Agent, calls int) *sipptest.Proc {
	t.Helper()
	port := sipptest.FreeUDPPort(t)
	p := sipptest.Start(t, sipptest.Options{
		Scenario: sipptest.Render(t, sipptest.AgentTemplate, a), LocalPort: port, Calls: calls, Timeout: 60 * time.Second,
	})
	sipptest.RegisterPhone(t, d.e.SIPAddr(), id, "pass"+id, port, 300)
	d.waitAgent(t, id, acd.Ready)
	return p
}

func (d *demo) waitAgent(t *testing.T, id string, want acd.State) acd.AgentSnapshot {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		a, err := d.e.ACD().Agent(id)
		if err == nil && a.State == want {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent %s: state %v (err %v), want %s", id, a.State, err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// caller is a trunk call whose audio lands on a socket the test owns, so the
// test can hear the engine and press keys (RFC 4733) from the same port.
type caller struct {
	t      *testing.T
	d      *demo
	media  *net.UDPConn
	mu     sync.Mutex
	pkts   int
	result chan sipptest.Result
	done   chan struct{} // closed when SIPp exits
	final  sipptest.Result
	number string
	// mediaEar keeps the caller's decoded audio.
	mediaEar ear
	// events are the RFC 4733 event codes the caller received (every packet).
	events []byte
	seq    uint16
	ts     uint32
}

func (d *demo) call(t *testing.T, number string, ctx context.Context) *caller {
	t.Helper()
	return d.dial(t, ctx, number, "10010", 0)
}

func (d *demo) callTo(t *testing.T, ctx context.Context, number, to string) *caller {
	t.Helper()
	return d.dial(t, ctx, number, to, 0)
}

// dial calls access number to from number; the caller hangs up after
// hangupAfter, or waits for the engine's BYE when it is 0.
func (d *demo) dial(t *testing.T, ctx context.Context, number, to string, hangupAfter time.Duration) *caller {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c := &caller{t: t, d: d, media: conn, result: make(chan sipptest.Result, 1), done: make(chan struct{}), number: number}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			var pk rtp.Packet
			if pk.Unmarshal(buf[:n]) == nil {
				c.mu.Lock()
				c.pkts++
				if pk.PayloadType == 101 && len(pk.Payload) >= 4 {
					c.events = append(c.events, pk.Payload[0])
				}
				c.mu.Unlock()
				if pk.PayloadType == 0 {
					if pcm, err := media.PCMU.Decode(nil, pk.Payload); err == nil {
						c.mediaEar.mu.Lock()
						c.mediaEar.pcm = append(c.mediaEar.pcm, pcm...)
						c.mediaEar.mu.Unlock()
					}
				}
			}
		}
	}()
	t.Cleanup(func() { conn.Close() })
	scen := sipptest.Render(t, sipptest.CallerTemplate, sipptest.Caller{Formats: "0 101", Body: true, WaitBye: hangupAfter == 0, PauseMs: int(hangupAfter.Milliseconds()), From: number})
	go func() {
		r := sipptest.Run(t, ctx, sipptest.Options{
			Target: d.e.SIPAddr(), Service: to, Scenario: scen, Timeout: 90 * time.Second,
			Keys: map[string]string{"rtp_port": strconv.Itoa(conn.LocalAddr().(*net.UDPAddr).Port)},
		})
		c.mu.Lock()
		c.final = r
		c.mu.Unlock()
		close(c.done)
		c.result <- r
	}()
	return c
}

func (c *caller) packets() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pkts
}

// waitAudio waits until the caller has heard n packets (20 ms each) in total.
func (c *caller) waitAudio(n int) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for c.packets() < n {
		select {
		case <-c.done:
			c.mu.Lock()
			r := c.final
			c.mu.Unlock()
			c.t.Fatalf("caller %s ended (sipp exit %d) after %d packets, waited for %d\n%s", c.number, r.ExitCode, c.packets(), n, sipptest.Logs(r.Dir))
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("caller %s heard %d packets, waited for %d", c.number, c.packets(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitQuiet waits until the engine has sent nothing for gap.
func (c *caller) waitQuiet(gap time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last, since := c.packets(), time.Now()
	for time.Since(since) < gap {
		if time.Now().After(deadline) {
			c.t.Fatalf("caller %s never heard silence", c.number)
		}
		time.Sleep(10 * time.Millisecond)
		if n := c.packets(); n != last {
			last, since = n, time.Now()
		}
	}
}

// view waits until the engine has a call that pred accepts.
func (d *demo) view(t *testing.T, ctx context.Context, what string, pred func(callctl.View) bool) callctl.View {
	t.Helper()
	for {
		for _, v := range d.e.ctl.Views() {
			if pred(v) {
				return v
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: never happened; calls %+v", what, d.e.ctl.Views())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bridged waits until agentID's call is joined on this node.
func (d *demo) bridged(t *testing.T, ctx context.Context, agentID string) callctl.View {
	t.Helper()
	return d.view(t, ctx, "agent "+agentID+" bridged", func(v callctl.View) bool {
		return v.Agent == agentID && (v.State == callctl.Talking || v.State == callctl.Held) && v.AgentMedia.IsValid()
	})
}

// engineMedia finds the engine's RTP address for this caller's leg.
func (c *caller) engineMedia() netip.AddrPort {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, v := range c.d.e.ctl.Views() {
			if v.Caller == c.number {
				return v.CallerMedia
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no engine call for %s", c.number)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// press sends one RFC 4733 digit: three start/update packets and three end packets.
func (c *caller) press(key rune) {
	c.t.Helper()
	ev := map[rune]byte{'*': 10, '#': 11}[key]
	if key >= '0' && key <= '9' {
		ev = byte(key - '0')
	}
	to := net.UDPAddrFromAddrPort(c.engineMedia())
	c.ts += 8000
	c.seq += 10
	for i := 0; i < 6; i++ {
		end := i >= 3
		dur := uint16(160 * (i + 1))
		if end {
			dur = 160 * 4
		}
		payload := []byte{ev, 10, 0, 0}
		if end {
			payload[1] |= 0x80
		}
		binary.BigEndian.PutUint16(payload[2:], dur)
		c.seq++
		pk := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, Marker: i == 0, SequenceNumber: c.seq, Timestamp: c.ts, SSRC: 0xcafe}, Payload: payload}
		b, _ := pk.Marshal()
		if _, err := c.media.WriteToUDP(b, to); err != nil {
			c.t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *caller) finished(ctx context.Context) sipptest.Result {
	c.t.Helper()
	select {
	case r := <-c.result:
		return r
	case <-ctx.Done():
		c.t.Fatalf("caller %s still in call", c.number)
	}
	return sipptest.Result{}
}

func (d *demo) result(t *testing.T, ctx context.Context) *ivr.Result {
	t.Helper()
	return d.end(t, ctx).Result
}

func (d *demo) end(t *testing.T, ctx context.Context) CallEnd {
	t.Helper()
	select {
	case r := <-d.results:
		return r
	case <-ctx.Done():
		t.Fatal("no call result")
	}
	return CallEnd{}
}

func traceHas(r *ivr.Result, node, event, digits string) bool {
	for _, e := range r.Trace {
		if e.Node == node && (event == "" || e.Event == event) && (digits == "" || e.Digits == digits) {
			return true
		}
	}
	return false
}

func traceString(r *ivr.Result) string {
	var b strings.Builder
	for _, e := range r.Trace {
		b.WriteString(e.Node + ":" + e.Event + ":" + e.Digits)
		if len(e.Detail) > 0 {
			fmt.Fprintf(&b, "%v", e.Detail)
		}
		b.WriteString(" ")
	}
	return b.String()
}

// greetingFrames is the demo greeting's length in 20 ms packets (2.93 s).
const greetingFrames = 146

func TestDemoMenuToBillingAgentThenSurvey(t *testing.T) {
	t.Parallel()
	d := startDemo(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	agent := d.agentPhone(t, "1001", sipptest.Agent{RingMs: 200, TalkMs: 5000}, 1)

	c := d.call(t, "13800000002", ctx) // Demo Gold
	c.waitAudio(greetingFrames + 25)   // greeting done, menu playing
	c.press('1')                       // billing
	if code, err := agent.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("agent phone: exit %d (%v)\n%s", code, err, agent.Output())
	}
	// The agent hung up first: the caller is in the survey now.
	heard := c.packets()
	c.waitAudio(heard + 25)
	c.press('5')
	if r := c.finished(ctx); r.ExitCode != 0 {
		t.Fatalf("caller: exit %d\n%s", r.ExitCode, sipptest.Logs(r.Dir))
	}
	res := d.result(t, ctx)
	if res.Queue != "billing" || res.Agent != "1001" || res.SurveyScore != 5 {
		t.Fatalf("result queue %q agent %q survey %d; trace %s", res.Queue, res.Agent, res.SurveyScore, traceString(res))
	}
	if !traceHas(res, "main-menu", "", "1") || !traceHas(res, "identify", "", "") {
		t.Fatalf("trace lacks the menu choice or lookup: %s", traceString(res))
	}
	if res.Vars["tier"] != "gold" {
		t.Fatalf("tier %q, want gold", res.Vars["tier"])
	}
	// After the call the agent wraps up, then is ready again.
	d.waitAgent(t, "1001", acd.Ready)

	// The call record is written once the agent's wrap-up ended; the calls
	// counter counts records.
	rec := d.record(t, res.CallID)

	// What a supervisor's Prometheus sees of that call.
	metrics := scrape(t, d)
	for line, want := range map[string]float64{
		`hotline_queue_calls_total{event="offered",queue="billing",tier="gold"}`:  1,
		`hotline_queue_calls_total{event="answered",queue="billing",tier="gold"}`: 1,
		`hotline_calls_total{disposition="answered"}`:                             1,
		`hotline_ivr_node_hits_total{flow="main",node="main-menu"}`:               1,
		`hotline_ivr_node_hits_total{flow="main",node="survey"}`:                  1,
		`hotline_agents{state="ready"}`:                                           1,
		`hotline_queue_waiting_calls{queue="billing"}`:                            0,
		`hotline_active_calls{phase="ivr"}`:                                       0,
		`hotline_queue_answer_wait_seconds_count{queue="billing",tier="gold"}`:    1,
	} {
		got, ok := metrics[line]
		if !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", line, got, ok, want)
		}
	}
	if metrics[`hotline_routing_decision_seconds_count{kind="call_arrived"}`] < 1 {
		t.Error("no routing decision observed")
	}

	if rec.Disposition != cdr.Answered || rec.Agent != "1001" || rec.Queue != "billing" || rec.Caller != "13800000002" ||
		rec.Dialled != "10010" || rec.Customer.Tier != "gold" || rec.Customer.Region != "north" || rec.SurveyScore == nil || *rec.SurveyScore != 5 {
		t.Fatalf("record %+v", rec)
	}
	if rec.Times.Enqueued == nil || rec.Times.Answered == nil || rec.Times.IVREnd == nil || !rec.Times.Ended.After(*rec.Times.Answered) {
		t.Fatalf("record times %+v", rec.Times)
	}
	if len(rec.Offers) != 1 || rec.Offers[0].Agent != "1001" || rec.TalkMS <= 0 || rec.WrapUpMS <= 0 || len(rec.IVRTrace) == 0 {
		t.Fatalf("record offers %+v talk %d wrap %d trace %d bytes", rec.Offers, rec.TalkMS, rec.WrapUpMS, len(rec.IVRTrace))
	}
	if rec.Recording == nil || rec.Recording.State != "complete" {
		t.Fatalf("record recording %+v", rec.Recording)
	}
}

// record waits for a call's record in the engine's call log.
func (d *demo) record(t *testing.T, callID string) cdr.Record {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for r, err := range cdr.Read(d.e.records.dir, time.Time{}, time.Time{}) {
			if err == nil && r.CallID == callID {
				return r
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no record for call %s in %s", callID, d.e.records.dir)
	return cdr.Record{}
}

// scrape reads /metrics over HTTP into series → value.
func scrape(t *testing.T, d *demo) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + d.e.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

func TestDemoBlacklistedCallerNeverReachesAgent(t *testing.T) {
	t.Parallel()
	d := startDemo(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := d.call(t, "13800000009", ctx)
	if r := c.finished(ctx); r.ExitCode != 0 {
		t.Fatalf("blacklisted caller was not hung up on: exit %d\n%s", r.ExitCode, sipptest.Logs(r.Dir))
	}
	res := d.result(t, ctx)
	if res.Queue != "" || res.Agent != "" || !traceHas(res, "refuse", "", "") {
		t.Fatalf("blacklisted caller: queue %q agent %q trace %s", res.Queue, res.Agent, traceString(res))
	}
	if c.packets() < greetingFrames {
		t.Fatalf("blacklisted caller heard only %d packets", c.packets())
	}
	if rec := d.record(t, res.CallID); rec.Disposition != cdr.Blacklisted || rec.Queue != "" {
		t.Fatalf("record of the blacklisted call: %+v", rec)
	}
	if got := scrape(t, d)[`hotline_calls_total{disposition="blacklisted"}`]; got != 1 {
		t.Fatalf("blacklisted calls counted %v", got)
	}
}

func TestDemoDiamondSkipsMenu(t *testing.T) {
	t.Parallel()
	d := startDemo(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	agent := d.agentPhone(t, "1003", sipptest.Agent{RingMs: 100, TalkMs: 5000}, 1)
	c := d.call(t, "13800000001", ctx) // Demo Diamond: no key pressed at all
	if code, err := agent.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("agent 1003 never got the diamond caller: exit %d (%v)\n%s", code, err, agent.Output())
	}
	heard := c.packets()
	c.waitAudio(heard + 25)
	c.press('4')
	if r := c.finished(ctx); r.ExitCode != 0 {
		t.Fatalf("caller: exit %d\n%s", r.ExitCode, sipptest.Logs(r.Dir))
	}
	res := d.result(t, ctx)
	if res.Queue != "general" || res.Agent != "1003" || traceHas(res, "main-menu", "", "") {
		t.Fatalf("diamond: queue %q agent %q trace %s", res.Queue, res.Agent, traceString(res))
	}
}

func TestDemoRingNoAnswerGoesToNextAgent(t *testing.T) {
	t.Parallel()
	d := startDemo(t, func(c *config.Config) { c.ACD.RingTimeout = config.Duration(2 * time.Second) })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// 1001 holds billing as first skill but never answers; 1002 holds it as second.
	silent := d.agentPhone(t, "1001", sipptest.Agent{NoAnswer: true}, 1)
	helper := d.agentPhone(t, "1002", sipptest.Agent{RingMs: 100, TalkMs: 5000}, 1)
	c := d.call(t, "13800000003", ctx)
	c.waitAudio(greetingFrames + 25)
	c.press('1')
	if code, err := silent.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("1001 was not rung then cancelled: exit %d (%v)\n%s", code, err, silent.Output())
	}
	a := d.waitAgent(t, "1001", acd.NotReady)
	if a.Reason != "no answer" {
		t.Fatalf("1001 not ready with reason %q, want \"no answer\"", a.Reason)
	}
	if code, err := helper.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("1002 did not take the call: exit %d (%v)\n%s", code, err, helper.Output())
	}
	c.waitAudio(c.packets() + 25)
	c.press('3')
	c.finished(ctx)
	res := d.result(t, ctx)
	if res.Agent != "1002" || res.Queue != "billing" {
		t.Fatalf("after RONA: agent %q queue %q trace %s", res.Agent, res.Queue, traceString(res))
	}
}

func TestUnknownNumberIs404(t *testing.T) {
	t.Parallel()
	d := startDemo(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := sipptest.Run(t, ctx, sipptest.Options{
		Target: d.e.SIPAddr(), Service: "99999",
		Scenario: sipptest.Render(t, sipptest.CallerTemplate, sipptest.Caller{Formats: "0", Body: true, Expect: 404}),
	})
	if r.ExitCode != 0 {
		t.Fatalf("unknown number: exit %d\n%s", r.ExitCode, sipptest.Logs(r.Dir))
	}
}

// Three callers of three tiers wait in the general queue while agent 1003
// (general as first skill) is not ready. The diamond caller, last to arrive,
// has waited past its 10 s threshold when 1003 turns ready: diamond is
// furthest behind its target and is served first although FIFO would serve
// it last; by the next offer gold (15 s) and normal (20 s) are both overdue,
// and gold's gap relative to its smaller miss budget is larger.
func TestDemoTierOrderWhenAgentFreesUp(t *testing.T) {
	t.Parallel()
	d := startDemo(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	sub := d.e.ACD().Bus().Subscribe("test", 256)
	// 1003 is logged in (so the queue does not overflow for lack of agents) but not ready.
	d.agentPhone(t, "1003", sipptest.Agent{RingMs: 100, TalkMs: 1000}, 3)
	if err := d.e.ACD().SetNotReady("1003", "meeting"); err != nil {
		t.Fatal(err)
	}

	normal := d.call(t, "13912345678", ctx)
	gold := d.call(t, "13800000002", ctx)
	normal.waitAudio(greetingFrames + 25)
	normal.press('0')
	gold.waitAudio(greetingFrames + 25)
	gold.press('0')
	d.call(t, "13800000001", ctx) // diamond: straight to the queue, after the others
	queued := map[string]time.Time{}
	for len(queued) < 3 {
		select {
		case ev := <-sub.C:
			if ev.Type == acd.EventCallQueued {
				queued[ev.Caller] = ev.At
			}
		case <-ctx.Done():
			t.Fatalf("queued only %v", queued)
		}
	}
	if !queued["13800000001"].After(queued["13912345678"]) {
		t.Fatalf("diamond queued before normal: %v", queued)
	}
	time.Sleep(time.Until(queued["13800000001"].Add(11 * time.Second)))
	if err := d.e.ACD().SetReady("1003"); err != nil {
		t.Fatal(err)
	}
	var order []string
	for len(order) < 3 {
		select {
		case ev := <-sub.C:
			if ev.Type == acd.EventCallAnswered && ev.AgentID == "1003" {
				order = append(order, ev.Caller)
			}
		case <-ctx.Done():
			t.Fatalf("agent 1003 answered only %v", order)
		}
	}
	want := []string{"13800000001", "13800000002", "13912345678"}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Fatalf("agent 1003 served %v, want diamond, gold, normal %v", order, want)
	}
}

// testutilCounter reads a counter's value from the engine's registry.
func testutilCounter(t *testing.T, d *demo, name string) float64 {
	t.Helper()
	mfs, err := d.e.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
