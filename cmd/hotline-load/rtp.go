package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"syscall"
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
	conns []*net.UDPConn
	wg    sync.WaitGroup

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
	conn *net.UDPConn
	mu   sync.Mutex
	pk   []rtpPacket
	// ivr state, guarded by mu
	ivr ivrState
}

func newReceiver(n int) (*receiver, error) {
	r := &receiver{kernelTS: true}
	for i := 0; i < n; i++ {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			r.close()
			return nil, fmt.Errorf("rtp receiver socket: %w", err)
		}
		_ = c.SetReadBuffer(4 << 20)
		raw, err := c.SyscallConn()
		if err == nil {
			_ = raw.Control(func(fd uintptr) {
				// Root may exceed rmem_max; a full buffer would be our loss, not the engine's.
				_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 16<<20)
				if err := syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1); err != nil {
					r.kernelTS = false
				}
			})
		}
		r.conns = append(r.conns, c)
	}
	return r, nil
}

// ports are the receiver's local ports, for the SIPp injection file.
func (r *receiver) ports() []int {
	out := make([]int, len(r.conns))
	for i, c := range r.conns {
		out[i] = c.LocalAddr().(*net.UDPAddr).Port
	}
	return out
}

// start reads every socket until close.
func (r *receiver) start() {
	for _, c := range r.conns {
		r.wg.Add(1)
		go func(c *net.UDPConn) {
			defer r.wg.Done()
			r.read(c)
		}(c)
	}
}

// rxBatch is how many datagrams one recvmmsg takes: the driver must stay
// cheap next to the engine on the same cores, so it reads in batches and
// takes arrival times from the kernel (SO_TIMESTAMPNS per datagram).
const rxBatch = 64

func (r *receiver) read(c *net.UDPConn) {
	bc, err := udpbatch.NewConn(c)
	if err != nil {
		return
	}
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
	for {
		k, err := io.Read(bc, ms)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		for i := range k {
			m := &ms[i]
			b := m.Buf[:m.N]
			at, ok := kernelStamp(m.OOB[:m.NOOB])
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
	}
}

// kernelStamp extracts an SCM_TIMESTAMPNS control message (Linux, 64-bit:
// a 16-byte cmsghdr followed by a struct timespec).
func kernelStamp(oob []byte) (int64, bool) {
	for len(oob) >= 16 {
		l := int(binary.NativeEndian.Uint64(oob[0:]))
		level := int32(binary.NativeEndian.Uint32(oob[8:]))
		typ := int32(binary.NativeEndian.Uint32(oob[12:]))
		if l < 16 || l > len(oob) {
			return 0, false
		}
		if level == syscall.SOL_SOCKET && typ == syscall.SO_TIMESTAMPNS && l >= 32 {
			sec := int64(binary.NativeEndian.Uint64(oob[16:]))
			nsec := int64(binary.NativeEndian.Uint64(oob[24:]))
			return sec*1e9 + nsec, true
		}
		oob = oob[(l+7)&^7:]
	}
	return 0, false
}

// close stops the socket goroutines.
func (r *receiver) close() {
	for _, c := range r.conns {
		_ = c.Close()
	}
	r.wg.Wait()
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
	to := r.conns[0].LocalAddr().(*net.UDPAddr).AddrPort()
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
	mu   sync.Mutex
	ssrc uint32
	seq  uint16
	ts   uint32
}

func newDTMFSender() *dtmfSender {
	return &dtmfSender{ssrc: rand.Uint32(), seq: uint16(rand.Uint32()), ts: rand.Uint32()}
}

// press sends one key as a phone does: a start packet with the marker bit,
// updates every 20 ms for 80 ms, then three end packets. It returns when
// the first packet left (the engine acts on first sight), and keeps
// sending the rest in the background until done or ctx ends.
func (d *dtmfSender) press(ctx context.Context, c *net.UDPConn, to netip.AddrPort, key byte, wg *sync.WaitGroup) (time.Time, error) {
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
		_, err := c.WriteToUDPAddrPort(b[:], to)
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
