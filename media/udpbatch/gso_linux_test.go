//go:build linux && (amd64 || arm64)

package udpbatch

import (
	"net"
	"syscall"
	"testing"
)

// BenchmarkSameDestination evaluates UDP_SEGMENT (GSO), which the kernel
// offers for datagrams of one size to one destination: 64 RTP-sized
// datagrams to a single address, as sendmmsg and as one GSO send. Legs
// each have their own peer address, so the engine cannot use it; it would
// apply only to a peer taking many calls on one address and port.
func BenchmarkSameDestination(b *testing.B) {
	payload := make([]byte, 172)
	b.Run("sendmmsg", func(b *testing.B) {
		_, c := listen(b, "127.0.0.1:0")
		r, _ := listen(b, "127.0.0.1:0")
		ms := make([]Message, benchBatch)
		for i := range ms {
			ms[i] = Message{Buf: payload, Addr: local(r)}
		}
		io := NewIO(benchBatch)
		for b.Loop() {
			_, _ = io.Write(c, ms)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/datagram")
	})
	b.Run("udp-gso", func(b *testing.B) {
		uc, _ := listen(b, "127.0.0.1:0")
		r, _ := listen(b, "127.0.0.1:0")
		const solUDP, udpSegment = 17, 103
		rc, _ := uc.SyscallConn()
		var serr error
		_ = rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), solUDP, udpSegment, len(payload)) })
		if serr != nil {
			b.Fatalf("UDP_SEGMENT: %v", serr)
		}
		big := make([]byte, benchBatch*len(payload))
		to := net.UDPAddrFromAddrPort(local(r))
		for b.Loop() {
			if _, err := uc.WriteToUDP(big, to); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/datagram")
	})
}
