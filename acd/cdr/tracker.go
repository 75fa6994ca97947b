package cdr

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/hotlinecc/hotline/acd"
)

// RecordWriter takes finished call records; *Writer[Record] is one.
type RecordWriter interface {
	Write(Record) error
}

// TrackerOptions configure a Tracker.
type TrackerOptions struct {
	Node string // stamped on every record (cluster mode)
	// ShortAbandon as in the router config (5 s if zero).
	ShortAbandon time.Duration
	// MaxWrapWait: an answered call's record waits for the agent's wrap-up
	// to end (that is when WrapUpMS is known), at most this long (15 min if
	// zero) in case the wrap-up end event was missed.
	MaxWrapWait time.Duration
	// MaxOpen: a call never ended this long after its arrival (an engine
	// bug or a lost BYE) is written as dropped (12 h if zero).
	MaxOpen time.Duration
	// SweepEvery: how often Run writes records whose wait ran out.
	SweepEvery time.Duration
	Now        func() time.Time
	Logger     *slog.Logger
}

// Tracker assembles one Record per call from what the engine knows (arrival,
// CRM lookup, IVR trace, transfers, recording, end) and what the ACD publishes
// on its bus (queue, offers, answer, hold, talk, wrap-up), and writes it when
// the call is over. It is safe for concurrent use.
//
// The engine's part, with the call id the ACD was given in acd.Call.ID:
//
//	Start(id, Record{Times: Times{Arrival: t}, Caller, Dialled, AccessNumber})  on INVITE
//	Update(id, func(r *Record){ r.Customer = …; r.IVRTrace = … })               as it learns
//	End(id, t, disposition or "")                                               when the caller's leg is gone
//
// and it runs Run (from before the first call until shutdown, then the
// Writer's Close). An answered call is written when its agent leaves
// wrap-up; other calls as soon as Run has applied the ACD's events that
// preceded End.
type Tracker struct {
	out RecordWriter
	opt TrackerOptions
	log *slog.Logger

	mu       sync.Mutex
	calls    map[string]*tracked
	wrapping map[string]wrapSpell // agent → the call it is wrapping up
	events   <-chan acd.Event     // nil: the caller feeds Event itself
	running  bool
	stopped  bool     // Run has returned: End writes at once
	ended    []string // calls ended since Run last looked
	kick     chan struct{}
}

// tracked is one call in progress. A call may be answered more than once
// (an agent transfers it back to a queue): the record keeps the first
// answer and agent, and sums talk, hold and wrap-up over all of them.
type tracked struct {
	rec         Record
	ended       bool
	endedAt     time.Time // tracker clock, for MaxWrapWait
	answered    bool      // an agent answered at least once
	connected   bool      // an agent is on the call now
	answeredAt  time.Time // start of the current connection
	talk        time.Duration
	holdStart   time.Time
	wrapPending int // agents who released the call and whose wrap-up has not ended
	abandoned   bool
	overflowed  bool
}

type wrapSpell struct {
	callID string
	start  time.Time
}

