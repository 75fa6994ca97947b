package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/sip/sipptest"
)

// binary builds the hotline command once per test run.
func binary(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "hotline")
	cmd := exec.Command("go", "build", "-o", out, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	log  *strings.Builder
}

func (p *proc) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// start runs the engine on the repository's demo configuration with the
// addresses moved to free ports (through the documented env overrides).
func start(t *testing.T, bin string, env []string) *proc {
	t.Helper()
	return startConfig(t, bin, "../../testdata/hotline.yaml", env)
}

// startConfig runs the engine on a configuration file.
func startConfig(t *testing.T, bin, config string, env []string) *proc {
	t.Helper()
	cmd := exec.Command(bin, "-config", config)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), log: &strings.Builder{}}
	serving := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if !once && strings.Contains(sc.Text(), "hotline serving") {
				once = true
				close(serving)
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	select {
	case <-serving:
	case <-p.done:
		t.Fatalf("engine exited at start-up:\n%s", p.logText())
	case <-time.After(15 * time.Second):
		t.Fatalf("engine not serving:\n%s", p.logText())
	}
	return p
}

func (p *proc) kill() {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

func freeTCPPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestBadConfigNamesFileAndKey(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	data, err := os.ReadFile("../../testdata/hotline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(data), "skills: {billing: 1, general: 2}", "skills: {billing: 0, nosuchqueue: 2}", 1)
	if err := os.WriteFile(bad, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-check", "-config", bad).CombinedOutput()
	if err == nil {
		t.Fatalf("bad config accepted:\n%s", out)
	}
	for _, want := range []string{bad, "agents[0].skills.billing", "agents[0].skills.nosuchqueue"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("error output lacks %q:\n%s", want, out)
		}
	}
	// The demo itself is valid.
	if out, err := exec.Command(bin, "-check", "-config", "../../testdata/hotline.yaml").CombinedOutput(); err != nil {
		t.Fatalf("demo config rejected: %v\n%s", err, out)
	}
}

// Kill the engine with SIGKILL in the middle of a recorded call; on restart
// the recording is repaired and plays up to (about) the moment of the kill.
func TestRecordingSurvivesSIGKILL(t *testing.T) {
	bin := binary(t)
	recDir := t.TempDir()
	sipPort := sipptest.FreeUDPPort(t)
	httpPort := freeTCPPort(t)
	base := 30000 + 2*(os.Getpid()%1000) // below the ephemeral range
	env := []string{
		fmt.Sprintf("HOTLINE_SIP_UDP=127.0.0.1:%d", sipPort), fmt.Sprintf("HOTLINE_SIP_TCP=127.0.0.1:%d", sipPort),
		fmt.Sprintf("HOTLINE_HTTP_LISTEN=127.0.0.1:%d", httpPort), fmt.Sprintf("HOTLINE_RTP_PORTS=%d-%d", base, base+200),
		"HOTLINE_RECORDINGS=" + recDir,
	}
	eng := start(t, bin, env)
	target := "127.0.0.1:" + strconv.Itoa(sipPort)

	agentPort := sipptest.FreeUDPPort(t)
	sipptest.Start(t, sipptest.Options{
		Scenario:  sipptest.Render(t, sipptest.AgentTemplate, sipptest.Agent{RingMs: 100, TalkMs: 60000}),
		LocalPort: agentPort, Timeout: 90 * time.Second,
	})
	sipptest.RegisterPhone(t, target, "1003", "pass1003", agentPort, 300)
	time.Sleep(500 * time.Millisecond) // the engine logs 1003 in on its next registration sweep (200 ms)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go sipptest.Run(t, ctx, sipptest.Options{
		Target: target, Service: "10010",
		Scenario: sipptest.Render(t, sipptest.CallerTemplate, sipptest.Caller{Formats: "0 101", Body: true, WaitBye: true, From: "13800000001"}),
		Timeout:  60 * time.Second,
	})
	// The diamond caller goes straight to 1003; wait for the recording to start.
	var wav string
	for wav == "" {
		m, _ := filepath.Glob(filepath.Join(recDir, "*", "*", "*", "*.wav"))
		if len(m) > 0 {
			wav = m[0]
		}
		if ctx.Err() != nil {
			t.Fatalf("no recording started:\n%s", eng.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	started := time.Now()
	time.Sleep(3 * time.Second)
	eng.kill()
	killedAfter := time.Since(started)

	sidecar := strings.TrimSuffix(wav, ".wav") + ".json"
	var meta struct {
		State      string `json:"state"`
		DurationMS int64  `json:"duration_ms"`
	}
	readMeta := func() {
		b, err := os.ReadFile(sidecar)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &meta); err != nil {
			t.Fatalf("sidecar %s: %v", sidecar, err)
		}
	}
	readMeta()
	if meta.State != "recording" {
		t.Fatalf("sidecar after SIGKILL says %q, want recording", meta.State)
	}

	eng2 := start(t, bin, env) // repairs at start-up
	readMeta()
	if meta.State != "repaired" {
		t.Fatalf("sidecar after restart says %q, want repaired\n%s", meta.State, eng2.logText())
	}
	out, err := exec.Command("sox", "--i", "-D", wav).CombinedOutput()
	if err != nil {
		t.Fatalf("sox rejects the repaired file: %v\n%s", err, out)
	}
	secs, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatal(err)
	}
	got := time.Duration(secs * float64(time.Second))
	// Audio reaches the disk at most ~1.1 s behind (header every 1 s, 100 ms playout delay).
	if got > killedAfter+200*time.Millisecond || got < killedAfter-1500*time.Millisecond {
		t.Fatalf("repaired recording plays %v; the engine was killed %v into the call", got, killedAfter)
	}
	// The restarted engine serves.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", httpPort))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz after restart: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestSIGHUPReloadsFlows(t *testing.T) {
	bin := binary(t)
	sipPort := sipptest.FreeUDPPort(t)
	base := 30600 + 2*(os.Getpid()%500)
	eng := start(t, bin, []string{
		fmt.Sprintf("HOTLINE_SIP_UDP=127.0.0.1:%d", sipPort), fmt.Sprintf("HOTLINE_SIP_TCP=127.0.0.1:%d", sipPort),
		"HOTLINE_HTTP_LISTEN=127.0.0.1:0", fmt.Sprintf("HOTLINE_RTP_PORTS=%d-%d", base, base+100),
		"HOTLINE_RECORDINGS=" + t.TempDir(),
	})
	if err := eng.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(eng.logText(), "flows reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload after SIGHUP:\n%s", eng.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-eng.done:
		t.Fatalf("engine exited on SIGHUP:\n%s", eng.logText())
	default:
	}
}
