//go:build linux && (amd64 || arm64)

package udpbatch

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// TestReadKernelTimestamps: control messages come back per datagram.
func TestReadKernelTimestamps(t *testing.T) {
	uc, c := listen(t, "127.0.0.1:0")
	raw, _ := uc.SyscallConn()
	_ = raw.Control(func(fd uintptr) {
		if err := syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1); err != nil {
			t.Fatalf("SO_TIMESTAMPNS: %v", err)
		}
	})
	peer, _ := listen(t, "127.0.0.1:0")
	before := time.Now()
	for range 3 {
		if _, err := peer.WriteToUDPAddrPort([]byte("t"), local(uc)); err != nil {
			t.Fatal(err)
		}
	}
	in := make([]Message, 3)
	for i := range in {
		in[i] = Message{Buf: make([]byte, 4), OOB: make([]byte, 64)}
	}
	seen := 0
	_ = uc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for seen < 3 {
		n, err := NewIO(3).Read(c, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range in[:n] {
			if m.NOOB < 32 {
				t.Fatalf("no control message (%d bytes)", m.NOOB)
			}
			sec := int64(binary.NativeEndian.Uint64(m.OOB[16:]))
			at := time.Unix(sec, 0)
			if at.Before(before.Add(-time.Second)) || at.After(time.Now().Add(time.Second)) {
				t.Fatalf("kernel timestamp %s not around now", at)
			}
			seen++
		}
	}
}

// TestPolled: a polled socket drains what is queued without waiting
// (nothing: 0 at once), with kernel timestamps, and sends batches.
func TestPolled(t *testing.T) {
	p, err := ListenPolled(netip.MustParseAddrPort("127.0.0.1:0"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	io := NewIO(8)
	in := make([]Message, 8)
	for i := range in {
		in[i] = Message{Buf: make([]byte, 16), OOB: make([]byte, 64)}
	}
	if n, err := io.Drain(p, in); n != 0 || err != nil {
		t.Fatalf("empty drain: %d, %v", n, err)
	}
	peer, pc := listen(t, "127.0.0.1:0")
	_ = pc
	for i := range 3 {
		if _, err := peer.WriteToUDPAddrPort([]byte{byte(i)}, p.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	deadline := time.Now().Add(5 * time.Second)
	for got < 3 && time.Now().Before(deadline) {
		n, err := io.Drain(p, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range in[:n] {
			if m.Addr != local(peer) || m.NOOB < 32 || m.Buf[0] != byte(got) {
				t.Fatalf("datagram %d: from %s, %d bytes of control, byte %d", got, m.Addr, m.NOOB, m.Buf[0])
			}
			got++
		}
		time.Sleep(time.Millisecond)
	}
	if got != 3 {
		t.Fatalf("drained %d of 3", got)
	}
	if failed, err := io.Send(p, []Message{{Buf: []byte("back"), Addr: local(peer)}}); failed != 0 || err != nil {
		t.Fatalf("Send: %d failed, %v", failed, err)
	}
	buf := make([]byte, 8)
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := peer.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != "back" || from != p.LocalAddr() {
		t.Fatalf("peer got %q from %s: %v", buf[:n], from, err)
	}
}
