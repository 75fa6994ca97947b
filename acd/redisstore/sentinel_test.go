//go:build linux

package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/redisstore/redistest"
	"github.com/hotlinecc/hotline/sip"
)

// startSentinel runs a Redis Sentinel (redis-server --sentinel) watching
// primary under the name "hl" and returns its address.
func startSentinel(t *testing.T, primary string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	host, pport, _ := strings.Cut(primary, ":")
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	cfg := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor hl %s %s 1\nsentinel down-after-milliseconds hl 1000\n", port, dir, host, pport)
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(redistest.Binary, conf, "--sentinel")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sentinel: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(20 * time.Second) // hang guard
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("sentinel did not come up: %v\n%s", err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// With redis.sentinel set, the stores find the primary through Sentinel:
// claims and shared registrations work as on a direct address.
func TestStoresThroughSentinel(t *testing.T) {
	srv := redistest.Start(t)
	sentinel := startSentinel(t, srv.Addr)
	opts := Options{Addr: sentinel, Sentinel: "hl", Prefix: "sn:", Node: "s1", Timeout: time.Second}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second) // hang guard
	for s.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("no primary through sentinel: %v", s.Ping(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := s.Claim(ctx, "c1", "1001"); err != nil {
		t.Fatal(err)
	}
	direct := newTestStore(t, srv, "s2", "sn:")
	if err := direct.Claim(ctx, "c2", "1001"); !errors.Is(err, acd.ErrClaimed) {
		t.Fatalf("the claim made through Sentinel is not on the primary: %v", err)
	}
	regs, err := NewRegistrations(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer regs.Close()
	var b sip.Binding
	if err := b.UnmarshalJSON([]byte(`{"contact":"sip:1001@127.0.0.1:5099","expires":"` + time.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano) + `","node":"s1"}`)); err != nil {
		t.Fatal(err)
	}
	if err := regs.Publish(ctx, "1001", []sip.Binding{b}); err != nil {
		t.Fatal(err)
	}
	got, err := regs.Lookup(ctx, "1001")
	if err != nil || len(got) != 1 || got[0].Contact.Port != 5099 {
		t.Fatalf("lookup through Sentinel: %+v, %v", got, err)
	}
}
