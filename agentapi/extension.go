package agentapi

import (
	"context"
	"encoding/json"
)

// Extension is a request type the engine adds to the protocol (e.g. the
// outbound campaigns' campaign.dial or campaign.start): the server checks
// the session and the role, the engine does the rest. Its result is the
// reply's "data".
type Extension struct {
	// Supervisor: only supervisors and admins; otherwise an agent seat.
	Supervisor bool
	// Any: every signed-in role, seat or not (the browser phone serves
	// supervisors without skills too).
	Any bool
	Fn  func(ctx context.Context, who Caller, body json.RawMessage) (any, error)
}

// Caller is who sent an extension request.
type Caller struct {
	ID         string
	Supervisor bool
	// Push sends an event to the connection the request came on, and to
	// it alone (the browser phone's offers); false once it is closed.
	Push func(Event) bool
	// Gone is closed when that connection closes; it also tells two
	// connections apart.
	Gone <-chan struct{}
}

// extensionHandler wraps an extension as a built-in handler.
func extensionHandler(x Extension, body []byte) handler {
	h := handler{need: needSeat}
	switch {
	case x.Any:
		h.need = needSession
	case x.Supervisor:
		h.need = needSupervisor
	}
	h.fn = func(c *client, sess *session, _ *request) (*result, error) {
		who := Caller{ID: sess.acct.ID, Supervisor: sess.acct.supervisor(), Gone: c.stop, Push: func(ev Event) bool {
			ev.Type = "event"
			if ev.At.IsZero() {
				ev.At = c.srv.now()
			}
			msg, err := json.Marshal(ev)
			if err != nil {
				c.srv.log.Error("agentapi: encode extension event", "event", ev.Event, "err", err)
				return false
			}
			return c.enqueue(msg)
		}}
		data, err := x.Fn(context.Background(), who, json.RawMessage(body))
		if err != nil {
			return nil, err
		}
		return &result{Data: data}, nil
	}
	return h
}
