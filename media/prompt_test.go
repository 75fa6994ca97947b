package media

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// wavWith builds a WAV header with arbitrary format fields.
func wavWith(format, channels uint16, rate uint32, bits uint16, data []byte) []byte {
	b := make([]byte, 44, 44+len(data))
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+len(data)))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], format)
	binary.LittleEndian.PutUint16(b[22:], channels)
	binary.LittleEndian.PutUint32(b[24:], rate)
	align := channels * bits / 8
	binary.LittleEndian.PutUint32(b[28:], rate*uint32(align))
	binary.LittleEndian.PutUint16(b[32:], align)
	binary.LittleEndian.PutUint16(b[34:], bits)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(len(data)))
	return append(b, data...)
}

func TestLoadWAV(t *testing.T) {
	tone := Tone(1000, 500*time.Millisecond, 10000)
	good := EncodeWAV(tone.Samples)
	// A LIST chunk before data, odd-sized to exercise padding.
	withList := append(append([]byte{}, good[:36]...), append([]byte("LIST\x03\x00\x00\x00abc\x00"), good[36:]...)...)
	truncated := good[:len(good)-100] // crash before the header was rewritten
	tests := []struct {
		name     string
		data     []byte
		wantErr  string // substring; "" means success
		wantLen  int
		wantTone bool
	}{
		{"8k mono 16-bit", good, "", len(tone.Samples), true},
		{"extra chunk", withList, "", len(tone.Samples), true},
		{"truncated data", truncated, "", len(tone.Samples) - 50, true},
		{"44.1 kHz", wavWith(1, 1, 44100, 16, make([]byte, 100)), "sample rate is 44100 Hz, want 8000", 0, false},
		{"stereo", wavWith(1, 2, 8000, 16, make([]byte, 100)), "2 channels, want 1", 0, false},
		{"8-bit", wavWith(1, 1, 8000, 8, make([]byte, 100)), "8 bits per sample, want 16", 0, false},
		{"mu-law WAV", wavWith(7, 1, 8000, 8, make([]byte, 100)), "format 7", 0, false},
		{"not WAV", []byte("ID3\x03 this is an mp3"), "not a RIFF/WAVE file", 0, false},
		{"no data", good[:36], "no data chunk", 0, false},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".wav")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			p, err := LoadWAV(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("err = %v; want it to name %s and say %q", err, path, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Samples) != tc.wantLen || p.Name != path {
				t.Fatalf("%d samples named %q, want %d", len(p.Samples), p.Name, tc.wantLen)
			}
			if hasTone(p.Samples, 1000) != tc.wantTone {
				t.Fatal("tone not found in loaded prompt")
			}
			if !equalPCM(p.Samples, tone.Samples[:tc.wantLen]) {
				t.Fatal("samples differ from what was written")
			}
		})
	}
	if _, err := LoadWAV(filepath.Join(dir, "missing.wav")); err == nil || !strings.Contains(err.Error(), "missing.wav") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestToneAndDuration(t *testing.T) {
	tests := []struct {
		freq    float64
		d       time.Duration
		samples int
		frames  int
	}{
		{440, time.Second, 8000, 50},
		{1000, 30 * time.Millisecond, 240, 2},
		{350, 0, 0, 0},
	}
	for _, tc := range tests {
		p := Tone(tc.freq, tc.d, 8000)
		if len(p.Samples) != tc.samples || p.Duration() != tc.d || p.Frames() != tc.frames {
			t.Errorf("Tone(%g, %s): %d samples, %s, %d frames", tc.freq, tc.d, len(p.Samples), p.Duration(), p.Frames())
		}
		if tc.samples >= 160 && (!hasTone(p.Samples, tc.freq) || hasTone(p.Samples, tc.freq*1.7)) {
			t.Errorf("Tone(%g) detector mismatch", tc.freq)
		}
	}
	if s := Silence(time.Second); len(s.Samples) != 8000 || hasTone(s.Samples, 440) {
		t.Errorf("Silence wrong")
	}
}
