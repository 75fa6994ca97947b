// Package media carries a call's audio: RTP sessions (one per leg) on ports
// from a configurable range, G.711 µ-law/A-law coding, RFC 4733
// telephone-events, paced prompt playback, the two-leg bridge that anchors
// caller↔agent audio in the engine, and the mixer behind conference, barge,
// whisper and listen.
//
// Audio inside the engine is 8 kHz mono linear PCM in frames of
// FrameSamples (20 ms); codecs only appear at the RTP edge, so a PCMU caller
// can be bridged to a PCMA agent.
//
// A Session is symmetric RTP: it sends to where the peer's packets really
// come from (latched on the first valid packet), which is what makes phones
// behind NAT work. Anything that is not valid RTP for the negotiated
// payload types is dropped and counted in Stats, never delivered.
//
// Threading: each Session has one receive goroutine (Start … Close) that
// decodes and calls the installed receiver, so a Bridge relays with no
// extra goroutine or queue. Senders (WriteFrame, Play, SendDTMF) may be
// called from any goroutine. Every blocking call takes a context and
// returns ctx.Err() itself when it is cancelled. Goroutines belong to the
// object that started them: a Session's receive loop is stopped by Close,
// a Bridge's music on hold by Unhold/Close, a Mixer's clock by the context
// given to Run.
package media
