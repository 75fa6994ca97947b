package media

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// player plays prompts on a leg, one frame per visit of the media clock.
// Its cursor and state (emitter_fsm.go) are guarded by the session's
// sendMu, so that once Play has returned no further frame of it is
// encoded.
type player struct {
	s         *Session
	prompts   []*Prompt
	loop      bool // PlayLoop: start over at the end
	pi, off   int  // prompt, frame within it
	first     bool
	st        emitterState
	completed bool      // every frame was sent
	lastDue   time.Time // when the last frame sent was due
	done      chan struct{}
	err       error
}

// emit sends the next frame (on the clock loop).
func (pl *player) emit(due time.Time, tx *txBatch) bool {
	s := pl.s
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if pl.st != emRunning {
		return false
	}
	if s.closed.Load() {
		pl.finishLocked(ErrClosed)
		return false
	}
	cfg, err := s.checkWrite(FrameSamples)
	if err != nil {
		pl.finishLocked(err)
		return false
	}
	for pl.off >= pl.prompts[pl.pi].Frames() {
		pl.pi, pl.off = pl.pi+1, 0
		if pl.pi == len(pl.prompts) {
			if !pl.loop {
				pl.finishLocked(nil)
				return false
			}
			pl.pi = 0
		}
	}
	enc := pl.prompts[pl.pi].encoded(cfg)
	frame := enc[pl.off*FrameSamples : (pl.off+1)*FrameSamples]
	pl.off++
	s.lastDue, pl.lastDue = due, due
	if fn := dueProbe.Load(); fn != nil {
		(*fn)(s, due)
	}
	b, dst, ok := s.audioLocked(tx, cfg, FrameSamples, pl.first, !pl.first, tx.now)
	pl.first = false
	if ok {
		copy(b[rtpHeaderLen:rtpHeaderLen+FrameSamples], frame)
		// A failed encryption is one lost packet (counted in Stats), not a
		// reason to abandon the prompt.
		_ = s.commitLocked(tx, b[:rtpHeaderLen+FrameSamples], dst, due)
	}
	if !pl.loop && pl.pi == len(pl.prompts)-1 && pl.off >= pl.prompts[pl.pi].Frames() {
		pl.finishLocked(nil) // that was the last frame
		return false
	}
	return true
}

// finishLocked ends the player; Play hears of it once the last frame
// has left (retired).
func (pl *player) finishLocked(err error) {
	if pl.st.to(emEnded) {
		pl.err, pl.completed = err, err == nil
	}
}

func (pl *player) retired() {
	pl.s.sendMu.Lock()
	if pl.st.to(emTold) {
		close(pl.done)
	}
	pl.s.sendMu.Unlock()
}

// current is the prompt being played, for errors.
func (pl *player) current() *Prompt {
	pl.s.sendMu.Lock()
	defer pl.s.sendMu.Unlock()
	return pl.prompts[min(pl.pi, len(pl.prompts)-1)]
}

// cancel stops the player; no frame of it is encoded after cancel returns.
func (pl *player) cancel() {
	s := pl.s
	s.sendMu.Lock()
	if pl.st == emRunning {
		s.barged = true
	}
	if pl.st.to(emTold) {
		close(pl.done)
	}
	s.sendMu.Unlock()
}

// schedule puts an emitter of this leg on its clock loop. A prompt that
// follows another without a pause keeps the 20 ms rhythm (its first frame
// is due one frame after the last one's); anything else starts at once.
func (s *Session) schedule(e emitter) {
	s.sendMu.Lock()
	first := time.Now()
	if next := s.lastDue.Add(FrameDuration); !s.barged && next.After(first) {
		first = next
	}
	s.barged = false
	s.sendMu.Unlock()
	s.loop.add(e, first)
}

// Play sends the prompts one after another in 20 ms packets on the media
// clock (drift-free). The first packet carries the marker bit; timestamps
// then advance by exactly 160 per packet. It returns nil when everything
// was sent, ctx.Err() when cancelled and ErrClosed if the session closes.
func (s *Session) Play(ctx context.Context, prompts ...*Prompt) error {
	return s.play(ctx, "play", prompts, false)
}

// PlayLoop repeats p (music on hold) until ctx is done, then returns
// ctx.Err(). It returns earlier only when the session closes or cannot
// send (no remote, unsupported codec).
func (s *Session) PlayLoop(ctx context.Context, p *Prompt) error {
	if p == nil || len(p.Samples) == 0 {
		return fmt.Errorf("play loop: %w", ErrEmptyPrompt)
	}
	return s.play(ctx, "play loop", []*Prompt{p}, true)
}

func (s *Session) play(ctx context.Context, op string, prompts []*Prompt, loop bool) error {
	list := make([]*Prompt, 0, len(prompts))
	for _, p := range prompts {
		if p != nil && len(p.Samples) > 0 {
			list = append(list, p)
		}
	}
	if len(list) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return playErr(ctx, op, list[0], ErrClosed)
	}
	pl := &player{s: s, prompts: list, loop: loop, first: true, done: make(chan struct{})}
	s.schedule(pl)
	select {
	case <-pl.done:
	case <-ctx.Done():
		pl.cancel()
	case <-s.done:
		pl.cancel()
	}
	s.sendMu.Lock()
	err, completed, lastDue := pl.err, pl.completed, pl.lastDue
	s.sendMu.Unlock()
	if completed {
		// The prompt has been played when its last frame's 20 ms are
		// over, not when that frame left: a hang-up right after Play
		// would otherwise reach the phone before the end of "goodbye".
		if d := time.Until(lastDue.Add(FrameDuration)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
			case <-s.done:
			}
			t.Stop()
		}
		return nil
	}
	if err == nil {
		switch {
		case ctx.Err() != nil:
			err = ctx.Err()
		case s.closed.Load():
			err = ErrClosed
		}
	}
	if err == nil {
		return nil
	}
	return playErr(ctx, op, pl.current(), err)
}

// playErr returns a cancellation as ctx.Err() itself so callers may compare
// it directly, and wraps anything else with the prompt's name.
func playErr(ctx context.Context, op string, p *Prompt, err error) error {
	if ce := ctx.Err(); ce != nil && errors.Is(err, ce) {
		return ce
	}
	return fmt.Errorf("%s %q: %w", op, p.Name, err)
}
