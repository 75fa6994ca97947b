// Package redisstore is cluster mode's Redis side: the ACD's shared state
// (Store, an acd.Store) so that several hotline nodes share agents, queued
// calls, claims and service-level counters; the Link that carries the ACDs'
// cluster messages over pub/sub and switches a node to degraded mode and
// back; and the shared SIP registrations (Registrations, a sip.Directory).
// Sentinel is supported through Options.Sentinel.
//
// # Keys
//
// Every key starts with Options.Prefix (default "hotline:"). For Redis
// Cluster put a hash tag in the prefix (for example "{hotline}:") so that
// every key lands in one slot: the Lua scripts touch keys they compute from
// other keys (a claim's node), which Cluster only allows within one slot.
//
//	agents            hash   agent ID → JSON AgentRecord
//	agentnode         hash   agent ID → node that last saved it
//	calls             hash   call ID → JSON CallRecord
//	callnode          hash   call ID → node that last saved it
//	callq             hash   call ID → queue (to move it between queue indexes)
//	queue:<q>         zset   call ID scored by enqueue time (µs since epoch)
//	claim:call:<c>    hash   {agent, node} of the claim on call c
//	claim:agent:<a>   string call ID agent a is claimed for
//	node:<n>:claims   hash   call ID → agent ID of claims node n holds
//	nodes             set    every node that ever claimed or saved state
//	lease:<n>         string node n's lease, PX = Options.LeaseTTL
//	sl                hash   "queue\x1ftier\x1fcounter" → cumulative count
//	epoch             string random value set when the data was first written;
//	                         a node finding another one after an outage knows
//	                         Redis lost its data and replays all its counters
//	reg:<user>        string JSON list of a phone user's bindings from every
//	                         node (Registrations), expiring with the latest
//	peers             hash   node → host:port of its direct requests (Link.Advertise)
//	peer-key          string the key that signs direct requests between nodes
//	bus               pub/sub channel of the cluster messages (Link)
//	records           stream of call records (the engine's cdr sink)
//
// # Claims
//
// Claim is one Lua script: it refuses (acd.ErrClaimed) when either the call
// or the agent claim key exists and otherwise writes both, plus the claim's
// entry in the claiming node's index, in one atomic step. Redis runs scripts
// one at a time, so whichever nodes race no call is bound to two agents and
// no agent to two calls. Release deletes each side only if it still names
// the other side, so a late release after a re-claim changes nothing.
//
// # Node liveness
//
// Each node runs RunLease, which renews lease:<node> (SET PX) every third of
// LeaseTTL. A node whose lease has lapsed is dead: its calls were anchored on
// it and are gone. Expired lists such nodes and Reap (or the RunReaper loop
// that any live node may run) releases, in one script per dead node and only
// while its lease is still absent, every claim it held, deletes the calls and
// agent records it last saved (its queued callers and the agents whose desktop
// it served) and forgets the node. The Link reaps every LeaseTTL/3, so
// nothing stays reserved longer than LeaseTTL plus a third of it. A node that claims without running
// RunLease has no lease and is reaped as dead: start RunLease first. A node
// that was cut off from Redis for longer than LeaseTTL learns on its next
// renewal (Options.OnLeaseLost) that it may have been reaped, and should
// write its agents, calls and claims again. The Link does exactly that on
// joining and on every return from an outage: ResetOwn clears whatever
// Redis holds for the node (a predecessor's state under the same name,
// releases missed while Redis was away), then the ACD writes the live
// state back.
//
// # Failures
//
// Every call is bounded by Options.Timeout (dial, read, write) with at most
// one retry, so when Redis is unreachable methods return a wrapped error
// promptly instead of hanging; the ACD's degraded mode decides what to do.
// A Claim that fails with anything but acd.ErrClaimed may still have been
// applied (reply lost): the caller should Release the same pair, which is
// safe because Release only removes a claim that names both sides.
package redisstore
