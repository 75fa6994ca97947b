package callctl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/agentapi"
	"github.com/hotlinecc/hotline/ivr"
	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/recording"
	"github.com/hotlinecc/hotline/sip"
)

// Errors callers of a call see.
var (
	// ErrCallEnded: the call is over; the request came too late.
	ErrCallEnded = errors.New("call ended")
	// ErrWrongState: the call is not in a state where this makes sense
	// (e.g. hold before an agent is on it).
	ErrWrongState = errors.New("not possible in the call's current state")
)

// event is one input to a call's owner.
type event struct {
	kind eventKind
	leg  *sip.Leg // leg-gone, phone-hold, dialed, inactive, agent-answered
	on   bool     // phone-hold: held
	err  error    // dialed: why the dial failed
	// purpose says what a dialed leg was for.
	purpose dialPurpose
	offer   acd.Offer // agent-answered, release-answered
	outcome acd.Outcome
	ticket  *acd.Ticket
	req     *ivr.QueueRequest   // enqueue
	reason  ivr.LeaveReason     // leave
	action  agentapi.CallAction // action
	number  string              // keep-place: the number to call back
	// Replies. Every event that carries one gets exactly one answer, also
	// when the call has ended before the event was read.
	replyErr    chan error
	replyBool   chan bool
	replyQueue  chan enqueueReply
	replyBridge chan ivr.BridgeResult
	replyKeep   chan keepReply
}

type enqueueReply struct {
	qc  *queuedCall
	err error
}

type dialPurpose int

const (
	dialConsult    dialPurpose = iota + 1 // a number the agent consults
	dialTransfer                          // a number the caller is blind-transferred to
	dialSupervisor                        // a supervisor's phone for monitoring
)

// Call is one caller's time in the engine, from INVITE to hang-up. Its
// state belongs to its owner (drain: one goroutine at a time, started when
// events arrive, mailbox_fsm.go); everything else reaches it as an event
// through post, so a race — a BYE and a 200 OK in the same millisecond —
// is decided by the order the events are read, in one place.
type Call struct {
	id     string
	ctl    *Control
	caller *sip.Leg
	log    *slog.Logger
	ctx    context.Context // ends when the owner ends
	stop   context.CancelFunc

	// Mailbox: unbounded so that posting never blocks (the ACD posts with
	// its goroutines; a full channel would tie them to a slow call).
	mu    sync.Mutex
	queue []*event
	box   mailboxState
	// owner is drain, reached through a field: the event table's handlers
	// post, and a direct call would make the table's initialisation refer
	// to itself.
	owner func()
	done  chan struct{} // closed when the owner has ended the call
	wg    sync.WaitGroup

	// view is what desktops see, published by the owner after each event.
	view     viewState
	transfer *ivr.Flow // the flow a blind transfer sends the caller to (read by Serve)
	// preset is an outbound call's wait, taken by its flow's queue node.
	preset    *queuedCall
	recording *recording.Meta
	bridged   time.Time
	unbridged time.Time
	silent    bool // the agent side never sent RTP (one-way audio)
	endedBy   string

	// Owned by the owner (drain) only.
	watch   *time.Timer // posts evWatch while a conversation goes on (armWatch)
	state   State
	wait    *queuedCall // the flow's current queue wait
	ticket  *acd.Ticket // the ACD ticket of the caller's current queue or transfer
	pending *pendingAnswer
	conv    *conversation
	// after is how the last conversation ended, for a Bridge asked after
	// it (the agent left during the announcement).
	after         *ivr.BridgeResult
	consults      int // numbers the consultations' ACD ids
	conversations int // numbers the recordings
}

// pendingAnswer is an agent leg the owner took while the ACD decides.
type pendingAnswer struct {
	offer acd.Offer
	leg   *sip.Leg
	gone  bool // the leg ended before the verdict
}

// viewState is the desktop's picture of the call, guarded by Call.mu.
type viewState struct {
	state    State
	agent    string
	queue    string
	tier     string
	held     bool
	muted    bool
	started  time.Time
	monitors map[string]agentapi.MonitorMode
	consult  string // the consulted party
	legs     []string
	// Media addresses of the agent side and a monitoring supervisor
	// (diagnostics and tests).
	agentMedia, supervisorMedia netip.AddrPort
	agentSRTP                   bool
}

func newCall(ctl *Control, id string, leg *sip.Leg) *Call {
	ctx, stop := context.WithCancel(context.Background())
	c := &Call{id: id, ctl: ctl, caller: leg, ctx: ctx, stop: stop, done: make(chan struct{}),
		log: ctl.log.With("call", id, "caller", leg.Info.Caller, "dialled", leg.Info.Dialled)}
	c.view.legs = []string{leg.ID}
	c.owner = c.drain
	return c
}

