// Package campaign is the outbound dialler: contact lists imported from CSV
// or pulled from the CRM, calling windows per region and weekday, the
// do-not-call list, retry rules by outcome, preview and progressive
// dialling paced under a maximum abandon rate, blending with inbound work,
// and the results export. It decides who is called and when; the engine
// places the calls (Engine).
//
// # Pieces
//
//   - Spec (spec.go): one YAML file per campaign, validated with
//     "file:line: field: problem" errors; LoadDir loads a directory.
//     Spec.CheckNames checks its queue, tier and agents against the
//     engine's configuration.
//   - ReadList, ReadDNC (list.go): the contact list (CSV file and/or HTTP
//     pull), numbers normalised with routing/crm's NumberPlan; every bad
//     row is rejected with its line and counted (ImportReport), none is
//     dropped silently. Do-not-call contacts stay in the list, marked.
//   - Window (window.go): wall-clock spans per weekday in an IANA zone,
//     per region, minus holidays; daylight-saving safe.
//   - RetryRule (retry.go): attempts and spacing per outcome, and a cap on
//     dial attempts per contact.
//   - pacer (pacing.go): the abandon-rate controller (its rule is at the
//     top of the file and in the project README, "Outbound").
//   - Runner (runner.go): one campaign's dialler; Manager (manager.go):
//     every campaign of an engine, the agents they hold, the loops.
//   - ContactState (contact_fsm.go) and State (campaign_fsm.go): the
//     contact's and the campaign's state machines with their transition
//     tables; every move goes through them.
//   - Store (store.go): progress across restarts; FileStore keeps an
//     atomic JSON snapshot plus an append-only journal per campaign.
//   - ExportResults, ExportAttempts (export.go): CSV with a fixed column
//     order.
//
// # How a campaign runs
//
// Manager.Run runs one loop per campaign. Each turn (every
// ManagerConfig.Tick, or at once after a result or Manager.Nudge) a
// running campaign promotes contacts whose retry time came, asks
// Engine.FreeAgents for its queue, keeps the agents Spec.Agents allows and
// no campaign holds, limits them by Spec.OutboundShare and the pacing
// controller, and picks contacts: inside their region's window, not on the
// do-not-call list, fewest attempts first, then list order. In preview
// mode each agent gets one contact (Engine.Preview) and answers with
// Manager.DialPreview or Manager.SkipPreview; in progressive mode each
// agent gets one call (Engine.Dial with AgentID) and, with Ratio > 1 and
// the pacing controller's leave, further calls without an agent. A
// contact is in at most one attempt at a time (its state machine has no
// other way), an agent in at most one preview or call of at most one
// campaign (Manager holds the reservation until the result).
//
// Results move a contact to done or to a retry time by the rules; an
// attempt the engine could not place (NoAgent) does not count; a result
// with DNC adds the number to every campaign's do-not-call list. Pause
// stops new previews and dials (calls up and previews shown go on); Stop
// also withdraws the previews; a campaign whose contacts are all done is
// completed.
//
// Every change is saved to the Store before the call it announces is
// placed, so a restart neither dials a finished contact again nor forgets
// an attempt: a call that was up when the process died counts as failed
// ("interrupted by a restart") and is retried by the rules; a preview that
// was shown is pending again.
package campaign
