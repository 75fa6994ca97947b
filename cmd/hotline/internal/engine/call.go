package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/ivr"
	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/recording"
	"github.com/hotlinecc/hotline/routing/crm"
	"github.com/hotlinecc/hotline/sip"
)

// call is one caller's time in the engine, from INVITE to hang-up.
type call struct {
	id  string
	leg *sip.Leg

	mu sync.Mutex
	// agentLeg receives the answered agent leg from the ACD's Phone.Ring.
	agentLeg chan *sip.Leg
	agent    string
	// bridgedAt, unbridgedAt and recording describe the last
	// conversation with an agent.
	bridgedAt   time.Time
	unbridgedAt time.Time
	recording   *recording.Meta
	agentSilent bool

	// The conversation in progress, for the desktop's call controls.
	ctx         context.Context
	bridge      *media.Bridge
	agentLegCur *sip.Leg
	queue, tier string
	held, muted bool
	rec         *recording.Recording
	heldAt      time.Time
	holdTotal   time.Duration
	// xfer is closed by a blind transfer; transferTo is where the caller goes.
	xfer       chan struct{}
	transferTo *ivr.Flow
	// bridgeDone is closed when the conversation ends; monitor is the
	// supervisor on it, if any.
	bridgeDone chan struct{}
	monitor    *monitor
	// swaps hands the agent side to someone else; consult is a consultation
	// in progress (the caller on hold).
	swaps   chan swap
	consult *consultation
	cl      *callerLeg
}

func newCallID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Admit accepts calls to configured access numbers; anything else is 404.
func (e *Engine) Admit(info sip.CallInfo) int {
	if _, ok := e.flows.FlowForNumber(info.Dialled); ok {
		return 0
	}
	return 404
}

// Serve answers a call and runs its flow until the caller or the flow hangs up.
func (e *Engine) Serve(ctx context.Context, leg *sip.Leg) {
	flow, ok := e.flows.FlowForNumber(leg.Info.Dialled)
	if !ok {
		_ = leg.Reject(404, "Not Found")
		return
	}
	c := &call{id: newCallID(), leg: leg, agentLeg: make(chan *sip.Leg, 1), ctx: ctx}
	e.mu.Lock()
	e.calls[c.id] = c
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.calls, c.id)
		e.mu.Unlock()
		// An agent who answered as the caller left must not stay connected to nobody.
		select {
		case l := <-c.agentLeg:
			_ = l.Hangup(context.Background())
			l.Close()
		default:
		}
	}()
	log := e.log.With("call", c.id, "caller", leg.Info.Caller, "dialled", leg.Info.Dialled)
	e.records.tracker.Start(c.id, cdr.Record{Times: cdr.Times{Arrival: time.Now()}, Caller: leg.Info.Caller, Dialled: leg.Info.Dialled, AccessNumber: leg.Info.Dialled})
	if err := leg.Answer(ctx); err != nil {
		log.Info("answer failed", "err", err)
		e.finishRecord(c, CallEnd{CallID: c.id}, false)
		return
	}
	cl := newCallerLeg(ctx, leg, e.prompts, e.recDir, log, func(d time.Duration) { e.metrics.digitLatency.Observe(d.Seconds()) })
	c.cl = cl
	res, err := e.interp.Run(ctx, flow, &ivr.Call{ID: c.id, Leg: cl, Vars: map[string]string{"sip_call_id": leg.ID,
		// Until a lookup says otherwise (or in a flow without one) the caller is unknown.
		"tier": crm.DefaultTier}})
	if err != nil {
		log.Error("ivr failed", "err", err)
	}
	// A blind transfer by the agent: the caller runs the target's flow, keeping
	// its variables and trace.
	for res != nil && res.Outcome == ivr.OutcomeTransferred && ctx.Err() == nil {
		c.mu.Lock()
		next := c.transferTo
		c.transferTo = nil
		c.mu.Unlock()
		if next == nil {
			break
		}
		log.Info("call transferred", "flow", next.Name)
		if res, err = e.interp.Run(ctx, next, &ivr.Call{ID: c.id, Leg: cl, Vars: res.Vars, Trace: res.Trace}); err != nil {
			log.Error("ivr failed after transfer", "err", err)
		}
	}
	if res != nil {
		log.Info("call ended", "outcome", res.Outcome, "last_node", res.LastNode, "queue", res.Queue, "agent", res.Agent, "survey", res.SurveyScore)
	}
	callerSilent := e.metrics.call.countLeg(leg.Media().Stats())
	if res != nil {
		e.metrics.call.countTrace(res)
	}
	c.mu.Lock()
	end := CallEnd{CallID: c.id, Result: res, Recording: c.recording, Bridged: c.bridgedAt, Unbridged: c.unbridgedAt,
		CallerSilent: callerSilent, AgentSilent: c.agentSilent}
	c.mu.Unlock()
	e.finishRecord(c, end, true)
	if e.OnCallEnd != nil && res != nil {
		e.OnCallEnd(end)
	}
}

