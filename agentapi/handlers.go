package agentapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hotlinecc/hotline/acd"
)

type need int

const (
	needNone       need = iota // hello, login, resume, ping
	needSession                // any signed-in role
	needSeat                   // an agent seat (role agent, or a supervisor with skills)
	needSupervisor             // supervisor or admin
)

type handler struct {
	need need
	fn   func(c *client, sess *session, r *request) (*result, error)
}

var handlers map[string]handler

func init() {
	// Built in init because the handlers refer back to the table's users.
	handlers = map[string]handler{
		"hello":  {needNone, hello},
		"ping":   {needNone, ping},
		"login":  {needNone, login},
		"resume": {needNone, resume},

		"logout":       {needSession, logout},
		"snapshot":     {needSession, snapshotReq},
		"shift_change": {needSeat, shiftChange},

		"set_state":      {needSeat, setState},
		"extend_wrap_up": {needSeat, extendWrapUp},
		"request_call":   {needSeat, requestCall},
		"wrap_up_end":    {needSeat, wrapUpEnd},

		"customer_history": {needSession, customerHistory},

		"answer":            {needSeat, callOp},
		"hangup":            {needSeat, callOp},
		"hold":              {needSeat, callOp},
		"unhold":            {needSeat, callOp},
		"mute":              {needSeat, callOp},
		"unmute":            {needSeat, callOp},
		"pause_recording":   {needSeat, callOp},
		"resume_recording":  {needSeat, callOp},
		"dtmf":              {needSeat, callOp},
		"transfer":          {needSeat, callOp},
		"consult":           {needSeat, callOp},
		"complete_transfer": {needSeat, callOp},
		"conference":        {needSeat, callOp},
		"return_to_caller":  {needSeat, callOp},
		"outbound":          {needSeat, outbound},
		"internal_call":     {needSeat, internalCallReq},

		"list_agents":     {needSupervisor, listAgents},
		"list_calls":      {needSupervisor, listCalls},
		"list_queues":     {needSupervisor, listQueues},
		"monitor":         {needSupervisor, monitor},
		"force_ready":     {needSupervisor, force},
		"force_not_ready": {needSupervisor, force},
		"force_sign_out":  {needSupervisor, force},
	}
}

func hello(c *client, _ *session, _ *request) (*result, error) {
	now := c.srv.now()
	return &result{Protocol: ProtocolVersion, Now: &now}, nil
}

func ping(c *client, _ *session, _ *request) (*result, error) {
	now := c.srv.now()
	return &result{Now: &now}, nil
}

// authenticate checks id and password for a connection. Unknown ids cost
// the same hash as known ones so that timing does not reveal which ids
// exist. With a Guard, a banned source (or a locked id from a source it
// has never used) is refused before any hash is computed, and failures
// are counted against the source and the id.
func (s *Server) authenticate(c *client, id, password string) (*account, error) {
	src, srcOK := remoteIP(c.remote)
	g := s.cfg.Guard
	if g != nil && srcOK && !g.Allowed(src, id) {
		c.abuse = "too many failed logins from this address"
		return nil, errf(CodeTooManyFailures, "too many failed logins from this address; try again later")
	}
	acct := s.account(id)
	ok := false
	if acct == nil {
		checkPassword(dummyHash, password)
	} else {
		ok = checkPassword(acct.hash, password)
	}
	if !ok {
		if g != nil && srcOK {
			g.Fail(SurfaceWSLogin, src, id)
		}
		return nil, errf(CodeBadCredentials, "unknown agent or wrong password")
	}
	if g != nil && srcOK {
		g.Succeed(src, id)
	}
	return acct, nil
}

// dummyHash is checked for unknown ids, at the default cost.
var dummyHash = func() string {
	h, err := HashPassword("x")
	if err != nil {
		panic(err) // bcrypt of a short constant cannot fail
	}
	return h
}()

