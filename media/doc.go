// Package media carries a call's audio: RTP sessions (one per leg) on ports
// from a configurable range, G.711 µ-law/A-law coding, RFC 4733
// telephone-events, paced prompt playback, the two-leg bridge that anchors
// caller↔agent audio in the engine, and the mixer behind conference, barge,
// whisper and listen.
//
// Every blocking call takes a context and returns ctx.Err() when it is
// cancelled. Goroutines belong to the object that started them (a Session's
// receive loop is stopped by Close, a Bridge's music on hold by Unhold/Close,
// a Mixer's ticker by the context passed to Run).
//
// Audio inside the engine is 8 kHz mono linear PCM in frames of
// FrameSamples (20 ms); codecs only appear at the RTP edge.
package media
