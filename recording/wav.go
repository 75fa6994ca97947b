package recording

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// WAV constants for the only format written: 8 kHz signed 16-bit PCM.
const (
	SampleRate     = 8000
	bitsPerSample  = 16
	bytesPerSample = bitsPerSample / 8
	headerSize     = 44
	maxDataBytes   = 1<<32 - 1 - 36 // RIFF sizes are uint32
)

// putHeader fills a canonical 44-byte PCM WAV header describing dataBytes
// of audio.
func putHeader(b []byte, channels int, dataBytes int64) {
	_ = b[headerSize-1]
	if dataBytes > maxDataBytes {
		dataBytes = maxDataBytes
	}
	le := binary.LittleEndian
	copy(b[0:], "RIFF")
	le.PutUint32(b[4:], uint32(36+dataBytes))
	copy(b[8:], "WAVE")
	copy(b[12:], "fmt ")
	le.PutUint32(b[16:], 16)
	le.PutUint16(b[20:], 1) // PCM
	le.PutUint16(b[22:], uint16(channels))
	le.PutUint32(b[24:], SampleRate)
	le.PutUint32(b[28:], uint32(SampleRate*channels*bytesPerSample))
	le.PutUint16(b[32:], uint16(channels*bytesPerSample))
	le.PutUint16(b[34:], bitsPerSample)
	copy(b[36:], "data")
	le.PutUint32(b[40:], uint32(dataBytes))
}

// wavInfo is what Repair and the tests need from an existing header.
type wavInfo struct {
	channels   int
	rate       int
	bits       int
	riffSize   int64 // value in the RIFF header
	dataOffset int64 // first audio byte
	dataSize   int64 // value in the data chunk header
	sizeOffset int64 // where the data chunk's size field sits
}

func (w wavInfo) blockAlign() int64 { return int64(w.channels * w.bits / 8) }

var errNotWAV = errors.New("not a PCM WAV file")

// readHeader walks the RIFF chunks up to "data". It accepts headers written
// by other tools (LIST chunks, extended fmt) so Repair does not destroy
// files it did not write.
func readHeader(r io.ReaderAt, size int64) (wavInfo, error) {
	var info wavInfo
	var b [12]byte
	if _, err := r.ReadAt(b[:], 0); err != nil {
		return info, fmt.Errorf("read RIFF header: %w", errNotWAV)
	}
	if string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return info, fmt.Errorf("missing RIFF/WAVE: %w", errNotWAV)
	}
	le := binary.LittleEndian
	info.riffSize = int64(le.Uint32(b[4:]))
	off := int64(12)
	haveFmt := false
	for off+8 <= size {
		var ch [8]byte
		if _, err := r.ReadAt(ch[:], off); err != nil {
			return info, fmt.Errorf("read chunk at %d: %w", off, err)
		}
		id, n := string(ch[0:4]), int64(le.Uint32(ch[4:]))
		switch id {
		case "fmt ":
			if n < 16 {
				return info, fmt.Errorf("short fmt chunk: %w", errNotWAV)
			}
			var f [16]byte
			if _, err := r.ReadAt(f[:], off+8); err != nil {
				return info, fmt.Errorf("read fmt chunk: %w", err)
			}
			if le.Uint16(f[0:]) != 1 {
				return info, fmt.Errorf("format tag %d: %w", le.Uint16(f[0:]), errNotWAV)
			}
			info.channels = int(le.Uint16(f[2:]))
			info.rate = int(le.Uint32(f[4:]))
			info.bits = int(le.Uint16(f[14:]))
			if info.channels < 1 || info.bits%8 != 0 || info.bits == 0 {
				return info, fmt.Errorf("fmt %d ch %d bits: %w", info.channels, info.bits, errNotWAV)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return info, fmt.Errorf("data before fmt: %w", errNotWAV)
			}
			info.sizeOffset = off + 4
			info.dataOffset = off + 8
			info.dataSize = n
			return info, nil
		}
		off += 8 + n + n%2 // chunks are word aligned
	}
	return info, fmt.Errorf("no data chunk: %w", errNotWAV)
}
