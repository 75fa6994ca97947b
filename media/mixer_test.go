package media

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"
)

func TestMixFrames(t *testing.T) {
	frame := func(v int16, n int) []int16 {
		f := make([]int16, n)
		for i := range f {
			f[i] = v
		}
		return f
	}
	tests := []struct {
		name string
		n    int
		srcs [][]int16
		want []int16
	}{
		{"plain sum", 160, [][]int16{frame(1000, 160), frame(-300, 160), frame(50, 160)}, frame(750, 160)},
		{"saturates high", 160, [][]int16{frame(30000, 160), frame(10000, 160)}, frame(math.MaxInt16, 160)},
		{"saturates low", 160, [][]int16{frame(-30000, 160), frame(-10000, 160)}, frame(math.MinInt16, 160)},
		{"clips the sum, not each step", 160, [][]int16{frame(30000, 160), frame(10000, 160), frame(-20000, 160)}, frame(20000, 160)},
		{"no sources is silence", 160, nil, frame(0, 160)},
		{"short source is silence after its end", 4, [][]int16{{1, 2}, {10, 10, 10, 10}}, []int16{11, 12, 10, 10}},
		{"longer than a frame", 400, [][]int16{frame(7, 400), frame(3, 400)}, frame(10, 400)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := frame(12345, tc.n) // stale content must be overwritten
			MixFrames(dst, tc.srcs...)
			if !equalPCM(dst, tc.want) {
				t.Fatalf("got %v..., want %v...", dst[:min(4, len(dst))], tc.want[:min(4, len(tc.want))])
			}
		})
	}
}

// fakeLeg stands in for a Session in mixer unit tests.
type fakeLeg struct {
	mu   sync.Mutex
	recv func([]int16)
	sent [][]int16
}

func (f *fakeLeg) installReceiver(fn func([]int16)) *receiver {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recv = fn
	return &receiver{fn: fn}
}

func (f *fakeLeg) removeReceiver(*receiver) { f.mu.Lock(); f.recv = nil; f.mu.Unlock() }

func (f *fakeLeg) writeFrameTo(pcm []int16, _ *txBatch) error {
	f.mu.Lock()
	f.sent = append(f.sent, append([]int16(nil), pcm...))
	f.mu.Unlock()
	return nil
}

func (f *fakeLeg) speak(pcm []int16) {
	f.mu.Lock()
	fn := f.recv
	f.mu.Unlock()
	if fn != nil {
		fn(pcm)
	}
}

func (f *fakeLeg) heard() [][]int16 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sent
}

func constFrame(v int16) []int16 {
	f := make([]int16, FrameSamples)
	for i := range f {
		f[i] = v
	}
	return f
}

func newFakeMix(ids ...string) (*Mixer, map[string]*fakeLeg) {
	m := NewMixer(nil)
	legs := map[string]*fakeLeg{}
	for _, id := range ids {
		legs[id] = &fakeLeg{}
		m.addLeg(id, legs[id])
	}
	return m, legs
}

// TestMixerAlignment: legs whose packets arrive at different moments are
// still summed frame k with frame k.
func TestMixerAlignment(t *testing.T) {
	m, legs := newFakeMix("a", "b", "ear")
	m.SetRoutes([]Route{{"ear", "a"}, {"ear", "b"}})
	a, b := legs["a"], legs["b"]
	// Both legs prime their queues, then arrive out of phase: a just
	// before a tick, b in a burst of two after the next one.
	a.speak(constFrame(100))
	a.speak(constFrame(200))
	b.speak(constFrame(1000))
	b.speak(constFrame(2000))
	m.tick() // a1 + b1
	a.speak(constFrame(300))
	m.tick() // a2 + b2
	b.speak(constFrame(3000))
	b.speak(constFrame(4000))
	a.speak(constFrame(400))
	m.tick() // a3 + b3
	m.tick() // a4 + b4
	want := []int16{1100, 2200, 3300, 4400}
	got := legs["ear"].heard()
	if len(got) != len(want) {
		t.Fatalf("ear got %d frames, want %d", len(got), len(want))
	}
	for i, f := range got {
		if !equalPCM(f, constFrame(want[i])) {
			t.Fatalf("tick %d: ear got %d, want %d", i, f[0], want[i])
		}
	}
	if len(legs["a"].heard()) != 0 || len(legs["b"].heard()) != 0 {
		t.Fatal("legs routed to nobody were sent audio")
	}
}

