package cdr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

var day1 = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

// fakeClock is a settable clock for day rotation.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func tp(t time.Time) *time.Time { return &t }

func sampleRecord(i int, at time.Time) Record {
	score := 1 + i%5
	return Record{
		CallID: fmt.Sprintf("call-%06d", i),
		Node:   "node-1",
		Times: Times{
			Arrival: at, IVREnd: tp(at.Add(10 * time.Second)), Enqueued: tp(at.Add(10 * time.Second)),
			Offered: tp(at.Add(11 * time.Second)), Answered: tp(at.Add(15 * time.Second)), Ended: at.Add(200 * time.Second),
		},
		Caller: "+8613800000001", Dialled: "4001", AccessNumber: "4001",
		Customer: Customer{ID: "C1", Tier: "gold", Region: "north", Name: "Li Wei"},
		IVRFlow:  "main",
		IVRTrace: []byte(`[{"at":"2026-11-21T09:00:00Z","flow":"main","node":"welcome","event":"enter"}]`),
		Queue:    "sales",
		Offers:   []Offer{{Agent: "a1", At: at.Add(11 * time.Second), Outcome: OfferAnswered, RingMS: 4000}},
		Agent:    "a1", TalkMS: 180000, HoldMS: 5000, WrapUpMS: 20000,
		Transfers:         []Transfer{{At: at.Add(190 * time.Second), By: "a1", Kind: "ivr", Target: "survey"}},
		SupervisorActions: []SupervisorAction{{At: at.Add(60 * time.Second), Supervisor: "s1", Action: "listen", Agent: "a1"}},
		Disposition:       Answered,
		WaitMS:            5000,
		SurveyScore:       &score,
		Recording:         &Recording{File: "rec/call.wav", State: "complete"},
	}
}

func readAll(t *testing.T, dir string, from, to time.Time) []Record {
	t.Helper()
	var out []Record
	for r, err := range Read(dir, from, to) {
		must.NoError(t, err)
		out = append(out, r)
	}
	return out
}

func files(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	must.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func startRun[T any](t *testing.T, w *Writer[T]) (wait func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- w.Run(context.Background()) }()
	return func() error { return <-errc }
}

func TestWriterRoundTrip(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: day1}
	calls, err := NewCallWriter(WriterOptions{Dir: dir, Clock: clock.Now})
	must.NoError(t, err)
	states, err := NewAgentStateWriter(WriterOptions{Dir: dir, Clock: clock.Now})
	must.NoError(t, err)
	audit, err := NewAuditWriter(WriterOptions{Dir: dir, Clock: clock.Now})
	must.NoError(t, err)
	waitCalls, waitStates, waitAudit := startRun(t, calls), startRun(t, states), startRun(t, audit)

	want := []Record{sampleRecord(1, day1), sampleRecord(2, day1.Add(time.Minute))}
	abandoned := Record{CallID: "call-x", Times: Times{Arrival: day1, Enqueued: tp(day1.Add(time.Second)), Ended: day1.Add(9 * time.Second)},
		Customer: Customer{Tier: "normal"}, LookupDegraded: true, LookupError: "crm: timeout", Queue: "sales",
		Disposition: AbandonedQueue, ShortAbandon: false, WaitMS: 8000, OneWayAudio: true, Dropped: true}
	want = append(want, abandoned)
	for _, r := range want {
		must.NoError(t, calls.Write(r))
	}
	st := AgentStateRecord{Agent: "a1", State: "not_ready", Reason: "lunch", Start: day1, End: day1.Add(30 * time.Minute)}
	au := AuditRecord{At: day1, Supervisor: "s1", Action: "barge", Target: "a1", Detail: "call call-000001"}
	must.NoError(t, states.Write(st))
	must.NoError(t, audit.Write(au))

	must.NoError(t, calls.Close())
	must.NoError(t, states.Close())
	must.NoError(t, audit.Close())
	must.NoError(t, waitCalls())
	must.NoError(t, waitStates())
	must.NoError(t, waitAudit())

	check.Equal(t, []string{"agent-states-2026-11-21.jsonl", "audit-2026-11-21.jsonl", "calls-2026-11-21.jsonl"}, files(t, dir))
	check.Equal(t, want, readAll(t, dir, time.Time{}, time.Time{}))

	var gotStates []AgentStateRecord
	for r, err := range ReadLog[AgentStateRecord](dir, AgentStatesPrefix, time.Time{}, time.Time{}, nil) {
		must.NoError(t, err)
		gotStates = append(gotStates, r)
	}
	check.Equal(t, []AgentStateRecord{st}, gotStates)
	var gotAudit []AuditRecord
	for r, err := range ReadLog[AuditRecord](dir, AuditPrefix, time.Time{}, time.Time{}, nil) {
		must.NoError(t, err)
		gotAudit = append(gotAudit, r)
	}
	check.Equal(t, []AuditRecord{au}, gotAudit)

	// The file is what an operator greps: snake_case keys, one call per line.
	raw, err := os.ReadFile(filepath.Join(dir, "calls-2026-11-21.jsonl"))
	must.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	must.Len(t, lines, 3)
	for _, key := range []string{`"call_id":"call-000001"`, `"wrap_up_ms":20000`, `"survey_score":2`, `"ivr_trace":[{`, `"offers":[{"agent":"a1"`, `"supervisor_actions":[`} {
		check.Contains(t, lines[0], key)
	}
	check.Contains(t, lines[2], `"lookup_degraded":true`)
	check.Contains(t, lines[2], `"one_way_audio":true`)
	check.NotContains(t, lines[2], `"answered"`, "milestones the call never reached are omitted")
	check.Equal(t, Stats{Written: 3}, calls.Stats())
}

