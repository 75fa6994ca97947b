package ivr

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// benchLeg presses 1 each time the menu starts, for a fixed number of
// turns, then hangs up; prompts "play" instantly, so the benchmark measures
// the interpreter alone.
type benchLeg struct {
	digits chan rune
	turns  int
	hangup context.CancelFunc
}

func (l *benchLeg) CallerNumber() string { return "13800000002" }
func (l *benchLeg) Dialled() string      { return "10010" }
func (l *benchLeg) Digits() <-chan rune  { return l.digits }
func (l *benchLeg) Play(ctx context.Context, files ...string) error {
	if files[0] == "menu" {
		if l.turns == 0 {
			l.hangup()
			return nil
		}
		l.turns--
		l.digits <- '1'
	}
	return nil
}
func (l *benchLeg) Record(context.Context, string, time.Duration, time.Duration) (time.Duration, error) {
	return 0, nil
}
func (l *benchLeg) Hangup(context.Context, string) error { return nil }

const benchTurns = 20

// BenchmarkMenuTurns runs callers in parallel, each pressing a menu key 20
// times; it reports the digit → next prompt latency the engine would export.
func BenchmarkMenuTurns(b *testing.B) {
	f, err := ParseFlow("bench.yaml", []byte(`
nodes:
  m: {type: menu, prompt: menu, options: {"1": ack}, timeout: 1s, default: bye}
  ack: {type: play, prompt: ack, next: m}
  bye: {type: hangup}
`), LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	var lat []time.Duration
	in := &Interpreter{Logger: quietLog, DigitLatency: func(d time.Duration) {
		mu.Lock()
		lat = append(lat, d)
		mu.Unlock()
	}}
	b.ReportAllocs()
	b.SetParallelism(250) // 500 callers on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ctx, cancel := context.WithCancel(context.Background())
			leg := &benchLeg{digits: make(chan rune, 4), turns: benchTurns, hangup: cancel}
			if _, err := in.Run(ctx, f, &Call{ID: "bench", Leg: leg}); err != nil {
				b.Error(err)
			}
			cancel()
		}
	})
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
	}
}

func BenchmarkParseDemoFlow(b *testing.B) {
	data := mustRead(b, demoFlows+"/main.yaml")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseFlow("main.yaml", data, LoadOptions{PromptRoot: demoPrompts}); err != nil {
			b.Fatal(err)
		}
	}
}
