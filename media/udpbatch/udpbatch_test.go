package udpbatch

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func listen(t testing.TB, addr string) (*net.UDPConn, *Conn) {
	t.Helper()
	uc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = uc.Close() })
	c, err := NewConn(uc)
	if err != nil {
		t.Fatal(err)
	}
	return uc, c
}

func local(uc *net.UDPConn) netip.AddrPort { return uc.LocalAddr().(*net.UDPAddr).AddrPort() }

// TestWriteReadBatch: a batch to several destinations arrives whole at
// each, and a batch read returns every datagram with its true source.
func TestWriteReadBatch(t *testing.T) {
	_, tx := listen(t, "127.0.0.1:0")
	rx1uc, rx1 := listen(t, "127.0.0.1:0")
	rx2uc, _ := listen(t, "127.0.0.2:0")
	ms := make([]Message, 40)
	for i := range ms {
		to := local(rx1uc)
		if i%2 == 1 {
			to = local(rx2uc)
		}
		ms[i] = Message{Buf: []byte{byte(i), 'x', 'y'}, Addr: to}
	}
	wio := NewIO(16) // smaller than the batch: Write splits it
	if failed, err := wio.Write(tx, ms); failed != 0 || err != nil {
		t.Fatalf("Write: %d failed, %v", failed, err)
	}
	rio := NewIO(64)
	in := make([]Message, 64)
	for i := range in {
		in[i].Buf = make([]byte, 2)
	}
	got := map[byte]bool{}
	_ = rx1uc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(got) < 20 {
		n, err := rio.Read(rx1, in)
		if err != nil {
			t.Fatalf("Read after %d: %v", len(got), err)
		}
		for _, m := range in[:n] {
			if m.Addr != local(tx.UDPConn()) {
				t.Fatalf("source %s, want %s", m.Addr, local(tx.UDPConn()))
			}
			if !m.Trunc || m.N != 2 {
				t.Fatalf("3-byte datagram into 2 bytes: N=%d Trunc=%v", m.N, m.Trunc)
			}
			if m.Buf[0]%2 != 0 || got[m.Buf[0]] {
				t.Fatalf("datagram %d at the wrong receiver or twice", m.Buf[0])
			}
			got[m.Buf[0]] = true
		}
	}
	// The odd ones went to the other host.
	buf := make([]byte, 8)
	_ = rx2uc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for range 20 {
		n, from, err := rx2uc.ReadFromUDPAddrPort(buf)
		if err != nil || n != 3 || buf[0]%2 != 1 || from != local(tx.UDPConn()) {
			t.Fatalf("second receiver: n=%d first=%d from=%s err=%v", n, buf[0], from, err)
		}
	}
}

// TestIPv6SocketToIPv4: a dual-stack socket sends to and hears from IPv4
// peers, which are reported as plain IPv4 (not v4-mapped).
func TestIPv6SocketToIPv4(t *testing.T) {
	uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv6unspecified})
	if err != nil {
		t.Fatalf("dual-stack socket: %v", err)
	}
	defer uc.Close()
	c, err := NewConn(uc)
	if err != nil {
		t.Fatal(err)
	}
	if !c.v6 {
		t.Fatal("[::] socket not seen as AF_INET6")
	}
	peerUC, _ := listen(t, "127.0.0.1:0")
	port := local(uc).Port()
	io := NewIO(4)
	if _, err := io.Write(c, []Message{{Buf: []byte("hi"), Addr: local(peerUC)}}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	_ = peerUC.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := peerUC.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != "hi" || from.Port() != port {
		t.Fatalf("peer got %q from %s: %v", buf[:n], from, err)
	}
	if _, err := peerUC.WriteToUDPAddrPort([]byte("back"), netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)); err != nil {
		t.Fatal(err)
	}
	in := []Message{{Buf: make([]byte, 8)}}
	_ = uc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Read(c, in); err != nil {
		t.Fatal(err)
	}
	if in[0].Addr != local(peerUC) || string(in[0].Buf[:in[0].N]) != "back" {
		t.Fatalf("got %q from %s, want from %s", in[0].Buf[:in[0].N], in[0].Addr, local(peerUC))
	}
}

