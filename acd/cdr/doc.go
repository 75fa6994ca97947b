// Package cdr keeps what happened: one call detail record per call, the agent
// state log and the supervisor audit log, written as JSON lines, read back,
// and summarised into service reports (offered, answered, abandoned, service
// level, ASA, talk/hold/wrap-up, survey) per interval and per queue, tier,
// agent or access number.
//
// # Files
//
// Each log is a series of files in one directory, named by the writer's
// prefix and the UTC day the line was written:
//
//	calls-2026-11-22.jsonl        first file of the day
//	calls-2026-11-22.1.jsonl      after it reached WriterOptions.MaxBytes
//	calls-2026-11-22.2.jsonl      …
//	agent-states-2026-11-22.jsonl
//	audit-2026-11-22.jsonl
//
// Files are never renamed: a reader (or tail -f) that has a file open keeps
// reading the right data, and a crash in the middle of a rotation cannot lose a
// file. A restarted writer appends to the day's last file, starting on a fresh
// line if the previous process died mid-line.
//
// # Durability
//
// Write encodes the record and hands it to a bounded queue; one goroutine
// (Run) writes queued lines in batches and, with the default SyncBatch
// policy, fsyncs the file after every batch, so under load one fsync covers
// many records. SyncNone leaves flushing to the OS: a process crash then
// still loses nothing already written (the page cache survives the process),
// only a power loss or kernel crash can.
//
// Close (or cancelling Run's context) drains the queue: no record accepted by
// Write is lost on a clean shutdown. A crash loses at most the records of
// calls still in progress (they are written when the call ends) plus the
// lines still queued and not yet written — at most WriterOptions.QueueSize records,
// and in practice one batch. A line cut short by a crash is skipped with a
// warning by Read.
//
// Write never blocks the call path for long: when the queue is full it waits
// up to WriterOptions.EnqueueTimeout, then drops the record, counts it (Stats) and
// logs it. TryWrite does not wait at all (for callers holding a lock). A
// batch that cannot be written (disk full) is counted in Stats.Lost and
// logged; the next batch opens the file again.
//
// # Wiring
//
// A Tracker assembles each call's Record from the engine's calls (Start on
// arrival, Update as the CRM, IVR, transfers and recording report, End on
// hang-up) and the ACD's bus events (queue, offers and their outcomes,
// answer, hold, release, wrap-up), and writes it to the calls Writer once
// the call and the agent's wrap-up are over. AgentStateLog plugs the agent
// state Writer into acd.Deps.Log. Shut down in this order: end the calls,
// cancel the Tracker's Run (it writes what is still open), then Close the
// writers (they drain).
//
// # Reports
//
// A call is reported in the interval of its RecordTime: the moment it
// entered a queue, or its arrival if it never reached one. Service level is
// computed as the router computes it: answered within the tier's threshold ÷
// (answered + abandoned), where callers who abandon before ShortAbandon are
// counted neither as offered nor as abandoned.
package cdr
