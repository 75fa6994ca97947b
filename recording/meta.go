package recording

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// State is the life-cycle state written in a sidecar.
type State string

// Sidecar states.
const (
	// StateRecording means the call is (or was, at a crash) being recorded.
	StateRecording State = "recording"
	// StateComplete means Close finished the file and its header.
	StateComplete State = "complete"
	// StateRepaired means Repair fixed a file left behind by a crash.
	StateRepaired State = "repaired"
	// StateFailed means the recording could not be (fully) written.
	StateFailed State = "failed"
)

// Pause is one interval during which the recording was paused (silence in
// the file), e.g. while the caller read out a card number.
type Pause struct {
	Start  time.Time `json:"start"`
	End    time.Time `json:"end,omitzero"`
	Reason string    `json:"reason,omitempty"`
	// StartMS and EndMS are offsets into the audio, for players that seek.
	StartMS int64 `json:"start_ms"`
	EndMS   int64 `json:"end_ms,omitempty"`
}

// Format describes the audio encoding of the WAV file.
type Format struct {
	Codec      string `json:"codec"` // always "pcm_s16le"
	SampleRate int    `json:"sample_rate"`
	Channels   int    `json:"channels"`
	Layout     string `json:"layout"` // "caller-left/agent-right" or "mixed"
}

// Meta is the recording metadata kept with the call record and as the
// sidecar <callid>.json next to the WAV file.
type Meta struct {
	CallID string   `json:"call_id"`
	Legs   []string `json:"legs,omitempty"`
	Agent  string   `json:"agent,omitempty"`
	Queue  string   `json:"queue,omitempty"`
	Tier   string   `json:"tier,omitempty"`
	Caller string   `json:"caller,omitempty"` // caller number (ANI)

	// Start and End bound the audio: Open sets Start (any value passed in
	// is replaced), Close sets End.
	Start  time.Time `json:"start"`
	End    time.Time `json:"end,omitzero"`
	Pauses []Pause   `json:"pauses,omitempty"`

	State      State  `json:"state"`
	File       string `json:"file"` // WAV path relative to the root, slash separated
	Size       int64  `json:"size"` // bytes of playable WAV (header + whole frames)
	DurationMS int64  `json:"duration_ms"`
	Format     Format `json:"format"`

	// Dropped counts samples discarded because a leg sent faster than real
	// time or the writer fell behind; non-zero values point at a clock or
	// load problem, not at lost calls.
	Dropped int64 `json:"dropped_samples,omitempty"`

	Failed bool   `json:"failed,omitempty"`
	Error  string `json:"error,omitempty"`
}

// clone returns a deep copy so callers never share slices with a live
// recording.
func (m Meta) clone() Meta {
	m.Legs = append([]string(nil), m.Legs...)
	m.Pauses = append([]Pause(nil), m.Pauses...)
	return m
}

// ErrBadCallID is returned for call ids that cannot safely be file names.
var ErrBadCallID = errors.New("recording: invalid call id")

// ValidCallID reports whether id can be used as a file name: 1-128
// characters from [A-Za-z0-9._@+-], not starting with a dot. The engine
// should pass its own call UUID rather than a raw SIP Call-ID, which may
// contain '/' and other characters unsafe in paths.
func ValidCallID(id string) bool {
	if id == "" || len(id) > 128 || id[0] == '.' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.' || c == '_' || c == '@' || c == '+' || c == '-':
		default:
			return false
		}
	}
	return true
}

// dayDir returns the slash-separated YYYY/MM/DD directory for t in UTC.
func dayDir(t time.Time) string {
	return t.UTC().Format("2006/01/02")
}

// writeSidecar writes m atomically (temp file + rename) so a crash never
// leaves a half-written JSON file.
func writeSidecar(path string, m Meta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode sidecar %s: %w", path, err)
	}
	b = append(b, '\n')
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		_ = os.Remove(tmp)
		return rewriteSidecar(path, b, fmt.Errorf("write sidecar %s: %w", tmp, err))
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return rewriteSidecar(path, b, fmt.Errorf("rename sidecar %s: %w", path, err))
	}
	return nil
}

// rewriteSidecar is the fallback when a new sidecar cannot be created (a
// full disk, usually the very reason a recording failed): the existing
// file is overwritten in place, which needs no new block for a file this
// small. Not atomic, but the alternative is a sidecar that still says
// "recording", which the next start's repair would call "repaired" — a
// failed recording must stay failed.
func rewriteSidecar(path string, b []byte, cause error) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return cause
	}
	_, err = f.WriteAt(b, 0)
	if err == nil {
		err = f.Truncate(int64(len(b)))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return errors.Join(cause, fmt.Errorf("rewrite sidecar %s in place: %w", path, err))
	}
	return nil
}

// readSidecar loads a sidecar file.
func readSidecar(path string) (Meta, error) {
	var m Meta
	b, err := os.ReadFile(path)
	if err != nil {
		return m, fmt.Errorf("read sidecar: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("decode sidecar %s: %w", filepath.Base(path), err)
	}
	return m, nil
}
