package agentapi

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/routing"
)

//go:embed web
var webFS embed.FS

// Config configures the API server.
type Config struct {
	ACD *acd.ACD
	// Extensions are request types the engine adds (extension.go).
	Extensions map[string]Extension
	// Calls is the engine's call control; nil refuses every call
	// operation as unsupported (agent states still work). See
	// CallControlFuncs for wiring it piecewise.
	Calls    CallControl
	Accounts []Account
	// Auditor records supervisor actions; default SlogAuditor on Logger.
	Auditor Auditor
	// StatsEvery is the queue statistics push interval; default 2 s,
	// negative disables the push (list_queues still works).
	StatsEvery time.Duration
	// AllowedOrigins are extra browser origins (host patterns as in
	// path.Match, e.g. "wallboard.example.com") besides the request's own
	// host. Clients that send no Origin (non-browsers) are always let in.
	AllowedOrigins []string
	Logger         *slog.Logger
	// Queues names the queues shown in statistics even while empty;
	// queues seen on calls and agent skills are added.
	Queues []string
	// BreakReasons and NotReadyReasons are the reason codes the desktop
	// offers; the ACD enforces break reasons.
	BreakReasons    []string
	NotReadyReasons []string
	// DispositionCodes, if set, are the only wrap-up codes accepted.
	DispositionCodes []string
	// QueueCodes are the wrap-up codes per queue: after a call of a queue
	// listed here only its codes are accepted (desk.go).
	QueueCodes map[string][]string
	// BreakLimits are the break reasons' time limits, shown to the agent
	// as time left.
	BreakLimits map[string]time.Duration
	// CustomerAttributes are the CRM attributes (attr_<name> call
	// variables) the customer card shows, in order.
	CustomerAttributes []string
	// History, if set, answers customer_history with the caller's earlier
	// calls; HistorySize of them (default 5).
	History     CallHistory
	HistorySize int
	// Window is the service-level window over which the live answer
	// speed (ASA) is averaged (default 60 m, as the router's).
	Window time.Duration
	// Languages are the agents' desktop languages (agent → "en", "zh-CN");
	// the page falls back to the user's own choice, then the browser's.
	Languages map[string]string
	// MaxFrame is the largest request accepted (default 64 KiB). Larger
	// frames get a too_large reply and the connection stays; frames over
	// 16 × MaxFrame close it (status 1009).
	MaxFrame int64
	// SendQueue bounds each agent connection's outgoing queue (default 256
	// messages); WatcherSendQueue bounds supervisor and admin connections
	// (default 8192), which carry every seat's events. A client that lets
	// its queue fill up is disconnected as a slow consumer.
	SendQueue        int
	WatcherSendQueue int
	// SessionTTL is how long a token survives without a connection
	// (default 12 h).
	SessionTTL time.Duration
	// CallTimeout bounds each CallControl operation (default 10 s).
	CallTimeout time.Duration
	// MaxBadRequests consecutive malformed or unknown requests, or failed
	// logins, close the connection (default 10).
	MaxBadRequests int
	// WriteTimeout drops a client whose socket accepts no data for this
	// long (default 10 s).
	WriteTimeout time.Duration
	// RequestRate is the sustained requests per second one connection may
	// send (default 20; bursts of 5 × that are allowed). Requests beyond
	// it get rate_limited.
	RequestRate float64
	// LoginTimeout closes a connection that has not logged in (or resumed)
	// this long after opening (default 60 s; status 4003).
	LoginTimeout time.Duration
	// PingEvery is the WebSocket keep-alive interval (default 30 s).
	PingEvery time.Duration
	Now       func() time.Time
	// BusBuffer is the ACD bus subscription's buffer (default 8192): bursts
	// (a shift signing in at once) are absorbed here, not in the ACD.
	BusBuffer int
	// Metrics, if set, gets the API's Prometheus metrics
	// (hotline_agentapi_*).
	Metrics prometheus.Registerer

	// SessionKey signs session tokens so that they survive a restart
	// (tokens.go); empty: a random key, tokens die with the process.
	SessionKey []byte
	// SessionMaxAge bounds a token's life across restarts (default 30 days).
	SessionMaxAge time.Duration
	// SessionState, if set, is the file that keeps token revocations
	// (logouts, replaced logins) across restarts.
	SessionState string
	// Guard, if set, counts failed logins (and resumes with bad tokens) per
	// source address and agent id, shared with the engine's other
	// surfaces: a banned source gets 429 on /ws and its logins refused.
	Guard LoginGuard
	// PasswordCost is the bcrypt cost for passwords given in clear
	// (default bcrypt.DefaultCost; tests with thousands of accounts lower it).
	PasswordCost int
}

