package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hotlinecc/hotline/media/udpbatch"
)

// receiver owns the UDP sockets the callers' SDP points at. Each socket is
// shared by many calls; packets are told apart by the engine's source
// address and SSRC (the engine's legs may share ports). Arrival times
// come from the kernel (SO_TIMESTAMPNS), so the driver's own scheduling
// does not count as the engine's jitter, and sockets are read with
// recvmmsg so the driver costs little next to the engine.
type receiver struct {
	conns []*udpbatch.Polled
	wg    sync.WaitGroup
	stop  chan struct{}

	mu           sync.Mutex
	order        []*stream
	canaryStream *stream
	// onPacket, if set before start, runs on the socket goroutine for
	// every packet (the IVR driver reacts to prompt starts there).
	onPacket func(s *stream, p rtpPacket)
	kernelTS bool
	// canary is the source address of the driver's own paced stream,
	// kept apart from the engine's (see canary).
	canary netip.AddrPort
}

// stream is what one engine leg sent to us.
type stream struct {
	from netip.AddrPort
	conn *udpbatch.Polled
	mu   sync.Mutex
	pk   []rtpPacket
	// ivr state, guarded by mu
	ivr ivrState
}

func newReceiver(n int) (*receiver, error) {
	r := &receiver{kernelTS: true, stop: make(chan struct{})}
	for i := 0; i < n; i++ {
		// Root may exceed rmem_max; a full buffer would be our loss, not
		// the engine's.
		c, err := udpbatch.ListenPolled(netip.MustParseAddrPort("127.0.0.1:0"), 16<<20)
		if err != nil {
			r.close()
			return nil, fmt.Errorf("rtp receiver socket: %w", err)
		}
		r.conns = append(r.conns, c)
	}
	return r, nil
}

// ports are the receiver's local ports, for the SIPp injection file.
func (r *receiver) ports() []int {
	out := make([]int, len(r.conns))
	for i, c := range r.conns {
		out[i] = int(c.LocalAddr().Port())
	}
	return out
}

// start drains every socket until close.
func (r *receiver) start() {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.read()
	}()
}

// rxBatch is how many datagrams one recvmmsg takes. The driver shares the
// cores with the engine and must stay cheap: its sockets are outside Go's
// poller and drained every millisecond (udpbatch.Polled), so no arriving
// packet wakes a thread — on loopback the engine would pay for those
// wake-ups, which phones on other machines never cost it — and arrival
// times come from the kernel (SO_TIMESTAMPNS), exact however late the
// drain.
const rxBatch = 64

// drainEvery is the pause between two rounds over the sockets; with many
// sockets (a socket per caller) the rounds are rarer, so that empty reads
// stay cheap (arrival times come from the kernel either way).
const drainEvery = time.Millisecond

func drainPause(sockets int) time.Duration {
	return max(drainEvery, time.Duration(sockets)*10*time.Microsecond)
}

func (r *receiver) read() {
	io := udpbatch.NewIO(rxBatch)
	ms := make([]udpbatch.Message, rxBatch)
	for i := range ms {
		ms[i].Buf = make([]byte, 256)
		ms[i].OOB = make([]byte, 64)
	}
	// A leg is its source address and SSRC: a port reused by a later call
	// starts a new stream.
	type legKey struct {
		from netip.AddrPort
		ssrc uint32
	}
	local := map[legKey]*stream{}
	pause := drainPause(len(r.conns))
	for {
		select {
		case <-r.stop:
			return
		default:
		}
		for _, c := range r.conns {
			for {
				k, err := io.Drain(c, ms)
				if err != nil || k == 0 {
					break
				}
				for i := range k {
					m := &ms[i]
					b := m.Buf[:m.N]
					at, ok := udpbatch.KernelStamp(m.OOB[:m.NOOB])
					if !ok {
						at = time.Now().UnixNano()
					}
					if len(b) < 12 || b[0]>>6 != 2 {
						continue
					}
					pt := b[1] & 0x7f
					if pt == 101 || pt >= 72 && pt <= 76 {
						continue // telephone-events or RTCP: not prompt audio
					}
					p := rtpPacket{
						At: at, Marker: b[1]&0x80 != 0,
						Seq: binary.BigEndian.Uint16(b[2:]), TS: binary.BigEndian.Uint32(b[4:]),
					}
					key := legKey{m.Addr, binary.BigEndian.Uint32(b[8:])}
					s := local[key]
					if s == nil {
						s = &stream{from: m.Addr, conn: c, pk: make([]rtpPacket, 0, 256)}
						local[key] = s
						r.mu.Lock()
						if m.Addr == r.canary {
							r.canaryStream = s
						} else {
							r.order = append(r.order, s)
						}
						r.mu.Unlock()
					}
					s.mu.Lock()
					s.pk = append(s.pk, p)
					s.mu.Unlock()
					if r.onPacket != nil && s != r.canaryStreamLocked() {
						r.onPacket(s, p)
					}
				}
				if k < len(ms) {
					break
				}
			}
		}
		time.Sleep(pause)
	}
}

// close stops the drain and closes the sockets.
func (r *receiver) close() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	r.wg.Wait()
	for _, c := range r.conns {
		_ = c.Close()
	}
}

