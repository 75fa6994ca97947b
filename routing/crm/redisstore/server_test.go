package redisstore

import (
	"bufio"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// redisServer is a throwaway redis-server listening on a unix socket in a
// test's temporary directory, so tests never collide on ports.
type redisServer struct {
	Socket string
	cmd    *exec.Cmd
	done   chan struct{}
}

// startRedis starts redis-server for t and stops it when t ends. A missing
// redis-server fails the test: the store cannot be checked without one.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	return startRedisIn(t, t.TempDir())
}

// restartAt starts a fresh, empty server on the socket path of a stopped one.
func restartAt(t testing.TB, stopped *redisServer) *redisServer {
	t.Helper()
	return startRedisIn(t, filepath.Dir(stopped.Socket))
}

func startRedisIn(t testing.TB, dir string) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is needed for these tests (apt-get install redis-server): %v", err)
	}
	sock := filepath.Join(dir, "redis.sock")
	cmd := exec.Command(bin,
		"--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
		"--dir", dir, "--save", "", "--appendonly", "no",
		// Frees big hashes on the lazy-free thread, as UNLINK does.
		"--lazyfree-lazy-user-del", "yes")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	s := &redisServer{Socket: sock, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(s.done) }()
	t.Cleanup(s.Stop)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if err := ping(sock); err == nil {
			return s
		} else if time.Now().After(deadline) {
			t.Fatalf("redis-server did not come up: %v\n%s", err, out.String())
		}
		select {
		case <-s.done:
			t.Fatalf("redis-server exited: %s", out.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Stop kills the server and waits for it to exit.
func (s *redisServer) Stop() {
	s.cmd.Process.Kill()
	<-s.done
}

func ping(sock string) error {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	_, err = bufio.NewReader(c).ReadString('\n')
	return err
}