// login authenticates, signs the agent in to its seat in the ACD (an agent
// already signed in, e.g. by its phone registering, is simply attached)
// and opens a session. A second login of the same agent takes the seat
// over: the older connection gets a session.ended event and is closed
// with status 4001.
func login(c *client, _ *session, r *request) (*result, error) {
	if r.Agent == "" || r.Password == "" {
		return nil, errf(CodeBadRequest, "login needs agent and password")
	}
	acct, err := c.srv.authenticate(c, r.Agent, r.Password)
	if err != nil {
		c.failedLogin()
		return nil, err
	}
	c.failedLogins = 0
	if acct.hasSeat() {
		p := acct.Profile
		p.ID = acct.ID
		if r.Extension != "" {
			p.Seat = r.Extension
		}
		if err := c.srv.acd.Login(p); err != nil && !errors.Is(err, acd.ErrAlreadyLoggedIn) {
			return nil, fmt.Errorf("login %s: %w", acct.ID, err)
		}
		// In a cluster the agent may be signed in through another node (its
		// phone registered there): that node owns its state, so this
		// desktop could change nothing.
		if s, err := c.srv.acd.Agent(acct.ID); err == nil && s.Node != "" {
			return nil, fmt.Errorf("login %s: %w: signed in on node %s; use that node's desktop or sign out there first", acct.ID, acd.ErrRemoteAgent, s.Node)
		}
	}
	return c.srv.openSession(c, acct)
}

func (s *Server) openSession(c *client, acct *account) (*result, error) {
	sess, old, err := s.sessions.open(acct, c)
	if err != nil {
		return nil, err
	}
	if old != nil {
		old.kick("taken_over", "agent "+acct.ID+" logged in on another desktop")
	}
	s.sessionOpened(sess)
	s.bind(c, sess)
	s.log.Info("agentapi: login", "agent", acct.ID, "role", acct.Role, "remote", c.remote)
	return s.snapshot(sess), nil
}

// kick tells a connection its session ended and closes it.
func (c *client) kick(reason, message string) {
	c.srv.unbind(c)
	b, _ := json.Marshal(Event{Type: "event", Event: "session.ended", At: c.srv.now(), Reason: reason, Data: map[string]string{"message": message}})
	c.enqueue(b)
	c.shutdown(CloseTakenOver, message, true)
}

func resume(c *client, _ *session, r *request) (*result, error) {
	if r.Token == "" {
		return nil, errf(CodeBadRequest, "resume needs token")
	}
	if g := c.srv.cfg.Guard; g != nil {
		if src, ok := remoteIP(c.remote); ok && !g.Allowed(src, "") {
			c.abuse = "too many failed logins from this address"
			return nil, errf(CodeTooManyFailures, "too many failed logins from this address; try again later")
		}
	}
	sess, prev, ok := c.srv.sessions.resume(r.Token, c)
	if !ok {
		// A token from before a restart (tokens.go).
		restored, err := c.srv.restoreSession(r.Token, c)
		if err != nil {
			if g := c.srv.cfg.Guard; g != nil {
				if src, ok := remoteIP(c.remote); ok {
					g.Fail(SurfaceWSLogin, src, "")
				}
			}
			c.failedLogin()
			return nil, errf(CodeInvalidToken, "session unknown, expired or replaced; log in again")
		}
		sess = restored
	}
	if prev != nil {
		prev.kick("taken_over", "session resumed on another connection")
	}
	c.srv.bind(c, sess)
	return c.srv.snapshot(sess), nil
}

// logout signs the agent out of its seat and ends the session; the
// connection stays open for the next login. Refused while on a call.
func logout(c *client, sess *session, _ *request) (*result, error) {
	if sess.acct.hasSeat() {
		if err := c.srv.acd.Logout(sess.acct.ID); err != nil && !errors.Is(err, acd.ErrUnknownAgent) {
			return nil, fmt.Errorf("logout %s: %w", sess.acct.ID, err)
		}
	}
	c.srv.sessions.close(sess)
	c.srv.sessionClosed(sess)
	c.srv.unbind(c)
	return &result{}, nil
}

func snapshotReq(c *client, sess *session, _ *request) (*result, error) {
	return c.srv.snapshot(sess), nil
}

// shiftChange: the incoming agent signs in on the outgoing agent's seat
// without the desktop reconnecting. The outgoing session ends; the reply
// carries the incoming agent's token.
func shiftChange(c *client, sess *session, r *request) (*result, error) {
	if r.Agent == "" || r.Password == "" {
		return nil, errf(CodeBadRequest, "shift_change needs the incoming agent and password")
	}
	in, err := c.srv.authenticate(c, r.Agent, r.Password)
	if err != nil {
		c.failedLogin()
		return nil, err
	}
	if !in.hasSeat() {
		return nil, errf(CodeForbidden, "%s %s has no agent seat", in.Role, in.ID)
	}
	if in.ID == sess.acct.ID {
		return nil, errf(CodeBadRequest, "incoming agent is the outgoing agent")
	}
	p := in.Profile
	p.ID = in.ID
	if err := c.srv.acd.ShiftChange(sess.acct.ID, p); err != nil {
		return nil, fmt.Errorf("shift change %s → %s: %w", sess.acct.ID, in.ID, err)
	}
	c.srv.sessions.close(sess)
	c.srv.sessionClosed(sess)
	c.srv.unbind(c)
	return c.srv.openSession(c, in)
}

