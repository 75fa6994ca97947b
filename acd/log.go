package acd

import (
	"log/slog"
	"sync"
	"time"
)

// StateRecord is one finished agent state: the agent state log of the
// requirements (agent, state, reason, start, end, call).
type StateRecord struct {
	AgentID string
	Seat    string
	State   State
	Reason  string
	CallID  string
	Caller  string
	Start   time.Time
	End     time.Time
}

// StateLog receives a record each time an agent leaves a state. It is
// called with the ACD lock held: implementations must not block (buffer or
// hand off to a writer goroutine).
type StateLog interface {
	Record(StateRecord)
}

// MemoryLog keeps records in memory (tests, the desktop's recent history).
type MemoryLog struct {
	mu      sync.Mutex
	records []StateRecord
}

// Record implements StateLog.
func (l *MemoryLog) Record(r StateRecord) {
	l.mu.Lock()
	l.records = append(l.records, r)
	l.mu.Unlock()
}

// Records returns a copy of everything recorded.
func (l *MemoryLog) Records() []StateRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]StateRecord(nil), l.records...)
}

// SlogLog writes records as structured log lines.
type SlogLog struct{ Logger *slog.Logger }

// Record implements StateLog.
func (l SlogLog) Record(r StateRecord) {
	lg := l.Logger
	if lg == nil {
		lg = slog.Default()
	}
	lg.Info("agent state", "agent", r.AgentID, "seat", r.Seat, "state", string(r.State), "reason", r.Reason,
		"call", r.CallID, "caller", r.Caller, "start", r.Start, "end", r.End, "duration", r.End.Sub(r.Start))
}

type discardLog struct{}

func (discardLog) Record(StateRecord) {}
