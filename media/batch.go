package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hotlinecc/hotline/media/udpbatch"
)

const (
	// pktRoom is a batch slot: RTP header, 20 ms of G.711, the SRTP tag
	// and room to spare. Larger packets (odd frame sizes) go out alone.
	pktRoom = 256
	// txBatchSize is how many packets a clock loop or a shared socket's
	// reader collects before one sendmmsg per socket.
	txBatchSize = 256
)

// txBatch collects outgoing packets of one goroutine (a clock loop, a
// socket reader relaying a bridge, or one direct write) and sends them
// with one system call per socket.
type txBatch struct {
	room int
	buf  []byte
	n    int
	ms   []udpbatch.Message
	eps  []*endpoint
	legs []*Session
	due  []int64 // unix ns the packet was due (paced frames), 0 otherwise
	sent []bool  // per message, while flushing
	res  []uint8 // per message after the send: resSent, resFailed, resClosed
	grp  []udpbatch.Message
	idx  []int
	io   *udpbatch.IO
	tr   *trainer
	// now is when the batch's work started (the receive time of the
	// packets being relayed, or the clock's tick).
	now time.Time
	// firstErr is the first send error of the last flush.
	firstErr error
	// tickDue is set by a clock loop while its emitters run: frames
	// written then (mixer output) are paced frames due at that instant.
	tickDue time.Time
}

func newTxBatch(size, room int) *txBatch {
	return &txBatch{
		room: room, buf: make([]byte, size*room),
		ms: make([]udpbatch.Message, size), eps: make([]*endpoint, size), legs: make([]*Session, size),
		due: make([]int64, size), sent: make([]bool, size), res: make([]uint8, size), grp: make([]udpbatch.Message, 0, size), idx: make([]int, 0, size),
		io: udpbatch.NewIO(size), tr: newTrainer(size),
	}
}

// slot returns the next packet's buffer (room bytes, length 0), sending
// what is queued first if the batch is full.
func (tx *txBatch) slot() []byte {
	if tx.n == len(tx.ms) {
		tx.flush()
	}
	off := tx.n * tx.room
	return tx.buf[off : off : off+tx.room]
}

// commit queues the packet written into the last slot.
func (tx *txBatch) commit(ep *endpoint, leg *Session, dst netip.AddrPort, b []byte, due time.Time) {
	i := tx.n
	tx.ms[i] = udpbatch.Message{Buf: b, Addr: dst}
	tx.eps[i], tx.legs[i] = ep, leg
	tx.due[i] = 0
	if !due.IsZero() {
		tx.due[i] = due.UnixNano()
	}
	tx.n++
}

// flush sends every queued packet, one sendmmsg per socket, then does the
// accounting: packets and bytes out per leg, and for paced frames how
// late they left.
func (tx *txBatch) flush() {
	tx.firstErr = nil
	if tx.n == 0 {
		return
	}
	n := tx.n
	for i := range n {
		tx.sent[i] = false
	}
	for i := range n {
		if tx.sent[i] {
			continue
		}
		ep := tx.eps[i]
		tx.grp, tx.idx = tx.grp[:0], tx.idx[:0]
		for j := i; j < n; j++ {
			if !tx.sent[j] && tx.eps[j] == ep {
				tx.sent[j] = true
				tx.grp = append(tx.grp, tx.ms[j])
				tx.idx = append(tx.idx, j)
			}
		}
		err := tx.tr.send(ep, tx.io, tx.grp)
		if err != nil && tx.firstErr == nil {
			tx.firstErr = err
		}
		closed := errors.Is(err, net.ErrClosed)
		for g, j := range tx.idx {
			switch {
			case !tx.grp[g].Failed:
				tx.res[j] = resSent
			case closed:
				tx.res[j] = resClosed
			default:
				tx.res[j] = resFailed
			}
		}
	}
	at := time.Now()
	for i := range n {
		s := tx.legs[i]
		switch tx.res[i] {
		case resSent:
			s.st.packetsOut.Add(1)
			s.st.bytesOut.Add(uint64(len(tx.ms[i].Buf)))
		case resFailed:
			s.st.sendErrors.Add(1)
		}
		if d := tx.due[i]; d != 0 {
			s.observeLate(at.Sub(time.Unix(0, d)))
		}
		tx.legs[i], tx.eps[i] = nil, nil
		tx.ms[i].Buf = nil
	}
	tx.n = 0
	clear(tx.grp[:cap(tx.grp)])
}

const (
	resSent uint8 = iota
	resFailed
	resClosed // the leg's socket closed under the send (hang-up): not an error
)

// directTx are one-packet batches for writes made outside the clock and
// the relay (WriteFrame from a caller's goroutine, DTMF end packets).
var directTx = sync.Pool{New: func() any { return newTxBatch(1, maxPacket+srtpMaxTag) }}

// sendDirect flushes a one-packet batch at once and reports its error the
// way WriteFrame always has: ErrClosed for a closed socket, ErrSend for a
// lost packet.
func sendDirect(tx *txBatch, dst netip.AddrPort) error {
	tx.flush()
	err := tx.firstErr
	tx.firstErr = nil
	directTx.Put(tx)
	if err == nil {
		return nil
	}
	if errors.Is(err, net.ErrClosed) {
		return ErrClosed
	}
	return fmt.Errorf("%w to %s: %w", ErrSend, dst, err)
}
