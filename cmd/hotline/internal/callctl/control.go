package callctl

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/ivr"
	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/recording"
	"github.com/hotlinecc/hotline/routing/crm"
	"github.com/hotlinecc/hotline/sip"
)

// Config is what call control needs from the engine's configuration and
// parts. Zero durations take the defaults.
type Config struct {
	Logger       *slog.Logger
	Flows        *ivr.Registry
	Records      *cdr.Tracker
	Recorder     *recording.Recorder
	RecordPolicy map[string]recording.Policy // per queue; missing = always
	Prompts      *PromptCache
	PromptRoot   string // <root>/<language>/<name>.wav
	Language     string
	RecDir       string // voicemail recordings
	// Agents says whether an id is a configured agent (transfer and
	// consultation targets, internal calls).
	Agents func(id string) bool
	// Queues are the configured queues (transfer targets).
	Queues []string
	// Outbound is host:port of the trunk that takes calls to numbers; ""
	// refuses external transfers, consultations and outbound calls.
	Outbound string
	// RingTimeout bounds ringing a number or a supervisor (default 15 s).
	RingTimeout time.Duration
	// CustomerRing bounds ringing a customer for a queued callback
	// (default 30 s).
	CustomerRing time.Duration
	// FreeAgents lists the agents of queues free for an outbound call,
	// inbound work first (the campaigns' blending rule); a campaign call
	// dialled ahead of the free agents goes to the first of them.
	FreeAgents func(queues []string) []string
	// RTPTimeout ends a leg that sent RTP and then nothing for this long,
	// hold excepted (default 30 s; negative disables).
	RTPTimeout time.Duration
	// Browsers, if set, rings users whose phone is their page (browser.go).
	Browsers Browsers
	Hooks    Hooks
}

// Hooks let the engine count what call control sees; every one is optional
// and must not block.
type Hooks struct {
	DigitLatency func(time.Duration)
	// LegEnded gets a finished leg's RTP figures; it reports whether the
	// leg was silent (answered, never sent RTP).
	LegEnded   func(media.Stats) bool
	FlowEnded  func(*ivr.Result)
	Violation  func(kind, detail string)
	RTPTimeout func()
	// Event publishes a call event to desktops (e.g. call.consult_failed).
	Event func(agentapi.Event)
	// CallEnded receives every finished call (tests).
	CallEnded func(End)
}

// End describes a finished call.
type End struct {
	CallID    string
	Result    *ivr.Result
	Recording *recording.Meta // nil when the call was not recorded
	// Bridged and Unbridged bound the last conversation with an agent.
	Bridged, Unbridged time.Time
	// CallerSilent and AgentSilent flag one-way audio: an answered leg from
	// which no RTP ever arrived.
	CallerSilent, AgentSilent bool
	// EndedBy says who or what ended the call: caller, ivr, rtp_timeout,
	// session_expired, shutdown.
	EndedBy string
}

// Control owns every call in progress: it is the SIP server's handler for
// inbound calls, the ACD's Phone, the flow's Queuer and the desktop's call
// control. Each call is a state machine with one owner goroutine (Call);
// Control routes to it.
type Control struct {
	cfg    Config
	log    *slog.Logger
	sip    *sip.Server
	acd    *acd.ACD
	interp *ivr.Interpreter

	mu     sync.Mutex
	calls  map[string]*Call
	direct map[string]*directCall
	// attempts are the campaign calls in progress (outbound.go).
	attempts map[string]*outboundAttempt
	xfer     map[string]*ivr.Flow // queue → its transfer flow
	rings    rings
	// callbacks are the pending queued callbacks (callbacks.go).
	callbacks callbacks
	wg        sync.WaitGroup // leg releases and dials off the owners' goroutines
	ledger    ledger         // ended calls and their records
	ctx       context.Context
	cancel    context.CancelFunc

	draining atomic.Bool          // shutdown.go
	live     atomic.Pointer[Live] // reload.go
}

