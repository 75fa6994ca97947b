package media

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// pacer is a drift-free 20 ms clock: frame n is due at start + n×20 ms, so
// scheduling delays of one frame do not accumulate into the next.
type pacer struct {
	start time.Time
	n     int
	timer *time.Timer
}

// maxLag is how far behind the clock may fall (a stalled machine) before
// it is re-based instead of bursting every missed frame at once.
const maxLag = 5 * FrameDuration

func newPacer(start time.Time) *pacer { return &pacer{start: start} }

// wait blocks until the next frame is due; the first call returns at once.
func (p *pacer) wait(ctx context.Context, done <-chan struct{}) error {
	due := p.start.Add(time.Duration(p.n) * FrameDuration)
	p.n++
	d := time.Until(due)
	if d <= 0 {
		if -d > maxLag {
			p.start = p.start.Add(-d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			return ErrClosed
		default:
			return nil
		}
	}
	if p.timer == nil {
		p.timer = time.NewTimer(d)
	} else {
		p.timer.Reset(d)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-done:
		return ErrClosed
	case <-p.timer.C:
		return nil
	}
}

// next is when the frame the next wait is for is due (before any re-basing).
func (p *pacer) next() time.Time { return p.start.Add(time.Duration(p.n) * FrameDuration) }

func (p *pacer) stop() {
	if p.timer != nil {
		p.timer.Stop()
	}
}

// player streams samples frame by frame on one pacer.
type player struct {
	s     *Session
	pace  *pacer
	first bool
	frame [FrameSamples]int16
}

func (pl *player) play(ctx context.Context, samples []int16) error {
	for off := 0; off < len(samples); off += FrameSamples {
		frame := samples[off:min(off+FrameSamples, len(samples))]
		if len(frame) < FrameSamples {
			// Pad the tail so every packet is a whole 20 ms.
			n := copy(pl.frame[:], frame)
			clear(pl.frame[n:])
			frame = pl.frame[:]
		}
		due := pl.pace.next()
		if err := pl.pace.wait(ctx, pl.s.done); err != nil {
			return err
		}
		// A failed sendto is one lost packet (counted in Stats), not a
		// reason to abandon the prompt.
		if err := pl.s.write(frame, pl.first, !pl.first); err != nil && !errors.Is(err, ErrSend) {
			return err
		}
		if probe := pl.s.paceProbe; probe != nil {
			probe(time.Since(due))
		}
		pl.first = false
	}
	return nil
}

// Play sends the prompts one after another in 20 ms packets on a drift-free
// clock. The first packet carries the marker bit; timestamps then advance
// by exactly 160 per packet. It returns nil when everything was sent,
// ctx.Err() when cancelled and ErrClosed if the session closes.
func (s *Session) Play(ctx context.Context, prompts ...*Prompt) error {
	pl := &player{s: s, pace: newPacer(time.Now()), first: true}
	defer pl.pace.stop()
	for _, p := range prompts {
		if p == nil {
			continue
		}
		if err := pl.play(ctx, p.Samples); err != nil {
			return playErr(ctx, "play", p, err)
		}
	}
	return nil
}

// PlayLoop repeats p (music on hold) until ctx is done, then returns
// ctx.Err(). It returns earlier only on a send error or when the session
// closes.
func (s *Session) PlayLoop(ctx context.Context, p *Prompt) error {
	if p == nil || len(p.Samples) == 0 {
		return fmt.Errorf("play loop: %w", ErrEmptyPrompt)
	}
	pl := &player{s: s, pace: newPacer(time.Now()), first: true}
	defer pl.pace.stop()
	for {
		if err := pl.play(ctx, p.Samples); err != nil {
			return playErr(ctx, "play loop", p, err)
		}
	}
}

// playErr returns a cancellation as ctx.Err() itself so callers may compare
// it directly, and wraps anything else with the prompt's name.
func playErr(ctx context.Context, op string, p *Prompt, err error) error {
	if ce := ctx.Err(); ce != nil && errors.Is(err, ce) {
		return ce
	}
	return fmt.Errorf("%s %q: %w", op, p.Name, err)
}
