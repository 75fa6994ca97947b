package callctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/cdr"
	"github.com/hotlinecc/hotline/ivr"
)

// Queued callbacks, the engine's side. A caller in a queue presses the
// callback digit: the waiting call becomes a callback in the ACD (same
// place, same enqueue time) and the flow confirms the number. Control
// holds each pending callback's ticket; when the ACD offers it, Ring
// rings the agent, then calls the customer, and the customer's answered
// leg becomes a Call of its own that joins the agent like a caller who
// waited (callback.go in the acd package has the queue side).

// callbackSuffix names a callback after the waiting call that asked.
const callbackSuffix = "-cb"

// CallbackStore keeps pending callbacks across restarts: a file on one
// node (FileCallbacks), a Redis hash in cluster mode. Values are opaque.
type CallbackStore interface {
	Put(ctx context.Context, id string, data []byte) error
	Delete(ctx context.Context, id string) error
	All(ctx context.Context) (map[string][]byte, error)
}

// storedCallback is one pending callback as the store keeps it: the ACD's
// record, with the IVR trace typed again (acd.Call holds it as any).
type storedCallback struct {
	Record acd.CallRecord   `json:"record"`
	Trace  []ivr.TraceEntry `json:"trace,omitempty"`
}

// journal is an acd.Store that also keeps the ACD's callbacks in a
// CallbackStore, so that every change the ACD makes to one (parked,
// confirmed, tried, ended) is on disk or in Redis as it happens.
type journal struct {
	acd.Store
	cbs CallbackStore
	ctl *Control

	mu    sync.Mutex
	known map[string]bool
}

// JournalCallbacks wraps the ACD's store: callbacks saved or deleted in
// it are written to cbs as well. Give the result to acd.New.
func (ctl *Control) JournalCallbacks(inner acd.Store, cbs CallbackStore) acd.Store {
	if inner == nil {
		inner = acd.NewMemoryStore()
	}
	j := &journal{Store: inner, cbs: cbs, ctl: ctl, known: map[string]bool{}}
	ctl.callbacks.store = cbs
	return j
}

// SaveCall implements acd.Store.
func (j *journal) SaveCall(ctx context.Context, r acd.CallRecord) error {
	err := j.Store.SaveCall(ctx, r)
	if r.Call.Callback == "" {
		return err
	}
	sc := storedCallback{Record: r}
	if tr, ok := r.Call.Trace.([]ivr.TraceEntry); ok {
		sc.Trace = tr
	}
	sc.Record.Call.Trace = nil
	b, mErr := json.Marshal(sc)
	if mErr == nil {
		mErr = j.cbs.Put(ctx, r.Call.ID, b)
	}
	if mErr != nil {
		j.ctl.log.Error("callback not persisted: it would be lost by a restart", "callback", r.Call.ID, "err", mErr)
	} else {
		j.mu.Lock()
		j.known[r.Call.ID] = true
		j.mu.Unlock()
	}
	return err
}

// DeleteCall implements acd.Store.
func (j *journal) DeleteCall(ctx context.Context, id string) error {
	err := j.Store.DeleteCall(ctx, id)
	j.mu.Lock()
	known := j.known[id]
	delete(j.known, id)
	j.mu.Unlock()
	if known {
		if dErr := j.cbs.Delete(ctx, id); dErr != nil {
			j.ctl.log.Error("finished callback not removed from the store", "callback", id, "err", dErr)
		}
	}
	return err
}

// callbacks are the pending callbacks Control holds the tickets of.
type callbacks struct {
	store CallbackStore // nil: not persisted
	mu    sync.Mutex
	m     map[string]*pendingCallback
}

// pendingCallback is one callback the ACD holds.
type pendingCallback struct {
	id     string
	ticket *acd.Ticket
	info   acd.Call

	mu        sync.Mutex
	confirmed bool
	conn      *Call // the customer's call once answered
}

func (cb *pendingCallback) setConn(c *Call) {
	cb.mu.Lock()
	cb.conn = c
	cb.mu.Unlock()
}

