package media

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/pion/rtp"
)

const (
	// dtmfEventPackets is how many packets carry one key press before its
	// end: 5 × 20 ms = 100 ms of tone, the usual minimum a switch accepts.
	dtmfEventPackets = 5
	// dtmfEndRepeats: RFC 4733 §2.5.1.4 sends the end packet three times
	// because it carries the final duration and may be lost.
	dtmfEndRepeats = 3
	dtmfVolume     = 10 // -10 dBm0
)

const dtmfDigits = "0123456789*#ABCD"

// dtmfEventCode maps a key to its RFC 4733 event code.
func dtmfEventCode(d rune) (uint8, bool) {
	if d >= 'a' && d <= 'd' {
		d -= 'a' - 'A'
	}
	for i, c := range dtmfDigits {
		if c == d {
			return uint8(i), true
		}
	}
	return 0, false
}

// handleDTMF turns RFC 4733 packets into one digit per key press. All
// packets of one event share its RTP timestamp, so the first packet seen
// with a new (timestamp, event) delivers the digit and the updates and
// repeated end packets are ignored. Delivering on first sight rather than
// on the end packet keeps the digit even when all three ends are lost.
func (s *Session) handleDTMF(pkt *rtp.Packet) {
	p := pkt.Payload
	if len(p) < 4 {
		s.st.dropJunk.Add(1)
		return
	}
	event := p[0]
	if int(event) >= len(dtmfDigits) {
		return // flash-hook and tones we do not act on
	}
	rx := &s.rx
	if rx.dtmfSeen && rx.dtmfTS == pkt.Timestamp && rx.dtmfEvent == event {
		return
	}
	rx.dtmfSeen, rx.dtmfTS, rx.dtmfEvent = true, pkt.Timestamp, event
	s.deliverDigit(rune(dtmfDigits[event]))
}

// SendDTMF sends one key press as RFC 4733 events on the session's own
// SSRC and sequence space: a start packet with the marker bit, updates every
// 20 ms on the media clock, then three end packets. Audio written meanwhile
// is dropped, as a phone does while a key is held. It blocks for about
// 160 ms.
func (s *Session) SendDTMF(ctx context.Context, digit rune) error {
	code, ok := dtmfEventCode(digit)
	if !ok {
		return fmt.Errorf("send dtmf %q: %w", digit, ErrInvalidDigit)
	}
	cfg := s.cfg.Load()
	if cfg == nil {
		return fmt.Errorf("send dtmf: %w", ErrNoRemote)
	}
	if cfg.dtmfPT == 0 {
		return fmt.Errorf("send dtmf to %s: %w", cfg.remote, ErrNoTelephoneEvent)
	}
	s.dtmfMu.Lock()
	defer s.dtmfMu.Unlock()
	if err := ctx.Err(); err != nil {
		return err // nothing sent: no half key press on the wire
	}
	if s.closed.Load() {
		return dtmfErr(ctx, digit, ErrClosed)
	}

	s.sendMu.Lock()
	if s.sentAny {
		if gap := time.Since(s.lastSend); gap > s.gapThreshold {
			s.ts += uint32(gap/FrameDuration-1) * FrameSamples
		}
	}
	ev := &dtmfSend{s: s, cfg: cfg, ts: s.ts, done: make(chan struct{})}
	ev.payload[0] = code
	s.inEvent = true
	s.sendMu.Unlock()

	defer func() {
		s.sendMu.Lock()
		s.inEvent = false
		s.ts = ev.ts + uint32(dtmfTotal*FrameSamples)
		s.needMarker = true
		s.lastSend = time.Now()
		s.sentAny = true
		s.sendMu.Unlock()
	}()

	s.barge() // a key press goes out at once, not in a prompt's rhythm
	s.schedule(ev)
	var err error
	select {
	case <-ev.done:
		s.sendMu.Lock()
		err = ev.err
		s.sendMu.Unlock()
		if err == nil {
			return nil
		}
	case <-ctx.Done():
		err = ctx.Err()
	case <-s.done:
		err = ErrClosed
	}
	if sent := ev.stop(); sent > 0 && sent < dtmfTotal {
		// The key is down at the far end: never leave it with a stuck
		// tone. Three ends while still in the press, one more if some
		// already went.
		ends := dtmfEndRepeats
		if sent > dtmfEventPackets {
			ends = 1
		}
		for range ends {
			_ = ev.sendEnd()
		}
	}
	return dtmfErr(ctx, digit, err)
}