func TestWriterRotatesBySize(t *testing.T) {
	dir := t.TempDir()
	line, err := jsonLen(sampleRecord(0, day1))
	must.NoError(t, err)
	// Room for three lines per file: ten records make four files.
	w, err := NewCallWriter(WriterOptions{Dir: dir, MaxBytes: int64(3 * line), Clock: func() time.Time { return day1 }})
	must.NoError(t, err)
	wait := startRun(t, w)
	for i := range 10 {
		must.NoError(t, w.Write(sampleRecord(i, day1.Add(time.Duration(i)*time.Second))))
	}
	must.NoError(t, w.Close())
	must.NoError(t, wait())

	check.Equal(t, []string{"calls-2026-11-21.1.jsonl", "calls-2026-11-21.2.jsonl", "calls-2026-11-21.3.jsonl", "calls-2026-11-21.jsonl"}, files(t, dir))
	for _, name := range files(t, dir) {
		fi, err := os.Stat(filepath.Join(dir, name))
		must.NoError(t, err)
		check.True(t, fi.Size() <= int64(3*line), name)
	}
	got := readAll(t, dir, time.Time{}, time.Time{})
	must.Len(t, got, 10)
	for i, r := range got {
		check.Equal(t, fmt.Sprintf("call-%06d", i), r.CallID, "records come back in write order across files")
	}
}

func jsonLen(r Record) (int, error) {
	b, err := json.Marshal(r)
	return len(b) + 1, err
}

func TestWriterRotatesByDayAndResumesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: time.Date(2026, 11, 21, 23, 59, 58, 0, time.UTC)}
	w, err := NewCallWriter(WriterOptions{Dir: dir, Clock: clock.Now})
	must.NoError(t, err)
	wait := startRun(t, w)
	must.NoError(t, w.Write(sampleRecord(1, clock.Now())))
	must.NoError(t, w.Write(sampleRecord(2, clock.Now())))
	eventually(t, func() bool { return w.Stats().Written == 2 })
	clock.Set(time.Date(2026, 11, 22, 0, 0, 1, 0, time.UTC))
	must.NoError(t, w.Write(sampleRecord(3, clock.Now())))
	must.NoError(t, w.Close())
	must.NoError(t, wait())
	check.Equal(t, []string{"calls-2026-11-21.jsonl", "calls-2026-11-22.jsonl"}, files(t, dir))

	// The process dies mid-line on the 22nd; the next one appends to the
	// same file on a fresh line.
	f, err := os.OpenFile(filepath.Join(dir, "calls-2026-11-22.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	must.NoError(t, err)
	_, err = f.WriteString(`{"call_id":"cut-by-cra`)
	must.NoError(t, err)
	must.NoError(t, f.Close())

	w2, err := NewCallWriter(WriterOptions{Dir: dir, Clock: clock.Now})
	must.NoError(t, err)
	must.NoError(t, w2.Write(sampleRecord(4, clock.Now())))
	must.NoError(t, w2.Close()) // no Run: Close writes the queue itself
	check.Equal(t, []string{"calls-2026-11-21.jsonl", "calls-2026-11-22.jsonl"}, files(t, dir))

	var logs bytes.Buffer
	var ids []string
	for r, err := range ReadLog[Record](dir, CallsPrefix, time.Time{}, time.Time{}, slog.New(slog.NewTextHandler(&logs, nil))) {
		must.NoError(t, err)
		ids = append(ids, r.CallID)
	}
	check.Equal(t, []string{"call-000001", "call-000002", "call-000003", "call-000004"}, ids)
	check.Contains(t, logs.String(), "damaged record line skipped")
}

func TestReadSkipsCutLastLine(t *testing.T) {
	dir := t.TempDir()
	good1, _ := json.Marshal(sampleRecord(1, day1))
	good2, _ := json.Marshal(sampleRecord(2, day1))
	content := string(good1) + "\n" + string(good2) + "\n" + string(good1[:len(good1)/2])
	must.NoError(t, os.WriteFile(filepath.Join(dir, "calls-2026-11-21.jsonl"), []byte(content), 0o644))

	// A newer file makes this one's cut line a crash's mark, not a batch
	// being written right now.
	must.NoError(t, os.WriteFile(filepath.Join(dir, "calls-2026-11-22.jsonl"), nil, 0o644))
	var logs bytes.Buffer
	var ids []string
	for r, err := range ReadLog[Record](dir, CallsPrefix, time.Time{}, time.Time{}, slog.New(slog.NewTextHandler(&logs, nil))) {
		must.NoError(t, err)
		ids = append(ids, r.CallID)
	}
	check.Equal(t, []string{"call-000001", "call-000002"}, ids)
	check.Contains(t, logs.String(), "level=WARN")
	check.Contains(t, logs.String(), "cut line")
	check.Contains(t, logs.String(), "line=3")

	// In the newest file the cut line is probably being written now: the
	// wallboard polling must not fill the log with warnings.
	must.NoError(t, os.Remove(filepath.Join(dir, "calls-2026-11-22.jsonl")))
	logs.Reset()
	n := 0
	for _, err := range ReadLog[Record](dir, CallsPrefix, time.Time{}, time.Time{}, slog.New(slog.NewTextHandler(&logs, nil))) {
		must.NoError(t, err)
		n++
	}
	check.Equal(t, 2, n)
	check.Equal(t, "", logs.String())
}

func TestCloseDrainsEverythingQueued(t *testing.T) {
	const n = 5000
	tests := []struct {
		name string
		run  bool
	}{
		{"queued before Run starts", true},
		{"Close without Run", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w, err := NewCallWriter(WriterOptions{Dir: dir, QueueSize: n, MaxBytes: 256 << 10, Clock: func() time.Time { return day1 }})
			must.NoError(t, err)
			for i := range n {
				must.NoError(t, w.Write(sampleRecord(i, day1)))
			}
			var wait func() error
			if tc.run {
				wait = startRun(t, w)
			}
			must.NoError(t, w.Close())
			if tc.run {
				must.NoError(t, wait())
			}
			got := readAll(t, dir, time.Time{}, time.Time{})
			must.Len(t, got, n)
			for i, r := range got {
				if r.CallID != fmt.Sprintf("call-%06d", i) {
					t.Fatalf("record %d is %s: order lost across files (.9 before .10?)", i, r.CallID)
				}
			}
			check.True(t, len(files(t, dir)) > 10, "a 256 KiB limit rotates past .10 within the drain")
			check.ErrorIs(t, w.Write(sampleRecord(0, day1)), ErrClosed)
		})
	}
}

