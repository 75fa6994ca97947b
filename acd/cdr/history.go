package cdr

import (
	"container/list"
	"fmt"
	"sync"
	"time"
)

// PastCall is one earlier call of a customer as the desktop's customer
// card lists it.
type PastCall struct {
	CallID       string      `json:"call_id"`
	At           time.Time   `json:"at"` // arrival
	AccessNumber string      `json:"access_number,omitempty"`
	Queue        string      `json:"queue,omitempty"`
	Tier         string      `json:"tier,omitempty"`
	Agent        string      `json:"agent,omitempty"`
	Disposition  Disposition `json:"disposition"`
	WrapUpCode   string      `json:"wrap_up_code,omitempty"`
	WrapUpNote   string      `json:"wrap_up_note,omitempty"`
	WaitMS       int64       `json:"wait_ms,omitempty"`
	TalkMS       int64       `json:"talk_ms,omitempty"`
	SurveyScore  *int        `json:"survey_score,omitempty"`
	Recorded     bool        `json:"recorded,omitempty"`
}

// History keeps the last calls of each caller in memory, so the desktop
// shows a customer's history when the call is offered without reading
// the record files. It is fed every record as it is written (Add) and
// seeded from the files at start-up (Load). It holds at most PerCaller
// calls for each of MaxCallers callers; the caller heard from longest ago
// is forgotten first. Safe for concurrent use.
type History struct {
	per, max  int
	normalise func(string) string

	mu      sync.Mutex
	callers map[string]*list.Element // value: *callerCalls
	lru     *list.List               // front: most recent
}

type callerCalls struct {
	key   string
	calls []PastCall // oldest first
}

// HistoryOptions size a History.
type HistoryOptions struct {
	PerCaller  int // default 10
	MaxCallers int // default 200,000 (~70 MB at 10 calls each)
	// Normalise maps a caller number to its key (national and
	// international forms of one number must meet); nil keeps it as is.
	Normalise func(string) string
}

// NewHistory returns an empty History.
func NewHistory(opt HistoryOptions) *History {
	if opt.PerCaller <= 0 {
		opt.PerCaller = 10
	}
	if opt.MaxCallers <= 0 {
		opt.MaxCallers = 200_000
	}
	if opt.Normalise == nil {
		opt.Normalise = func(s string) string { return s }
	}
	return &History{per: opt.PerCaller, max: opt.MaxCallers, normalise: opt.Normalise,
		callers: map[string]*list.Element{}, lru: list.New()}
}

// Add files one finished call under its caller.
func (h *History) Add(r Record) {
	if r.Caller == "" {
		return
	}
	key := h.normalise(r.Caller)
	if key == "" {
		return
	}
	pc := PastCall{CallID: r.CallID, At: r.Times.Arrival, AccessNumber: r.AccessNumber, Queue: r.Queue, Tier: r.Customer.Tier,
		Agent: r.Agent, Disposition: r.Disposition, WrapUpCode: r.WrapUpCode, WrapUpNote: r.WrapUpNote, WaitMS: r.WaitMS,
		TalkMS: r.TalkMS, SurveyScore: r.SurveyScore, Recorded: r.Recording != nil && r.Recording.State != "failed"}
	h.mu.Lock()
	defer h.mu.Unlock()
	el := h.callers[key]
	if el == nil {
		el = h.lru.PushFront(&callerCalls{key: key})
		h.callers[key] = el
		for h.lru.Len() > h.max {
			old := h.lru.Back()
			h.lru.Remove(old)
			delete(h.callers, old.Value.(*callerCalls).key)
		}
	} else {
		h.lru.MoveToFront(el)
	}
	cc := el.Value.(*callerCalls)
	// Records arrive in the order calls end; keep the list by arrival.
	i := len(cc.calls)
	for i > 0 && cc.calls[i-1].At.After(pc.At) {
		i--
	}
	cc.calls = append(cc.calls, PastCall{})
	copy(cc.calls[i+1:], cc.calls[i:])
	cc.calls[i] = pc
	if len(cc.calls) > h.per {
		cc.calls = append(cc.calls[:0:0], cc.calls[len(cc.calls)-h.per:]...)
	}
}

// Last returns up to n of the caller's calls, newest first.
func (h *History) Last(caller string, n int) []PastCall {
	key := h.normalise(caller)
	h.mu.Lock()
	defer h.mu.Unlock()
	el := h.callers[key]
	if el == nil || n <= 0 {
		return nil
	}
	calls := el.Value.(*callerCalls).calls
	out := make([]PastCall, 0, min(n, len(calls)))
	for i := len(calls) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, calls[i])
	}
	return out
}

// Load seeds the history from the call records in dir since the given
// time. Damaged lines are skipped (see Read); an unreadable directory is
// an error.
func (h *History) Load(dir string, since time.Time) (int, error) {
	n := 0
	for r, err := range Read(dir, since, time.Time{}) {
		if err != nil {
			return n, fmt.Errorf("cdr: load call history: %w", err)
		}
		h.Add(r)
		n++
	}
	return n, nil
}
