package recording_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hotlinecc/hotline/media"
	"github.com/hotlinecc/hotline/recording"
)

// BenchmarkRecordedBridges runs n bridged calls at once — caller phone ⇄
// engine leg ⇄ media.Bridge ⇄ engine leg ⇄ agent phone, 50 packets/s each
// way — with and without the real Recorder on every bridge, and reports the
// phone-to-phone forwarding delay. The phones share the process and the two
// cores, so the figures bound the engine from above. Run with -benchtime=1x:
//
//	go test -run '^$' -bench RecordedBridges -benchtime 1x ./recording
func BenchmarkRecordedBridges(b *testing.B) {
	for _, n := range []int{500} {
		for _, rec := range []bool{false, true} {
			b.Run(fmt.Sprintf("calls=%d/recorded=%v", n, rec), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					recordedBridges(b, n, 3*time.Second, rec)
				}
			})
		}
	}
}

// marks are µ-law-exact sample values: a frame's first sample carries its
// index mod 256 through G.711 unchanged.
var marks = func() (m [256]int16) {
	for i := range m {
		pcm, _ := media.PCMU.Decode(nil, []byte{byte(i)})
		m[i] = pcm[0]
	}
	return m
}()

func recordedBridges(b *testing.B, n int, d time.Duration, record bool) {
	log := slog.New(slog.DiscardHandler)
	ports, err := media.NewPortAllocator(40000, 40000+n*8+100)
	if err != nil {
		b.Fatal(err)
	}
	ip := netip.MustParseAddr("127.0.0.1")
	open := func() *media.Session {
		s, err := media.NewSession(ports, ip, log)
		if err != nil {
			b.Fatal(err)
		}
		s.Start()
		b.Cleanup(func() { s.Close() })
		return s
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rc := recording.NewRecorder(recording.Config{Root: b.TempDir(), Logger: log})
	go func() { _ = rc.Run(ctx) }()
	defer rc.Close()

	index := map[int16]int{}
	for i, v := range marks {
		index[v] = i
	}
	frames := int(d / (20 * time.Millisecond))
	var start time.Time // set once every call is up, before the first frame
	sendAt := func(k int) time.Time { return start.Add(time.Duration(k) * 20 * time.Millisecond) }
	var mu sync.Mutex
	delays := make([]time.Duration, 0, 2*n*frames)
	phones := make([][2]*media.Session, n)
	for i := range n {
		caller, legA, legB, agent := open(), open(), open(), open()
		caller.SetRemote(legA.LocalAddr(), media.PCMU, 0)
		legA.SetRemote(caller.LocalAddr(), media.PCMU, 0)
		legB.SetRemote(agent.LocalAddr(), media.PCMU, 0)
		agent.SetRemote(legB.LocalAddr(), media.PCMU, 0)
		br := media.NewBridge(legA, legB)
		b.Cleanup(br.Close)
		if record {
			r, err := rc.Open(recording.Meta{CallID: fmt.Sprintf("bench-%d", i)})
			if err != nil {
				b.Fatal(err)
			}
			br.SetTap(func(fromCaller bool, pcm []int16) {
				if fromCaller {
					r.Feed(recording.Caller, pcm)
				} else {
					r.Feed(recording.Agent, pcm)
				}
			})
			b.Cleanup(func() { r.Close() })
		}
		// Phones are not in step: each call sends in its own 1 ms slot of the
		// 20 ms period, as independent phones would.
		offset := time.Duration(i%20) * time.Millisecond
		for _, to := range []*media.Session{caller, agent} {
			to.SetReceiver(func(pcm []int16) {
				now := time.Now()
				k, ok := index[pcm[0]]
				if !ok {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if start.IsZero() {
					return
				}
				// The frame sent most recently with this mark.
				sent := sendAt(k).Add(offset)
				for sent.Add(256 * 20 * time.Millisecond).Before(now) {
					sent = sent.Add(256 * 20 * time.Millisecond)
				}
				delays = append(delays, now.Sub(sent))
			})
		}
		phones[i] = [2]*media.Session{caller, agent}
	}
	mu.Lock()
	start = time.Now().Add(100 * time.Millisecond)
	mu.Unlock()
	b.ResetTimer()
	frame := make([]int16, media.FrameSamples)
	for k := 0; k < frames; k++ {
		frame[0] = marks[k%256]
		for slot := 0; slot < 20; slot++ {
			time.Sleep(time.Until(sendAt(k).Add(time.Duration(slot) * time.Millisecond)))
			for i := slot; i < len(phones); i += 20 {
				_ = phones[i][0].WriteFrame(frame)
				_ = phones[i][1].WriteFrame(frame)
			}
		}
	}
	time.Sleep(200 * time.Millisecond)
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
	if len(delays) == 0 {
		b.Fatal("no frame arrived")
	}
	q := func(p float64) float64 { return float64(delays[int(p*float64(len(delays)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(100*(1-float64(len(delays))/float64(2*n*frames)), "lost-%")
}
