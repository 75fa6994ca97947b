package cdr

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestReportHandler(t *testing.T) {
	srv := httptest.NewServer(ReportHandler(fixtureDir, fixtureTargets))
	defer srv.Close()

	tests := []struct {
		name     string
		method   string
		query    string
		wantCode int
		check    func(t *testing.T, body map[string]any, resp ReportResponse)
	}{
		{"hourly by tier for the 09:00 hour", http.MethodGet,
			"?interval=1h&by=tier&from=2026-11-21T09:00:00Z&to=2026-11-21T10:00:00Z", http.StatusOK,
			func(t *testing.T, _ map[string]any, resp ReportResponse) {
				check.Equal(t, "1h0m0s", resp.Interval)
				check.Equal(t, ByTier, resp.By)
				must.Len(t, resp.Rows, 3)
				d := resp.Rows[0]
				check.Equal(t, "diamond", d.Key)
				check.Equal(t, 3, d.Answered)
				check.InDelta(t, f(2.0/3), d.ServiceLevel, "diamond SL")
				check.InDelta(t, f(0.9), d.Target, "diamond target")
			}},
		{"totals and nulls for nothing to average", http.MethodGet,
			"?interval=24h&by=queue&totals=1&from=2026-11-21T11:00:00Z&to=2026-11-21T12:00:00Z", http.StatusOK,
			func(t *testing.T, body map[string]any, resp ReportResponse) {
				must.Len(t, resp.Rows, 2)
				check.Equal(t, TotalKey, resp.Rows[0].Key)
				row := body["rows"].([]any)[1].(map[string]any)
				check.Equal(t, "sales", row["key"])
				check.Equal(t, nil, row["asa_seconds"], "JSON null, not 0, when nothing was answered")
				check.Equal(t, 0.0, row["service_level"])
			}},
		{"no records in range is an empty list", http.MethodGet,
			"?from=2027-01-01T00:00:00Z&to=2027-01-02T00:00:00Z", http.StatusOK,
			func(t *testing.T, body map[string]any, resp ReportResponse) {
				check.Equal(t, []any{}, body["rows"])
				check.Equal(t, ByQueue, resp.By)
			}},
		{"bad interval", http.MethodGet, "?interval=7m", http.StatusBadRequest, nil},
		{"bad dimension", http.MethodGet, "?by=skill", http.StatusBadRequest, nil},
		{"bad time", http.MethodGet, "?from=yesterday", http.StatusBadRequest, nil},
		{"reversed range", http.MethodGet, "?from=2026-11-22T00:00:00Z&to=2026-11-21T00:00:00Z", http.StatusBadRequest, nil},
		{"range too long", http.MethodGet, "?from=2026-01-01T00:00:00Z&to=2026-11-21T00:00:00Z", http.StatusBadRequest, nil},
		{"POST refused", http.MethodPost, "", http.StatusMethodNotAllowed, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.query, nil)
			must.NoError(t, err)
			res, err := srv.Client().Do(req)
			must.NoError(t, err)
			defer res.Body.Close()
			check.Equal(t, tc.wantCode, res.StatusCode)
			check.Equal(t, "application/json", res.Header.Get("Content-Type"))
			var body map[string]any
			must.NoError(t, json.NewDecoder(res.Body).Decode(&body))
			if tc.wantCode != http.StatusOK {
				check.True(t, body["error"] != "" && body["error"] != nil, "error message in body")
				return
			}
			raw, err := json.Marshal(body)
			must.NoError(t, err)
			var resp ReportResponse
			must.NoError(t, json.Unmarshal(raw, &resp))
			tc.check(t, body, resp)
		})
	}
}

func TestReportHandlerAgentStates(t *testing.T) {
	h := ReportHandler(fixtureDir, fixtureTargets)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/?report=agent_states&interval=1h&from=2026-11-21T09:00:00Z&to=2026-11-21T12:00:00Z", nil))
	must.Equal(t, http.StatusOK, rec.Code)
	var resp StateResponse
	must.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
	// testdata/cdr/agent-states-2026-11-21.jsonl: a1 from 09:00 to 10:02:49;
	// the lunch spell from 09:02:49 is split at 10:00 (57 min 11 s + 2 min 49 s).
	var lunch09, lunch10 float64
	for _, r := range resp.States {
		if r.State == "not-ready" && r.Start.Hour() == 9 {
			lunch09 = r.Seconds
			check.InDelta(t, f(3431.0/3600), &r.Share, "share of the 09:00 hour")
		}
		if r.State == "not-ready" && r.Start.Hour() == 10 {
			lunch10 = r.Seconds
		}
	}
	check.Equal(t, 3431.0, lunch09)
	check.Equal(t, 169.0, lunch10)
	check.Len(t, resp.States, 6, "four states and lunch at 09, lunch at 10")

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/?report=queues", nil))
	check.Equal(t, http.StatusBadRequest, rec.Code)
}

