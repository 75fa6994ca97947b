// Package redistest starts throw-away redis-server processes for tests: one
// per call to Start, listening on a unix socket in a private directory and on
// a free TCP port on 127.0.0.1, with no persistence, gone when the test ends.
//
// redis-server must be installed at /usr/bin/redis-server; a missing binary
// fails the test, since the Redis-backed code cannot be checked without one.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Binary is the redis-server the tests run.
const Binary = "/usr/bin/redis-server"

// startTimeout bounds how long a server may take to answer PING: a hang
// guard for a loaded machine, not a latency expectation.
const startTimeout = 20 * time.Second

// Server is one running (or stopped) redis-server.
type Server struct {
	// Socket is the unix socket path; pass it as a store address directly.
	Socket string
	// Addr is 127.0.0.1:port, for processes that connect over TCP.
	Addr string

	dir  string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited and been waited for
}

// Start starts a redis-server owned by t and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Fatalf("redis-server is required for these tests (apt-get install redis-server): %v", err)
	}
	// Not t.TempDir: its path can exceed the 108-byte unix socket limit.
	dir, err := os.MkdirTemp("", "rt")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Socket: filepath.Join(dir, "redis.sock"), dir: dir}
	// Registered first so it runs last, after the server is stopped.
	t.Cleanup(func() { os.RemoveAll(dir) })
	t.Cleanup(s.Stop)
	// The free port is found by binding port 0 and letting it go, so another
	// process may take it before redis-server binds: try a few ports.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		if lastErr = s.start(port); lastErr == nil {
			s.port, s.Addr = port, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			return s
		}
		if !errors.Is(lastErr, errExited) {
			break
		}
	}
	t.Fatal(lastErr)
	return nil
}

// Stop kills the server and waits for it to exit. It is safe to call on a
// stopped server; the socket path and port stay reserved for Restart.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill() // works on a SIGSTOPped process too
	<-done
	s.mu.Lock()
	if s.cmd == cmd {
		s.cmd = nil
	}
	s.mu.Unlock()
}

// Restart stops the server if it runs and starts a fresh, empty one on the
// same socket path and TCP port, so clients configured with the old
// addresses reconnect to it: a Redis outage and recovery.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.start(s.port); err != nil {
		t.Fatal(err)
	}
}

// Signal sends sig to the running server, e.g. SIGSTOP to freeze it.
func (s *Server) Signal(sig os.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return errors.New("redistest: server not running")
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("redistest: signal %v: %w", sig, err)
	}
	return nil
}

var errExited = errors.New("redis-server exited")

// start runs redis-server on port and waits until it answers PING.
func (s *Server) start(port int) error {
	logPath := filepath.Join(s.dir, "redis.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("redistest: %w", err)
	}
	defer logf.Close() // the child keeps its own descriptor
	cmd := exec.Command(Binary,
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--unixsocket", s.Socket, "--unixsocketperm", "700",
		"--dir", s.dir, "--save", "", "--appendonly", "no", "--loglevel", "warning",
		// Frees big values on the lazy-free thread, as UNLINK does.
		"--lazyfree-lazy-user-del", "yes")
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: start %s: %w", Binary, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }() // ends when the process does; Stop waits for it
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	logTail := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	deadline := time.Now().Add(startTimeout)
	for {
		// Both listeners must be up: some clients use one, some the other.
		err := ping("unix", s.Socket)
		if err == nil {
			err = ping("tcp", addr)
		}
		if err == nil {
			return nil
		}
		select {
		case <-done:
			s.mu.Lock()
			s.cmd = nil
			s.mu.Unlock()
			return fmt.Errorf("redistest: %w on port %d: %s", errExited, port, logTail())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("redistest: redis-server did not answer PING within %v: %v\n%s", startTimeout, err, logTail())
		}
	}
}

func ping(network, addr string) error {
	c, err := net.DialTimeout(network, addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("redistest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
