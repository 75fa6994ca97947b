package cdr

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// File prefixes of the three logs.
const (
	CallsPrefix       = "calls"
	AgentStatesPrefix = "agent-states"
	AuditPrefix       = "audit"
)

// SyncPolicy says when the writer fsyncs.
type SyncPolicy int

const (
	// SyncBatch fsyncs after every batch of lines (the default): a record is
	// on disk shortly after Write returns, and under load one fsync covers
	// many records.
	SyncBatch SyncPolicy = iota
	// SyncNone never fsyncs except on rotation and Close: a process crash
	// loses nothing written, a power loss may lose the OS's dirty pages.
	SyncNone
)

// Defaults of WriterOptions.
const (
	DefaultMaxBytes       = 64 << 20
	DefaultQueueSize      = 4096
	DefaultEnqueueTimeout = 50 * time.Millisecond
	maxBatch              = 512
)

// Errors returned by Write.
var (
	ErrClosed    = errors.New("cdr: writer closed")
	ErrQueueFull = errors.New("cdr: writer queue full, record dropped")
)

// Sink receives every batch of lines after it is written to the file, e.g. a
// Redis stream in cluster mode. Each line is one JSON document without its
// newline. Send runs on the writer's goroutine: it must bound its own time
// (ctx carries no deadline), and an error is logged and counted, never retried.
type Sink interface {
	Send(ctx context.Context, lines [][]byte) error
}

// WriterOptions configure a Writer. Only Dir is required.
type WriterOptions struct {
	Dir    string
	Prefix string // CallsPrefix if empty
	// MaxBytes starts a new file (.1, .2 …) when the next line would take
	// the current one past it.
	MaxBytes int64
	// QueueSize bounds the records accepted but not yet written.
	QueueSize int
	// EnqueueTimeout is how long Write waits for room in a full queue
	// before dropping the record.
	EnqueueTimeout time.Duration
	Sync           SyncPolicy
	// Clock names the day of the file a line goes to (time.Now if nil).
	Clock func() time.Time
	// Location of the day boundary (UTC if nil).
	Location *time.Location
	Logger   *slog.Logger
	Sinks    []Sink
	// OnLost, if set, gets every line that will never reach a file (queue
	// full, file error, written after Close) with the reason, so that the
	// engine can count them and name the calls. It must not block.
	OnLost func(lines [][]byte, why string)
}

// Stats are the writer's counters, for metrics.
type Stats struct {
	Written   uint64 // lines written to files
	Dropped   uint64 // records refused because the queue stayed full
	Lost      uint64 // lines accepted but not written because of a file error
	SinkFails uint64 // batches a sink refused
	Queued    int    // lines waiting now
	File      string // file being written
}

type drainer int

const (
	noDrainer drainer = iota
	runDrains
	closeDrains
)

// Writer appends records of type T as JSON lines to rotated files. It is safe
// for concurrent use; one goroutine (Run) owns the files.
type Writer[T any] struct {
	opt   WriterOptions
	log   *slog.Logger
	queue chan []byte

	mu     sync.RWMutex // Write holds R while sending; stop holds W to close queue
	closed bool

	stateMu sync.Mutex
	drainer drainer // who writes the queue: the first of Run and Close
	done    chan struct{}
	err     error // the drainer's result, set before done is closed

	written, dropped, lost, sinkFails atomic.Uint64
	fileName                          atomic.Value // string

	// Owned by the goroutine draining the queue.
	f    *os.File
	bw   *bufio.Writer
	day  string
	idx  int
	size int64
}

// NewWriter prepares a writer; it creates Dir but opens no file until the
// first line arrives. Start Run, and Close when done.
func NewWriter[T any](opt WriterOptions) (*Writer[T], error) {
	if opt.Dir == "" {
		return nil, errors.New("cdr: writer needs a directory")
	}
	if opt.Prefix == "" {
		opt.Prefix = CallsPrefix
	}
	if strings.ContainsAny(opt.Prefix, `/\.`) {
		return nil, fmt.Errorf("cdr: file prefix %q must not contain '/', '\\' or '.'", opt.Prefix)
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = DefaultMaxBytes
	}
	if opt.QueueSize <= 0 {
		opt.QueueSize = DefaultQueueSize
	}
	if opt.EnqueueTimeout <= 0 {
		opt.EnqueueTimeout = DefaultEnqueueTimeout
	}
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if err := os.MkdirAll(opt.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cdr: create record directory: %w", err)
	}
	w := &Writer[T]{
		opt:   opt,
		log:   opt.Logger.With("log", opt.Prefix),
		queue: make(chan []byte, opt.QueueSize),
		done:  make(chan struct{}),
	}
	w.fileName.Store("")
	return w, nil
}

// NewCallWriter is NewWriter for call records (prefix "calls").
func NewCallWriter(opt WriterOptions) (*Writer[Record], error) {
	opt.Prefix = CallsPrefix
	return NewWriter[Record](opt)
}

