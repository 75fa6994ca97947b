// Package udpbatch moves many UDP datagrams per system call — sendmmsg(2)
// and recvmmsg(2) on Linux — without allocating per datagram: addresses
// are netip.AddrPort values encoded into scratch space the caller owns
// (an IO), not net.Addr values built per packet.
//
// It exists because the media engine's cost on a loaded node is the system
// call per RTP packet (one sendto per leg per 20 ms), and because the
// general-purpose batch API in golang.org/x/net/ipv4 allocates a net.Addr
// per received message. On other platforms (and Linux architectures whose
// system call numbers are not listed here) the same API falls back to one
// datagram per call.
//
// A Conn may be shared by several goroutines; an IO may not: each
// goroutine that reads or writes batches keeps its own.
package udpbatch
