package main

import (
	"net"
	"testing"
)

// TestUDPSocketDrops: datagrams refused by one full socket are counted as
// that socket's, not anybody else's.
func TestUDPSocketDrops(t *testing.T) {
	rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	_ = rx.SetReadBuffer(1) // the kernel's minimum: a few datagrams
	tx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	port := map[uint16]bool{to.Port(): true}
	before, _ := udpSocketDrops(port)
	payload := make([]byte, 1000)
	for range 200 {
		if _, err := tx.WriteToUDPAddrPort(payload, to); err != nil {
			t.Fatal(err)
		}
	}
	after, _ := udpSocketDrops(port)
	if after-before < 100 {
		t.Fatalf("%d drops counted at the full socket, want most of 200", after-before)
	}
	other := map[uint16]bool{tx.LocalAddr().(*net.UDPAddr).AddrPort().Port(): true}
	if mine, _ := udpSocketDrops(other); mine != 0 {
		t.Fatalf("the sender's socket has %d drops", mine)
	}
}