func normState(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }

func setState(c *client, sess *session, r *request) (*result, error) {
	a, id := c.srv.acd, sess.acct.ID
	var err error
	switch normState(r.State) {
	case "ready":
		err = a.SetReady(id)
	case "not_ready":
		if r.Reason == "" {
			return nil, errf(CodeBadRequest, "not_ready needs a reason")
		}
		err = a.SetNotReady(id, r.Reason)
	case "break":
		if r.Reason == "" {
			return nil, errf(CodeBadRequest, "break needs a reason")
		}
		err = a.StartBreak(id, r.Reason)
	case "adjust":
		err = a.StartAdjust(id)
	case "study":
		err = a.StartStudy(id)
	case "wrap_up":
		err = a.EnterWrapUp(id)
	case "":
		return nil, errf(CodeBadRequest, "set_state needs state")
	default:
		return nil, errf(CodeBadRequest, "unknown state %q (ready, not_ready, break, adjust, study, wrap_up)", r.State)
	}
	if err != nil {
		return nil, fmt.Errorf("set state %s: %w", r.State, err)
	}
	return c.srv.seatResult(id), nil
}

func (s *Server) seatResult(id string) *result {
	snap, err := s.acd.Agent(id)
	if err != nil {
		return &result{}
	}
	v := seatView(snap, s.nameOf(id))
	return &result{Seat: &v}
}

func extendWrapUp(c *client, sess *session, r *request) (*result, error) {
	if r.Seconds <= 0 {
		return nil, errf(CodeBadRequest, "extend_wrap_up needs seconds > 0")
	}
	if err := c.srv.acd.ExtendWrapUp(sess.acct.ID, time.Duration(r.Seconds)*time.Second); err != nil {
		return nil, err
	}
	return c.srv.seatResult(sess.acct.ID), nil
}

func requestCall(c *client, sess *session, _ *request) (*result, error) {
	if err := c.srv.acd.RequestCall(sess.acct.ID); err != nil {
		return nil, err
	}
	return c.srv.seatResult(sess.acct.ID), nil
}

// wrapUpEnd stores the disposition code with the last call and ends
// wrap-up (the agent becomes ready).
func wrapUpEnd(c *client, sess *session, r *request) (*result, error) {
	s, id := c.srv, sess.acct.ID
	if r.Code == "" {
		return nil, errf(CodeBadRequest, "wrap_up_end needs code")
	}
	if err := s.checkWrapUp(id, r.Call, r.Code, r.Note); err != nil {
		return nil, err
	}
	snap, err := s.acd.Agent(id)
	if err != nil {
		return nil, err
	}
	if snap.State != acd.WrapUp {
		return nil, &acd.TransitionError{Agent: id, From: snap.State, To: acd.Ready, Reason: "not in wrap-up"}
	}
	callID := r.Call
	s.mu.RLock()
	last := s.lastCall[id]
	s.mu.RUnlock()
	if callID == "" {
		callID = last
	}
	stored := false
	if callID != "" {
		if callID != last && !s.ownsCall(id, callID) {
			return nil, errf(CodeUnknownCall, "call %s is not agent %s's", callID, id)
		}
		err := s.storeWrapUp(id, callID, r.Code, r.Note)
		switch {
		case err == nil:
			stored = true
		case errors.Is(err, errors.ErrUnsupported):
			s.log.Warn("agentapi: disposition not stored, engine does not support it", "agent", id, "call", callID, "code", r.Code)
		default:
			return nil, err
		}
	}
	if err := s.acd.SetReady(id); err != nil {
		return nil, err
	}
	res := s.seatResult(id)
	res.Stored = &stored
	res.CallID = callID
	return res, nil
}

// ownsCall reports whether callID is the agent's: its ACD call, its last
// call (wrap-up) or an engine call of the agent.
func (s *Server) ownsCall(agentID, callID string) bool {
	if snap, err := s.acd.Agent(agentID); err == nil && snap.CallID == callID {
		return true
	}
	for _, ci := range s.calls.Calls() {
		if ci.ID == callID && ci.AgentID == agentID {
			return true
		}
	}
	return false
}