// snapshot copies every stream's packets (call after close, or accept a
// moment's inconsistency while running).
func (r *receiver) snapshot() [][]rtpPacket {
	r.mu.Lock()
	order := append([]*stream(nil), r.order...)
	r.mu.Unlock()
	out := make([][]rtpPacket, 0, len(order))
	for _, s := range order {
		s.mu.Lock()
		out = append(out, append([]rtpPacket(nil), s.pk...))
		s.mu.Unlock()
	}
	return out
}

func (r *receiver) canaryStreamLocked() *stream {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.canaryStream
}

// canaryPackets returns what the canary delivered so far.
func (r *receiver) canaryPackets() [][]rtpPacket {
	s := r.canaryStreamLocked()
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return [][]rtpPacket{append([]rtpPacket(nil), s.pk...)}
}

// canary is a control stream: this process paces 20 ms RTP packets the
// way the engine does (a drift-free Go timer) to the receiver's first
// socket. When the machine stalls (another tenant, the hypervisor), the
// canary is late in the same second as the engine; when only the engine
// is late, the engine is the cause.
type canary struct {
	conn *net.UDPConn
	done chan struct{}
	stop chan struct{}
}

func startCanary(r *receiver) (*canary, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("canary socket: %w", err)
	}
	r.mu.Lock()
	r.canary = c.LocalAddr().(*net.UDPAddr).AddrPort()
	r.mu.Unlock()
	to := r.conns[0].LocalAddr()
	k := &canary{conn: c, done: make(chan struct{}), stop: make(chan struct{})}
	go func() {
		defer close(k.done)
		var b [172]byte
		b[0] = 0x80
		ssrc := rand.Uint32()
		binary.BigEndian.PutUint32(b[8:], ssrc)
		start := time.Now()
		t := time.NewTimer(0)
		defer t.Stop()
		for n := 0; ; n++ {
			select {
			case <-k.stop:
				return
			case <-t.C:
			}
			b[1] = 0
			if n == 0 {
				b[1] = 0x80
			}
			binary.BigEndian.PutUint16(b[2:], uint16(n))
			binary.BigEndian.PutUint32(b[4:], uint32(160*n))
			_, _ = c.WriteToUDPAddrPort(b[:], to)
			t.Reset(time.Until(start.Add(time.Duration(n+1) * 20 * time.Millisecond)))
		}
	}()
	return k, nil
}

func (k *canary) close() {
	close(k.stop)
	<-k.done
	_ = k.conn.Close()
}

// streamCount is how many legs have sent us audio so far.
func (r *receiver) streamCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.order)
}

// dtmfSender sends RFC 4733 key presses from a receiver socket to the
// engine leg that sends to it (payload type 101, as the SDP offers).
type dtmfSender struct {
	io   *udpbatch.IO // guarded by mu
	mu   sync.Mutex
	ssrc uint32
	seq  uint16
	ts   uint32
}

func newDTMFSender() *dtmfSender {
	return &dtmfSender{io: udpbatch.NewIO(1), ssrc: rand.Uint32(), seq: uint16(rand.Uint32()), ts: rand.Uint32()}
}

// press sends one key as a phone does: a start packet with the marker bit,
// updates every 20 ms for 80 ms, then three end packets. It returns when
// the first packet left (the engine acts on first sight), and keeps
// sending the rest in the background until done or ctx ends.
func (d *dtmfSender) press(ctx context.Context, c *udpbatch.Polled, to netip.AddrPort, key byte, wg *sync.WaitGroup) (time.Time, error) {
	ev, ok := dtmfEvent(key)
	if !ok {
		return time.Time{}, fmt.Errorf("dtmf: %q is not a key", key)
	}
	d.mu.Lock()
	d.ts += 800
	ts := d.ts
	d.mu.Unlock()
	send := func(marker, end bool, dur uint16) error {
		d.mu.Lock()
		defer d.mu.Unlock()
		var b [16]byte
		b[0] = 0x80
		b[1] = 101
		if marker {
			b[1] |= 0x80
		}
		binary.BigEndian.PutUint16(b[2:], d.seq)
		d.seq++
		binary.BigEndian.PutUint32(b[4:], ts)
		binary.BigEndian.PutUint32(b[8:], d.ssrc)
		b[12] = ev
		b[13] = 10 // volume -10 dBm0
		if end {
			b[13] |= 0x80
		}
		binary.BigEndian.PutUint16(b[14:], dur)
		_, err := d.io.Send(c, []udpbatch.Message{{Buf: b[:], Addr: to}})
		return err
	}
	sent := time.Now()
	if err := send(true, false, 160); err != nil {
		return time.Time{}, fmt.Errorf("dtmf %c: %w", key, err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for i := 2; i <= 5; i++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			end := i == 5
			n := 1
			if end {
				n = 3
			}
			for j := 0; j < n; j++ {
				_ = send(false, end, uint16(160*i))
			}
		}
	}()
	return sent, nil
}

func dtmfEvent(k byte) (byte, bool) {
	switch {
	case k >= '0' && k <= '9':
		return k - '0', true
	case k == '*':
		return 10, true
	case k == '#':
		return 11, true
	}
	return 0, false
}
