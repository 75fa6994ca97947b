// Package webrtc makes a browser an agent's or a supervisor's phone: the
// engine is an ICE-lite WebRTC endpoint (pion/webrtc) on its media
// address, with DTLS-SRTP, G.711 only (PCMU/PCMA: every browser has both,
// so nothing is transcoded) and RFC 4733 telephone-event. Offers and
// answers travel over the desktop's WebSocket (the engine wires them as
// agentapi extensions); this package only sees Pages and Signals.
//
// The seam with the rest of the engine is the leg: Dial returns an
// answered *sip.Leg (sip.Server.NewExternalLeg) whose Media is an
// ordinary media.Session, so call control bridges, mixes, records, plays
// music to and watches it like any SIP leg. Between that session and the
// browser's tracks sits a relay: one loopback-style UDP socket per leg on
// the media address, from which the session's RTP goes out on the
// browser's SRTP track and to which the browser's decrypted RTP is
// written. It costs two extra datagrams per packet, on the same host, and
// keeps the media package (its clock, pacing and demultiplexing) unaware
// of WebRTC.
//
// A browser leg belongs to the page that answered it. If that page goes
// (its WebSocket closes: reload, tab closed) or its peer connection
// fails (ICE lost), the leg is detached: the call and the bridge stay, the
// caller hears silence, and for Config.Grace the agent's next page to
// register re-attaches it (a new offer marked reattach, which the page
// answers by itself). After the grace the leg ends as a phone that
// vanished: call control sees the agent hang up. The states and their
// transitions are in leg_fsm.go.
package webrtc
