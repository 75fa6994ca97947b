package media

import (
	"context"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSoak churns calls of every kind — prompts looping, bridged calls
// with both peers talking, DTMF, three-way mixes — on shared ports for a
// while, then checks that the clock did not drift (every leg's frames
// were due exactly 20 ms apart, except where the machine stalled and the
// clock said so), that RTP stayed contiguous at the peers, and that
// nothing leaked: goroutines, sockets, ports, heap. Timings are logged,
// not asserted. The CI run is short; the long one:
//
//	HOTLINE_SOAK=2m HOTLINE_SOAK_CALLS=500 go test -run Soak -v ./media
func TestSoak(t *testing.T) {
	dur, calls := 10*time.Second, 60
	if v := os.Getenv("HOTLINE_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("HOTLINE_SOAK=%q: %v", v, err)
		}
		dur, calls = d, 500
	}
	if v := os.Getenv("HOTLINE_SOAK_CALLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("HOTLINE_SOAK_CALLS=%q", v)
		}
		calls = n
	}
	runtime.GC()
	goroutines0, fds0 := runtime.NumGoroutine(), openFDs(t)
	var mem0 runtime.MemStats
	runtime.ReadMemStats(&mem0)

	alloc := newOwnAlloc(t, 64)
	if err := alloc.ShareSockets(8); err != nil {
		t.Fatal(err)
	}
	// Constant memory per leg and for the lateness (the heap is checked at
	// the end): each leg's last due instant and its frames off the grid.
	var dues sync.Map // *Session → *dueLog
	var badGap atomic.Value
	stopDue := setDueProbe(func(s *Session, due time.Time) {
		v, _ := dues.LoadOrStore(s, &dueLog{})
		l := v.(*dueLog)
		l.mu.Lock()
		if !l.last.IsZero() {
			switch d := due.Sub(l.last); {
			case d == FrameDuration:
			case d > FrameDuration && d%slotDur == 0:
				l.irregular++ // a schedule shift after a stall (checked below)
			default:
				badGap.Store(d)
			}
		}
		l.last = due
		l.frames++
		l.mu.Unlock()
	})
	var late lateBuckets
	stopLate := setLateProbe(late.add)
	shifts0 := ClockShifts()

	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var st soakStats
	var wg sync.WaitGroup
	for w := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for ctx.Err() == nil {
				hold := 500*time.Millisecond + time.Duration(r.IntN(1500))*time.Millisecond
				switch k := r.IntN(10); {
				case k < 5:
					soakPlay(t, ctx, alloc, hold, &st)
				case k < 8:
					soakBridge(t, ctx, alloc, hold, &st)
				case k < 9:
					soakDTMF(t, ctx, alloc, &st)
				default:
					soakMix(t, ctx, alloc, hold, &st)
				}
			}
		}()
	}
	wg.Wait()
	stopDue()
	stopLate()

	// Drift: every leg's paced frames were due exactly 20 ms apart.
	var legs, frames, irregular int
	dues.Range(func(k, v any) bool {
		l := v.(*dueLog)
		l.mu.Lock()
		defer l.mu.Unlock()
		legs++
		frames += l.frames
		irregular += l.irregular
		dues.Delete(k) // let the sessions go before the heap is weighed
		return true
	})
	if d := badGap.Load(); d != nil {
		t.Errorf("frames due %v apart (off the 1 ms grid)", d)
	}
	shifts := ClockShifts() - shifts0
	if irregular > 0 && shifts == 0 {
		t.Errorf("%d frames off the 20 ms grid without a clock shift", irregular)
	}
	if n := st.gaps.Load(); n > 0 {
		t.Errorf("%d RTP sequence/timestamp discontinuities inside a prompt at the peers", n)
	}
	if st.calls.Load() == 0 || frames == 0 {
		t.Fatal("the soak made no calls")
	}

	// Leaks: everything is back where it started.
	waitFor(t, "goroutines to finish", func() bool { return runtime.NumGoroutine() <= goroutines0+2 })
	if n := alloc.InUse(); n != 0 {
		t.Errorf("%d ports still in use", n)
	}
	if fds := openFDs(t); fds > fds0+2 {
		t.Errorf("open fds %d → %d", fds0, fds)
	}
	runtime.GC()
	var mem1 runtime.MemStats
	runtime.ReadMemStats(&mem1)
	if grow := int64(mem1.HeapInuse) - int64(mem0.HeapInuse); grow > 16<<20 {
		t.Errorf("heap in use grew by %d MiB over the soak", grow>>20)
	}

	p := late.quantile
	t.Logf("soak %s, %d concurrent slots: %d calls (%d played, %d bridged, %d dtmf, %d mixed), %d legs paced %d frames; lateness p50 %s p99 %s max %s; %d clock shifts; relayed %d frames, peers got %d packets; heap in use %d → %d KiB; goroutines %d → %d",
		dur, calls, st.calls.Load(), st.played.Load(), st.bridged.Load(), st.dtmf.Load(), st.mixed.Load(), legs, frames,
		p(0.5), p(0.99), p(1), shifts, st.relayed.Load(), st.received.Load(), mem0.HeapInuse>>10, mem1.HeapInuse>>10, goroutines0, runtime.NumGoroutine())
}