// New builds call control. interp is the flow interpreter; its Queuer and
// Transferer are set to this control. Wire must be called before calls
// arrive.
func New(cfg Config, interp *ivr.Interpreter) *Control {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RingTimeout <= 0 {
		cfg.RingTimeout = 15 * time.Second
	}
	if cfg.RTPTimeout == 0 {
		cfg.RTPTimeout = 30 * time.Second
	}
	if cfg.Agents == nil {
		cfg.Agents = func(string) bool { return false }
	}
	if cfg.Prompts == nil {
		cfg.Prompts = NewPromptCache()
	}
	ctx, cancel := context.WithCancel(context.Background())
	ctl := &Control{cfg: cfg, log: cfg.Logger, interp: interp, calls: map[string]*Call{}, direct: map[string]*directCall{}, attempts: map[string]*outboundAttempt{},
		xfer: map[string]*ivr.Flow{}, rings: rings{m: map[string]*ringing{}}, callbacks: callbacks{m: map[string]*pendingCallback{}},
		ctx: ctx, cancel: cancel}
	interp.Queuer = queuer{ctl}
	interp.Transferer = transferer{}
	return ctl
}

// Wire gives call control the SIP server and the ACD, which are built with
// it as their handler and phone.
func (ctl *Control) Wire(s *sip.Server, a *acd.ACD) {
	ctl.sip, ctl.acd = s, a
}

// Close waits for the leg releases and dials still running after the last
// call ended (the engine calls it once the SIP server has stopped).
func (ctl *Control) Close() {
	ctl.cancel()
	ctl.wg.Wait()
}

func (ctl *Control) runCtx() context.Context { return context.Background() }

func (ctl *Control) watchEvery() time.Duration {
	if t := ctl.cfg.RTPTimeout; t > 0 && t/4 < time.Second {
		return max(t/4, 50*time.Millisecond)
	}
	return time.Second
}

func newCallID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Admit accepts calls to configured access numbers; anything else is 404.
func (ctl *Control) Admit(info sip.CallInfo) int {
	if ctl.draining.Load() {
		return 503
	}
	if _, ok := ctl.cfg.Flows.FlowForNumber(info.Dialled); ok {
		return 0
	}
	return 404
}

// Serve answers a call, runs its flow and owns it until the caller or the
// flow hangs up (sip.Handler).
func (ctl *Control) Serve(ctx context.Context, leg *sip.Leg) {
	flow, ok := ctl.cfg.Flows.FlowForNumber(leg.Info.Dialled)
	if !ok {
		_ = leg.Reject(404, "Not Found")
		return
	}
	c := newCall(ctl, newCallID(), leg)
	ctl.mu.Lock()
	ctl.calls[c.id] = c
	ctl.mu.Unlock()
	defer func() {
		ctl.mu.Lock()
		delete(ctl.calls, c.id)
		ctl.mu.Unlock()
	}()
	ctl.cfg.Records.Start(c.id, cdr.Record{Times: cdr.Times{Arrival: time.Now()}, Caller: leg.Info.Caller, Dialled: leg.Info.Dialled, AccessNumber: leg.Info.Dialled})
	ctl.withdrawCallbacksOf(leg.Info.Caller)
	if err := leg.Answer(ctx); err != nil {
		c.log.Info("answer failed", "err", err)
		ctl.noteEnded(c.id)
		ctl.finishRecord(c, End{CallID: c.id, EndedBy: "caller"}, false)
		return
	}
	c.start()
	// The access number may run its flow in another prompt language (10011:
	// main in Mandarin); a transfer keeps it.
	lang := ctl.cfg.Flows.LanguageForNumber(leg.Info.Dialled)
	vars := map[string]string{"sip_call_id": leg.ID,
		// Until a lookup says otherwise (or in a flow without one) the caller is unknown.
		"tier": crm.DefaultTier}
	if lang != "" {
		vars["language"] = lang // a callback speaks to the customer in it
	}
	ctl.runCall(ctx, c, flow, ivr.Call{ID: c.id, Language: lang, Vars: vars})
}

