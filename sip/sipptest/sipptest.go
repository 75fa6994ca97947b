// Package sipptest runs SIPp (Debian package sip-tester) as a trunk or as an
// agent phone against an engine under test, on 127.0.0.1.
//
// Scenarios are generated from small templates so each test states the
// exact dialogue it expects; SIPp exits 0 only when every call followed it.
package sipptest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"
)

// Binary returns the sipp path or fails the test: CI installs sip-tester,
// so a missing binary is a broken machine, not a reason to skip.
func Binary(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatalf("sipp not found (install Debian package sip-tester; .ci/run does): %v", err)
	}
	return p
}

// Ports for SIPp come from 26000-29999, below the kernel's ephemeral range
// (where sockets bound to port 0 land) and above the engines' test RTP
// ranges. Each test process starts in its own block by pid, checks that the
// port (and the three above it, which SIPp uses for media) is free, and
// reserves it for its lifetime with a lock file: between the check and
// SIPp's bind another test process could otherwise pick the same port (the
// test packages run in parallel and some walk far past their block).
var (
	portMu    sync.Mutex
	portNext  int
	portLocks []*os.File // held open, so the locks last as long as the process
)

// reservePort takes port p for this process, across every test process of
// the machine; the kernel drops the lock when the process exits.
func reservePort(p int) bool {
	dir := filepath.Join(os.TempDir(), "hotline-sipp-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return true // no reservation possible: fall back to the probe alone
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(p)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return true
	}
	if !lockFile(f) {
		f.Close()
		return false
	}
	portLocks = append(portLocks, f)
	return true
}

// FreeUDPPort returns a port free for UDP and TCP, with port+1..port+3 free
// for UDP, on 127.0.0.1.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	if portNext == 0 {
		portNext = 26000 + (os.Getpid()%40)*100
	}
	for tries := 0; tries < 4000; tries++ {
		p := portNext
		portNext += 4
		if portNext >= 30000 {
			portNext = 26000
		}
		if portsFree(p) && reservePort(p) {
			return p
		}
	}
	t.Fatal("no free port for SIPp in 26000-29999")
	return 0
}

func portsFree(p int) bool {
	var closers []func() error
	defer func() {
		for _, c := range closers {
			_ = c()
		}
	}()
	for i := 0; i < 4; i++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(p+i))
		if err != nil {
			return false
		}
		closers = append(closers, pc.Close)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	closers = append(closers, l.Close)
	return true
}

// Options describes one SIPp run.
type Options struct {
	Target    string // engine SIP address host:port
	Scenario  string // scenario XML (already rendered)
	Service   string // [service]: user part of the request URI
	Calls     int    // -m
	Rate      float64
	Limit     int // -l concurrent calls
	Timeout   time.Duration
	LocalPort int // -p; 0 picks a free one
	MediaPort int // -mp; 0 picks a free one
	AuthUser  string
	AuthPass  string
	Keys      map[string]string
	Transport string // "u1" (default) or "t1"
	Extra     []string
}

// Result is what a SIPp run left behind.
type Result struct {
	ExitCode int
	Output   string
	Dir      string
	Port     int
}

// Proc is a SIPp process running in the background (a UAS waiting for calls).
type Proc struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan struct{}
	err  error
	Dir  string
	Port int
}