// NewTracker returns a tracker writing to out. events is a bus
// subscription's channel (acd.Bus.Subscribe(…).C) that Run applies; with
// nil events the caller applies events itself with Event, and End writes at
// once.
func NewTracker(out RecordWriter, events <-chan acd.Event, opt TrackerOptions) *Tracker {
	if opt.ShortAbandon == 0 {
		opt.ShortAbandon = 5 * time.Second
	}
	if opt.MaxWrapWait <= 0 {
		opt.MaxWrapWait = 15 * time.Minute
	}
	if opt.MaxOpen <= 0 {
		opt.MaxOpen = 12 * time.Hour
	}
	if opt.SweepEvery <= 0 {
		opt.SweepEvery = 10 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Tracker{out: out, opt: opt, log: opt.Logger, calls: map[string]*tracked{}, wrapping: map[string]wrapSpell{},
		events: events, kick: make(chan struct{}, 1)}
}

// Start opens the record of a new call. r carries what is known at arrival;
// Times.Arrival defaults to now.
func (t *Tracker) Start(callID string, r Record) {
	r.CallID = callID
	if r.Node == "" {
		r.Node = t.opt.Node
	}
	if r.Times.Arrival.IsZero() {
		r.Times.Arrival = t.opt.Now()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, dup := t.calls[callID]; dup {
		t.log.Warn("call record started twice; keeping the first", "call", callID)
		return
	}
	t.calls[callID] = &tracked{rec: r}
}

// Update changes a call's record under the tracker's lock (fn must not
// block). It reports false for an unknown or already written call.
func (t *Tracker) Update(callID string, fn func(*Record)) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.calls[callID]
	if c == nil {
		return false
	}
	fn(&c.rec)
	return true
}

// End marks the call over at at (its BYE or CANCEL). d is the disposition
// the engine knows (blacklisted, failed, abandoned_ivr…) or "" to derive it
// from the ACD events: answered, abandoned_queue or overflowed, else
// abandoned_ivr. The record is written now, or when the answering agent's
// wrap-up ends.
func (t *Tracker) End(callID string, at time.Time, d Disposition) {
	t.mu.Lock()
	c := t.calls[callID]
	if c == nil {
		t.mu.Unlock()
		t.log.Warn("call record end for an unknown call", "call", callID)
		return
	}
	c.ended, c.endedAt = true, t.opt.Now()
	c.rec.Times.Ended = at
	if d != "" {
		c.rec.Disposition = d
	}
	if t.events != nil && !t.stopped {
		// The ACD published this call's last events before the engine
		// could call End, but Run may not have applied them yet: let Run
		// apply what is queued first, then write.
		t.ended = append(t.ended, callID)
		t.mu.Unlock()
		select {
		case t.kick <- struct{}{}:
		default:
		}
		return
	}
	var out []Record
	if t.ready(c) {
		out = append(out, t.finishLocked(callID, c))
	}
	t.mu.Unlock()
	t.write(out)
}

// writeEnded writes the calls ended since the last look that are ready.
func (t *Tracker) writeEnded() {
	t.mu.Lock()
	var out []Record
	for _, id := range t.ended {
		if c := t.calls[id]; c != nil && t.ready(c) {
			out = append(out, t.finishLocked(id, c))
		}
	}
	t.ended = t.ended[:0]
	t.mu.Unlock()
	t.write(out)
}

// ready: the record can be written — the call is over, no agent is on it
// and the last agent's wrap-up is over.
func (t *Tracker) ready(c *tracked) bool {
	return c.ended && !c.connected && c.wrapPending <= 0
}

func (t *Tracker) finishLocked(callID string, c *tracked) Record {
	delete(t.calls, callID)
	r := &c.rec
	now := t.opt.Now()
	end := r.Times.Ended
	if end.IsZero() {
		end = now
	}
	// Whatever is still running (shutdown, sweep, missed events) counts up
	// to the end of the call.
	if !c.holdStart.IsZero() {
		r.HoldMS += max(0, end.Sub(c.holdStart).Milliseconds())
	}
	if c.connected {
		c.talk += max(0, end.Sub(c.answeredAt))
	}
	if c.answered {
		// Talk time excludes hold, so talk + hold + wrap-up is handle time.
		r.TalkMS = max(0, c.talk.Milliseconds()-r.HoldMS)
	}
	for agent, w := range t.wrapping {
		if w.callID == callID {
			r.WrapUpMS += max(0, now.Sub(w.start).Milliseconds())
			delete(t.wrapping, agent)
		}
	}
	for i := range r.Offers {
		if r.Offers[i].Outcome == "" {
			r.Offers[i].Outcome = OfferCancelled
		}
	}
	if r.Disposition == "" {
		switch {
		case c.answered:
			r.Disposition = Answered
		case c.overflowed:
			r.Disposition = Overflowed
		case c.abandoned || r.Times.Enqueued != nil:
			r.Disposition = AbandonedQueue
		case r.Times.Ended.IsZero():
			r.Disposition = Failed
		default:
			r.Disposition = AbandonedIVR
		}
	}
	r.Times.Ended = end
	r.Finish(t.opt.ShortAbandon)
	return *r
}

func (t *Tracker) write(recs []Record) {
	for _, r := range recs {
		if err := t.out.Write(r); err != nil {
			t.log.Error("call record not written", "call", r.CallID, "err", err)
		}
	}
}

// Event applies one ACD bus event. Events of calls the engine did not Start
// (or already ended and written) are ignored, except agent state changes
// that end a wrap-up.
func (t *Tracker) Event(e acd.Event) {
	t.mu.Lock()
	var out []Record
	if e.Type == acd.EventAgentState {
		out = t.agentStateLocked(e)
	} else if c := t.calls[e.CallID]; c != nil {
		t.callEventLocked(c, e)
	}
	t.mu.Unlock()
	t.write(out)
}

func (t *Tracker) callEventLocked(c *tracked, e acd.Event) {
	r := &c.rec
	switch e.Type {
	case acd.EventCallQueued:
		// A requeue (after RONA) keeps the original enqueue time: At − Wait.
		if r.Times.Enqueued == nil {
			enq := e.At.Add(-e.Wait)
			r.Times.Enqueued = &enq
		}
		if r.Queue == "" {
			r.Queue = e.Queue
		}
		if r.Customer.Tier == "" {
			r.Customer.Tier = e.Tier
		}
	case acd.EventCallOffered:
		if r.Times.Offered == nil {
			at := e.At
			r.Times.Offered = &at
		}
		r.Offers = append(r.Offers, Offer{Agent: e.AgentID, At: e.At})
	case acd.EventCallAnswered:
		closeOffer(r, e, OfferAnswered)
		if !c.answered {
			at := e.At
			r.Times.Answered = &at
			r.Agent = e.AgentID
			r.WaitMS = e.Wait.Milliseconds()
		}
		c.answered, c.connected, c.answeredAt = true, true, e.At
	case acd.EventCallRONA:
		out := OfferNoAnswer
		switch e.Reason {
		case "busy":
			out = OfferBusy
		case "unreachable":
			out = OfferUnreachable
		}
		closeOffer(r, e, out)
	case acd.EventCallUnreached:
		closeOffer(r, e, OfferCustomerUnreached)
		if r.Callback != nil {
			r.Callback.Attempts++
		}
		r.Reason = e.Reason
	case acd.EventCallAbandoned:
		closeOffer(r, e, OfferCancelled)
		r.WaitMS = e.Wait.Milliseconds()
		c.abandoned = true
	case acd.EventCallOverflow:
		r.WaitMS = e.Wait.Milliseconds()
		if r.Reason == "" {
			r.Reason = e.Reason
		}
		c.overflowed = true
	case acd.EventCallHeld:
		c.holdStart = e.At
	case acd.EventCallRetrieved:
		if !c.holdStart.IsZero() {
			r.HoldMS += e.At.Sub(c.holdStart).Milliseconds()
			c.holdStart = time.Time{}
		}
	case acd.EventCallTransferred:
		// A consulted agent took the caller over: a new spell of talk.
		c.connected, c.answeredAt = true, e.At
	case acd.EventCallEnded:
		if c.connected {
			c.talk += e.At.Sub(c.answeredAt) // answer (or take-over) → release, hold included
			c.connected = false
			c.wrapPending++
		}
		if !c.holdStart.IsZero() {
			r.HoldMS += e.At.Sub(c.holdStart).Milliseconds()
			c.holdStart = time.Time{}
		}
	}
}

// closeOffer settles the agent's open offer.
func closeOffer(r *Record, e acd.Event, out OfferOutcome) {
	for i := len(r.Offers) - 1; i >= 0; i-- {
		o := &r.Offers[i]
		if o.Agent == e.AgentID && o.Outcome == "" {
			o.Outcome = out
			o.RingMS = max(0, e.At.Sub(o.At).Milliseconds())
			return
		}
	}
}

func (t *Tracker) agentStateLocked(e acd.Event) []Record {
	if e.Prev == acd.WrapUp {
		if w, ok := t.wrapping[e.AgentID]; ok {
			delete(t.wrapping, e.AgentID)
			if c := t.calls[w.callID]; c != nil {
				c.rec.WrapUpMS += max(0, e.At.Sub(w.start).Milliseconds())
				c.wrapPending--
				if t.ready(c) {
					return []Record{t.finishLocked(w.callID, c)}
				}
			}
		}
	}
	if e.State == acd.WrapUp && e.CallID != "" {
		if _, ok := t.calls[e.CallID]; ok {
			t.wrapping[e.AgentID] = wrapSpell{callID: e.CallID, start: e.At}
		}
	}
	return nil
}

// Run applies bus events until ctx is done, writes the records of ended
// calls, and those whose wrap-up wait ran out; then it writes every record
// still open (Flush). If the bus closes the channel (a slow subscriber is
// cut off), Run logs it and keeps going: records then lack ACD detail.
func (t *Tracker) Run(ctx context.Context) error {
	events := t.events
	t.mu.Lock()
	if t.running {
		t.mu.Unlock()
		return errors.New("cdr: tracker Run called twice")
	}
	t.running = true
	t.mu.Unlock()
	tick := time.NewTicker(t.opt.SweepEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			t.drainEvents(events)
			t.mu.Lock()
			t.stopped = true
			t.mu.Unlock()
			t.Flush()
			return nil
		case <-t.kick:
			t.drainEvents(events)
			t.writeEnded()
		case e, ok := <-events:
			if !ok {
				t.log.Error("call record tracker lost its ACD event feed; records lack queue detail until resubscribed")
				events = nil
				continue
			}
			t.Event(e)
		case <-tick.C:
			t.Sweep()
		}
	}
}