// runCall runs the flow of a call whose owner is running, follows blind
// transfers to other flows, then settles the call: the owner ends, the
// record is written. ctx ends when the caller's leg does.
func (ctl *Control) runCall(ctx context.Context, c *Call, flow *ivr.Flow, in ivr.Call) {
	leg := c.caller
	cl := newCallerLeg(ctx, leg, ctl.cfg.Prompts, ctl.cfg.RecDir, c.log, ctl.cfg.Hooks.DigitLatency)
	in.Leg = cl
	res, err := ctl.interp.Run(ctx, flow, &in)
	if err != nil {
		c.log.Error("ivr failed", "err", err)
	}
	// A blind transfer to a queue or flow: the caller runs the target's
	// flow, keeping its variables and trace.
	for res != nil && res.Outcome == ivr.OutcomeTransferred && ctx.Err() == nil {
		next := c.takeTransfer()
		if next == nil {
			break
		}
		c.log.Info("call transferred", "flow", next.Name)
		if res, err = ctl.interp.Run(ctx, next, &ivr.Call{ID: c.id, Leg: cl, Language: in.Language, Vars: res.Vars, Trace: res.Trace}); err != nil {
			c.log.Error("ivr failed after transfer", "err", err)
		}
	}
	c.post(&event{kind: evFlowDone})
	<-c.done
	c.wg.Wait()
	if res != nil {
		c.log.Info("call ended", "outcome", res.Outcome, "last_node", res.LastNode, "queue", res.Queue, "agent", res.Agent, "survey", res.SurveyScore)
		if h := ctl.cfg.Hooks.FlowEnded; h != nil {
			h(res)
		}
	}
	callerSilent := ctl.legSilent(leg.Media().Stats())
	c.mu.Lock()
	end := End{CallID: c.id, Result: res, Recording: c.recording, Bridged: c.bridged, Unbridged: c.unbridged,
		CallerSilent: callerSilent, AgentSilent: c.silent, EndedBy: c.endedBy}
	c.mu.Unlock()
	ctl.noteEnded(c.id)
	ctl.finishRecord(c, end, true)
	if h := ctl.cfg.Hooks.CallEnded; h != nil && res != nil {
		h(end)
	}
}

func (c *Call) takeTransfer() *ivr.Flow {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.transfer
	c.transfer = nil
	return f
}

// call finds a caller's call in progress by its id.
func (ctl *Control) call(id string) *Call {
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	return ctl.calls[id]
}

// callOfAgent finds the call an agent is on (the desktop's view).
func (ctl *Control) callOfAgent(agentID string) *Call {
	ctl.mu.Lock()
	calls := make([]*Call, 0, len(ctl.calls))
	for _, c := range ctl.calls {
		calls = append(calls, c)
	}
	ctl.mu.Unlock()
	for _, c := range calls {
		if v := c.snapshot(); v.agent == agentID && v.state.conversing() {
			return c
		}
	}
	return nil
}

// Act carries out a desktop or supervisor action (agentapi.CallControl).
func (ctl *Control) Act(ctx context.Context, a agentapi.CallAction) error {
	switch a.Op {
	case agentapi.OpAnswer:
		return ctl.answerFromDesktop(a.Agent, a.Call)
	case agentapi.OpDisposition:
		if !ctl.cfg.Records.Update(a.Call, func(r *cdr.Record) { r.WrapUpCode, r.WrapUpNote = a.Code, a.Note }) {
			return fmt.Errorf("disposition for %s: %w", a.Call, agentapi.ErrUnknownCall)
		}
		return nil
	}
	if dc := ctl.directCall(a.Call); dc != nil {
		return dc.act(a)
	}
	var c *Call
	if a.Op == agentapi.OpMonitor {
		c = ctl.callOfAgent(a.Agent)
	} else {
		c = ctl.call(a.Call)
	}
	if c == nil {
		return fmt.Errorf("%s %s: %w", a.Op, a.Call, agentapi.ErrUnknownCall)
	}
	err := c.request(&event{kind: evAction, action: a})
	if errors.Is(err, ErrCallEnded) || errors.Is(err, ErrWrongState) {
		err = fmt.Errorf("%w: %w", err, agentapi.ErrUnknownCall)
	}
	return err
}

