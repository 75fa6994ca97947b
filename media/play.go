package media

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
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
	err       error
	// told runs once, outside sendMu, when the player reaches emTold.
	told func()
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
	told := pl.st.to(emTold)
	pl.s.sendMu.Unlock()
	if told {
		pl.told()
	}
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
	told := pl.st.to(emTold)
	s.sendMu.Unlock()
	if told {
		pl.told()
	}
}

// schedule puts an emitter of this leg on its clock loop. A prompt that
// follows another without a pause keeps the 20 ms rhythm (its first frame
// is due one frame after the last one's); anything else starts within
// the next 20 ms, in the slot the clock gives its destination (clock.go).
func (s *Session) schedule(e emitter) {
	s.sendMu.Lock()
	first := time.Now()
	var dst netip.AddrPort
	if cfg := s.cfg.Load(); cfg != nil {
		if d, ok := s.dest(cfg); ok {
			dst = d
		}
	}
	choose := true
	if next := s.lastDue.Add(FrameDuration); !s.barged && next.After(first) {
		first, choose = next, false
	}
	s.barged = false
	s.sendMu.Unlock()
	s.loop.add(e, first, dst, choose)
}

// Play sends the prompts one after another in 20 ms packets on the media
// clock (drift-free). The first packet carries the marker bit; timestamps
// then advance by exactly 160 per packet. It returns nil when everything
// was sent, ctx.Err() when cancelled and ErrClosed if the session closes.
func (s *Session) Play(ctx context.Context, prompts ...*Prompt) error {
	return s.playWait(ctx, "play", prompts, false)
}

// PlayLoop repeats p (music on hold) until ctx is done, then returns
// ctx.Err(). It returns earlier only when the session closes or cannot
// send (no remote, unsupported codec).
func (s *Session) PlayLoop(ctx context.Context, p *Prompt) error {
	if p == nil || len(p.Samples) == 0 {
		return fmt.Errorf("play loop: %w", ErrEmptyPrompt)
	}
	return s.playWait(ctx, "play loop", []*Prompt{p}, true)
}

// StartPlay is Play without the wait: it returns at once and calls done,
// exactly once, with what Play would have returned. No goroutine waits
// for the prompts meanwhile (the clock, a timer and ctx tell done), which
// is what an IVR that plays while it listens for keys needs at thousands
// of calls. done runs on the clock's or a timer's goroutine, or on the
// caller's if nothing is to be played: it must not block.
func (s *Session) StartPlay(ctx context.Context, done func(error), prompts ...*Prompt) {
	s.startPlay(ctx, "play", prompts, false, done)
}

func (s *Session) playWait(ctx context.Context, op string, prompts []*Prompt, loop bool) error {
	res := make(chan error, 1)
	s.startPlay(ctx, op, prompts, loop, func(err error) { res <- err })
	return <-res
}

func (s *Session) startPlay(ctx context.Context, op string, prompts []*Prompt, loop bool, done func(error)) {
	list := make([]*Prompt, 0, len(prompts))
	for _, p := range prompts {
		if p != nil && len(p.Samples) > 0 {
			list = append(list, p)
		}
	}
	if len(list) == 0 {
		done(nil)
		return
	}
	if err := ctx.Err(); err != nil {
		done(err)
		return
	}
	if s.closed.Load() {
		done(playErr(ctx, op, list[0], ErrClosed))
		return
	}
	// finish tells done once and unhooks ctx; the hook may be set after
	// the player has already finished (it is then unhooked at once).
	var (
		mu       sync.Mutex
		stopCtx  func() bool
		finished bool
	)
	finish := func(err error) {
		mu.Lock()
		if finished {
			mu.Unlock()
			return
		}
		finished = true
		stop := stopCtx
		mu.Unlock()
		if stop != nil {
			stop()
		}
		done(err)
	}
	pl := &player{s: s, prompts: list, loop: loop, first: true}
	pl.told = func() {
		s.sendMu.Lock()
		err, completed, lastDue := pl.err, pl.completed, pl.lastDue
		s.sendMu.Unlock()
		if completed {
			// The prompt has been played when its last frame's 20 ms are
			// over, not when that frame left: a hang-up right after Play
			// would otherwise reach the phone before the end of "goodbye".
			// A cancel meanwhile ends the wait (ctx's callback below).
			if d := time.Until(lastDue.Add(FrameDuration)); d > 0 && ctx.Err() == nil && !s.closed.Load() {
				time.AfterFunc(d, func() { finish(nil) })
				return
			}
			finish(nil)
			return
		}
		if err == nil {
			switch {
			case ctx.Err() != nil:
				err = ctx.Err()
			case s.closed.Load():
				err = ErrClosed
			}
		}
		if err != nil {
			err = playErr(ctx, op, pl.current(), err)
		}
		finish(err)
	}
	s.schedule(pl)
	stop := context.AfterFunc(ctx, func() {
		pl.cancel()
		s.sendMu.Lock()
		completed := pl.completed
		s.sendMu.Unlock()
		if completed {
			finish(nil) // cancelled in the last frame's tail: it was played
		}
	})
	mu.Lock()
	if finished {
		mu.Unlock()
		stop()
		return
	}
	stopCtx = stop
	mu.Unlock()
}

// playErr returns a cancellation as ctx.Err() itself so callers may compare
// it directly, and wraps anything else with the prompt's name.
func playErr(ctx context.Context, op string, p *Prompt, err error) error {
	if ce := ctx.Err(); ce != nil && errors.Is(err, ce) {
		return ce
	}
	return fmt.Errorf("%s %q: %w", op, p.Name, err)
}
