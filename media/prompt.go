package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// Prompt is 8 kHz mono 16-bit linear PCM audio, ready to Play. Samples
// must not change once the prompt has been played: its G.711 encoding is
// made once per law on first play and reused by every call.
type Prompt struct {
	Name    string
	Samples []int16

	enc [2]atomic.Pointer[[]byte] // µ-law, A-law; whole frames, the tail padded with silence
}

const (
	lawU = 0
	lawA = 1
)

// encoded returns the prompt in the law of cfg, padded to whole frames,
// encoding it on first use.
func (p *Prompt) encoded(cfg *remoteConfig) []byte {
	if b := p.enc[cfg.law].Load(); b != nil {
		return *b
	}
	out := make([]byte, p.Frames()*FrameSamples)
	for i, v := range p.Samples {
		out[i] = cfg.enc[uint16(v)]
	}
	for i := len(p.Samples); i < len(out); i++ {
		out[i] = cfg.enc[0]
	}
	p.enc[cfg.law].CompareAndSwap(nil, &out)
	return *p.enc[cfg.law].Load()
}

// Duration is the prompt's playing time.
func (p *Prompt) Duration() time.Duration {
	if p == nil {
		return 0
	}
	return time.Duration(len(p.Samples)) * time.Second / 8000
}

// Frames is the number of 20 ms packets Play sends for the prompt.
func (p *Prompt) Frames() int {
	if p == nil {
		return 0
	}
	return (len(p.Samples) + FrameSamples - 1) / FrameSamples
}

// Tone generates a sine tone (beeps, tests, comfort signals).
func Tone(freqHz float64, d time.Duration, amplitude int16) *Prompt {
	n := int(d * 8000 / time.Second)
	if n < 0 {
		n = 0
	}
	s := make([]int16, n)
	w := 2 * math.Pi * freqHz / 8000
	for i := range s {
		s[i] = int16(math.Round(float64(amplitude) * math.Sin(w*float64(i))))
	}
	return &Prompt{Name: fmt.Sprintf("tone %gHz %s", freqHz, d), Samples: s}
}

// Silence generates d of digital silence.
func Silence(d time.Duration) *Prompt {
	n := max(int(d*8000/time.Second), 0)
	return &Prompt{Name: fmt.Sprintf("silence %s", d), Samples: make([]int16, n)}
}

// LoadWAV reads a prompt file. Only 8 kHz mono 16-bit PCM is accepted: the
// engine never resamples at call time. Convert with
// `sox in.wav -r 8000 -c 1 -b 16 -e signed-integer out.wav`.
func LoadWAV(path string) (*Prompt, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load prompt: %w", err)
	}
	return ParseWAV(path, data)
}

const (
	wavFormatPCM        = 1
	wavFormatExtensible = 0xFFFE
)

// ParseWAV decodes a WAV file held in memory (e.g. embedded prompts); name
// is used in errors and as the prompt's name.
func ParseWAV(name string, data []byte) (*Prompt, error) {
	p, err := parseWAV(name, data)
	if err != nil {
		return nil, fmt.Errorf("prompt %s: %w", name, err)
	}
	return p, nil
}

func parseWAV(name string, data []byte) (*Prompt, error) {
	if len(data) < 12 || string(data[0:4]) != "RIFF" || string(data[8:12]) != "WAVE" {
		return nil, errors.New("not a RIFF/WAVE file")
	}
	var (
		haveFmt                            bool
		format, channels, bits, blockAlign uint16
		rate                               uint32
		pcm                                []byte
		haveData                           bool
	)
	b := data[12:]
	for len(b) >= 8 && !haveData {
		id := string(b[0:4])
		size := int64(binary.LittleEndian.Uint32(b[4:8]))
		body := b[8:]
		if size > int64(len(body)) {
			if id != "data" {
				return nil, fmt.Errorf("chunk %q claims %d bytes, only %d left (truncated file)", id, size, len(body))
			}
			// A data chunk cut short (recording crashed, header not
			// rewritten): play what is there.
			size = int64(len(body))
		}
		switch id {
		case "fmt ":
			if size < 16 {
				return nil, fmt.Errorf("fmt chunk too short (%d bytes)", size)
			}
			format = binary.LittleEndian.Uint16(body[0:])
			channels = binary.LittleEndian.Uint16(body[2:])
			rate = binary.LittleEndian.Uint32(body[4:])
			blockAlign = binary.LittleEndian.Uint16(body[12:])
			bits = binary.LittleEndian.Uint16(body[14:])
			if format == wavFormatExtensible && size >= 26 {
				format = binary.LittleEndian.Uint16(body[24:]) // sub-format GUID's first two bytes
			}
			haveFmt = true
		case "data":
			pcm = body[:size]
			haveData = true
		}
		adv := 8 + size + size%2 // chunks are word aligned
		if adv > int64(len(b)) {
			break
		}
		b = b[adv:]
	}
	if !haveFmt {
		return nil, errors.New("no fmt chunk")
	}
	if !haveData {
		return nil, errors.New("no data chunk")
	}
	var problems []string
	if format != wavFormatPCM {
		problems = append(problems, fmt.Sprintf("encoding is format %d, want 1 (linear PCM)", format))
	}
	if rate != 8000 {
		problems = append(problems, fmt.Sprintf("sample rate is %d Hz, want 8000", rate))
	}
	if channels != 1 {
		problems = append(problems, fmt.Sprintf("%d channels, want 1 (mono)", channels))
	}
	if bits != 16 {
		problems = append(problems, fmt.Sprintf("%d bits per sample, want 16", bits))
	}
	if len(problems) == 0 && blockAlign != 2 {
		problems = append(problems, fmt.Sprintf("block align %d, want 2", blockAlign))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("unsupported WAV format: %s (convert with: sox in.wav -r 8000 -c 1 -b 16 -e signed-integer out.wav)",
			strings.Join(problems, "; "))
	}
	samples := make([]int16, len(pcm)/2)
	for i := range samples {
		samples[i] = int16(binary.LittleEndian.Uint16(pcm[2*i:]))
	}
	return &Prompt{Name: name, Samples: samples}, nil
}

// EncodeWAV returns samples as an 8 kHz mono 16-bit PCM WAV file (tests,
// debugging captures).
func EncodeWAV(samples []int16) []byte {
	out := make([]byte, 44+2*len(samples))
	copy(out[0:], "RIFF")
	binary.LittleEndian.PutUint32(out[4:], uint32(36+2*len(samples)))
	copy(out[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(out[16:], 16)
	binary.LittleEndian.PutUint16(out[20:], wavFormatPCM)
	binary.LittleEndian.PutUint16(out[22:], 1)
	binary.LittleEndian.PutUint32(out[24:], 8000)
	binary.LittleEndian.PutUint32(out[28:], 16000)
	binary.LittleEndian.PutUint16(out[32:], 2)
	binary.LittleEndian.PutUint16(out[34:], 16)
	copy(out[36:], "data")
	binary.LittleEndian.PutUint32(out[40:], uint32(2*len(samples)))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(out[44+2*i:], uint16(s))
	}
	return out
}
