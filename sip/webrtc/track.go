package webrtc

import (
	"errors"
	"strings"
	"sync/atomic"

	pion "github.com/pion/webrtc/v4"
)

// track is the engine's audio track on one peer connection. The relay
// writes the leg session's RTP packets through it as they are: sequence
// numbers, timestamps, payload types (audio and telephone-event) and
// marker bits stay the session's; only the SSRC becomes the one the
// connection negotiated. pion's TrackLocalStaticRTP would rewrite every
// payload type to the bound codec's and break RFC 4733 digits.
type track struct {
	id, stream string
	bound      atomic.Pointer[binding]
}

type binding struct {
	w     pion.TrackLocalWriter
	ssrc  uint32
	codec pion.RTPCodecParameters
}

func newTrack(id string) *track { return &track{id: "audio-" + id, stream: "hotline-" + id} }

// Bind takes the first negotiated G.711 codec.
func (t *track) Bind(ctx pion.TrackLocalContext) (pion.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, mimeTelephoneEvent) {
			continue
		}
		t.bound.Store(&binding{w: ctx.WriteStream(), ssrc: uint32(ctx.SSRC()), codec: c})
		return c, nil
	}
	return pion.RTPCodecParameters{}, errors.New("webrtc: the browser accepted no G.711 codec")
}

func (t *track) Unbind(pion.TrackLocalContext) error {
	t.bound.Store(nil)
	return nil
}

func (t *track) ID() string              { return t.id }
func (t *track) RID() string             { return "" }
func (t *track) StreamID() string        { return t.stream }
func (t *track) Kind() pion.RTPCodecType { return pion.RTPCodecTypeAudio }
func (t *track) write(pkt []byte) error {
	b := t.bound.Load()
	if b == nil || len(pkt) < 12 {
		return nil
	}
	pkt[8], pkt[9], pkt[10], pkt[11] = byte(b.ssrc>>24), byte(b.ssrc>>16), byte(b.ssrc>>8), byte(b.ssrc)
	_, err := b.w.Write(pkt)
	return err
}
