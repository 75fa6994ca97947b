package webrtc_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/sip/webrtc/webrtctest"
)

// BenchmarkBridgedBrowserCalls runs n calls at once, each a caller's RTP
// leg bridged to an agent leg, both directions paced at 50 packets/s for
// 5 s: the agent leg is a plain RTP leg with an RTP phone (rtp), or a
// browser leg with a pion client as the browser (webrtc: ICE-lite,
// DTLS-SRTP, the relay). It reports the forwarding delay phone to phone
// through the engine, the process's CPU per call and the heap each call
// holds (with its phones or pion browser). The phones and
// browsers run in the same process: the CPU figure includes them (for
// webrtc, the browser side's SRTP as much as the engine's). Run with
// -benchtime=1x.
func BenchmarkBridgedBrowserCalls(b *testing.B) {
	for _, n := range []int{50, 200} {
		for _, kind := range []string{"rtp", "webrtc"} {
			b.Run(fmt.Sprintf("calls=%d/%s", n, kind), func(b *testing.B) {
				for b.Loop() {
					bridgedBrowserCalls(b, n, kind == "webrtc", 5*time.Second)
				}
			})
		}
	}
}

// The frame number rides in the first three samples as µ-law code points
// 0..126, which G.711 round trips keep exactly.
var ulaw = func() (dec [127]int16, enc map[int16]int) {
	enc = map[int16]int{}
	for c := range 127 {
		pcm, _ := media.PCMU.Decode(nil, []byte{byte(c)})
		dec[c] = pcm[0]
		enc[pcm[0]] = c
	}
	return dec, enc
}

func stamp(frame []int16, k int, dec *[127]int16) {
	for i := range 3 {
		frame[i] = dec[k%127]
		k /= 127
	}
}

func unstamp(frame []int16, enc map[int16]int) (int, bool) {
	k, mul := 0, 1
	for i := range 3 {
		c, ok := enc[frame[i]]
		if !ok {
			return 0, false
		}
		k += c * mul
		mul *= 127
	}
	return k, true
}

type direction struct {
	write  func([]int16) error
	sent   []atomic.Int64
	mu     sync.Mutex
	delays []time.Duration
}

func (d *direction) got(pcm []int16, enc map[int16]int, now time.Time) {
	k, ok := unstamp(pcm, enc)
	if !ok || k >= len(d.sent) {
		return
	}
	d.mu.Lock()
	d.delays = append(d.delays, now.Sub(time.Unix(0, d.sent[k].Load())))
	d.mu.Unlock()
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func bridgedBrowserCalls(b *testing.B, n int, browser bool, d time.Duration) {
	r := newRigPorts(b, time.Second, 4*n+64)
	dec, enc := ulaw()
	frames := int(d / media.FrameDuration)
	base := 46000 + 2*(os.Getpid()%500)
	alloc, err := media.NewPortAllocator(base, base+12*n+64)
	if err != nil {
		b.Fatal(err)
	}
	newSess := func() *media.Session {
		s, err := media.NewSession(alloc, netip.MustParseAddr("127.0.0.1"), nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		return s
	}
	p := newPage()
	if browser {
		if _, err := r.ep.Register("1001", p.Page()); err != nil {
			b.Fatal(err)
		}
	}
	var dirs []*direction
	var ms0 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	for range n {
		callerPhone, a := newSess(), newSess()
		callerPhone.SetRemote(a.LocalAddr(), media.PCMU, 0)
		a.SetRemote(callerPhone.LocalAddr(), media.PCMU, 0)
		var agentLeg *media.Session
		toCaller := &direction{sent: make([]atomic.Int64, frames)}
		toAgent := &direction{sent: make([]atomic.Int64, frames)}
		if browser {
			res := r.dial(context.Background(), "1001")
			off := p.next(b, "offer")
			c, err := webrtctest.NewClient()
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(c.Close)
			c.KeepLast(1)
			ans, err := c.Answer(off.SDP)
			if err != nil {
				b.Fatal(err)
			}
			if err := r.ep.Answer("1001", p.Page(), off.Leg, ans); err != nil {
				b.Fatal(err)
			}
			dr := <-res
			if dr.err != nil {
				b.Fatal(dr.err)
			}
			b.Cleanup(dr.leg.Close)
			agentLeg = dr.leg.Media()
			c.OnPacket(func(pkt *rtp.Packet, now time.Time) {
				pcm, err := media.PCMU.Decode(nil, pkt.Payload)
				if err == nil && len(pcm) == media.FrameSamples {
					toAgent.got(pcm, enc, now)
				}
			})
			toCaller.write = c.WriteFrame
		} else {
			agentPhone := newSess()
			agentLeg = newSess()
			agentPhone.SetRemote(agentLeg.LocalAddr(), media.PCMU, 0)
			agentLeg.SetRemote(agentPhone.LocalAddr(), media.PCMU, 0)
			agentPhone.SetReceiver(func(pcm []int16) { toAgent.got(pcm, enc, time.Now()) })
			agentLeg.Start()
			agentPhone.Start()
			toCaller.write = agentPhone.WriteFrame
		}
		br := media.NewBridge(a, agentLeg)
		b.Cleanup(br.Close)
		callerPhone.SetReceiver(func(pcm []int16) { toCaller.got(pcm, enc, time.Now()) })
		toAgent.write = callerPhone.WriteFrame
		callerPhone.Start()
		a.Start()
		dirs = append(dirs, toAgent, toCaller)
	}
	time.Sleep(300 * time.Millisecond)
	var ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	cpu0, wall0 := cpuTime(), time.Now()
	var wg sync.WaitGroup
	for i, dir := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := wall0.Add(media.FrameDuration * time.Duration(i) / time.Duration(len(dirs)))
			frame := make([]int16, media.FrameSamples)
			for k := range frames {
				time.Sleep(time.Until(start.Add(time.Duration(k) * media.FrameDuration)))
				stamp(frame, k, &dec)
				dir.sent[k].Store(time.Now().UnixNano())
				_ = dir.write(frame)
			}
		}()
	}
	wg.Wait()
	time.Sleep(200 * time.Millisecond)
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	var all []time.Duration
	for _, dir := range dirs {
		dir.mu.Lock()
		all = append(all, dir.delays...)
		dir.mu.Unlock()
	}
	if len(all) == 0 {
		b.Fatal("no frame crossed")
	}
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(100*(1-float64(len(all))/float64(len(dirs)*frames)), "%lost")
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds()/float64(n), "%cpu/call")
	b.ReportMetric(float64(int64(ms1.HeapInuse)-int64(ms0.HeapInuse))/1024/float64(n), "heap-KiB/call")
}
