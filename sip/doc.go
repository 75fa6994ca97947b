// Package sip is Hotline's signalling layer: UDP and TCP listeners, the
// registrar for agent and supervisor phones (digest authentication), trunk
// admission, and call legs — a SIP dialog paired with the RTP session that
// carries its audio through the engine.
//
// It is built on github.com/emiago/sipgo for parsing, transactions and
// dialogs, and on package media for RTP. It knows nothing of queues, flows or
// agents: a Handler decides what a call is for, and the rest of the engine
// drives legs through their methods.
package sip