// TestReadAfterClose: closing the socket ends a blocked Read with
// net.ErrClosed, and a Write on it fails every message.
func TestReadAfterClose(t *testing.T) {
	uc, c := listen(t, "127.0.0.1:0")
	done := make(chan error, 1)
	go func() {
		_, err := NewIO(4).Read(c, []Message{{Buf: make([]byte, 4)}})
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	_ = uc.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not return after Close")
	}
	ms := []Message{{Buf: []byte("x"), Addr: netip.MustParseAddrPort("127.0.0.1:9")}, {Buf: []byte("y"), Addr: netip.MustParseAddrPort("127.0.0.1:9")}}
	failed, err := NewIO(4).Write(c, ms)
	if failed != 2 || !errors.Is(err, net.ErrClosed) || !ms[0].Failed || !ms[1].Failed {
		t.Fatalf("Write on closed socket: %d failed, %v", failed, err)
	}
	if _, err := NewIO(1).Read(c, nil); !errors.Is(err, ErrEmpty) {
		t.Fatalf("Read into nothing: %v", err)
	}
}

// TestWriteRefusedMessageSkipped: a datagram the kernel refuses is marked
// and the rest of the batch still goes.
func TestWriteRefusedMessageSkipped(t *testing.T) {
	_, tx := listen(t, "127.0.0.1:0")
	rxuc, _ := listen(t, "127.0.0.1:0")
	big := make([]byte, 70000) // larger than any UDP datagram: EMSGSIZE
	ms := []Message{
		{Buf: []byte("a"), Addr: local(rxuc)},
		{Buf: big, Addr: local(rxuc)},
		{Buf: []byte("c"), Addr: local(rxuc)},
	}
	failed, err := NewIO(8).Write(tx, ms)
	if failed != 1 || err == nil || !ms[1].Failed || ms[0].Failed || ms[2].Failed {
		t.Fatalf("failed=%d err=%v flags=%v %v %v", failed, err, ms[0].Failed, ms[1].Failed, ms[2].Failed)
	}
	buf := make([]byte, 8)
	var got []byte
	_ = rxuc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for range 2 {
		n, _, err := rxuc.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.Equal(got, []byte("ac")) {
		t.Fatalf("received %q, want \"ac\"", got)
	}
}

// TestWriteTrains: a batch mixing trains (Segs) and single datagrams to
// two destinations arrives as separate datagrams, each train's in order
// and of the sizes sent (the last one shorter).
func TestWriteTrains(t *testing.T) {
	_, tx := listen(t, "127.0.0.1:0")
	rx1uc, rx1 := listen(t, "127.0.0.1:0")
	rx2uc, rx2 := listen(t, "127.0.0.1:0")
	seg := func(id, k byte, n int) []byte {
		b := bytes.Repeat([]byte{'.'}, n)
		b[0], b[1] = id, k
		return b
	}
	var train1, train2 [][]byte
	for k := range 5 {
		n := 172
		if k == 4 {
			n = 40
		}
		train1 = append(train1, seg(1, byte(k), n))
	}
	for k := range MaxSegments {
		train2 = append(train2, seg(2, byte(k), 172))
	}
	ms := []Message{
		{Segs: train1, Addr: local(rx1uc)},
		{Buf: seg(3, 0, 16), Addr: local(rx2uc)},
		{Segs: train2, Addr: local(rx2uc)},
		{Segs: [][]byte{seg(4, 0, 20)}, Addr: local(rx1uc)}, // a train of one
	}
	if failed, err := NewIO(4).Write(tx, ms); failed != 0 || err != nil {
		t.Fatalf("Write: %d failed, %v", failed, err)
	}
	read := func(uc *net.UDPConn, c *Conn, want int) [][]byte {
		t.Helper()
		var got [][]byte
		in := make([]Message, 16)
		for i := range in {
			in[i].Buf = make([]byte, 256)
		}
		_ = uc.SetReadDeadline(time.Now().Add(5 * time.Second))
		for len(got) < want {
			n, err := NewIO(16).Read(c, in)
			if err != nil {
				t.Fatalf("read after %d of %d datagrams: %v", len(got), want, err)
			}
			for _, m := range in[:n] {
				got = append(got, bytes.Clone(m.Buf[:m.N]))
			}
		}
		return got
	}
	got1 := read(rx1uc, rx1, 6)
	for k, d := range got1[:5] {
		if !bytes.Equal(d, train1[k]) {
			t.Fatalf("train 1 datagram %d: %d bytes %v…, want %d bytes %v…", k, len(d), d[:2], len(train1[k]), train1[k][:2])
		}
	}
	if got1[5][0] != 4 || len(got1[5]) != 20 {
		t.Fatalf("one-datagram train: %v", got1[5])
	}
	got2 := read(rx2uc, rx2, 1+MaxSegments)
	if got2[0][0] != 3 || len(got2[0]) != 16 {
		t.Fatalf("single datagram: %v", got2[0][:2])
	}
	for k, d := range got2[1:] {
		if !bytes.Equal(d, train2[k]) {
			t.Fatalf("train 2 datagram %d: %v…", k, d[:2])
		}
	}
}
