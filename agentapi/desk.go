package agentapi

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/cdr"
)

// The desktop's extras beyond call control: the customer card's history,
// wrap-up codes per queue with a note, break limits, the CRM attributes
// to show, and the live answer speed per queue and tier for the
// wallboard. Kept apart from the core protocol so it can grow on its own.

// CallHistory lists a caller's earlier calls, newest first (cdr.History).
type CallHistory interface {
	Last(caller string, n int) []cdr.PastCall
}

// maxNote bounds the free-text note stored with a wrap-up code.
const maxNote = 500

// desk follows the event stream for the extras: each agent's last
// answered call (its caller for the history, its queue for the codes) and
// the answer waits of the window.
type desk struct {
	mu   sync.Mutex
	last map[string]lastCall
	asa  *waitWindow
}

type lastCall struct{ id, caller, queue string }

func newDesk(window time.Duration) *desk {
	if window <= 0 {
		window = time.Hour
	}
	return &desk{last: map[string]lastCall{}, asa: newWaitWindow(window, 12)}
}

// observe takes what the extras need from one ACD event.
func (d *desk) observe(e acd.Event) {
	if e.Type != acd.EventCallAnswered {
		return
	}
	d.mu.Lock()
	d.last[e.AgentID] = lastCall{id: e.CallID, caller: e.Caller, queue: e.Queue}
	d.mu.Unlock()
	if !e.Direct { // transfers and consultations are not a caller's wait
		d.asa.add(e.At, e.Queue, e.Tier, e.Wait)
	}
}

func (d *desk) lastOf(agent string) lastCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last[agent]
}

// waitWindow sums answer waits per queue and tier over a sliding window
// of buckets, like the router's service-level window.
type waitWindow struct {
	mu      sync.Mutex
	width   time.Duration // one bucket
	buckets []waitBucket
}

type waitBucket struct {
	start int64 // bucket index (time / width)
	sums  map[[2]string]waitSum
}

type waitSum struct {
	n     int
	total time.Duration
}

func newWaitWindow(window time.Duration, n int) *waitWindow {
	return &waitWindow{width: window / time.Duration(n), buckets: make([]waitBucket, n)}
}

func (w *waitWindow) add(at time.Time, queue, tier string, wait time.Duration) {
	idx := at.UnixNano() / int64(w.width)
	w.mu.Lock()
	defer w.mu.Unlock()
	b := &w.buckets[idx%int64(len(w.buckets))]
	if b.start != idx || b.sums == nil {
		*b = waitBucket{start: idx, sums: map[[2]string]waitSum{}}
	}
	for _, k := range [][2]string{{queue, tier}, {"", tier}} {
		s := b.sums[k]
		s.n++
		s.total += wait
		b.sums[k] = s
	}
}

// asa is the mean answer wait in seconds of the window ("" queue: every
// queue), nil when nothing was answered.
func (w *waitWindow) asa(now time.Time, queue, tier string) *float64 {
	idx := now.UnixNano() / int64(w.width)
	w.mu.Lock()
	defer w.mu.Unlock()
	var sum waitSum
	for _, b := range w.buckets {
		if b.sums == nil || b.start <= idx-int64(len(w.buckets)) || b.start > idx {
			continue
		}
		s := b.sums[[2]string{queue, tier}]
		sum.n += s.n
		sum.total += s.total
	}
	if sum.n == 0 {
		return nil
	}
	v := sum.total.Seconds() / float64(sum.n)
	return &v
}

// deskSnapshot adds the extras to a login or resume reply.
func (s *Server) deskSnapshot(res *result, acct *account) {
	d := s.deskSettings()
	res.QueueCodes = d.QueueCodes
	if len(d.BreakLimits) > 0 {
		res.BreakLimits = map[string]int64{}
		for r, lim := range d.BreakLimits {
			res.BreakLimits[r] = int64(lim / time.Second)
		}
	}
	res.CustomerAttrs = d.CustomerAttributes
	res.Language = d.Languages[acct.ID]
	res.HistoryOn = s.cfg.History != nil
}

