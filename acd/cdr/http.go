package cdr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
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

// DefaultReportCacheTTL is how long the wallboard handler reuses a report
// for the same query: wallboards poll every few seconds, and each report
// reads the day's files.
const DefaultReportCacheTTL = 5 * time.Second

// ReportHandler serves reports over the call records in dir for the
// wallboard: GET ?interval=15m|1h|24h&by=queue|tier|agent|access_number|
// wrap_up_code&from=RFC3339&to=RFC3339[&totals=1][&format=csv]. Defaults:
// 1h, queue, the last 24 h. With report=agent_states it returns the agent
// state durations (States) per interval, agent and state instead, from the
// agent state log. format=csv answers the CSV of `hotline report -csv`,
// byte for byte, as a download.
// targets give tier thresholds and targets. Answers are cached for
// DefaultReportCacheTTL.
func ReportHandler(dir string, targets map[string]Target) http.Handler {
	return NewReportHandler(dir, ReportHandlerOptions{Base: Options{Targets: targets}})
}

// ReportHandlerOptions configure NewReportHandler.
type ReportHandlerOptions struct {
	// Base holds the report defaults from the configuration (Targets,
	// ShortAbandon, Location); the query sets Interval, By and Totals.
	Base Options
	// CacheTTL: DefaultReportCacheTTL if zero, no cache if negative.
	CacheTTL time.Duration
	Now      func() time.Time
	Logger   *slog.Logger
}

// NewReportHandler is ReportHandler with every option.
func NewReportHandler(dir string, opt ReportHandlerOptions) http.Handler {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.CacheTTL == 0 {
		opt.CacheTTL = DefaultReportCacheTTL
	}
	cache := &reportCache{ttl: opt.CacheTTL, entries: map[string]cacheEntry{}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			httpError(w, http.StatusMethodNotAllowed, errors.New("use GET"))
			return
		}
		now := opt.Now()
		key := r.URL.Query().Encode() // sorted, so equal queries share an entry
		body, ok := cache.get(key, now)
		csvOut := r.URL.Query().Get("format") == "csv"
		if !ok {
			var code int
			var err error
			body, code, err = buildReport(dir, r, opt.Base, now, csvOut)
			if err != nil {
				if code == http.StatusInternalServerError {
					opt.Logger.Error("wallboard report failed", "err", err, "dir", dir)
					err = errors.New("cannot read the record files")
				}
				httpError(w, code, err)
				return
			}
			cache.put(key, body, now)
		}
		if csvOut {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", `attachment; filename="hotline-report.csv"`)
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Write(body)
	})
}

// buildReport answers one query as JSON (or CSV), or an error with its
// HTTP status.
func buildReport(dir string, r *http.Request, base Options, now time.Time, asCSV bool) ([]byte, int, error) {
	opt, from, to, err := parseReportQuery(r, base, now)
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	switch f := r.URL.Query().Get("format"); f {
	case "", "json", "csv":
	default:
		return nil, http.StatusBadRequest, fmt.Errorf("format %q: json or csv", f)
	}
	var resp any
	var buf bytes.Buffer
	switch r.URL.Query().Get("report") {
	case "", "calls":
		var rows []Row
		rows, err = Report(Read(dir, from, to), opt)
		resp = ReportResponse{Interval: opt.Interval.String(), By: opt.By, From: from, To: to, Rows: orEmpty(rows)}
		if err == nil && asCSV {
			err = WriteCSV(&buf, rows, opt.Location)
		}
	case "agent_states":
		var rows []StateRow
		rows, err = StateReport(ReadLog[AgentStateRecord](dir, AgentStatesPrefix, from, to, nil), opt)
		resp = StateResponse{Interval: opt.Interval.String(), From: from, To: to, States: orEmpty(rows)}
		if err == nil && asCSV {
			err = WriteStateCSV(&buf, rows, opt.Location)
		}
	default:
		return nil, http.StatusBadRequest, errors.New("report must be calls or agent_states")
	}
	if err != nil {
		return nil, http.StatusInternalServerError, err
	}
	if asCSV {
		return buf.Bytes(), http.StatusOK, nil
	}
	body, err := json.Marshal(resp)
	if err != nil {
		return nil, http.StatusInternalServerError, fmt.Errorf("encode report: %w", err)
	}
	return append(body, '\n'), http.StatusOK, nil
}

// reportCache keeps recent answers; it is small because wallboards ask the
// same few questions.
type reportCache struct {
	ttl     time.Duration
	mu      sync.Mutex
	entries map[string]cacheEntry
}

type cacheEntry struct {
	at   time.Time
	body []byte
}

const maxCacheEntries = 64

func (c *reportCache) get(key string, now time.Time) ([]byte, bool) {
	if c.ttl < 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || now.Sub(e.at) >= c.ttl || now.Before(e.at) {
		return nil, false
	}
	return e.body, true
}

func (c *reportCache) put(key string, body []byte, now time.Time) {
	if c.ttl < 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCacheEntries {
		for k, e := range c.entries {
			if now.Sub(e.at) >= c.ttl {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxCacheEntries {
			clear(c.entries) // many distinct live queries: start over
		}
	}
	c.entries[key] = cacheEntry{at: now, body: body}
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
