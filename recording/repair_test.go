package recording

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

const crashEnv = "HOTLINE_RECORDING_CRASH_ROOT"

// crashChild runs in a child process: it records 1.5 s, makes sure the
// audio reached the file (but the header only describes the first second),
// leaves half a frame at the end as an interrupted write would, and then
// SIGKILLs itself: no deferred code, no Close.
func crashChild(root string) {
	clk := newFakeClock()
	rec, err := Open(root, Meta{CallID: "crash-1", Agent: "1001"}, Options{Now: clk.Now})
	if err != nil {
		os.Exit(3)
	}
	for i := 0; i < 75; i++ {
		rec.Feed(Caller, toneFrame(callerHz, i*frameSamples))
		rec.Feed(Agent, toneFrame(agentHz, i*frameSamples))
		clk.Advance(frameDur)
		_ = rec.Drain()
	}
	_ = rec.w.Flush() // audio on disk, header still from t = 1 s
	f, err := os.OpenFile(rec.wavPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		os.Exit(4)
	}
	_, _ = f.Write([]byte{1, 2, 3})
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

func TestMain(m *testing.M) {
	if root := os.Getenv(crashEnv); root != "" {
		crashChild(root)
	}
	os.Exit(m.Run())
}

func TestCrashThenRepair(t *testing.T) {
	root := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+root)
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child: %v, want killed by SIGKILL", err)
	}
	day := filepath.Join(root, "2026", "11", "21")
	wav, side := filepath.Join(day, "crash-1.wav"), filepath.Join(day, "crash-1.json")
	before, err := readSidecar(side)
	if err != nil || before.State != StateRecording {
		t.Fatalf("sidecar after crash: %+v %v, want state recording", before, err)
	}
	st, err := os.Stat(wav)
	if err != nil {
		t.Fatal(err)
	}
	// 1.5 s minus the 100 ms playout delay reached the disk, plus 3 bytes.
	wantFrames := int64(1400 * SampleRate / 1000)
	if st.Size() != headerSize+4*wantFrames+3 {
		t.Fatalf("crashed file %d bytes, want %d", st.Size(), headerSize+4*wantFrames+3)
	}
	// Even unrepaired, the file plays up to the last header update.
	if d, _, _ := soxInfo(t, wav); d != 900*time.Millisecond {
		t.Errorf("unrepaired file plays %v, want 900ms (last header update)", d)
	}

	fixed, err := Repair(root)
	if err != nil || !slices.Equal(fixed, []string{"crash-1"}) {
		t.Fatalf("Repair = %v, %v; want [crash-1]", fixed, err)
	}
	w := readWAV(t, wav)
	if got := int64(len(w.ch[0])); got != wantFrames || w.fileSize != headerSize+4*wantFrames {
		t.Errorf("repaired: %d frames in %d bytes, want %d frames, partial frame cut", got, w.fileSize, wantFrames)
	}
	if w.info.riffSize != w.fileSize-8 {
		t.Errorf("RIFF size %d, want %d", w.info.riffSize, w.fileSize-8)
	}
	if d, ch, _ := soxInfo(t, wav); d != 1400*time.Millisecond || ch != 2 {
		t.Errorf("sox: %v %d ch, want 1.4s stereo", d, ch)
	}
	if lvl := toneLevel(w.segment(0, 1000*time.Millisecond, 1400*time.Millisecond), callerHz); lvl < toneAmp*0.9 {
		t.Errorf("caller tone after the last header update: %.0f, want it kept", lvl)
	}
	after, err := readSidecar(side)
	if err != nil || after.State != StateRepaired || after.DurationMS != 1400 || after.Size != w.fileSize ||
		after.Agent != "1001" || after.End.IsZero() {
		t.Errorf("sidecar after repair %+v %v", after, err)
	}
	if again, err := Repair(root); err != nil || len(again) != 0 {
		t.Errorf("second Repair = %v, %v; want nothing to do", again, err)
	}
}