// dtmfTotal is the packets of one key press: the event, then its ends.
const dtmfTotal = dtmfEventPackets + dtmfEndRepeats

// dtmfSend is one key press on the media clock (state under sendMu).
type dtmfSend struct {
	s       *Session
	cfg     *remoteConfig
	ts      uint32
	payload [4]byte
	sent    int
	st      emitterState // emitter_fsm.go
	done    chan struct{}
	err     error
}

func (ev *dtmfSend) emit(due time.Time, tx *txBatch) bool {
	s := ev.s
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if ev.st != emRunning {
		return false
	}
	if s.closed.Load() {
		ev.finishLocked(ErrClosed)
		return false
	}
	i := ev.sent
	end := i >= dtmfEventPackets
	dur := uint16((i + 1) * FrameSamples)
	if end {
		dur = dtmfEventPackets * FrameSamples
	}
	s.eventLocked(tx, ev.cfg, ev.ts, ev.payload, dur, end, i == 0, due)
	ev.sent++
	if ev.sent == dtmfTotal {
		ev.finishLocked(nil)
		return false
	}
	return true
}

func (ev *dtmfSend) finishLocked(err error) {
	if ev.st.to(emEnded) {
		ev.err = err
	}
}

func (ev *dtmfSend) retired() {
	ev.s.sendMu.Lock()
	if ev.st.to(emTold) {
		close(ev.done)
	}
	ev.s.sendMu.Unlock()
}

// stop takes the press off the clock and returns how many packets went.
func (ev *dtmfSend) stop() int {
	s := ev.s
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if ev.st.to(emTold) {
		close(ev.done)
	}
	return ev.sent
}

// sendEnd sends one end packet at once (cancelled press).
func (ev *dtmfSend) sendEnd() error {
	s := ev.s
	tx := directTx.Get().(*txBatch)
	tx.now = time.Now()
	s.sendMu.Lock()
	dst, queued := s.eventLocked(tx, ev.cfg, ev.ts, ev.payload, dtmfEventPackets*FrameSamples, true, false, time.Time{})
	s.sendMu.Unlock()
	if !queued {
		tx.n = 0
		directTx.Put(tx)
		return nil
	}
	return sendDirect(tx, dst)
}

// eventLocked queues one RFC 4733 packet (sendMu held); queued is false
// when nothing may be sent (hold, no address, closed socket).
func (s *Session) eventLocked(tx *txBatch, cfg *remoteConfig, ts uint32, payload [4]byte, duration uint16, end, marker bool, due time.Time) (dst netip.AddrPort, queued bool) {
	payload[1] = dtmfVolume
	if end {
		payload[1] |= 0x80
	}
	binary.BigEndian.PutUint16(payload[2:], duration)
	dst, ok := s.dest(cfg)
	if !ok || !Direction(s.dir.Load()).sends() {
		return dst, false
	}
	seq := s.seq
	s.seq++
	b := tx.slot()
	putHeader(b[:rtpHeaderLen], marker, cfg.dtmfPT, seq, ts, s.ssrc)
	n := rtpHeaderLen + copy(b[rtpHeaderLen:rtpHeaderLen+4], payload[:])
	return dst, s.commitLocked(tx, b[:n], dst, due) == nil
}

// barge makes the next emitter start at once rather than in the rhythm
// of the last prompt.
func (s *Session) barge() {
	s.sendMu.Lock()
	s.barged = true
	s.sendMu.Unlock()
}

func dtmfErr(ctx context.Context, digit rune, err error) error {
	if ce := ctx.Err(); ce != nil && errors.Is(err, ce) {
		return ce
	}
	return fmt.Errorf("send dtmf %q: %w", digit, err)
}