func build(t testing.TB, o Options) (*exec.Cmd, *bytes.Buffer, string, int) {
	t.Helper()
	dir := t.TempDir()
	sf := filepath.Join(dir, "scenario.xml")
	if err := os.WriteFile(sf, []byte(o.Scenario), 0o644); err != nil {
		t.Fatalf("write scenario: %v", err)
	}
	if o.LocalPort == 0 {
		o.LocalPort = FreeUDPPort(t)
	}
	if o.MediaPort == 0 {
		o.MediaPort = FreeUDPPort(t)
	}
	if o.Calls == 0 {
		o.Calls = 1
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Transport == "" {
		o.Transport = "u1"
	}
	args := []string{
		"-sf", sf, "-i", "127.0.0.1", "-p", strconv.Itoa(o.LocalPort), "-mp", strconv.Itoa(o.MediaPort),
		"-m", strconv.Itoa(o.Calls), "-t", o.Transport,
		"-timeout", fmt.Sprintf("%ds", int(o.Timeout.Seconds())), "-timeout_error",
		"-nostdin", "-trace_err", "-trace_screen",
	}
	if o.Target != "" {
		args = append([]string{o.Target}, args...)
	}
	if o.Service != "" {
		args = append(args, "-s", o.Service)
	}
	if o.Rate > 0 {
		args = append(args, "-r", strconv.FormatFloat(o.Rate, 'f', -1, 64))
	}
	if o.Limit > 0 {
		args = append(args, "-l", strconv.Itoa(o.Limit))
	}
	if o.AuthUser != "" {
		args = append(args, "-au", o.AuthUser, "-ap", o.AuthPass)
	}
	if _, ok := o.Keys["rtp_port"]; !ok {
		// Scenarios advertise [rtp_port]; by default that is SIPp's own media port.
		args = append(args, "-key", "rtp_port", strconv.Itoa(o.MediaPort))
	}
	for k, v := range o.Keys {
		args = append(args, "-key", k, v)
	}
	args = append(args, o.Extra...)
	cmd := exec.Command(Binary(t), args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	return cmd, &out, dir, o.LocalPort
}

// Run runs SIPp to completion and returns its result.
func Run(t testing.TB, ctx context.Context, o Options) Result {
	t.Helper()
	cmd, out, dir, port := build(t, o)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sipp: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		err = <-done
	}
	r := Result{Output: out.String(), Dir: dir, Port: port}
	if cmd.ProcessState != nil {
		r.ExitCode = cmd.ProcessState.ExitCode()
	} else if err != nil {
		r.ExitCode = -1
	}
	return r
}

// Start launches SIPp in the background; Stop ends it.
func Start(t testing.TB, o Options) *Proc {
	t.Helper()
	cmd, out, dir, port := build(t, o)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sipp: %v", err)
	}
	p := &Proc{cmd: cmd, out: out, done: make(chan struct{}), Dir: dir, Port: port}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.Stop() })
	return p
}

// Wait waits for the process to exit by itself and returns its exit code.
func (p *Proc) Wait(ctx context.Context) (int, error) {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode(), nil
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}

// Stop kills the process if it still runs.
func (p *Proc) Stop() {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Output is what SIPp printed plus its error log, for failure messages.
func (p *Proc) Output() string { return p.out.String() + Logs(p.Dir) }

// Logs concatenates SIPp's *_errors.log and *_screen.log files in dir.
func Logs(dir string) string {
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		fmt.Fprintf(&b, "\n--- %s ---\n%s", filepath.Base(f), data)
	}
	return b.String()
}

// Render fills a scenario template.
func Render(t testing.TB, tmpl string, data any) string {
	t.Helper()
	tp, err := template.New("scenario").Delims("{{", "}}").Parse(tmpl)
	if err != nil {
		t.Fatalf("scenario template: %v", err)
	}
	var b strings.Builder
	if err := tp.Execute(&b, data); err != nil {
		t.Fatalf("scenario template: %v", err)
	}
	return b.String()
}

// RegisterPhone registers user with digest auth at target, its Contact
// pointing at contactPort on 127.0.0.1 (where a UAS SIPp listens).
func RegisterPhone(t testing.TB, target, user, pass string, contactPort, expires int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := Run(t, ctx, Options{
		Target: target, Scenario: Render(t, RegisterTemplate, Register{User: user, Expires: expires}),
		AuthUser: user, AuthPass: pass, Keys: map[string]string{"contact_port": strconv.Itoa(contactPort)},
		Timeout: 10 * time.Second,
	})
	if r.ExitCode != 0 {
		t.Fatalf("register %s: sipp exit %d\n%s%s", user, r.ExitCode, r.Output, Logs(r.Dir))
	}
}