// LoginGuard is the engine's brute-force guard as the API sees it.
type LoginGuard interface {
	Allowed(src netip.Addr, user string) bool
	Banned(src netip.Addr) bool
	Fail(surface string, src netip.Addr, user string) bool
	Succeed(src netip.Addr, user string)
}

// SurfaceWSLogin names the WebSocket login in the guard's counters.
const SurfaceWSLogin = "ws_login"

// WebSocket close codes the server uses besides the standard ones.
const (
	// CloseTakenOver: the agent logged in (or resumed) elsewhere.
	CloseTakenOver websocket.StatusCode = 4001
	// CloseSlowConsumer: the client did not read its events fast enough.
	CloseSlowConsumer websocket.StatusCode = 4002
	// CloseAbuse: too many malformed requests or failed logins.
	CloseAbuse websocket.StatusCode = 4003
)

// Server is the agent API: WebSocket endpoint, event fan-out and the
// embedded desktop.
type Server struct {
	cfg      Config
	acd      *acd.ACD
	calls    CallControl
	audit    Auditor
	log      *slog.Logger
	accounts map[string]*account
	live     reloadable // reload.go: accounts and lists after a reload
	sessions *sessions
	tokens   *tokens // tokens.go
	now      func() time.Time
	mux      *http.ServeMux

	// ctx bounds call operations and connections; cancelled by Close.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // connections and background call operations

	mu       sync.RWMutex
	closed   bool
	clients  map[*client]struct{}
	byAgent  map[string]map[*client]struct{} // connections whose session is agent X
	watchers map[*client]struct{}            // supervisor and admin connections
	// lastCall is each agent's last connected call, for the wrap-up code.
	lastCall map[string]string
	// internal calls this API started, cut when their queues get callers.
	internal map[string]internalCall

	metrics *metrics
	desk    *desk
	runOnce sync.Once
	// sub is taken in New so that no event between New and Run is lost.
	sub *acd.Subscription
}

type internalCall struct {
	from, to string
	queues   map[string]bool
}

