package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd/cdr"
)

// `hotline report -dir D` without -config judges calls by the thresholds
// of the configuration hotline runs by default (the demo's tiers: diamond
// 95 % within 10 s), and -config names any other; -h documents -config.
func TestReportThresholdsWithDir(t *testing.T) {
	run := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := cdr.ReportCommand(args, &out, &errOut, reportSetup, time.Now()); err != nil {
			t.Fatalf("report %v: %v\n%s", args, err, errOut.String())
		}
		return out.String()
	}
	csv := run("-dir", "../../testdata/cdr", "-by", "tier", "-interval", "24h", "-from", "2026-11-21", "-to", "2026-11-22", "-csv")
	var diamond string
	for _, l := range strings.Split(csv, "\n") {
		if strings.Contains(l, ",tier,diamond,") {
			diamond = l
		}
	}
	// start,by,key,calls,offered,answered,abandoned,short_abandoned,abandoned_ivr,overflowed,rona,answered_within,within_s,service_level,target
	f := strings.Split(diamond, ",")
	if len(f) < 15 || f[12] != "10" || f[14] != "0.9500" {
		t.Fatalf("diamond row %q: want the demo's 10 s threshold and 95 %% target", diamond)
	}
	cfg := run("-config", "../../testdata/hotline.yaml", "-dir", "../../testdata/cdr", "-by", "wrap_up_code", "-interval", "24h", "-from", "2026-11-21", "-to", "2026-11-22")
	if !strings.Contains(cfg, "resolved") || !strings.Contains(cfg, "wrap_up_code") {
		t.Fatalf("-by wrap_up_code table:\n%s", cfg)
	}
	var out, errOut bytes.Buffer
	_ = cdr.ReportCommand([]string{"-h"}, &out, &errOut, reportSetup, time.Now())
	if !strings.Contains(errOut.String(), "-config") || !strings.Contains(errOut.String(), "wrap_up_code") {
		t.Fatalf("help does not document -config and wrap_up_code:\n%s", errOut.String())
	}
}