// post hands ev to the owner, starting one if none runs (and the call has
// started). It reports
// false when the call has ended: the event was not taken and its sender
// still owns what it carries.
func (c *Call) post(ev *event) bool {
	c.mu.Lock()
	if c.box == boxClosed {
		c.mu.Unlock()
		return false
	}
	c.queue = append(c.queue, ev)
	start := c.box == boxIdle && c.box.to(boxOwned)
	c.mu.Unlock()
	if start {
		go c.owner()
	}
	return true
}

// start opens the call: the caller's hang-up and the media watch will
// reach the owner as events.
func (c *Call) start() {
	context.AfterFunc(c.caller.Context(), func() { c.post(&event{kind: evCallerGone}) })
	c.mu.Lock()
	next := boxIdle
	if len(c.queue) > 0 {
		next = boxOwned // what came while the call was answered
	}
	c.box.to(next)
	c.mu.Unlock()
	if next == boxOwned {
		go c.owner()
	}
}

// drain is the owner: it handles queued events until none is left (the
// mailbox goes idle and the goroutine ends) or the call has ended (it
// closes the mailbox and refuses whatever is still queued).
func (c *Call) drain() {
	for {
		c.mu.Lock()
		batch := c.queue
		c.queue = nil
		if len(batch) == 0 {
			c.box.to(boxIdle)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		for i, ev := range batch {
			if c.state == Ended {
				c.mu.Lock()
				c.queue = append(batch[i:], c.queue...)
				c.mu.Unlock()
				break
			}
			if ev.kind == evWatch {
				c.watchMedia()
				c.armWatch()
				continue
			}
			c.dispatch(ev)
		}
		if c.state == Ended {
			c.close()
			return
		}
	}
}

// armWatch (owner only) has the media watch look at the legs again in a
// while, as long as a conversation goes on: watchMedia looks at nothing
// else, so a call in the flow or the queue is not woken for it.
func (c *Call) armWatch() {
	if c.ctl.cfg.RTPTimeout <= 0 || c.conv == nil || c.state == Ended {
		return
	}
	if c.watch == nil {
		c.watch = time.AfterFunc(c.ctl.watchEvery(), func() { c.post(&event{kind: evWatch}) })
		return
	}
	c.watch.Reset(c.ctl.watchEvery())
}

// close ends the owner's life: no event is taken after it.
func (c *Call) close() {
	c.mu.Lock()
	c.box.to(boxClosed)
	rest := c.queue
	c.queue = nil
	c.mu.Unlock()
	if c.watch != nil {
		c.watch.Stop()
	}
	for _, ev := range rest {
		c.unhandled(ev)
	}
	c.stop()
	close(c.done)
}

func (c *Call) dispatch(ev *event) {
	if h := table[c.state][ev.kind]; h != nil {
		h(c, ev)
	} else {
		c.unhandled(ev)
	}
	c.publish()
}

// unhandled is the default for an event the table does not route in the
// current state: anything carried is released, anything asked is refused.
func (c *Call) unhandled(ev *event) {
	switch ev.kind {
	case evAgentAnswered:
		c.releaseLeg(ev.leg, "not wanted any more")
		ev.replyBool <- false
	case evDialed:
		if ev.leg != nil {
			c.releaseLeg(ev.leg, "not wanted any more")
		}
	case evEnqueue:
		ev.replyQueue <- enqueueReply{err: fmt.Errorf("enqueue in state %s: %w", c.state, c.stateErr())}
	case evKeepPlace, evRequestCallback:
		ev.replyKeep <- keepReply{err: fmt.Errorf("callback in state %s: %w", c.state, c.stateErr())}
	case evBridge:
		ev.replyBridge <- ivr.BridgeResult{End: ivr.EndCallerHangup}
	case evAction:
		ev.replyErr <- fmt.Errorf("%s on call %s (%s): %w", ev.action.Op, c.id, c.state, c.stateErr())
	case evLegGone, evPhoneHold, evOutcome, evReleaseAnswered, evInactive, evLeave, evFlowDone, evCallerGone, evShutdown, evWatch:
		// Nothing of ours: a leg already released, an outcome already settled.
	}
}

func (c *Call) stateErr() error {
	if c.state == Ended {
		return ErrCallEnded
	}
	return ErrWrongState
}

// move changes state, checking the table of transitions.
func (c *Call) move(to State, why string) {
	if c.state == to {
		return
	}
	if !canMove(c.state, to) {
		c.ctl.violation("illegal_transition", fmt.Sprintf("call %s: %s → %s (%s)", c.id, c.state, to, why))
	}
	c.log.Debug("call state", "from", c.state, "to", to, "why", why)
	c.state = to
}

// publish refreshes the desktop's view from the owner's state.
func (c *Call) publish() {
	v := viewState{state: c.state, legs: []string{c.caller.ID}}
	if q := c.wait; q != nil {
		v.queue, v.tier = q.queue, q.tier
	}
	if p := c.pending; p != nil {
		v.agent = p.offer.AgentID
		v.legs = append(v.legs, p.leg.ID)
	}
	if cv := c.conv; cv != nil {
		v.agent, v.muted, v.started = cv.agentID, cv.muted, cv.started
		if cv.agentID == "" {
			v.agent = cv.party
		}
		v.held = c.state == Held || c.state == Consulting
		if cv.leg != nil {
			v.legs = append(v.legs, cv.leg.ID)
			v.agentMedia, v.agentSRTP = cv.leg.Media().LocalAddr(), cv.leg.Media().SRTP()
		}
		if cs := cv.consult; cs != nil {
			v.consult = cs.party
			if cs.leg != nil {
				v.legs = append(v.legs, cs.leg.ID)
			}
		}
		if m := cv.monitor; m != nil {
			v.monitors = map[string]agentapi.MonitorMode{m.supervisor: m.mode}
			if m.leg != nil {
				v.legs = append(v.legs, m.leg.ID)
				v.supervisorMedia = m.leg.Media().LocalAddr()
			}
		}
	}
	c.mu.Lock()
	old := c.view
	c.view = v
	c.mu.Unlock()
	// Desktops follow the call's state (what their buttons can do now);
	// the ACD's events say the rest (offered, answered, held, ended).
	if desk := v.desktopState(); v.agent != "" && (desk != old.desktopState() || v.agent != old.agent) && desk != "" {
		c.ctl.publish(agentapi.Event{Event: "call.state", Agent: v.agent, CallID: c.id, State: desk})
	}
}

// desktopState names the state as desktops show it ("" outside a
// conversation).
func (v viewState) desktopState() string {
	switch v.state {
	case Announcing:
		return "announcing"
	case Talking, Monitored:
		return "talking"
	case Held:
		return "held"
	case Consulting:
		return "consulting"
	case Conference:
		return "conference"
	case Transferring:
		return "transferring"
	}
	return ""
}

func (c *Call) snapshot() viewState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.view
}

