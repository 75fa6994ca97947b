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
)

// The packet path's benchmarks: forward (a bridged packet from receive to
// the far leg's send batch), play (one clock slot's frames of many legs)
// and mix (a barge tick). Each must report 0 allocs/op. Run:
//
//	go test -run '^$' -bench 'Forward|PlaySlot|Mixer3Legs|WriteFrame|SRTPFrame' -benchmem ./media

// BenchmarkBridgeForward measures the engine's cost per relayed packet:
// demultiplex, parse, latch, decode, bridge, encode, queue in the reader's
// batch, and the batch's sendmmsg (32 packets per system call, as a
// shared socket's reader does under load). The socket read is not timed.
func BenchmarkBridgeForward(b *testing.B) {
	for _, mode := range []string{"own-port", "shared"} {
		b.Run(mode, func(b *testing.B) {
			alloc := newTestAlloc(b, 16)
			if mode == "shared" {
				_ = alloc.ShareSockets(2)
			}
			a, leg := newTestSession(b, alloc), newTestSession(b, alloc)
			sink := newRawPeer(b) // nobody reads: the kernel drops what overflows
			from := newRawPeer(b).addr()
			a.SetRemote(from, PCMU, 101)
			leg.SetRemote(sink.addr(), PCMA, 101)
			a.started.Store(true) // fed directly below, not by the reader
			br := NewBridge(a, leg)
			defer br.Close()
			pkt := rtpBytes(b, 0, 1, 160, 7, false, encodeAll(b, PCMU, Tone(440, FrameDuration, 8000).Samples))
			var rs rxScratch
			tx := newTxBatch(32, pktRoom)
			ep := a.ep
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				pkt[2], pkt[3] = byte(i>>8), byte(i)
				ep.mu.Lock()
				s := ep.lookupLocked(pkt, from)
				ep.mu.Unlock()
				s.handlePacket(&rs, pkt, from, time.Now(), tx)
				if tx.n == 32 {
					tx.flush()
				}
			}
			tx.flush()
			if br.Stats().ForwardedAB == 0 {
				b.Fatal("nothing forwarded")
			}
		})
	}
}

// BenchmarkPlaySlot is one clock slot's work per playing leg: next frame
// of a pre-encoded prompt, RTP header, queue, and the slot's sendmmsg
// (64 legs per slot on shared sockets), for legs sending to one peer
// address (a gateway taking many calls on one port: the slot's packets
// leave as trains, train.go) and for legs with a peer address each.
func BenchmarkPlaySlot(b *testing.B) {
	for _, peers := range []string{"one-peer-address", "address-per-leg"} {
		b.Run(peers, func(b *testing.B) {
			const legs = 64
			alloc := newTestAlloc(b, 16)
			_ = alloc.ShareSockets(2)
			sink := newRawPeer(b)
			prompt := Tone(440, 2*time.Second, 8000)
			players := make([]*player, legs)
			for i := range players {
				s := newTestSession(b, alloc)
				to := sink
				if peers == "address-per-leg" {
					to = newRawPeer(b)
				}
				s.SetRemote(to.addr(), PCMU, 0)
				players[i] = &player{s: s, prompts: []*Prompt{prompt}, loop: true, first: true, told: func() {}}
			}
			tx := newTxBatch(txBatchSize, pktRoom)
			due := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				tx.now = time.Now()
				for _, p := range players {
					if !p.emit(due, tx) {
						b.Fatal("player stopped")
					}
				}
				tx.flush()
				due = due.Add(FrameDuration)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*legs), "ns/frame")
		})
	}
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
			s.recv.Load().fn(frame)
		}
	}
	push()
	tx := newTxBatch(txBatchSize, pktRoom)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		push()
		tx.now = time.Now()
		m.tickInto(tx)
		tx.flush()
	}
}

// BenchmarkConcurrentPlay plays a 2 s prompt on N legs at once on the media
// clock and reports how late frames leave against their schedule (time
// after the batch's sendmmsg returned, so the send itself counts). Run
// with -benchtime=1x; the figure of merit is the share within 5 ms. The
// legs start spread over one frame, as calls arriving over time do.
func BenchmarkConcurrentPlay(b *testing.B) {
	for _, n := range []int{1000, 2000, 4000} {
		for _, mode := range []string{"own-port", "shared"} {
			b.Run(fmt.Sprintf("calls=%d/%s", n, mode), func(b *testing.B) {
				for b.Loop() {
					playConcurrently(b, n, 2*time.Second, mode == "shared")
				}
			})
		}
	}
}

func playConcurrently(b *testing.B, n int, d time.Duration, shared bool) {
	alloc := newTestAlloc(b, n+64)
	if shared {
		_ = alloc.ShareSockets(8)
	}
	sink := newRawPeer(b)
	prompt := Tone(440, d, 8000)
	sessions := make([]*Session, n)
	for i := range sessions {
		s, err := NewSession(alloc, loopback, nil)
		if err != nil {
			b.Fatalf("session %d: %v", i, err)
		}
		defer s.Close()
		s.SetRemote(sink.addr(), PCMU, 0)
		sessions[i] = s
	}
	var mu sync.Mutex
	all := make([]time.Duration, 0, n*prompt.Frames())
	stop := setLateProbe(func(d time.Duration) { mu.Lock(); all = append(all, d); mu.Unlock() })
	defer stop()
	var wg sync.WaitGroup
	start := time.Now()
	for i, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Until(start.Add(FrameDuration * time.Duration(i) / time.Duration(n))))
			if err := s.Play(context.Background(), prompt); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	stop()
	reportLateness(b, all)
}

func setLateProbe(fn func(time.Duration)) (stop func()) {
	lateProbe.Store(&fn)
	return func() { lateProbe.Store(nil) }
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
	const n = 1000
	for _, mode := range []string{"own-port", "shared"} {
		b.Run(mode, func(b *testing.B) {
			alloc := newTestAlloc(b, n+64)
			if mode == "shared" {
				_ = alloc.ShareSockets(8)
			}
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
		})
	}
}

// BenchmarkWriteFrame is the cost of sending one 20 ms frame directly
// (outside the clock and the relay): encode, header, one sendmmsg.
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
