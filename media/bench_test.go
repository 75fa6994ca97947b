package media

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// BenchmarkBridgeForward measures the engine's cost per relayed packet:
// parse, latch, decode, bridge, encode, marshal and sendto on the far leg.
// The receive loop is bypassed so only the engine's work is timed.
func BenchmarkBridgeForward(b *testing.B) {
	alloc := newTestAlloc(b, 16)
	a, leg := newTestSession(b, alloc), newTestSession(b, alloc)
	sink := newRawPeer(b) // nobody reads: the kernel drops what overflows
	from := newRawPeer(b).addr()
	a.SetRemote(from, PCMU, 101)
	leg.SetRemote(sink.addr(), PCMA, 101)
	br := NewBridge(a, leg)
	defer br.Close()
	pkt := rtpBytes(b, 0, 1, 160, 7, false, encodeAll(b, PCMU, Tone(440, FrameDuration, 8000).Samples))
	var p rtp.Packet
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		pkt[2], pkt[3] = byte(i>>8), byte(i)
		a.handlePacket(&p, pkt, from, time.Now())
	}
	if br.Stats().ForwardedAB == 0 {
		b.Fatal("nothing forwarded")
	}
}

// BenchmarkBridgeLatency is the one-way delay phone → engine → phone over
// loopback, one packet at a time (sockets and goroutine wake-ups included).
func BenchmarkBridgeLatency(b *testing.B) {
	callerPhone, a := newPair(b, PCMU, 0)
	agentPhone, leg := newPair(b, PCMU, 0)
	br := NewBridge(a, leg)
	defer br.Close()
	arrived := make(chan struct{}, 1)
	agentPhone.SetReceiver(func([]int16) { arrived <- struct{}{} })
	frame := Tone(440, FrameDuration, 8000).Samples
	lat := make([]time.Duration, 0, 1024)
	for b.Loop() {
		t0 := time.Now()
		if err := callerPhone.WriteFrame(frame); err != nil {
			b.Fatal(err)
		}
		select {
		case <-arrived:
		case <-time.After(time.Second):
			b.Fatal("packet lost")
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkMixer3Legs is one 20 ms mixer tick for a barge (three legs,
// everyone hears everyone else), including the three RTP sends.
func BenchmarkMixer3Legs(b *testing.B) {
	alloc := newTestAlloc(b, 16)
	sink := newRawPeer(b)
	m := NewMixer(nil)
	var legs []*Session
	for _, id := range []string{"caller", "agent", "sup"} {
		s := newTestSession(b, alloc)
		s.SetRemote(sink.addr(), PCMU, 0)
		m.AddLeg(id, s)
		legs = append(legs, s)
	}
	m.SetRoutes(BargeRoutes("caller", "agent", "sup"))
	frame := Tone(440, FrameDuration, 8000).Samples
	push := func() {
		for _, s := range legs {
			(*s.recv.Load())(frame)
		}
	}
	push()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		push()
		m.tick()
	}
}

// BenchmarkConcurrentPlay plays a 2 s prompt on N sessions at once and
// reports how late packets leave against their 20 ms schedule. Run with
// -benchtime=1x; the figure of merit is the share of packets within 5 ms.
func BenchmarkConcurrentPlay(b *testing.B) {
	for _, n := range []int{500, 1000, 1500, 2000} {
		for _, stagger := range []bool{false, true} {
			// aligned: every call's clock ticks at the same instant (worst
			// case); staggered: starts spread over one 20 ms frame, as
			// calls arriving over time are.
			name := fmt.Sprintf("calls=%d/aligned", n)
			if stagger {
				name = fmt.Sprintf("calls=%d/staggered", n)
			}
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					playConcurrently(b, n, 2*time.Second, stagger)
				}
			})
		}
	}
}

func playConcurrently(b *testing.B, n int, d time.Duration, stagger bool) {
	alloc := newTestAlloc(b, n+64)
	sink := newRawPeer(b)
	prompt := Tone(440, d, 8000)
	lateness := make([][]time.Duration, n) // lateness[i] written only by session i's player
	sessions := make([]*Session, n)
	for i := range sessions {
		s, err := NewSession(alloc, loopback, nil)
		if err != nil {
			b.Fatalf("session %d: %v", i, err)
		}
		defer s.Close()
		s.SetRemote(sink.addr(), PCMU, 0)
		lateness[i] = make([]time.Duration, 0, prompt.Frames())
		s.paceProbe = func(late time.Duration) { lateness[i] = append(lateness[i], late) }
		sessions[i] = s
	}
	var wg sync.WaitGroup
	start := time.Now()
	for i, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if stagger {
				time.Sleep(time.Until(start.Add(FrameDuration * time.Duration(i) / time.Duration(n))))
			}
			if err := s.Play(context.Background(), prompt); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	var all []time.Duration
	for _, l := range lateness {
		all = append(all, l...)
	}
	reportLateness(b, all)
}

func reportLateness(b *testing.B, all []time.Duration) {
	if len(all) == 0 {
		b.Fatal("no packets measured")
	}
	slices.Sort(all)
	within := 0
	for _, l := range all {
		if l <= 5*time.Millisecond {
			within++
		}
	}
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-late-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-late-µs")
	b.ReportMetric(float64(all[len(all)-1].Microseconds()), "max-late-µs")
	b.ReportMetric(100*float64(within)/float64(len(all)), "%within5ms")
}

// BenchmarkSessionMemory reports heap bytes per open, started session.
func BenchmarkSessionMemory(b *testing.B) {
	const n = 500
	alloc := newTestAlloc(b, n+64)
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		sessions := make([]*Session, 0, n)
		for range n {
			s, err := NewSession(alloc, loopback, nil)
			if err != nil {
				b.Fatal(err)
			}
			s.SetRemote(netip.AddrPortFrom(loopback, 9), PCMU, 101)
			s.Start()
			sessions = append(sessions, s)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc+after.StackInuse-before.StackInuse)/n, "B/session")
		for _, s := range sessions {
			_ = s.Close()
		}
	}
}

// BenchmarkWriteFrame is the cost of sending one 20 ms frame: encode,
// header, sendto.
func BenchmarkWriteFrame(b *testing.B) {
	for _, c := range []Codec{PCMU, PCMA} {
		b.Run(c.Name, func(b *testing.B) {
			alloc := newTestAlloc(b, 4)
			s := newTestSession(b, alloc)
			s.SetRemote(newRawPeer(b).addr(), c, 0)
			frame := Tone(440, FrameDuration, 8000).Samples
			b.ReportAllocs()
			for b.Loop() {
				if err := s.WriteFrame(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