// TestMixerSilentLeg: a leg that stops sending neither stalls the mix nor
// leaves stale audio; its listeners get silence in its place.
func TestMixerSilentLeg(t *testing.T) {
	m, legs := newFakeMix("caller", "agent", "sup")
	m.SetRoutes(BargeRoutes("caller", "agent", "sup"))
	legs["caller"].speak(constFrame(10))
	legs["caller"].speak(constFrame(10))
	legs["agent"].speak(constFrame(20))
	legs["agent"].speak(constFrame(20))
	// The supervisor never sends; the agent stops after two frames.
	const ticks = 6
	for range ticks {
		legs["caller"].speak(constFrame(10))
		m.tick()
	}
	for id, l := range legs {
		if n := len(l.heard()); n != ticks {
			t.Fatalf("%s got %d frames in %d ticks", id, n, ticks)
		}
	}
	sup := legs["sup"].heard()
	for i, f := range sup {
		want := int16(10)
		if i < 2 {
			want = 30
		}
		if f[0] != want {
			t.Fatalf("supervisor tick %d: %d, want %d", i, f[0], want)
		}
	}
	if got := legs["caller"].heard()[ticks-1][0]; got != 0 {
		t.Fatalf("caller hears %d from a silent agent and supervisor, want 0", got)
	}
}

func TestMixerQueueBounded(t *testing.T) {
	m, legs := newFakeMix("fast", "ear")
	m.SetHears("ear", "fast", true)
	for i := range 10 {
		legs["fast"].speak(constFrame(int16(i + 1)))
	}
	for range mixQueueFrames + 1 {
		m.tick()
	}
	var got []int16
	for _, f := range legs["ear"].heard() {
		got = append(got, f[0])
	}
	// The newest frames survive; then the drained leg is silence.
	want := []int16{7, 8, 9, 10, 0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ear heard %v, want %v", got, want)
	}
}

