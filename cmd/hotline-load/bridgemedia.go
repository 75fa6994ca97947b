package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotlinecc/hotline/media/udpbatch"
)

// bridgeMedia is the RTP of both sides of the bridged calls, sent and
// received by the driver itself. Every stream (a caller's or an agent's
// phone) has an id; its SSRC, announced in its SDP (a=ssrc), is base+id,
// and it shares one of a few driver sockets with other streams. Each
// 20 ms frame carries a stamp — stream id and frame number in µ-law code
// points 0..126, which the engine's decode and re-encode leave exactly as
// they were — so a frame received on any socket tells which stream sent
// it and when (the send time kept per stream and frame). Sends are paced
// on a 1 ms wheel and leave with sendmmsg, receives come with recvmmsg
// and kernel timestamps: the driver has to stay cheap next to the engine.
type bridgeMedia struct {
	conns   []*udpbatch.Polled
	stopRx  chan struct{}
	base    uint32
	streams []bstream
	epoch   time.Time

	// sentAt[id*ring + frame%ring]: µs since epoch << 24 | frame & 0xffffff.
	sentAt []atomic.Uint64

	senders []*bsender
	wg      sync.WaitGroup

	winFrom, winUntil atomic.Int64 // unix ns; 0 until set
	relayed           []atomic.Bool
	relayedN          atomic.Int64
	sentIn            atomic.Uint64
	lateSends, sends  atomic.Uint64
	badStamps         atomic.Uint64
	unknownLines      atomic.Uint64

	mu       sync.Mutex
	delays   []float64 // ms
	received uint64
	// perSecond[unix second of the send] = frames judged, frames over 5 ms
	// (the readers add theirs under mu).
	perSecond map[int64][2]int

	closeOnce, stopOnce sync.Once
}

const (
	gsoMax     = 64 // datagrams per GSO send (the kernel's UDP_MAX_SEGMENTS)
	stampRing  = 64
	stampMagic = 42
	frameLen   = 172
)

type bstream struct {
	id    int
	sock  int
	ssrc  uint32
	dst   netip.AddrPort
	seq   uint16
	ts    uint32
	frame uint32
}

func newBridgeMedia(sockets, streams int) (*bridgeMedia, error) {
	bm := &bridgeMedia{base: rand.Uint32() &^ 0xffff, epoch: time.Now(), streams: make([]bstream, streams), perSecond: map[int64][2]int{},
		sentAt: make([]atomic.Uint64, streams*stampRing), relayed: make([]atomic.Bool, streams), stopRx: make(chan struct{})}
	for range sockets {
		// Polled, as the receiver of the playing scenario (see rxBatch).
		c, err := udpbatch.ListenPolled(netip.MustParseAddrPort("127.0.0.1:0"), 16<<20)
		if err != nil {
			bm.close()
			return nil, fmt.Errorf("driver rtp socket: %w", err)
		}
		bm.conns = append(bm.conns, c)
		// The driver's frames for one engine port leave in one trip
		// through the kernel (GSO): the phones' cost is not what is
		// measured, and on one machine it competes with the engine. The
		// engine still receives one datagram per frame.
		if err := c.SetGSO(frameLen); err != nil {
			bm.close()
			return nil, fmt.Errorf("driver rtp socket: %w", err)
		}
	}
	for id := range bm.streams {
		bm.streams[id] = bstream{id: id, sock: id % sockets, ssrc: bm.base + uint32(id), seq: uint16(rand.Uint32()), ts: rand.Uint32()}
	}
	// One sender per CPU, each owning some sockets (so a slot's packets
	// leave in few sendmmsg calls).
	for g := range min(runtime.NumCPU(), sockets) {
		bm.senders = append(bm.senders, &bsender{bm: bm, g: g, add: make(chan int, streams), stop: make(chan struct{})})
	}
	return bm, nil
}

// ports are the driver's socket ports.
func (bm *bridgeMedia) ports() map[uint16]bool {
	m := make(map[uint16]bool, len(bm.conns))
	for _, c := range bm.conns {
		m[c.LocalAddr().Port()] = true
	}
	return m
}

// injection is the SIPp injection file for streams first…first+n-1:
// "port;ssrc;" per call.
func (bm *bridgeMedia) injection(first, n int) string {
	var b strings.Builder
	b.WriteString("SEQUENTIAL\n")
	for id := first; id < first+n && id < len(bm.streams); id++ {
		st := &bm.streams[id]
		fmt.Fprintf(&b, "%d;%d;\n", bm.conns[st.sock].LocalAddr().Port(), st.ssrc)
	}
	return b.String()
}