// checkWrapUp validates a wrap-up code and note: the codes of the call's
// queue when it has some, else the global DispositionCodes, else any.
func (s *Server) checkWrapUp(agent, callID, code, note string) error {
	if len(note) > 4*maxNote || utf8.RuneCountInString(note) > maxNote {
		return errf(CodeBadRequest, "note: at most %d characters", maxNote)
	}
	if !utf8.ValidString(note) {
		return errf(CodeBadRequest, "note: not valid UTF-8")
	}
	codes := s.cfg.DispositionCodes
	if last := s.desk.lastOf(agent); last.queue != "" && (callID == "" || callID == last.id) {
		if qc := s.deskSettings().QueueCodes[last.queue]; len(qc) > 0 {
			codes = qc
		}
	}
	if len(codes) > 0 && !slices.Contains(codes, code) {
		return errf(CodeBadRequest, "unknown wrap-up code %q (%s)", code, strings.Join(codes, ", "))
	}
	return nil
}

// customerHistory lists the earlier calls of a call's caller: an agent's
// own call (ringing, connected or just ended), or for supervisors any
// call in their scope or any number.
func customerHistory(c *client, sess *session, r *request) (*result, error) {
	s := c.srv
	if s.cfg.History == nil {
		return nil, errf(CodeUnsupported, "no call history on this server")
	}
	var caller string
	switch {
	case r.Call != "":
		var ok bool
		if caller, ok = s.callerOf(sess.acct, r.Call); !ok {
			return nil, errf(CodeUnknownCall, "call %s is not %s's", r.Call, sess.acct.ID)
		}
	case r.Number != "" && sess.acct.supervisor():
		if !validNumber(r.Number) {
			return nil, errf(CodeBadRequest, "number: digits only, optional leading +")
		}
		caller = r.Number
	case r.Number != "":
		return nil, errf(CodeForbidden, "agents see the history of their own calls only")
	default:
		return nil, errf(CodeBadRequest, "customer_history needs call (or number, supervisors)")
	}
	n := s.cfg.HistorySize
	if n <= 0 {
		n = 5
	}
	var out []cdr.PastCall
	if caller != "" {
		for _, pc := range s.cfg.History.Last(caller, n+1) {
			if pc.CallID != r.Call && len(out) < n {
				out = append(out, pc)
			}
		}
	}
	if out == nil {
		out = []cdr.PastCall{}
	}
	return &result{History: &out, Caller: caller}, nil
}

// callerOf finds the caller of a call the account may look at.
func (s *Server) callerOf(acct *account, callID string) (string, bool) {
	if last := s.desk.lastOf(acct.ID); last.id == callID {
		return last.caller, true
	}
	for _, v := range s.allCalls() {
		if v.ID != callID {
			continue
		}
		if v.Agent == acct.ID {
			return v.Caller, true
		}
		if acct.supervisor() {
			for _, sv := range s.scopedCalls(acct) {
				if sv.ID == callID {
					return v.Caller, true
				}
			}
		}
		return "", false
	}
	if acct.supervisor() {
		s.desk.mu.Lock()
		defer s.desk.mu.Unlock()
		for agent, last := range s.desk.last {
			if last.id == callID && s.inScope(acct, agent) == nil {
				return last.caller, true
			}
		}
	}
	return "", false
}

// storeWrapUp passes the code and note to the engine for the call's record.
func (s *Server) storeWrapUp(agent, callID, code, note string) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.CallTimeout)
	defer cancel()
	if err := s.calls.Act(ctx, CallAction{Op: OpDisposition, Agent: agent, Call: callID, Code: code, Note: note}); err != nil {
		return fmt.Errorf("disposition %s: %w", callID, err)
	}
	return nil
}