// Calls lists the live calls for desktops (agentapi.CallControl). Calls
// still in the IVR or waiting are the ACD's to show.
func (ctl *Control) Calls() []agentapi.CallInfo {
	ctl.mu.Lock()
	calls := make([]*Call, 0, len(ctl.calls))
	for _, c := range ctl.calls {
		calls = append(calls, c)
	}
	ctl.mu.Unlock()
	out := ctl.directCalls()
	for _, c := range calls {
		if ci, ok := c.info(); ok {
			out = append(out, ci)
		}
	}
	return out
}

var _ agentapi.CallFinder = (*Control)(nil)

// Call is one live call by id (agentapi.CallFinder): the desktop's view
// of a call offered, without listing every call.
func (ctl *Control) Call(id string) (agentapi.CallInfo, bool) {
	ctl.mu.Lock()
	c, dc := ctl.calls[id], ctl.direct[id]
	ctl.mu.Unlock()
	if c != nil {
		return c.info()
	}
	if dc != nil {
		return dc.info(), true
	}
	return agentapi.CallInfo{}, false
}

// info is the call as desktops see it; false while it has nothing to show
// them (still in its flow).
func (c *Call) info() (agentapi.CallInfo, bool) {
	v := c.snapshot()
	state := v.desktopState()
	if state == "" {
		return agentapi.CallInfo{}, false
	}
	return agentapi.CallInfo{
		ID: c.id, AgentID: v.agent, Direction: "inbound", Caller: c.caller.Info.Caller, Callee: c.caller.Info.Dialled,
		Queue: v.queue, Tier: v.tier, State: state, Held: v.held, Muted: v.muted, Started: v.started, Monitors: v.monitors,
	}, true
}

// violation reports a broken invariant found at run time.
func (ctl *Control) violation(kind, detail string) {
	ctl.log.Error("call integrity violation", "kind", kind, "detail", detail)
	if h := ctl.cfg.Hooks.Violation; h != nil {
		h(kind, detail)
	}
}

func (ctl *Control) countLeg(leg *sip.Leg) { ctl.legSilent(leg.Media().Stats()) }

func (ctl *Control) legSilent(st media.Stats) bool {
	if h := ctl.cfg.Hooks.LegEnded; h != nil {
		return h(st)
	}
	return st.PacketsIn == 0
}

func (ctl *Control) countTimeout() {
	if h := ctl.cfg.Hooks.RTPTimeout; h != nil {
		h()
	}
}

func (ctl *Control) publish(ev agentapi.Event) {
	if h := ctl.cfg.Hooks.Event; h != nil {
		h(ev)
	}
}

func (ctl *Control) moh() (*media.Prompt, error) {
	return ctl.cfg.Prompts.Get(filepath.Join(ctl.cfg.PromptRoot, ctl.cfg.Language, "moh.wav"))
}

// agentAvailable checks a transfer target before the transferring agent
// is let go: configured, signed in and ready.
func (ctl *Control) agentAvailable(id string) error {
	if !ctl.cfg.Agents(id) {
		return fmt.Errorf("no agent %q: %w", id, agentapi.ErrBadRequest)
	}
	s, err := ctl.acd.Agent(id)
	if err != nil {
		return fmt.Errorf("agent %s is not signed in: %w", id, agentapi.ErrAgentBusy)
	}
	if s.State != acd.Ready {
		return fmt.Errorf("agent %s is %s: %w", id, s.State, agentapi.ErrAgentBusy)
	}
	return nil
}

// externalURI is where a number is dialled.
func (ctl *Control) externalURI(number string) (string, error) {
	outbound := ctl.current().Outbound
	if outbound == "" {
		return "", fmt.Errorf("calls to numbers: no trunk with an outbound address: %w", errors.ErrUnsupported)
	}
	return "sip:" + number + "@" + outbound, nil
}