// New validates the configuration and builds a server. Call Run to start
// event delivery and Handler to serve clients.
func New(cfg Config) (*Server, error) {
	if cfg.ACD == nil {
		return nil, errors.New("agentapi: Config.ACD is required")
	}
	if cfg.Calls == nil {
		cfg.Calls = noCalls{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Auditor == nil {
		cfg.Auditor = SlogAuditor{Logger: cfg.Logger}
	}
	if cfg.StatsEvery == 0 {
		cfg.StatsEvery = 2 * time.Second
	}
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = 64 << 10
	}
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = 256
	}
	if cfg.WatcherSendQueue <= 0 {
		cfg.WatcherSendQueue = 8192
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	if cfg.MaxBadRequests <= 0 {
		cfg.MaxBadRequests = 10
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.BusBuffer <= 0 {
		cfg.BusBuffer = 8192
	}
	if cfg.RequestRate <= 0 {
		cfg.RequestRate = 20
	}
	if cfg.LoginTimeout <= 0 {
		cfg.LoginTimeout = time.Minute
	}
	if cfg.PingEvery <= 0 {
		cfg.PingEvery = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PasswordCost == 0 {
		cfg.PasswordCost = bcrypt.DefaultCost
	}
	s := &Server{
		cfg: cfg, acd: cfg.ACD, calls: cfg.Calls, audit: cfg.Auditor, log: cfg.Logger, now: cfg.Now,
		accounts: map[string]*account{},
		clients:  map[*client]struct{}{}, byAgent: map[string]map[*client]struct{}{}, watchers: map[*client]struct{}{},
		lastCall: map[string]string{}, internal: map[string]internalCall{}, desk: newDesk(cfg.Window),
	}
	for _, a := range cfg.Accounts {
		acc, err := newAccount(a, cfg.PasswordCost)
		if err != nil {
			return nil, fmt.Errorf("agentapi: %w", err)
		}
		if s.accounts[acc.ID] != nil {
			return nil, fmt.Errorf("agentapi: duplicate account %q", acc.ID)
		}
		s.accounts[acc.ID] = acc
	}
	s.sessions = newSessions(cfg.SessionTTL, cfg.Now)
	tk, err := newTokens(cfg.SessionKey, cfg.SessionMaxAge, cfg.SessionState)
	if tk == nil {
		return nil, err
	}
	if err != nil {
		cfg.Logger.Warn("agentapi: session revocations not restored", "err", err)
	}
	s.tokens, s.sessions.mint = tk, s.mintToken
	m, err := newMetrics(s, cfg.Metrics)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	s.ctx, s.cancel = context.WithCancel(context.Background())

	sub, err := fs.Sub(webFS, "web")
	if err != nil {
		return nil, fmt.Errorf("agentapi: embedded page: %w", err)
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /ws", s.serveWS)
	files := http.FileServerFS(sub)
	s.mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		// The page loads only its own script and style and talks only to
		// this host: an injected value can never run as code.
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
	s.sub = cfg.ACD.Bus().Subscribe("agentapi", cfg.BusBuffer)
	return s, nil
}

// Handler serves the WebSocket at /ws and the desktop page at / (with its
// assets). Mount it at the root of the engine's HTTP server.
func (s *Server) Handler() http.Handler { return s.mux }

// Authenticate tells other HTTP endpoints of the engine (recordings, reports)
// who holds a session token, so a desktop uses one sign-in for all of them.
func (s *Server) Authenticate(token string) (id string, role Role, ok bool) {
	if token == "" {
		return "", "", false
	}
	a, ok := s.sessions.lookup(token)
	if !ok {
		return "", "", false
	}
	return a.ID, a.Role, true
}

// HasDesktop reports whether an agent holds a desktop session (connected,
// or disconnected for less than the session TTL): the phone-presence rules
// never sign such an agent out.
func (s *Server) HasDesktop(agentID string) bool {
	s.sessions.mu.Lock()
	defer s.sessions.mu.Unlock()
	sess := s.sessions.byAgent[agentID]
	return sess != nil && !s.now().After(sess.expires)
}

// Run delivers ACD events and queue statistics to clients until ctx is
// done (it returns ctx.Err()) or Close is called (nil). It owns the bus
// subscription and expires disconnected sessions.
func (s *Server) Run(ctx context.Context) error {
	started := false
	s.runOnce.Do(func() { started = true })
	if !started {
		return errors.New("agentapi: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.ctx.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	var stats <-chan time.Time
	if s.cfg.StatsEvery > 0 {
		t := time.NewTicker(s.cfg.StatsEvery)
		defer t.Stop()
		stats = t.C
	}
	// Housekeeping runs whether or not statistics are pushed.
	janitor := time.NewTicker(time.Minute)
	defer janitor.Stop()
	sub := s.sub
	defer func() { sub.Close() }()
	for {
		select {
		case <-ctx.Done():
			if s.ctx.Err() != nil {
				return nil
			}
			return ctx.Err()
		case e, ok := <-sub.C:
			if !ok {
				if s.ctx.Err() != nil {
					return nil // Close
				}
				// The bus dropped us for being slow: resubscribe and give
				// every desktop a fresh snapshot of what it may have missed.
				s.log.Warn("agentapi: bus subscription dropped; resynchronising clients")
				sub = s.acd.Bus().Subscribe("agentapi", s.cfg.BusBuffer)
				s.resync()
				continue
			}
			s.dispatch(e)
		case <-stats:
			s.pushStats()
		case <-janitor.C:
			s.sessions.expire()
			s.pruneInternal()
		case <-s.tokens.kick:
			if err := s.tokens.save(s.now()); err != nil {
				s.log.Warn("agentapi: session revocations not saved", "err", err)
			}
		}
	}
}

// Close disconnects every client (status 1001) and waits for their
// goroutines (a few seconds at most for peers that do not answer).
// Sessions, seats and calls are left as they are. The engine calls it on
// shutdown, after or instead of cancelling Run's context.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	cl := make([]*client, 0, len(s.clients))
	for c := range s.clients {
		cl = append(cl, c)
	}
	s.mu.Unlock()
	// Say goodbye (1001) first; give peers a moment to answer the close
	// handshake, then cut whatever is left.
	for _, c := range cl {
		c.shutdown(websocket.StatusGoingAway, "server shutting down", true)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	t := time.NewTimer(2 * time.Second)
	select {
	case <-done:
	case <-t.C:
	}
	t.Stop()
	s.cancel()
	s.sub.Close()
	<-done
	if err := s.tokens.save(s.now()); err != nil {
		s.log.Warn("agentapi: session revocations not saved", "err", err)
	}
	return nil
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	if g := s.cfg.Guard; g != nil {
		if src, ok := remoteIP(r.RemoteAddr); ok && g.Banned(src) {
			http.Error(w, "too many failed logins from this address; try again later", http.StatusTooManyRequests)
			return
		}
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: s.cfg.AllowedOrigins})
	if err != nil {
		// Accept has written the refusal (403 for a foreign origin).
		s.log.Info("agentapi: websocket refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "err", err)
		return
	}
	hard := s.cfg.MaxFrame * 16
	if hard < 1<<20 {
		hard = 1 << 20
	}
	conn.SetReadLimit(hard)
	c := newClient(s, conn, r.RemoteAddr)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = conn.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	s.clients[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	c.run()
}

// bind attaches a connection to a session for event delivery.
func (s *Server) bind(c *client, sess *session) {
	if prev := c.session(); prev != nil && prev != sess {
		// A new login on the same connection: the previous session is now
		// disconnected (it can still be resumed until it expires).
		s.sessions.detach(prev, c)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unbindLocked(c)
	c.setSession(sess)
	if sess.acct.supervisor() {
		s.watchers[c] = struct{}{}
		c.setLimit(s.cfg.WatcherSendQueue)
	} else {
		c.setLimit(s.cfg.SendQueue)
	}
	if sess.acct.hasSeat() {
		m := s.byAgent[sess.acct.ID]
		if m == nil {
			m = map[*client]struct{}{}
			s.byAgent[sess.acct.ID] = m
		}
		m[c] = struct{}{}
	}
}

func (s *Server) unbind(c *client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unbindLocked(c)
	c.setSession(nil)
}

func (s *Server) unbindLocked(c *client) {
	sess := c.session()
	if sess == nil {
		return
	}
	delete(s.watchers, c)
	if m := s.byAgent[sess.acct.ID]; m != nil {
		delete(m, c)
		if len(m) == 0 {
			delete(s.byAgent, sess.acct.ID)
		}
	}
}

func (s *Server) forget(c *client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unbindLocked(c)
	delete(s.clients, c)
}

// profileOf is the agent's live ACD profile, else its configured one.
func (s *Server) profileOf(agentID string) (*acd.AgentProfile, bool) {
	if snap, err := s.acd.Agent(agentID); err == nil {
		p := snap.Profile
		return &p, true
	}
	if a := s.account(agentID); a != nil && a.hasSeat() {
		p := a.Profile
		return &p, true
	}
	return nil, false
}

// staticProfile is what scope checks on the fan-out path use: configured
// profiles only, so no ACD lock is taken per recipient.
func (s *Server) staticProfile(agentID string) *acd.AgentProfile {
	if a := s.account(agentID); a != nil {
		return &a.Profile
	}
	return nil
}

// deliver sends one encoded event to an agent's connections and to the
// supervisors who watch that agent or queue. Never blocks.
func (s *Server) deliver(agentID, queue string, msg []byte) {
	var prof *acd.AgentProfile
	if agentID != "" {
		prof = s.staticProfile(agentID)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if agentID != "" {
		for c := range s.byAgent[agentID] {
			c.enqueue(msg)
		}
	}
	for c := range s.watchers {
		acct := c.account()
		if acct == nil || (agentID != "" && acct.ID == agentID) {
			continue // not signed in, or already served as the agent
		}
		if (agentID != "" && acct.watchesAgent(prof)) || (queue != "" && acct.watchesQueue(queue)) ||
			(agentID == "" && queue == "" && acct.all) {
			c.enqueue(msg)
		}
	}
}

// Publish pushes an engine event (call.transferred, call.muted, ...) to the
// agent it concerns and the supervisors watching. Never blocks.
func (s *Server) Publish(ev Event) {
	ev.Type = "event"
	if ev.At.IsZero() {
		ev.At = s.now()
	}
	msg, err := json.Marshal(ev)
	if err != nil {
		s.log.Error("agentapi: encode engine event", "event", ev.Event, "err", err)
		return
	}
	s.deliver(ev.Agent, ev.Queue, msg)
}

// dispatch turns one ACD event into a wire event and fans it out.
func (s *Server) dispatch(e acd.Event) {
	ev := Event{Type: "event", Event: string(e.Type), Seq: e.Seq, At: e.At, Agent: e.AgentID, CallID: e.CallID,
		Caller: e.Caller, Queue: e.Queue, Tier: e.Tier, State: string(e.State), Prev: string(e.Prev), Reason: e.Reason,
		WaitMS: e.Wait.Milliseconds()}
	switch e.Type {
	case acd.EventSubscriberSlow:
		return
	case acd.EventAgentState:
		// A wrap-up deadline is only in the snapshot; take it when the
		// snapshot still shows the state this event announces.
		if e.State == acd.WrapUp {
			if snap, err := s.acd.Agent(e.AgentID); err == nil && snap.State == e.State {
				v := seatView(snap, s.nameOf(e.AgentID))
				ev.Seat = &v
			}
		}
	case acd.EventCallOffered:
		if v, ok := s.callView(e.CallID); ok {
			ev.Call = &v
		}
	case acd.EventCallAnswered:
		s.mu.Lock()
		s.lastCall[e.AgentID] = e.CallID
		s.mu.Unlock()
		s.desk.observe(e)
	case acd.EventCallQueued:
		s.cutInternal(e.Queue)
	}
	msg, err := json.Marshal(ev)
	if err != nil {
		s.log.Error("agentapi: encode event", "event", e.Type, "err", err)
		return
	}
	s.deliver(e.AgentID, e.Queue, msg)
	s.metrics.delay.Observe(s.now().Sub(e.At).Seconds())
}

func (s *Server) nameOf(id string) string {
	if a := s.account(id); a != nil {
		return a.Name
	}
	return ""
}

// callView is one call's merged ACD + engine view. It looks the call up
// by id (ACD.Call, CallFinder) rather than listing every call: it runs
// for every offer, and a snapshot of thousands of calls per offer made
// the event path cost grow with the square of the traffic.
func (s *Server) callView(callID string) (CallView, bool) {
	var v CallView
	found := false
	if c, ok := s.acd.Call(callID); ok {
		v, found = callViewACD(c, s.now()), true
	}
	if f, ok := s.calls.(CallFinder); ok {
		if ci, ok := f.Call(callID); ok {
			v.merge(ci)
			found = true
		}
		return v, found
	}
	for _, ci := range s.calls.Calls() {
		if ci.ID == callID {
			v.merge(ci)
			found = true
			break
		}
	}
	return v, found
}

// allCalls merges the ACD's calls with the engine's, by id.
func (s *Server) allCalls() []CallView {
	now := s.now()
	var out []CallView
	idx := map[string]int{}
	for _, c := range s.acd.Calls() {
		idx[c.Call.ID] = len(out)
		out = append(out, callViewACD(c, now))
	}
	for _, ci := range s.calls.Calls() {
		if i, ok := idx[ci.ID]; ok {
			out[i].merge(ci)
			continue
		}
		var v CallView
		v.merge(ci)
		if !ci.Started.IsZero() {
			v.WaitMS = now.Sub(ci.Started).Milliseconds()
		}
		out = append(out, v)
	}
	return out
}

// agentCalls are the calls of one agent.
func (s *Server) agentCalls(agentID string) []CallView {
	var out []CallView
	for _, v := range s.allCalls() {
		if v.Agent == agentID {
			out = append(out, v)
		}
	}
	return out
}

// stats computes queue statistics; withCallers adds the waiting callers.
func (s *Server) stats(acct *account, withCallers bool) *QueueStats {
	return s.statsOf(s.floor(), acct, withCallers)
}

// floor is one reading of the ACD, shared by every view built in a tick.
type floor struct {
	now    time.Time
	agents []acd.AgentSnapshot
	calls  []acd.CallSnapshot
	sls    []routing.ServiceLevel // per tier, then per queue and tier
	// skills and keys (groups + skills) per agent, flattened once so that
	// each supervisor scope is a plain slice scan.
	skills, keys [][]string
}

func (s *Server) floor() *floor {
	f := &floor{now: s.now(), agents: s.acd.Agents(), calls: s.acd.Calls(), sls: append(s.acd.ServiceLevels(), s.acd.QueueServiceLevels()...)}
	f.skills = make([][]string, len(f.agents))
	f.keys = make([][]string, len(f.agents))
	for i := range f.agents {
		p := &f.agents[i].Profile
		keys := make([]string, 0, len(p.Groups)+len(p.Skills))
		keys = append(keys, p.Groups...)
		for q := range p.Skills {
			keys = append(keys, q)
		}
		f.keys[i], f.skills[i] = keys, keys[len(p.Groups):]
	}
	return f
}

// watchesKeys is watchesAgent on a flattened profile.
func (a *account) watchesKeys(keys []string) bool {
	if a.all {
		return true
	}
	if a.Role != RoleSupervisor {
		return false
	}
	// Supervisors watch a handful of groups: comparing strings beats
	// hashing them.
	for _, k := range keys {
		for _, g := range a.Supervises {
			if k == g {
				return true
			}
		}
	}
	return false
}

// statsOf computes queue statistics for a supervisor's scope (nil: all).
func (s *Server) statsOf(f *floor, acct *account, withCallers bool) *QueueStats {
	now := f.now
	st := &QueueStats{At: now, AgentsByState: map[acd.State]int{}}
	queues := map[string]*QueueView{}
	get := func(name string) *QueueView {
		q := queues[name]
		if q == nil {
			q = &QueueView{Name: name, AgentsByState: map[acd.State]int{}}
			queues[name] = q
		}
		return q
	}
	for _, name := range s.queueNames() {
		get(name)
	}
	for i := range f.agents {
		if acct != nil && !acct.watchesKeys(f.keys[i]) {
			continue
		}
		state := f.agents[i].State
		st.AgentsByState[state]++
		for _, q := range f.skills[i] {
			get(q).AgentsByState[state]++
		}
	}
	for i := range f.calls {
		c := &f.calls[i]
		q := get(c.Call.Queue)
		if c.Call.Callback != "" {
			// A callback keeps its place but nobody is on the line.
			if c.State == "queued" || c.State == "parked" {
				q.Callbacks++
			}
			continue
		}
		if c.State != "queued" {
			continue
		}
		q.Waiting++
		if w := now.Sub(c.Call.EnqueuedAt).Milliseconds(); w > q.LongestWaitMS {
			q.LongestWaitMS = w
		}
	}
	// A scoped supervisor sees its queues and those its agents serve.
	visible := func(name string, q *QueueView) bool {
		return acct == nil || acct.all || acct.watchesQueue(name) || len(q.AgentsByState) > 0
	}
	if withCallers {
		for i := range f.calls {
			c := &f.calls[i]
			if q := queues[c.Call.Queue]; (c.State == "queued" || c.State == "parked") && visible(c.Call.Queue, q) {
				q.Callers = append(q.Callers, callViewACD(*c, now))
			}
		}
	}
	for name, q := range queues {
		if visible(name, q) {
			st.Queues = append(st.Queues, *q)
		}
	}
	sort.Slice(st.Queues, func(i, j int) bool { return st.Queues[i].Name < st.Queues[j].Name })
	for _, sl := range f.sls {
		// Per-queue rows only for supervisors, and only for the queues they
		// see: agents share one small summary (there may be many queues).
		if sl.Queue != "" && (!withCallers || queues[sl.Queue] == nil || !visible(sl.Queue, queues[sl.Queue])) {
			continue
		}
		v := LevelView(sl)
		v.ASAS = s.desk.asa.asa(now, sl.Queue, sl.Tier)
		st.ServiceLevels = append(st.ServiceLevels, v)
	}
	return st
}

// pushStats sends queue statistics: every supervisor gets its scope with
// the waiting callers, agents get the summary without callers.
func (s *Server) pushStats() {
	s.mu.RLock()
	var watchers []*client
	for c := range s.watchers {
		watchers = append(watchers, c)
	}
	agents := len(s.byAgent) > 0
	s.mu.RUnlock()
	if len(watchers) == 0 && !agents {
		return
	}
	f := s.floor()
	enc := func(st *QueueStats) []byte {
		b, err := json.Marshal(Event{Type: "event", Event: "queue.stats", At: st.At, Stats: st})
		if err != nil {
			s.log.Error("agentapi: encode stats", "err", err)
		}
		return b
	}
	// One encoding per scope: every all-seeing supervisor shares one, and
	// several sessions of one supervisor share theirs.
	byScope := map[*account][]byte{}
	for _, c := range watchers {
		acct := c.account()
		if acct == nil {
			continue
		}
		scope := scopeOf(acct)
		msg, ok := byScope[scope]
		if !ok {
			msg = enc(s.statsOf(f, scope, true))
			byScope[scope] = msg
		}
		c.enqueue(msg)
	}
	if agents {
		msg := enc(s.statsOf(f, nil, false))
		s.mu.RLock()
		for _, m := range s.byAgent {
			for c := range m {
				c.enqueue(msg)
			}
		}
		s.mu.RUnlock()
	}
}

// resync sends every connection a fresh snapshot after missed events.
func (s *Server) resync() {
	s.mu.RLock()
	cl := make([]*client, 0, len(s.clients))
	for c := range s.clients {
		cl = append(cl, c)
	}
	s.mu.RUnlock()
	for _, c := range cl {
		sess := c.session()
		if sess == nil {
			continue
		}
		res := s.snapshot(sess)
		b, err := json.Marshal(Event{Type: "event", Event: "snapshot", At: s.now(), Seat: res.Seat, Calls: res.Calls,
			Agents: res.Agents, Stats: res.Queues})
		if err == nil {
			c.enqueue(b)
		}
	}
}

// snapshot is what a desktop needs on login and resume.
func (s *Server) snapshot(sess *session) *result {
	acct := sess.acct
	now := s.now()
	res := &result{Protocol: ProtocolVersion, Token: sess.token, Role: acct.Role, Agent: acct.ID, Name: acct.Name,
		States: acd.AllStates, Reasons: s.breakReasons(), NotReady: s.cfg.NotReadyReasons, Dispos: s.cfg.DispositionCodes, Now: &now}
	s.deskSnapshot(res, acct)
	if acct.hasSeat() {
		if snap, err := s.acd.Agent(acct.ID); err == nil {
			v := seatView(snap, acct.Name)
			res.Seat = &v
		} else {
			res.Seat = &SeatView{Agent: acct.ID, Name: acct.Name, State: acd.LoggedOut}
		}
		res.Calls = s.agentCalls(acct.ID)
	}
	if acct.supervisor() {
		res.Agents = s.seats(acct)
		res.Calls = s.scopedCalls(acct)
		res.Queues = s.stats(scopeOf(acct), true)
	}
	return res
}

func scopeOf(acct *account) *account {
	if acct.all {
		return nil
	}
	return acct
}

// seats is the seat map in a supervisor's scope.
func (s *Server) seats(acct *account) []SeatView {
	var out []SeatView
	for _, a := range s.acd.Agents() {
		if acct.watchesAgent(&a.Profile) {
			out = append(out, seatView(a, s.nameOf(a.Profile.ID)))
		}
	}
	return out
}

// scopedCalls are the calls a supervisor may see.
func (s *Server) scopedCalls(acct *account) []CallView {
	var out []CallView
	for _, v := range s.allCalls() {
		if acct.all || acct.watchesQueue(v.Queue) {
			out = append(out, v)
			continue
		}
		if v.Agent != "" {
			if p, ok := s.profileOf(v.Agent); ok && acct.watchesAgent(p) {
				out = append(out, v)
			}
		}
	}
	return out
}

// cutInternal hangs up internal calls between agents of a queue that just
// got a waiting caller (requirements §5: refused and cut).
func (s *Server) cutInternal(queue string) {
	s.mu.Lock()
	var cut []string
	var ic []internalCall
	for id, c := range s.internal {
		if c.queues[queue] {
			cut = append(cut, id)
			ic = append(ic, c)
			delete(s.internal, id)
		}
	}
	if len(cut) == 0 || s.closed {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		for i, id := range cut {
			ctx, cancel := context.WithTimeout(s.ctx, s.cfg.CallTimeout)
			err := s.calls.Act(ctx, CallAction{Op: OpHangup, Agent: ic[i].from, Call: id})
			cancel()
			s.log.Info("agentapi: internal call cut, callers waiting", "call", id, "queue", queue, "err", err)
			s.Publish(Event{Event: "call.internal_cut", Agent: ic[i].from, CallID: id, Queue: queue, Reason: "callers waiting"})
			s.Publish(Event{Event: "call.internal_cut", Agent: ic[i].to, CallID: id, Queue: queue, Reason: "callers waiting"})
		}
	}()
}

// pruneInternal forgets internal calls the engine no longer lists.
func (s *Server) pruneInternal() {
	s.mu.RLock()
	n := len(s.internal)
	s.mu.RUnlock()
	if n == 0 {
		return
	}
	live := map[string]bool{}
	for _, ci := range s.calls.Calls() {
		live[ci.ID] = true
	}
	s.mu.Lock()
	for id := range s.internal {
		if !live[id] {
			delete(s.internal, id)
		}
	}
	s.mu.Unlock()
}

func (a *account) hasSeat() bool {
	return a.Role == RoleAgent || len(a.Profile.Skills) > 0
}

// remoteIP parses an http.Request.RemoteAddr.
func remoteIP(addr string) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}
