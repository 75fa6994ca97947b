package recording

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Recorder.
type Config struct {
	// Root is the directory under which YYYY/MM/DD/<callid>.wav is laid out.
	Root string
	// Tick is how often the shared flusher drains every active recording.
	// Default 50 ms: well under the 100 ms playout delay, and 20 wake-ups a
	// second for all calls together.
	Tick time.Duration
	// Options apply to every recording; Options.OnFailure is called after
	// the Recorder's own failure counter is bumped.
	Options Options
	// Retention, if positive, makes Run delete recordings older than this
	// (never an active call's) every SweepEvery (default 1 h), from its own
	// goroutine so a long directory walk never delays the flusher.
	Retention  time.Duration
	SweepEvery time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Recorder owns the active recordings of the engine and the one goroutine
// that writes them all (Run).
type Recorder struct {
	cfg      Config
	failures atomic.Uint64

	mu     sync.Mutex
	active map[string]*Recording
	closed bool

	drainMu sync.Mutex   // one DrainAll at a time; guards snap
	snap    []*Recording // reused between ticks to avoid allocation
}

// ErrRecorderClosed is returned by Open after Close.
var ErrRecorderClosed = errors.New("recording: recorder closed")

// NewRecorder returns a Recorder; call Run in a goroutine to start writing.
func NewRecorder(cfg Config) *Recorder {
	if cfg.Tick <= 0 {
		cfg.Tick = 50 * time.Millisecond
	}
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Options.Logger == nil {
		cfg.Options.Logger = cfg.Logger
	}
	rec := &Recorder{cfg: cfg, active: make(map[string]*Recording)}
	user := cfg.Options.OnFailure
	rec.cfg.Options.OnFailure = func(callID string, err error) {
		rec.failures.Add(1)
		if user != nil {
			user(callID, err)
		}
	}
	return rec
}

// Open starts recording a call (see the package-level Open). Like Open it
// never returns a nil *Recording; a failed one is not registered for
// flushing. A second Open for a call id that is still active is refused.
func (rc *Recorder) Open(meta Meta) (*Recording, error) {
	rc.mu.Lock()
	if rc.closed {
		rc.mu.Unlock()
		r := failedRecording(meta, rc.cfg.Options)
		return r, r.fail(fmt.Errorf("open recording %s: %w", meta.CallID, ErrRecorderClosed))
	}
	if _, dup := rc.active[meta.CallID]; dup {
		rc.mu.Unlock()
		r := failedRecording(meta, rc.cfg.Options)
		return r, r.fail(fmt.Errorf("open recording %s: already being recorded", meta.CallID))
	}
	rc.mu.Unlock()

	r, err := Open(rc.cfg.Root, meta, rc.cfg.Options)
	if err != nil {
		return r, err
	}
	r.onClose = rc.forget
	rc.mu.Lock()
	if _, dup := rc.active[meta.CallID]; dup || rc.closed {
		rc.mu.Unlock()
		// Lost a race with another Open of the same id or with Close: the
		// O_EXCL create already kept the first file safe; finish this one.
		_, _ = r.Close()
		return r, fmt.Errorf("open recording %s: recorder closed or duplicate", meta.CallID)
	}
	rc.active[meta.CallID] = r
	rc.mu.Unlock()
	return r, nil
}

func failedRecording(meta Meta, opts Options) *Recording {
	opts = opts.withDefaults()
	r := &Recording{opts: opts, channels: 2, start: opts.Now()}
	r.meta = meta.clone()
	r.meta.State = StateFailed
	return r
}

func (rc *Recorder) forget(r *Recording) {
	rc.mu.Lock()
	if rc.active[r.meta.CallID] == r {
		delete(rc.active, r.meta.CallID)
	}
	rc.mu.Unlock()
}

// Active reports whether callID is being recorded; pass it to Sweep.
func (rc *Recorder) Active(callID string) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	_, ok := rc.active[callID]
	return ok
}

// Len is the number of active recordings.
func (rc *Recorder) Len() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.active)
}

// Failures is the number of recordings that failed since start, for the
// alert metric.
func (rc *Recorder) Failures() uint64 { return rc.failures.Load() }

// Run drains every active recording each Tick until ctx is done. It is the
// only goroutine doing recording file I/O, so a slow disk delays recordings
// (their rings absorb about a second) but never the RTP goroutines.
func (rc *Recorder) Run(ctx context.Context) error {
	if rc.cfg.Retention > 0 {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); rc.sweepLoop(ctx) }()
		defer wg.Wait()
	}
	t := time.NewTicker(rc.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			rc.DrainAll()
		}
	}
}

// DrainAll drains every active recording once; Run calls it each tick.
func (rc *Recorder) DrainAll() {
	rc.drainMu.Lock()
	defer rc.drainMu.Unlock()
	rc.mu.Lock()
	rc.snap = rc.snap[:0]
	for _, r := range rc.active {
		rc.snap = append(rc.snap, r)
	}
	snap := rc.snap
	rc.mu.Unlock()
	for _, r := range snap {
		_ = r.Drain() // failures are reported through OnFailure
	}
	clear(snap)
}

// Close finalises every still-active recording (state "complete", as at a
// clean shutdown) and refuses new ones. Stop Run via its context.
func (rc *Recorder) Close() error {
	rc.mu.Lock()
	rc.closed = true
	open := make([]*Recording, 0, len(rc.active))
	for _, r := range rc.active {
		open = append(open, r)
	}
	rc.mu.Unlock()
	var errs []error
	for _, r := range open {
		if _, err := r.Close(); err != nil && !errors.Is(err, ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Sweep applies the retention age now, sparing active calls.
func (rc *Recorder) Sweep(maxAge time.Duration) ([]string, error) {
	return Sweep(rc.cfg.Root, maxAge, rc.Active)
}

func (rc *Recorder) sweepLoop(ctx context.Context) {
	t := time.NewTicker(rc.cfg.SweepEvery)
	defer t.Stop()
	for {
		deleted, err := rc.Sweep(rc.cfg.Retention)
		if err != nil {
			rc.cfg.Logger.Warn("recording: retention sweep", "err", err)
		}
		if len(deleted) > 0 {
			rc.cfg.Logger.Info("recording: retention deleted recordings", "count", len(deleted))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
