package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// engineProc is the Hotline engine under test, a child process on free
// loopback ports.
type engineProc struct {
	cmd     *exec.Cmd
	done    chan struct{}
	SIPAddr string
	HTTP    string
	LogPath string
}

// freePort returns a port free for both UDP and TCP on 127.0.0.1 (SIP
// listens on both).
func freePort() (int, error) {
	for i := 0; i < 50; i++ {
		u, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("free port: %w", err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		t, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
		_ = u.Close()
		if err != nil {
			continue
		}
		_ = t.Close()
		return port, nil
	}
	return 0, errors.New("free port: none found for UDP and TCP")
}

// buildEngine compiles ./cmd/hotline of the module in src into bin.
func buildEngine(ctx context.Context, src, bin string) (string, error) {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return "", fmt.Errorf("build engine: %w", err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/hotline")
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build engine (run from the module root or pass -engine): %w\n%s", err, out)
	}
	return bin, nil
}

// startEngineEnv runs bin with config on free ports, with env added to the
// environment (HOTLINE_* overrides, runtime settings), and waits until
// /readyz.
func startEngineEnv(ctx context.Context, bin, config, workDir, logLevel string, nice int, env []string) (*engineProc, error) {
	sipPort, err := freePort()
	if err != nil {
		return nil, err
	}
	httpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	e := &engineProc{
		SIPAddr: "127.0.0.1:" + strconv.Itoa(sipPort), HTTP: "127.0.0.1:" + strconv.Itoa(httpPort),
		LogPath: filepath.Join(workDir, "engine.log"), done: make(chan struct{}),
	}
	logf, err := os.OpenFile(e.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("engine log: %w", err)
	}
	name, args := niceArgs(nice, bin, "-config", config, "-log-level", logLevel)
	e.cmd = exec.Command(name, args...)
	e.cmd.Env = append(os.Environ(),
		"HOTLINE_SIP_UDP="+e.SIPAddr, "HOTLINE_SIP_TCP="+e.SIPAddr, "HOTLINE_HTTP_LISTEN="+e.HTTP,
		"HOTLINE_RECORDINGS="+filepath.Join(workDir, "recordings"), "HOTLINE_RECORDS="+filepath.Join(workDir, "records"))
	e.cmd.Env = append(e.cmd.Env, env...)
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	if err := e.cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("start engine: %w", err)
	}
	go func() {
		_ = e.cmd.Wait()
		_ = logf.Close()
		close(e.done)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + e.HTTP + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return e, nil
			}
		}
		select {
		case <-e.done:
			return nil, fmt.Errorf("engine exited during start-up (see %s): %s", e.LogPath, tail(e.LogPath, 1500))
		case <-ctx.Done():
			e.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			e.stop()
			return nil, fmt.Errorf("engine not ready after 20 s (see %s)", e.LogPath)
		}
	}
}

// stop asks the engine to drain (SIGTERM) and kills it after 10 s.
func (e *engineProc) stop() { terminate(e.cmd, e.done, 10*time.Second) }

// terminate sends SIGTERM to a child that has not exited (done not closed)
// and kills it if it is still there after grace.
func terminate(cmd *exec.Cmd, done <-chan struct{}, grace time.Duration) {
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (e *engineProc) pid() int { return e.cmd.Process.Pid }

// metrics returns the engine's /metrics page.
func (e *engineProc) metrics() (string, error) {
	resp, err := http.Get("http://" + e.HTTP + "/metrics")
	if err != nil {
		return "", fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("scrape metrics: %w", err)
	}
	return string(b), nil
}

// procMem reads VmRSS and VmHWM (peak) of pid in bytes.
func procMem(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("proc status: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fields[0], 10, 64)
		switch k {
		case "VmRSS":
			rss = n * 1024
		case "VmHWM":
			hwm = n * 1024
		}
	}
	return rss, hwm, sc.Err()
}

// clkTck is USER_HZ, 100 on every Linux this runs on.
const clkTck = 100

// procCPU is pid's user+system CPU time so far.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("proc stat: %w", err)
	}
	// Fields after the parenthesised command name; utime and stime are 14 and 15.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("proc stat: malformed %q", s)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("proc stat: malformed %q", s)
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * time.Second / clkTck, nil
}

// udpRcvbufErrors is the kernel's count of UDP datagrams dropped because a
// receive buffer was full (all sockets: ours, the engine's and SIPp's).
func udpRcvbufErrors() int64 {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return -1
	}
	var head []string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "Udp: ") {
			continue
		}
		f := strings.Fields(line)
		if head == nil {
			head = f
			continue
		}
		for i, h := range head {
			if h == "RcvbufErrors" && i < len(f) {
				n, _ := strconv.ParseInt(f[i], 10, 64)
				return n
			}
		}
	}
	return -1
}

// udpSocketDrops sums the per-socket drop counters of /proc/net/udp and
// udp6 (datagrams a full receive buffer refused, over each open socket's
// life): those of sockets bound to one of ports, and the rest.
func udpSocketDrops(ports map[uint16]bool) (ours, rest uint64) {
	for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 13 {
				continue
			}
			_, portHex, ok := strings.Cut(fs[1], ":")
			if !ok {
				continue
			}
			port, err1 := strconv.ParseUint(portHex, 16, 16)
			drops, err2 := strconv.ParseUint(fs[len(fs)-1], 10, 64)
			if err1 != nil || err2 != nil {
				continue
			}
			if ports[uint16(port)] {
				ours += drops
			} else {
				rest += drops
			}
		}
	}
	return ours, rest
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// sampler records the engine's RSS every interval until stopped.
type sampler struct {
	stopc chan struct{}
	done  chan struct{}
	mu    sync.Mutex // the step reads while sampling goes on
	at    []time.Time
	rss   []int64
}

func startSampler(pid int, every time.Duration) *sampler {
	s := &sampler{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if rss, _, err := procMem(pid); err == nil {
				s.mu.Lock()
				s.at = append(s.at, time.Now())
				s.rss = append(s.rss, rss)
				s.mu.Unlock()
			}
			select {
			case <-s.stopc:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) stop() { close(s.stopc); <-s.done }

// maxBetween is the highest RSS sampled in [from, to].
func (s *sampler) maxBetween(from, to time.Time) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var m int64
	for i, at := range s.at {
		if !at.Before(from) && !at.After(to) && s.rss[i] > m {
			m = s.rss[i]
		}
	}
	return m
}
