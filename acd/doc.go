// Package acd runs agents and calls: the agent state machine and its log,
// the queues of waiting calls, the offer life cycle (reserve → announce →
// ring → talk → wrap-up → ready, with ring-no-answer re-queue at the head),
// abandon and overflow, supervisor actions, the state store and the one
// event bus every change leaves through. Which agent takes which call is
// decided by package routing; acd acts on those decisions.
//
// Callers (the IVR's queue node) use Enqueue and the returned Ticket; the SIP
// side implements Phone to ring agents; the agent API calls the agent and
// supervisor methods and subscribes to the Bus.
//
// Concurrency: one mutex guards all ACD state and the router; Phone.Ring
// runs outside it on a goroutine per offer owned by the ACD (Close waits for
// them). The StateLog, the Store and bus publishing are called with the lock
// held and must not block.
package acd
