package cdr

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReportCommand(t *testing.T) {
	base := Options{Targets: fixtureTargets, ShortAbandon: 5 * time.Second}
	now := time.Date(2026, 11, 21, 18, 0, 0, 0, time.UTC)
	golden, err := os.ReadFile(filepath.Join(fixtureDir, "report-tier-1h.csv"))
	must.NoError(t, err)
	tests := []struct {
		name    string
		args    []string
		want    func(t *testing.T, out string)
		wantErr string
	}{
		{"CSV by tier matches the golden file", []string{"-by", "tier", "-totals", "-csv"},
			func(t *testing.T, out string) { check.Equal(t, string(golden), out) }, ""},
		{"table by queue for one hour", []string{"-by", "queue", "-from", "2026-11-21T10:00:00Z", "-to", "2026-11-21T11:00:00Z"},
			func(t *testing.T, out string) {
				lines := strings.Split(strings.TrimSpace(out), "\n")
				check.Len(t, lines, 4, "header, no-queue, sales, support")
				check.Contains(t, lines[2], "sales")
				check.Contains(t, lines[3], "66.7%") // support SL 2/3
			}, ""},
		{"day rows by access number with dates", []string{"-by", "access_number", "-interval", "24h", "-from", "2026-11-21", "-to", "2026-11-22", "-csv"},
			func(t *testing.T, out string) {
				check.Contains(t, out, "2026-11-21T00:00:00Z,access_number,4001,10,8,7,1,0,1,0,3,4,-,0.5000,")
			}, ""},
		{"agent state durations as CSV", []string{"-by", "agent_states", "-csv"},
			func(t *testing.T, out string) { check.Contains(t, out, "2026-11-21T09:00:00Z,a1,talking,1,130.0,") }, ""},
		{"agent state durations as a table", []string{"-by", "agent_states"},
			func(t *testing.T, out string) {
				check.NotContains(t, out, ",")
				check.Contains(t, out, "2026-11-21 09:00")
				check.Contains(t, out, "0:02:10") // a1 talking 130 s
			}, ""},
		{"by wrap-up code", []string{"-by", "wrap_up_code", "-interval", "24h", "-csv"},
			func(t *testing.T, out string) {
				check.Contains(t, out, "2026-11-21T00:00:00Z,wrap_up_code,resolved,")
				check.Contains(t, out, "2026-11-21T00:00:00Z,wrap_up_code,callback,")
			}, ""},
		{"config the setup cannot load", []string{"-config", "nope.yaml"}, nil, "no such configuration nope.yaml"},
		{"bad dimension", []string{"-by", "skill"}, nil, "not one of queue"},
		{"bad date", []string{"-from", "monday"}, nil, "neither RFC 3339"},
		{"reversed range", []string{"-from", "2026-11-22", "-to", "2026-11-21"}, nil, "before -to"},
		{"stray argument", []string{"tier"}, nil, "unexpected argument"},
		{"unknown flag", []string{"-format", "x"}, nil, "not defined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			setup := func(path string) (ReportSetup, error) {
				if path != "" {
					return ReportSetup{}, errors.New("no such configuration " + path)
				}
				return ReportSetup{Dir: "/nonexistent", Base: base}, nil
			}
			err := ReportCommand(append([]string{"-dir", fixtureDir}, tc.args...), &out, &errOut, setup, now)
			if tc.wantErr != "" {
				check.ErrorContains(t, err, tc.wantErr)
				return
			}
			must.NoError(t, err)
			tc.want(t, out.String())
		})
	}
}
