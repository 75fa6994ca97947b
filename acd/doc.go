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
// them). The StateLog, the Store, the Cluster's Send and bus publishing are
// called with the lock held and must not block.
//
// Several nodes: with Deps.Cluster set, the ACD mirrors the other nodes'
// agents and waiting callers, arbitrates through the Store's Claim, and
// runs degraded (its own agents only) while the shared state is
// unreachable; see Cluster. The behaviour suite (package acdtest) runs on
// the memory store and on Redis.
package acd
