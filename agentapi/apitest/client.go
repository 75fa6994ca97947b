// Package apitest is a small client of the agent API (protocol v1) for
// end-to-end tests and load tools: dial, log in, send requests and wait for
// events. It plays a desktop; it is not used by the engine itself.
package apitest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"

	"github.com/hotlinecc/hotline/agentapi"
)

// Reply is the answer to one request.
type Reply struct {
	ID    string `json:"id"`
	OK    bool   `json:"ok"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	// Raw is the whole reply, for Decode.
	Raw json.RawMessage `json:"-"`
}

// Decode unmarshals the reply's result fields (token, seat, calls, ...)
// into v.
func (r Reply) Decode(v any) error { return json.Unmarshal(r.Raw, v) }

// Code is the error code, "" when OK.
func (r Reply) Code() string {
	if r.Error == nil {
		return ""
	}
	return r.Error.Code
}

// RefusedError is a reply with ok=false, as an error.
type RefusedError struct {
	Type, Code, Message string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s refused: %s: %s", e.Type, e.Code, e.Message)
}

// Client is one desktop connection.
type Client struct {
	conn    *websocket.Conn
	seq     atomic.Int64
	mu      sync.Mutex
	waiting map[string]chan Reply
	events  chan agentapi.Event
	done    chan struct{}
	err     error // why the connection ended, once done is closed
}

// Dial connects to the API. url may be the engine's base URL
// ("http://127.0.0.1:8080") or the WebSocket URL itself.
func Dial(ctx context.Context, url string) (*Client, error) { return DialWith(ctx, url, nil) }

// DialWith is Dial with WebSocket options (an HTTP client with a chosen
// source address or trusted CA, for instance).
func DialWith(ctx context.Context, url string, opts *websocket.DialOptions) (*Client, error) {
	switch {
	case strings.HasPrefix(url, "http://"):
		url = "ws://" + strings.TrimPrefix(url, "http://")
	case strings.HasPrefix(url, "https://"):
		url = "wss://" + strings.TrimPrefix(url, "https://")
	}
	if !strings.HasSuffix(url, "/ws") {
		url = strings.TrimSuffix(url, "/") + "/ws"
	}
	conn, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		return nil, fmt.Errorf("agent api dial %s: %w", url, err)
	}
	conn.SetReadLimit(1 << 24) // supervisor snapshots list every seat
	c := &Client{conn: conn, waiting: map[string]chan Reply{}, events: make(chan agentapi.Event, 4096), done: make(chan struct{})}
	go c.read()
	return c, nil
}

func (c *Client) read() {
	defer close(c.done)
	for {
		_, b, err := c.conn.Read(context.Background())
		if err != nil {
			c.err = err
			return
		}
		var head struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		}
		if json.Unmarshal(b, &head) != nil {
			continue
		}
		switch head.Type {
		case "reply":
			var r Reply
			_ = json.Unmarshal(b, &r)
			r.Raw = b
			c.mu.Lock()
			ch := c.waiting[head.ID]
			delete(c.waiting, head.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- r
			}
		case "event":
			var ev agentapi.Event
			if json.Unmarshal(b, &ev) == nil {
				select {
				case c.events <- ev:
				default: // a test that ignores events must not stall replies
				}
			}
		}
	}
}

// Do sends a request with the given fields and waits for its reply. A
// refusal is returned as the reply, not as an error; errors are transport
// failures.
func (c *Client) Do(ctx context.Context, typ string, fields map[string]any) (Reply, error) {
	id := fmt.Sprint(c.seq.Add(1))
	req := map[string]any{}
	for k, v := range fields {
		req[k] = v
	}
	req["id"], req["type"] = id, typ
	b, err := json.Marshal(req)
	if err != nil {
		return Reply{}, fmt.Errorf("%s: %w", typ, err)
	}
	ch := make(chan Reply, 1)
	c.mu.Lock()
	c.waiting[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiting, id)
		c.mu.Unlock()
	}()
	if err := c.conn.Write(ctx, websocket.MessageText, b); err != nil {
		return Reply{}, fmt.Errorf("%s: %w", typ, err)
	}
	select {
	case r := <-ch:
		return r, nil
	case <-c.done:
		return Reply{}, fmt.Errorf("%s: connection closed: %w", typ, c.err)
	case <-ctx.Done():
		return Reply{}, fmt.Errorf("%s: %w", typ, ctx.Err())
	}
}

// Must is Do that turns a refusal into a *RefusedError.
func (c *Client) Must(ctx context.Context, typ string, fields map[string]any) (Reply, error) {
	r, err := c.Do(ctx, typ, fields)
	if err != nil {
		return r, err
	}
	if !r.OK {
		return r, &RefusedError{Type: typ, Code: r.Code(), Message: r.Error.Message}
	}
	return r, nil
}

// Login signs in; extension may be "".
func (c *Client) Login(ctx context.Context, agent, password, extension string) (Reply, error) {
	f := map[string]any{"agent": agent, "password": password}
	if extension != "" {
		f["extension"] = extension
	}
	return c.Must(ctx, "login", f)
}

// WaitEvent returns the next event matching match, discarding others.
func (c *Client) WaitEvent(ctx context.Context, match func(agentapi.Event) bool) (agentapi.Event, error) {
	for {
		select {
		case ev := <-c.events:
			if match(ev) {
				return ev, nil
			}
		case <-c.done:
			// Events read before the close still count.
			select {
			case ev := <-c.events:
				if match(ev) {
					return ev, nil
				}
				continue
			default:
			}
			return agentapi.Event{}, fmt.Errorf("waiting for event: connection closed: %w", c.err)
		case <-ctx.Done():
			return agentapi.Event{}, fmt.Errorf("waiting for event: %w", ctx.Err())
		}
	}
}

// Is matches events by name and, optionally, agent and call id ("" = any).
func Is(event, agent, callID string) func(agentapi.Event) bool {
	return func(e agentapi.Event) bool {
		return e.Event == event && (agent == "" || e.Agent == agent) && (callID == "" || e.CallID == callID)
	}
}

// Closed is done once the server closed the connection; CloseStatus then
// tells why (e.g. agentapi.CloseTakenOver).
func (c *Client) Closed() <-chan struct{} { return c.done }

// CloseStatus is the server's close code after Closed, or -1.
func (c *Client) CloseStatus() websocket.StatusCode {
	select {
	case <-c.done:
		return websocket.CloseStatus(c.err)
	default:
		return -1
	}
}

// Close ends the connection (the seat and calls stay as they are).
func (c *Client) Close() error {
	err := c.conn.Close(websocket.StatusNormalClosure, "")
	<-c.done
	if err != nil && !errors.Is(err, context.Canceled) && websocket.CloseStatus(err) == -1 {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}
