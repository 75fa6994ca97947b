package recording

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestRecorderRealClock runs the shared flusher with the real clock and
// two paced RTP-like goroutines per call, as the engine does. The bounds
// come from instants measured around Open and Close, not from speed.
func TestRecorderRealClock(t *testing.T) {
	root := t.TempDir()
	rc := NewRecorder(Config{Root: root, Tick: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	var run sync.WaitGroup
	run.Add(1)
	go func() { defer run.Done(); _ = rc.Run(ctx) }()
	defer func() { cancel(); run.Wait() }()

	const calls = 3
	type result struct {
		m          Meta
		outer      time.Duration // before Open .. after Close
		inner      time.Duration // after Open .. before Close
		err        error
		wasActive  bool
		afterClose bool
	}
	results := make([]result, calls)
	var wg sync.WaitGroup
	for c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("rt-%d", c)
			t0 := time.Now()
			rec, err := rc.Open(Meta{CallID: id})
			t1 := time.Now()
			if err != nil {
				results[c].err = err
				return
			}
			results[c].wasActive = rc.Active(id)
			var legs sync.WaitGroup
			for ch, hz := range []float64{callerHz, agentHz} {
				legs.Add(1)
				go func() {
					defer legs.Done()
					tick := time.NewTicker(frameDur)
					defer tick.Stop()
					for i := 0; i < 30; i++ {
						rec.Feed(Channel(ch), toneFrame(hz, i*frameSamples))
						<-tick.C
					}
				}()
			}
			legs.Wait()
			t2 := time.Now()
			m, err := rec.Close()
			t3 := time.Now()
			results[c] = result{m: m, outer: t3.Sub(t0), inner: t2.Sub(t1), err: err,
				wasActive: results[c].wasActive, afterClose: rc.Active(id)}
		}()
	}
	wg.Wait()
	for c, r := range results {
		if r.err != nil {
			t.Fatalf("call %d: %v", c, r.err)
		}
		if !r.wasActive || r.afterClose {
			t.Errorf("call %d: active while recording %v, after close %v", c, r.wasActive, r.afterClose)
		}
		w := readWAV(t, wavPathOf(root, r.m))
		d := w.duration()
		if d < r.inner-frameDur || d > r.outer+frameDur {
			t.Errorf("call %d: file %v, call lasted between %v and %v", c, d, r.inner, r.outer)
		}
		mid := d / 2
		if lvl := toneLevel(w.segment(0, mid-100*time.Millisecond, mid+100*time.Millisecond), callerHz); lvl < toneAmp/2 {
			t.Errorf("call %d: caller tone %.0f on the left", c, lvl)
		}
		if lvl := toneLevel(w.segment(1, mid-100*time.Millisecond, mid+100*time.Millisecond), agentHz); lvl < toneAmp/2 {
			t.Errorf("call %d: agent tone %.0f on the right", c, lvl)
		}
		soxInfo(t, wavPathOf(root, r.m))
	}
	if rc.Len() != 0 {
		t.Errorf("%d recordings still active", rc.Len())
	}
}

func TestRecorderOpenAndClose(t *testing.T) {
	root := t.TempDir()
	rc := NewRecorder(Config{Root: root, Logger: quietLog})
	rec, err := rc.Open(Meta{CallID: "dup"})
	if err != nil {
		t.Fatal(err)
	}
	dup, err := rc.Open(Meta{CallID: "dup"})
	if err == nil || !dup.Failed() {
		t.Errorf("second Open of an active call: %v, want refused", err)
	}
	if !rc.Active("dup") {
		t.Error("duplicate Open disturbed the first recording")
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	if m := rec.Meta(); m.State != StateComplete {
		t.Errorf("Recorder.Close left state %q, want complete", m.State)
	}
	if _, err := rec.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
	if r, err := rc.Open(Meta{CallID: "late"}); !errors.Is(err, ErrRecorderClosed) || !r.Failed() {
		t.Errorf("Open after Close: %v", err)
	}
	var nilRec *Recording
	nilRec.Feed(Caller, make([]int16, 160)) // a nil recording is harmless too
	rec.Feed(Channel(7), make([]int16, 160))
}

// TestFastSenderIsBounded: a leg sending far faster than real time cannot
// grow memory or push the other leg out of alignment; the excess is
// counted as dropped.
func TestFastSenderIsBounded(t *testing.T) {
	root, clk := t.TempDir(), newFakeClock()
	rec := openTest(t, root, clk, Options{})
	for i := 0; i < 200; i++ { // 4 s of audio in no time
		rec.Feed(Caller, toneFrame(callerHz, i*frameSamples))
	}
	clk.Advance(time.Second)
	m, err := rec.Close()
	if err != nil {
		t.Fatal(err)
	}
	w := readWAV(t, wavPathOf(root, m))
	if w.duration() != time.Second {
		t.Errorf("duration %v, want the 1 s the call lasted", w.duration())
	}
	// MaxLead 200 ms: 1600 samples kept, the rest dropped.
	if want := int64(200*frameSamples - 1600); m.Dropped != want {
		t.Errorf("dropped %d samples, want %d", m.Dropped, want)
	}
}
