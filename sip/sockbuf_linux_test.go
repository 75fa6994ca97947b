package sip

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestSIPSocketBuffers: the SIP UDP socket's receive buffer holds a burst
// far beyond the kernel's default (~200 KiB, some 90 requests): as much as
// udpBuffer, or as the system allows an unprivileged process
// (net.core.rmem_max).
func TestSIPSocketBuffers(t *testing.T) {
	env := newTestEnv(t, nil, &ownContextHandler{hungUp: make(chan error, 1)})
	rc, err := env.srv.udp.(interface {
		SyscallConn() (syscall.RawConn, error)
	}).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got int
	var gerr error
	_ = rc.Control(func(fd uintptr) { got, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF) })
	if gerr != nil {
		t.Fatal(gerr)
	}
	want := udpBuffer
	if os.Geteuid() != 0 {
		b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
		if err != nil {
			t.Fatal(err)
		}
		limit, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		want = min(want, limit)
	}
	// The kernel reports twice what was set (its bookkeeping overhead).
	if got < 2*want {
		t.Fatalf("SIP UDP receive buffer %d bytes, want at least %d", got, 2*want)
	}
	t.Logf("SIP UDP receive buffer: %d bytes", got)
}
