// Package agentapi is the agent and supervisor API of the call centre: one
// WebSocket endpoint speaking JSON (protocol v1, see PROTOCOL.md) through
// which agent desktops sign in, change state and control their calls, and
// supervisors watch queues and seats, monitor calls and force agent states.
// It also serves the embedded desktop and wallboard page.
//
// The package drives the ACD (package acd) for agent states and consumes the
// engine's call control through the CallControl interface defined here; it
// never touches SIP or media itself. Events reach clients from the ACD's bus
// through one subscription owned by Server.Run, fanned out to per-client
// bounded send queues: a slow desktop is disconnected, never waited for.
//
// Sessions outlive connections: a dropped WebSocket leaves the agent's seat
// and calls exactly as they were, and the desktop resumes with its token.
// A second login of the same agent takes the seat over and closes the
// older connection (status 4001). Package apitest is a client for tests.
package agentapi
