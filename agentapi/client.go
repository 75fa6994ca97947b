package agentapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// client is one WebSocket connection. The reader (run) handles requests in
// order; the writer owns all writes. Everything sent goes through the
// bounded send queue, so the event fan-out never waits for a client.
type client struct {
	srv    *Server
	conn   *websocket.Conn
	remote string

	// The send queue: bounded, grown only as used. limit is SendQueue for
	// agents and WatcherSendQueue once a supervisor signs in (a seat map
	// of thousands of agents is a much busier stream).
	qmu   sync.Mutex
	queue [][]byte
	limit int
	wake  chan struct{} // cap 1: the writer has work

	mu   sync.Mutex
	sess *session

	stopOnce    sync.Once
	stop        chan struct{} // closed to ask the writer to close the connection
	closeCode   websocket.StatusCode
	closeReason string
	flush       bool

	// wctx bounds writes; cancelled when the client is dropped without a
	// flush so a write stuck on a full socket is abandoned at once.
	wctx    context.Context
	wcancel context.CancelFunc

	bad, failedLogins int
	// tokens and refilled are the request rate bucket (reader only).
	tokens   float64
	refilled time.Time
	authed   atomic.Bool // has held a session at some point
	// abuse, when set by a handler, closes the connection after its reply.
	abuse string
}

func newClient(s *Server, conn *websocket.Conn, remote string) *client {
	c := &client{srv: s, conn: conn, remote: remote, limit: s.cfg.SendQueue, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	c.wctx, c.wcancel = context.WithCancel(s.ctx)
	return c
}

func (c *client) session() *session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess
}

func (c *client) setSession(s *session) {
	c.mu.Lock()
	c.sess = s
	c.mu.Unlock()
	if s != nil {
		c.authed.Store(true)
	}
}

func (c *client) account() *account {
	if s := c.session(); s != nil {
		return s.acct
	}
	return nil
}

// enqueue queues a message without blocking; a full queue means the client
// is too slow and it is disconnected.
func (c *client) enqueue(msg []byte) bool {
	select {
	case <-c.stop:
		return false
	default:
	}
	c.qmu.Lock()
	if len(c.queue) >= c.limit {
		n := len(c.queue)
		c.qmu.Unlock()
		c.srv.log.Warn("agentapi: slow consumer disconnected", "remote", c.remote, "queued", n)
		c.shutdown(CloseSlowConsumer, "slow consumer: send queue full", false)
		return false
	}
	c.queue = append(c.queue, msg)
	c.qmu.Unlock()
	c.srv.metrics.events.Inc()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

// setLimit resizes the send queue bound (role change at login).
func (c *client) setLimit(n int) {
	c.qmu.Lock()
	c.limit = n
	c.qmu.Unlock()
}

// take hands the writer everything queued, reusing spare's storage.
func (c *client) take(spare [][]byte) [][]byte {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	out := c.queue
	c.queue = spare[:0]
	return out
}

// shutdown asks the writer to close the connection with code and reason;
// flush sends what is queued first. Only the first call counts.
func (c *client) shutdown(code websocket.StatusCode, reason string, flush bool) {
	c.stopOnce.Do(func() {
		c.closeCode, c.closeReason, c.flush = code, reason, flush
		if r := closeLabel(code); r != "" {
			c.srv.metrics.disconnects.WithLabelValues(r).Inc()
		}
		close(c.stop)
		if !flush && code != websocket.StatusNormalClosure {
			c.wcancel()
		}
	})
}

// run serves the connection until it closes. Leaving the seat and calls
// untouched when it ends is deliberate: a dropped desktop is not a
// dropped call.
func (c *client) run() {
	// Connections that never log in only hold a socket: close them.
	idle := time.AfterFunc(c.srv.cfg.LoginTimeout, func() {
		if !c.authed.Load() {
			c.shutdown(CloseAbuse, "no login", true)
		}
	})
	defer idle.Stop()
	readCtx, cancelRead := context.WithCancel(context.Background())
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		defer cancelRead()
		c.writeLoop()
	}()
	c.readLoop(readCtx)
	c.shutdown(websocket.StatusNormalClosure, "", false)
	<-writerDone
	if sess := c.session(); sess != nil {
		c.srv.sessions.detach(sess, c)
	}
	c.srv.forget(c)
}

func (c *client) writeLoop() {
	ping := time.NewTicker(c.srv.cfg.PingEvery)
	defer ping.Stop()
	defer c.wcancel()
	write := func(msg []byte, d time.Duration) error {
		ctx, cancel := context.WithTimeout(c.wctx, d)
		defer cancel()
		return c.conn.Write(ctx, websocket.MessageText, msg)
	}
	var batch [][]byte
	for {
		select {
		case <-c.wake:
			batch = c.take(batch)
			for i, msg := range batch {
				if err := write(msg, c.srv.cfg.WriteTimeout); err != nil {
					c.shutdown(CloseSlowConsumer, "write failed", false)
					_ = c.conn.CloseNow()
					return
				}
				batch[i] = nil // let the message go
			}
		case <-ping.C:
			ctx, cancel := context.WithTimeout(c.wctx, 15*time.Second)
			err := c.conn.Ping(ctx)
			cancel()
			if err != nil {
				c.shutdown(websocket.StatusGoingAway, "keep-alive failed", false)
				_ = c.conn.CloseNow()
				return
			}
		case <-c.stop:
			if c.flush {
				for _, msg := range c.take(nil) {
					if write(msg, time.Second) != nil {
						break
					}
				}
			}
			if c.closeCode == websocket.StatusNormalClosure && c.closeReason == "" {
				// The peer went away; nothing to say.
				_ = c.conn.CloseNow()
				return
			}
			if c.wctx.Err() != nil {
				_ = c.conn.CloseNow()
				return
			}
			_ = c.conn.Close(c.closeCode, c.closeReason)
			return
		}
	}
}

