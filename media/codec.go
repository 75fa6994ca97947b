package media

import (
	"fmt"
	"time"

	"github.com/zaf/g711"
)

// Codec identifies an audio payload format.
type Codec struct {
	Name        string
	PayloadType uint8
	ClockRate   uint32
}

// The two G.711 laws every SIP phone and trunk speaks.
var (
	PCMU = Codec{"PCMU", 0, 8000}
	PCMA = Codec{"PCMA", 8, 8000}
)

// Codecs lists the audio codecs this package can encode, in the engine's
// order of preference.
var Codecs = []Codec{PCMU, PCMA}

const (
	// FrameSamples is one 20 ms frame at 8 kHz, the packetisation used
	// everywhere inside the engine.
	FrameSamples = 160
	// FrameDuration is the wall-clock length of one frame.
	FrameDuration = 20 * time.Millisecond
	// DefaultDTMFPayloadType is the dynamic payload type conventionally
	// offered for telephone-event/8000.
	DefaultDTMFPayloadType uint8 = 101
)

// CodecByPayloadType returns the codec for a static payload type.
func CodecByPayloadType(pt uint8) (Codec, bool) {
	for _, c := range Codecs {
		if c.PayloadType == pt {
			return c, true
		}
	}
	return Codec{}, false
}

// CodecByName returns the codec for an SDP encoding name (case-sensitive
// upper case, as registered with IANA).
func CodecByName(name string) (Codec, bool) {
	for _, c := range Codecs {
		if c.Name == name {
			return c, true
		}
	}
	return Codec{}, false
}

func (c Codec) String() string {
	return fmt.Sprintf("%s/%d (pt %d)", c.Name, c.ClockRate, c.PayloadType)
}

// Lookup tables built once from zaf/g711 so the per-sample cost on the hot
// path is one memory load instead of the segment search.
var (
	ulawDecode, alawDecode [256]int16
	ulawEncode, alawEncode [65536]uint8
)

func init() {
	for i := range 256 {
		ulawDecode[i] = g711.DecodeUlawFrame(uint8(i))
		alawDecode[i] = g711.DecodeAlawFrame(uint8(i))
	}
	for i := range 65536 {
		s := int16(uint16(i))
		ulawEncode[i] = g711.EncodeUlawFrame(s)
		alawEncode[i] = g711.EncodeAlawFrame(s)
	}
}

func (c Codec) encodeTable() (*[65536]uint8, error) {
	switch c.PayloadType {
	case PCMU.PayloadType:
		return &ulawEncode, nil
	case PCMA.PayloadType:
		return &alawEncode, nil
	}
	return nil, fmt.Errorf("codec %s: %w", c, ErrUnsupportedCodec)
}

func (c Codec) decodeTable() (*[256]int16, error) {
	switch c.PayloadType {
	case PCMU.PayloadType:
		return &ulawDecode, nil
	case PCMA.PayloadType:
		return &alawDecode, nil
	}
	return nil, fmt.Errorf("codec %s: %w", c, ErrUnsupportedCodec)
}

// Encode appends the G.711 encoding of pcm to dst and returns it.
func (c Codec) Encode(dst []byte, pcm []int16) ([]byte, error) {
	t, err := c.encodeTable()
	if err != nil {
		return dst, err
	}
	for _, s := range pcm {
		dst = append(dst, t[uint16(s)])
	}
	return dst, nil
}

// Decode appends the linear PCM decoding of payload to dst and returns it.
func (c Codec) Decode(dst []int16, payload []byte) ([]int16, error) {
	t, err := c.decodeTable()
	if err != nil {
		return dst, err
	}
	for _, b := range payload {
		dst = append(dst, t[b])
	}
	return dst, nil
}
