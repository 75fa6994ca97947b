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
	Fn         func(ctx context.Context, who Caller, body json.RawMessage) (any, error)
}

// Caller is who sent an extension request.
type Caller struct {
	ID         string
	Supervisor bool
}

// extensionHandler wraps an extension as a built-in handler.
func extensionHandler(x Extension, body []byte) handler {
	h := handler{need: needSeat}
	if x.Supervisor {
		h.need = needSupervisor
	}
	h.fn = func(c *client, sess *session, _ *request) (*result, error) {
		data, err := x.Fn(context.Background(), Caller{ID: sess.acct.ID, Supervisor: sess.acct.supervisor()}, json.RawMessage(body))
		if err != nil {
			return nil, err
		}
		return &result{Data: data}, nil
	}
	return h
}
