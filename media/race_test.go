package media

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestCloseWhileBusy: hanging up while every kind of sender and the
// receive loop are active returns promptly, with clean errors and no race.
func TestCloseWhileBusy(t *testing.T) {
	s1, s2 := newPair(t, PCMU, 101)
	br := NewBridge(s1, s2) // s1 relays to s2 and back: both loops busy
	defer br.Close()
	ctx := context.Background()
	prompt := Tone(400, 5*time.Second, 8000)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	run := func(f func() error) {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- f() }()
	}
	run(func() error { return s1.Play(ctx, prompt) })
	run(func() error { return s2.PlayLoop(ctx, prompt) })
	run(func() error {
		for {
			if err := s1.SendDTMF(ctx, '5'); err != nil {
				return err
			}
		}
	})
	run(func() error {
		frame := make([]int16, FrameSamples)
		for {
			if err := s1.WriteFrame(frame); err != nil {
				return err
			}
			time.Sleep(time.Millisecond)
		}
	})
	waitFor(t, "traffic", func() bool { return s2.Stats().PacketsIn > 20 && s1.Stats().PacketsIn > 20 })
	var cwg sync.WaitGroup
	for _, s := range []*Session{s1, s2, s1, s2} {
		cwg.Add(1)
		go func() { defer cwg.Done(); _ = s.Close() }()
	}
	cwg.Wait()
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("sender ended with %v, want ErrClosed", err)
		}
	}
}

// TestMixerChangesWhileRunning: legs joining, leaving and the matrix
// switching while the mixer ticks (barge after listen, intercept).
func TestMixerChangesWhileRunning(t *testing.T) {
	m := NewMixer(nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var phones []*Session
	for _, id := range []string{"caller", "agent", "sup"} {
		phone, leg := newPair(t, PCMA, 0)
		phones = append(phones, phone)
		m.AddLeg(id, leg)
	}
	var wg sync.WaitGroup
	for _, p := range phones {
		wg.Add(1)
		go func() { defer wg.Done(); _ = p.Play(ctx, Tone(700, 400*time.Millisecond, 5000)) }()
	}
	m.SetRoutes(ListenRoutes("caller", "agent", "sup"))
	m.SetTap(func(string, []int16) {})
	time.Sleep(60 * time.Millisecond)
	m.SetRoutes(WhisperRoutes("caller", "agent", "sup"))
	time.Sleep(60 * time.Millisecond)
	m.SetRoutes(BargeRoutes("caller", "agent", "sup"))
	time.Sleep(60 * time.Millisecond)
	m.RemoveLeg("agent") // intercept: the supervisor takes the caller
	m.SetTap(nil)
	wg.Wait()
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run = %v", err)
	}
	if got := m.Legs(); len(got) != 2 {
		t.Fatalf("legs after intercept: %v", got)
	}
	if m.ticks.Load() == 0 {
		t.Fatal("mixer never ticked")
	}
}
