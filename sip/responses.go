package sip

import (
	"bytes"
	"net"
	"sync/atomic"
)

// responseCounts counts the SIP responses the engine sends, by status
// code, at the socket: every response of every handler, transaction and
// dialog (retransmissions included) passes here, so the count cannot miss
// a code path. Codes outside 100-699 are not SIP and are not counted.
type responseCounts struct {
	byCode [600]atomic.Uint64 // index code-100
}

// note counts b if it is a SIP response ("SIP/2.0 NNN ...").
func (r *responseCounts) note(b []byte) {
	const prefix = "SIP/2.0 "
	if len(b) < len(prefix)+3 || !bytes.HasPrefix(b, []byte(prefix)) {
		return
	}
	d := b[len(prefix) : len(prefix)+3]
	code := 0
	for _, c := range d {
		if c < '0' || c > '9' {
			return
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 || code > 699 {
		return
	}
	r.byCode[code-100].Add(1)
}

// ResponsesSent is how many responses of each status code the server has
// sent (retransmissions included); codes never sent are absent.
func (s *Server) ResponsesSent() map[int]uint64 {
	out := map[int]uint64{}
	for i := range s.responses.byCode {
		if n := s.responses.byCode[i].Load(); n > 0 {
			out[i+100] = n
		}
	}
	return out
}

// countingPacketConn counts the responses written to a UDP socket.
type countingPacketConn struct {
	net.PacketConn
	counts *responseCounts
}

func (c countingPacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.counts.note(b)
	return c.PacketConn.WriteTo(b, addr)
}

// countingListener hands out TCP connections whose writes are counted.
type countingListener struct {
	net.Listener
	counts *responseCounts
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{Conn: c, counts: l.counts}, nil
}

// countingConn counts the responses written to one TCP connection. sipgo
// writes one whole message per Write.
type countingConn struct {
	net.Conn
	counts *responseCounts
}

func (c countingConn) Write(b []byte) (int, error) {
	c.counts.note(b)
	return c.Conn.Write(b)
}