func TestCancelledRunDrains(t *testing.T) {
	dir := t.TempDir()
	w, err := NewCallWriter(WriterOptions{Dir: dir, QueueSize: 5000})
	must.NoError(t, err)
	for i := range 5000 {
		must.NoError(t, w.Write(sampleRecord(i, day1)))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	must.NoError(t, w.Run(ctx))
	check.Len(t, readAll(t, dir, time.Time{}, time.Time{}), 5000)
	check.ErrorIs(t, w.Write(sampleRecord(0, day1)), ErrClosed)
	must.NoError(t, w.Close(), "Close after Run ended is harmless")
	check.ErrorContains(t, w.Run(context.Background()), "Run called twice")
}

func TestConcurrentWriters(t *testing.T) {
	dir := t.TempDir()
	w, err := NewCallWriter(WriterOptions{Dir: dir, QueueSize: 64, EnqueueTimeout: 10 * time.Second, MaxBytes: 256 << 10})
	must.NoError(t, err)
	wait := startRun(t, w)
	const writers, each = 8, 400
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				check.NoError(t, w.Write(sampleRecord(g*each+i, day1)))
			}
		})
	}
	// Stats races with Write and Run; -race checks it is safe.
	wg.Go(func() {
		for range 100 {
			_ = w.Stats()
		}
	})
	wg.Wait()
	must.NoError(t, w.Close())
	must.NoError(t, wait())
	got := readAll(t, dir, time.Time{}, time.Time{})
	ids := make([]string, len(got))
	for i, r := range got {
		ids[i] = r.CallID
	}
	sort.Strings(ids)
	check.Len(t, slices.Compact(ids), writers*each, "every record exactly once")
	check.Equal(t, uint64(writers*each), w.Stats().Written)
}

func TestFullQueueDropsAfterBound(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	w, err := NewCallWriter(WriterOptions{Dir: dir, QueueSize: 2, EnqueueTimeout: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	must.NoError(t, err)
	// No Run yet: the disk is "stuck" and the queue fills.
	must.NoError(t, w.Write(sampleRecord(1, day1)))
	must.NoError(t, w.Write(sampleRecord(2, day1)))
	check.ErrorIs(t, w.Write(sampleRecord(3, day1)), ErrQueueFull)
	check.ErrorIs(t, w.Write(sampleRecord(4, day1)), ErrQueueFull)
	st := w.Stats()
	check.Equal(t, uint64(2), st.Dropped)
	check.Equal(t, 2, st.Queued)
	check.Contains(t, logs.String(), "record dropped")

	must.NoError(t, w.Close())
	check.NoError(t, w.Run(context.Background()), "Run after Close has nothing to do")
	got := readAll(t, dir, time.Time{}, time.Time{})
	must.Len(t, got, 2)
	check.Equal(t, "call-000002", got[1].CallID)
}

type recordingSink struct {
	mu    sync.Mutex
	lines []string
	fail  bool
}

func (s *recordingSink) Send(_ context.Context, lines [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errors.New("redis: connection refused")
	}
	for _, l := range lines {
		s.lines = append(s.lines, string(l))
	}
	return nil
}

func TestSinksGetEveryLine(t *testing.T) {
	dir := t.TempDir()
	good, bad := &recordingSink{}, &recordingSink{fail: true}
	w, err := NewCallWriter(WriterOptions{Dir: dir, Sinks: []Sink{good, bad}, Logger: slog.New(slog.DiscardHandler)})
	must.NoError(t, err)
	wait := startRun(t, w)
	for i := range 5 {
		must.NoError(t, w.Write(sampleRecord(i, day1)))
	}
	must.NoError(t, w.Close())
	must.NoError(t, wait())
	must.Len(t, good.lines, 5)
	check.True(t, strings.HasPrefix(good.lines[4], `{"call_id":"call-000004"`), good.lines[4])
	check.True(t, w.Stats().SinkFails > 0, "sink failures counted")
	check.Len(t, readAll(t, dir, time.Time{}, time.Time{}), 5, "a failing sink does not cost the file its records")
}

func TestNewWriterRejectsBadOptions(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	must.NoError(t, os.WriteFile(notDir, nil, 0o644))
	tests := []struct {
		name string
		opt  WriterOptions
		want string
	}{
		{"no directory", WriterOptions{}, "needs a directory"},
		{"prefix with a dot", WriterOptions{Dir: t.TempDir(), Prefix: "calls.v2"}, "must not contain"},
		{"directory is a file", WriterOptions{Dir: notDir}, "create record directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewWriter[Record](tc.opt)
			check.ErrorContains(t, err, tc.want)
		})
	}
}

func TestReadFiltersByTimeAndIgnoresOtherFiles(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("..", "..", "testdata", "cdr", "calls-2026-11-21.jsonl"))
	must.NoError(t, err)
	must.NoError(t, os.WriteFile(filepath.Join(dir, "calls-2026-11-21.jsonl"), src, 0o644))
	must.NoError(t, os.WriteFile(filepath.Join(dir, "audit-2026-11-21.jsonl"), []byte(`{"at":"2026-11-21T10:00:00Z"}`+"\n"), 0o644))
	must.NoError(t, os.WriteFile(filepath.Join(dir, "calls-notes.txt"), []byte("x"), 0o644))

	got := readAll(t, dir, time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC), time.Date(2026, 11, 21, 11, 0, 0, 0, time.UTC))
	var ids []string
	for _, r := range got {
		ids = append(ids, r.CallID)
	}
	// c20 arrived at 10:59:40 but entered the queue at 11:00:02: next hour.
	check.Equal(t, []string{"c11", "c12", "c13", "c14", "c15", "c16", "c17", "c18", "c19"}, ids)
	check.Len(t, readAll(t, dir, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Time{}), 0)

	for _, err := range Read(filepath.Join(dir, "missing"), time.Time{}, time.Time{}) {
		check.ErrorContains(t, err, "list record directory")
	}
}

