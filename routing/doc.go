// Package routing makes the ACD's two distribution decisions — which waiting
// call a freed agent takes (AgentFreed) and which idle agent an arriving call
// goes to (CallArrived) — and keeps the per-tier service-level accounting those
// decisions depend on. It is pure, single-threaded decision code: no network,
// no goroutines, time is passed in, so the same code runs inside the acd
// package (under its lock) and inside the cmd/hotline-sim discrete-event
// simulator.
//
// # Service level estimator
//
// A tier's actual service level is
//
//	answered within Threshold ÷ (answered + abandoned after ShortAbandon + overdue waiting)
//
// over a sliding window of Config.Window (default 60 min) kept as
// Config.Buckets (default 12) time buckets: an outcome is added to the bucket
// of the moment it happened and a bucket older than the window is dropped
// whole, so the estimate moves in 5-minute steps and costs O(Buckets) per
// read regardless of traffic. A bucketed window was chosen over exponential
// decay because it is the figure supervisors already know ("SL of the last
// hour") and forgets a burst completely after one window. The window is
// longer than the 15 minutes one might expect because the lag of a long
// window is mostly removed by counting overdue waiting callers (below), and
// a longer memory keeps the tier order steadier through a peak: in the
// simulator's demo-4-tiers scenario (100 paired seeds) a 15-minute window
// leaves the worst tier 0.4 ± 0.4 points further behind at the peak and
// meets every day target in 32 % of the seeds instead of 51 %; in the
// overload scenario the two are within the confidence interval.
//
// "Overdue waiting" are callers still in queue who have already waited past
// their tier's Threshold: whatever happens to them they are misses, so by
// default they are counted as misses the moment they cross the threshold
// (and leave that count when they are answered or abandon, where their real
// outcome takes over). This removes most of the window's lag: a tier whose
// queue is backing up shows a falling SL immediately, not minutes later when
// those callers are finally answered. Config.IgnoreWaitingMisses turns it
// off. With the default rule the difference is small: not counting them is
// 1.0 ± 0.4 points better on the worst tier at the peak in the overload
// scenario and within the confidence interval elsewhere; counting is kept
// because the same figure is the supervisors' live service level, which
// should fall as soon as a queue backs up. A window with no outcomes reads
// as 100 %.
//
// # Tier order
//
// The default Policy, PolicyGapSaveable, orders tiers in two regimes.
// Tiers behind their target (gap > 0) come first, by the relative gap
// (target − actual) ÷ (1 − target): the share of the tier's miss budget
// used up beyond what the target allows. Five points below a 95 % target is
// a full miss budget (gap 1.0); five points below 80 % is a quarter of one
// (0.25), which matches how much each tier's figure is hurt. Tiers on
// target come after, in configuration order (OnTargetTierOrder): while
// everyone is fine the top tier builds a cushion for the next peak, instead
// of the tier with the smallest surplus being served first, which spends
// the top tier's cushion (OnTargetGap, the round-one behaviour).
//
// Within one tier in one queue, the default serves first the longest-waiting
// caller still inside the tier's threshold (WithinSaveable): answering them
// now still counts as "within n s", while a caller already past it is a
// miss whatever happens next. Serving the oldest caller instead (the rule
// of round one) answers, at a peak, mostly callers who have already missed,
// while the next caller of the same tier crosses the line meanwhile. Overdue
// callers are served when no saveable caller of their (queue, tier) is left
// or when they escalate (below). The router keeps both orders as heap tops:
// every (queue, tier) holds its saveable and its overdue callers in two sets
// ordered by effective enqueue time, and a per-tier heap by enqueue time
// (the deadline order) moves each call from the first set to the second
// once, when its threshold passes — O(log n) per call over its life, no
// scans. WithinSaveableAnyTier (a simulator variant) goes further: a tier
// whose best caller is overdue yields to any tier that still has a saveable
// one.
//
// The other policies: PolicyGapRelative is the round-one default (relative
// gap for every tier, oldest caller first within a tier); PolicyGapAbsolute
// uses target − actual in points; PolicyFIFO ignores tiers (oldest caller
// first); PolicyStrict serves tiers in configuration order, oldest first
// within a tier. FIFO and strict are the textbook rules: they escalate no
// one unless a tier sets EscalateAfter. Config.Within and Config.OnTarget
// override a policy's own choice.
//
// cmd/hotline-sim (README there and in the project README) compares them on
// six shipped scenarios over 100 paired seeds and shows where the default
// wins and where it does not.
//
// # No starvation
//
// Gap ordering alone self-corrects (callers of a starved tier turn into
// overdue misses and raise its gap) but gives no bound, and serving saveable
// callers first would leave overdue ones waiting as long as new callers
// keep arriving. So under the gap policies every tier has an EscalateAfter
// wait (default 4 × Threshold, see DefaultEscalateFactor): a caller who has
// waited that long outranks every non-escalated caller in every queue the
// freed agent serves, whatever the skill level, gap or saveability, and
// escalated callers are served by how far they are past that point. The
// bound has a price the simulator shows: in demo-4-tiers without
// escalation the worst tier ends 2.2 ± 0.5 points closer to target at the
// peak and the top tier meets its day target more often, but silver and
// normal callers wait up to 321 and 287 s instead of 126 and 142 s.
//
// # Skill level and gap together
//
// SkillUnlessBehind (default): for a freed agent, a caller of a tier that is
// behind its target (gap > 0) outranks callers of tiers on target, in
// whichever of the agent's queues they wait; among tiers on target the queue
// where the agent holds its best level comes first, then the tier order
// (OnTarget); among
// tiers behind target the larger gap comes first, then the level. So in
// normal running agents stay on their first skill (where they are fastest),
// and as soon as a tier falls behind every agent who can serve it helps.
// SkillFirst: the best level always first, then the gap. GapFirst: the gap
// across all the agent's queues, the level only breaks ties. (With FIFO or
// strict policy, which know no targets, SkillUnlessBehind acts as
// SkillFirst.)
//
// In the simulator's demo-4-tiers scenario (100 seeds) SkillFirst leaves the
// diamond tier about 8 points lower at the peak, because a diamond caller in
// an agent's second-skill queue waits until the agent's first queue is
// empty. GapFirst gets the same peak figures as the default and meets the
// day targets in more seeds (73 % against 51 % there: the top tier is
// served across levels while on target), but moves agents to their second
// skills (slower, in the model) even while every tier is on target; the
// default keeps the books' rule that agents take their first skill first
// in normal running.
//
// # Widening
//
// A call of a known region is held for agents of that region for
// Queue.RegionWiden; a call of a tier with PreferredGroups is held for agents
// of those groups for Tier.WidenAfter. After that any eligible agent may take
// it, but an arriving call still prefers a same-region / preferred-group agent
// when one is idle. A zero wait therefore means "prefer, never hold".
// Widening is measured on the call's effective age (see Config.PriorityStep).
//
// # Indexes
//
// Waiting calls are kept per (queue, tier) in two sets (saveable, overdue),
// each a heap ordered by effective enqueue time plus one heap per caller
// region; idle agents per (queue,
// skill level, region|any, group|any) in heaps ordered by the queue's
// strategy. A decision therefore looks at a handful of heap tops per queue
// the agent serves (AgentFreed) or per skill level of the queue
// (CallArrived), never at all agents or all calls.
package routing