func (c *client) readLoop(ctx context.Context) {
	limit := c.srv.cfg.MaxFrame
	for {
		_, r, err := c.conn.Reader(ctx)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		n, err := io.Copy(&buf, io.LimitReader(r, limit+1))
		if err != nil {
			return
		}
		if n > limit {
			// Drain the rest so the connection stays usable; the hard
			// read limit bounds how much that can be.
			if _, err := io.Copy(io.Discard, r); err != nil {
				return
			}
			c.refuse("", errf(CodeTooLarge, "frame larger than %d bytes", limit))
			continue
		}
		c.handle(buf.Bytes())
	}
}

// refuse replies with an error and counts abuse.
func (c *client) refuse(id string, e *apiError) {
	c.srv.metrics.requests.WithLabelValues("unknown", e.Code).Inc()
	c.reply(reply{ID: id, Type: "reply", Error: e})
	c.bad++
	if c.bad >= c.srv.cfg.MaxBadRequests {
		c.shutdown(CloseAbuse, "too many bad requests", true)
	}
}

func (c *client) reply(r reply) {
	b, err := json.Marshal(r)
	if err != nil {
		c.srv.log.Error("agentapi: encode reply", "err", err)
		b, _ = json.Marshal(reply{ID: r.ID, Type: "reply", Error: errf(CodeInternal, "reply encoding failed")})
	}
	c.enqueue(b)
}

// handle decodes, authorises and runs one request and sends its reply.
func (c *client) handle(data []byte) {
	if !c.allow() {
		var probe struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(data, &probe)
		c.refuse(probe.ID, errf(CodeRateLimited, "more than %g requests per second", c.srv.cfg.RequestRate))
		return
	}
	var req request
	if err := json.Unmarshal(data, &req); err != nil {
		// Try to recover the id so the client can match the refusal.
		var probe struct {
			ID any `json:"id"`
		}
		_ = json.Unmarshal(data, &probe)
		id, _ := probe.ID.(string)
		c.refuse(id, errf(CodeBadRequest, "malformed request: %v", err))
		return
	}
	if req.ID == "" {
		c.refuse("", errf(CodeBadRequest, "missing id"))
		return
	}
	if req.Type == "" {
		c.refuse(req.ID, errf(CodeBadRequest, "missing type"))
		return
	}
	h, ok := handlers[req.Type]
	if x, ext := c.srv.cfg.Extensions[req.Type]; !ok && ext {
		h, ok = extensionHandler(x, data), true
	}
	if !ok {
		c.refuse(req.ID, errf(CodeUnknownType, "unknown request type %q", req.Type))
		return
	}
	c.bad = 0
	sess := c.session()
	if sess != nil && !c.srv.sessions.valid(sess) {
		// Logged out or taken over behind this connection's back.
		c.srv.unbind(c)
		sess = nil
	}
	var err error
	switch {
	case h.need == needNone:
	case sess == nil:
		err = errf(CodeUnauthenticated, "log in first")
	case h.need == needSeat && !sess.acct.hasSeat():
		err = errf(CodeForbidden, "%s accounts have no agent seat", sess.acct.Role)
	case h.need == needSupervisor && !sess.acct.supervisor():
		err = errf(CodeForbidden, "%q needs a supervisor or admin", req.Type)
	}
	if err == nil && asyncRequests[req.Type] {
		c.srv.wg.Add(1)
		go func() {
			defer c.srv.wg.Done()
			res, err := h.fn(c, sess, &req)
			c.finish(&req, res, err)
		}()
		return
	}
	var res *result
	if err == nil {
		res, err = h.fn(c, sess, &req)
	}
	if c.abuse != "" {
		defer c.shutdown(CloseAbuse, c.abuse, true)
	}
	c.finish(&req, res, err)
}

// asyncRequests are handled off the reader, their reply sent when done:
// a monitor waits for the supervisor's phone to answer, and when that
// phone is this very page (the browser phone) its answer comes on this
// connection, which must go on being read.
var asyncRequests = map[string]bool{"monitor": true}

// finish replies to req and counts it.
func (c *client) finish(req *request, res *result, err error) {
	if err != nil {
		ae := toAPIError(err)
		c.srv.metrics.requests.WithLabelValues(requestType(req.Type), ae.Code).Inc()
		if ae.Code == CodeInternal {
			c.srv.log.Error("agentapi: request failed", "type", req.Type, "remote", c.remote, "err", err)
		}
		c.reply(reply{ID: req.ID, Type: "reply", Error: ae})
		return
	}
	c.srv.metrics.requests.WithLabelValues(requestType(req.Type), "ok").Inc()
	c.reply(reply{ID: req.ID, Type: "reply", OK: true, result: res})
}

// closeLabel names server-initiated closes for the disconnect metric.
func closeLabel(code websocket.StatusCode) string {
	switch code {
	case CloseTakenOver:
		return "taken_over"
	case CloseSlowConsumer:
		return "slow_consumer"
	case CloseAbuse:
		return "abuse"
	case websocket.StatusGoingAway:
		return "going_away"
	}
	return ""
}

// allow takes a token from the request bucket.
func (c *client) allow() bool {
	now := time.Now()
	rate := c.srv.cfg.RequestRate
	burst := max(1, 5*rate)
	if c.refilled.IsZero() {
		c.tokens = burst
	} else {
		c.tokens = min(burst, c.tokens+now.Sub(c.refilled).Seconds()*rate)
	}
	c.refilled = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

// failedLogin counts a bad password; repeated ones close the connection.
func (c *client) failedLogin() {
	c.failedLogins++
	if c.failedLogins >= 5 {
		c.abuse = "too many failed logins"
	}
}
