package recording

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	callerHz = 440.0
	agentHz  = 1320.0
	frameDur = 20 * time.Millisecond
)

// legPlan says when a leg sends and how its packets arrive.
type legPlan struct {
	freq     float64
	from, to time.Duration // sends during [from, to)
	pairs    bool          // jitter: frames arrive two at a time, 20 ms late
	ahead    bool          // bursts: frames arrive two at a time, 20 ms early
}

// simulateCall drives a recording with a fake clock the way the engine's RTP
// goroutines would, draining like the shared flusher, then closes it.
func simulateCall(t *testing.T, rec *Recording, clk *fakeClock, dur time.Duration, legs [2]legPlan, at map[time.Duration]func()) Meta {
	t.Helper()
	steps := int(dur / frameDur)
	for i := 0; i < steps; i++ {
		now := time.Duration(i) * frameDur
		if f := at[now]; f != nil {
			f()
		}
		for ch, lp := range legs {
			if lp.freq == 0 || now < lp.from || now >= lp.to {
				continue
			}
			switch {
			case lp.ahead:
				if i%2 == 0 {
					rec.Feed(Channel(ch), toneFrame(lp.freq, i*frameSamples))
					rec.Feed(Channel(ch), toneFrame(lp.freq, (i+1)*frameSamples))
				}
			case !lp.pairs:
				rec.Feed(Channel(ch), toneFrame(lp.freq, i*frameSamples))
			case i%2 == 1:
				rec.Feed(Channel(ch), toneFrame(lp.freq, (i-1)*frameSamples))
				rec.Feed(Channel(ch), toneFrame(lp.freq, i*frameSamples))
			}
		}
		clk.Advance(frameDur)
		if i%3 == 2 {
			// A drain error must also have failed the recording; the
			// disk-full tests check the rest.
			if err := rec.Drain(); err != nil && !rec.Failed() {
				t.Fatalf("drain error %v without a failed recording", err)
			}
		}
	}
	m, err := rec.Close()
	if err != nil {
		t.Fatalf("close: %v", err)
	}
	return m
}