// resolveCall picks the request's call (default: the agent's current call)
// and checks that the agent owns it.
func (s *Server) resolveCall(agentID, callID string) (string, error) {
	if callID == "" {
		if snap, err := s.acd.Agent(agentID); err == nil && snap.CallID != "" {
			return snap.CallID, nil
		}
		for _, ci := range s.calls.Calls() {
			if ci.AgentID == agentID {
				return ci.ID, nil
			}
		}
		return "", errf(CodeUnknownCall, "agent %s has no call", agentID)
	}
	if !s.ownsCall(agentID, callID) {
		return "", errf(CodeUnknownCall, "call %s is not agent %s's", callID, agentID)
	}
	return callID, nil
}

func validDTMF(d string) bool {
	if d == "" || len(d) > 32 {
		return false
	}
	for _, r := range d {
		if !strings.ContainsRune("0123456789*#ABCDabcd", r) {
			return false
		}
	}
	return true
}

func validNumber(n string) bool {
	if n == "" || len(n) > 32 {
		return false
	}
	for i, r := range n {
		if !(r >= '0' && r <= '9') && !(i == 0 && r == '+') {
			return false
		}
	}
	return true
}

func (s *Server) checkTarget(acct *account, t *Target) error {
	if t == nil || t.Value == "" {
		return errf(CodeBadRequest, "target {kind, value} required")
	}
	switch t.Kind {
	case TargetAgent, TargetQueue, TargetFlow:
	case TargetExternal:
		if acct.NoExternal {
			return errf(CodeForbidden, "agent %s may not call external numbers", acct.ID)
		}
		if !validNumber(t.Value) {
			return errf(CodeBadRequest, "external number %q: digits only, optional leading +", t.Value)
		}
	default:
		return errf(CodeBadRequest, "target kind %q (agent, queue, flow, external)", t.Kind)
	}
	return nil
}

// callOp runs the in-call controls through the engine, which keeps the
// ACD's agent state in step (held while the caller holds, wrap-up when a
// transfer frees the agent).
func callOp(c *client, sess *session, r *request) (*result, error) {
	s, id := c.srv, sess.acct.ID
	// Validate the fields before looking for the call.
	switch r.Type {
	case "dtmf":
		if !validDTMF(r.Digits) {
			return nil, errf(CodeBadRequest, "digits: 1-32 of 0-9 * # A-D")
		}
	case "transfer", "consult":
		if err := s.checkTarget(sess.acct, r.Target); err != nil {
			return nil, err
		}
	}
	callID, err := s.resolveCall(id, r.Call)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.CallTimeout)
	defer cancel()
	a := CallAction{Op: CallOp(r.Type), Agent: id, Call: callID, Digits: r.Digits, Target: r.Target}
	if err := s.calls.Act(ctx, a); err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.Type, callID, err)
	}
	// Events the ACD does not publish (hold and retrieve of its own calls it does).
	switch a.Op {
	case OpHold, OpUnhold:
		if snap, err := s.acd.Agent(id); err != nil || snap.CallID != callID {
			ev := "call.held"
			if a.Op == OpUnhold {
				ev = "call.retrieved"
			}
			s.Publish(Event{Event: ev, Agent: id, CallID: callID}) // an outbound or internal call: the engine's alone
		}
	case OpMute, OpUnmute:
		s.Publish(Event{Event: "call." + r.Type + "d", Agent: id, CallID: callID})
	case OpPauseRecording:
		s.Publish(Event{Event: "call.recording_paused", Agent: id, CallID: callID})
	case OpResumeRecording:
		s.Publish(Event{Event: "call.recording_resumed", Agent: id, CallID: callID})
	case OpTransfer:
		s.Publish(Event{Event: "call.transferred", Agent: id, CallID: callID, Data: r.Target})
	case OpCompleteTransfer:
		s.Publish(Event{Event: "call.transferred", Agent: id, CallID: callID})
	}
	s.log.Info("agentapi: call control", "agent", id, "op", r.Type, "call", callID)
	return &result{CallID: callID}, nil
}

// onCall reports whether an agent in this state is on (or being offered) a call.
func onCall(st acd.State) bool {
	return st == acd.Reserved || st == acd.Talking || st == acd.Held
}