func (m *callbacks) get(id string) *pendingCallback {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.m[id]
}

// Pending lists the callbacks waiting in the ACD (ids), for tests and the
// supervisor.
func (ctl *Control) Pending() []string {
	ctl.callbacks.mu.Lock()
	defer ctl.callbacks.mu.Unlock()
	out := make([]string, 0, len(ctl.callbacks.m))
	for id := range ctl.callbacks.m {
		out = append(out, id)
	}
	return out
}

// holdCallback starts following a callback's ticket.
func (ctl *Control) holdCallback(id string, t *acd.Ticket, info acd.Call, confirmed bool) *pendingCallback {
	cb := &pendingCallback{id: id, ticket: t, info: info, confirmed: confirmed}
	ctl.callbacks.mu.Lock()
	ctl.callbacks.m[id] = cb
	ctl.callbacks.mu.Unlock()
	ctl.wg.Add(1)
	go func() {
		defer ctl.wg.Done()
		select {
		case o := <-t.Done():
			ctl.callbackSettled(cb, o)
		case <-ctl.ctx.Done():
		}
	}()
	return cb
}

// callbackSettled acts on a callback's single outcome.
func (ctl *Control) callbackSettled(cb *pendingCallback, o acd.Outcome) {
	ctl.callbacks.mu.Lock()
	delete(ctl.callbacks.m, cb.id)
	ctl.callbacks.mu.Unlock()
	cb.mu.Lock()
	conn, confirmed := cb.conn, cb.confirmed
	cb.mu.Unlock()
	log := ctl.log.With("callback", cb.id, "queue", cb.info.Queue)
	switch o.Kind {
	case acd.Connected:
		if conn == nil {
			ctl.violation("connect_without_answer", fmt.Sprintf("callback %s: ACD connected agent %s with no customer leg", cb.id, o.AgentID))
			ctl.acd.Release(cb.id, "engine")
			return
		}
		conn.post(&event{kind: evOutcome, outcome: o, ticket: cb.ticket})
		return
	case acd.Unanswered:
		log.Info("callback failed: customer not reached", "reason", o.Reason, "tries", cb.info.CallbackAttempts+1)
		ctl.endCallbackRecord(cb.id, cdr.Unreached, string(o.Reason))
	case acd.Overflowed:
		if o.Reason == acd.OverflowShutdown {
			return // kept in the store for the next start
		}
		log.Info("callback withdrawn", "reason", o.Reason)
		if confirmed {
			ctl.endCallbackRecord(cb.id, cdr.Withdrawn, string(o.Reason))
		}
	case acd.Abandoned:
		// The caller hung up before confirming: the waiting call's record
		// says so; no callback record was opened.
		if confirmed {
			ctl.endCallbackRecord(cb.id, cdr.Withdrawn, "abandoned")
		}
	}
}

func (ctl *Control) endCallbackRecord(id string, d cdr.Disposition, reason string) {
	ctl.cfg.Records.Update(id, func(r *cdr.Record) {
		if r.Reason == "" || d != cdr.Unreached {
			r.Reason = reason
		}
	})
	ctl.cfg.Records.End(id, time.Now(), d)
}

// startCallbackRecord opens the callback's own record when the number is
// confirmed (or the callback comes back after a restart).
func (ctl *Control) startCallbackRecord(info acd.Call) {
	v := info.Customer
	ctl.cfg.Records.Start(info.ID, cdr.Record{
		Direction: "callback", Times: cdr.Times{Arrival: info.EnqueuedAt},
		Caller: info.Callback, Dialled: v["dialled"], AccessNumber: v["dialled"], Queue: info.Queue,
		Customer: cdr.Customer{ID: v["customer_id"], Tier: info.Tier, Region: info.Region, Name: v["name"]},
		Callback: &cdr.Callback{RequestedBy: strings.TrimSuffix(info.ID, callbackSuffix), Number: info.Callback, Attempts: info.CallbackAttempts},
	})
}

