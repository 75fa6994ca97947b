package redistest_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotlinecc/hotline/acd/redisstore/redistest"
)

func client(t *testing.T, network, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Network: network, Addr: addr, MaxRetries: -1,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	t.Cleanup(func() { c.Close() })
	return c
}

// Both listeners reach the same server; Restart brings back an empty server
// on the same addresses; Stop takes both away.
func TestStartRestartStop(t *testing.T) {
	srv := redistest.Start(t)
	if len(srv.Socket) >= 108 {
		t.Fatalf("socket path %d bytes, over the unix limit", len(srv.Socket))
	}
	ctx := context.Background()
	unix, tcp := client(t, "unix", srv.Socket), client(t, "tcp", srv.Addr)
	if err := unix.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := tcp.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET over TCP = %q, %v; want the value set over the socket", v, err)
	}

	sock, addr := srv.Socket, srv.Addr
	srv.Restart(t)
	if srv.Socket != sock || srv.Addr != addr {
		t.Fatalf("restart moved the server from %s %s to %s %s", sock, addr, srv.Socket, srv.Addr)
	}
	for _, c := range []*redis.Client{unix, tcp} {
		if err := c.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
			t.Fatalf("GET after restart: %v, want an empty server", err)
		}
	}

	srv.Stop()
	srv.Stop() // idempotent
	for _, c := range []*redis.Client{unix, tcp} {
		if err := c.Ping(ctx).Err(); err == nil {
			t.Fatal("PING answered after Stop")
		}
	}
	if err := srv.Signal(syscall.SIGCONT); err == nil {
		t.Fatal("signalled a stopped server")
	}
}

// Two servers in one test get separate sockets and ports.
func TestServersAreSeparate(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	if a.Socket == b.Socket || a.Addr == b.Addr {
		t.Fatalf("shared address: %s %s / %s %s", a.Socket, a.Addr, b.Socket, b.Addr)
	}
	ctx := context.Background()
	if err := client(t, "tcp", a.Addr).Set(ctx, "k", "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := client(t, "tcp", b.Addr).Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("second server sees the first one's key: %v", err)
	}
}
