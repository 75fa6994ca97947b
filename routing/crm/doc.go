// Package crm answers one question for the call path: who is calling? It keeps
// the customer tiers, regions and blacklist flags from the business CRM in a
// local store (in memory by default), refreshes that store from CSV files or an
// HTTP JSON pull, and falls back to a live CRM request for numbers the store
// lacks — always within a bounded time, so a slow or broken CRM degrades a call
// to the default tier instead of delaying it.
//
// Numbers are normalised with one NumberPlan on import and on lookup, so
// "+86 138-0000-0001", "008613800000001" and "13800000001" are the same caller.
package crm