// TestMixerRoutingPresets checks who hears whom with a tone per leg and a
// Goertzel detector, as a listener's ear would.
func TestMixerRoutingPresets(t *testing.T) {
	tones := map[string]float64{"caller": 400, "agent": 1000, "sup": 1700, "other": 2400}
	tests := []struct {
		name   string
		routes []Route
		hears  map[string][]string // listener -> speakers audible; listed legs only
	}{
		{"listen", ListenRoutes("caller", "agent", "sup"), map[string][]string{
			"caller": {"agent"}, "agent": {"caller"}, "sup": {"caller", "agent"}}},
		{"whisper", WhisperRoutes("caller", "agent", "sup"), map[string][]string{
			"caller": {"agent"}, "agent": {"caller", "sup"}, "sup": {"caller", "agent"}}},
		{"barge", BargeRoutes("caller", "agent", "sup"), map[string][]string{
			"caller": {"agent", "sup"}, "agent": {"caller", "sup"}, "sup": {"caller", "agent"}}},
		{"conference of four", ConferenceRoutes("caller", "agent", "sup", "other"), map[string][]string{
			"caller": {"agent", "sup", "other"}, "agent": {"caller", "sup", "other"},
			"sup": {"caller", "agent", "other"}, "other": {"caller", "agent", "sup"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, legs := newFakeMix("caller", "agent", "sup", "other")
			m.SetRoutes(tc.routes)
			const ticks = 10
			for id, l := range legs {
				pcm := Tone(tones[id], ticks*FrameDuration, 6000).Samples
				// Prime the queues and keep one frame per tick coming.
				l.speak(pcm[:FrameSamples])
			}
			for k := range ticks {
				for id, l := range legs {
					pcm := Tone(tones[id], ticks*FrameDuration, 6000).Samples
					l.speak(pcm[k*FrameSamples : (k+1)*FrameSamples])
				}
				m.tick()
			}
			for listener, l := range legs {
				var ear []int16
				for _, f := range l.heard() {
					ear = append(ear, f...)
				}
				want, routed := tc.hears[listener]
				if !routed {
					if len(ear) != 0 {
						t.Errorf("%s is routed to nobody but was sent %d samples", listener, len(ear))
					}
					continue
				}
				for speaker, f := range tones {
					should := contains(want, speaker)
					if got := hasTone(ear, f); got != should {
						t.Errorf("%s hears %s: %v, want %v (power %.4f)", listener, speaker, got, should, goertzel(ear, f))
					}
				}
			}
		})
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestMixerRemoveLegAndTap(t *testing.T) {
	m, legs := newFakeMix("caller", "agent", "sup")
	m.SetRoutes(ListenRoutes("caller", "agent", "sup"))
	type tapped struct {
		leg string
		v   int16
	}
	var taps []tapped
	m.SetTap(func(leg string, pcm []int16) { taps = append(taps, tapped{leg, pcm[0]}) })
	for range 2 {
		legs["caller"].speak(constFrame(5))
	}
	m.tick()
	want := fmt.Sprint([]tapped{{"caller", 5}, {"agent", 0}, {"sup", 0}})
	if fmt.Sprint(taps) != want {
		t.Fatalf("taps %v, want %v", taps, want)
	}

	m.RemoveLeg("agent")
	if m.Hears("caller", "agent") || m.Hears("agent", "caller") || m.Hears("sup", "agent") {
		t.Fatal("routes to or from a removed leg remain")
	}
	if !m.Hears("sup", "caller") {
		t.Fatal("unrelated route lost")
	}
	if legs["agent"].recv != nil {
		t.Fatal("removed leg still has the mixer as receiver")
	}
	if fmt.Sprint(m.Legs()) != "[caller sup]" {
		t.Fatalf("Legs = %v", m.Legs())
	}
	m.SetHears("sup", "sup", true) // never hears itself
	if m.Hears("sup", "sup") {
		t.Fatal("a leg hears itself")
	}
	m.SetTap(nil)
	m.tick()
	if len(taps) != 3 {
		t.Fatalf("removed tap still called: %d", len(taps))
	}
}

// TestMixerRunWhisperOverRTP runs the whole path: three phones send tones
// over RTP to three engine legs, the mixer runs on its own clock with the
// whisper matrix, and each phone hears exactly what whisper promises.
func TestMixerRunWhisperOverRTP(t *testing.T) {
	ids := []string{"caller", "agent", "sup"}
	tones := map[string]float64{"caller": 400, "agent": 1000, "sup": 1700}
	m := NewMixer(nil)
	phones := map[string]*Session{}
	ears := map[string]*frameSink{}
	for _, id := range ids {
		phone, leg := newPair(t, PCMU, 0)
		phones[id], ears[id] = phone, newFrameSink()
		phone.SetReceiver(ears[id].receive)
		m.AddLeg(id, leg)
	}
	m.SetRoutes(WhisperRoutes("caller", "agent", "sup"))
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- m.Run(ctx) }()
	waitFor(t, "mixer ticking", func() bool { return m.ticks.Load() > 0 })
	if err := m.Run(ctx); err == nil || err == context.Canceled {
		t.Fatalf("second concurrent Run = %v, want refusal", err)
	}

	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := phones[id].Play(ctx, Tone(tones[id], 600*time.Millisecond, 6000)); err != nil {
				t.Errorf("%s play: %v", id, err)
			}
		}()
	}
	wg.Wait()
	waitFor(t, "audio at every phone", func() bool {
		return ears["caller"].count() >= 20 && ears["agent"].count() >= 20 && ears["sup"].count() >= 20
	})
	cancel()
	if err := <-runErr; err != context.Canceled {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	want := map[string][]string{"caller": {"agent"}, "agent": {"caller", "sup"}, "sup": {"caller", "agent"}}
	for listener, sink := range ears {
		ear := sink.all()
		for speaker, f := range tones {
			if got, should := hasTone(ear, f), contains(want[listener], speaker); got != should {
				t.Errorf("%s hears %s: %v, want %v", listener, speaker, got, should)
			}
		}
	}
}
