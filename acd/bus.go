package acd

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// EventType names a change in the ACD.
type EventType string

// Event types.
const (
	EventAgentState    EventType = "agent.state"
	EventBreakOverrun  EventType = "agent.break_overrun"
	EventAdjustWarning EventType = "agent.adjust_warning"
	EventCallQueued    EventType = "call.queued"
	EventCallOffered   EventType = "call.offered"
	EventCallAnswered  EventType = "call.answered"
	EventCallRONA      EventType = "call.rona" // ring-no-answer, busy or unreachable; re-queued
	EventCallAbandoned EventType = "call.abandoned"
	EventCallOverflow  EventType = "call.overflow"
	EventCallEnded     EventType = "call.ended"
	EventCallHeld      EventType = "call.held"
	EventCallRetrieved EventType = "call.retrieved"
	// EventCallUnreached: a callback's or outbound call's customer was not
	// reached (Reason: no_answer, busy, failed); a callback is tried again.
	EventCallUnreached EventType = "call.unreached"
	// EventCallbackRequested: a waiting caller chose a callback and keeps
	// its place (CallID is the callback's; Reason names the call).
	EventCallbackRequested EventType = "callback.requested"
	// EventCallTransferred: a consulted agent took the caller over
	// (attended transfer completed); AgentID is the new agent.
	EventCallTransferred EventType = "call.transferred"
	EventSubscriberSlow  EventType = "bus.subscriber_slow"
)

// Event is one change. Fields not relevant to the type are empty.
type Event struct {
	Seq     uint64
	Type    EventType
	At      time.Time
	AgentID string
	CallID  string
	Caller  string
	Queue   string
	Tier    string
	State   State
	Prev    State
	Reason  string
	// Wait is the caller's wait so far (queue events) or the time spent in
	// the state (overrun events).
	Wait time.Duration
	// Node is set when the call is held by another node (cluster): this
	// node publishes the event for its agent's desktop only, and counters
	// and call records leave it to the call's node.
	Node string
	// Direct marks events of a call offered to one named agent (OfferTo:
	// a transfer or consultation), which queue counters and service
	// levels leave out.
	Direct bool
}

// Requeued reports whether a call.queued event puts a call back in its
// queue (after ring-no-answer or a withdrawn offer) rather than offering a
// new one.
func (e Event) Requeued() bool {
	return e.Type == EventCallQueued && strings.HasPrefix(e.Reason, requeuedPrefix)
}

const requeuedPrefix = "requeued: "

// Bus fans events out to subscribers. Publish never blocks: a subscriber
// whose buffer is full misses the event, its Dropped count grows, and after
// MaxDrops consecutive misses (if set) it is disconnected — its channel is
// closed so it can resubscribe and resynchronise from a snapshot.
type Bus struct {
	mu       sync.Mutex
	subs     map[*Subscription]struct{}
	seq      uint64
	maxDrops uint64
}

// NewBus returns a bus. maxDrops = 0 never disconnects slow subscribers.
func NewBus(maxDrops int) *Bus {
	if maxDrops < 0 {
		maxDrops = 0
	}
	return &Bus{subs: map[*Subscription]struct{}{}, maxDrops: uint64(maxDrops)}
}

// Subscription receives events on C.
type Subscription struct {
	C       <-chan Event
	ch      chan Event
	bus     *Bus
	name    string
	dropped atomic.Uint64
	streak  uint64
	closed  bool
}

// Subscribe registers a subscriber with a buffer of the given size (min 1).
func (b *Bus) Subscribe(name string, buffer int) *Subscription {
	if buffer < 1 {
		buffer = 1
	}
	ch := make(chan Event, buffer)
	s := &Subscription{C: ch, ch: ch, bus: b, name: name}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Dropped is how many events this subscriber missed.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close unsubscribes and closes C. Safe to call twice.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	s.closeLocked()
}

func (s *Subscription) closeLocked() {
	if s.closed {
		return
	}
	s.closed = true
	delete(s.bus.subs, s)
	close(s.ch)
}

// Publish stamps e with a sequence number and delivers it without blocking.
func (b *Bus) Publish(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	e.Seq = b.seq
	for s := range b.subs {
		select {
		case s.ch <- e:
			s.streak = 0
		default:
			s.dropped.Add(1)
			s.streak++
			if b.maxDrops > 0 && s.streak >= b.maxDrops {
				s.closeLocked()
			}
		}
	}
}