func TestRepairCases(t *testing.T) {
	stereoHeader := func(dataBytes int64) []byte {
		b := make([]byte, headerSize)
		putHeader(b, 2, dataBytes)
		return b
	}
	tests := []struct {
		name       string
		wav        []byte // nil: no WAV file
		sidecar    *Meta  // nil: no sidecar
		wantFixed  bool
		wantState  State
		wantFrames int64 // -1: no WAV to check
	}{
		{
			name:       "complete file is left alone",
			wav:        append(stereoHeader(400), make([]byte, 400)...),
			sidecar:    &Meta{CallID: "x", State: StateComplete},
			wantState:  StateComplete,
			wantFrames: 100,
		},
		{
			name:       "header cut by the crash",
			wav:        stereoHeader(0)[:20],
			sidecar:    &Meta{CallID: "x", State: StateRecording},
			wantFixed:  true,
			wantState:  StateRepaired,
			wantFrames: 0,
		},
		{
			name:       "WAV without sidecar gets one",
			wav:        append(stereoHeader(0), make([]byte, 802)...),
			wantFixed:  true,
			wantState:  StateRepaired,
			wantFrames: 200,
		},
		{
			name:       "sidecar recording, header already right",
			wav:        append(stereoHeader(40), make([]byte, 40)...),
			sidecar:    &Meta{CallID: "x", State: StateRecording},
			wantFixed:  true,
			wantState:  StateRepaired,
			wantFrames: 10,
		},
		{
			name:       "failed recording keeps failed, header fixed",
			wav:        append(stereoHeader(40), make([]byte, 400)...),
			sidecar:    &Meta{CallID: "x", State: StateFailed, Failed: true, Error: "disk full"},
			wantFixed:  true,
			wantState:  StateFailed,
			wantFrames: 100,
		},
		{
			name:       "audio file missing",
			sidecar:    &Meta{CallID: "x", State: StateRecording},
			wantFixed:  true,
			wantState:  StateFailed,
			wantFrames: -1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			day := filepath.Join(root, "2026", "11", "21")
			if err := os.MkdirAll(day, 0o750); err != nil {
				t.Fatal(err)
			}
			wav, side := filepath.Join(day, "x.wav"), filepath.Join(day, "x.json")
			if tc.wav != nil {
				if err := os.WriteFile(wav, tc.wav, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if tc.sidecar != nil {
				tc.sidecar.Start = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
				if err := writeSidecar(side, *tc.sidecar); err != nil {
					t.Fatal(err)
				}
			}
			fixed, err := Repair(root)
			if err != nil {
				t.Fatalf("Repair: %v", err)
			}
			if got := slices.Contains(fixed, "x"); got != tc.wantFixed {
				t.Errorf("fixed = %v, want fixed %v", fixed, tc.wantFixed)
			}
			m, err := readSidecar(side)
			if err != nil || m.State != tc.wantState {
				t.Errorf("sidecar state %q (%v), want %q", m.State, err, tc.wantState)
			}
			if tc.wantFrames < 0 {
				return
			}
			w := readWAV(t, wav)
			if int64(len(w.ch[0])) != tc.wantFrames || w.fileSize != headerSize+4*tc.wantFrames {
				t.Errorf("%d frames in %d bytes, want %d frames", len(w.ch[0]), w.fileSize, tc.wantFrames)
			}
			if m.DurationMS != tc.wantFrames*1000/SampleRate && tc.wantFixed {
				t.Errorf("sidecar duration %d ms, want %d", m.DurationMS, tc.wantFrames*1000/SampleRate)
			}
			soxInfo(t, wav)
		})
	}
}

// TestRepairForeignHeader: a WAV with an extra chunk before "data" keeps
// its layout; only the sizes are fixed.
func TestRepairForeignHeader(t *testing.T) {
	root := t.TempDir()
	day := filepath.Join(root, "2026", "11", "21")
	if err := os.MkdirAll(day, 0o750); err != nil {
		t.Fatal(err)
	}
	h := make([]byte, headerSize)
	putHeader(h, 1, 0)
	list := []byte("LIST\x04\x00\x00\x00INFO")
	b := append(append(append([]byte{}, h[:36]...), list...), h[36:]...)
	b = append(b, make([]byte, 161)...) // 80 mono frames + 1 byte
	if err := os.WriteFile(filepath.Join(day, "y.wav"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Repair(root); err != nil {
		t.Fatal(err)
	}
	w := readWAV(t, filepath.Join(day, "y.wav"))
	if w.info.dataOffset != headerSize+12 || len(w.ch[0]) != 80 || w.channels != 1 {
		t.Errorf("data at %d, %d frames, %d ch; want 56, 80, 1", w.info.dataOffset, len(w.ch[0]), w.channels)
	}
	if got := binary.LittleEndian.Uint32(mustRead(t, filepath.Join(day, "y.wav"))[4:]); int64(got) != w.fileSize-8 {
		t.Errorf("RIFF size %d, want %d", got, w.fileSize-8)
	}
	soxInfo(t, filepath.Join(day, "y.wav"))
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRepairAnyCut: whatever byte a crash stops at, Repair leaves a file
// that plays every whole frame that reached the disk.
func TestRepairAnyCut(t *testing.T) {
	src := t.TempDir()
	clk := newFakeClock()
	rec, err := Open(src, Meta{CallID: "full"}, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		rec.Feed(Caller, toneFrame(callerHz, i*frameSamples))
		rec.Feed(Agent, toneFrame(agentHz, i*frameSamples))
		clk.Advance(frameDur)
	}
	m, err := rec.Close()
	if err != nil {
		t.Fatal(err)
	}
	full := mustRead(t, wavPathOf(src, m))
	for _, cut := range []int{0, 7, 43, 44, 45, 46, 47, 48, 4000, 4003, len(full) - 1, len(full)} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			root := t.TempDir()
			day := filepath.Join(root, filepath.FromSlash(dayDir(m.Start)))
			if err := os.MkdirAll(day, 0o750); err != nil {
				t.Fatal(err)
			}
			wav := filepath.Join(day, "full.wav")
			if err := os.WriteFile(wav, full[:cut], 0o600); err != nil {
				t.Fatal(err)
			}
			side := m
			side.State = StateRecording
			if err := writeSidecar(filepath.Join(day, "full.json"), side); err != nil {
				t.Fatal(err)
			}
			if _, err := Repair(root); err != nil {
				t.Fatal(err)
			}
			w := readWAV(t, wav)
			want := max(cut-headerSize, 0) / 4
			if len(w.ch[0]) != want {
				t.Errorf("cut at %d: %d frames, want %d", cut, len(w.ch[0]), want)
			}
			for c := range 2 {
				if !slices.Equal(w.ch[c], readWAVBytes(full, c)[:want]) {
					t.Errorf("cut at %d: channel %d audio differs from what was recorded", cut, c)
				}
			}
			soxInfo(t, wav)
		})
	}
}

// readWAVBytes decodes channel c of a canonical stereo WAV image.
func readWAVBytes(b []byte, c int) []int16 {
	var out []int16
	for i := headerSize + 2*c; i+1 < len(b); i += 4 {
		out = append(out, int16(binary.LittleEndian.Uint16(b[i:])))
	}
	return out
}
