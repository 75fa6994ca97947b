package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotlinecc/hotline/acd/redisstore/redistest"
	"github.com/hotlinecc/hotline/agentapi/browsertest"
	"github.com/hotlinecc/hotline/sip/sipptest"
)

// until polls a page condition for up to limit (the page reconnects with
// a back-off of up to 10 s).
func until(t *testing.T, b *browsertest.Page, what, js string, limit time.Duration) {
	t.Helper()
	guarded := "(() => { try { return !!(" + js + ") } catch (e) { return false } })()"
	deadline := time.Now().Add(limit) // hang guard, not a timing assertion
	for b.Eval(guarded) != "true" {
		if time.Now().After(deadline) {
			t.Fatalf("page never showed %s (%s)", what, js)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A restart keeps the phones and the desktops: the engine is stopped
// (SIGTERM) and started again on the same addresses; a call then reaches
// agent 1003's phone although it never registered again, and agent 1001's
// desktop page (headless Chromium) reconnects and resumes its session by
// itself, showing its true state (not ready, "meeting", as before the
// restart) rather than the sign-in form.
func TestRestartKeepsPhonesAndDesktops(t *testing.T) {
	bin := binary(t)
	cfg := opsConfig(t, "")
	ee := newEngineEnv(t, 31800)
	eng := startConfig(t, bin, cfg, ee.env)

	phone := sipptest.FreeUDPPort(t)
	sipptest.Start(t, sipptest.Options{
		Scenario:  sipptest.Render(t, sipptest.AgentTemplate, sipptest.Agent{RingMs: 100}),
		LocalPort: phone, Calls: 2, Timeout: 170 * time.Second,
	})
	sipptest.RegisterPhone(t, ee.sip, "1003", "pass1003", phone, 3600)
	eventually(t, "1003 ready", 20*time.Second, func() bool { return agentStates(t, ee.http)["1003"] == "ready" })

	b := browsertest.Chromium(t)
	b.Navigate("http://" + ee.http + "/")
	until(t, b, "login form", `!document.getElementById("login-view").hidden && document.getElementById("conn").textContent === "online"`, 20*time.Second)
	b.Eval(`document.getElementById("login-agent").value = "1001";
		document.getElementById("login-password").value = "pass1001";
		document.getElementById("login-form").requestSubmit(); true`)
	until(t, b, "agent view", `!document.getElementById("agent-view").hidden && document.getElementById("state").dataset.state === "ready"`, 20*time.Second)
	b.Eval(`document.getElementById("nr-reason").value = "meeting"; document.querySelector('[data-state="not_ready"]').click(); true`)
	until(t, b, "not ready shown", `document.getElementById("state").dataset.state === "not-ready"`, 20*time.Second)
	token := b.Eval(`sessionStorage.getItem("hotline.token")`)

	// The restart.
	if err := eng.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := eng.exitCode(t, 30*time.Second); code != 0 {
		t.Fatalf("engine exit %d\n%s", code, eng.logText())
	}
	eng2 := startConfig(t, bin, cfg, ee.env)

	// The page comes back by itself, signed in, in its true state.
	until(t, b, "resumed after the restart", `document.getElementById("conn").textContent === "online" && !document.getElementById("agent-view").hidden && document.getElementById("login-view").hidden`, 40*time.Second)
	until(t, b, "true state after the restart", `document.getElementById("state").dataset.state === "not-ready"`, 20*time.Second)
	if now := b.Eval(`sessionStorage.getItem("hotline.token")`); now == token || now == "" {
		t.Fatalf("token after the restart %q (before %q): want a fresh one", now, token)
	}
	if s := agentStates(t, ee.http); s["1001"] != "not-ready" || s["1003"] != "ready" {
		t.Fatalf("agents after the restart: %v", s)
	}
	if !strings.Contains(eng2.logText(), "phone registrations restored") {
		t.Fatalf("no registrations restored:\n%s", eng2.logText())
	}

	// A call reaches 1003's phone with no new REGISTER.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := sipptest.Run(t, ctx, sipptest.Options{
		Target: ee.sip, Service: "10010",
		Scenario: sipptest.Render(t, sipptest.CallerTemplate, sipptest.Caller{Formats: "0 101", Body: true, PauseMs: 6000, From: "13800000001"}),
		Timeout:  50 * time.Second,
	})
	if r.ExitCode != 0 {
		t.Fatalf("call after the restart failed (sipp exit %d)\n%s", r.ExitCode, sipptest.Logs(r.Dir))
	}
	n := &node{records: ee.records}
	eventually(t, "the call's record", 20*time.Second, func() bool {
		for _, rec := range n.callRecords(t) {
			if rec.Caller == "13800000001" && rec.Agent == "1003" && rec.Times.Answered != nil {
				return true
			}
		}
		return false
	})
	// While the engine was down the page's reconnects were refused: the
	// browser logs those itself; anything else is the page's fault.
	for _, x := range b.Errors() {
		if strings.Contains(x, `"source":"network"`) && strings.Contains(x, "/ws' failed") && strings.Contains(x, "ERR_CONNECTION_REFUSED") {
			continue
		}
		t.Errorf("page error: %s", x)
	}
}

// tree fingerprints every file under dirs (path, size, mode, content).
func tree(t *testing.T, dirs ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, d := range dirs {
		_ = filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			info, ierr := e.Info()
			if ierr != nil {
				return nil
			}
			sum := ""
			if !e.IsDir() {
				b, _ := os.ReadFile(p)
				h := sha256.Sum256(b)
				sum = hex.EncodeToString(h[:])
			}
			out[p] = fmt.Sprintf("%v %d %s %s", info.Mode(), info.Size(), info.ModTime().Format(time.RFC3339Nano), sum)
			return nil
		})
	}
	return out
}