// transferFlow is where a blind transfer to a queue or a flow sends the
// caller: a flow by name, or for a queue a small flow with the usual
// in-queue experience and the survey.
func (ctl *Control) transferFlow(to agentapi.Target) (*ivr.Flow, error) {
	switch to.Kind {
	case agentapi.TargetFlow:
		if f, ok := ctl.cfg.Flows.Flow(to.Value); ok {
			return f, nil
		}
		return nil, fmt.Errorf("transfer: no flow %q: %w", to.Value, agentapi.ErrBadRequest)
	case agentapi.TargetQueue:
	default:
		return nil, fmt.Errorf("transfer to a %s: %w", to.Kind, errors.ErrUnsupported)
	}
	known := false
	for _, q := range ctl.current().Queues {
		known = known || q == to.Value
	}
	if !known {
		return nil, fmt.Errorf("transfer: no queue %q: %w", to.Value, agentapi.ErrBadRequest)
	}
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	if f := ctl.xfer[to.Value]; f != nil {
		return f, nil
	}
	src := fmt.Sprintf(`name: transfer-%[1]s
language: %[2]s
start: q
nodes:
  q:
    type: queue
    queue: %[1]s
    moh: moh
    announce_every: 30s
    announce_agent: agent
    max_wait: 120s
    overflow: bye
    failure: bye
    next: survey
  survey:
    type: survey
    prompt: survey
    var: survey_score
    min: 1
    max: 5
    timeout: 5s
    retries: 2
    invalid: invalid
    no_input: noinput
    thanks: thank-you
    next: bye
  bye:
    type: hangup
    prompt: goodbye
    reason: done
`, to.Value, ctl.cfg.Language)
	f, err := ivr.ParseFlow("transfer-"+to.Value+".yaml", []byte(src), ivr.LoadOptions{PromptRoot: ctl.cfg.PromptRoot})
	if err != nil {
		return nil, fmt.Errorf("transfer flow for queue %s: %w", to.Value, err)
	}
	ctl.xfer[to.Value] = f
	return f, nil
}

// CallOf is the id of the call an agent (or a supervisor who took one
// over) is on, "" if none.
func (ctl *Control) CallOf(agentID string) string {
	if c := ctl.callOfAgent(agentID); c != nil {
		return c.id
	}
	return ""
}

// Has reports whether a call (or a direct call) with this id is in
// progress here.
func (ctl *Control) Has(callID string) bool {
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	_, ok := ctl.calls[baseCallID(callID)]
	_, direct := ctl.direct[callID]
	return ok || direct
}

// Count is how many callers' calls are in progress (metrics).
func (ctl *Control) Count() int {
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	return len(ctl.calls)
}

// View is one live call as call control sees it (diagnostics and tests).
type View struct {
	ID, Caller, Agent string
	State             State
	Held, Muted       bool
	Monitors          map[string]agentapi.MonitorMode
	// Engine-side RTP addresses of the caller's, the agent side's and a
	// monitoring supervisor's legs (zero when there is none).
	CallerMedia, AgentMedia, SupervisorMedia netip.AddrPort
	// AgentSRTP: the agent side's media is SRTP.
	AgentSRTP bool
}

// Views lists the callers' calls in progress.
func (ctl *Control) Views() []View {
	ctl.mu.Lock()
	calls := make([]*Call, 0, len(ctl.calls))
	for _, c := range ctl.calls {
		calls = append(calls, c)
	}
	ctl.mu.Unlock()
	out := make([]View, 0, len(calls))
	for _, c := range calls {
		v := c.snapshot()
		out = append(out, View{ID: c.id, Caller: c.caller.Info.Caller, Agent: v.agent, State: v.state, Held: v.held, Muted: v.muted, Monitors: v.monitors,
			CallerMedia: c.caller.Media().LocalAddr(), AgentMedia: v.agentMedia, SupervisorMedia: v.supervisorMedia, AgentSRTP: v.agentSRTP})
	}
	return out
}
