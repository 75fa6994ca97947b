package redisstore

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/acd"
	"github.com/hotlinecc/hotline/acd/redisstore/redistest"
)

// With Redis gone every method must come back with a wrapped error (so the
// ACD can fall back to degraded mode) instead of blocking the caller.
func TestRedisDownReturnsErrors(t *testing.T) {
	srv := redistest.Start(t)
	s := newTestStore(t, srv, "n1", "")
	ctx := context.Background()
	if err := s.Claim(ctx, "c0", "a0"); err != nil { // pool now holds a live connection
		t.Fatal(err)
	}
	srv.Stop()

	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"SaveAgent", func() error { return s.SaveAgent(ctx, acd.AgentRecord{Profile: acd.AgentProfile{ID: "a1"}}) }},
		{"DeleteAgent", func() error { return s.DeleteAgent(ctx, "a1") }},
		{"Agents", func() error { _, err := s.Agents(ctx); return err }},
		{"SaveCall", func() error { return s.SaveCall(ctx, acd.CallRecord{Call: acd.Call{ID: "c1", Queue: "q"}}) }},
		{"DeleteCall", func() error { return s.DeleteCall(ctx, "c1") }},
		{"Calls", func() error { _, err := s.Calls(ctx, "q"); return err }},
		{"AllCalls", func() error { _, err := s.Calls(ctx, ""); return err }},
		{"Claim", func() error { return s.Claim(ctx, "c1", "a1") }},
		{"Release", func() error { return s.Release(ctx, "c0", "a0") }},
		{"AddSL", func() error { return s.AddSL(ctx, acd.SLDelta{Queue: "q", Offered: 1}) }},
		{"SLTotals", func() error { _, err := s.SLTotals(ctx); return err }},
		{"Renew", func() error { _, err := s.Renew(ctx); return err }},
		{"Expired", func() error { _, err := s.Expired(ctx); return err }},
		{"ReapNode", func() error { _, err := s.ReapNode(ctx, "n2"); return err }},
		{"Ping", func() error { return s.Ping(ctx) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { done <- tc.call() }()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("no error with Redis down")
				}
				if !strings.HasPrefix(err.Error(), "redisstore: ") {
					t.Fatalf("error not wrapped with context: %v", err)
				}
			case <-time.After(30 * time.Second): // hang guard, not a latency bound
				t.Fatal("call hung with Redis down")
			}
		})
	}
}

// A Redis that accepts nothing and answers nothing (frozen process, black
// hole on the network) must cost at most a few Timeouts, not block forever.
func TestRedisFrozenReturnsErrors(t *testing.T) {
	srv := redistest.Start(t)
	s, err := New(Options{Addr: srv.Socket, Prefix: "frozen:", Node: "n1", Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// Cleanups run last-in first-out: thaw before srv.Stop kills it.
	t.Cleanup(func() { _ = srv.Signal(syscall.SIGCONT) })
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Claim", func() error { return s.Claim(ctx, "c1", "a1") }},
		{"Agents", func() error { _, err := s.Agents(ctx); return err }},
		{"SaveCall", func() error { return s.SaveCall(ctx, acd.CallRecord{Call: acd.Call{ID: "c1", Queue: "q"}}) }},
		{"Renew", func() error { _, err := s.Renew(ctx); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { done <- tc.call() }()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("no error from a frozen Redis")
				}
			case <-time.After(30 * time.Second): // hang guard, not a latency bound
				t.Fatal("call hung on a frozen Redis")
			}
		})
	}
}

// RunLease must keep its owner in control when Redis is gone: it returns
// when its context ends instead of hanging on a dead connection.
func TestRunLeaseStopsWithRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	s := newTestStore(t, srv, "n1", "")
	srv.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.RunLease(ctx) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("RunLease returned %v", err)
		}
	case <-time.After(30 * time.Second): // hang guard
		t.Fatal("RunLease did not stop")
	}
}

func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		ok   bool
	}{
		{"no address", Options{}, false},
		{"negative lease", Options{Addr: "127.0.0.1:1", LeaseTTL: -time.Second}, false},
		{"negative timeout", Options{Addr: "127.0.0.1:1", Timeout: -time.Second}, false},
		{"tcp", Options{Addr: "127.0.0.1:1"}, true},
		{"unix", Options{Addr: "/tmp/x.sock", Node: "n"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.opts)
			if (err == nil) != tc.ok {
				t.Fatalf("New(%+v) error %v, want ok=%v", tc.opts, err, tc.ok)
			}
			if s != nil {
				if s.Node() == "" {
					t.Error("empty node name")
				}
				s.Close()
			}
		})
	}
}