// call finds a call in progress by its engine id.
func (e *Engine) call(id string) *call {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[id]
}

// callerLeg adapts a SIP leg to what the IVR interpreter drives.
type callerLeg struct {
	leg       *sip.Leg
	prompts   *promptCache
	recDir    string
	log       *slog.Logger
	digits    chan rune
	lastDigit atomic.Int64 // unix nanos of the last key not yet answered by a prompt
	latency   func(time.Duration)
}

func newCallerLeg(ctx context.Context, leg *sip.Leg, pc *promptCache, recDir string, log *slog.Logger, latency func(time.Duration)) *callerLeg {
	c := &callerLeg{leg: leg, prompts: pc, recDir: recDir, log: log, digits: make(chan rune, 32), latency: latency}
	// Stamp each key as the engine receives it: the digit → next prompt
	// clock starts here, not when the IVR gets round to reading it.
	go func() {
		src := leg.Media().DTMF()
		for {
			select {
			case <-ctx.Done():
				return
			case d := <-src:
				c.lastDigit.Store(time.Now().UnixNano())
				select {
				case c.digits <- d:
				default: // 32 keys ahead of the IVR: the oldest intent is kept
				}
			}
		}
	}()
	return c
}

func (c *callerLeg) CallerNumber() string { return c.leg.Info.Caller }
func (c *callerLeg) Dialled() string      { return c.leg.Info.Dialled }
func (c *callerLeg) Digits() <-chan rune  { return c.digits }
func (c *callerLeg) Hangup(ctx context.Context, reason string) error {
	return c.leg.Hangup(ctx)
}

func (c *callerLeg) Play(ctx context.Context, files ...string) error {
	ps := make([]*media.Prompt, 0, len(files))
	for _, f := range files {
		p, err := c.prompts.get(f)
		if err != nil {
			return err
		}
		ps = append(ps, p)
	}
	// The prompt's first packet leaves as Play starts: close the clock of
	// the key that led here.
	if at := c.lastDigit.Swap(0); at != 0 && c.latency != nil {
		c.latency(time.Since(time.Unix(0, at)))
	}
	return c.leg.Media().Play(ctx, ps...)
}

// Record keeps the caller's audio (voicemail, complaints) until maxLen,
// silence or ctx, through the same crash-safe writer as call recordings
// (mono, dated layout, sidecar); path, where the IVR expects the file, is a
// hard link to it.
func (c *callerLeg) Record(ctx context.Context, path string, maxLen, silence time.Duration) (time.Duration, error) {
	id := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._@+-", r) {
			return r
		}
		return '-'
	}, strings.TrimSuffix(filepath.Base(path), ".wav"))
	rec, err := recording.Open(c.recDir, recording.Meta{CallID: id, Caller: c.leg.Info.Caller}, recording.Options{Mono: true})
	if err != nil {
		c.log.Warn("voicemail not writable; the call goes on", "err", err)
	}
	var mu sync.Mutex
	lastVoice := time.Now()
	c.leg.Media().SetReceiver(func(pcm []int16) {
		rec.Feed(recording.Caller, pcm)
		for _, s := range pcm {
			if s > 800 || s < -800 {
				mu.Lock()
				lastVoice = time.Now()
				mu.Unlock()
				break
			}
		}
	})
	defer c.leg.Media().SetReceiver(nil)
	start := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case now := <-tick.C:
			_ = rec.Drain()
			mu.Lock()
			quiet := silence > 0 && now.Sub(lastVoice) > silence
			mu.Unlock()
			if now.Sub(start) >= maxLen || quiet {
				break loop
			}
		}
	}
	c.leg.Media().SetReceiver(nil)
	meta, cerr := rec.Close()
	if err != nil || cerr != nil || meta.Failed {
		return 0, fmt.Errorf("record %s: %w", id, errors.Join(err, cerr, errors.New(meta.Error)))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, fmt.Errorf("record: %w", err)
	}
	if err := os.Link(filepath.Join(c.recDir, filepath.FromSlash(meta.File)), path); err != nil {
		return 0, fmt.Errorf("record %s: link %s: %w", id, path, err)
	}
	return time.Duration(meta.DurationMS) * time.Millisecond, nil
}