type dueLog struct {
	mu        sync.Mutex
	last      time.Time
	frames    int
	irregular int
}

// lateBuckets is a lateness histogram in 100 µs steps up to 1 s.
type lateBuckets struct {
	mu     sync.Mutex
	counts [10001]int
	n      int
	max    time.Duration
}

func (b *lateBuckets) add(d time.Duration) {
	b.mu.Lock()
	b.counts[min(int(d/(100*time.Microsecond)), len(b.counts)-1)]++
	b.n++
	b.max = max(b.max, d)
	b.mu.Unlock()
}

// quantile returns the upper bound of the bucket holding quantile q (1:
// the largest value).
func (b *lateBuckets) quantile(q float64) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if q >= 1 {
		return b.max
	}
	want, seen := int(q*float64(b.n)), 0
	for i, c := range b.counts {
		if seen += c; seen > want {
			return time.Duration(i+1) * 100 * time.Microsecond
		}
	}
	return b.max
}

func setDueProbe(fn func(*Session, time.Time)) (stop func()) {
	dueProbe.Store(&fn)
	return func() { dueProbe.Store(nil) }
}

type soakStats struct {
	calls, played, bridged, dtmf, mixed atomic.Uint64
	relayed, received, gaps             atomic.Uint64
}

// soakPeer is a phone: a socket, a reader counting packets and checking
// that each stream's sequence numbers and timestamps are contiguous
// within a talk spurt.
type soakPeer struct {
	conn *net.UDPConn
	done chan struct{}
}

func newSoakPeer(t *testing.T, st *soakStats) *soakPeer {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Errorf("peer: %v", err)
		return nil
	}
	p := &soakPeer{conn: c, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		buf := make([]byte, 1500)
		last := map[uint32][2]uint32{} // ssrc → seq, ts
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if n < 12 || buf[1]&0x7f != 0 { // audio only (DTMF has its own timing)
				continue
			}
			st.received.Add(1)
			ssrc := uint32(buf[8])<<24 | uint32(buf[9])<<16 | uint32(buf[10])<<8 | uint32(buf[11])
			seq := uint32(buf[2])<<8 | uint32(buf[3])
			ts := uint32(buf[4])<<24 | uint32(buf[5])<<16 | uint32(buf[6])<<8 | uint32(buf[7])
			marker := buf[1]&0x80 != 0
			if prev, ok := last[ssrc]; ok && !marker && (uint16(seq) != uint16(prev[0]+1) || ts != prev[1]+FrameSamples) {
				st.gaps.Add(1)
			}
			last[ssrc] = [2]uint32{seq, ts}
		}
	}()
	return p
}

func (p *soakPeer) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *soakPeer) close() { _ = p.conn.Close(); <-p.done }

