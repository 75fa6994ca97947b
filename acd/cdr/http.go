package cdr

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// ReportResponse is the JSON body of ReportHandler.
type ReportResponse struct {
	Interval string    `json:"interval"`
	By       Dimension `json:"by"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Rows     []Row     `json:"rows"`
}

// StateResponse is the JSON body of ReportHandler for report=agent_states.
type StateResponse struct {
	Interval string     `json:"interval"`
	From     time.Time  `json:"from"`
	To       time.Time  `json:"to"`
	States   []StateRow `json:"states"`
}

// ReportHandler serves reports over the call records in dir for the
// wallboard: GET ?interval=15m|1h|24h&by=queue|tier|agent|access_number
// &from=RFC3339&to=RFC3339[&totals=1]. Defaults: 1h, queue, the last 24 h.
// With report=agent_states it returns the agent state durations (States)
// per interval, agent and state instead, from the agent state log.
// Targets give tier thresholds and targets; other fields of base (ShortAbandon,
// Location) apply to every request.
func ReportHandler(dir string, targets map[string]Target) http.Handler {
	return NewReportHandler(dir, Options{Targets: targets}, nil)
}

// NewReportHandler is ReportHandler with all report defaults in base; now
// defaults to time.Now.
func NewReportHandler(dir string, base Options, now func() time.Time) http.Handler {
	if now == nil {
		now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			httpError(w, http.StatusMethodNotAllowed, errors.New("use GET"))
			return
		}
		opt, from, to, err := parseReportQuery(r, base, now())
		if err != nil {
			httpError(w, http.StatusBadRequest, err)
			return
		}
		var resp any
		switch r.URL.Query().Get("report") {
		case "", "calls":
			var rows []Row
			rows, err = Report(Read(dir, from, to), opt)
			resp = ReportResponse{Interval: opt.Interval.String(), By: opt.By, From: from, To: to, Rows: orEmpty(rows)}
		case "agent_states":
			var rows []StateRow
			rows, err = StateReport(ReadLog[AgentStateRecord](dir, AgentStatesPrefix, from, to, nil), opt)
			resp = StateResponse{Interval: opt.Interval.String(), From: from, To: to, States: orEmpty(rows)}
		default:
			httpError(w, http.StatusBadRequest, errors.New("report must be calls or agent_states"))
			return
		}
		if err != nil {
			slog.Error("wallboard report failed", "err", err, "dir", dir)
			httpError(w, http.StatusInternalServerError, errors.New("cannot read the record files"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(resp)
	})
}

func parseReportQuery(r *http.Request, base Options, now time.Time) (Options, time.Time, time.Time, error) {
	q := r.URL.Query()
	opt := base
	if s := q.Get("interval"); s != "" {
		iv, err := time.ParseDuration(s)
		if err != nil {
			return opt, time.Time{}, time.Time{}, fmt.Errorf("interval %q: use 15m, 1h or 24h", s)
		}
		opt.Interval = iv
	}
	if s := q.Get("by"); s != "" {
		d, err := ParseDimension(s)
		if err != nil {
			return opt, time.Time{}, time.Time{}, err
		}
		opt.By = d
	}
	switch q.Get("totals") {
	case "", "0", "false":
	default:
		opt.Totals = true
	}
	to := now
	if s := q.Get("to"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return opt, time.Time{}, time.Time{}, fmt.Errorf("to %q is not an RFC 3339 time", s)
		}
		to = t
	}
	from := to.Add(-24 * time.Hour)
	if s := q.Get("from"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return opt, time.Time{}, time.Time{}, fmt.Errorf("from %q is not an RFC 3339 time", s)
		}
		from = t
	}
	if !from.Before(to) {
		return opt, time.Time{}, time.Time{}, errors.New("from must be before to")
	}
	// One request may not make the server aggregate years of records.
	if to.Sub(from) > 93*24*time.Hour {
		return opt, time.Time{}, time.Time{}, errors.New("from..to spans more than 93 days")
	}
	opt, err := opt.withDefaults()
	return opt, from, to, err
}

// orEmpty makes "no rows" a JSON [] rather than null for the wallboard.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func httpError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
