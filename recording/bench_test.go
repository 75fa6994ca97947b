package recording

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchClock is a fake clock cheap enough not to distort the benchmark.
type benchClock struct {
	base time.Time
	off  atomic.Int64
}

func (c *benchClock) Now() time.Time { return c.base.Add(time.Duration(c.off.Load())) }

// discardFile is a File that keeps nothing: it isolates the CPU cost of
// frame assembly from the disk.
type discardFile struct{}

func (discardFile) Write(b []byte) (int, error)            { return len(b), nil }
func (discardFile) WriteAt(b []byte, _ int64) (int, error) { return len(b), nil }
func (discardFile) Sync() error                            { return nil }
func (discardFile) Close() error                           { return nil }

// BenchmarkFeed500 records 500 calls at once: per 20 ms of (virtual) time
// every call's two legs Feed one frame each from GOMAXPROCS feeder
// goroutines, and the shared flusher drains all calls every 60 ms. One op
// is one 20 ms frame of one leg, flusher work included; "core%" is the CPU
// share of one core that 500 real-time calls (50 000 frames/s) would need.
//
//	go test -run '^$' -bench Feed500 -benchmem ./recording/
//	go test -run '^$' -bench Feed500/disk -benchtime 200000x -benchmem ./recording/
//
// The disk variant writes real files (32 kB/s per call) and ends and
// restarts every call each 10 s of audio so the files stay small; its
// figure includes the fsync and sidecar write at each call end.
func BenchmarkFeed500(b *testing.B) {
	b.Run("discard", func(b *testing.B) { benchFeed500(b, false) })
	b.Run("disk", func(b *testing.B) { benchFeed500(b, true) })
}

func benchFeed500(b *testing.B, disk bool) {
	const calls = 500
	const rotateSteps = 500 // 10 s of audio per call
	root := b.TempDir()
	clk := &benchClock{base: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
	opts := Options{Now: clk.Now}
	if !disk {
		opts.Create = func(string) (File, error) { return discardFile{}, nil }
	}
	rc := NewRecorder(Config{Root: root, Options: opts})
	recs := make([]*Recording, calls)
	generation := 0
	openAll := func() {
		for i := range recs {
			r, err := rc.Open(Meta{CallID: fmt.Sprintf("bench-%d-%d", generation, i)})
			if err != nil {
				b.Fatal(err)
			}
			recs[i] = r
		}
		generation++
	}
	closeAll := func() {
		for _, r := range recs {
			m, err := r.Close()
			if err != nil {
				b.Fatal(err)
			}
			if disk {
				_ = os.Remove(wavPathOf(root, m))
			}
		}
	}
	openAll()
	frames := [2][]int16{toneFrame(callerHz, 0), toneFrame(agentHz, 0)}

	workers := runtime.GOMAXPROCS(0)
	start := make([]chan struct{}, workers)
	var step sync.WaitGroup
	var quit sync.WaitGroup
	for w := range workers {
		start[w] = make(chan struct{})
		quit.Add(1)
		go func() {
			defer quit.Done()
			for range start[w] {
				for i := w; i < calls; i += workers {
					recs[i].Feed(Caller, frames[0])
					recs[i].Feed(Agent, frames[1])
				}
				step.Done()
			}
		}()
	}
	b.ReportAllocs()
	b.ResetTimer()
	steps := 0
	for done := 0; done < b.N; done += 2 * calls {
		step.Add(workers)
		for _, c := range start {
			c <- struct{}{}
		}
		step.Wait()
		clk.off.Add(int64(frameDur))
		steps++
		if steps%3 == 0 {
			rc.DrainAll()
		}
		if disk && steps%rotateSteps == 0 {
			closeAll()
			openAll()
		}
	}
	b.StopTimer()
	for _, c := range start {
		close(c)
	}
	quit.Wait()
	closeAll()
	nsPerFrame := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(nsPerFrame*50000/1e9*100, "core%")
}

// BenchmarkFeedLatency500 paces 500 recorded calls in real time (two legs,
// a frame every 20 ms) against the real shared flusher writing real files,
// and reports how long the RTP goroutine spends inside Feed: the delay that
// recording adds to forwarding. ns/op is wall time per frame and means
// nothing here; read p50-ns, p99-ns and max-ns.
//
//	go test -run '^$' -bench FeedLatency500 -benchtime 100000x ./recording/
func BenchmarkFeedLatency500(b *testing.B) {
	const calls = 500
	root := b.TempDir()
	rc := NewRecorder(Config{Root: root})
	ctx, cancel := context.WithCancel(context.Background())
	var run sync.WaitGroup
	run.Add(1)
	go func() { defer run.Done(); _ = rc.Run(ctx) }()
	recs := make([]*Recording, calls)
	for i := range recs {
		r, err := rc.Open(Meta{CallID: fmt.Sprintf("lat-%d", i)})
		if err != nil {
			b.Fatal(err)
		}
		recs[i] = r
	}
	frames := [2][]int16{toneFrame(callerHz, 0), toneFrame(agentHz, 0)}
	workers := runtime.GOMAXPROCS(0)
	perWorker := b.N/workers + 1
	lat := make([][]time.Duration, workers)
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := make([]time.Duration, 0, perWorker)
			tick := time.NewTicker(frameDur)
			defer tick.Stop()
			for len(l) < perWorker {
				for i := w; i < calls && len(l) < perWorker; i += workers {
					for ch := range 2 {
						t0 := time.Now()
						recs[i].Feed(Channel(ch), frames[ch])
						l = append(l, time.Since(t0))
					}
				}
				<-tick.C
			}
			lat[w] = l
		}()
	}
	wg.Wait()
	b.StopTimer()
	cancel()
	run.Wait()
	if err := rc.Close(); err != nil {
		b.Fatal(err)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	q := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))]) }
	b.ReportMetric(q(0.5), "p50-ns")
	b.ReportMetric(q(0.99), "p99-ns")
	b.ReportMetric(float64(all[len(all)-1]), "max-ns")
}
