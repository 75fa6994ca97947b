package engine

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/cmd/hotline/internal/config"
	"github.com/hotlinecc/hotline/sip/sipptest"
)

// ivrTestFlow exercises the IVR nodes the demo flow lacks, with short timers.
const ivrTestFlow = `name: ivrtest
language: en
start: account
nodes:
  account:
    type: collect
    prompt: beep
    var: account
    min: 3
    max: 8
    terminator: "#"
    first_digit_timeout: 2s
    inter_digit_timeout: 2s
    pattern: "[0-9]+"
    retries: 1
    next: choose
    failure: no-account
  no-account:
    type: set
    vars: {path: noinput}
    next: choose
  choose:
    type: menu
    prompt: beep
    options: {"1": q}
    timeout: 2s
    retries: 1
    default: q
  q:
    type: queue
    queue: billing
    moh: moh
    max_wait: 3s
    overflow: vm
    next: bye
  vm:
    type: record
    prompt: beep
    beep: beep
    max_length: 5s
    silence_timeout: 2s
    stop_digit: "#"
    var: voicemail
    next: bye
  bye:
    type: hangup
    prompt: beep
    reason: done
`

// startIVRDemo runs the demo plus flow ivrtest on access number 10099, from
// a flow directory the test may rewrite (for reloads).
func startIVRDemo(t *testing.T) (*demo, string) {
	t.Helper()
	dir := t.TempDir()
	main, err := os.ReadFile("../../../../testdata/flows/main.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.yaml"), main, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ivrtest.yaml"), []byte(ivrTestFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDemo(t, func(c *config.Config) {
		c.Flows = dir
		c.AccessNumbers["10099"] = "ivrtest"
	})
	return d, dir
}

// holdBilling logs agent 1001 in (billing) but not ready, so billing callers wait.
func holdBilling(t *testing.T, d *demo) {
	d.agentPhone(t, "1001", sipptest.Agent{NoAnswer: true}, 1)
	if err := d.e.ACD().SetNotReady("1001", "meeting"); err != nil {
		t.Fatal(err)
	}
}

func TestIVRCollectOverflowVoicemail(t *testing.T) {
	t.Parallel()
	d, _ := startIVRDemo(t)
	holdBilling(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := d.callTo(t, ctx, "13800000003", "10099")
	c.waitAudio(5) // the beep prompt is playing
	for _, k := range "1234#" {
		c.press(k)
	}
	c.waitAudio(c.packets() + 10) // menu beep
	c.press('1')
	// Queue: 3 s of music, then overflow to voicemail: beep, beep, record
	// (the engine falls silent while it records).
	c.waitAudio(c.packets() + 100)
	c.waitQuiet(150 * time.Millisecond)
	sendTone(t, c.media, c.engineMedia(), 700, time.Second, 0x70ce)
	c.press('#')
	if r := c.finished(ctx); r.ExitCode != 0 {
		t.Fatalf("caller: exit %d\n%s", r.ExitCode, sipptest.Logs(r.Dir))
	}
	res := d.result(t, ctx)
	if res.Vars["account"] != "1234" || !traceHas(res, "account", "collected", "1234") {
		t.Fatalf("collect: account %q, trace %s", res.Vars["account"], traceString(res))
	}
	if !traceHas(res, "q", "overflow", "") || !traceHas(res, "vm", "recorded", "") {
		t.Fatalf("no overflow to voicemail: %s", traceString(res))
	}
	if len(res.Recordings) != 1 {
		t.Fatalf("recordings %v", res.Recordings)
	}
	st, err := os.Stat(res.Recordings[0])
	if err != nil {
		t.Fatal(err)
	}
	// 44-byte header + at least 0.8 s of 8 kHz 16-bit audio.
	if st.Size() < 44+2*8000*8/10 {
		t.Fatalf("voicemail %s holds only %d bytes", res.Recordings[0], st.Size())
	}
}

func TestIVRNoInputPaths(t *testing.T) {
	t.Parallel()
	d, _ := startIVRDemo(t)
	holdBilling(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := d.callTo(t, ctx, "13800000003", "10099") // presses nothing at all
	if r := c.finished(ctx); r.ExitCode != 0 {
		t.Fatalf("caller: exit %d\n%s", r.ExitCode, sipptest.Logs(r.Dir))
	}
	res := d.result(t, ctx)
	if res.Vars["path"] != "noinput" || !traceHas(res, "account", "no_input", "") || !traceHas(res, "choose", "no_input", "") || !traceHas(res, "choose", "retries_out", "") {
		t.Fatalf("no-input path not taken: vars %v trace %s", res.Vars, traceString(res))
	}
	if !traceHas(res, "q", "overflow", "") {
		t.Fatalf("queue max wait did not overflow: %s", traceString(res))
	}
}

func TestIVRInvalidDigitThenRetry(t *testing.T) {
	t.Parallel()
	d := startDemo(t, nil)
	holdBilling(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := d.dial(t, ctx, "13800000002", "10010", 16*time.Second) // hangs up while queued
	c.waitAudio(greetingFrames + 25)
	c.press('9') // not on the menu
	c.waitAudio(c.packets() + 25)
	c.press('1')
	if r := c.finished(ctx); r.ExitCode != 0 {
		t.Fatalf("caller: exit %d\n%s", r.ExitCode, sipptest.Logs(r.Dir))
	}
	res := d.result(t, ctx)
	if !traceHas(res, "main-menu", "invalid", "9") || !traceHas(res, "main-menu", "choice", "1") || !traceHas(res, "queue-billing", "queued", "") {
		t.Fatalf("invalid then retry: %s", traceString(res))
	}
}

func TestFlowReloadOverHTTPKeepsOldFlowsOnError(t *testing.T) {
	t.Parallel()
	d, dir := startIVRDemo(t)
	post := func(user, pass string) (int, string) {
		req, _ := http.NewRequest("POST", "http://"+d.e.HTTPAddr()+"/admin/reload", nil)
		req.SetBasicAuth(user, pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := post("1001", "pass1001"); code != http.StatusForbidden {
		t.Fatalf("agent may reload flows: %d", code)
	}
	if code, body := post("9001", "pass9001"); code != http.StatusOK {
		t.Fatalf("reload: %d %s", code, body)
	}
	v := d.e.flows.Version()
	bad := strings.Replace(ivrTestFlow, "next: bye\n  vm:", "next: nowhere\n  vm:", 1)
	if err := os.WriteFile(filepath.Join(dir, "ivrtest.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	code, body := post("9001", "pass9001")
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "ivrtest.yaml:") || !strings.Contains(body, "nowhere") || !strings.Contains(body, `"q"`) {
		t.Fatalf("bad reload: %d %s", code, body)
	}
	if d.e.flows.Version() != v {
		t.Fatal("a failed reload replaced the flows")
	}
	if _, ok := d.e.flows.FlowForNumber("10099"); !ok {
		t.Fatal("10099 lost after a failed reload")
	}
}
