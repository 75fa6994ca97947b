package udpbatch

import (
	"net"
	"net/netip"
	"testing"

	"golang.org/x/net/ipv4"
)

// The numbers behind the choice of batched system calls for RTP: the cost
// per 172-byte datagram (an RTP header and 20 ms of G.711) sent to 64
// different destinations (legs), and received, by
//   - one sendto / recvfrom per datagram (what media did per leg),
//   - golang.org/x/net/ipv4 WriteBatch / ReadBatch (sendmmsg / recvmmsg),
//   - this package (the same system calls, no per-datagram allocation).
// Run: go test -run '^$' -bench . -benchmem ./media/udpbatch

const benchBatch = 64

func benchPeers(b *testing.B) (*net.UDPConn, *Conn, []netip.AddrPort) {
	uc, c := listen(b, "127.0.0.1:0")
	dsts := make([]netip.AddrPort, benchBatch)
	for i := range dsts {
		// Nobody reads: once a receive buffer is full the kernel drops
		// after doing the whole delivery, so the figure is the send cost.
		r, _ := listen(b, "127.0.0.1:0")
		dsts[i] = local(r)
	}
	return uc, c, dsts
}

func BenchmarkSend(b *testing.B) {
	payload := make([]byte, 172)
	b.Run("sendto", func(b *testing.B) {
		uc, _, dsts := benchPeers(b)
		b.ReportAllocs()
		for b.Loop() {
			for _, d := range dsts {
				_, _ = uc.WriteToUDPAddrPort(payload, d)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/datagram")
	})
	b.Run("x-net-WriteBatch", func(b *testing.B) {
		uc, _, dsts := benchPeers(b)
		pc := ipv4.NewPacketConn(uc)
		ms := make([]ipv4.Message, benchBatch)
		for i := range ms {
			ms[i] = ipv4.Message{Buffers: [][]byte{payload}, Addr: net.UDPAddrFromAddrPort(dsts[i])}
		}
		b.ReportAllocs()
		for b.Loop() {
			for sent := 0; sent < len(ms); {
				n, err := pc.WriteBatch(ms[sent:], 0)
				if err != nil {
					b.Fatal(err)
				}
				sent += n
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/datagram")
	})
	b.Run("udpbatch", func(b *testing.B) {
		_, c, dsts := benchPeers(b)
		ms := make([]Message, benchBatch)
		for i := range ms {
			ms[i] = Message{Buf: payload, Addr: dsts[i]}
		}
		io := NewIO(benchBatch)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := io.Write(c, ms); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/datagram")
	})
}

// BenchmarkSendReceive: 64 datagrams sent in one batch to one socket and
// read back by each receive method; the send is the same for all three,
// so differences are the receive side's.
func BenchmarkSendReceive(b *testing.B) {
	payload := make([]byte, 172)
	setup := func(b *testing.B) (*net.UDPConn, *Conn, []Message, *IO) {
		_, tx := listen(b, "127.0.0.1:0")
		rxuc, rx := listen(b, "127.0.0.1:0")
		_ = rxuc.SetReadBuffer(1 << 20)
		ms := make([]Message, benchBatch)
		for i := range ms {
			ms[i] = Message{Buf: payload, Addr: local(rxuc)}
		}
		_ = rx
		return rxuc, tx, ms, NewIO(benchBatch)
	}
	b.Run("recvfrom", func(b *testing.B) {
		rxuc, tx, out, wio := setup(b)
		buf := make([]byte, 1500)
		b.ReportAllocs()
		for b.Loop() {
			_, _ = wio.Write(tx, out)
			for range benchBatch {
				if _, _, err := rxuc.ReadFromUDPAddrPort(buf); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/datagram")
	})
	b.Run("x-net-ReadBatch", func(b *testing.B) {
		rxuc, tx, out, wio := setup(b)
		pc := ipv4.NewPacketConn(rxuc)
		in := make([]ipv4.Message, benchBatch)
		for i := range in {
			in[i].Buffers = [][]byte{make([]byte, 1500)}
		}
		b.ReportAllocs()
		for b.Loop() {
			_, _ = wio.Write(tx, out)
			for got := 0; got < benchBatch; {
				n, err := pc.ReadBatch(in, 0)
				if err != nil {
					b.Fatal(err)
				}
				got += n
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/datagram")
	})
	b.Run("udpbatch", func(b *testing.B) {
		rxuc, tx, out, wio := setup(b)
		rx, _ := NewConn(rxuc)
		rio := NewIO(benchBatch)
		in := make([]Message, benchBatch)
		for i := range in {
			in[i].Buf = make([]byte, 1500)
		}
		b.ReportAllocs()
		for b.Loop() {
			_, _ = wio.Write(tx, out)
			for got := 0; got < benchBatch; {
				n, err := rio.Read(rx, in)
				if err != nil {
					b.Fatal(err)
				}
				got += n
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/datagram")
	})
}