func diffTrees(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if b[k] != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k+" (new)")
		}
	}
	sort.Strings(out)
	return out
}

// `hotline -check` has no side effects, even with an engine running on the
// same addresses and directories: it succeeds, and the records, state and
// recordings directories (where a crash-left recording waits to be
// repaired) are byte for byte as before; against Redis (store: redis) it
// opens no connection at all. The embedded demo (no flags) checks the same
// way.
func TestCheckHasNoSideEffects(t *testing.T) {
	bin := binary(t)
	cfg := opsConfig(t, "")
	ee := newEngineEnv(t, 32200)
	eng := startConfig(t, bin, cfg, ee.env)
	// A recording a crash left "recording": repair is the engine's job at
	// its start, never -check's.
	day := filepath.Join(ee.recDir, "2026", "12", "01")
	if err := os.MkdirAll(day, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(day, "crashed.json"), []byte(`{"call_id":"crashed","state":"recording","format":{"channels":2}}`), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(day, "crashed.wav"), make([]byte, 1000), 0o640); err != nil {
		t.Fatal(err)
	}
	eventually(t, "state saved", 10*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(ee.records, "state", "session.key"))
		return err == nil
	})
	time.Sleep(1500 * time.Millisecond) // the engine's own periodic writes settle
	before := tree(t, ee.records, ee.recDir)

	cmd := exec.Command(bin, "-check", "-config", cfg)
	cmd.Env = append(os.Environ(), ee.env...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "valid") {
		t.Fatalf("-check with the engine running: %v\n%s", err, out)
	}
	if d := diffTrees(before, tree(t, ee.records, ee.recDir)); len(d) > 0 {
		t.Fatalf("-check changed files: %v", d)
	}
	// The embedded demo, with the same overrides.
	cmd = exec.Command(bin, "-check")
	cmd.Env = append(os.Environ(), ee.env...)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "valid") {
		t.Fatalf("-check of the embedded demo: %v\n%s", err, out)
	}
	if d := diffTrees(before, tree(t, ee.records, ee.recDir)); len(d) > 0 {
		t.Fatalf("-check of the demo changed files: %v", d)
	}
	select {
	case <-eng.done:
		t.Fatalf("the engine died during -check:\n%s", eng.logText())
	default:
	}

	// store: redis: -check never connects.
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	conns := func() string {
		info, err := rdb.Info(context.Background(), "stats").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(l, "total_connections_received:"); ok {
				return v
			}
		}
		t.Fatalf("no connection count in %q", info)
		return ""
	}
	redisCfg := opsConfig(t, fmt.Sprintf("store: redis\nredis: {addr: %s, prefix: \"chk:\"}\n", srv.Addr))
	was := conns()
	cmd = exec.Command(bin, "-check", "-config", redisCfg)
	cmd.Env = append(os.Environ(), ee.env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("-check, store redis: %v\n%s", err, out)
	}
	if now := conns(); now != was {
		t.Fatalf("-check connected to Redis: connections %s → %s", was, now)
	}
	if n, err := rdb.DBSize(context.Background()).Result(); err != nil || n != 0 {
		t.Fatalf("Redis after -check: %d keys (%v)", n, err)
	}
	// A bad file still fails, naming file and line.
	bad := opsConfig(t, "no_such_key: 1\n")
	if out, err := exec.Command(bin, "-check", "-config", bad).CombinedOutput(); err == nil || !strings.Contains(string(out), bad+":") {
		t.Fatalf("-check of a bad file: %v\n%s", err, out)
	}
}