func openTest(t *testing.T, root string, clk *fakeClock, opts Options) *Recording {
	t.Helper()
	opts.Now = clk.Now
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	rec, err := Open(root, Meta{CallID: "call-1", Agent: "1001", Queue: "sales", Tier: "gold", Caller: "+8613800000000", Legs: []string{"leg-a", "leg-b"}}, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return rec
}

// TestRecordedAudioIsWhatWasSent is the main check: a known tone per
// leg, each on its own channel, duration equal to the call's.
func TestRecordedAudioIsWhatWasSent(t *testing.T) {
	const call = 2 * time.Second
	tests := []struct {
		name   string
		mono   bool
		jitter bool
	}{
		{name: "stereo"},
		{name: "stereo with jittered agent leg", jitter: true},
		{name: "mixed mono", mono: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root, clk := t.TempDir(), newFakeClock()
			rec := openTest(t, root, clk, Options{Mono: tc.mono})
			m := simulateCall(t, rec, clk, call, [2]legPlan{
				{freq: callerHz, to: call},
				{freq: agentHz, to: call, pairs: tc.jitter},
			}, nil)

			if m.State != StateComplete || m.Failed {
				t.Fatalf("state %q failed=%v err=%q, want complete", m.State, m.Failed, m.Error)
			}
			if !near(time.Duration(m.DurationMS)*time.Millisecond, call, 100*time.Millisecond) {
				t.Errorf("meta duration %d ms, want %v ±100 ms", m.DurationMS, call)
			}
			path := wavPathOf(root, m)
			if want := filepath.Join(root, "2026", "11", "21", "call-1.wav"); path != want {
				t.Errorf("file at %s, want %s", path, want)
			}
			w := readWAV(t, path)
			if !near(w.duration(), call, 100*time.Millisecond) {
				t.Errorf("wav duration %v, want %v ±100 ms", w.duration(), call)
			}
			if w.fileSize != m.Size {
				t.Errorf("file size %d, meta size %d", w.fileSize, m.Size)
			}
			soxDur, soxCh, soxRate := soxInfo(t, path)
			wantCh := 2
			if tc.mono {
				wantCh = 1
			}
			if soxCh != wantCh || soxRate != SampleRate || !near(soxDur, call, 100*time.Millisecond) {
				t.Errorf("sox sees %d ch %d Hz %v, want %d ch 8000 Hz %v", soxCh, soxRate, soxDur, wantCh, call)
			}
			// Inner window: away from the start and end frames.
			from, to := 200*time.Millisecond, call-200*time.Millisecond
			if tc.mono {
				x := w.segment(0, from, to)
				if toneLevel(x, callerHz) < toneAmp/2 || toneLevel(x, agentHz) < toneAmp/2 {
					t.Errorf("mono mix levels caller %.0f agent %.0f, want both near %d",
						toneLevel(x, callerHz), toneLevel(x, agentHz), toneAmp)
				}
				return
			}
			left, right := w.segment(0, from, to), w.segment(1, from, to)
			if l, leak := toneLevel(left, callerHz), toneLevel(left, agentHz); l < toneAmp*0.9 || leak > toneAmp*0.02 {
				t.Errorf("left: caller tone %.0f, agent leak %.0f", l, leak)
			}
			if r, leak := toneLevel(right, agentHz), toneLevel(right, callerHz); r < toneAmp*0.9 || leak > toneAmp*0.02 {
				t.Errorf("right: agent tone %.0f, caller leak %.0f", r, leak)
			}
			// No gaps: every 20 ms of the inner window carries signal.
			for c := range 2 {
				for at := from; at < to; at += frameDur {
					if maxAbs(w.segment(c, at, at+frameDur)) < toneAmp/2 {
						t.Fatalf("channel %d silent at %v: alignment left a gap", c, at)
					}
				}
			}
			side, err := readSidecar(filepath.Join(root, "2026", "11", "21", "call-1.json"))
			if err != nil {
				t.Fatal(err)
			}
			if side.State != StateComplete || side.Agent != "1001" || side.Queue != "sales" || side.Tier != "gold" ||
				side.Caller != "+8613800000000" || len(side.Legs) != 2 || side.DurationMS != m.DurationMS ||
				side.End.IsZero() || side.Format.Channels != 2 {
				t.Errorf("sidecar %+v does not match the call", side)
			}
		})
	}
}

// TestLegSilence: a leg that stops (or starts late) is silence in its
// channel, never a shift of the other leg or a shorter file.
func TestLegSilence(t *testing.T) {
	const call = 3 * time.Second
	tests := []struct {
		name          string
		agent         legPlan
		silent, sound [2]time.Duration // agent-channel windows
	}{
		{
			name:   "agent stops sending after 1 s",
			agent:  legPlan{freq: agentHz, to: time.Second},
			sound:  [2]time.Duration{100 * time.Millisecond, 900 * time.Millisecond},
			silent: [2]time.Duration{1200 * time.Millisecond, call},
		},
		{
			name:   "agent starts sending at 1.5 s",
			agent:  legPlan{freq: agentHz, from: 1500 * time.Millisecond, to: call},
			silent: [2]time.Duration{0, 1400 * time.Millisecond},
			sound:  [2]time.Duration{1600 * time.Millisecond, call - 100*time.Millisecond},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root, clk := t.TempDir(), newFakeClock()
			rec := openTest(t, root, clk, Options{})
			m := simulateCall(t, rec, clk, call, [2]legPlan{{freq: callerHz, to: call}, tc.agent}, nil)
			w := readWAV(t, wavPathOf(root, m))
			if !near(w.duration(), call, 100*time.Millisecond) {
				t.Errorf("duration %v, want %v", w.duration(), call)
			}
			if got := maxAbs(w.segment(1, tc.silent[0], tc.silent[1])); got != 0 {
				t.Errorf("agent channel peak %d in %v, want silence", got, tc.silent)
			}
			if lvl := toneLevel(w.segment(1, tc.sound[0], tc.sound[1]), agentHz); lvl < toneAmp*0.9 {
				t.Errorf("agent tone level %.0f in %v, want %d", lvl, tc.sound, toneAmp)
			}
			if lvl := toneLevel(w.segment(0, 100*time.Millisecond, call-100*time.Millisecond), callerHz); lvl < toneAmp*0.9 {
				t.Errorf("caller tone level %.0f, want unaffected %d", lvl, toneAmp)
			}
			soxInfo(t, wavPathOf(root, m))
		})
	}
}

