package media

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// Bridge relays audio both ways between two legs whose media is anchored in
// the engine: a is the caller side, b the agent side. Frames are forwarded
// on the receiving socket's reader goroutine into its outgoing batch (one
// sendmmsg for everything a read brought in), so the bridge adds no
// queueing delay and no goroutine of its own; music on hold rides the
// media clock.
type Bridge struct {
	a, b *Session
	// Receivers this bridge installed, nil while not installed (held or
	// closed); guarded by mu.
	ra, rb *receiver

	held  atomic.Bool
	muted atomic.Bool
	tap   atomic.Pointer[func(fromA bool, pcm []int16)]

	forwardedAB, forwardedBA, sendErrors atomic.Uint64

	mu        sync.Mutex // guards hold/close transitions
	closed    bool
	mohStop   context.CancelFunc
	mohDone   chan struct{}
	relayStop context.CancelFunc
	relayDone chan struct{}
}

// BridgeStats counts frames relayed by a bridge.
type BridgeStats struct {
	ForwardedAB, ForwardedBA uint64 // frames delivered caller→agent and agent→caller
	SendErrors               uint64 // frames the far leg could not send (no remote yet, closed)
}

// NewBridge connects a (caller side) and b (agent side) by installing
// receivers on both. Any receiver installed before is replaced.
func NewBridge(a, b *Session) *Bridge {
	br := &Bridge{a: a, b: b}
	br.attachLocked()
	return br
}

func (br *Bridge) attachLocked() {
	br.ra = br.a.installRelay(br.fromA)
	br.rb = br.b.installRelay(br.fromB)
}

func (br *Bridge) detachLocked() {
	br.a.removeReceiver(br.ra)
	br.b.removeReceiver(br.rb)
	br.ra, br.rb = nil, nil
}

// Legs returns the caller-side and agent-side sessions.
func (br *Bridge) Legs() (a, b *Session) { return br.a, br.b }

func (br *Bridge) fromA(pcm []int16, tx *txBatch) {
	if br.held.Load() {
		return
	}
	if tp := br.tap.Load(); tp != nil {
		(*tp)(true, pcm)
	}
	if err := br.b.writeFrameTo(pcm, tx); err != nil {
		br.sendErrors.Add(1)
		return
	}
	br.forwardedAB.Add(1)
}

func (br *Bridge) fromB(pcm []int16, tx *txBatch) {
	if br.held.Load() || br.muted.Load() {
		return
	}
	if tp := br.tap.Load(); tp != nil {
		(*tp)(false, pcm)
	}
	if err := br.a.writeFrameTo(pcm, tx); err != nil {
		br.sendErrors.Add(1)
		return
	}
	br.forwardedBA.Add(1)
}

// Hold cuts both directions; the caller (a) hears moh looped, the agent
// (b) hears nothing. Music stops on Unhold, Close or when ctx is done (the
// legs then stay cut until Unhold). A nil moh holds in silence. Holding
// again replaces the music.
//
// While held the bridge lets go of both legs' receivers, so the agent leg
// can meanwhile be bridged to someone else (consultation); Unhold takes
// both legs back.
func (br *Bridge) Hold(ctx context.Context, moh *Prompt) {
	br.mu.Lock()
	defer br.mu.Unlock()
	if br.closed {
		return
	}
	br.stopMOHLocked()
	br.held.Store(true)
	br.detachLocked()
	if moh == nil || len(moh.Samples) == 0 {
		return
	}
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	br.mohStop, br.mohDone = cancel, done
	go func() {
		defer close(done)
		err := br.a.PlayLoop(mctx, moh)
		if err != nil && mctx.Err() == nil && !errors.Is(err, ErrClosed) {
			br.a.log.Warn("music on hold stopped", "prompt", moh.Name, "err", err)
		}
	}()
}

// Unhold stops the music and restores audio both ways, re-installing the
// bridge's receivers on both legs (ending any consultation bridge's hold
// on the agent leg).
func (br *Bridge) Unhold() {
	br.mu.Lock()
	defer br.mu.Unlock()
	if br.closed || !br.held.Load() {
		return
	}
	br.stopMOHLocked()
	br.held.Store(false)
	br.attachLocked()
}

// Held reports whether the bridge is on hold.
func (br *Bridge) Held() bool { return br.held.Load() }

func (br *Bridge) stopMOHLocked() {
	if br.mohStop == nil {
		return
	}
	br.mohStop()
	<-br.mohDone
	br.mohStop, br.mohDone = nil, nil
}

// Mute stops the agent's (b's) audio reaching the caller; the agent still
// hears the caller.
func (br *Bridge) Mute(on bool) { br.muted.Store(on) }

// SetTap installs a recording tap called with every frame relayed (fromA:
// caller→agent). It runs on the receiving socket's reader goroutine, so
// calls for the two directions may be concurrent and fn must be safe for
// that; it must also
// be quick (it delays the relay) and copy the slice if it keeps it. Frames
// cut by hold or mute do not flow and are not tapped. nil removes the tap.
func (br *Bridge) SetTap(fn func(fromA bool, pcm []int16)) {
	if fn == nil {
		br.tap.Store(nil)
		return
	}
	br.tap.Store(&fn)
}

// Stats returns relay counters.
func (br *Bridge) Stats() BridgeStats {
	return BridgeStats{ForwardedAB: br.forwardedAB.Load(), ForwardedBA: br.forwardedBA.Load(), SendErrors: br.sendErrors.Load()}
}

// Close removes the bridge's receivers (only where they are still the
// bridge's: a leg already handed to another bridge or a mixer keeps its new
// owner) and stops music on hold. The sessions stay open: closing them is
// the owner's job.
func (br *Bridge) Close() {
	br.mu.Lock()
	defer br.mu.Unlock()
	if br.closed {
		return
	}
	br.closed = true
	br.stopMOHLocked()
	if br.relayStop != nil {
		br.relayStop()
		<-br.relayDone
	}
	br.detachLocked()
}

// RelayDTMF forwards key presses made on the agent's phone (RFC 4733 or SIP
// INFO, as they arrive on b.DTMF()) to the caller leg as RFC 4733 events:
// second-stage dialling to an extension behind the called party. The relay
// reads b's DTMF channel until Close, so nobody else should; digits pressed
// while on hold are dropped. Calling it again does nothing.
func (br *Bridge) RelayDTMF() {
	br.mu.Lock()
	defer br.mu.Unlock()
	if br.closed || br.relayStop != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	br.relayStop, br.relayDone = cancel, done
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-br.b.Done():
				return
			case d := <-br.b.DTMF():
				if br.held.Load() {
					continue
				}
				if err := br.a.SendDTMF(ctx, d); err != nil && ctx.Err() == nil {
					br.a.log.Warn("dtmf relay to caller failed", "digit", string(d), "err", err)
				}
			}
		}
	}()
}
