package media

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkBridgedCalls runs n bridged calls at once inside one process —
// caller phone ⇄ engine leg ⇄ Bridge ⇄ engine leg ⇄ agent phone, both
// directions paced at 50 packets/s — and reports the forwarding delay
// phone to phone through the engine. tap=true installs a recording tap
// that copies every frame into a per-call buffer, as a recorder's enqueue
// would, to show what recording adds on the relay path. The phones run in
// the same process and share the two cores, so the figures are an upper
// bound for the engine alone. Run with -benchtime=1x.
func BenchmarkBridgedCalls(b *testing.B) {
	for _, n := range []int{100, 250, 500} {
		for _, tap := range []bool{false, true} {
			b.Run(fmt.Sprintf("calls=%d/tap=%v", n, tap), func(b *testing.B) {
				for b.Loop() {
					bridgedCalls(b, n, 2*time.Second, tap)
				}
			})
		}
	}
}

// stamp writes frame number k into the first samples using µ-law code
// points 0..126, which survive any number of G.711 µ-law round trips
// exactly (code 127 aliases to 255).
func stamp(frame []int16, k int) {
	for i := range 3 {
		frame[i] = ulawDecode[k%127]
		k /= 127
	}
}

// ulawCode is built on first use: package variables initialise before
// init() fills ulawDecode.
var ulawCode = sync.OnceValue(func() map[int16]int {
	m := make(map[int16]int, 127)
	for c := range 127 {
		m[ulawDecode[c]] = c
	}
	return m
})

func unstamp(frame []int16) (int, bool) {
	k, mul := 0, 1
	for i := range 3 {
		c, ok := ulawCode()[frame[i]]
		if !ok {
			return 0, false
		}
		k += c * mul
		mul *= 127
	}
	return k, true
}

type loadDirection struct {
	from, to *Session
	sent     []atomic.Int64 // unix nanos per frame number
	delays   []time.Duration
	got      int
}

func bridgedCalls(b *testing.B, n int, d time.Duration, tap bool) {
	alloc := newTestAlloc(b, 4*n+64)
	frames := int(d / FrameDuration)
	newLeg := func() *Session {
		s, err := NewSession(alloc, loopback, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		return s
	}
	var dirs []*loadDirection
	for range n {
		callerPhone, a, agentPhone, leg := newLeg(), newLeg(), newLeg(), newLeg()
		callerPhone.SetRemote(a.LocalAddr(), PCMU, 0)
		a.SetRemote(callerPhone.LocalAddr(), PCMU, 0)
		agentPhone.SetRemote(leg.LocalAddr(), PCMU, 0)
		leg.SetRemote(agentPhone.LocalAddr(), PCMU, 0)
		br := NewBridge(a, leg)
		b.Cleanup(br.Close)
		if tap {
			var mu sync.Mutex
			rec := make([]int16, 0, 2*frames*FrameSamples)
			br.SetTap(func(fromA bool, pcm []int16) {
				mu.Lock()
				rec = append(rec, pcm...)
				mu.Unlock()
			})
		}
		for _, pair := range [][2]*Session{{callerPhone, agentPhone}, {agentPhone, callerPhone}} {
			dir := &loadDirection{from: pair[0], to: pair[1], sent: make([]atomic.Int64, frames),
				delays: make([]time.Duration, 0, frames)}
			dir.to.SetReceiver(func(pcm []int16) {
				k, ok := unstamp(pcm)
				if !ok || k >= frames {
					return
				}
				dir.delays = append(dir.delays, time.Duration(time.Now().UnixNano()-dir.sent[k].Load()))
				dir.got++
			})
			dirs = append(dirs, dir)
		}
		for _, s := range []*Session{callerPhone, a, agentPhone, leg} {
			s.Start()
		}
	}
	var wg sync.WaitGroup
	start := time.Now()
	for i, dir := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pace := newPacer(start.Add(FrameDuration * time.Duration(i) / time.Duration(len(dirs))))
			defer pace.stop()
			frame := make([]int16, FrameSamples)
			for k := range frames {
				if err := pace.wait(b.Context(), nil); err != nil {
					return
				}
				stamp(frame, k)
				dir.sent[k].Store(time.Now().UnixNano())
				if err := dir.from.WriteFrame(frame); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	time.Sleep(200 * time.Millisecond) // let the last packets land
	for _, dir := range dirs {
		dir.to.SetReceiver(nil)
	}
	var all []time.Duration
	for _, dir := range dirs {
		all = append(all, dir.delays...)
	}
	if len(all) == 0 {
		b.Fatal("no frame crossed the bridge")
	}
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(all[len(all)-1].Microseconds()), "max-µs")
	b.ReportMetric(100*(1-float64(len(all))/float64(len(dirs)*frames)), "%lost")
}

// pacer is a drift-free 20 ms clock for the simulated phones (the engine
// side rides the media clock).
type pacer struct {
	start time.Time
	n     int
	timer *time.Timer
}

func newPacer(start time.Time) *pacer { return &pacer{start: start} }

func (p *pacer) wait(ctx context.Context, done <-chan struct{}) error {
	due := p.start.Add(time.Duration(p.n) * FrameDuration)
	p.n++
	d := time.Until(due)
	if d <= 0 {
		return ctx.Err()
	}
	if p.timer == nil {
		p.timer = time.NewTimer(d)
	} else {
		p.timer.Reset(d)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-done:
		return ErrClosed
	case <-p.timer.C:
		return nil
	}
}

func (p *pacer) stop() {
	if p.timer != nil {
		p.timer.Stop()
	}
}