// watchLeg posts evLegGone when leg ends and evPhoneHold when its phone
// holds or resumes.
func (c *Call) watchLeg(leg *sip.Leg) {
	context.AfterFunc(leg.Context(), func() { c.post(&event{kind: evLegGone, leg: leg}) })
	leg.OnHold(func(held bool) { c.post(&event{kind: evPhoneHold, leg: leg, on: held}) })
}

// releaseLeg hangs a leg up (BYE, or CANCEL/480 if never answered) and
// frees it, off the owner's goroutine: a vanished phone must not stall
// the call for a SIP timeout.
func (c *Call) releaseLeg(leg *sip.Leg, why string) {
	if leg == nil {
		return
	}
	leg.OnHold(nil)
	c.log.Debug("releasing leg", "leg", leg.ID, "why", why)
	c.ctl.wg.Add(1)
	go func() {
		defer c.ctl.wg.Done()
		_ = leg.Hangup(context.Background())
		c.ctl.countLeg(leg)
		leg.Close()
	}()
}

// hangupAsync hangs a leg up off the owner's goroutine; its end comes
// back as an event.
func (c *Call) hangupAsync(leg *sip.Leg) {
	c.ctl.wg.Add(1)
	go func() {
		defer c.ctl.wg.Done()
		_ = leg.Hangup(context.Background())
	}()
}

// goOwned runs fn on a goroutine the call owns (waited for before Serve returns).
func (c *Call) goOwned(fn func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
}

// watchTicket posts a ticket's single outcome.
func (c *Call) watchTicket(t *acd.Ticket) {
	c.goOwned(func() {
		select {
		case o := <-t.Done():
			c.post(&event{kind: evOutcome, outcome: o, ticket: t})
		case <-c.ctx.Done():
		}
	})
}

// request posts an event that carries a reply channel and waits for the
// reply; an ended call refuses.
func (c *Call) request(ev *event) error {
	ev.replyErr = make(chan error, 1)
	if !c.post(ev) {
		return fmt.Errorf("call %s: %w", c.id, ErrCallEnded)
	}
	return <-ev.replyErr
}

// moh is the music the caller hears on hold.
func (c *Call) moh() *media.Prompt {
	p, err := c.ctl.moh()
	if err != nil {
		c.log.Warn("music on hold unavailable; holding in silence", "err", err)
		return nil
	}
	return p
}
