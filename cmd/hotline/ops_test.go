package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/sip/sipptest"
)

// opsConfig writes the demo configuration with absolute paths and the
// given replacements (from, to pairs; each from must be in the demo) and
// extra YAML appended.
func opsConfig(t *testing.T, appendYAML string, replace ...string) string {
	t.Helper()
	src, err := os.ReadFile("../../testdata/hotline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	testdata, err := filepath.Abs("../../testdata")
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(src)
	pairs := append([]string{
		"flows: flows", "flows: " + filepath.Join(testdata, "flows"),
		"prompts: prompts", "prompts: " + filepath.Join(testdata, "prompts"),
		"file: crm/customers.csv", "file: " + filepath.Join(testdata, "crm", "customers.csv"),
		"campaigns: campaigns", "campaigns: " + filepath.Join(testdata, "campaigns"),
	}, replace...)
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(cfg, pairs[i]) {
			t.Fatalf("demo configuration lacks %q", pairs[i])
		}
		cfg = strings.ReplaceAll(cfg, pairs[i], pairs[i+1])
	}
	cfg += "\n" + appendYAML
	path := filepath.Join(t.TempDir(), "hotline.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// moreAgents is YAML for agents 1004..(1000+n) serving the general queue
// first, with the demo's password scheme.
func moreAgents(n int) string {
	var b strings.Builder
	for i := 4; i <= n; i++ {
		id := fmt.Sprintf("%d", 1000+i)
		fmt.Fprintf(&b, "  - {id: \"%s\", name: Agent %s, password: pass%s, role: agent, skills: {general: 1}}\n", id, id, id)
	}
	return b.String()
}

// engineEnv is a single engine's addresses and directories.
type engineEnv struct {
	sip, http       string
	records, recDir string
	env             []string
}

func newEngineEnv(t *testing.T, rtpBase int) *engineEnv {
	t.Helper()
	e := &engineEnv{
		sip: fmt.Sprintf("127.0.0.1:%d", sipptest.FreeUDPPort(t)), http: fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t)),
		records: t.TempDir(), recDir: t.TempDir(),
	}
	e.env = []string{
		"HOTLINE_SIP_UDP=" + e.sip, "HOTLINE_SIP_TCP=" + e.sip, "HOTLINE_HTTP_LISTEN=" + e.http,
		fmt.Sprintf("HOTLINE_RTP_PORTS=%d-%d", rtpBase, rtpBase+199),
		"HOTLINE_RECORDS=" + e.records, "HOTLINE_RECORDINGS=" + e.recDir,
	}
	return e
}

// agentStates is GET /api/agents (supervisor) as id → state.
func agentStates(t *testing.T, httpAddr string) map[string]string {
	t.Helper()
	n := &node{name: "engine", http: httpAddr}
	out := map[string]string{}
	for id, a := range n.agents(t) {
		out[id] = a.State
	}
	return out
}

func countState(states map[string]string, want string) int {
	n := 0
	for _, s := range states {
		if s == want {
			n++
		}
	}
	return n
}

func httpStatus(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// exitCode waits for the engine to exit and returns its exit code.
func (p *proc) exitCode(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit): // hang guard, not a timing assertion
		t.Fatalf("engine did not exit:\n%s", p.logText())
	}
	return p.cmd.ProcessState.ExitCode()
}