func TestParseFileName(t *testing.T) {
	tests := []struct {
		name string
		idx  int
		ok   bool
	}{
		{"calls-2026-11-21.jsonl", 0, true},
		{"calls-2026-11-21.12.jsonl", 12, true},
		{"calls-2026-11-21.0.jsonl", 0, false},
		{"calls-2026-11-21.x.jsonl", 0, false},
		{"calls-2026-13-21.jsonl", 0, false},
		{"calls-2026-11-21.jsonl.gz", 0, false},
		{"agent-states-2026-11-21.jsonl", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			day, idx, ok := parseFileName(CallsPrefix, tc.name)
			check.Equal(t, tc.ok, ok)
			if tc.ok {
				check.Equal(t, tc.idx, idx)
				check.Equal(t, "2026-11-21", day.Format(time.DateOnly))
			}
		})
	}
}

func TestWriterCountsLostLinesWhenTheDirectoryVanishes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cdr")
	clock := &fakeClock{t: day1}
	var logs bytes.Buffer
	var lostMu sync.Mutex
	var lost []string
	w, err := NewCallWriter(WriterOptions{Dir: dir, Clock: clock.Now, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		OnLost: func(lines [][]byte, why string) {
			lostMu.Lock()
			defer lostMu.Unlock()
			for _, l := range lines {
				var r Record
				_ = json.Unmarshal(l, &r)
				lost = append(lost, r.CallID+" "+why)
			}
		}})
	must.NoError(t, err)
	wait := startRun(t, w)
	must.NoError(t, w.Write(sampleRecord(1, day1)))
	eventually(t, func() bool { return w.Stats().Written == 1 })
	must.NoError(t, os.RemoveAll(dir)) // an operator's cleanup script gone wrong
	clock.Set(day1.AddDate(0, 0, 1))   // the next line needs a new file
	must.NoError(t, w.Write(sampleRecord(2, day1)))
	eventually(t, func() bool { return w.Stats().Lost == 1 })

	must.NoError(t, os.MkdirAll(dir, 0o755)) // fixed: the writer recovers
	must.NoError(t, w.Write(sampleRecord(3, day1)))
	must.NoError(t, w.Close())
	must.NoError(t, wait())
	got := readAll(t, dir, time.Time{}, time.Time{})
	must.Len(t, got, 1)
	check.Equal(t, "call-000003", got[0].CallID)
	check.Equal(t, Stats{Written: 2, Lost: 1}, w.Stats())
	check.Contains(t, logs.String(), "records not written") // read after Run ended: no race
	// The engine is told which record was lost, and why.
	check.Equal(t, []string{"call-000002 file error"}, lost)
	must.Equal(t, ErrClosed, w.Write(sampleRecord(4, day1)))
	check.Equal(t, []string{"call-000002 file error", "call-000004 log closed"}, lost)
}