// start launches the readers (one per CPU, each draining some of the
// sockets: a single one could not keep up with 200,000 frames a second
// beside the engine, and the frames it left in the buffers were counted
// as lost) and the senders.
func (bm *bridgeMedia) start() {
	n := min(runtime.NumCPU(), len(bm.conns))
	for g := range n {
		var conns []*udpbatch.Polled
		for i := g; i < len(bm.conns); i += n {
			conns = append(conns, bm.conns[i])
		}
		bm.wg.Add(1)
		go func() { defer bm.wg.Done(); bm.read(conns) }()
	}
	for _, s := range bm.senders {
		bm.wg.Add(1)
		go func() { defer bm.wg.Done(); s.run() }()
	}
}

// stopSending silences every stream (idempotent).
func (bm *bridgeMedia) stopSending() {
	bm.stopOnce.Do(func() {
		for _, s := range bm.senders {
			close(s.stop)
		}
	})
}

// close stops the senders and readers (idempotent); results are complete
// after it.
func (bm *bridgeMedia) close() {
	bm.closeOnce.Do(func() {
		bm.stopSending()
		close(bm.stopRx)
		bm.wg.Wait()
		for _, c := range bm.conns {
			_ = c.Close()
		}
	})
}

// follow reads a SIPp -trace_logs file for "media SSRC IP PORT" lines and
// starts each named stream towards the engine address.
func (bm *bridgeMedia) follow(ctx context.Context, path string) {
	followLog(ctx, path, func(line string) {
		i := strings.Index(line, "media ")
		if i < 0 {
			return
		}
		f := strings.Fields(line[i:])
		if len(f) < 4 {
			bm.unknownLines.Add(1)
			return
		}
		ssrc, err1 := strconv.ParseUint(f[1], 10, 32)
		port, err2 := strconv.Atoi(f[3])
		ip, err3 := netip.ParseAddr(f[2])
		id := int(uint32(ssrc) - bm.base)
		if err1 != nil || err2 != nil || err3 != nil || id < 0 || id >= len(bm.streams) {
			bm.unknownLines.Add(1)
			return
		}
		st := &bm.streams[id]
		s := bm.senders[st.sock%len(bm.senders)]
		s.mu.Lock()
		st.dst = netip.AddrPortFrom(ip, uint16(port))
		s.mu.Unlock()
		s.add <- id
	})
}

// setWindow sets the steady window whose frames are judged.
func (bm *bridgeMedia) setWindow(from, until time.Time) {
	bm.winUntil.Store(until.UnixNano())
	bm.winFrom.Store(from.UnixNano())
}

func (bm *bridgeMedia) inWindow(ns int64) bool {
	f := bm.winFrom.Load()
	return f != 0 && ns >= f && ns < bm.winUntil.Load()
}

// relayedStreams is how many streams had a frame relayed so far.
func (bm *bridgeMedia) relayedStreams() int { return int(bm.relayedN.Load()) }

// results returns the window's delays (sorted, ms), frames sent and
// received in it, and the streams relayed; call it after close.
func (bm *bridgeMedia) results() ([]float64, uint64, uint64, int) {
	bm.mu.Lock()
	defer bm.mu.Unlock()
	d := slices.Clone(bm.delays)
	slices.Sort(d)
	return d, bm.sentIn.Load(), bm.received, int(bm.relayedN.Load())
}

// timeline is the window second by second: "15:04:05 judged late", and
// the worst second.
func (bm *bridgeMedia) timeline() (csv, worst string) {
	secs := make([]int64, 0, len(bm.perSecond))
	for s := range bm.perSecond {
		secs = append(secs, s)
	}
	slices.Sort(secs)
	var b strings.Builder
	b.WriteString("utc,frames,over_5ms\n")
	var ws int64
	for _, s := range secs {
		c := bm.perSecond[s]
		fmt.Fprintf(&b, "%s,%d,%d\n", time.Unix(s, 0).UTC().Format("15:04:05"), c[0], c[1])
		if c[1] > bm.perSecond[ws][1] {
			ws = s
		}
	}
	if c := bm.perSecond[ws]; c[1] > 0 {
		worst = fmt.Sprintf("worst second %s: %d of %d frames over 5 ms", time.Unix(ws, 0).UTC().Format("15:04:05"), c[1], c[0])
	}
	return b.String(), worst
}

func (bm *bridgeMedia) summary() string {
	s := bm.sends.Load()
	late := bm.lateSends.Load()
	pct := 0.0
	if s > 0 {
		pct = 100 * float64(late) / float64(s)
	}
	return fmt.Sprintf("%d frames sent, %.3f %% of them more than 5 ms behind the driver's own schedule (its stamps are taken at the send, so a late driver does not count against the engine), %d unstamped or unknown packets received, %d unreadable SIPp media lines",
		s, pct, bm.badStamps.Load(), bm.unknownLines.Load())
}