// SIGTERM with ten calls in progress: a new INVITE gets 503 and /readyz
// 503 at once, the ten calls go on to their normal end (the callers hang
// up), their records say so (answered, ended by the caller, not
// dropped), and the engine exits 0 when the last has ended. Then, on a
// second run, a second SIGTERM cuts the grace short: the calls still up
// end as the engine's doing and it exits 0.
func TestSIGTERMDrainsCalls(t *testing.T) {
	bin := binary(t)
	cfg := opsConfig(t, "shutdown: {grace: 3m}\n", "  - {id: \"9001\"", moreAgents(11)+"  - {id: \"9001\"")
	ee := newEngineEnv(t, 31000)
	eng := startConfig(t, bin, cfg, ee.env)

	phonePort := sipptest.FreeUDPPort(t)
	sipptest.Start(t, sipptest.Options{
		Scenario:  sipptest.Render(t, sipptest.AgentTemplate, sipptest.Agent{RingMs: 100}),
		LocalPort: phonePort, Calls: 20, Timeout: 170 * time.Second,
	})
	for i := 1; i <= 11; i++ {
		if i == 2 {
			continue // 1002 does not serve the general queue
		}
		sipptest.RegisterPhone(t, ee.sip, fmt.Sprintf("%d", 1000+i), fmt.Sprintf("pass%d", 1000+i), phonePort, 300)
	}
	eventually(t, "ten agents ready", 20*time.Second, func() bool { return countState(agentStates(t, ee.http), "ready") == 10 })

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var callers sipptest.Result
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Diamond callers go straight to the general queue; each hangs up
		// 30 s after the engine answered.
		callers = sipptest.Run(t, ctx, sipptest.Options{
			Target: ee.sip, Service: "10010", Calls: 10, Rate: 10, Limit: 10,
			Scenario: sipptest.Render(t, sipptest.CallerTemplate, sipptest.Caller{Formats: "0 101", Body: true, PauseMs: 30000, From: "13800000001"}),
			Timeout:  120 * time.Second,
		})
	}()
	eventually(t, "ten agents talking", 30*time.Second, func() bool { return countState(agentStates(t, ee.http), "talking") == 10 })

	if err := eng.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, "/readyz 503", 10*time.Second, func() bool { return httpStatus("http://"+ee.http+"/readyz") == 503 })
	refused := sipptest.Run(t, ctx, sipptest.Options{
		Target: ee.sip, Service: "10010",
		Scenario: sipptest.Render(t, sipptest.CallerTemplate, sipptest.Caller{Formats: "0 101", Body: true, Expect: 503, From: "13800000002"}),
		Timeout:  20 * time.Second,
	})
	if refused.ExitCode != 0 {
		t.Fatalf("new call while draining did not get 503 (sipp exit %d)\n%s%s", refused.ExitCode, refused.Output, sipptest.Logs(refused.Dir))
	}
	if s := agentStates(t, ee.http); countState(s, "talking") != 10 {
		t.Fatalf("calls in progress disturbed by the drain: %v", s)
	}
	wg.Wait()
	if callers.ExitCode != 0 {
		t.Fatalf("the ten callers did not all finish normally (sipp exit %d)\n%s%s", callers.ExitCode, callers.Output, sipptest.Logs(callers.Dir))
	}
	if code := eng.exitCode(t, 60*time.Second); code != 0 {
		t.Fatalf("engine exit code %d after the drain\n%s", code, eng.logText())
	}
	if !strings.Contains(eng.logText(), "every call has ended") || strings.Contains(eng.logText(), "ending the calls still in progress") {
		t.Fatalf("the drain did not end by the calls ending:\n%s", eng.logText())
	}
	n := &node{name: "engine", records: ee.records}
	recs := n.callRecords(t)
	answered := 0
	for _, r := range recs {
		if r.Caller != "13800000001" {
			continue
		}
		answered++
		if r.Disposition != "answered" {
			t.Errorf("call %s: disposition %s, want answered", r.CallID, r.Disposition)
		}
	}
	if answered != 10 || len(recs) != 10 {
		t.Fatalf("%d records (%d of the ten callers); want exactly the ten", len(recs), answered)
	}
	for _, line := range readLines(t, ee.records, "calls") {
		if !strings.Contains(line, `"ended_by":"caller"`) || strings.Contains(line, `"dropped":true`) {
			t.Errorf("record of a call that finished during the drain: %s", line)
		}
	}

	// Second run: two calls whose callers wait for the engine's BYE; the
	// first SIGTERM drains, the second ends them at once.
	ee2 := newEngineEnv(t, 31400)
	eng2 := startConfig(t, bin, cfg, ee2.env)
	phone2 := sipptest.FreeUDPPort(t)
	sipptest.Start(t, sipptest.Options{
		Scenario:  sipptest.Render(t, sipptest.AgentTemplate, sipptest.Agent{RingMs: 100}),
		LocalPort: phone2, Calls: 4, Timeout: 120 * time.Second,
	})
	for _, id := range []string{"1004", "1005"} {
		sipptest.RegisterPhone(t, ee2.sip, id, "pass"+id, phone2, 300)
	}
	eventually(t, "two agents ready", 20*time.Second, func() bool { return countState(agentStates(t, ee2.http), "ready") == 2 })
	var held sipptest.Result
	wg.Add(1)
	go func() {
		defer wg.Done()
		held = sipptest.Run(t, ctx, sipptest.Options{
			Target: ee2.sip, Service: "10010", Calls: 2, Rate: 10, Limit: 2,
			Scenario: sipptest.Render(t, sipptest.CallerTemplate, sipptest.Caller{Formats: "0 101", Body: true, WaitBye: true, From: "13800000001"}),
			Timeout:  100 * time.Second,
		})
	}()
	eventually(t, "two agents talking", 30*time.Second, func() bool { return countState(agentStates(t, ee2.http), "talking") == 2 })
	if err := eng2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, "/readyz 503", 10*time.Second, func() bool { return httpStatus("http://"+ee2.http+"/readyz") == 503 })
	select {
	case <-eng2.done:
		t.Fatalf("the engine exited on the first SIGTERM with calls up:\n%s", eng2.logText())
	default:
	}
	if err := eng2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := eng2.exitCode(t, 30*time.Second); code != 0 {
		t.Fatalf("engine exit code %d after the second SIGTERM\n%s", code, eng2.logText())
	}
	wg.Wait()
	if held.ExitCode != 0 {
		t.Fatalf("callers did not get the engine's BYE (sipp exit %d)\n%s", held.ExitCode, sipptest.Logs(held.Dir))
	}
	lines := readLines(t, ee2.records, "calls")
	if len(lines) != 2 {
		t.Fatalf("records after the cut: %v", lines)
	}
	for _, line := range lines {
		if !strings.Contains(line, `"ended_by":"shutdown"`) || !strings.Contains(line, `"disposition":"answered"`) {
			t.Errorf("record of a call cut by the second SIGTERM: %s", line)
		}
	}
}

// readLines returns the JSON lines of the logs in dir whose names start
// with prefix.
func readLines(t *testing.T, dir, prefix string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, prefix+"*"))
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l != "" {
				out = append(out, l)
			}
		}
	}
	return out
}
