// Package media carries a call's audio: RTP sessions (one per leg) on ports
// from a configurable range, G.711 µ-law/A-law coding, RFC 4733
// telephone-events, paced prompt playback, the two-leg bridge that anchors
// caller↔agent audio in the engine, and the mixer behind conference, barge,
// whisper and listen.
//
// Audio inside the engine is 8 kHz mono linear PCM in frames of
// FrameSamples (20 ms); codecs only appear at the RTP edge, so a PCMU caller
// can be bridged to a PCMA agent. Prompts are encoded once per law and
// played as stored bytes.
//
// A Session is symmetric RTP: it sends to where the peer's packets really
// come from (latched on the first valid packet), which is what makes phones
// behind NAT work. Anything that is not valid RTP for the negotiated
// payload types is dropped and counted in Stats, never delivered.
//
// Sockets: a leg has a port of its own, or — after
// PortAllocator.ShareSockets — shares one of a few ports with other legs,
// which are told apart by the peer's address and SSRC (demux.go; the
// latching rules are the same). Each socket is read by one goroutine with
// batched receives (recvmmsg, package udpbatch) that decodes and calls the
// leg's receiver, so a Bridge relays with no goroutine or queue of its own
// and its packets leave in one sendmmsg per read.
//
// Time: one media clock — a pacing loop per CPU, each with a wheel of
// 1 ms slots — emits the due frames of every playing leg (prompts, music
// on hold, tones, DTMF, mixer output), all of a slot in one batch; there
// is no goroutine or timer per leg. Frame n of a leg is due exactly
// n × 20 ms after its first; how late frames leave is kept per leg
// (Stats.SendLate, SendJitter) and per process (PacingStats).
//
// Threading: senders (WriteFrame, Play, SendDTMF) may be called from any
// goroutine. Every blocking call takes a context and returns ctx.Err()
// itself when it is cancelled. Goroutines belong to the object that
// started them: a socket's reader runs while a leg uses it (Start …
// Close), a clock loop while it has something to pace, a Mixer ticks on
// the clock while Run runs.
package media