// callbackHandle is the flow's ivr.Callback.
type callbackHandle struct {
	ctl *Control
	cb  *pendingCallback
}

// Confirm routes the callback at its place, to number.
func (h callbackHandle) Confirm(number string) error {
	cb := h.cb
	cb.mu.Lock()
	info := cb.info
	cb.mu.Unlock()
	info.Callback = number
	// The record opens before the ACD routes the callback: its events
	// (queued, offered…) are the record's.
	h.ctl.startCallbackRecord(info)
	if err := h.ctl.acd.ConfirmCallback(cb.id, number); err != nil {
		h.ctl.endCallbackRecord(cb.id, cdr.Withdrawn, "not confirmed: "+err.Error())
		return fmt.Errorf("confirm callback %s: %w", cb.id, err)
	}
	cb.mu.Lock()
	cb.confirmed = true
	cb.info.Callback = number
	cb.mu.Unlock()
	h.ctl.log.Info("callback requested", "callback", cb.id, "queue", info.Queue, "tier", info.Tier, "waited", time.Since(info.EnqueuedAt).Round(time.Second))
	return nil
}

// Cancel withdraws an unconfirmed callback (the caller hung up).
func (h callbackHandle) Cancel() {
	h.cb.mu.Lock()
	confirmed := h.cb.confirmed
	h.cb.mu.Unlock()
	if !confirmed {
		h.ctl.acd.Release(h.cb.id, "caller")
	}
}

// keepPlace (Queued): the flow's callback digit. The waiting call becomes
// a parked callback; this call goes back to the flow, which confirms the
// number and hangs up.
func (c *Call) keepPlace(ev *event) {
	if c.pending != nil || c.wait == nil {
		ev.replyKeep <- keepReply{err: fmt.Errorf("callback for %s: an agent answered: %w", c.id, acd.ErrCallNotActive)}
		return
	}
	id := c.id + callbackSuffix
	t, err := c.ctl.acd.KeepPlace(c.id, id, ev.number)
	if err != nil {
		ev.replyKeep <- keepReply{err: fmt.Errorf("callback for %s: %w", c.id, err)}
		return
	}
	info := c.wait.req
	info.ID, info.Callback = id, ev.number
	if snap, ok := c.ctl.acd.Call(id); ok {
		info = snap.Call
	}
	cb := c.ctl.holdCallback(id, t, info, false)
	c.ticket = nil // the old ticket's overflow is ours, and ignored
	c.finishWait(ivr.QueueOutcome{Reason: "callback"})
	c.move(IVR, "callback requested")
	ev.replyKeep <- keepReply{cb: callbackHandle{ctl: c.ctl, cb: cb}}
}

// requestCallback (IVR, AfterAgent): a flow's callback node reached from
// outside a queue asks for a new callback.
func (c *Call) requestCallback(ev *event) {
	req := ev.req
	customer := maps.Clone(req.Vars)
	if customer == nil {
		customer = map[string]string{}
	}
	id := c.id + callbackSuffix
	info := acd.Call{ID: id, Caller: req.CallerNumber, Queue: req.Queue, Tier: req.Tier, Region: req.Region,
		Priority: req.Priority, Customer: customer, Trace: req.Trace}
	number := digitsOf(req.CallerNumber)
	if number == "" {
		number = "unknown" // replaced by the confirmed number
	}
	t, err := c.ctl.acd.RequestCallback(info, number)
	if err != nil {
		ev.replyKeep <- keepReply{err: fmt.Errorf("callback for %s: %w", c.id, err)}
		return
	}
	if snap, ok := c.ctl.acd.Call(id); ok {
		info = snap.Call
	}
	cb := c.ctl.holdCallback(id, t, info, false)
	ev.replyKeep <- keepReply{cb: callbackHandle{ctl: c.ctl, cb: cb}}
}

type keepReply struct {
	cb  ivr.Callback
	err error
}

