package media

import (
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The media clock: a fixed set of pacing loops (one per CPU) emit the due
// frames of every playing leg — prompts, music on hold, tones, DTMF and
// mixer output — instead of a goroutine and a timer per leg. Each loop
// keeps a wheel of 20 one-millisecond slots; an emitter sits in one slot
// and is visited every 20 ms, so frame n of a leg is due at
// epoch + (k0 + 20n) ms: drift-free, and the legs' send instants spread
// over the frame instead of bursting together. All packets of one slot
// leave in one batch (sendmmsg per socket).
//
// A leg starting to play takes the slot its destination hashes to, or
// the next one that has fewer than trainCap of that destination's legs
// on this loop: legs sending to one address (a peer taking many calls on
// one port) fill slots trainCap at a time, so that their packets leave
// as long trains (train.go) while the peer never gets more than trainCap
// of them from a loop in one millisecond; legs with addresses of their
// own spread over the frame by their hash.

const (
	wheelSlots = 20
	slotDur    = FrameDuration / wheelSlots
	// maxLag is how far behind a loop may fall (a stalled or overloaded
	// machine) before it shifts its schedule instead of catching up. Below
	// it, the frames missed leave at once and the legs are back on their
	// schedule: a stall costs its own frames, not a lasting delay on every
	// later one.
	maxLag = time.Second
	// trainCap is how many legs of one destination a loop puts in one
	// slot: a full train.
	trainCap = 64
)

// emitter is anything the clock drives every 20 ms.
type emitter interface {
	// emit sends the frame due at due into tx and reports whether the
	// emitter wants the next one (false: it is finished and leaves).
	emit(due time.Time, tx *txBatch) bool
	// retired is called once the batch holding its last frame has been
	// sent, after emit returned false.
	retired()
}

type clock struct {
	loops []*loop
	rr    atomic.Uint32
}

// theClock is the process's media clock. Its loops run only while they
// have something to pace, so an idle process has no clock goroutine.
var theClock = newClock(runtime.GOMAXPROCS(0))

func newClock(n int) *clock {
	n = min(max(n, 1), 16)
	c := &clock{loops: make([]*loop, n)}
	epoch := time.Now().Truncate(time.Millisecond)
	for i := range c.loops {
		c.loops[i] = &loop{epoch: epoch, wake: make(chan struct{}, 1)}
	}
	return c
}

// pick returns loop i (mod the count), or the next one round robin for i < 0.
func (c *clock) pick(i int) *loop {
	if i < 0 {
		i = int(c.rr.Add(1))
	}
	return c.loops[i%len(c.loops)]
}

// loop is one pacing goroutine with its wheel.
type loop struct {
	mu    sync.Mutex
	epoch time.Time // slot k is due at epoch + k×slotDur
	wheel [wheelSlots][]slotEntry
	count int
	// byDst is how many legs of each destination sit in each slot.
	byDst   map[netip.AddrPort]*dstLoad
	cur     int64 // the last slot processed
	sleep   int64 // the slot the loop is waiting for
	running bool
	wake    chan struct{}

	// Owned by the loop goroutine.
	tx      *txBatch
	visit   []slotEntry
	retired []emitter

	ticks atomic.Uint64
}

// slotEntry is an emitter in the wheel and the destination it was
// counted under (invalid: none).
type slotEntry struct {
	e   emitter
	dst netip.AddrPort
}

// dstLoad is one destination's legs per slot on a loop.
type dstLoad struct {
	n    int
	slot [wheelSlots]uint16
}

// slotAt is the first slot due at or after t.
func (l *loop) slotAt(t time.Time) int64 {
	d := t.Sub(l.epoch)
	k := int64(d / slotDur)
	if d%slotDur > 0 {
		k++
	}
	return k
}

// add schedules e, its first frame due at first (or as soon as possible
// if that is past), and returns the time its first frame is due. With
// choose, a leg starting afresh, it goes to the slot its destination dst
// takes (see above), at most 19 ms later; otherwise in the first slot
// due (a prompt following another keeps its rhythm). dst is counted
// either way, when valid.
func (l *loop) add(e emitter, first time.Time, dst netip.AddrPort, choose bool) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.running {
		l.cur = l.slotAt(time.Now()) - 1
	}
	k := max(l.slotAt(first), l.cur+1)
	var d *dstLoad
	if dst.IsValid() {
		if l.byDst == nil {
			l.byDst = make(map[netip.AddrPort]*dstLoad)
		}
		if d = l.byDst[dst]; d == nil {
			d = &dstLoad{}
			l.byDst[dst] = d
		}
		if choose {
			k += (int64(d.pick(dst)) - k%wheelSlots + wheelSlots) % wheelSlots
		}
	}
	k = min(k, l.cur+wheelSlots)
	if d != nil {
		d.n++
		d.slot[k%wheelSlots]++
	}
	l.wheel[k%wheelSlots] = append(l.wheel[k%wheelSlots], slotEntry{e: e, dst: dst})
	l.count++
	if !l.running {
		l.running = true
		if l.tx == nil {
			l.tx = newTxBatch(txBatchSize, pktRoom)
		}
		go l.run()
	} else if k < l.sleep {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	return l.epoch.Add(time.Duration(k) * slotDur)
}

// pick is the slot for one more leg of dst: its hash's, or the next with
// room for it in a train, or else the least loaded.
func (d *dstLoad) pick(dst netip.AddrPort) int {
	p0 := int(trainHash(dst, 0) % wheelSlots)
	best := p0
	for i := range wheelSlots {
		p := (p0 + i) % wheelSlots
		if d.slot[p] < trainCap {
			return p
		}
		if d.slot[p] < d.slot[best] {
			best = p
		}
	}
	return best
}

// leave uncounts an entry removed from slot k (l.mu held).
func (l *loop) leave(en slotEntry, k int64) {
	if !en.dst.IsValid() {
		return
	}
	d := l.byDst[en.dst]
	if d == nil {
		return
	}
	d.slot[k%wheelSlots]--
	if d.n--; d.n == 0 {
		delete(l.byDst, en.dst)
	}
}

// run visits the wheel slot by slot until nothing is left to pace.
func (l *loop) run() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		l.mu.Lock()
		if l.count == 0 {
			l.running = false
			l.mu.Unlock()
			return
		}
		k := l.cur + 1
		for len(l.wheel[k%wheelSlots]) == 0 {
			k++
		}
		l.sleep = k
		due := l.epoch.Add(time.Duration(k) * slotDur)
		l.mu.Unlock()

		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-l.wake:
				timer.Stop()
				continue // something was added before the slot we wait for
			}
		}
		now := time.Now()
		l.mu.Lock()
		if behind := now.Sub(due); behind > maxLag {
			// Hopelessly behind: carry on from now rather than bursting
			// a second of frames. Every leg on this loop shifts alike;
			// RTP timestamps stay contiguous.
			shift := behind.Truncate(slotDur)
			l.epoch = l.epoch.Add(shift)
			due = due.Add(shift)
			clockShifts.Add(1)
		}
		l.cur = k
		l.visit = append(l.visit[:0], l.wheel[k%wheelSlots]...)
		l.mu.Unlock()

		l.ticks.Add(1)
		tx := l.tx
		tx.now, tx.tickDue = now, due
		l.retired = l.retired[:0]
		for _, en := range l.visit {
			if !en.e.emit(due, tx) {
				l.retired = append(l.retired, en.e)
			}
		}
		tx.flush()
		clear(l.visit) // let finished players be collected
		for _, e := range l.retired {
			e.retired()
		}
		if len(l.retired) > 0 {
			l.mu.Lock()
			slot := l.wheel[k%wheelSlots]
			kept := slot[:0]
			for _, en := range slot {
				if slices.Contains(l.retired, en.e) {
					l.leave(en, k)
				} else {
					kept = append(kept, en)
				}
			}
			clear(slot[len(kept):])
			l.wheel[k%wheelSlots] = kept
			l.count -= len(slot) - len(kept)
			l.mu.Unlock()
			clear(l.retired)
		}
	}
}

