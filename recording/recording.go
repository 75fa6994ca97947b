package recording

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Channel says which side of the call a Feed belongs to.
type Channel uint8

const (
	// Caller is the customer side: left channel in stereo.
	Caller Channel = 0
	// Agent is whoever is on the agent side (after transfers and barge
	// too): right channel in stereo.
	Agent Channel = 1
)

const (
	frameSamples = SampleRate / 50 // 20 ms
	// ringSize bounds how far a leg may run ahead of the write head (about
	// one second); a power of two so the index is a mask, not a division.
	ringSize = 8192
	ringMask = ringSize - 1
	// drainChunk is the most samples encoded per step; a normal tick moves
	// 400-800, so this only bounds the scratch memory per recording.
	drainChunk = 2048
)

// File is what a recording writes to. *os.File satisfies it; tests inject
// faulty implementations to simulate a full disk.
type File interface {
	io.Writer
	io.WriterAt
	Sync() error
	Close() error
}

// Options tune one recording. The zero value is a stereo recording with
// sensible defaults.
type Options struct {
	// Mono mixes both legs into one channel instead of caller-left /
	// agent-right stereo.
	Mono bool
	// Delay is the playout delay: audio is written this far behind real
	// time so packets delayed by jitter still land in place. Default 100 ms.
	Delay time.Duration
	// MaxLead is how far ahead of real time a leg may send before samples
	// are dropped (a fast sender clock or a burst). Default 200 ms.
	MaxLead time.Duration
	// HeaderEvery is how often data is flushed and the WAV header sizes
	// rewritten; a crash loses at most this much audio before Repair.
	// Default 1 s.
	HeaderEvery time.Duration
	// BufferSize is the bufio size for the audio. Default 32 KiB.
	BufferSize int
	// Create opens a new WAV file; it must fail if the file exists.
	// Default: os.OpenFile with O_CREATE|O_EXCL.
	Create func(path string) (File, error)
	// Now is the clock; default time.Now. Tests inject a fake clock.
	Now func() time.Time
	// OnFailure is called once when the recording fails (at Open or mid
	// call), from the failing goroutine; it must not block.
	OnFailure func(callID string, err error)
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Delay <= 0 {
		o.Delay = 100 * time.Millisecond
	}
	if o.MaxLead <= 0 {
		o.MaxLead = 200 * time.Millisecond
	}
	if o.HeaderEvery <= 0 {
		o.HeaderEvery = time.Second
	}
	if o.BufferSize <= 0 {
		o.BufferSize = 32 << 10
	}
	if o.Create == nil {
		o.Create = createFile
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

func createFile(p string) (File, error) {
	return os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
}

// ErrClosed is returned by Close when called twice.
var ErrClosed = errors.New("recording: already closed")

// pauseSpan is a pause in sample positions; end < 0 while still paused.
type pauseSpan struct{ start, end int64 }

// Recording is one call being recorded. Feed, Pause, Resume, Drain and Close
// are safe for concurrent use.
type Recording struct {
	opts     Options
	channels int
	start    time.Time
	wavPath  string
	metaPath string // empty when the sidecar cannot be written at all
	delay    int64  // samples
	maxLead  int64  // samples

	failed atomic.Bool
	closed atomic.Bool

	// mu guards the timeline shared by the Feed goroutines and the drainer.
	// It is held only for copies of a few hundred samples.
	mu      sync.Mutex
	ring    [2][ringSize]int16
	next    [2]int64 // next sample position per channel
	synced  [2]bool  // channel has a position on the timeline
	written int64    // positions before this have been handed to the file
	paused  bool
	spans   []pauseSpan
	meta    Meta // Pauses, Dropped, Failed, Error also change under mu
	dirty   bool // sidecar needs rewriting (pause/resume)

	// ioMu serialises file work (Drain, Close, failure handling).
	ioMu        sync.Mutex
	f           File
	w           *bufio.Writer
	dataBytes   int64 // audio bytes handed to w
	headerBytes int64 // audio bytes the on-disk header describes
	lastHeader  time.Time
	hdr         [headerSize]byte
	scratch     [2][]int16
	out         []byte

	onClose func(*Recording) // Recorder bookkeeping
}

// Open starts recording meta.CallID under root/YYYY/MM/DD (today, UTC) and
// writes the sidecar in state "recording".
//
// The returned *Recording is never nil. If the call id is invalid or the
// directory or file cannot be created, the error is returned together with a
// recording that is already failed: its Feed, Pause and Resume do nothing
// and Close returns Meta.Failed, so the call path needs no special case.
func Open(root string, meta Meta, opts Options) (*Recording, error) {
	opts = opts.withDefaults()
	r := &Recording{opts: opts, channels: 2}
	if opts.Mono {
		r.channels = 1
	}
	r.start = opts.Now()
	meta = meta.clone()
	// Start is the instant of the first sample, so pause offsets and
	// wall-clock times in the sidecar agree; the call's own start time
	// belongs to the call record.
	meta.Start = r.start.UTC()
	meta.State = StateRecording
	meta.Format = Format{Codec: "pcm_s16le", SampleRate: SampleRate, Channels: r.channels, Layout: "caller-left/agent-right"}
	if opts.Mono {
		meta.Format.Layout = "mixed"
	}
	r.meta = meta
	r.delay = durToSamples(opts.Delay)
	r.maxLead = durToSamples(opts.MaxLead)
	r.lastHeader = r.start

	if !ValidCallID(meta.CallID) {
		err := fmt.Errorf("open recording %q: %w", meta.CallID, ErrBadCallID)
		r.fail(err)
		return r, err
	}
	rel := path.Join(dayDir(meta.Start), meta.CallID+".wav")
	r.meta.File = rel
	dir := filepath.Join(root, filepath.FromSlash(dayDir(meta.Start)))
	r.wavPath = filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		err = fmt.Errorf("open recording %s: create directory: %w", meta.CallID, err)
		r.fail(err)
		return r, err
	}
	f, err := opts.Create(r.wavPath)
	if err != nil {
		err = fmt.Errorf("open recording %s: %w", meta.CallID, err)
		r.fail(err)
		return r, err
	}
	r.f = f
	r.metaPath = filepath.Join(dir, meta.CallID+".json")
	putHeader(r.hdr[:], r.channels, 0)
	if _, err := f.Write(r.hdr[:]); err != nil {
		err = fmt.Errorf("open recording %s: write header: %w", meta.CallID, err)
		r.fail(err)
		return r, err
	}
	r.meta.Size = headerSize
	if err := writeSidecar(r.metaPath, r.meta); err != nil {
		err = fmt.Errorf("open recording %s: %w", meta.CallID, err)
		r.fail(err)
		return r, err
	}
	r.w = bufio.NewWriterSize(f, opts.BufferSize)
	r.scratch[0] = make([]int16, drainChunk)
	r.scratch[1] = make([]int16, drainChunk)
	r.out = make([]byte, drainChunk*r.channels*bytesPerSample)
	return r, nil
}

// durToSamples splits seconds from the rest so that long calls cannot
// overflow int64 nanoseconds × 8000.
func durToSamples(d time.Duration) int64 {
	return int64(d/time.Second)*SampleRate + int64(d%time.Second)*SampleRate/int64(time.Second)
}

func samplesToMS(n int64) int64 { return n * 1000 / SampleRate }

// pos is the timeline position (in samples) of instant t.
func (r *Recording) pos(t time.Time) int64 {
	d := t.Sub(r.start)
	if d < 0 {
		return 0
	}
	return durToSamples(d)
}

// CallID returns the call id the recording was opened with.
func (r *Recording) CallID() string { return r.meta.CallID }

// Failed reports whether the recording has failed; the call is unaffected.
func (r *Recording) Failed() bool { return r.failed.Load() }

// Feed adds linear PCM (8 kHz) from one leg. It is called from the RTP
// goroutines of both legs concurrently, never blocks on I/O, never
// allocates and is a no-op on a failed, paused or closed recording.
func (r *Recording) Feed(ch Channel, pcm []int16) {
	if r == nil || ch > Agent || len(pcm) == 0 || r.failed.Load() || r.closed.Load() {
		return
	}
	wall := r.pos(r.opts.Now())
	r.mu.Lock()
	if r.paused {
		r.mu.Unlock()
		return
	}
	p := r.next[ch]
	if !r.synced[ch] || p < r.written {
		// First packet, or the leg fell behind the write head (it stopped
		// sending, or a pause ended): place it at its arrival time so the
		// two legs stay aligned to the wall clock.
		p = max(wall, r.written)
		r.synced[ch] = true
	}
	n := int64(len(pcm))
	limit := min(wall+r.maxLead, r.written+ringSize)
	if p+n > limit {
		keep := max(limit-p, 0)
		r.meta.Dropped += n - keep
		n = keep
	}
	if n > 0 {
		ring := &r.ring[ch]
		i := p & ringMask
		k := int64(copy(ring[i:], pcm[:n]))
		copy(ring[:], pcm[k:n])
		r.next[ch] = p + n
	}
	r.mu.Unlock()
}

// Pause starts a pause: from now until Resume the file gets silence and the
// interval is noted in the metadata. Pausing a paused recording is a no-op.
func (r *Recording) Pause(reason string) {
	if r == nil || r.failed.Load() || r.closed.Load() {
		return
	}
	now := r.opts.Now()
	p := r.pos(now)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.paused {
		return
	}
	r.paused = true
	r.spans = append(r.spans, pauseSpan{start: p, end: -1})
	r.meta.Pauses = append(r.meta.Pauses, Pause{Start: now.UTC(), Reason: reason, StartMS: samplesToMS(p)})
	r.dirty = true
}

// Resume ends the current pause. Resuming an unpaused recording is a no-op.
func (r *Recording) Resume() {
	if r == nil || r.failed.Load() || r.closed.Load() {
		return
	}
	now := r.opts.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endPauseLocked(now, r.pos(now))
}

func (r *Recording) endPauseLocked(now time.Time, p int64) {
	if !r.paused {
		return
	}
	r.paused = false
	r.spans[len(r.spans)-1].end = p
	// Audio fed before the pause may sit ahead of p; make both legs
	// re-anchor at their arrival time instead of continuing from there.
	r.synced = [2]bool{}
	last := &r.meta.Pauses[len(r.meta.Pauses)-1]
	last.End = now.UTC()
	last.EndMS = samplesToMS(p)
	r.dirty = true
}

// AddLeg notes a leg joining the call (transfer target, barging
// supervisor); its audio goes to whichever Channel the engine feeds.
func (r *Recording) AddLeg(legID string) {
	if r == nil || legID == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.meta.Legs {
		if l == legID {
			return
		}
	}
	r.meta.Legs = append(r.meta.Legs, legID)
	r.dirty = true
}

// SetAgent records who is now on the agent side, e.g. after a transfer; the
// sidecar keeps the last one, the legs list keeps them all.
func (r *Recording) SetAgent(agent string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.meta.Agent != agent {
		r.meta.Agent = agent
		r.dirty = true
	}
}

// Meta returns a snapshot of the metadata.
func (r *Recording) Meta() Meta {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.meta.clone()
}

// Drain writes the aligned audio up to now minus the playout delay. The
// shared flusher ([Recorder.Run]) calls it every tick; the owner of a
// standalone recording must call it periodically. It returns the error that
// failed the recording, if any.
func (r *Recording) Drain() error {
	if r.failed.Load() || r.closed.Load() {
		return nil
	}
	r.ioMu.Lock()
	defer r.ioMu.Unlock()
	if r.failed.Load() || r.closed.Load() {
		return nil
	}
	now := r.opts.Now()
	target := (r.pos(now) - r.delay) / frameSamples * frameSamples
	if err := r.drainTo(target); err != nil {
		return err
	}
	if now.Sub(r.lastHeader) >= r.opts.HeaderEvery {
		r.lastHeader = now
		if err := r.syncHeader(); err != nil {
			return err
		}
	}
	r.mu.Lock()
	dirty := r.dirty
	r.dirty = false
	var m Meta
	if dirty {
		m = r.meta.clone()
	}
	r.mu.Unlock()
	if dirty {
		// A sidecar that cannot be rewritten only loses pause times until
		// Close; the audio is fine, so this is logged, not a failure.
		if err := writeSidecar(r.metaPath, m); err != nil {
			r.opts.Logger.Warn("recording: sidecar update failed", "call_id", m.CallID, "err", err)
		}
	}
	return nil
}

// drainTo hands the timeline up to target to the buffered writer. ioMu held.
func (r *Recording) drainTo(target int64) error {
	for {
		r.mu.Lock()
		from := r.written
		if target <= from {
			r.mu.Unlock()
			return nil
		}
		end := min(target, from+drainChunk)
		n := end - from
		for ch := range 2 {
			ring := &r.ring[ch]
			dst := r.scratch[ch][:n]
			i := from & ringMask
			k := int64(copy(dst, ring[i:]))
			copy(dst[k:], ring[:])
			// Consumed positions go back to silence for the next lap.
			clear(ring[i:min(i+n, ringSize)])
			if k < n {
				clear(ring[:n-k])
			}
		}
		for _, s := range r.spans {
			lo, hi := max(s.start, from), end
			if s.end >= 0 {
				hi = min(s.end, end)
			}
			if lo < hi {
				clear(r.scratch[0][lo-from : hi-from])
				clear(r.scratch[1][lo-from : hi-from])
			}
		}
		r.written = end
		r.mu.Unlock()

		b := r.encode(int(n))
		if r.dataBytes+int64(len(b)) > maxDataBytes {
			return r.fail(fmt.Errorf("recording %s: file reached the 4 GiB WAV limit", r.meta.CallID))
		}
		if _, err := r.w.Write(b); err != nil {
			return r.fail(fmt.Errorf("recording %s: write audio: %w", r.meta.CallID, err))
		}
		r.dataBytes += int64(len(b))
	}
}

// encode turns n samples of scratch into little-endian WAV frames.
func (r *Recording) encode(n int) []byte {
	l, rt := r.scratch[0][:n], r.scratch[1][:n]
	le := binary.LittleEndian
	if r.channels == 1 {
		b := r.out[:2*n]
		for i := range l {
			s := int32(l[i]) + int32(rt[i])
			s = min(max(s, -32768), 32767) // saturate, never wrap
			le.PutUint16(b[2*i:], uint16(int16(s)))
		}
		return b
	}
	b := r.out[:4*n]
	for i := range l {
		le.PutUint16(b[4*i:], uint16(l[i]))
		le.PutUint16(b[4*i+2:], uint16(rt[i]))
	}
	return b
}

// syncHeader flushes buffered audio and then makes the header describe it,
// in that order, so the header never claims bytes that are not on disk.
func (r *Recording) syncHeader() error {
	if err := r.w.Flush(); err != nil {
		return r.fail(fmt.Errorf("recording %s: flush audio: %w", r.meta.CallID, err))
	}
	putHeader(r.hdr[:], r.channels, r.dataBytes)
	if _, err := r.f.WriteAt(r.hdr[:], 0); err != nil {
		return r.fail(fmt.Errorf("recording %s: update header: %w", r.meta.CallID, err))
	}
	r.headerBytes = r.dataBytes
	return nil
}

// fail marks the recording failed once, releases the file and tells the
// engine. It returns err for convenient use in return statements.
func (r *Recording) fail(err error) error {
	if !r.failed.CompareAndSwap(false, true) {
		return err
	}
	r.mu.Lock()
	r.meta.Failed = true
	r.meta.Error = err.Error()
	r.meta.State = StateFailed
	m := r.meta.clone()
	r.mu.Unlock()
	if r.f != nil {
		// The header still describes what was flushed before the error, so
		// the file plays up to there; Close rewrites the sidecar.
		_ = r.f.Close()
	}
	if r.metaPath != "" {
		// Said on disk now: if the engine stops before Close, the next
		// start's repair must find "failed", not a recording to repair.
		if serr := writeSidecar(r.metaPath, m); serr != nil {
			r.opts.Logger.Warn("recording: failed state not written to the sidecar", "call_id", r.meta.CallID, "err", serr)
		}
	}
	r.opts.Logger.Error("recording failed; call continues", "call_id", r.meta.CallID, "err", err)
	if r.opts.OnFailure != nil {
		r.opts.OnFailure(r.meta.CallID, err)
	}
	return err
}

// Close writes the audio up to now (no playout delay: the call is over),
// finalises the header, syncs the file and writes the sidecar in state
// "complete" (or "failed"). It returns the final metadata for the call
// record; on a failed recording Meta.Failed is set and the error is nil
// unless finishing itself failed.
func (r *Recording) Close() (Meta, error) {
	if r == nil {
		return Meta{}, ErrClosed
	}
	r.ioMu.Lock()
	if !r.closed.CompareAndSwap(false, true) {
		r.ioMu.Unlock()
		return r.Meta(), ErrClosed
	}
	now := r.opts.Now()
	end := (r.pos(now) + frameSamples/2) / frameSamples * frameSamples
	r.mu.Lock()
	r.endPauseLocked(now, end)
	r.mu.Unlock()

	var err error
	if !r.failed.Load() {
		err = r.finish(end)
	}
	r.mu.Lock()
	r.meta.End = now.UTC()
	r.meta.Size = headerSize + r.headerBytes
	r.meta.DurationMS = samplesToMS(r.headerBytes / int64(r.channels*bytesPerSample))
	r.meta.State = StateComplete
	if r.meta.Failed {
		r.meta.State = StateFailed
	}
	m := r.meta.clone()
	r.mu.Unlock()
	if r.metaPath != "" {
		if serr := writeSidecar(r.metaPath, m); serr != nil {
			err = errors.Join(err, serr)
		}
	}
	r.ioMu.Unlock()
	if r.onClose != nil {
		r.onClose(r)
	}
	return m, err
}

// finish drains to end and closes the file. ioMu held.
func (r *Recording) finish(end int64) error {
	if err := r.drainTo(end); err != nil {
		return nil // recorded in Meta by fail
	}
	if err := r.syncHeader(); err != nil {
		return nil
	}
	if err := r.f.Sync(); err != nil {
		r.opts.Logger.Warn("recording: fsync failed", "call_id", r.meta.CallID, "err", err)
	}
	if err := r.f.Close(); err != nil {
		return fmt.Errorf("recording %s: close file: %w", r.meta.CallID, err)
	}
	return nil
}
