package recording

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Repair scans root for recordings left incomplete by a crash or power
// loss — sidecar still in state "recording", no sidecar, or WAV header sizes
// that disagree with the file — and makes each playable: the RIFF and data
// sizes are set to the whole frames actually on disk, a partial trailing
// frame is cut off, and the sidecar is updated (state "repaired", size,
// duration). It returns the call ids it fixed and keeps going past a file
// it cannot fix, joining the errors.
//
// Run it at start-up before the Recorder opens new recordings: a file being
// written looks exactly like one left by a crash.
func Repair(root string) (fixed []string, err error) {
	all, err := allEntries(root)
	if err != nil {
		return nil, fmt.Errorf("repair: %w", err)
	}
	// Leftover temp sidecars from a crash mid-rename are useless.
	if days, derr := dayDirs(root); derr == nil {
		for _, d := range days {
			tmps, _ := filepath.Glob(filepath.Join(root, filepath.FromSlash(d), "*.json.tmp"))
			for _, t := range tmps {
				_ = os.Remove(t)
			}
		}
	}
	var errs []error
	for _, e := range all {
		ok, rerr := repairOne(e)
		if rerr != nil {
			errs = append(errs, fmt.Errorf("repair %s: %w", e.id, rerr))
		}
		if ok {
			fixed = append(fixed, e.id)
		}
	}
	return fixed, errors.Join(errs...)
}

func repairOne(e entry) (bool, error) {
	var m Meta
	haveMeta := false
	if e.hasMeta {
		var err error
		if m, err = readSidecar(e.metaPath()); err == nil {
			haveMeta = true
		}
	}
	if !e.hasWAV {
		if !haveMeta || m.State != StateRecording {
			return false, nil
		}
		m.State, m.Failed, m.Error = StateFailed, true, "audio file missing after crash"
		return true, writeSidecar(e.metaPath(), m)
	}

	f, err := os.OpenFile(e.wavPath(), os.O_RDWR, 0)
	if err != nil {
		return false, fmt.Errorf("open: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("stat: %w", err)
	}
	size := st.Size()
	info, herr := readHeader(f, size)
	rewrote := false
	if herr != nil {
		// The header itself was cut (crash right after create): write a
		// fresh canonical one and treat what follows as audio.
		ch := 2
		if haveMeta && m.Format.Channels == 1 {
			ch = 1
		}
		var hdr [headerSize]byte
		putHeader(hdr[:], ch, 0)
		if size < headerSize {
			if err := f.Truncate(headerSize); err != nil {
				return false, fmt.Errorf("truncate: %w", err)
			}
			size = headerSize
		}
		if _, err := f.WriteAt(hdr[:], 0); err != nil {
			return false, fmt.Errorf("write header: %w", err)
		}
		info = wavInfo{channels: ch, rate: SampleRate, bits: bitsPerSample, dataOffset: headerSize, sizeOffset: 40}
		rewrote = true
	}
	block := info.blockAlign()
	whole := (size - info.dataOffset) / block * block
	if whole > maxDataBytes {
		whole = maxDataBytes / block * block
	}
	riff := info.dataOffset - 8 + whole
	badHeader := rewrote || info.dataSize != whole || info.riffSize != riff || size != info.dataOffset+whole
	needSidecar := !haveMeta || m.State == StateRecording
	if !badHeader && !needSidecar {
		return false, nil
	}
	if badHeader {
		if err := f.Truncate(info.dataOffset + whole); err != nil {
			return false, fmt.Errorf("truncate partial frame: %w", err)
		}
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(whole))
		if _, err := f.WriteAt(b[:], info.sizeOffset); err != nil {
			return false, fmt.Errorf("write data size: %w", err)
		}
		binary.LittleEndian.PutUint32(b[:], uint32(riff))
		if _, err := f.WriteAt(b[:], 4); err != nil {
			return false, fmt.Errorf("write RIFF size: %w", err)
		}
		if err := f.Sync(); err != nil {
			return false, fmt.Errorf("sync: %w", err)
		}
	}

	dur := time.Duration(whole/block) * time.Second / time.Duration(max(info.rate, 1))
	if !haveMeta {
		m = Meta{CallID: e.id, Start: st.ModTime().Add(-dur).UTC()}
	}
	m.CallID = e.id
	m.File = path.Join(e.day, e.id+".wav")
	m.Size = info.dataOffset + whole
	m.DurationMS = dur.Milliseconds()
	m.Format = Format{Codec: "pcm_s16le", SampleRate: info.rate, Channels: info.channels, Layout: "caller-left/agent-right"}
	if info.channels == 1 {
		m.Format.Layout = "mixed"
	}
	if m.End.IsZero() {
		m.End = m.Start.Add(dur)
	}
	// A pause still open at the crash ends where the audio ends.
	for i := range m.Pauses {
		if m.Pauses[i].End.IsZero() {
			m.Pauses[i].End = m.End
			m.Pauses[i].EndMS = m.DurationMS
		}
	}
	if m.State != StateFailed {
		m.State = StateRepaired
	}
	if err := writeSidecar(e.metaPath(), m); err != nil {
		return true, err
	}
	return true, nil
}

// trimExt is a small helper shared by the HTTP handler.
func trimExt(name string) (id, ext string) {
	ext = filepath.Ext(name)
	return strings.TrimSuffix(name, ext), ext
}