func (t *Tracker) drainEvents(events <-chan acd.Event) {
	for {
		select {
		case e, ok := <-events:
			if !ok {
				return
			}
			t.Event(e)
		default:
			return
		}
	}
}

// Sweep writes ended calls that waited longer than MaxWrapWait for their
// wrap-up to end, and calls open longer than MaxOpen (as dropped).
func (t *Tracker) Sweep() {
	now := t.opt.Now()
	t.mu.Lock()
	var out []Record
	for id, c := range t.calls {
		switch {
		case c.ended && now.Sub(c.endedAt) >= t.opt.MaxWrapWait:
			out = append(out, t.finishLocked(id, c))
		case !c.ended && c.rec.Callback != nil && !c.answered:
			// A pending callback may wait longer than any call: its
			// record stays open until it is served or fails.
		case !c.ended && now.Sub(c.rec.Times.Arrival) >= t.opt.MaxOpen:
			t.log.Warn("call never ended; writing its record as dropped", "call", id, "arrival", c.rec.Times.Arrival)
			c.rec.Dropped = true
			if c.rec.Reason == "" {
				c.rec.Reason = "record timeout"
			}
			out = append(out, t.finishLocked(id, c))
		}
	}
	t.mu.Unlock()
	t.write(out)
}

// Flush writes every open record — on shutdown, after the engine has ended
// its calls. Calls never ended are marked Dropped with reason "shutdown".
// A pending callback's record is not written: the callback outlives the
// process, and the next one opens its record again.
func (t *Tracker) Flush() {
	t.mu.Lock()
	var out []Record
	for id, c := range t.calls {
		if !c.ended && c.rec.Callback != nil && !c.answered {
			delete(t.calls, id)
			continue
		}
		if !c.ended {
			c.rec.Dropped = true
			if c.rec.Reason == "" {
				c.rec.Reason = "shutdown"
			}
			c.rec.Times.Ended = t.opt.Now()
		}
		out = append(out, t.finishLocked(id, c))
	}
	t.ended = t.ended[:0]
	t.mu.Unlock()
	t.write(out)
}

// Open is how many calls have a record in progress (what a crash now would lose).
func (t *Tracker) Open() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.calls)
}

// AgentStateLog is an acd.StateLog that writes agent state spells to w.
// The ACD calls it under its lock, so it never waits: when the queue is
// full the spell is dropped and counted (Writer.Stats).
type AgentStateLog struct{ W *Writer[AgentStateRecord] }

// Record implements acd.StateLog.
func (l AgentStateLog) Record(r acd.StateRecord) {
	_ = l.W.TryWrite(AgentStateRecord{
		Agent: r.AgentID, Seat: r.Seat, State: string(r.State), Reason: r.Reason,
		Start: r.Start, End: r.End, DurationMS: r.End.Sub(r.Start).Milliseconds(),
		CallID: r.CallID, Caller: r.Caller,
	})
}

var _ acd.StateLog = AgentStateLog{}