func TestReportHandlerDefaultsToLastDay(t *testing.T) {
	now := time.Date(2026, 11, 21, 23, 0, 0, 0, time.UTC)
	h := NewReportHandler(fixtureDir, ReportHandlerOptions{Base: Options{Targets: fixtureTargets, ShortAbandon: 5 * time.Second},
		Now: func() time.Time { return now }})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/report", nil))
	must.Equal(t, http.StatusOK, rec.Code)
	var resp ReportResponse
	must.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
	check.Equal(t, now.Add(-24*time.Hour), resp.From)
	check.Equal(t, now, resp.To)
	offered := 0
	for _, r := range resp.Rows {
		offered += r.Offered
	}
	check.Equal(t, 14, offered, "07 (09h) + 06 (10h) + 01 (11h), short abandons excluded")
}

func TestReportHandlerCachesBriefly(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(fixtureDir, "calls-2026-11-21.jsonl"))
	must.NoError(t, err)
	name := filepath.Join(dir, "calls-2026-11-21.jsonl")
	must.NoError(t, os.WriteFile(name, src, 0o644))
	clock := &fakeClock{t: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)}
	h := NewReportHandler(dir, ReportHandlerOptions{Now: clock.Now, CacheTTL: 5 * time.Second})
	calls := func(query string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/"+query, nil))
		must.Equal(t, http.StatusOK, rec.Code)
		var resp ReportResponse
		must.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
		n := 0
		for _, r := range resp.Rows {
			n += r.Calls
		}
		return n
	}
	check.Equal(t, 20, calls("?by=tier&interval=24h"))
	must.NoError(t, os.WriteFile(name, src[:bytes.IndexByte(src, '\n')+1], 0o644)) // only c01 left
	clock.Set(clock.Now().Add(4 * time.Second))
	check.Equal(t, 20, calls("?interval=24h&by=tier"), "same query (other order) within the TTL: cached")
	check.Equal(t, 1, calls("?by=queue&interval=24h"), "another query reads the files")
	clock.Set(clock.Now().Add(time.Second))
	check.Equal(t, 1, calls("?by=tier&interval=24h"), "after the TTL the files are read again")
}

// format=csv is the CLI's CSV, byte for byte, for the same query.
func TestReportHandlerCSVEqualsCommand(t *testing.T) {
	srv := httptest.NewServer(ReportHandler(fixtureDir, fixtureTargets))
	defer srv.Close()
	for _, by := range []string{"tier", "queue", "agent", "access_number", "wrap_up_code"} {
		res, err := srv.Client().Get(srv.URL + "?format=csv&totals=1&interval=1h&by=" + by + "&from=2026-11-21T00:00:00Z&to=2026-11-22T00:00:00Z")
		must.NoError(t, err)
		var got bytes.Buffer
		_, _ = got.ReadFrom(res.Body)
		res.Body.Close()
		check.Equal(t, http.StatusOK, res.StatusCode)
		check.Equal(t, "text/csv; charset=utf-8", res.Header.Get("Content-Type"))
		var want, errOut bytes.Buffer
		setup := func(string) (ReportSetup, error) {
			return ReportSetup{Dir: fixtureDir, Base: Options{Targets: fixtureTargets}}, nil
		}
		must.NoError(t, ReportCommand([]string{"-by", by, "-totals", "-csv", "-from", "2026-11-21", "-to", "2026-11-22"}, &want, &errOut, setup, time.Now()))
		check.Equal(t, want.String(), got.String(), "by "+by)
	}
	res, err := srv.Client().Get(srv.URL + "?format=xml")
	must.NoError(t, err)
	res.Body.Close()
	check.Equal(t, http.StatusBadRequest, res.StatusCode)
}