// NewAgentStateWriter is NewWriter for the agent state log (prefix "agent-states").
func NewAgentStateWriter(opt WriterOptions) (*Writer[AgentStateRecord], error) {
	opt.Prefix = AgentStatesPrefix
	return NewWriter[AgentStateRecord](opt)
}

// NewAuditWriter is NewWriter for the supervisor audit log (prefix "audit").
func NewAuditWriter(opt WriterOptions) (*Writer[AuditRecord], error) {
	opt.Prefix = AuditPrefix
	return NewWriter[AuditRecord](opt)
}

// Write queues rec. It encodes rec before returning, so the caller may reuse
// it. If the queue is full it waits up to WriterOptions.EnqueueTimeout, then
// drops the record and returns ErrQueueFull.
func (w *Writer[T]) Write(rec T) error { return w.enqueue(rec, true) }

// TryWrite is Write without the wait: for callers holding a lock (the ACD's
// state log), a full queue drops the record at once.
func (w *Writer[T]) TryWrite(rec T) error { return w.enqueue(rec, false) }

func (w *Writer[T]) enqueue(rec T, wait bool) error {
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("cdr: encode %s record: %w", w.opt.Prefix, err)
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.lostLines([][]byte{line}, "log closed")
		return ErrClosed
	}
	select {
	case w.queue <- line:
		return nil
	default:
	}
	if wait {
		t := time.NewTimer(w.opt.EnqueueTimeout)
		defer t.Stop()
		select {
		case w.queue <- line:
			return nil
		case <-t.C:
		}
	}
	n := w.dropped.Add(1)
	w.lostLines([][]byte{line}, "queue full")
	// One line per drop would flood the log exactly when the disk is
	// already too slow; log the first and then every 100th.
	if n == 1 || n%100 == 0 {
		w.log.Warn("record queue full, record dropped", "dropped_total", n, "queue_size", w.opt.QueueSize)
	}
	return ErrQueueFull
}

func (w *Writer[T]) lostLines(lines [][]byte, why string) {
	if w.opt.OnLost != nil && len(lines) > 0 {
		w.opt.OnLost(lines, why)
	}
}

// Stats returns the counters.
func (w *Writer[T]) Stats() Stats {
	return Stats{
		Written:   w.written.Load(),
		Dropped:   w.dropped.Load(),
		Lost:      w.lost.Load(),
		SinkFails: w.sinkFails.Load(),
		Queued:    len(w.queue),
		File:      w.fileName.Load().(string),
	}
}

// Run writes queued records until ctx is cancelled or Close is called, then
// writes everything still queued, closes the file and returns. Run after
// Close has nothing to do and returns nil; a second Run is an error.
func (w *Writer[T]) Run(ctx context.Context) error {
	w.stateMu.Lock()
	switch w.drainer {
	case runDrains:
		w.stateMu.Unlock()
		return errors.New("cdr: writer Run called twice")
	case closeDrains:
		w.stateMu.Unlock()
		return nil
	}
	w.drainer = runDrains
	w.stateMu.Unlock()

	stopped := make(chan struct{})
	go func() { // owned by Run: ends when Run returns
		select {
		case <-ctx.Done():
			w.stop()
		case <-stopped:
		}
	}()
	w.err = w.drain()
	close(stopped)
	close(w.done)
	return w.err
}

// Close stops accepting records, waits until everything queued is written
// and closes the file. Without a running Run, Close writes the queue itself.
func (w *Writer[T]) Close() error {
	w.stop()
	w.stateMu.Lock()
	d := w.drainer
	if d == noDrainer {
		w.drainer = closeDrains
	}
	w.stateMu.Unlock()
	if d != noDrainer {
		<-w.done
		return w.err
	}
	w.err = w.drain()
	close(w.done)
	return w.err
}

func (w *Writer[T]) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
}

// drain writes batches until the queue is closed and empty.
func (w *Writer[T]) drain() error {
	batch := make([][]byte, 0, maxBatch)
	for line := range w.queue {
		batch = append(batch[:0], line)
	fill:
		for len(batch) < maxBatch {
			select {
			case l, ok := <-w.queue:
				if !ok {
					break fill
				}
				batch = append(batch, l)
			default:
				break fill
			}
		}
		w.writeBatch(batch)
	}
	return w.closeFile()
}

func (w *Writer[T]) writeBatch(batch [][]byte) {
	if err := w.writeLines(batch); err != nil {
		w.log.Error("records not written", "err", err, "file", w.fileName.Load())
		w.abandonFile()
	}
	for _, s := range w.opt.Sinks {
		if err := s.Send(context.Background(), batch); err != nil {
			w.sinkFails.Add(1)
			w.log.Warn("record sink failed", "err", err, "lines", len(batch))
		}
	}
}