// makeBusy takes a ready agent out of distribution before it places a
// call, so the ACD does not offer it a caller meanwhile. It returns a func
// that undoes it if the call could not be placed.
func (s *Server) makeBusy(agentID, reason string) (undo func(), err error) {
	snap, err := s.acd.Agent(agentID)
	if err != nil {
		return nil, err
	}
	if onCall(snap.State) {
		return nil, &acd.TransitionError{Agent: agentID, From: snap.State, To: acd.NotReady, Reason: "agent is on a call"}
	}
	if snap.State != acd.Ready {
		return func() {}, nil
	}
	if err := s.acd.SetNotReady(agentID, reason); err != nil {
		return nil, err
	}
	return func() { _ = s.acd.SetReady(agentID) }, nil
}

// outbound calls a customer: the agent leaves distribution (not-ready
// "outbound"; the agent makes itself ready afterwards), the engine rings
// the agent's phone and then dials out.
func outbound(c *client, sess *session, r *request) (*result, error) {
	s, id := c.srv, sess.acct.ID
	if sess.acct.NoExternal {
		return nil, errf(CodeForbidden, "agent %s may not place outbound calls", id)
	}
	if !validNumber(r.Number) {
		return nil, errf(CodeBadRequest, "number: digits only, optional leading +")
	}
	undo, err := s.makeBusy(id, "outbound")
	if err != nil {
		return nil, fmt.Errorf("outbound: %w", err)
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.CallTimeout)
	defer cancel()
	callID, err := s.calls.Place(ctx, id, Target{Kind: TargetExternal, Value: r.Number})
	if err != nil {
		undo()
		return nil, fmt.Errorf("outbound to %s: %w", r.Number, err)
	}
	return &result{CallID: callID}, nil
}

// waitingIn returns the first queue of the profiles' skills with callers
// waiting.
func (s *Server) waitingIn(profiles ...*acd.AgentProfile) string {
	qs := map[string]bool{}
	for _, p := range profiles {
		for q := range p.Skills {
			qs[q] = true
		}
	}
	for _, c := range s.acd.Calls() {
		if c.State == "queued" && qs[c.Call.Queue] {
			return c.Call.Queue
		}
	}
	return ""
}

// internalCallReq places a call between two agents. It is refused while
// either agent is on a call or either agent's queues have callers waiting,
// and cut if callers arrive while it lasts.
func internalCallReq(c *client, sess *session, r *request) (*result, error) {
	s, id := c.srv, sess.acct.ID
	if sess.acct.NoInternal {
		return nil, errf(CodeForbidden, "agent %s may not place internal calls", id)
	}
	if r.Agent == "" {
		return nil, errf(CodeBadRequest, "internal_call needs agent")
	}
	if r.Agent == id {
		return nil, errf(CodeBadRequest, "cannot call yourself")
	}
	me, err := s.acd.Agent(id)
	if err != nil {
		return nil, err
	}
	other, err := s.acd.Agent(r.Agent)
	if err != nil {
		return nil, fmt.Errorf("internal call to %s: %w", r.Agent, err)
	}
	if onCall(me.State) {
		return nil, &acd.TransitionError{Agent: id, From: me.State, To: acd.NotReady, Reason: "agent is on a call"}
	}
	if onCall(other.State) {
		return nil, errf(CodeAgentBusy, "agent %s is on a call", r.Agent)
	}
	if q := s.waitingIn(&me.Profile, &other.Profile); q != "" {
		return nil, errf(CodeQueueBusy, "callers waiting in queue %s", q)
	}
	undo, err := s.makeBusy(id, "internal call")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.CallTimeout)
	defer cancel()
	callID, err := s.calls.Place(ctx, id, Target{Kind: TargetAgent, Value: r.Agent})
	if err != nil {
		undo()
		return nil, fmt.Errorf("internal call to %s: %w", r.Agent, err)
	}
	qs := map[string]bool{}
	for q := range me.Profile.Skills {
		qs[q] = true
	}
	for q := range other.Profile.Skills {
		qs[q] = true
	}
	s.mu.Lock()
	s.internal[callID] = internalCall{from: id, to: r.Agent, queues: qs}
	s.mu.Unlock()
	return &result{CallID: callID}, nil
}

func listAgents(c *client, sess *session, _ *request) (*result, error) {
	return &result{Agents: c.srv.seats(sess.acct)}, nil
}

func listCalls(c *client, sess *session, _ *request) (*result, error) {
	return &result{Calls: c.srv.scopedCalls(sess.acct)}, nil
}

func listQueues(c *client, sess *session, _ *request) (*result, error) {
	return &result{Queues: c.srv.stats(scopeOf(sess.acct), true)}, nil
}