// promptCache keeps decoded prompts: a prompt is read once, played by every call.
type promptCache struct {
	mu sync.Mutex
	m  map[string]*media.Prompt
}

func newPromptCache() *promptCache { return &promptCache{m: map[string]*media.Prompt{}} }

func (pc *promptCache) get(path string) (*media.Prompt, error) {
	pc.mu.Lock()
	p, ok := pc.m[path]
	pc.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := media.LoadWAV(path)
	if err != nil {
		return nil, err
	}
	pc.mu.Lock()
	pc.m[path] = p
	pc.mu.Unlock()
	return p, nil
}

// crmLookup adapts the customer resolver to the IVR's Lookup.
type crmLookup struct{ r *crm.Resolver }

func (l crmLookup) Lookup(ctx context.Context, key string) (ivr.Customer, error) {
	c, err := l.r.Lookup(ctx, key)
	return ivr.Customer{ID: c.ID, Name: c.Name, Tier: c.Tier, Region: c.Region, Blacklisted: c.Blacklisted, Attributes: c.Attributes}, err
}

// queuer hands IVR callers to the ACD.
type queuer struct{ e *Engine }

func (q queuer) Enqueue(ctx context.Context, req ivr.QueueRequest) (ivr.QueuedCall, error) {
	c := q.e.call(req.CallID)
	if c == nil {
		return nil, fmt.Errorf("enqueue: unknown call %s", req.CallID)
	}
	qctx, cancel := context.WithCancel(ctx)
	customer := map[string]string{}
	for k, v := range req.Vars {
		customer[k] = v
	}
	t, err := q.e.acd.Enqueue(qctx, acd.Call{
		ID: req.CallID, Caller: req.CallerNumber, Queue: req.Queue, Tier: req.Tier, Region: req.Region,
		Priority: req.Priority, Customer: customer, Trace: req.Trace,
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("enqueue %s in %s: %w", req.CallID, req.Queue, err)
	}
	return &queuedCall{e: q.e, c: c, t: t, ctx: qctx, cancel: cancel, queue: req.Queue, tier: req.Tier}, nil
}

// queuedCall is one caller waiting for an agent.
type queuedCall struct {
	e       *Engine
	c       *call
	t       *acd.Ticket
	ctx     context.Context
	cancel  context.CancelFunc
	once    sync.Once
	agent   *sip.Leg
	agentID string
	queue   string
	tier    string
}

// Wait returns when the ACD connected an agent or overflowed the call.
func (qc *queuedCall) Wait(ctx context.Context) (ivr.QueueOutcome, error) {
	out, err := qc.t.Wait(ctx)
	if err != nil {
		return ivr.QueueOutcome{}, err
	}
	switch out.Kind {
	case acd.Connected:
		// Phone.Ring handed over the answered leg before the ACD reported it.
		select {
		case leg := <-qc.c.agentLeg:
			qc.agent, qc.agentID = leg, out.AgentID
			return ivr.QueueOutcome{AgentID: out.AgentID}, nil
		case <-ctx.Done():
			return ivr.QueueOutcome{}, ctx.Err()
		}
	case acd.Overflowed:
		return ivr.QueueOutcome{Overflow: true, Reason: string(out.Reason)}, nil
	}
	return ivr.QueueOutcome{Reason: string(out.Kind)}, nil
}

// Position is the caller's place for announcements.
func (qc *queuedCall) Position() ivr.QueuePosition {
	p := qc.t.Position()
	if !p.Waiting {
		return ivr.QueuePosition{}
	}
	return ivr.QueuePosition{Place: p.Place, EstimatedWait: p.EstimatedWait}
}

// swap replaces the party on the agent side of a conversation: the
// consulted party after a completed transfer, the supervisor after a
// take-over. The answering agent is released to wrap-up.
type swap struct {
	leg   *sip.Leg
	party string // agent or supervisor id, or the external number
}

// Bridge relays audio between the caller and the agent side until one hangs
// up; the agent side may change hands (swap) meanwhile.
func (qc *queuedCall) Bridge(ctx context.Context) (ivr.BridgeResult, error) {
	agent := qc.agent
	if agent == nil {
		return ivr.BridgeResult{}, errors.New("bridge: no agent leg")
	}
	c := qc.c
	var rec *recording.Recording
	if rec = qc.startRecording(); rec != nil {
		defer func() {
			c.mu.Lock()
			c.rec = nil
			c.mu.Unlock()
			meta, err := rec.Close()
			if err != nil {
				qc.e.log.Warn("recording close", "call", c.id, "err", err)
			}
			c.mu.Lock()
			c.recording = &meta
			c.mu.Unlock()
		}()
	}
	connect := func(leg *sip.Leg, party string) *media.Bridge {
		br := media.NewBridge(c.leg.Media(), leg.Media())
		if rec != nil {
			br.SetTap(func(fromCaller bool, pcm []int16) {
				if fromCaller {
					rec.Feed(recording.Caller, pcm)
				} else {
					rec.Feed(recording.Agent, pcm)
				}
			})
		}
		c.mu.Lock()
		c.agent = party
		c.bridge, c.agentLegCur = br, leg
		c.held, c.muted = false, false
		c.mu.Unlock()
		return br
	}
	c.mu.Lock()
	c.bridgedAt, c.queue, c.tier, c.rec = time.Now(), qc.queue, qc.tier, rec
	xfer := make(chan struct{})
	c.xfer = xfer
	swaps := make(chan swap, 1)
	c.swaps = swaps
	bridgeDone := make(chan struct{})
	c.bridgeDone = bridgeDone
	c.mu.Unlock()
	br := connect(agent, qc.agentID)
	defer func() {
		if c.cl != nil {
			c.cl.lastDigit.Store(0) // keys pressed for the agent start no IVR clock
		}
		c.mu.Lock()
		c.bridge, c.agentLegCur, c.swaps = nil, nil, nil
		c.mu.Unlock()
		close(bridgeDone)
		br.Close()
		silent := qc.e.metrics.call.countLeg(agent.Media().Stats())
		agent.Close()
		c.mu.Lock()
		c.unbridgedAt = time.Now()
		c.agentSilent = silent
		c.mu.Unlock()
	}()
	res := ivr.BridgeResult{AgentID: qc.agentID}
	for {
		select {
		case <-ctx.Done():
			res.End = ivr.EndCallerHangup
			_ = agent.Hangup(context.Background())
			qc.ended("caller")
			return res, nil
		case <-agent.Done():
			res.End = ivr.EndAgentHangup
			qc.ended("agent")
			return res, nil
		case <-xfer:
			// Blind transfer: the agent is freed (wrap-up), the caller moves on.
			res.End = ivr.EndTransferred
			_ = agent.Hangup(context.Background())
			qc.ended("agent")
			return res, nil
		case sw := <-swaps:
			old, oldBridge := agent, br
			agent = sw.leg
			br = connect(agent, sw.party)
			oldBridge.Close()
			_ = old.Hangup(context.Background())
			qc.e.metrics.call.countLeg(old.Media().Stats())
			old.Close()
			qc.ended("agent") // the answering agent goes to wrap-up; the call goes on
			res.AgentID = sw.party
		}
	}
}

// startRecording opens the call's recording when the queue's policy says so.
// A recording that cannot be written is still returned (already failed):
// the call goes on and the failure is counted.
func (qc *queuedCall) startRecording() *recording.Recording {
	p, ok := qc.e.recordPolicy[qc.queue]
	if ok && !p.Record(qc.c.id) {
		return nil
	}
	rec, err := qc.e.recorder.Open(recording.Meta{
		CallID: qc.c.id, Agent: qc.agentID, Queue: qc.queue, Tier: qc.tier, Caller: qc.c.leg.Info.Caller,
		Legs: []string{qc.c.leg.ID, qc.agent.ID},
	})
	if err != nil {
		qc.e.log.Warn("recording not started; the call goes on", "call", qc.c.id, "err", err)
	}
	return rec
}

func (qc *queuedCall) ended(by string) {
	qc.once.Do(func() {
		if err := qc.e.acd.CallEnded(qc.c.id, by); err != nil {
			qc.e.log.Warn("acd call ended", "call", qc.c.id, "err", err)
		}
		qc.cancel()
	})
}

// Leave takes the caller out of the queue, or releases an agent who answered
// but was never bridged.
func (qc *queuedCall) Leave(reason ivr.LeaveReason) {
	if qc.agent != nil {
		_ = qc.agent.Hangup(context.Background())
		qc.agent.Close()
		qc.ended("caller")
		return
	}
	qc.once.Do(func() {
		// The IVR's own max wait and the caller's voicemail choice are
		// overflows; only a hang-up is an abandon (cancelling the enqueue ctx).
		switch reason {
		case ivr.LeaveOverflow:
			_ = qc.e.acd.Overflow(qc.c.id, acd.OverflowMaxWait)
		case ivr.LeaveVoicemail:
			_ = qc.e.acd.Overflow(qc.c.id, acd.OverflowCallerChoice)
		}
		qc.cancel()
	})
}

// phone rings agents' registered phones for the ACD.
type phone struct{ e *Engine }

func (p phone) Ring(ctx context.Context, o acd.Offer) error {
	c := p.e.call(o.Call.ID)
	if c == nil {
		return fmt.Errorf("ring %s: call %s gone: %w", o.AgentID, o.Call.ID, acd.ErrUnreachable)
	}
	seat := o.Seat
	if seat == "" {
		seat = o.AgentID
	}
	req := sip.DialRequest{User: seat, CallerID: o.Call.Caller, CallerName: o.Call.Tier}
	r := p.e.startRinging(o.AgentID, o.Call.ID)
	defer p.e.stopRinging(o.AgentID, r)
	leg, err := p.dial(ctx, req, r)
	if err != nil {
		p.e.log.Info("agent phone did not take the call", "agent", o.AgentID, "seat", seat, "call", o.Call.ID, "err", err)
		var de *sip.DialError
		switch {
		case errors.Is(err, sip.ErrNotRegistered):
			return fmt.Errorf("ring %s: %w: %v", seat, acd.ErrUnreachable, err)
		case errors.As(err, &de) && (de.Status == 486 || de.Status == 600 || de.Status == 603):
			return fmt.Errorf("ring %s: %w: %v", seat, acd.ErrBusy, err)
		case ctx.Err() != nil:
			return fmt.Errorf("ring %s: %w: %v", seat, acd.ErrNoAnswer, err)
		case errors.As(err, &de) && de.Status == 0:
			return fmt.Errorf("ring %s: %w: %v", seat, acd.ErrUnreachable, err)
		}
		return fmt.Errorf("ring %s: %w: %v", seat, acd.ErrNoAnswer, err)
	}
	select {
	case c.agentLeg <- leg:
		return nil
	default:
		leg.Close()
		return fmt.Errorf("ring %s: call %s already has an agent: %w", seat, o.Call.ID, acd.ErrUnreachable)
	}
}

// autoAnswer asks a phone to pick up by itself (the common header forms).
var autoAnswer = map[string]string{
	"Call-Info":  "<sip:hotline>;answer-after=0",
	"Alert-Info": "<http://hotline/autoanswer>;info=alert-autoanswer",
}

// dial rings the agent's phone; when the desktop presses answer meanwhile,
// the ringing INVITE is cancelled and a new one asks the phone to answer by
// itself (phones that support auto-answer pick up at once).
func (p phone) dial(ctx context.Context, req sip.DialRequest, r *ringing) (*sip.Leg, error) {
	type result struct {
		leg *sip.Leg
		err error
	}
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := make(chan result, 1)
	go func() { l, err := p.e.sip.Dial(dctx, req); res <- result{l, err} }()
	select {
	case out := <-res:
		return out.leg, out.err
	case <-r.answer:
	}
	cancel()
	if out := <-res; out.err == nil {
		return out.leg, nil // it answered in the same instant
	}
	req.Headers = autoAnswer
	return p.e.sip.Dial(ctx, req)
}

// ringing is an offer ringing an agent's phone.
type ringing struct {
	callID string
	answer chan struct{}
	once   sync.Once
}

func (e *Engine) startRinging(agentID, callID string) *ringing {
	r := &ringing{callID: callID, answer: make(chan struct{})}
	e.mu.Lock()
	e.rings[agentID] = r
	e.mu.Unlock()
	return r
}

func (e *Engine) stopRinging(agentID string, r *ringing) {
	e.mu.Lock()
	if e.rings[agentID] == r {
		delete(e.rings, agentID)
	}
	e.mu.Unlock()
}

// ReleaseAnswered hangs up an agent leg that answered just as its call
// could no longer be connected (the caller left in the same instant).
func (p phone) ReleaseAnswered(o acd.Offer) {
	c := p.e.call(o.Call.ID)
	if c == nil {
		return
	}
	select {
	case leg := <-c.agentLeg:
		_ = leg.Hangup(context.Background())
		leg.Close()
	default:
	}
}

// transferer sends IVR transfers on; only in-centre numbers are supported
// until trunks for outbound calls are configured.
type transferer struct{ e *Engine }

func (t transferer) Transfer(ctx context.Context, req ivr.TransferRequest) error {
	return fmt.Errorf("transfer %s to %s %q: %w", req.CallID, req.Kind, req.Target, errors.ErrUnsupported)
}