// talk sends 20 ms frames to to until ctx ends.
func (p *soakPeer) talk(ctx context.Context, to netip.AddrPort, ssrc uint32) {
	t := time.NewTicker(FrameDuration)
	defer t.Stop()
	pkt := make([]byte, 12+FrameSamples)
	pkt[0] = 0x80
	for k := 0; ; k++ {
		pkt[1] = 0
		if k == 0 {
			pkt[1] = 0x80
		}
		pkt[2], pkt[3] = byte(k>>8), byte(k)
		ts := uint32(k * FrameSamples)
		pkt[4], pkt[5], pkt[6], pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
		pkt[8], pkt[9], pkt[10], pkt[11] = byte(ssrc>>24), byte(ssrc>>16), byte(ssrc>>8), byte(ssrc)
		_, _ = p.conn.WriteToUDPAddrPort(pkt, to)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

var soakPrompt = Tone(440, time.Second, 6000)

func soakLeg(t *testing.T, alloc *PortAllocator, peer *soakPeer) *Session {
	s, err := NewSession(alloc, loopback, nil)
	if err != nil {
		t.Errorf("session: %v", err)
		return nil
	}
	s.SetRemote(peer.addr(), PCMU, 101)
	s.Start()
	return s
}

func soakPlay(t *testing.T, ctx context.Context, alloc *PortAllocator, hold time.Duration, st *soakStats) {
	peer := newSoakPeer(t, st)
	if peer == nil {
		return
	}
	defer peer.close()
	s := soakLeg(t, alloc, peer)
	if s == nil {
		return
	}
	defer s.Close()
	st.calls.Add(1)
	st.played.Add(1)
	pctx, cancel := context.WithTimeout(ctx, hold)
	defer cancel()
	if err := s.PlayLoop(pctx, soakPrompt); err != pctx.Err() {
		t.Errorf("PlayLoop: %v", err)
	}
}

func soakBridge(t *testing.T, ctx context.Context, alloc *PortAllocator, hold time.Duration, st *soakStats) {
	callerPhone, agentPhone := newSoakPeer(t, st), newSoakPeer(t, st)
	if callerPhone == nil || agentPhone == nil {
		return
	}
	defer callerPhone.close()
	defer agentPhone.close()
	a, b := soakLeg(t, alloc, callerPhone), soakLeg(t, alloc, agentPhone)
	if a == nil || b == nil {
		return
	}
	defer a.Close()
	defer b.Close()
	st.calls.Add(1)
	st.bridged.Add(1)
	br := NewBridge(a, b)
	cctx, cancel := context.WithTimeout(ctx, hold)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); callerPhone.talk(cctx, a.LocalAddr(), rand.Uint32()) }()
	go func() { defer wg.Done(); agentPhone.talk(cctx, b.LocalAddr(), rand.Uint32()) }()
	wg.Wait()
	s := br.Stats()
	st.relayed.Add(s.ForwardedAB + s.ForwardedBA)
	br.Close()
}

func soakDTMF(t *testing.T, ctx context.Context, alloc *PortAllocator, st *soakStats) {
	peer := newSoakPeer(t, st)
	if peer == nil {
		return
	}
	defer peer.close()
	s := soakLeg(t, alloc, peer)
	if s == nil {
		return
	}
	defer s.Close()
	st.calls.Add(1)
	st.dtmf.Add(1)
	if err := s.SendDTMF(ctx, '5'); err != nil && ctx.Err() == nil {
		t.Errorf("SendDTMF: %v", err)
	}
}

func soakMix(t *testing.T, ctx context.Context, alloc *PortAllocator, hold time.Duration, st *soakStats) {
	m := NewMixer(nil)
	var legs []*Session
	var peers []*soakPeer
	defer func() {
		for _, s := range legs {
			_ = s.Close()
		}
		for _, p := range peers {
			p.close()
		}
	}()
	for _, id := range []string{"caller", "agent", "sup"} {
		p := newSoakPeer(t, st)
		if p == nil {
			return
		}
		peers = append(peers, p)
		s := soakLeg(t, alloc, p)
		if s == nil {
			return
		}
		legs = append(legs, s)
		m.AddLeg(id, s)
	}
	st.calls.Add(1)
	st.mixed.Add(1)
	m.SetRoutes(BargeRoutes("caller", "agent", "sup"))
	mctx, cancel := context.WithTimeout(ctx, hold)
	defer cancel()
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func() { defer wg.Done(); p.talk(mctx, legs[i].LocalAddr(), rand.Uint32()) }()
	}
	if err := m.Run(mctx); err != mctx.Err() {
		t.Errorf("mixer Run: %v", err)
	}
	wg.Wait()
	for _, id := range []string{"caller", "agent", "sup"} {
		m.RemoveLeg(id)
	}
}