// inScope checks that a supervisor may act on an agent.
func (s *Server) inScope(acct *account, agentID string) error {
	if agentID == "" {
		return errf(CodeBadRequest, "agent required")
	}
	p, ok := s.profileOf(agentID)
	if !ok {
		return errf(CodeUnknownAgent, "agent %s is not known", agentID)
	}
	if !acct.watchesAgent(p) {
		return errf(CodeForbidden, "agent %s is not in %s's groups", agentID, acct.ID)
	}
	return nil
}

// audited runs a supervisor action and records it, refused or not.
func (s *Server) audited(sess *session, action, agentID, callID, detail string, fn func() error) error {
	err := fn()
	rec := AuditRecord{At: s.now(), Actor: sess.acct.ID, Role: sess.acct.Role, Action: action, Agent: agentID, CallID: callID, Detail: detail, Result: "ok"}
	if err != nil {
		rec.Result = toAPIError(err).Code
		rec.Error = err.Error()
	}
	s.audit.Audit(s.ctx, rec)
	return err
}

func monitor(c *client, sess *session, r *request) (*result, error) {
	s := c.srv
	mode := MonitorMode(strings.ToLower(r.Mode))
	var callID string
	err := s.audited(sess, "monitor", r.Agent, "", string(mode), func() error {
		switch mode {
		case Listen, Whisper, Barge, Takeover:
		default:
			return errf(CodeBadRequest, "mode %q (listen, whisper, barge, takeover)", r.Mode)
		}
		if err := s.inScope(sess.acct, r.Agent); err != nil {
			return err
		}
		id, err := s.resolveCall(r.Agent, "")
		if err != nil {
			return err
		}
		callID = id
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.CallTimeout)
		defer cancel()
		if err := s.calls.Act(ctx, CallAction{Op: OpMonitor, Agent: r.Agent, Supervisor: sess.acct.ID, Mode: mode}); err != nil {
			return fmt.Errorf("monitor %s %s: %w", mode, r.Agent, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.Publish(Event{Event: "call.monitored", Agent: r.Agent, CallID: callID, Data: map[string]string{"supervisor": sess.acct.ID, "mode": string(mode)}})
	return &result{CallID: callID}, nil
}

func force(c *client, sess *session, r *request) (*result, error) {
	s := c.srv
	do := func() error {
		switch r.Type {
		case "force_ready":
			return s.acd.ForceReady(sess.acct.ID, r.Agent)
		case "force_not_ready":
			return s.acd.ForceNotReady(sess.acct.ID, r.Agent, r.Reason)
		default:
			return s.acd.ForceSignOut(sess.acct.ID, r.Agent)
		}
	}
	err := s.audited(sess, r.Type, r.Agent, "", r.Reason, func() error {
		if err := s.inScope(sess.acct, r.Agent); err != nil {
			return err
		}
		err := do()
		if errors.Is(err, acd.ErrIllegalTransition) && s.clearStale(sess, r.Agent) {
			err = do()
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.Type, r.Agent, err)
	}
	return s.seatResult(r.Agent), nil
}

// clearStale frees an agent the ACD shows on a call the engine no longer
// has (a supervisor's force must never be refused because of a call that
// is gone); the clearing is audited on its own. It reports whether it
// cleared anything.
func (s *Server) clearStale(sess *session, agentID string) bool {
	snap, err := s.acd.Agent(agentID)
	if err != nil || snap.CallID == "" || snap.CallNode != "" || !onCall(snap.State) {
		return false
	}
	base, _, _ := strings.Cut(snap.CallID, "~")
	for _, ci := range s.calls.Calls() {
		if ci.ID == snap.CallID || ci.ID == base {
			return false // a live call: the refusal stands
		}
	}
	if snap.State == acd.Reserved {
		for _, c := range s.acd.Calls() {
			if c.Call.ID == snap.CallID {
				return false // still being offered
			}
		}
	}
	id, err := s.acd.ClearStaleCall(agentID, sess.acct.ID)
	rec := AuditRecord{At: s.now(), Actor: sess.acct.ID, Role: sess.acct.Role, Action: "clear_stale_call", Agent: agentID, CallID: id,
		Detail: "agent " + string(snap.State) + " on a call the engine no longer has", Result: "ok"}
	if err != nil {
		rec.Result, rec.Error = toAPIError(err).Code, err.Error()
	}
	s.audit.Audit(s.ctx, rec)
	s.log.Warn("agentapi: supervisor cleared a stale call", "agent", agentID, "call", id, "supervisor", sess.acct.ID, "err", err)
	return err == nil
}