// clockShifts counts schedule shifts after stalls (ClockShifts).
var clockShifts atomic.Uint64

// ClockShifts is how many times a pacing loop fell more than a second
// behind and moved its schedule instead of catching up.
func ClockShifts() uint64 { return clockShifts.Load() }

// Pacing is how late the clock's frames left against their schedule, over
// the process's life: counts per upper bound (the last bucket is the
// rest), as a histogram for /metrics.
type Pacing struct {
	Bounds []time.Duration // upper bounds of the buckets
	Counts []uint64        // frames per bucket (len(Bounds)+1: the last is > the last bound)
	Sum    time.Duration   // total lateness
	Frames uint64
}

// lateBounds are the lateness histogram's buckets.
var lateBounds = []time.Duration{
	250 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond,
	5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
}

type lateHist struct {
	counts [10]atomic.Uint64 // len(lateBounds)+1
	sum    atomic.Int64
}

var pacing lateHist

func (h *lateHist) observe(d time.Duration) {
	i := 0
	for i < len(lateBounds) && d > lateBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// PacingStats returns the lateness of every paced frame sent so far: how
// long after its due instant each frame left (send side; the receive
// side's jitter is in Stats.JitterMs).
func PacingStats() Pacing {
	p := Pacing{Bounds: slices.Clone(lateBounds), Counts: make([]uint64, len(lateBounds)+1), Sum: time.Duration(pacing.sum.Load())}
	for i := range p.Counts {
		p.Counts[i] = pacing.counts[i].Load()
		p.Frames += p.Counts[i]
	}
	return p
}

// ClockLoops is the number of pacing loops (one per CPU, at most 16).
func ClockLoops() int { return len(theClock.loops) }
