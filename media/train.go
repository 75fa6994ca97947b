package media

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"

	"github.com/hotlinecc/hotline/media/udpbatch"
)

// Trains: the packets of one batch that leave one socket for the same
// address with the same length go out as one UDP_SEGMENT send (generic
// segmentation offload): one trip through the network stack for up to
// udpbatch.MaxSegments datagrams instead of one each, which on this
// class of machine is most of a packet's cost. It applies to a peer that
// takes many calls on one address and port (a media gateway or SBC
// multiplexing its calls, a recorder, the load driver); a port per call
// on the peer's side gives trains of one, sent as before. A kernel or
// device that refuses the offload (EIO without checksum offload, EINVAL
// on kernels before 4.18) is found on the first train: the socket then
// sends one datagram per packet for good.

// trainedDatagrams counts the datagrams sent in trains (TrainedDatagrams).
var trainedDatagrams atomic.Uint64

// TrainedDatagrams is how many RTP datagrams left in trains (several to
// one address in one trip through the network stack) so far.
func TrainedDatagrams() uint64 { return trainedDatagrams.Load() }

// trainer groups a batch's messages into trains. Its slices are sized for
// the batch once and reused.
type trainer struct {
	slot   []int16 // open addressing: train number + 1, 0 = free
	trains []train
	of     []int16 // train of each message
	segs   [][]byte
	out    []udpbatch.Message
	single []udpbatch.Message
}

type train struct {
	dst      netip.AddrPort
	size     int
	n        int // members so far
	off      int // first member in segs (after layout)
	firstMsg int
	retried  bool
}

func newTrainer(size int) *trainer {
	tbl := 8
	for tbl < 2*size {
		tbl <<= 1
	}
	return &trainer{
		slot: make([]int16, tbl), trains: make([]train, 0, size), of: make([]int16, size),
		segs: make([][]byte, size), out: make([]udpbatch.Message, 0, size), single: make([]udpbatch.Message, 0, size),
	}
}

func trainHash(dst netip.AddrPort, size int) uint32 {
	a := dst.Addr().As16()
	h := binary.LittleEndian.Uint32(a[12:]) ^ binary.LittleEndian.Uint32(a[8:])*0x9e3779b1 ^ uint32(dst.Port())<<16 ^ uint32(size)
	h *= 0x85ebca6b
	return h ^ h>>15
}

// send sends ms from ep, trains where they form, and marks each message
// Failed as its datagram went; it returns the first error.
func (t *trainer) send(ep *endpoint, io *udpbatch.IO, ms []udpbatch.Message) error {
	if len(ms) < 2 || ep.noTrains.Load() || !udpbatch.Batched() {
		_, err := ep.send(io, ms)
		return err
	}
	t.build(ms)
	defer func() {
		clear(t.out[:cap(t.out)])
		clear(t.segs)
	}()
	if len(t.out) == len(ms) {
		// No two packets share a destination: as before.
		_, err := ep.send(io, ms)
		return err
	}
	_, err := ep.send(io, t.out)
	for i := range t.trains {
		switch tr := &t.trains[i]; {
		case tr.n == 1:
		case t.out[i].Failed:
			tr.retried = true
			t.retry(ep, io, ms, i)
		default:
			ep.trained.Add(uint64(tr.n))
			trainedDatagrams.Add(uint64(tr.n))
		}
	}
	failed := false
	for j := range ms {
		if tr := int(t.of[j]); !t.trains[tr].retried {
			ms[j].Failed = t.out[tr].Failed
		}
		failed = failed || ms[j].Failed
	}
	if !failed {
		return nil
	}
	return err
}

// retry sends train i's datagrams one by one after the train was refused;
// if they all go, the refusal was the offload's and the socket stops
// making trains.
func (t *trainer) retry(ep *endpoint, io *udpbatch.IO, ms []udpbatch.Message, i int) {
	t.single = t.single[:0]
	for j := range ms {
		if int(t.of[j]) == i {
			t.single = append(t.single, udpbatch.Message{Buf: ms[j].Buf, Addr: ms[j].Addr})
		}
	}
	failed, err := ep.send(io, t.single)
	k := 0
	for j := range ms {
		if int(t.of[j]) == i {
			ms[j].Failed = t.single[k].Failed
			k++
		}
	}
	if failed == 0 && ep.noTrains.CompareAndSwap(false, true) {
		ep.alloc.log().Info("rtp: the kernel refuses segmentation offload on this socket; sending one datagram per packet", "local", ep.local.String(), "err", err)
	}
	clear(t.single[:cap(t.single)])
}

// build assigns each message to a train (same destination and length, in
// order, at most udpbatch.MaxSegments each) and lays the trains out in
// t.out, one message per train: the datagram itself for a train of one.
func (t *trainer) build(ms []udpbatch.Message) {
	clear(t.slot)
	t.trains = t.trains[:0]
	mask := uint32(len(t.slot) - 1)
	for j := range ms {
		m := &ms[j]
		h := trainHash(m.Addr, len(m.Buf)) & mask
		for {
			s := t.slot[h]
			if s == 0 {
				t.trains = append(t.trains, train{dst: m.Addr, size: len(m.Buf), firstMsg: j})
				t.slot[h] = int16(len(t.trains))
				break
			}
			tr := &t.trains[s-1]
			if tr.dst == m.Addr && tr.size == len(m.Buf) {
				if tr.n == udpbatch.MaxSegments {
					// Full: a new train takes this slot of the table.
					t.trains = append(t.trains, train{dst: m.Addr, size: len(m.Buf), firstMsg: j})
					t.slot[h] = int16(len(t.trains))
				}
				break
			}
			h = (h + 1) & mask
		}
		ti := int(t.slot[h]) - 1
		t.trains[ti].n++
		t.of[j] = int16(ti)
	}
	off := 0
	for i := range t.trains {
		t.trains[i].off = off
		off += t.trains[i].n
		t.trains[i].n = 0
	}
	for j := range ms {
		tr := &t.trains[t.of[j]]
		t.segs[tr.off+tr.n] = ms[j].Buf
		tr.n++
	}
	t.out = t.out[:0]
	for i := range t.trains {
		tr := &t.trains[i]
		m := udpbatch.Message{Addr: tr.dst}
		if tr.n == 1 {
			m.Buf = ms[tr.firstMsg].Buf
		} else {
			m.Segs = t.segs[tr.off : tr.off+tr.n]
		}
		t.out = append(t.out, m)
	}
}