func (w *Writer[T]) writeLines(batch [][]byte) error {
	day := w.opt.Clock().In(w.opt.Location).Format(time.DateOnly)
	pending := 0 // lines buffered for the current file since its last flush
	for i, line := range batch {
		need := int64(len(line)) + 1
		if w.f == nil || day != w.day || (w.size > 0 && w.size+need > w.opt.MaxBytes) {
			if w.f != nil {
				if err := w.closeFile(); err != nil {
					w.lost.Add(uint64(len(batch) - i + pending))
					w.lostLines(batch[i-pending:], "file error")
					return err
				}
				w.written.Add(uint64(pending))
				pending = 0
			}
			if err := w.rotate(day); err != nil {
				w.lost.Add(uint64(len(batch) - i))
				w.lostLines(batch[i:], "file error")
				return err
			}
		}
		w.bw.Write(line) // errors surface on Flush
		w.bw.WriteByte('\n')
		w.size += need
		pending++
	}
	if err := w.bw.Flush(); err != nil {
		w.lost.Add(uint64(pending))
		w.lostLines(batch[len(batch)-pending:], "file error")
		return fmt.Errorf("cdr: write %s: %w", w.fileName.Load(), err)
	}
	w.written.Add(uint64(pending))
	if w.opt.Sync == SyncBatch {
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("cdr: fsync %s: %w", w.fileName.Load(), err)
		}
	}
	return nil
}

// rotate closes the current file and opens the next one for day: the day's
// last existing file if it has room (a restart), otherwise a new index.
func (w *Writer[T]) rotate(day string) error {
	idx := 0
	if day == w.day {
		idx = w.idx + 1
	} else {
		last, err := lastIndex(w.opt.Dir, w.opt.Prefix, day)
		if err != nil {
			return err
		}
		idx = last
	}
	for {
		name := filepath.Join(w.opt.Dir, fileName(w.opt.Prefix, day, idx))
		f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("cdr: open record file: %w", err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("cdr: stat record file: %w", err)
		}
		if fi.Size() >= w.opt.MaxBytes {
			f.Close()
			idx++
			continue
		}
		size := fi.Size()
		if size > 0 {
			// A previous process may have died mid-line: start on a fresh
			// line so the cut line stays one bad line, not two.
			if cut, err := endsMidLine(f.Name(), size); err != nil {
				f.Close()
				return err
			} else if cut {
				if _, err := f.Write([]byte{'\n'}); err != nil {
					f.Close()
					return fmt.Errorf("cdr: terminate cut line: %w", err)
				}
				size++
				w.log.Warn("record file ended mid-line (crash?); appending after it", "file", name)
			}
		}
		w.f, w.day, w.idx, w.size = f, day, idx, size
		if w.bw == nil {
			w.bw = bufio.NewWriterSize(f, 64<<10)
		} else {
			w.bw.Reset(f)
		}
		w.fileName.Store(name)
		return nil
	}
}

func endsMidLine(name string, size int64) (bool, error) {
	r, err := os.Open(name)
	if err != nil {
		return false, fmt.Errorf("cdr: check record file end: %w", err)
	}
	defer r.Close()
	var b [1]byte
	if _, err := r.ReadAt(b[:], size-1); err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("cdr: check record file end: %w", err)
	}
	return b[0] != '\n', nil
}

func (w *Writer[T]) closeFile() error {
	if w.f == nil {
		return nil
	}
	f := w.f
	w.f = nil
	w.fileName.Store("")
	ferr := w.bw.Flush()
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(ferr, serr, cerr); err != nil {
		return fmt.Errorf("cdr: close %s: %w", f.Name(), err)
	}
	return nil
}

// abandonFile drops a file that failed so the next batch reopens one.
func (w *Writer[T]) abandonFile() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
		w.fileName.Store("")
	}
	w.day = "" // forces a fresh look at the directory
}

func fileName(prefix, day string, idx int) string {
	if idx == 0 {
		return prefix + "-" + day + ".jsonl"
	}
	return prefix + "-" + day + "." + strconv.Itoa(idx) + ".jsonl"
}

// parseFileName splits "calls-2026-11-22.3.jsonl" for prefix "calls".
func parseFileName(prefix, name string) (day time.Time, idx int, ok bool) {
	rest, found := strings.CutPrefix(name, prefix+"-")
	if !found {
		return time.Time{}, 0, false
	}
	rest, found = strings.CutSuffix(rest, ".jsonl")
	if !found || len(rest) < len(time.DateOnly) {
		return time.Time{}, 0, false
	}
	d, err := time.Parse(time.DateOnly, rest[:len(time.DateOnly)])
	if err != nil {
		return time.Time{}, 0, false
	}
	rest = rest[len(time.DateOnly):]
	if rest == "" {
		return d, 0, true
	}
	n, err := strconv.Atoi(strings.TrimPrefix(rest, "."))
	if !strings.HasPrefix(rest, ".") || err != nil || n < 1 {
		return time.Time{}, 0, false
	}
	return d, n, true
}

func lastIndex(dir, prefix, day string) (int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("cdr: list record directory: %w", err)
	}
	last := 0
	for _, e := range ents {
		d, idx, ok := parseFileName(prefix, e.Name())
		if ok && d.Format(time.DateOnly) == day && idx > last {
			last = idx
		}
	}
	return last, nil
}