// stamp writes id and frame into the payload as µ-law code points 0..126.
func stamp(p []byte, id int, frame uint32) {
	f := frame % (127 * 127)
	p[0] = stampMagic
	p[1], p[2] = byte(id/127%127), byte(id%127)
	p[3], p[4] = byte(f/127), byte(f%127)
	p[5] = byte((int(p[1])*3 + int(p[2])*5 + int(p[3])*7 + int(p[4])*11) % 127)
}

func unstamp(p []byte) (id int, frame uint32, ok bool) {
	if len(p) < 6 || p[0] != stampMagic {
		return 0, 0, false
	}
	for _, c := range p[1:6] {
		if c > 126 {
			return 0, 0, false
		}
	}
	if p[5] != byte((int(p[1])*3+int(p[2])*5+int(p[3])*7+int(p[4])*11)%127) {
		return 0, 0, false
	}
	return int(p[1])*127 + int(p[2]), uint32(p[3])*127 + uint32(p[4]), true
}

// read drains conns every millisecond and records each relayed frame's
// delay.
func (bm *bridgeMedia) read(conns []*udpbatch.Polled) {
	io := udpbatch.NewIO(rxBatch)
	ms := make([]udpbatch.Message, rxBatch)
	for k := range ms {
		ms[k].Buf = make([]byte, 256)
		ms[k].OOB = make([]byte, 64)
	}
	var delays []float64
	var received uint64
	perSecond := map[int64][2]int{}
	flush := func() {
		bm.mu.Lock()
		bm.delays = append(bm.delays, delays...)
		bm.received += received
		for sec, c := range perSecond {
			t := bm.perSecond[sec]
			t[0] += c[0]
			t[1] += c[1]
			bm.perSecond[sec] = t
		}
		bm.mu.Unlock()
		delays, received = delays[:0], 0
		clear(perSecond)
	}
	defer flush()
	for {
		select {
		case <-bm.stopRx:
			return
		default:
		}
		for _, c := range conns {
			for {
				k, err := io.Drain(c, ms)
				if err != nil || k == 0 {
					break
				}
				for j := range k {
					bm.receive(&ms[j], &delays, &received, perSecond)
				}
				if k < len(ms) {
					break
				}
			}
		}
		if len(delays) > 4096 {
			flush()
		}
		time.Sleep(drainEvery)
	}
}

func (bm *bridgeMedia) receive(m *udpbatch.Message, delays *[]float64, received *uint64, perSecond map[int64][2]int) {
	b := m.Buf[:m.N]
	if len(b) < 12 || b[0]>>6 != 2 || b[1]&0x7f != 0 {
		return
	}
	hl := 12 + 4*int(b[0]&0x0f)
	if len(b) < hl+6 {
		return
	}
	id, frame, ok := unstamp(b[hl:])
	if !ok || id >= len(bm.streams) {
		bm.badStamps.Add(1) // hold music, or not ours
		return
	}
	v := bm.sentAt[id*stampRing+int(frame%stampRing)].Load()
	if uint32(v&0xffffff) != frame {
		bm.badStamps.Add(1)
		return
	}
	if !bm.relayed[id].Swap(true) {
		bm.relayedN.Add(1)
	}
	sentNs := bm.epoch.UnixNano() + int64(v>>24)*1000
	at, ok := udpbatch.KernelStamp(m.OOB[:m.NOOB])
	if !ok {
		at = time.Now().UnixNano()
	}
	if bm.inWindow(sentNs) {
		d := float64(at-sentNs) / 1e6
		*delays = append(*delays, d)
		*received++
		c := perSecond[sentNs/1e9]
		c[0]++
		if d > 5 {
			c[1]++
		}
		perSecond[sentNs/1e9] = c
	}
}

// bsender paces its streams' frames on a 1 ms wheel and sends them with
// sendmmsg per socket.
type bsender struct {
	bm   *bridgeMedia
	g    int
	add  chan int
	stop chan struct{}
	mu   sync.Mutex // guards streams' dst against follow

	// load[sock, dst]: streams of one driver socket to one engine address
	// per wheel slot (the sender's goroutine only).
	load map[sendPath]*pathLoad
	// total is the sender's streams per slot: a new path starts in the
	// emptiest, so that the engine gets the frames spread over the 20 ms
	// (as from independent phones) rather than several paths' bursts in
	// one millisecond.
	total [20]int
}

type pathLoad struct {
	base  int // the slot of the path's first stream, where the search starts
	slots [20]int
}