func TestPauseResume(t *testing.T) {
	const call = 3 * time.Second
	tests := []struct {
		name   string
		caller legPlan
	}{
		{"steady legs", legPlan{freq: callerHz, to: call}},
		// Audio already queued ahead of the pause instant must be cut too.
		{"caller sends ahead in bursts", legPlan{freq: callerHz, to: call, ahead: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { testPauseResume(t, tc.caller) })
	}
}

func testPauseResume(t *testing.T, caller legPlan) {
	const call = 3 * time.Second
	// An odd frame, so a burst fed 20 ms early straddles the pause start.
	const pauseAt = 1020 * time.Millisecond
	root, clk := t.TempDir(), newFakeClock()
	rec := openTest(t, root, clk, Options{})
	start := clk.Now()
	var midPause Meta
	m := simulateCall(t, rec, clk, call, [2]legPlan{caller, {freq: agentHz, to: call}},
		map[time.Duration]func(){
			pauseAt: func() { rec.Pause("card number") },
			1500 * time.Millisecond: func() {
				rec.Pause("again") // no-op while paused
				if err := rec.Drain(); err != nil {
					t.Fatal(err)
				}
				var err error
				if midPause, err = readSidecar(filepath.Join(root, filepath.FromSlash(dayDir(start)), "call-1.json")); err != nil {
					t.Fatal(err)
				}
			},
			2 * time.Second: func() { rec.Resume(); rec.Resume() },
		})

	if len(midPause.Pauses) != 1 || midPause.Pauses[0].Reason != "card number" || !midPause.Pauses[0].End.IsZero() {
		t.Errorf("sidecar during the pause: %+v, want one open pause", midPause.Pauses)
	}
	if len(m.Pauses) != 1 {
		t.Fatalf("pauses %+v, want exactly one", m.Pauses)
	}
	p := m.Pauses[0]
	if p.Reason != "card number" || !p.Start.Equal(start.Add(pauseAt)) || !p.End.Equal(start.Add(2*time.Second)) ||
		p.StartMS != 1020 || p.EndMS != 2000 {
		t.Errorf("pause %+v, want card number 1020-2000 ms", p)
	}
	w := readWAV(t, wavPathOf(root, m))
	if !near(w.duration(), call, 100*time.Millisecond) {
		t.Errorf("duration %v, want %v: a pause must not shorten the file", w.duration(), call)
	}
	for c, hz := range []float64{callerHz, agentHz} {
		if got := maxAbs(w.segment(c, pauseAt, 2*time.Second)); got != 0 {
			t.Errorf("channel %d peak %d during the pause, want silence", c, got)
		}
		for _, win := range [][2]time.Duration{{100 * time.Millisecond, 900 * time.Millisecond}, {2100 * time.Millisecond, 2900 * time.Millisecond}} {
			if lvl := toneLevel(w.segment(c, win[0], win[1]), hz); lvl < toneAmp*0.9 {
				t.Errorf("channel %d level %.0f in %v, want the tone back", c, lvl, win)
			}
		}
	}
}

// TestPauseOpenAtClose: a pause still open when the call ends is closed at
// the end of the audio.
func TestPauseOpenAtClose(t *testing.T) {
	root, clk := t.TempDir(), newFakeClock()
	rec := openTest(t, root, clk, Options{})
	m := simulateCall(t, rec, clk, time.Second, [2]legPlan{{freq: callerHz, to: time.Second}},
		map[time.Duration]func(){500 * time.Millisecond: func() { rec.Pause("hold") }})
	if len(m.Pauses) != 1 || m.Pauses[0].EndMS != 1000 || m.Pauses[0].End.IsZero() {
		t.Errorf("pauses %+v, want one ending at 1000 ms", m.Pauses)
	}
}

// TestCutFileIsPlayable copies a file mid-call, as a crash would leave it,
// and checks that it plays up to the last header update without repair.
func TestCutFileIsPlayable(t *testing.T) {
	root, clk := t.TempDir(), newFakeClock()
	rec := openTest(t, root, clk, Options{})
	for i := 0; i < 125; i++ { // 2.5 s
		rec.Feed(Caller, toneFrame(callerHz, i*frameSamples))
		rec.Feed(Agent, toneFrame(agentHz, i*frameSamples))
		clk.Advance(frameDur)
		if err := rec.Drain(); err != nil {
			t.Fatal(err)
		}
	}
	src := wavPathOf(root, rec.Meta())
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.wav")
	if err := os.WriteFile(cut, b, 0o600); err != nil {
		t.Fatal(err)
	}
	w := readWAV(t, cut)
	// The header was last updated at 2 s, describing audio up to 2 s minus
	// the 100 ms playout delay.
	if want := 1900 * time.Millisecond; w.duration() != want {
		t.Errorf("cut file plays %v, want %v (last header update)", w.duration(), want)
	}
	if d, _, _ := soxInfo(t, cut); !near(d, w.duration(), 10*time.Millisecond) {
		t.Errorf("sox plays %v, header says %v", d, w.duration())
	}
	if _, err := rec.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestUnwritableDirectory: the call goes on, the recording says it failed.
func TestUnwritableDirectory(t *testing.T) {
	tmp := t.TempDir()
	blocker := filepath.Join(tmp, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		root   string
		callID string
	}{
		{"root below a regular file", filepath.Join(blocker, "rec"), "call-1"},
		{"call id unsafe as a file name", tmp, "../../etc/x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var failures []error
			rc := NewRecorder(Config{Root: tc.root, Logger: quietLog, Options: Options{OnFailure: func(id string, err error) {
				mu.Lock()
				failures = append(failures, err)
				mu.Unlock()
			}}})
			rec, err := rc.Open(Meta{CallID: tc.callID})
			if err == nil || rec == nil {
				t.Fatalf("Open = %v, %v; want a failed recording and an error", rec, err)
			}
			if !rec.Failed() {
				t.Error("recording not marked failed")
			}
			rec.Feed(Caller, toneFrame(callerHz, 0)) // must be harmless
			rec.Feed(Agent, nil)
			rec.Pause("x")
			rec.Resume()
			if err := rec.Drain(); err != nil {
				t.Errorf("drain on failed recording: %v", err)
			}
			m, err := rec.Close()
			if err != nil {
				t.Errorf("close: %v", err)
			}
			if !m.Failed || m.Error == "" || m.State != StateFailed {
				t.Errorf("meta %+v, want failed with an error", m)
			}
			mu.Lock()
			n := len(failures)
			mu.Unlock()
			if n != 1 || rc.Failures() != 1 {
				t.Errorf("OnFailure called %d times, counter %d; want 1, 1", n, rc.Failures())
			}
			if rc.Active(tc.callID) {
				t.Error("failed recording still active")
			}
			if _, err := os.Stat(filepath.Join(tmp, "..", "etc")); err == nil {
				t.Error("unsafe call id created a directory outside the root")
			}
		})
	}
}

// faultyFile is a real file that runs out of space after budget bytes.
type faultyFile struct {
	*os.File
	mu        sync.Mutex
	budget    int
	failWrite bool // else the header WriteAt fails
}

func (f *faultyFile) Write(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failWrite && len(b) > f.budget {
		return 0, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	f.budget -= len(b)
	return f.File.Write(b)
}

func (f *faultyFile) WriteAt(b []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.failWrite && f.budget < 0 {
		return 0, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.File.WriteAt(b, off)
}

func TestDiskFullMidCall(t *testing.T) {
	const budget = 40000 // a little over one second of stereo audio
	for _, failWrite := range []bool{true, false} {
		name := map[bool]string{true: "audio write fails", false: "header update fails"}[failWrite]
		t.Run(name, func(t *testing.T) {
			root, clk := t.TempDir(), newFakeClock()
			var calls int
			var got error
			opts := Options{
				BufferSize: 4096,
				Create: func(p string) (File, error) {
					f, err := createFile(p)
					if err != nil {
						return nil, err
					}
					return &faultyFile{File: f.(*os.File), budget: budget, failWrite: failWrite}, nil
				},
				OnFailure: func(_ string, err error) { calls++; got = err },
			}
			rec := openTest(t, root, clk, opts)
			// The Feed calls after the failure must be harmless no-ops.
			m := simulateCall(t, rec, clk, 3*time.Second, [2]legPlan{{freq: callerHz, to: 3 * time.Second}, {freq: agentHz, to: 3 * time.Second}}, nil)
			if calls != 1 || !errors.Is(got, syscall.ENOSPC) {
				t.Fatalf("OnFailure called %d times with %v, want once with ENOSPC", calls, got)
			}
			if !m.Failed || m.State != StateFailed || m.Error == "" {
				t.Errorf("meta %+v, want failed", m)
			}
			side, err := readSidecar(filepath.Join(root, filepath.FromSlash(dayDir(m.Start)), "call-1.json"))
			if err != nil || !side.Failed || side.State != StateFailed {
				t.Errorf("sidecar %+v (%v), want failed", side, err)
			}
			// What was written before the failure still plays.
			d, _, _ := soxInfo(t, wavPathOf(root, m))
			if d <= 0 || d > 2*time.Second || time.Duration(m.DurationMS)*time.Millisecond != d.Round(time.Millisecond) {
				t.Errorf("sox plays %v, meta says %d ms", d, m.DurationMS)
			}
		})
	}
}

// TestMonoMixSaturates: loud legs clip at full scale instead of wrapping
// into a loud click of the opposite sign.
func TestMonoMixSaturates(t *testing.T) {
	tests := []struct {
		name          string
		caller, agent int16
		want          int16
	}{
		{"positive clip", 30000, 30000, 32767},
		{"negative clip", -30000, -30000, -32768},
		{"plain sum", 1000, -250, 750},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root, clk := t.TempDir(), newFakeClock()
			rec := openTest(t, root, clk, Options{Mono: true})
			c, a := make([]int16, frameSamples), make([]int16, frameSamples)
			for i := range c {
				c[i], a[i] = tc.caller, tc.agent
			}
			for range 10 {
				rec.Feed(Caller, c)
				rec.Feed(Agent, a)
				clk.Advance(frameDur)
			}
			m, err := rec.Close()
			if err != nil {
				t.Fatal(err)
			}
			w := readWAV(t, wavPathOf(root, m))
			if w.channels != 1 || len(w.ch[0]) != 10*frameSamples {
				t.Fatalf("%d ch, %d samples", w.channels, len(w.ch[0]))
			}
			for i, v := range w.ch[0] {
				if v != tc.want {
					t.Fatalf("sample %d = %d, want %d", i, v, tc.want)
				}
			}
		})
	}
}

// TestTransferUpdatesMeta: legs joining and the agent changing mid-call
// reach the sidecar before the call ends.
func TestTransferUpdatesMeta(t *testing.T) {
	root, clk := t.TempDir(), newFakeClock()
	rec := openTest(t, root, clk, Options{})
	rec.AddLeg("leg-c")
	rec.AddLeg("leg-c")
	rec.SetAgent("1002")
	clk.Advance(time.Second)
	if err := rec.Drain(); err != nil {
		t.Fatal(err)
	}
	side, err := readSidecar(filepath.Join(root, filepath.FromSlash(dayDir(clk.Now())), "call-1.json"))
	if err != nil {
		t.Fatal(err)
	}
	if side.Agent != "1002" || !slices.Equal(side.Legs, []string{"leg-a", "leg-b", "leg-c"}) || side.State != StateRecording {
		t.Errorf("sidecar mid-call: agent %q legs %v state %q", side.Agent, side.Legs, side.State)
	}
	if m, err := rec.Close(); err != nil || m.Agent != "1002" || len(m.Legs) != 3 {
		t.Errorf("close: %+v %v", m, err)
	}
}
