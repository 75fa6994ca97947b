package recording

import (
	"encoding/binary"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock lets tests run a 3-second call in microseconds.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const toneAmp = 8000

// toneFrame returns 20 ms of a sine at freq starting at sample index n, so
// consecutive frames are phase continuous.
func toneFrame(freq float64, n int) []int16 {
	f := make([]int16, frameSamples)
	for i := range f {
		f[i] = int16(toneAmp * math.Sin(2*math.Pi*freq*float64(n+i)/SampleRate))
	}
	return f
}

// toneLevel is the Goertzel estimate of the amplitude of freq in x.
func toneLevel(x []int16, freq float64) float64 {
	n := len(x)
	if n == 0 {
		return 0
	}
	k := math.Round(float64(n) * freq / SampleRate)
	w := 2 * math.Pi * k / float64(n)
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s := float64(v) + coeff*s1 - s2
		s2, s1 = s1, s
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	return 2 * math.Sqrt(math.Max(power, 0)) / float64(n)
}

// wavFile is a WAV read back the way a player would: by its header.
type wavFile struct {
	channels, rate int
	ch             [][]int16
	fileSize       int64
	info           wavInfo
}

func (w wavFile) duration() time.Duration {
	if len(w.ch) == 0 {
		return 0
	}
	return time.Duration(len(w.ch[0])) * time.Second / time.Duration(w.rate)
}

// segment returns channel c between two offsets.
func (w wavFile) segment(c int, from, to time.Duration) []int16 {
	a := int(from * time.Duration(w.rate) / time.Second)
	b := int(to * time.Duration(w.rate) / time.Second)
	b = min(b, len(w.ch[c]))
	if a >= b {
		return nil
	}
	return w.ch[c][a:b]
}

func readWAV(t *testing.T, path string) wavFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open wav: %v", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	info, err := readHeader(f, st.Size())
	if err != nil {
		t.Fatalf("read header of %s: %v", path, err)
	}
	if info.bits != 16 {
		t.Fatalf("bits = %d, want 16", info.bits)
	}
	data := make([]byte, info.dataSize)
	if _, err := f.ReadAt(data, info.dataOffset); err != nil {
		t.Fatalf("read %d data bytes: %v", info.dataSize, err)
	}
	w := wavFile{channels: info.channels, rate: info.rate, fileSize: st.Size(), info: info}
	frames := len(data) / (2 * info.channels)
	w.ch = make([][]int16, info.channels)
	for c := range w.ch {
		w.ch[c] = make([]int16, frames)
		for i := 0; i < frames; i++ {
			w.ch[c][i] = int16(binary.LittleEndian.Uint16(data[2*(i*info.channels+c):]))
		}
	}
	return w
}

func maxAbs(x []int16) int {
	m := 0
	for _, v := range x {
		m = max(m, int(math.Abs(float64(v))))
	}
	return m
}

// soxInfo runs `sox --i` (the check the issue asks for) and returns the
// duration, channels and rate sox sees. A missing sox fails the test.
func soxInfo(t *testing.T, path string) (time.Duration, int, int) {
	t.Helper()
	sox, err := exec.LookPath("sox")
	if err != nil {
		t.Fatalf("sox is required for recording tests (apt-get install sox): %v", err)
	}
	if out, err := exec.Command(sox, "--i", path).CombinedOutput(); err != nil {
		t.Fatalf("sox --i %s rejected the file: %v\n%s", path, err, out)
	}
	get := func(flag string) string {
		out, err := exec.Command(sox, "--i", flag, path).CombinedOutput()
		if err != nil {
			t.Fatalf("sox --i %s %s: %v\n%s", flag, path, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	secs, err := strconv.ParseFloat(get("-D"), 64)
	if err != nil {
		t.Fatalf("sox duration: %v", err)
	}
	ch, _ := strconv.Atoi(get("-c"))
	rate, _ := strconv.Atoi(get("-r"))
	return time.Duration(secs * float64(time.Second)), ch, rate
}

func near(a, b, tol time.Duration) bool {
	d := a - b
	return d <= tol && d >= -tol
}

func wavPathOf(root string, m Meta) string {
	return filepath.Join(root, filepath.FromSlash(m.File))
}

// quietLog keeps expected failure logs out of the test output.
var quietLog = slog.New(slog.DiscardHandler)