type sendPath struct {
	sock int
	dst  netip.AddrPort
}

// slotFor is the wheel slot a new stream sends in: with the other streams
// of its socket to the same engine address, gsoMax of them per slot, so
// that the driver's frames leave in long GSO trains (it must stay cheap
// beside the engine on the same cores). A path's first stream takes the
// emptiest slot; later ones join it, or the next slot with room.
func (s *bsender) slotFor(id int, next int64) int {
	st := &s.bm.streams[id]
	s.mu.Lock()
	p := sendPath{st.sock, st.dst}
	s.mu.Unlock()
	if s.load == nil {
		s.load = map[sendPath]*pathLoad{}
	}
	l := s.load[p]
	if l == nil {
		base := int(next % 20)
		for i := range 20 {
			if k := (int(next) + i) % 20; s.total[k] < s.total[base] {
				base = k
			}
		}
		l = &pathLoad{base: base}
		s.load[p] = l
	}
	best := l.base
	for i := range 20 {
		k := (l.base + i) % 20
		if l.slots[k] < gsoMax {
			best = k
			break
		}
		if l.slots[k] < l.slots[best] {
			best = k
		}
	}
	l.slots[best]++
	s.total[best]++
	return best
}

func (s *bsender) run() {
	bm := s.bm
	var wheel [20][]int
	io := udpbatch.NewIO(64)
	perSock := map[int][]udpbatch.Message{}
	var arena []byte
	var order []int
	epoch := time.Now().Truncate(time.Millisecond)
	slot := int64(time.Since(epoch) / time.Millisecond)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	payloadFill := make([]byte, 160)
	for i := range payloadFill {
		payloadFill[i] = 0x55
	}
	for {
		// Take new streams: each starts in the slot that is due next.
		for more := true; more; {
			select {
			case id := <-s.add:
				k := s.slotFor(id, slot+1)
				wheel[k] = append(wheel[k], id)
			default:
				more = false
			}
		}
		slot++
		due := epoch.Add(time.Duration(slot) * time.Millisecond)
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-s.stop:
				return
			case <-timer.C:
			case id := <-s.add:
				timer.Stop()
				k := s.slotFor(id, slot)
				wheel[k] = append(wheel[k], id)
				slot--
				continue
			}
		} else {
			select {
			case <-s.stop:
				return
			default:
			}
		}
		ids := wheel[slot%20]
		if len(ids) == 0 {
			continue
		}
		now := time.Now()
		if now.Sub(due) > 5*time.Millisecond {
			bm.lateSends.Add(uint64(len(ids)))
		}
		bm.sends.Add(uint64(len(ids)))
		sentUs := uint64(now.Sub(bm.epoch).Microseconds())
		in := bm.inWindow(now.UnixNano())
		if need := len(ids) * frameLen; cap(arena) < need {
			arena = make([]byte, need)
		}
		for k := range perSock {
			perSock[k] = perSock[k][:0]
		}
		s.mu.Lock()
		// Frames for the same socket and engine address next to each
		// other, so that each run leaves as one GSO datagram train.
		order = append(order[:0], ids...)
		slices.SortFunc(order, func(a, b int) int {
			sa, sb := &bm.streams[a], &bm.streams[b]
			if sa.sock != sb.sock {
				return sa.sock - sb.sock
			}
			return sa.dst.Compare(sb.dst)
		})
		run := 0
		for n, id := range order {
			st := &bm.streams[id]
			pkt := arena[n*frameLen : (n+1)*frameLen]
			pkt[0] = 0x80
			pkt[1] = 0
			binary.BigEndian.PutUint16(pkt[2:], st.seq)
			binary.BigEndian.PutUint32(pkt[4:], st.ts)
			binary.BigEndian.PutUint32(pkt[8:], st.ssrc)
			copy(pkt[12:], payloadFill)
			f := st.frame % (127 * 127)
			stamp(pkt[12:], id, f)
			bm.sentAt[id*stampRing+int(f%stampRing)].Store(sentUs<<24 | uint64(f))
			st.seq++
			st.ts += 160
			st.frame++
			next := n + 1
			if next == len(order) || next-run == gsoMax || bm.streams[order[next]].sock != st.sock || bm.streams[order[next]].dst != st.dst {
				perSock[st.sock] = append(perSock[st.sock], udpbatch.Message{Buf: arena[run*frameLen : next*frameLen], Addr: st.dst})
				run = next
			}
		}
		s.mu.Unlock()
		if in {
			bm.sentIn.Add(uint64(len(ids)))
		}
		for k, msgs := range perSock {
			if len(msgs) > 0 {
				_, _ = io.Send(bm.conns[k], msgs)
			}
		}
	}
}