// KeepPlace implements ivr.PlaceKeeper.
func (qc *queuedCall) KeepPlace(number string) (ivr.Callback, error) {
	ev := &event{kind: evKeepPlace, number: number, replyKeep: make(chan keepReply, 1)}
	if !qc.c.post(ev) {
		return nil, fmt.Errorf("callback for %s: %w", qc.c.id, ErrCallEnded)
	}
	r := <-ev.replyKeep
	return r.cb, r.err
}

// EnqueueCallback implements ivr.CallbackQueuer.
func (q queuer) EnqueueCallback(ctx context.Context, req ivr.QueueRequest) (ivr.Callback, error) {
	c := q.ctl.call(req.CallID)
	if c == nil {
		return nil, fmt.Errorf("callback: unknown call %s: %w", req.CallID, ErrCallEnded)
	}
	ev := &event{kind: evRequestCallback, req: &req, replyKeep: make(chan keepReply, 1)}
	if !c.post(ev) {
		return nil, fmt.Errorf("callback for %s: %w", req.CallID, ErrCallEnded)
	}
	r := <-ev.replyKeep
	return r.cb, r.err
}

// RestoreCallbacks takes back the callbacks persisted before a restart:
// each returns to its queue at its place with its tries. Callbacks whose
// caller never confirmed the number are dropped. The engine calls it once
// the ACD is up.
func (ctl *Control) RestoreCallbacks(ctx context.Context) (int, error) {
	cbs := ctl.callbacks.store
	if cbs == nil {
		return 0, nil
	}
	all, err := cbs.All(ctx)
	if err != nil {
		return 0, fmt.Errorf("restore callbacks: %w", err)
	}
	n := 0
	var errs []error
	for id, data := range all {
		var sc storedCallback
		if err := json.Unmarshal(data, &sc); err != nil || sc.Record.Call.ID != id {
			errs = append(errs, fmt.Errorf("callback %s: unreadable (%v); left in the store", id, err))
			continue
		}
		call := sc.Record.Call
		if sc.Trace != nil {
			call.Trace = sc.Trace
		}
		if sc.Record.State == "parked" && call.CallbackAt.IsZero() && call.CallbackAttempts == 0 {
			ctl.log.Info("dropping a callback the caller never confirmed", "callback", id)
			_ = cbs.Delete(ctx, id)
			continue
		}
		ctl.startCallbackRecord(call)
		t, err := ctl.acd.Enqueue(context.Background(), call)
		if err != nil {
			ctl.endCallbackRecord(id, cdr.Withdrawn, "not restored: "+err.Error())
			errs = append(errs, fmt.Errorf("callback %s: %w", id, err))
			continue
		}
		ctl.holdCallback(id, t, call, true)
		n++
	}
	if n > 0 {
		ctl.log.Info("callbacks restored", "count", n)
	}
	return n, errors.Join(errs...)
}

// withdrawCallbacksOf takes back the pending callbacks of a customer who
// calls again: the new call takes its own place. A callback ringing an
// agent or the customer right now cannot be taken back; it goes on.
func (ctl *Control) withdrawCallbacksOf(caller string) {
	number := digitsOf(caller)
	if len(number) < minCallbackMatch {
		return
	}
	ctl.callbacks.mu.Lock()
	var ids []string
	for id, cb := range ctl.callbacks.m {
		cb.mu.Lock()
		if cb.confirmed && (sameNumber(digitsOf(cb.info.Callback), number) || sameNumber(digitsOf(cb.info.Caller), number)) {
			ids = append(ids, id)
		}
		cb.mu.Unlock()
	}
	ctl.callbacks.mu.Unlock()
	for _, id := range ids {
		if err := ctl.acd.Withdraw(id, "customer called again"); err != nil {
			ctl.log.Info("callback of a customer calling again not withdrawn", "callback", id, "err", err)
		}
	}
}

// minCallbackMatch: shorter numbers (extensions, anonymous) never match.
const minCallbackMatch = 7

// sameNumber compares two numbers written with or without country code or
// trunk prefix: the shorter must end the longer and be long enough.
func sameNumber(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	return len(a) >= minCallbackMatch && strings.HasSuffix(b, a)
}

func digitsOf(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}
