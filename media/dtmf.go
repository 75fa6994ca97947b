package media

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
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
// 20 ms, then three end packets. Audio written meanwhile is dropped, as a
// phone does while a key is held. It blocks for about 160 ms.
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

	s.sendMu.Lock()
	if s.sentAny {
		if gap := time.Since(s.lastSend); gap > s.gapThreshold {
			s.ts += uint32(gap/FrameDuration-1) * FrameSamples
		}
	}
	eventTS := s.ts
	s.inEvent = true
	s.sendMu.Unlock()

	total := dtmfEventPackets + dtmfEndRepeats
	defer func() {
		s.sendMu.Lock()
		s.inEvent = false
		s.ts = eventTS + uint32(total*FrameSamples)
		s.needMarker = true
		s.lastSend = time.Now()
		s.sentAny = true
		s.sendMu.Unlock()
	}()

	pace := newPacer(time.Now())
	defer pace.stop()
	var payload [4]byte
	payload[0] = code
	for i := range dtmfEventPackets {
		if err := pace.wait(ctx, s.done); err != nil {
			if i > 0 {
				// The key is down at the far end: never leave it with a
				// stuck tone.
				for range dtmfEndRepeats {
					_ = s.sendEvent(cfg, eventTS, payload, uint16(i*FrameSamples), true, false)
				}
			}
			return dtmfErr(ctx, digit, err)
		}
		if err := s.sendEvent(cfg, eventTS, payload, uint16((i+1)*FrameSamples), false, i == 0); err != nil && !errors.Is(err, ErrSend) {
			return err
		}
	}
	for range dtmfEndRepeats {
		if err := pace.wait(ctx, s.done); err != nil {
			// At least one end may be missing: send one more at once.
			_ = s.sendEvent(cfg, eventTS, payload, dtmfEventPackets*FrameSamples, true, false)
			return dtmfErr(ctx, digit, err)
		}
		if err := s.sendEvent(cfg, eventTS, payload, dtmfEventPackets*FrameSamples, true, false); err != nil && !errors.Is(err, ErrSend) {
			return err
		}
	}
	return nil
}

func (s *Session) sendEvent(cfg *remoteConfig, ts uint32, payload [4]byte, duration uint16, end, marker bool) error {
	payload[1] = dtmfVolume
	if end {
		payload[1] |= 0x80
	}
	binary.BigEndian.PutUint16(payload[2:], duration)
	dst, ok := s.dest(cfg)

	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	h := &s.hdr
	h.Marker = marker
	h.PayloadType = cfg.dtmfPT
	h.SequenceNumber = s.seq
	h.Timestamp = ts
	n, err := h.MarshalTo(s.sendBuf[:])
	if err != nil {
		return fmt.Errorf("rtp dtmf: marshal header: %w", err)
	}
	n += copy(s.sendBuf[n:], payload[:])
	if !ok || !Direction(s.dir.Load()).sends() {
		return nil
	}
	s.seq++
	return s.sendLocked(s.sendBuf[:n], h, dst)
}

func dtmfErr(ctx context.Context, digit rune, err error) error {
	if ce := ctx.Err(); ce != nil && errors.Is(err, ce) {
		return ce
	}
	return fmt.Errorf("send dtmf %q: %w", digit, err)
}
