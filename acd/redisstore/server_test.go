package redisstore

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const redisServer = "/usr/bin/redis-server"

// server is a redis-server owned by one test, listening only on a unix
// socket in a private temporary directory.
type server struct {
	sock string
	cmd  *exec.Cmd
}

// startRedis starts a throw-away redis-server and stops it when t ends.
func startRedis(t testing.TB) *server {
	t.Helper()
	if _, err := os.Stat(redisServer); err != nil {
		t.Fatalf("redis-server is required for these tests: %v", err)
	}
	// Not t.TempDir: its path can exceed the 108-byte unix socket limit.
	dir, err := os.MkdirTemp("", "rs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	srv := &server{sock: filepath.Join(dir, "redis.sock")}
	srv.cmd = exec.Command(redisServer,
		"--port", "0", "--unixsocket", srv.sock, "--unixsocketperm", "700",
		"--dir", dir, "--save", "", "--appendonly", "no", "--loglevel", "warning")
	logPath := filepath.Join(dir, "redis.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the child keeps its own descriptor
	srv.cmd.Stdout, srv.cmd.Stderr = logf, logf
	dieWithTest(srv.cmd)
	if err := srv.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(srv.stop)
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: srv.sock, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := c.Ping(context.Background()).Err()
		if err == nil {
			return srv
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logPath)
			t.Fatalf("redis-server did not come up: %v\n%s", err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

var prefixes atomic.Int64

// newTestStore connects a Store to srv under a prefix of its own, so every
// test sees an empty store.
func newTestStore(t testing.TB, srv *server, node, prefix string) *Store {
	t.Helper()
	if prefix == "" {
		prefix = fmt.Sprintf("t%d:", prefixes.Add(1))
	}
	s, err := New(Options{Addr: "unix:" + srv.sock, Prefix: prefix, Node: node, LeaseTTL: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
